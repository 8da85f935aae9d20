// Side-by-side load benchmark: our worker (build/index.js) against a plain passthrough and
// the usual JS ways of checking Cloudflare Access tokens, each in real workerd (Miniflare 4),
// loaded by wrk over loopback.
//
//   bash scripts/node.sh bench/run.mjs [options]
//
// Options (defaults in brackets; the defaults take about 3-4 minutes on 2 cores):
//   --duration S        seconds per measured wrk run [4]
//   --warmup S          seconds of the unrecorded wrk run before each measured one [1]
//   --prime S           seconds of one unrecorded run per contender before round 1 (JIT) [2]
//   --rounds N          rounds; each round runs every contender once, the order rotated by one
//                       each round [3]
//   --connections N     wrk connections [8]
//   --threads N         wrk threads [2]
//   --count-duration S  seconds of each KV-counting run (0 skips them) [2]
//   --tokens N          distinct tokens pre-generated for ruf-access-miss [60000]
//   --aa                also run `passthrough-aa`, a second copy of passthrough: its "filter CPU"
//                       is the harness's own noise (an A/A comparison)
//   --pin               pin every workerd to CPU 0 and this process (+ wrk) to CPU 1 [off]
//   --only a,b,...      run only these contenders (passthrough is always added)
//   --variant N=DIR[@C] also run contender C [ruf-header] as N with the worker built in DIR
//                       (DIR/index.js + its wasm, DIR inside the working directory: Miniflare
//                       resolves module paths from it): compares builds in one run; repeatable
//   --worker DIR        the worker under test for every ruf contender [build]: DIR/index.js + its
//                       wasm, DIR inside the working directory (e.g. a copy of build/ in bench/build/,
//                       so that a rebuild of build/ during the run cannot change it)
//   --out FILE          results JSON [bench/results/latest.json] (a .md table is written beside it)
//
// Contenders (one Miniflare instance, i.e. one workerd process, each; all started once):
//   passthrough      minimal JS worker forwarding to ORIGIN_URL (path and query kept)
//   ruf-header       our worker, header mode + shared secret; steady state: session cookie
//   ruf-access       our worker, Cloudflare Access JWT mode; steady state: same token + cookie
//   ruf-header-nocookie  as ruf-header, but the session cookie is never sent (curl, API clients,
//                    uptime checkers): one identity repeated, a fresh login (Set-Cookie) every time
//   ruf-access-nocookie  as ruf-access without the cookie: the SAME assertion on every request, as
//                    a service-token client or a browser sends it within its validity (a token
//                    per request would be ruf-access-miss's signature check, not this workload)
//   ruf-access-miss  as ruf-access, but a never-seen token on every request (+ valid cookie)
//   ruf-login-storm  as ruf-header, but a new user on every request, no cookie (KV get + put)
//   jose-documented  Cloudflare's documented jose recipe (key set created inside fetch)
//   jose-hoisted     the same, key set created once per isolate
//   hono-access      hono + @hono/cloudflare-access
//
// Every worker gets the same Miniflare `outboundService` function, answered in this process:
// https://myteam.cloudflareaccess.com/cdn-cgi/access/certs gets the JWKS, anything else
// (the origin, http://origin.bench) a small fixed 200. Throughput runs use Miniflare's local
// KV (inside workerd); KV reads/writes per request come from separate short runs against a
// counting loopback KV service (tests/e2e/kv-api.mjs).
//
// Per contender and round: wrk req/s and p50/p99 latency (from the Lua done() summary), the
// workerd process's CPU time during the run (sum of /proc/<pid>/task/*/schedstat run time)
// per request, this process's CPU per request (the in-process outbound), Set-Cookie and
// non-200 responses (counted in wrk's response()), origin and JWKS fetches (counted by the
// outbound function). The table shows medians over rounds; "× passthrough" and "filter CPU"
// pair each run with passthrough's in the same round (req/s ratio; workerd CPU per request
// minus passthrough's) and take the median over rounds. Set-Cookie/req counts responses carrying at
// least one (wrk's Lua header table keeps one value per name).
//
// Before the rounds every contender is checked once by hand (200, origin saw the right URL and
// X-Remote-User, Set-Cookie only where expected); anything off during the runs (non-200,
// socket errors, a wrong user or URL at the origin, Set-Cookie or KV calls in steady state,
// worker error logs) is listed under "Problems seen". The exit code is 0 either way, 1 only
// if the harness itself failed.
//
// Writes: bench/build/ (bundled JS workers, tokens.txt, wrk header files) and the results,
// bench/results/latest.json (options, environment, every run, summaries) and latest.md
// (the printed table and notes). wrk script: bench/wrk/bench.lua.

import { spawn, spawnSync } from "node:child_process";
import { createPrivateKey } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { startKvApi } from "../tests/e2e/kv-api.mjs";
import { ISSUER, accessToken, makeKey, writeTokens } from "./lib/tokens.mjs";
import { bundle } from "./lib/bundle.mjs";
import { CLK_TCK, children, cpuOf, median, pin } from "./lib/proc.mjs";
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

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BENCH = path.join(ROOT, "bench");
const BUILD = path.join(BENCH, "build");
const started = Date.now();

// ---------------------------------------------------------------- options
function parseArgs(argv) {
  const o = {
    duration: 4,
    warmup: 1,
    prime: 2,
    rounds: 3,
    connections: 8,
    threads: 2,
    countDuration: 2,
    tokens: 60000,
    only: null,
    variants: [],
    aa: false,
    pin: false,
    out: path.join(BENCH, "results", "latest.json"),
    worker: path.join(ROOT, "build"),
  };
  const num = (name, v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name}: expected a number, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes("=") ? a.split(/=(.*)/s) : [a, undefined];
    const val = () => inline ?? argv[++i];
    switch (flag) {
      case "--duration": o.duration = num(flag, val()); break;
      case "--warmup": o.warmup = num(flag, val()); break;
      case "--prime": o.prime = num(flag, val()); break;
      case "--rounds": o.rounds = Math.max(1, Math.round(num(flag, val()))); break;
      case "--connections": o.connections = Math.max(1, Math.round(num(flag, val()))); break;
      case "--threads": o.threads = Math.max(1, Math.round(num(flag, val()))); break;
      case "--count-duration": o.countDuration = num(flag, val()); break;
      case "--tokens": o.tokens = Math.max(1000, Math.round(num(flag, val()))); break;
      case "--pin": o.pin = true; break;
      case "--aa": o.aa = true; break;
      case "--only": o.only = val().split(",").map((s) => s.trim()).filter(Boolean); break;
      case "--variant": {
        const m = /^([\w.-]+)=([^@]+)(?:@([\w-]+))?$/.exec(val() ?? "");
        if (!m) throw new Error("--variant: expected NAME=DIR[@CONTENDER]");
        o.variants.push({ name: m[1], dir: path.resolve(m[2]), base: m[3] ?? "ruf-header" });
        break;
      }
      case "--out": o.out = path.resolve(val()); break;
      case "--worker": o.worker = path.resolve(val()); break;
      case "-h":
      case "--help":
        console.log(readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n\n")[0].replace(/^\/\/ ?/gm, ""));
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${a} (see --help)`);
    }
  }
  // wrk takes whole seconds.
  for (const k of ["duration", "warmup", "prime", "countDuration"]) o[k] = Math.ceil(o[k]);
  if (o.duration <= 0) throw new Error("--duration must be > 0");
  o.connections = Math.max(o.connections, o.threads);
  return o;
}
const opts = parseArgs(process.argv.slice(2));

// ---------------------------------------------------------------- fixed inputs
const CERTS_URL = `${ISSUER}/cdn-cgi/access/certs`;

/**
 * name, worker (`ruf` = build/index.js, else a bench/workers/*.js file), vars, login headers
 * (a request made before the runs whose session cookie the workload then sends), the wrk
 * workload (static | miss | storm) and its headers, the user the origin should see, and
 * whether Set-Cookie is expected on every response.
 */
function contenders(token) {
  const access = { [JWT_HEADER]: token, [EMAIL_HEADER]: USER };
  const header = { [EMAIL_HEADER]: USER, [SECRET_HEADER]: GATEWAY_SECRET };
  const list = [
    { name: "passthrough", script: "passthrough.js", vars: { ORIGIN_URL }, mode: "static", headers: access, user: null },
    { name: "ruf-header", script: "ruf", vars: HEADER_VARS, login: header, mode: "static", headers: header, user: USER },
    { name: "ruf-access", script: "ruf", vars: ACCESS_VARS, login: access, mode: "static", headers: access, user: USER },
    // No cookie: the login request is still made first (the client's first request: a KV read,
    // the user created, the login stamp written), then the workload never sends its cookie.
    { name: "ruf-header-nocookie", script: "ruf", vars: HEADER_VARS, login: header, mode: "static", headers: header, user: USER, cookies: true, sendCookie: false },
    { name: "ruf-access-nocookie", script: "ruf", vars: ACCESS_VARS, login: access, mode: "static", headers: access, user: USER, cookies: true, sendCookie: false },
    { name: "ruf-access-miss", script: "ruf", vars: ACCESS_VARS, login: access, mode: "miss", headers: { [EMAIL_HEADER]: USER }, user: USER },
    { name: "ruf-login-storm", script: "ruf", vars: HEADER_VARS, mode: "storm", headers: { [SECRET_HEADER]: GATEWAY_SECRET }, user: /^storm-/, cookies: true },
    { name: "jose-documented", script: "jose-documented.js", vars: JOSE_VARS, mode: "static", headers: access, user: USER },
    { name: "jose-hoisted", script: "jose-hoisted.js", vars: JOSE_VARS, mode: "static", headers: access, user: USER },
    { name: "hono-access", script: "hono-access.js", vars: { ORIGIN_URL }, mode: "static", headers: access, user: USER },
  ];
  if (opts.aa) list.splice(1, 0, { ...list[0], name: "passthrough-aa" });
  for (const v of opts.variants) {
    const base = list.find((c) => c.name === v.base);
    if (!base) throw new Error(`--variant ${v.name}: no contender ${v.base}`);
    if (list.some((c) => c.name === v.name)) throw new Error(`--variant ${v.name}: name taken`);
    // Its workload, checks and bindings are C's; the worker is DIR's, loaded like ours.
    list.push({ ...base, name: v.name, script: "ruf", dir: v.dir });
  }
  if (!opts.only) return list;
  const only = [...opts.only, ...opts.variants.map((v) => v.name), ...(opts.aa ? ["passthrough-aa"] : [])];
  const unknown = only.filter((n) => !list.some((c) => c.name === n));
  if (unknown.length) throw new Error(`--only: unknown contender(s) ${unknown.join(", ")}`);
  return list.filter((c) => c.name === "passthrough" || only.includes(c.name));
}

// ---------------------------------------------------------------- helpers
const log = (...a) => console.error(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s]`, ...a);
/** Machine-wide steal time so far (ns): CPU the hypervisor gave to someone else. */
function stealNs() {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/);
  return (Number(f[8] ?? 0) * 1e9) / CLK_TCK;
}

function rssOf(pid) {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/);
  return m ? Math.round(Number(m[1]) / 1024) : undefined;
}

function writeHeaders(file, headers) {
  writeFileSync(file, Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join("\n") + "\n");
}

// ---------------------------------------------------------------- outbound + workers
/** The shared outbound: JWKS for the certs URL, a fixed 200 for anything else; counts both. */
function makeOutbound(jwksText, stats) {
  return async (request) => {
    if (request.url === CERTS_URL) {
      stats.jwks += 1;
      return new Response(jwksText, { headers: { "content-type": "application/json" } });
    }
    stats.origin += 1;
    if (request.url !== stats.expectUrl) stats.wrongUrl += 1;
    const user = request.headers.get("x-remote-user");
    if (stats.user !== null && !(stats.user instanceof RegExp ? stats.user.test(user ?? "") : user === stats.user)) {
      stats.wrongUser += 1;
      stats.lastWrongUser = user;
    }
    return new Response("ok\n", { headers: { "content-type": "text/plain" } });
  };
}

function bundleContender(script) {
  return bundle(path.join(BENCH, "workers", script), path.join(BUILD, script));
}

/** One Miniflare instance for `c`; finds its workerd process. */
async function startInstance(c, jwksText, { kv = ["USERS"] } = {}) {
  const stats = { jwks: 0, origin: 0, wrongUrl: 0, wrongUser: 0, lastWrongUser: undefined, user: c.user, expectUrl: ORIGIN_URL + PATH };
  const logs = { count: {}, samples: [] };
  const before = children();
  const worker =
    c.script === "ruf"
      ? {
          scriptPath: path.join(c.dir ?? opts.worker, "index.js"),
          modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
          kvNamespaces: kv,
        }
      : { scriptPath: c.bundled };
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    handleStructuredLogs: (l) => {
      // wrk closing its connections at the end of a run, mid-response: not the worker's doing.
      if (/disconnected|Connection reset by peer|Broken pipe/.test(l.message)) {
        logs.client_disconnects = (logs.client_disconnects ?? 0) + 1;
        return;
      }
      logs.count[l.level] = (logs.count[l.level] ?? 0) + 1;
      if (logs.samples.length < 5 && !logs.samples.includes(l.message)) logs.samples.push(l.message);
    },
    workers: [
      {
        name: c.name,
        modules: true,
        compatibilityDate: COMPAT_DATE,
        bindings: c.vars,
        outboundService: makeOutbound(jwksText, stats),
        ...worker,
      },
    ],
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  const fresh = [...children()].filter(([pid, name]) => !before.has(pid) && name === "workerd");
  if (fresh.length !== 1) throw new Error(`${c.name}: expected one new workerd child, found ${JSON.stringify(fresh)}`);
  if (opts.pin) pin(fresh[0][0], "0");
  return { mf, url, pid: fresh[0][0], stats, logs };
}

/** A request through an instance: status, Set-Cookie lines, body. */
async function get(inst, headers) {
  const r = await fetch(inst.url + PATH, { headers, redirect: "manual" });
  return { status: r.status, cookies: r.headers.getSetCookie(), text: await r.text() };
}

/** Log in (if the contender does) and check one steady-state request; returns the cookie. */
async function prepare(c, inst, problems) {
  let cookie;
  if (c.login) {
    const r = await get(inst, c.login);
    const ours = r.cookies.filter((s) => s.startsWith("__Host-remote-user-session="));
    if (r.status !== 200 || ours.length !== 1) {
      throw new Error(`${c.name}: login answered ${r.status} with ${ours.length} session cookies: ${r.text.slice(0, 200)}`);
    }
    cookie = ours[0].split(";")[0];
  }
  return cookie;
}

function workloadHeaders(c, cookie) {
  const h = { ...c.headers };
  if (cookie && c.sendCookie !== false) h.Cookie = cookie;
  return h;
}

/** Check the steady-state request once by hand (what wrk will send, one token for miss). */
async function preflight(c, inst, headers, sampleToken, problems) {
  const h = { ...headers };
  if (c.mode === "miss") h[JWT_HEADER] = sampleToken;
  if (c.mode === "storm") h[EMAIL_HEADER] = `storm-preflight@example.com`;
  const o0 = inst.stats.origin;
  const w0 = inst.stats.wrongUser + inst.stats.wrongUrl;
  const r = await get(inst, h);
  const cookies = r.cookies.length;
  if (r.status !== 200) problems.push(`${c.name}: preflight answered ${r.status}: ${r.text.slice(0, 200)}`);
  if (inst.stats.origin !== o0 + 1) problems.push(`${c.name}: preflight reached the origin ${inst.stats.origin - o0} times`);
  if (inst.stats.wrongUser + inst.stats.wrongUrl !== w0)
    problems.push(`${c.name}: preflight: origin saw a wrong URL or X-Remote-User (${inst.stats.lastWrongUser})`);
  if (c.cookies ? cookies !== 1 : cookies !== 0) problems.push(`${c.name}: preflight answered with ${cookies} Set-Cookie`);
}

// ---------------------------------------------------------------- wrk
const SETTLE_MS = 250;
let tokenOffset = 0;
let tokensUsed = 0;
let tokensWrapped = false;
let stormRun = 0;

function wrkArgs(c, inst, seconds, files) {
  const args = [
    "-t", String(opts.threads),
    "-c", String(opts.connections),
    "-d", `${seconds}s`,
    "--timeout", "5s",
    "-s", path.join(BENCH, "wrk/bench.lua"),
    inst.url + PATH,
    "--",
    c.mode,
    files.headers,
  ];
  if (c.mode === "miss") args.push(files.tokens, String(opts.threads), String(tokenOffset));
  if (c.mode === "storm") args.push(`${process.pid}x${stormRun++}`);
  return args;
}

function runWrk(args, timeoutS) {
  return new Promise((resolve, reject) => {
    const p = spawn("wrk", args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutS * 1000);
    p.on("error", reject);
    p.on("close", (code) => {
      clearTimeout(timer);
      const line = out.split("\n").find((l) => l.startsWith("BENCHJSON "));
      if (code !== 0 || !line) return reject(new Error(`wrk exited ${code}: ${err || out}`));
      resolve(JSON.parse(line.slice("BENCHJSON ".length)));
    });
  });
}

/** One wrk run against `inst` with CPU and outbound accounting. */
async function measure(c, inst, seconds, files) {
  const args = wrkArgs(c, inst, seconds, files);
  const s0 = { ...inst.stats };
  const cpu0 = cpuOf(inst.pid);
  const node0 = process.cpuUsage();
  const steal0 = stealNs();
  const w = await runWrk(args, seconds + 30);
  // Let the requests still in flight when wrk stopped finish (they reach the origin and cost
  // CPU too), so the next run starts clean.
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const node1 = process.cpuUsage(node0);
  const steal1 = stealNs();
  const cpu1 = cpuOf(inst.pid);
  if (c.mode === "miss") {
    tokensUsed += w.issued;
    tokenOffset += w.issued + opts.threads; // never reuse, not even the last in-flight ones
    if (tokenOffset >= opts.tokens) tokensWrapped = true;
    tokenOffset %= opts.tokens;
  }
  const n = w.requests;
  const errors = Object.values(w.errors).reduce((a, b) => a + b, 0);
  return {
    requests: n,
    rps: n / (w.duration_us / 1e6),
    p50_ms: w.latency_us.p50 / 1000,
    p90_ms: w.latency_us.p90 / 1000,
    p99_ms: w.latency_us.p99 / 1000,
    mean_ms: w.latency_us.mean / 1000,
    max_ms: w.latency_us.max / 1000,
    errors: w.errors,
    socket_errors: errors - w.errors.status,
    non200: w.non200,
    setcookie: w.setcookie,
    issued: w.issued,
    workerd_cpu_us_per_req: (cpu1.sched - cpu0.sched) / 1000 / n,
    workerd_cpu_stat_us_per_req: (cpu1.stat - cpu0.stat) / 1000 / n,
    workerd_cpu_share: (cpu1.sched - cpu0.sched) / (w.duration_us * 1000),
    node_cpu_us_per_req: (node1.user + node1.system) / n,
    origin: inst.stats.origin - s0.origin,
    jwks: inst.stats.jwks - s0.jwks,
    wrong_user: inst.stats.wrongUser - s0.wrongUser,
    wrong_url: inst.stats.wrongUrl - s0.wrongUrl,
    workerd_rss_mb: rssOf(inst.pid),
    steal_share: (steal1 - steal0) / (w.duration_us * 1000 + SETTLE_MS * 1e6),
    last_wrong_user: inst.stats.wrongUser > s0.wrongUser ? inst.stats.lastWrongUser ?? null : undefined,
  };
}

// ---------------------------------------------------------------- main
const instances = new Map();
async function cleanup() {
  for (const inst of instances.values()) await inst.mf.dispose().catch(() => {});
  instances.clear();
}
process.on("SIGINT", async () => {
  await cleanup();
  process.exit(130);
});

async function main() {
  mkdirSync(path.join(BUILD, "wrk"), { recursive: true });
  mkdirSync(path.dirname(opts.out), { recursive: true });
  const list = contenders(null);
  log(`contenders: ${list.map((c) => c.name).join(", ")}; ${opts.rounds} rounds x ${opts.duration}s (+${opts.warmup}s warm-up), -c ${opts.connections} -t ${opts.threads}`);

  // Keys and tokens.
  const key = makeKey();
  const jwksText = JSON.stringify(key.jwks);
  const now = Math.floor(Date.now() / 1000);
  const token = accessToken(createPrivateKey(key.privatePem), USER, { jti: "steady", iat: now - 5 });
  const files = { tokens: path.join(BUILD, "tokens.txt") };
  const needTokens = list.some((c) => c.mode === "miss");
  if (needTokens) {
    log(`signing ${opts.tokens} distinct RS256 tokens ...`);
    await writeTokens(files.tokens, key.privatePem, USER, opts.tokens);
  }
  const sampleToken = needTokens ? accessToken(createPrivateKey(key.privatePem), USER, { jti: "preflight", iat: now - 5 }) : null;

  if (opts.pin) pin(process.pid, "1");

  // Bundle the JS contenders.
  const resolved = contenders(token);
  for (const c of resolved) if (c.script !== "ruf") c.bundled = bundleContender(c.script);
  log(`bundled ${resolved.filter((c) => c.bundled).map((c) => path.relative(ROOT, c.bundled)).join(", ")}`);

  // Start every instance once, log in, preflight.
  const problems = [];
  const wl = {};
  for (const c of resolved) {
    const inst = await startInstance(c, jwksText);
    instances.set(c.name, inst);
    const cookie = await prepare(c, inst, problems);
    const headers = workloadHeaders(c, cookie);
    wl[c.name] = { headers: path.join(BUILD, "wrk", `${c.name}.headers`), tokens: files.tokens, cookie, raw: headers };
    writeHeaders(wl[c.name].headers, headers);
    await preflight(c, inst, headers, sampleToken, problems);
    log(`started ${c.name} (workerd pid ${inst.pid}) at ${inst.url}`);
  }

  // One unrecorded priming run each, so round 1 does not pay for V8's warm-up alone.
  if (opts.prime > 0) {
    for (const c of resolved) await measure(c, instances.get(c.name), opts.prime, wl[c.name]);
    log(`primed every contender for ${opts.prime} s`);
  }

  // Measured rounds, the order rotated by one each round (A B C, B C A, C A B, ...): every
  // contender alternates with the others, and none always runs right after passthrough (an
  // A/A copy of passthrough in that slot measured 0.93-0.97x in earlier runs).
  const runs = Object.fromEntries(resolved.map((c) => [c.name, []]));
  for (let round = 1; round <= opts.rounds; round++) {
    const shift = (round - 1) % resolved.length;
    for (const c of [...resolved.slice(shift), ...resolved.slice(0, shift)]) {
      const inst = instances.get(c.name);
      // A fresh session cookie before every run: the worker re-checks a session older than
      // USER_RECHECK_SECS (300 s) and answers it with a new cookie, which a browser keeps but
      // wrk cannot; a cookie from the start of a 10-minute run would turn the steady workloads
      // into re-checks (a Set-Cookie on every request) halfway through.
      if (c.login && c.sendCookie !== false) writeHeaders(wl[c.name].headers, workloadHeaders(c, await prepare(c, inst)));
      if (opts.warmup > 0) await measure(c, inst, opts.warmup, wl[c.name]);
      const r = await measure(c, inst, opts.duration, wl[c.name]);
      r.round = round;
      runs[c.name].push(r);
      log(
        `round ${round} ${c.name.padEnd(16)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50_ms.toFixed(2)} ms  p99 ${r.p99_ms.toFixed(2)} ms  ` +
          `workerd ${r.workerd_cpu_us_per_req.toFixed(1)} us/req (${(r.workerd_cpu_share * 100).toFixed(0)}% of a core)` +
          (r.non200 ? `  non-200 ${r.non200}` : "") +
          (r.socket_errors ? `  socket errors ${r.socket_errors}` : ""),
      );
    }
  }
  const logsByContender = Object.fromEntries([...instances].map(([n, i]) => [n, i.logs]));
  await cleanup();

  // KV counting runs (ruf workloads) against the counting KV service.
  const counting = {};
  if (opts.countDuration > 0) {
    for (const c of resolved.filter((c) => c.script === "ruf")) {
      const kvApi = await startKvApi();
      try {
        const inst = await startInstance(c, jwksText, { kv: kvApi.binding });
        instances.set(`${c.name}:count`, inst);
        const cookie = await prepare(c, inst, problems);
        const countFiles = { headers: path.join(BUILD, "wrk", `${c.name}.count.headers`), tokens: files.tokens };
        writeHeaders(countFiles.headers, workloadHeaders(c, cookie));
        const loginOps = { ...kvApi.counts(), ops: kvApi.ops.map((o) => `${o.method} ${o.key}`) };
        kvApi.reset();
        const r = await measure(c, inst, opts.countDuration, countFiles);
        const ops = kvApi.counts();
        counting[c.name] = {
          login_kv: loginOps,
          requests: r.requests,
          kv_get: ops.GET,
          kv_put: ops.PUT,
          kv_other: ops.other,
          // Per request the worker handled (each reached the origin once), in-flight ones too.
          handled: r.origin,
          kv_reads_per_req: ops.GET / r.origin,
          kv_writes_per_req: ops.PUT / r.origin,
          setcookie_per_req: r.setcookie / r.requests,
          non200: r.non200,
          rps: r.rps,
          workerd_cpu_us_per_req: r.workerd_cpu_us_per_req,
        };
        log(`KV count ${c.name.padEnd(16)} ${r.requests} requests: ${ops.GET} GET, ${ops.PUT} PUT, ${r.setcookie} Set-Cookie, ${r.non200} non-200`);
      } finally {
        await instances.get(`${c.name}:count`)?.mf.dispose().catch(() => {});
        instances.delete(`${c.name}:count`);
        await kvApi.close();
      }
    }
  }

  // Summaries.
  const summary = {};
  for (const c of resolved) {
    const rs = runs[c.name];
    const total = rs.reduce((a, r) => a + r.requests, 0);
    const sum = (k) => rs.reduce((a, r) => a + r[k], 0);
    summary[c.name] = {
      rps: median(rs.map((r) => r.rps)),
      p50_ms: median(rs.map((r) => r.p50_ms)),
      p99_ms: median(rs.map((r) => r.p99_ms)),
      workerd_cpu_us_per_req: median(rs.map((r) => r.workerd_cpu_us_per_req)),
      workerd_cpu_us_per_req_range: [Math.min(...rs.map((r) => r.workerd_cpu_us_per_req)), Math.max(...rs.map((r) => r.workerd_cpu_us_per_req))],
      rps_range: [Math.min(...rs.map((r) => r.rps)), Math.max(...rs.map((r) => r.rps))],
      workerd_cpu_stat_us_per_req: median(rs.map((r) => r.workerd_cpu_stat_us_per_req)),
      node_cpu_us_per_req: median(rs.map((r) => r.node_cpu_us_per_req)),
      workerd_rss_mb_end: rs.at(-1)?.workerd_rss_mb,
      requests: total,
      non200: sum("non200"),
      socket_errors: sum("socket_errors"),
      setcookie_per_req: sum("setcookie") / total,
      origin_per_req: sum("origin") / total,
      jwks_per_req: sum("jwks") / total,
      wrong_user: sum("wrong_user"),
      wrong_url: sum("wrong_url"),
      kv: counting[c.name],
    };
  }
  // Against passthrough round by round (its run in the same round, seconds apart), then the
  // median: the machine drifts between rounds more than the contenders differ.
  const baseRuns = runs.passthrough;
  for (const c of resolved) {
    const s = summary[c.name];
    const paired = runs[c.name].map((r, i) => ({
      ratio: r.rps / baseRuns[i].rps,
      cpu: r.workerd_cpu_us_per_req - baseRuns[i].workerd_cpu_us_per_req,
    }));
    s.vs_passthrough = median(paired.map((p) => p.ratio));
    s.vs_passthrough_range = [Math.min(...paired.map((p) => p.ratio)), Math.max(...paired.map((p) => p.ratio))];
    s.filter_cpu_us_per_req = median(paired.map((p) => p.cpu));
    s.filter_cpu_us_per_req_range = [Math.min(...paired.map((p) => p.cpu)), Math.max(...paired.map((p) => p.cpu))];
  }

  // Anomalies: what the workload promised vs what was seen.
  for (const c of resolved) {
    const s = summary[c.name];
    if (s.non200) problems.push(`${c.name}: ${s.non200} non-200 responses in the measured runs`);
    if (s.socket_errors) problems.push(`${c.name}: ${s.socket_errors} socket errors/timeouts in the measured runs`);
    if (!c.cookies && s.setcookie_per_req > 0) problems.push(`${c.name}: Set-Cookie on ${(s.setcookie_per_req * 100).toFixed(2)}% of steady-state responses`);
    if (c.cookies && Math.abs(s.setcookie_per_req - 1) > 0.001) problems.push(`${c.name}: Set-Cookie on ${(s.setcookie_per_req * 100).toFixed(2)}% of responses (expected every one)`);
    if (s.wrong_user) problems.push(`${c.name}: origin saw a wrong/missing X-Remote-User ${s.wrong_user} times (e.g. ${JSON.stringify(runs[c.name].find((r) => r.last_wrong_user !== undefined)?.last_wrong_user)})`);
    if (s.wrong_url) problems.push(`${c.name}: origin saw a wrong URL ${s.wrong_url} times`);
    // wrk does not count the responses still in flight when it stops: up to one per connection.
    for (const r of runs[c.name]) {
      const extra = r.origin - r.requests;
      if (extra < 0 || extra > opts.connections)
        problems.push(`${c.name}: round ${r.round}: the origin saw ${r.origin} requests for ${r.requests} answered`);
    }
    const k = counting[c.name];
    if (k) {
      const steady = c.mode !== "storm";
      if (steady && (k.kv_get || k.kv_put)) problems.push(`${c.name}: KV calls in steady state: ${k.kv_get} GET, ${k.kv_put} PUT over ${k.requests} requests`);
      if (!steady && (Math.abs(k.kv_reads_per_req - 1) > 0.01 || Math.abs(k.kv_writes_per_req - 1) > 0.01))
        problems.push(`${c.name}: ${k.kv_reads_per_req.toFixed(3)} KV reads and ${k.kv_writes_per_req.toFixed(3)} writes per request (expected 1 and 1)`);
      if (k.non200) problems.push(`${c.name}: ${k.non200} non-200 responses in the KV counting run`);
    }
    const lg = logsByContender[c.name];
    if (lg && (lg.count.error || lg.count.warn)) problems.push(`${c.name}: worker logged ${JSON.stringify(lg.count)}: ${lg.samples.join(" | ").slice(0, 300)}`);
  }
  if (tokensWrapped) problems.push(`ruf-access-miss: used ${tokensUsed} tokens, more than the ${opts.tokens} generated: some were sent a second time (long after leaving the 1024-entry token cache); raise --tokens`);

  const table = renderTable(resolved, summary);
  const env = {
    node: process.version,
    workerd: JSON.parse(readFileSync(path.join(ROOT, "node_modules/workerd/package.json"), "utf8")).version,
    miniflare: JSON.parse(readFileSync(path.join(ROOT, "node_modules/miniflare/package.json"), "utf8")).version,
    jose: pkgVersion("jose"),
    hono: pkgVersion("hono"),
    "@hono/cloudflare-access": pkgVersion("@hono/cloudflare-access"),
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    wrk: spawnSync("wrk", ["--version"], { encoding: "utf8" }).stdout.split("\n")[0].trim(),
    worker: path.relative(ROOT, opts.worker) || ".",
    worker_wasm_bytes: readFileSync(path.join(opts.worker, "index_bg.wasm")).length,
  };
  const result = {
    date: new Date().toISOString(),
    options: opts,
    env,
    tokens: needTokens ? { generated: opts.tokens, used: tokensUsed, wrapped: tokensWrapped } : undefined,
    summary,
    runs,
    kv_counting: counting,
    worker_logs: logsByContender,
    problems,
    elapsed_s: (Date.now() - started) / 1000,
  };
  writeFileSync(opts.out, JSON.stringify(result, null, 2) + "\n");
  const md = `${table}\n${notes(problems, result)}`;
  writeFileSync(opts.out.replace(/\.json$/, "") + ".md", md);
  console.log(md);
  log(`wrote ${path.relative(ROOT, opts.out)} (${result.elapsed_s.toFixed(0)} s in all)`);
  return 0;
}

function pkgVersion(name) {
  try {
    return JSON.parse(readFileSync(path.join(ROOT, "node_modules", name, "package.json"), "utf8")).version;
  } catch {
    return undefined;
  }
}

function renderTable(resolved, summary) {
  const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : "–");
  const perReq = (x) => (x === undefined ? "–" : x === 0 ? "0" : x.toFixed(2));
  const head = [
    "contender",
    "req/s",
    "× passthrough (min–max)",
    "p50 ms",
    "p99 ms",
    "workerd CPU µs/req (min–max)",
    "filter CPU µs/req (min–max)",
    "Set-Cookie/req",
    "KV reads/req",
    "KV writes/req",
    "JWKS fetches/req",
    "non-200",
  ];
  const rows = resolved.map((c) => {
    const s = summary[c.name];
    return [
      `\`${c.name}\``,
      f(s.rps),
      c.name === "passthrough" ? "1.00" : `${f(s.vs_passthrough, 2)} (${f(s.vs_passthrough_range[0], 2)}–${f(s.vs_passthrough_range[1], 2)})`,
      f(s.p50_ms, 2),
      f(s.p99_ms, 2),
      s.workerd_cpu_us_per_req_range && s.workerd_cpu_us_per_req_range[0] !== s.workerd_cpu_us_per_req_range[1]
        ? `${f(s.workerd_cpu_us_per_req, 0)} (${f(s.workerd_cpu_us_per_req_range[0], 0)}–${f(s.workerd_cpu_us_per_req_range[1], 0)})`
        : f(s.workerd_cpu_us_per_req, 0),
      c.name === "passthrough"
        ? "–"
        : `${f(s.filter_cpu_us_per_req, 0)} (${f(s.filter_cpu_us_per_req_range[0], 0)}–${f(s.filter_cpu_us_per_req_range[1], 0)})`,
      perReq(s.setcookie_per_req),
      perReq(s.kv?.kv_reads_per_req),
      perReq(s.kv?.kv_writes_per_req),
      perReq(s.jwks_per_req),
      String(s.non200),
    ];
  });
  const line = (cells) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map((_, i) => (i === 0 ? "---" : "---:"))), ...rows.map(line)].join("\n") + "\n";
}

function notes(problems, result) {
  const o = result.options;
  const e = result.env;
  const lines = [
    `Medians of ${o.rounds} round(s) of ${o.duration} s (${o.prime ? `after a ${o.prime} s priming run per contender; ` : ""}${o.warmup ? `a ${o.warmup} s warm-up before each run` : "no warm-up"}), wrk -c ${o.connections} -t ${o.threads}, ` +
      `contenders alternating, the order rotated by one each round; one workerd process per contender (${e.workerd}, Miniflare ${e.miniflare}), ` +
      `outbound (origin + JWKS) answered in-process by Miniflare's outboundService; ${e.cores} × ${e.cpu}; node ${e.node}.`,
    `CPU = the contender's workerd process (schedstat run time of all its threads) per request; × passthrough and filter CPU (min–max over rounds) compare each run with passthrough's in the same round (ratio of req/s, difference of CPU/req), median over rounds. ` +
      `KV reads/writes per request come from separate ${o.countDuration} s runs against a counting KV service; Set-Cookie/req counts responses carrying one.`,
  ];
  const storm = result.summary["ruf-login-storm"];
  if (storm?.kv)
    lines.push(
      `ruf-login-storm's throughput runs use Miniflare's local KV, simulated inside the same workerd process, so its CPU includes that simulator; ` +
        `in the counting run (KV answered by this process over loopback) its workerd spent ${storm.kv.workerd_cpu_us_per_req.toFixed(0)} µs/req at ${storm.kv.rps.toFixed(0)} req/s.`,
    );
  for (const [name, s] of Object.entries(result.summary)) {
    if (!name.endsWith("-nocookie") || !s.kv) continue;
    const k = s.kv;
    lines.push(
      `${name}: the client's first request (made before the counting run) cost ${k.login_kv.GET} KV read(s) and ${k.login_kv.PUT} write(s) (${k.login_kv.ops.join(", ")}); ` +
        `the ${k.handled} requests after it ${k.kv_get} reads and ${k.kv_put} writes, Set-Cookie on ${(k.setcookie_per_req * 100).toFixed(1)}% of responses.`,
    );
  }
  lines.push(
    `p99 is mostly workerd pauses that grow as a workerd process ages (its RSS grows with every request, passthrough's too: ` +
      `${Object.entries(result.summary).map(([n, s]) => `${n} ${s.workerd_rss_mb_end} MB`).join(", ")} at the end); p50 and CPU/req are the steadier figures.`,
  );
  if (result.tokens) lines.push(`ruf-access-miss: ${result.tokens.used} distinct tokens sent of ${result.tokens.generated} generated${result.tokens.wrapped ? " (WRAPPED: some reused)" : " (none reused)"}.`);
  lines.push(problems.length ? `\nProblems seen:\n${problems.map((p) => `- ${p}`).join("\n")}` : "\nNo problems seen: every response 200, the origin always saw the right user and URL, no unexpected Set-Cookie or KV call.");
  return lines.join("\n") + "\n";
}

try {
  process.exitCode = await main();
} catch (e) {
  console.error(e);
  await cleanup();
  process.exitCode = 1;
}
