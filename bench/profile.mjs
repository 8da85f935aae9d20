// CPU profile of one worker inside workerd, under load: where the per-request time goes.
//
//   bash scripts/node.sh bench/profile.mjs [--dir build] [--mode header|access-miss|passthrough]
//                                          [--seconds 5] [--interval 50] [--top 40]
//
// Starts the worker in DIR (index.js + wasm; DIR inside the working directory) with
// Miniflare and its inspector, logs in once, then drives it with wrk (8 connections) while
// V8's sampling profiler runs inside workerd. Prints self and total time per function
// (wasm functions by name when the build keeps the name section: see --help of
// scripts/build.sh's PROFILE=1), and writes the raw profile to bench/results/profile.cpuprofile
// (open it in Chrome DevTools' Performance panel).

import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { ACCESS_VARS, GATEWAY_SECRET, HEADER_VARS, USER } from "./lib/settings.mjs";
import { ISSUER, makeKey, writeTokens } from "./lib/tokens.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const dir = args.dir ?? "build";
const mode = args.mode ?? "header";
const seconds = Number(args.seconds ?? 5);
const interval = Number(args.interval ?? 50);
const top = Number(args.top ?? 40);

// header: shared secret + session cookie (steady state). access-miss: Cloudflare Access mode,
// a never-seen assertion on every request (valid session cookie): the cache-miss path.
const access = mode === "access-miss";
const bindings = access ? ACCESS_VARS : HEADER_VARS;
const key = access ? makeKey() : null;
const tokensFile = path.join(ROOT, "bench/build/profile-tokens.txt");
if (access) {
  mkdirSync(path.dirname(tokensFile), { recursive: true });
  await writeTokens(tokensFile, key.privatePem, USER, 6000 * (seconds + 3));
}
const CERTS = `${ISSUER}/cdn-cgi/access/certs`;
const outbound = (request) =>
  request.url === CERTS ? new Response(JSON.stringify(key.jwks)) : new Response("ok\n");
const worker =
  mode === "passthrough"
    ? { script: `export default { async fetch(request, env) { const url = new URL(request.url);
        return fetch(env.ORIGIN_URL + url.pathname + url.search, { method: request.method,
          headers: request.headers, body: request.body, redirect: "manual" }); } };` }
    : { scriptPath: path.join(dir, "index.js"), modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }] };

const port = 9300 + Math.floor(Math.random() * 500);
const mf = new Miniflare({
  host: "127.0.0.1",
  port: 0,
  inspectorPort: port,
  workers: [
    {
      name: "profiled",
      modules: true,
      compatibilityDate: "2026-07-01",
      bindings,
      kvNamespaces: ["USERS"],
      outboundService: outbound,
      ...worker,
    },
  ],
});
const url = (await mf.ready).toString().replace(/\/$/, "");
const tokens = access ? readFileSync(tokensFile, "utf8").trim().split("\n") : [];
const headers = access
  ? { "Cf-Access-Authenticated-User-Email": USER, "Cf-Access-Jwt-Assertion": tokens[0] }
  : { "Cf-Access-Authenticated-User-Email": USER, "X-Gateway-Secret": GATEWAY_SECRET };
const login = await fetch(url + "/app", { headers });
const cookie = login.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
if (login.status !== 200) throw new Error(`login: ${login.status} ${await login.text()}`);
if (cookie) headers.Cookie = cookie;
const headersFile = path.join(ROOT, "bench/build/profile.headers");
if (access) {
  delete headers["Cf-Access-Jwt-Assertion"];
  writeFileSync(headersFile, Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join("\n") + "\n");
}
let offset = 1;

// The inspector: one WebSocket per worker.
const ws = new WebSocket(`ws://127.0.0.1:${port}/core:user:profiled`);
await new Promise((res, rej) => ((ws.onopen = res), (ws.onerror = rej)));
let nextId = 1;
const pending = new Map();
ws.onmessage = (m) => {
  const msg = JSON.parse(m.data);
  if (msg.id && pending.has(msg.id)) {
    pending.get(msg.id)(msg);
    pending.delete(msg.id);
  }
};
const send = (method, params = {}) =>
  new Promise((res) => {
    const id = nextId++;
    pending.set(id, res);
    ws.send(JSON.stringify({ id, method, params }));
  });

// Asynchronous: the outbound (origin) is answered by this process's event loop.
const wrk = (secs) =>
  new Promise((resolve, reject) => {
    const h = Object.entries(headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
    // access-miss: bench/wrk/bench.lua hands out the tokens, none twice.
    const script = access
      ? ["-s", path.join(ROOT, "bench/wrk/bench.lua"), url + "/app/resource?id=42", "--", "miss", headersFile, tokensFile, "2", String(offset)]
      : [...h, url + "/app/resource?id=42"];
    offset += 6000 * secs;
    const child = spawn("wrk", ["-c", "8", "-t", "2", "-d", `${secs}s`, ...script]);
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("close", () => {
      const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
      m ? resolve(Number(m[1])) : reject(new Error(`wrk: ${out}`));
    });
  });

await wrk(2); // warm-up (JIT, wasm tier-up)
await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval });
await send("Profiler.start");
const rps = await wrk(seconds);
const { result } = await send("Profiler.stop");
ws.close();
await mf.dispose();

const profile = result.profile;
mkdirSync(path.join(ROOT, "bench/results"), { recursive: true });
writeFileSync(path.join(ROOT, "bench/results/profile.cpuprofile"), JSON.stringify(profile));

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const selfUs = new Map();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const label = (n) => {
  const f = n.callFrame;
  const file = f.url ? path.basename(f.url) : "";
  return `${f.functionName || "(anonymous)"}${file ? ` ${file}:${f.lineNumber + 1}` : ""}`;
};
const self = new Map();
const total = new Map();
let all = 0;
let idle = 0;
for (const [id, us] of selfUs) {
  const n = byId.get(id);
  all += us;
  if (["(idle)", "(program)"].includes(n.callFrame.functionName)) idle += us;
  self.set(label(n), (self.get(label(n)) ?? 0) + us);
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const l = label(byId.get(cur));
    if (seen.has(l)) continue;
    seen.add(l);
    total.set(l, (total.get(l) ?? 0) + us);
  }
}
const requests = rps * seconds;
const perReq = (us) => (us / requests).toFixed(1).padStart(8);
console.log(`${dir} (${mode}): ${rps.toFixed(0)} req/s over ${seconds} s; sampled ${(all / 1e6).toFixed(2)} s, of which idle/program ${(idle / 1e6).toFixed(2)} s`);
console.log(`µs per request: self, total (inclusive), function`);
for (const [l, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${perReq(us)} ${perReq(total.get(l))}  ${l}`);
}
console.log(`\nlargest totals:`);
for (const [l, us] of [...total].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${perReq(us)}  ${l}`);
