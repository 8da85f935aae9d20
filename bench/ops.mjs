// What the runtime's own operations cost inside workerd, per call: the price list behind the
// JS entry (src/edge/entry.js), so its share of bench/handler.mjs's figures can be read off.
//
//   bash scripts/node.sh bench/ops.mjs [--calls N] [--rounds N]
//
// One worker loops over one operation N times per request; the figure is the workerd
// process's CPU (schedstat, all threads) over that request divided by N, the median of the
// rounds, each round running every operation once.
//
// Operations (the request has the 6 headers a header-mode request carries):
//   headers-copy    new Headers(request.headers)
//   copy+edits      the same, then what the entry's forward() does in header mode's steady
//                   state: 4 deletes (identity headers, gateway secret), the Cookie header
//                   deleted, X-Remote-User set
//   get3            three headers.get(): the plan's reads
//   request         new Request(url, { headers })
//   response        new Response("ok\n", { headers })
//   url             new URL(request.url)
//   queueMicrotask  await a queueMicrotask (how wasm-bindgen's executor schedules a wake-up)
//   promise-then    await a Promise.resolve().then (the alternative)

import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { children, cpuOf, median } from "./lib/proc.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const arg = (name, d) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const CALLS = arg("--calls", 50000);
const ROUNDS = arg("--rounds", 5);

const WORKER = `
const H = {
  host: "app.example.com",
  accept: "*/*",
  "user-agent": "wrk",
  "cf-access-authenticated-user-email": "ann@example.com",
  "x-gateway-secret": "bench-gateway-secret-0123456789",
  cookie: "__Host-remote-user-session=" + "x".repeat(300),
};
const STRIP = ["x-remote-user", "x-remote-user-email", "x-remote-user-groups", "x-gateway-secret"];
const URL_IN = "https://app.example.com/app/resource?id=42&q=bench";
const OPS = {
  none: async () => 1,
  "headers-copy": async (req) => (new Headers(req.headers), 1),
  "copy+edits": async (req) => {
    const h = new Headers(req.headers);
    for (const s of STRIP) h.delete(s);
    h.delete("cookie");
    h.set("x-remote-user", "ann@example.com");
    return 1;
  },
  get3: async (req) =>
    req.headers.get("cookie").length + req.headers.get("x-gateway-secret").length +
    req.headers.get("cf-access-authenticated-user-email").length,
  request: async () => (new Request(URL_IN, { headers: H }), 1),
  response: async () => (new Response("ok\\n", { headers: { "content-type": "text/plain" } }), 1),
  url: async (req) => new URL(req.url).pathname.length,
  queueMicrotask: async () => (await new Promise((r) => queueMicrotask(r)), 1),
  "promise-then": async () => (await new Promise((r) => Promise.resolve().then(r)), 1),
};
export default {
  async fetch(request) {
    const u = new URL(request.url);
    const op = OPS[u.searchParams.get("op")];
    if (!op) return new Response("unknown op", { status: 400 });
    const n = Number(u.searchParams.get("n"));
    const req = new Request(URL_IN, { headers: H });
    let sink = 0;
    for (let i = 0; i < n; i++) sink += await op(req);
    return new Response(String(sink));
  },
};
`;

const dir = path.join(ROOT, "bench", "build", "ops");
mkdirSync(dir, { recursive: true });
writeFileSync(path.join(dir, "worker.js"), WORKER);

const before = children();
const mf = new Miniflare({
  modules: true,
  // Miniflare resolves module paths from the working directory.
  scriptPath: path.relative(process.cwd(), path.join(dir, "worker.js")),
  compatibilityDate: "2026-07-01",
});
const url = await mf.ready;
const pid = [...children()].find(([p, name]) => !before.has(p) && name === "workerd")?.[0];
if (!pid) throw new Error("no workerd child found");
const ops = ["none", "headers-copy", "copy+edits", "get3", "request", "response", "url", "queueMicrotask", "promise-then"];
const runs = Object.fromEntries(ops.map((o) => [o, []]));
try {
  for (let round = 0; round < ROUNDS + 1; round++) {
    for (const op of ops) {
      const c0 = cpuOf(pid).sched;
      const r = await mf.dispatchFetch(`${url}?op=${encodeURIComponent(op)}&n=${CALLS}`);
      const text = await r.text();
      if (!r.ok || !(Number(text) >= CALLS)) throw new Error(`${op}: ${r.status} ${text}`);
      // Round 0 warms the JIT up and is not kept.
      if (round > 0) runs[op].push((cpuOf(pid).sched - c0) / 1000 / CALLS);
    }
  }
} finally {
  await mf.dispose();
}
console.log(`workerd CPU per call (µs), median of ${ROUNDS} rounds of ${CALLS} calls:`);
for (const op of ops) console.log(`  ${op.padEnd(15)} ${median(runs[op]).toFixed(2).padStart(6)}`);
