// Each worker's own CPU per request inside workerd, without HTTP around it: the quiet
// complement of bench/run.mjs, whose wrk runs on this 2-core VM vary by ±150 µs/request.
//
//   bash scripts/build.sh && bash scripts/node.sh bench/handler.mjs [options]
//
// Every contender runs in its own workerd process (Miniflare 4), wrapped by a small driver
// worker. One HTTP request tells the driver to call the contender's `fetch(request, env, ctx)`
// N times in a loop, each time with a fresh Request (the workload's URL and headers), awaiting
// the response and reading its body. The global `fetch` is replaced during the loop by an
// in-isolate stand-in that answers the certs URL with the JWKS and anything else with a small
// 200, so no socket, no loopback and no other process is involved. The figure is the workerd
// process's CPU (schedstat run time of all its threads) over the loop, divided by N; the
// driver's own share (a Request per call) is the same for every contender, and "over
// passthrough" subtracts passthrough's figure from the same round.
//
// What this leaves out, by design: the runtime's HTTP parsing and the real subrequest (the same
// for every contender, but growing with the request's size: see BENCHMARKS.md). What it keeps:
// the JS entry's Headers work, the JS/wasm crossings, the wasm decision, WebCrypto (workerd's own
// BoringSSL), jose's and hono's code, and the garbage collection all of it causes.
//
// Options:
//   --rounds N       rounds, every contender once per round, alternating [7]
//   --calls N        calls per measured loop for steady workloads [20000]
//   --miss-calls N   calls per loop for ruf-access-miss and ruf-header-cookiemiss (each a
//                    never-seen token or cookie) [3000]
//   --real-fetch     the origin subrequest really goes out, to an outbound service answered
//                    by this script (Node, over loopback): adds the subrequest's cost in workerd
//   --pin            pin every workerd to CPU 0 and this process to CPU 1
//   --only a,b       only these contenders (passthrough is always added)
//   --aa             also run `passthrough-aa`, a second copy of passthrough in its own workerd:
//                    its "over passthrough" is this harness's own noise (an A/A comparison)
//   --variant N=DIR[@C]  also run contender C [ruf-header] as N with the worker built in DIR
//                    (DIR/index.js + its wasm, inside this repository): compares builds; repeatable
//   --worker DIR     the worker under test for every ruf contender [build] (DIR/index.js, DIR/glue
//                    and DIR/index_bg.wasm, inside this repository)
//   --out FILE       results JSON [bench/results/handler.json] (+ .md beside it)
//
// Contenders: passthrough, ruf-header, ruf-access, ruf-access-miss (a never-seen token per call,
// valid session cookie; 4,000 tokens cycled, more than the 1,024-entry verified-token cache, so
// no call is a hit), jose-documented (at most 4,000 calls per loop: see below), jose-hoisted,
// hono-access (bench/workers/*.js); ruf-header-nocookie and ruf-access-nocookie (a client that
// never sends the session cookie, repeating one identity: one call logs in first, then every
// call carries the workload's headers without the cookie, the same assertion in Access mode,
// and is answered with a fresh login and Set-Cookie). And the ruf workloads' `/decision` rows
// (plus ruf-header-cookiemiss/decision: a never-seen session cookie every call, 4,000 fresh
// ones made by logins before each loop and cycled, the cookie's first sight): the shipped
// glue's configure() once, then handle(method, url, lines) in a loop with the lines the entry would
// pass, no Request, Headers or fetch: the wasm decision alone, in workerd's V8 (quiet: ±1 µs).
// Before the rounds, each contender's loop is checked: every response 200 with the expected
// user at the origin stand-in, Set-Cookie and JWKS fetches only where expected.

import { copyFileSync, cpSync, mkdirSync, rmSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { bundle } from "./lib/bundle.mjs";
import { children, cpuOf, median, pin } from "./lib/proc.mjs";
import {
  ACCESS_VARS,
  COMPAT_DATE,
  EMAIL_HEADER,
  GATEWAY_SECRET,
  HEADER_VARS,
  JOSE_VARS,
  JWT_HEADER,
  ORIGIN_URL,
  PATH,
  SECRET_HEADER,
  USER,
} from "./lib/settings.mjs";
import { makeKey, writeTokens } from "./lib/tokens.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BENCH = path.join(ROOT, "bench");
const OUT_DIR = path.join(BENCH, "build", "handler");

const opts = { realFetch: false, rounds: 7, calls: 20000, missCalls: 3000, only: null, variants: [], worker: path.join(ROOT, "build"), out: path.join(BENCH, "results", "handler.json") };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const v = () => process.argv[++i];
  if (a === "--rounds") opts.rounds = Number(v());
  else if (a === "--calls") opts.calls = Number(v());
  else if (a === "--miss-calls") opts.missCalls = Number(v());
  else if (a === "--real-fetch") opts.realFetch = true;
  else if (a === "--pin") opts.pin = true;
  else if (a === "--aa") opts.aa = true;
  else if (a === "--only") opts.only = v().split(",");
  else if (a === "--variant") {
    const m = /^([\w.-]+)=([^@]+)(?:@([\w/-]+))?$/.exec(v() ?? "");
    if (!m) throw new Error("--variant: expected NAME=DIR[@CONTENDER]");
    opts.variants.push({ name: m[1], dir: path.resolve(m[2]), base: m[3] ?? "ruf-header" });
  } else if (a === "--out") opts.out = path.resolve(v());
  else if (a === "--worker") opts.worker = path.resolve(v());
  else throw new Error(`unknown option ${a}`);
}

const URL_IN = `https://app.example.com${PATH}`;
const MISS_TOKENS = 4000;
// The headers the chain reads in both modes (its plan; src/edge/wire.rs): what the entry passes in.
const READ = ["cookie", "x-gateway-secret", "cf-access-jwt-assertion", "cf-access-authenticated-user-email"];
// What wrk sends besides the workload's own headers (bench/run.mjs).
const COMMON = { host: "app.example.com", accept: "*/*", "user-agent": "wrk" };

// What both drivers keep between requests: the workload, set by POST /setup, and the tokens.
const STATE = `
let spec = null;
let tokens = [];
// Where the next loop starts in \`tokens\`: loops go on through them, so a token comes back only
// after all the others (more than the verified-token cache holds), whatever N is.
let next = 0;
async function setup(request) {
  const body = await request.json();
  spec = body.spec;
  tokens = body.tokens ?? tokens;
  return new Response("ok");
}
`;

// The driver: calls the contender N times with the global fetch stood in for.
const DRIVER = `${STATE}
export function driver(target) {
  return {
    async fetch(request, env, ctx) {
      const url = new URL(request.url);
      if (url.pathname === "/setup") return setup(request);
      const n = Number(url.searchParams.get("n"));
      const real = globalThis.fetch;
      const seen = { origin: 0, jwks: 0, users: {}, urls: {} };
      globalThis.fetch = async (input, init) => {
        const target = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
        if (target.endsWith("/cdn-cgi/access/certs")) {
          seen.jwks += 1;
          return new Response(spec.jwks, { headers: { "content-type": "application/json" } });
        }
        seen.origin += 1;
        const user = new Headers(init?.headers ?? input.headers).get("x-remote-user");
        seen.users[user] = (seen.users[user] ?? 0) + 1;
        seen.urls[target] = (seen.urls[target] ?? 0) + 1;
        // --real-fetch: the subrequest really goes out (to this script's outbound service).
        if (spec.realFetch) return real(input, init);
        return new Response("ok\\n", { headers: { "content-type": "text/plain" } });
      };
      const statuses = {};
      let setCookie = 0;
      let lastCookie = null;
      try {
        for (let i = 0; i < n; i++) {
          const headers = new Headers(spec.headers);
          if (tokens.length) headers.set(spec.tokenHeader, tokens[(next + i) % tokens.length]);
          const response = await target.fetch(new Request(spec.url, { headers }), env, ctx);
          const body = await response.text();
          if (response.status !== 200 && seen.firstError === undefined) seen.firstError = \`\${i}: \${response.status} \${body.slice(0, 200)}\`;
          statuses[response.status] = (statuses[response.status] ?? 0) + 1;
          const c = response.headers.get("set-cookie");
          if (c !== null) {
            setCookie += 1;
            lastCookie = c;
          }
        }
      } finally {
        globalThis.fetch = real;
        next += n;
      }
      return Response.json({ statuses, setCookie, lastCookie, ...seen });
    },
  };
}
`;

// The decision driver: the shipped glue's `configure` once, then `handle(method, url, lines)` N times,
// exactly the strings the entry would pass (bench/wasm-call.mjs does the same in Node).
const DECISION = `${STATE}
let configured = false;
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/setup") return setup(request);
    const n = Number(url.searchParams.get("n"));
    const real = globalThis.fetch;
    const seen = { origin: 0, jwks: 0 };
    globalThis.fetch = async () => {
      seen.jwks += 1;
      return new Response(spec.jwks, { headers: { "content-type": "application/json" } });
    };
    let forwarded = 0;
    let setCookie = 0;
    let lastCookie = null;
    // ?collect=1: every Set-Cookie is returned (a cookie-miss workload's cookies).
    const collected = url.searchParams.get("collect") === "1" ? [] : null;
    try {
      if (!configured) {
        configure(env);
        configured = true;
      }
      for (let i = 0; i < n; i++) {
        const lines = tokens.length ? spec.lines + spec.tokenHeader.toLowerCase() + "\\t" + tokens[(next + i) % tokens.length] + "\\n" : spec.lines;
        let reply = handle.length === 3 ? handle("GET", spec.url, lines) : handle(spec.url, lines);
        if (typeof reply !== "string") reply = await reply;
        const [kind, , cookie] = reply.split("\\n", 3);
        if (kind === "F") forwarded += 1;
        if (cookie !== "") {
          setCookie += 1;
          lastCookie = cookie;
          collected?.push(cookie);
        }
      }
    } finally {
      globalThis.fetch = real;
      next += n;
    }
    return Response.json({ statuses: { 200: forwarded }, setCookie, lastCookie, collected, ...seen });
  },
};
`;

function contenders() {
  const access = { ...COMMON, [JWT_HEADER]: null, [EMAIL_HEADER]: USER };
  const header = { ...COMMON, [EMAIL_HEADER]: USER, [SECRET_HEADER]: GATEWAY_SECRET };
  const list = [
    { name: "passthrough", script: "passthrough.js", vars: { ORIGIN_URL }, headers: access, user: null },
    { name: "ruf-header", script: "ruf", vars: HEADER_VARS, headers: header, login: true },
    { name: "ruf-access", script: "ruf", vars: ACCESS_VARS, headers: access, login: true },
    { name: "ruf-access-miss", script: "ruf", vars: ACCESS_VARS, headers: access, login: true, miss: true },
    // No session cookie after the first call: a fresh login (user cache, new session, Set-Cookie).
    { name: "ruf-header-nocookie", script: "ruf", vars: HEADER_VARS, headers: header, login: true, nocookie: true },
    { name: "ruf-access-nocookie", script: "ruf", vars: ACCESS_VARS, headers: access, login: true, nocookie: true },
    // The wasm decision alone, without Request, Headers or fetch: the quiet part of the above.
    { name: "ruf-header/decision", script: "ruf", decision: true, vars: HEADER_VARS, headers: header, login: true },
    { name: "ruf-access/decision", script: "ruf", decision: true, vars: ACCESS_VARS, headers: access, login: true },
    { name: "ruf-access-miss/decision", script: "ruf", decision: true, vars: ACCESS_VARS, headers: access, login: true, miss: true },
    { name: "ruf-header-nocookie/decision", script: "ruf", decision: true, vars: HEADER_VARS, headers: header, login: true, nocookie: true },
    // A never-seen session cookie every call (4,000 fresh ones cycled, more than the 1,024-entry
    // verified-cookie cache): the cookie's first sight, as in a cold isolate (HMAC, JSON).
    { name: "ruf-header-cookiemiss/decision", script: "ruf", decision: true, vars: HEADER_VARS, headers: header, login: true, cookieMiss: true },
    { name: "ruf-access-nocookie/decision", script: "ruf", decision: true, vars: ACCESS_VARS, headers: access, login: true, nocookie: true },
    // At most 4,000 calls per loop: jose arms a 5 s timeout per key-set fetch, and workerd allows
    // 10,000 active timeouts per invocation (one loop is one invocation).
    { name: "jose-documented", script: "jose-documented.js", vars: JOSE_VARS, headers: access, jwksPerCall: true, maxCalls: 4000 },
    { name: "jose-hoisted", script: "jose-hoisted.js", vars: JOSE_VARS, headers: access },
    { name: "hono-access", script: "hono-access.js", vars: { ORIGIN_URL }, headers: access },
  ];
  if (opts.aa) list.splice(1, 0, { ...list[0], name: "passthrough-aa" });
  for (const v of opts.variants) {
    const base = list.find((c) => c.name === v.base);
    if (!base || base.script !== "ruf") throw new Error(`--variant ${v.name}: no ruf contender ${v.base}`);
    list.push({ ...base, name: v.name, dir: v.dir });
  }
  const keep = [...(opts.only ?? []), ...opts.variants.map((v) => v.name), ...(opts.aa ? ["passthrough-aa"] : [])];
  return opts.only ? list.filter((c) => c.name === "passthrough" || keep.includes(c.name)) : list;
}

/** The driver + contender as one module in bench/build/handler (JS contenders bundled). */
function driverModule(c) {
  mkdirSync(OUT_DIR, { recursive: true });
  const file = path.join(OUT_DIR, `${c.name.replace("/", "-")}.js`);
  if (c.decision) {
    // The glue imports "./index_bg.wasm": a copy of both, side by side.
    const built = c.dir ?? opts.worker;
    const glue = path.join(OUT_DIR, `${c.name.replace("/", "-")}-glue`);
    rmSync(glue, { recursive: true, force: true });
    cpSync(path.join(built, "glue"), glue, { recursive: true });
    copyFileSync(path.join(built, "index_bg.wasm"), path.join(glue, "index_bg.wasm"));
    const from = `./${path.basename(glue)}/index.js`;
    writeFileSync(file, `import { configure, handle } from ${JSON.stringify(from)};\n${DECISION}`);
    return file;
  }
  if (c.script === "ruf") {
    // Not bundled: build/index.js imports its wasm, which Miniflare loads as CompiledWasm.
    const built = path.relative(OUT_DIR, path.join(c.dir ?? opts.worker, "index.js"));
    writeFileSync(file, `import target from ${JSON.stringify(built)};\n${DRIVER}\nexport default driver(target);\n`);
    return file;
  }
  const entry = path.join(OUT_DIR, `${c.name}.entry.js`);
  writeFileSync(
    entry,
    `import target from ${JSON.stringify(path.join(BENCH, "workers", c.script))};\n${DRIVER}\nexport default driver(target);\n`,
  );
  bundle(entry, file);
  return file;
}

async function start(c) {
  const before = children();
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    modulesRoot: ROOT,
    workers: [
      {
        name: c.name,
        modules: true,
        // Miniflare resolves module paths from the working directory.
        scriptPath: path.relative(process.cwd(), driverModule(c)),
        modulesRules: [
          { type: "ESModule", include: ["**/*.js"] },
          { type: "CompiledWasm", include: ["**/*.wasm"] },
        ],
        compatibilityDate: COMPAT_DATE,
        bindings: c.vars,
        kvNamespaces: ["USERS"],
        ...(opts.realFetch ? { outboundService: () => new Response("ok\n", { headers: { "content-type": "text/plain" } }) } : {}),
      },
    ],
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  const fresh = [...children()].filter(([pid, name]) => !before.has(pid) && name === "workerd");
  if (fresh.length !== 1) throw new Error(`${c.name}: expected one new workerd child, found ${fresh.length}`);
  if (opts.pin) pin(fresh[0][0], "0");
  return { mf, url, pid: fresh[0][0] };
}

async function setup(inst, spec, tokens) {
  const r = await fetch(`${inst.url}/setup`, { method: "POST", body: JSON.stringify({ spec, tokens }) });
  if (!r.ok) throw new Error(`setup: ${r.status} ${await r.text()}`);
}

async function loop(inst, n, collect = false) {
  const r = await fetch(`${inst.url}/run?n=${n}${collect ? "&collect=1" : ""}`);
  const text = await r.text();
  if (!r.ok) throw new Error(`run: ${r.status} ${text}`);
  return JSON.parse(text);
}

/** Problems in one loop's tally, as strings (none: the loop did what the workload says). */
function check(c, n, t, { warmup = false } = {}) {
  const p = [];
  if (t.statuses[200] !== n) p.push(`statuses ${JSON.stringify(t.statuses)} (first: ${t.firstError})`);
  if (!c.decision) {
    if (t.origin !== n) p.push(`origin saw ${t.origin} of ${n}`);
    const want = c.user === null ? "null" : USER;
    if (t.users[want] !== n) p.push(`users ${JSON.stringify(t.users)}`);
    if (t.urls[ORIGIN_URL + PATH] !== n) p.push(`urls ${JSON.stringify(t.urls)}`);
  }
  // -nocookie: every call is a fresh login, with its Set-Cookie; every other workload none.
  const cookies = c.nocookie ? n : 0;
  if (t.setCookie !== cookies) p.push(`${t.setCookie} Set-Cookie (expected ${cookies})`);
  // The first loop may fetch the key set once (the isolate's first verify).
  const jwks = c.jwksPerCall ? n : 0;
  if (t.jwks !== jwks && !(warmup && t.jwks === jwks + 1)) p.push(`${t.jwks} JWKS fetches`);
  return p;
}

async function main() {
  const key = makeKey();
  const jwks = JSON.stringify(key.jwks);
  const tokenFile = path.join(BENCH, "build", "handler-tokens.txt");
  mkdirSync(path.dirname(tokenFile), { recursive: true });
  await writeTokens(tokenFile, key.privatePem, USER, MISS_TOKENS + 1);
  const all = readFileSync(tokenFile, "utf8").trim().split("\n");
  const steadyToken = all[MISS_TOKENS];
  const missTokens = all.slice(0, MISS_TOKENS);

  const list = contenders();
  if (opts.pin) pin(process.pid, "1");
  const insts = new Map();
  try {
    for (const c of list) {
      const inst = await start(c);
      insts.set(c.name, inst);
      const headers = { ...c.headers };
      if (JWT_HEADER in headers) headers[JWT_HEADER] = steadyToken;
      const spec = { url: URL_IN, headers, jwks, tokenHeader: JWT_HEADER, realFetch: opts.realFetch };
      // The decision driver gets the lines the entry would send: the plan's headers, lower-case.
      const asLines = (h, token = true) =>
        Object.entries(h)
          .filter(([k, v]) => v !== null && READ.includes(k.toLowerCase()) && (token || k !== JWT_HEADER))
          .map(([k, v]) => `${k.toLowerCase()}\t${v}\n`)
          .join("");
      if (c.decision) spec.lines = asLines(headers);
      // One call without a cookie logs in; the workload then carries the session cookie.
      // Repeated before every measured loop (a fresh cookie): the worker re-checks sessions
      // older than USER_RECHECK_SECS (300 s) and answers them with a new cookie, which a
      // browser keeps; a cookie from the start of the run would turn later loops into re-checks.
      c.prepare = async () => {
        if (c.cookieMiss) {
          // Fresh cookies for this loop (older than USER_RECHECK_SECS they would be re-checked):
          // one login each, then every call carries one of them, never twice in a row of 4,000.
          spec.headers = headers;
          spec.lines = asLines(headers);
          await setup(inst, { ...spec, tokenHeader: JWT_HEADER }, []);
          const t = await loop(inst, MISS_TOKENS, true);
          if (t.collected?.length !== MISS_TOKENS) throw new Error(`${c.name}: logins failed: ${JSON.stringify(t.statuses)}`);
          await setup(inst, { ...spec, tokenHeader: "cookie" }, t.collected.map((k) => k.split(";")[0]));
          return;
        }
        if (c.login) {
          spec.headers = headers;
          if (c.decision) spec.lines = asLines(headers);
          await setup(inst, spec, []);
          const t = await loop(inst, 1);
          if (t.statuses[200] !== 1 || t.setCookie !== 1) throw new Error(`${c.name}: login failed: ${JSON.stringify(t)}`);
          // -nocookie: the workload never sends it (the first call only made the client known).
          if (!c.nocookie) spec.headers = { ...headers, cookie: t.lastCookie.split(";")[0] };
          // -miss: the driver appends a never-seen token to every call's lines.
          if (c.decision) spec.lines = asLines(spec.headers, !c.miss);
        }
        await setup(inst, spec, c.miss ? missTokens : []);
      };
      if (c.login || c.user === undefined) c.user = USER;
      await c.prepare();
      c.n = Math.min(c.miss || c.cookieMiss ? opts.missCalls : opts.calls, c.maxCalls ?? Infinity);
      // Warm-up (JIT, caches: for -miss the first pass fills the cache, which later passes evict).
      const t = await loop(inst, c.n);
      const problems = check(c, c.n, t, { warmup: true });
      if (problems.length) throw new Error(`${c.name}: ${problems.join("; ")}`);
      console.error(`${c.name}: ready (workerd pid ${inst.pid})`);
    }
    const runs = [];
    for (let round = 0; round < opts.rounds; round++) {
      for (const c of list) {
        const inst = insts.get(c.name);
        if ((c.login && !c.nocookie) || c.cookieMiss) await c.prepare();
        const before = cpuOf(inst.pid).sched;
        const t = await loop(inst, c.n);
        const ns = cpuOf(inst.pid).sched - before;
        const problems = check(c, c.n, t);
        runs.push({ round, name: c.name, n: c.n, cpuUs: ns / 1000 / c.n, problems });
      }
      console.error(`round ${round + 1}/${opts.rounds} done`);
    }
    const rows = list.map((c) => {
      const mine = runs.filter((r) => r.name === c.name);
      const over = mine.map((r) => r.cpuUs - runs.find((p) => p.round === r.round && p.name === "passthrough").cpuUs);
      return {
        name: c.name,
        decision: c.decision === true,
        calls: c.n,
        cpuUs: median(mine.map((r) => r.cpuUs)),
        min: Math.min(...mine.map((r) => r.cpuUs)),
        max: Math.max(...mine.map((r) => r.cpuUs)),
        overUs: median(over),
        overMin: Math.min(...over),
        overMax: Math.max(...over),
        problems: mine.flatMap((r) => r.problems),
      };
    });
    const f = (x) => x.toFixed(1);
    const table = [
      "| contender | calls/loop | CPU µs/call (min–max) | over passthrough µs (min–max) |",
      "| --- | ---: | ---: | ---: |",
      ...rows.map((r) => `| \`${r.name}\` | ${r.calls} | ${f(r.cpuUs)} (${f(r.min)}–${f(r.max)}) | ${r.name === "passthrough" || r.decision ? "–" : `${f(r.overUs)} (${f(r.overMin)}–${f(r.overMax)})`} |`),
    ].join("\n");
    const workerd = JSON.parse(readFileSync(path.join(ROOT, "node_modules/workerd/package.json"), "utf8")).version;
    const note =
      `Medians of ${opts.rounds} rounds, contenders alternating; workerd ${workerd}; ${cpus().length} × ${cpus()[0]?.model.trim()}; node ${process.version}. ` +
      `CPU = the contender's workerd process per call of its fetch handler, ` +
      (opts.realFetch
        ? "the origin subrequest real (an outbound service answered by the harness over loopback)"
        : "global fetch stood in for inside the isolate") +
      (opts.pin ? "; workerd pinned to CPU 0, the harness to CPU 1." : ".");
    const problems = rows.flatMap((r) => r.problems.map((p) => `${r.name}: ${p}`));
    const md = `${table}\n\n${note}\n\n${problems.length ? `Problems seen:\n${problems.map((p) => `- ${p}`).join("\n")}` : "No problems seen."}\n`;
    mkdirSync(path.dirname(opts.out), { recursive: true });
    writeFileSync(opts.out, JSON.stringify({ date: new Date().toISOString(), opts, rows, runs }, null, 2));
    writeFileSync(opts.out.replace(/\.json$/, ".md"), md);
    console.log(md);
  } finally {
    for (const inst of insts.values()) await inst.mf.dispose();
  }
}

await main();
