// The worker's per-request wasm work, timed in V8 (Node) without HTTP around it: the same
// build/ the worker ships, the entry's two exports, the same strings the entry passes.
//
//   bash scripts/build.sh && bash scripts/node.sh bench/wasm-call.mjs [--iterations N] [--only W,...]
//                                                               [--dir DIR]  (a build, default build/)
//
// Workloads (wall clock and process CPU per call, each the median of 7 rounds of N calls after
// a warm-up round):
//   header-steady     header mode + shared secret, valid session cookie (same cookie)
//   access-steady     Access mode, the same assertion and a valid session cookie
//   access-miss       Access mode, a never-seen assertion every call (valid session cookie):
//                     parse, claims, one WebCrypto RS256 verify, cache insert
//   session-miss      header mode, a never-seen (freshly issued) session cookie every call:
//                     the HMAC check, base64 and JSON of a first sight
// Keys come from a loopback JWKS server started here (JWKS_URL); KV is an in-memory object.
// What workerd adds per request (its HTTP, the JS entry's Headers and fetch) is measured
// by bench/run.mjs instead.

import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createPrivateKey } from "node:crypto";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ACCESS_VARS, GATEWAY_SECRET, HEADER_VARS, PATH, USER } from "./lib/settings.mjs";
import { accessToken, makeKey } from "./lib/tokens.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const argIndex = process.argv.indexOf("--iterations");
const N = argIndex > 0 ? Number(process.argv[argIndex + 1]) : 20000;
const onlyIndex = process.argv.indexOf("--only");
const only = onlyIndex > 0 ? process.argv[onlyIndex + 1].split(",") : null;
const dirIndex = process.argv.indexOf("--dir");
const BUILD = dirIndex > 0 ? path.resolve(process.argv[dirIndex + 1]) : path.join(ROOT, "build");
const wanted = (...names) => only === null || names.some((n) => only.includes(n));

/** One fresh instance of the shipped glue + wasm (the module's own state is per instance):
 * a copy of build/glue in bench/build/wasm-call/TAG whose wasm import Node can load. */
async function instance(tag) {
  const dir = path.join(ROOT, "bench/build/wasm-call", tag);
  rmSync(dir, { recursive: true, force: true });
  cpSync(path.join(BUILD, "glue"), dir, { recursive: true });
  const glue = readFileSync(path.join(dir, "index.js"), "utf8").replace(
    /^import wasmModule from "\.\/index_bg\.wasm";/m,
    `import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";\nconst wasmModule = new WebAssembly.Module(readFileSync(${JSON.stringify(path.join(BUILD, "index_bg.wasm"))}));`,
  );
  writeFileSync(path.join(dir, "index.mjs"), glue);
  return import(pathToFileURL(path.join(dir, "index.mjs")).href);
}

const kv = () => {
  const map = new Map();
  return { async get(k) { return map.get(k) ?? null; }, async put(k, v) { map.set(k, v); } };
};

const key = makeKey();
const server = createServer((req, res) => {
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify(key.jwks));
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const JWKS_URL = `http://127.0.0.1:${server.address().port}/certs`;

const headerEnv = () => ({ ...HEADER_VARS, USERS: kv() });
// Keys from the loopback server above instead of the team domain's certs URL.
const accessEnv = () => ({ ...ACCESS_VARS, JWKS_URL, USERS: kv() });

const URL_ = `https://app.example.com${PATH}`;
const lines = (h) => Object.entries(h).map(([k, v]) => `${k.toLowerCase()}\t${v}\n`).join("");
const cookieOf = (reply) => /^F\n[^\n]*\n([^;\n]+)/.exec(reply)?.[1];

async function call(wasm, ls) {
  let r = wasm.handle.length === 3 ? wasm.handle("GET", URL_, ls) : wasm.handle(URL_, ls);
  if (typeof r !== "string") r = await r;
  if (!r.startsWith("F\n")) throw new Error(`unexpected reply: ${r}`);
  return r;
}

/** µs per call, wall clock and process CPU (all threads: Node's WebCrypto runs on its thread
 * pool), each the median of 7 rounds of `n` calls (one warm-up round first). */
async function time(n, body) {
  const wall = [];
  const cpu = [];
  for (let round = 0; round < 8; round++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await body(i + round * n);
    const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
    const c = process.cpuUsage(c0);
    if (round > 0) {
      wall.push(us);
      cpu.push((c.user + c.system) / n);
    }
  }
  const med = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
  return { wall: med(wall), cpu: med(cpu) };
}

const results = {};
const now = Math.floor(Date.now() / 1000);
const pk = createPrivateKey(key.privatePem);

if (wanted("header-steady")) {
  const wasm = await instance("header");
  wasm.configure(headerEnv());
  const base = { "Cf-Access-Authenticated-User-Email": USER, "X-Gateway-Secret": GATEWAY_SECRET };
  const cookie = cookieOf(await call(wasm, lines(base)));
  const ls = lines({ ...base, Cookie: cookie });
  results["header-steady"] = await time(N, () => call(wasm, ls));
}
if (wanted("access-steady", "access-miss")) {
  const wasm = await instance("access");
  wasm.configure(accessEnv());
  const token = accessToken(pk, USER, { jti: "steady", iat: now - 5 });
  const base = { "Cf-Access-Jwt-Assertion": token, "Cf-Access-Authenticated-User-Email": USER };
  const cookie = cookieOf(await call(wasm, lines(base)));
  if (wanted("access-steady")) results["access-steady"] = await time(N, () => call(wasm, lines({ ...base, Cookie: cookie })));
  // Distinct tokens, signed before timing (node:crypto, ~1 ms each).
  if (wanted("access-miss")) {
  const m = Math.max(200, Math.floor(N / 20));
  const tokens = Array.from({ length: m * 8 }, (_, i) => accessToken(pk, USER, { jti: `m${i}`, iat: now - 5 - (i % 60) }));
  results["access-miss"] = await time(m, (i) =>
    call(wasm, lines({ "Cf-Access-Jwt-Assertion": tokens[i], "Cf-Access-Authenticated-User-Email": USER, Cookie: cookie })),
  );
  }
}
if (wanted("session-miss")) {
  // Fresh session cookies: log in 8·m users on one instance, then present each cookie once.
  const wasm = await instance("session-miss");
  wasm.configure(headerEnv());
  const m = Math.max(500, Math.floor(N / 10));
  const requests = [];
  for (let i = 0; i < m * 8; i++) {
    const base = { "Cf-Access-Authenticated-User-Email": `u${i}@example.com`, "X-Gateway-Secret": GATEWAY_SECRET };
    requests.push(lines({ ...base, Cookie: cookieOf(await call(wasm, lines(base))) }));
  }
  results["session-miss"] = await time(m, (i) => call(wasm, requests[i]));
}
server.close();

console.log(`wasm decision per call in V8 (Node ${process.version}), medians of 7 rounds (µs):`);
console.log(`  ${"workload".padEnd(14)} ${"wall".padStart(7)} ${"CPU".padStart(7)}`);
for (const [name, t] of Object.entries(results)) {
  console.log(`  ${name.padEnd(14)} ${t.wall.toFixed(1).padStart(7)} ${t.cpu.toFixed(1).padStart(7)}`);
}
