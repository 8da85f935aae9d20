// What the entry (src/edge/entry.js) does when the wasm module traps — a Rust panic (the release
// profile aborts), or another trap (out of memory, a stack overflow) — while requests wait
// on it: every one of them is answered 500 at once, none hangs, and the next request
// re-instantiates the module.
//
// No panic path is reachable from HTTP in the real worker (and none is added for testing),
// so the entry is bundled here with a fake glue module in place of build/glue/index.js: its
// `handle` returns Promises that only the test settles, and simulates a trap the ways the
// real module shows one. In Node, driven directly: the panic hook's call (src/edge/worker.rs), a
// RuntimeError thrown by a synchronous call, the runtime's `error`/`unhandledrejection`
// events. In real workerd (Miniflare): a RuntimeError thrown from a microtask, as the
// wasm-bindgen-futures queue throws it, with requests waiting on real I/O.
import http from "node:http";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { build } from "esbuild";
import { Miniflare } from "miniflare";

/** The global function the entry installs and src/edge/worker.rs's panic hook calls. */
const HOOK = "__remoteUserFilterTrap";
const INTERNAL = "remote-user-filter: internal error\n";
/** How long a test may wait for answers: a request that hangs fails it. */
const TIMEOUT = 10_000;
const IT = { timeout: 2 * TIMEOUT };

/** src/edge/entry.js bundled with `glue` (module source) as its build/glue/index.js. */
async function bundleEntry(glue) {
  const out = await build({
    entryPoints: ["src/edge/entry.js"],
    bundle: true,
    format: "esm",
    write: false,
    logLevel: "silent",
    plugins: [
      {
        name: "fake-glue",
        setup(b) {
          b.onResolve({ filter: /glue\/index\.js$/ }, () => ({ path: "glue", namespace: "fake" }));
          b.onLoad({ filter: /.*/, namespace: "fake" }, () => ({ contents: glue, loader: "js" }));
        },
      },
    ],
  });
  return out.outputFiles[0].text;
}

// ---- In Node: the glue is whatever object the test puts on globalThis.__trapTestGlue. ----

const NODE_GLUE = `
const g = () => globalThis.__trapTestGlue;
export function configure(env) { return g().configure(env); }
export function handle(method, url, lines) { return g().handle(method, url, lines); }
export function __wbg_reset_state() { g().reset(); }
export function originUnreachable() { return "R\\n502\\n\\n\\n\\nunreachable"; }
export function refusal() { return "R\\n401\\n\\n\\n\\nrefused"; }
`;

let nodeBundle;
let loads = 0;

/**
 * A fresh instance of the bundled entry (its module state is per import) over a fresh fake
 * glue, with `events` standing in for workerd's global `addEventListener`.
 */
async function load() {
  nodeBundle ??= await bundleEntry(NODE_GLUE);
  const glue = { configures: 0, resets: 0, waiting: [] };
  glue.configure = () => {
    glue.configures += 1;
    return "*\n\n";
  };
  glue.handle = (method, url) => {
    const path = new URL(url).pathname;
    if (path === "/hold") return new Promise((resolve) => glue.waiting.push(resolve));
    if (path === "/sync-trap") throw new WebAssembly.RuntimeError("unreachable");
    return "R\n200\n\n\n\nok";
  };
  glue.reset = () => {
    glue.resets += 1;
  };
  globalThis.__trapTestGlue = glue;
  const events = new EventTarget();
  globalThis.addEventListener = events.addEventListener.bind(events);
  loads += 1;
  const source = `${nodeBundle}\n// instance ${loads}\n`;
  const module = await import(`data:text/javascript;base64,${Buffer.from(source).toString("base64")}`);
  delete globalThis.addEventListener;
  const fetch = (path) => module.default.fetch(new Request(`https://app.test${path}`), {});
  return { glue, events, fetch };
}

/**
 * All of `responses`, or a failure if one is still unanswered after TIMEOUT: the timer also
 * keeps Node's event loop alive, so a hang shows as this failure, not as a cancelled test.
 */
async function answered(responses) {
  let timer;
  const hung = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`a request hung (no answer in ${TIMEOUT} ms)`)), TIMEOUT);
  });
  try {
    return await Promise.race([Promise.all(responses), hung]);
  } finally {
    clearTimeout(timer);
  }
}

/** Let every pending microtask and I/O callback run. */
const settle = () => new Promise((r) => setImmediate(r));

/** Each response is the entry's own 500: plain text, no-store, no detail. */
async function assertInternalErrors(responses) {
  for (const r of responses) {
    assert.equal(r.status, 500);
    assert.equal(r.headers.get("cache-control"), "no-store");
    assert.match(r.headers.get("content-type"), /^text\/plain/);
    assert.equal(await r.text(), INTERNAL);
  }
}

/** The module was re-instantiated once and works: the next request is answered by it. */
async function assertRecovered(w, resets = 1) {
  assert.equal(w.glue.resets, resets - 1, "not re-instantiated before a request needs it");
  const next = await w.fetch("/ok");
  assert.equal(next.status, 200);
  assert.equal(await next.text(), "ok");
  assert.equal(w.glue.resets, resets, "re-instantiated once");
  assert.equal(w.glue.configures, resets + 1, "configured again after the reset");
}

describe("trap while requests wait (the entry, in Node)", () => {
  it("the panic hook answers every waiting request 500; the next one re-instantiates", IT, async () => {
    const w = await load();
    const waiting = [1, 2, 3].map(() => w.fetch("/hold"));
    await settle();
    assert.equal(w.glue.waiting.length, 3);
    assert.equal(typeof globalThis[HOOK], "function", `the entry installs globalThis.${HOOK}`);
    // What src/edge/worker.rs's panic hook does, from inside the microtask that then traps.
    globalThis[HOOK]();
    await assertInternalErrors(await answered(waiting));
    // Replies the trapped instance might still produce go nowhere.
    for (const resolve of w.glue.waiting) resolve("R\n200\n\n\n\nlate");
    await settle();
    await assertRecovered(w);
  });

  it("a trap thrown by a synchronous call answers the waiting requests too", IT, async () => {
    const w = await load();
    const waiting = [1, 2].map(() => w.fetch("/hold"));
    await settle();
    await assertInternalErrors(await answered([w.fetch("/sync-trap")]));
    await assertInternalErrors(await answered(waiting));
    await assertRecovered(w);
  });

  for (const [type, field] of [
    ["error", "error"],
    ["unhandledrejection", "reason"],
  ]) {
    it(`a trap surfacing as the runtime's \`${type}\` event (no panic hook: out of memory, stack overflow)`, IT, async () => {
      const w = await load();
      const waiting = [1, 2].map(() => w.fetch("/hold"));
      await settle();
      // Not every uncaught error is a trap (e.g. a closure of a replaced instance).
      w.events.dispatchEvent(Object.assign(new Event(type), { [field]: new Error("not a trap") }));
      await settle();
      w.glue.waiting[0]("R\n200\n\n\n\nfine");
      assert.equal((await answered([waiting[0]]))[0].status, 200);

      w.events.dispatchEvent(Object.assign(new Event(type), { [field]: new WebAssembly.RuntimeError("unreachable") }));
      await assertInternalErrors(await answered([waiting[1]]));
      await assertRecovered(w);
    });
  }

  it("a request answered before the trap is not touched by it; one after it re-instantiates", IT, async () => {
    const w = await load();
    const first = w.fetch("/hold");
    await settle();
    w.glue.waiting[0]("R\n200\n\n\n\ndone");
    assert.equal(await (await answered([first]))[0].text(), "done");
    globalThis[HOOK]();
    await assertRecovered(w);
  });

  it("src/edge/worker.rs's panic hook calls the function the entry installs", () => {
    assert.ok(readFileSync("src/edge/worker.rs", "utf8").includes(`"${HOOK}"`), `src/edge/worker.rs names ${HOOK}`);
  });
});

// ---- In workerd: the glue reacts to the request path; waiting requests hold real I/O. ----

const WORKERD_GLUE = `
let holdUrl;
let resets = 0;
let configures = 0;
export function configure(env) { holdUrl = env.HOLD_URL; configures += 1; return "*\\n\\n"; }
export function __wbg_reset_state() { resets += 1; }
export function originUnreachable() { return "R\\n502\\n\\n\\n\\nunreachable"; }
export function refusal() { return "R\\n401\\n\\n\\n\\nrefused"; }
const never = () => new Promise(() => {});
export function handle(method, url) {
  switch (new URL(url).pathname) {
    // Waits on a fetch the hold server never answers (so workerd sees I/O, not a hang).
    case "/hold": return fetch(holdUrl).then(never);
    // A trap the panic hook does not see: thrown from a microtask, as the futures queue would.
    case "/trap": queueMicrotask(() => { throw new WebAssembly.RuntimeError("unreachable"); }); return never();
    // A panic: the hook runs, then the same microtask traps.
    case "/panic":
      queueMicrotask(() => { globalThis.${HOOK}?.(); throw new WebAssembly.RuntimeError("unreachable"); });
      return never();
    // A trap in a promise reaction (the callback a JsFuture gives \`then\`).
    case "/reject": Promise.resolve().then(() => { throw new WebAssembly.RuntimeError("unreachable"); }); return never();
    default: return \`R\\n200\\n\\n\\n\\nresets=\${resets} configures=\${configures}\`;
  }
}
`;

describe("trap while requests wait (the entry in workerd, fake glue)", () => {
  const ctx = {};
  before(async () => {
    ctx.held = [];
    ctx.hold = http.createServer((req) => ctx.held.push(req));
    await new Promise((r) => ctx.hold.listen(0, "127.0.0.1", r));
    ctx.mf = new Miniflare({
      host: "127.0.0.1",
      handleStructuredLogs: (log) => {
        if (process.env.E2E_VERBOSE) console.error(`[workerd ${log.level}] ${log.message}`);
      },
      modules: [{ type: "ESModule", path: "index.js", contents: await bundleEntry(WORKERD_GLUE) }],
      compatibilityDate: "2026-07-01",
      bindings: { HOLD_URL: `http://127.0.0.1:${ctx.hold.address().port}/` },
    });
    ctx.url = (await ctx.mf.ready).toString().replace(/\/$/, "");
  });
  after(async () => {
    await ctx.mf?.dispose();
    ctx.hold?.closeAllConnections?.();
    await new Promise((r) => ctx.hold?.close(r) ?? r());
  });

  const get = (path) => fetch(`${ctx.url}${path}`);

  /** Until the hold server has seen `n` requests in all. */
  async function heldReach(n) {
    while (ctx.held.length < n) await new Promise((r) => setTimeout(r, 10));
  }

  let seen = 0;
  for (const [path, what] of [
    ["/trap", "a trap thrown from a microtask"],
    ["/panic", "a panic (hook, then the trap)"],
    ["/reject", "a trap in a promise reaction"],
  ]) {
    it(`${what}: the waiting requests and the trapping one are answered 500; then re-instantiated`, IT, async () => {
      const resetsBefore = Number(/resets=(\d+)/.exec(await (await get("/ok")).text())[1]);
      const waiting = [1, 2, 3].map(() => get("/hold"));
      seen += 3;
      await heldReach(seen);
      const trapping = get(path);
      await assertInternalErrors(await answered([...waiting, trapping]));
      const after = await (await get("/ok")).text();
      assert.match(after, new RegExp(`^resets=${resetsBefore + 1} `), after);
    });
  }
});
