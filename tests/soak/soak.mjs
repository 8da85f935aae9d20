// A hostile soak: the built stock worker (build/, `bash scripts/build.sh`) in real workerd on
// loopback, driven by concurrent clients with a mix of honest and hostile requests, each
// request's expected status, forwarded identity and session outcome fixed before it is sent.
//
//   bash scripts/node.sh tests/soak/soak.mjs [--requests 100000] [--concurrency 32]
//        [--seed 12] [--passthrough-requests N] [--json FILE] [--wasm-memory]
//
// Three workerd processes (one Miniflare instance each), all on 127.0.0.1:
//   access       the stock worker in Cloudflare Access mode (session,gateway_jwt,remote_user)
//                against a loopback JWKS server that counts its GETs
//   secret       the stock worker in shared-secret header mode (session,gateway_secret,remote_user)
//   passthrough  bench/workers/passthrough.js, the memory baseline: after the soak it is sent
//                the same generated requests (default: as many as the soak sent)
// Both stock workers run with USER_RECHECK_SECS=1 and USER_CACHE_SECS=1 (so sessions are
// re-checked, and revocation bites, within the run) and their own counting KV stand-in
// (tests/e2e/kv-api.mjs: every KV operation is counted by verb and key).
//
// Clients keep a cookie jar per worker and send one request at a time; `--concurrency`
// clients run at once (one of them cycles through revocations: log in, deactivate the user
// in KV, wait out USER_RECHECK_SECS + USER_CACHE_SECS, expect 403 and the cookie removed,
// reactivate, log in again). Each request gets an `x-soak-id`; the loopback origin records
// the identity headers it saw under that id, so what reached the origin is checked against
// what was expected for that very request.
//
// Checked per request: the status; whether the origin was reached and as whom (username,
// groups, and no other spelling — `_`, any case — of an identity, gateway or secret header,
// nor the session cookie or the gateway secret); the session outcome (`issue`: exactly one
// new session cookie, for the expected user; `renew`: none, or one for the same user;
// `none`/`clear`: no session issued, `clear` with the cookie's removal). Reported: requests,
// unexpected statuses, wrong identities at the origin, sessions issued where none should be,
// other session mismatches, KV reads/writes (writes per login), JWKS fetches, worker log
// lines (and whether any holds a secret or a token), and each workerd's RSS over the run.
// Exit code 1 when any check failed.
//
// --wasm-memory: run the stock workers from build-soak/: the wasm built with the `heap-stats`
// feature (a counting allocator around the usual one) and the stock entry, bundled with
// tests/soak/wasm-memory-entry.js, which adds `GET /__soak/wasm-memory` (the wasm module's
// linear memory in bytes, and the bytes and blocks the filter holds); they are sampled with
// the RSS and reported the same way, so a growth of linear memory shows whether the filter
// holds more (a leak) or the allocator's free space breaks up (fragmentation).
import http from "node:http";
import { createHmac, generateKeyPairSync, sign as cryptoSign } from "node:crypto";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Miniflare } from "miniflare";
import { startKvApi } from "../e2e/kv-api.mjs";
import { children } from "../../bench/lib/proc.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
process.chdir(ROOT);

const { values: opt } = parseArgs({
  options: {
    requests: { type: "string", default: "100000" },
    concurrency: { type: "string", default: "32" },
    seed: { type: "string", default: "12" },
    "passthrough-requests": { type: "string" },
    json: { type: "string" },
    "wasm-memory": { type: "boolean", default: false },
  },
});
const N = Number(opt.requests);
const C = Math.max(2, Number(opt.concurrency));
const PASS_N = opt["passthrough-requests"] === undefined ? N : Number(opt["passthrough-requests"]);

// ---------------------------------------------------------------------------------------
// Settings, keys, users.
const SESSION_SECRET = "soak-session-secret-0123456789abcdef-0123456789";
const FOREIGN_SECRET = "another-deployments-secret-0123456789abcdef-xyz";
const GATEWAY_SECRET = "soak-gateway-secret-0123456789abcdef";
const WRONG_SECRET = "soak-gateway-secret-0123456789abcdeX"; // same length, last byte differs
const COOKIE = "__Host-remote-user-session";
const TEAM = "soak.cloudflareaccess.com";
const ISSUER = `https://${TEAM}`;
const AUD = "aud-soak";
const JWT = "Cf-Access-Jwt-Assertion";
const HEADER = "Cf-Access-Authenticated-User-Email";
const SECRET_HEADER = "X-Gateway-Secret";
const UPSTREAM = ["x-remote-user", "x-remote-user-email", "x-remote-user-groups"];
const ADMIN = "admin@soak.example";
const SEEDED = 400; // active users u0..u399
const REVOKED = 40; // inactive users r0..r39

/** mulberry32: a small seeded PRNG, so a run can be repeated. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(Number(opt.seed));
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const nowSecs = () => Math.floor(Date.now() / 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");

function rsaKey(kid) {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { kid, privateKey, jwk: { ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" } };
}
const KEY = rsaKey("key-a");
const FORGED = rsaKey("key-a"); // claims to be key-a; never published
const STRANGER = rsaKey("key-x"); // signs under kids the JWKS never lists

/** An RS256 Access assertion for `email`; `claims`/`header` override, `signWith` another key. */
function assertion(email, { claims = {}, header = {}, signWith = KEY, kid = KEY.kid } = {}) {
  const now = nowSecs();
  const h = { alg: "RS256", kid, typ: "JWT", ...header };
  const p = { iss: ISSUER, aud: [AUD], email, sub: `sub-${email}`, iat: now - 10, nbf: now - 10, exp: now + 3600, ...claims };
  const input = `${b64(h)}.${b64(p)}`;
  return `${input}.${cryptoSign("sha256", Buffer.from(input), signWith.privateKey).toString("base64url")}`;
}
function hs256(header, payload, secret) {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

const seeded = (i) => `u${i}@soak.example`;
const groupsOf = (i) => ["staff", `team${i % 7}`];
/** username -> expected groups (what the origin must see), for every user the run knows. */
const knownGroups = new Map();
for (let i = 0; i < SEEDED; i++) knownGroups.set(seeded(i), groupsOf(i));
knownGroups.set(ADMIN, ["admins"]);
const record = (username, groups, active = true) =>
  JSON.stringify({ username, is_active: active, email: username, groups, date_joined: "2026-01-01T00:00:00Z" });
function seed(kv) {
  for (let i = 0; i < SEEDED; i++) kv.store.set(`user:${seeded(i)}`, record(seeded(i), groupsOf(i)));
  for (let i = 0; i < REVOKED; i++) kv.store.set(`user:r${i}@soak.example`, record(`r${i}@soak.example`, ["staff"], false));
  kv.store.set(`user:${ADMIN}`, record(ADMIN, ["admins"]));
}

// One valid assertion per user, made on first use (RSA signing costs ~2 ms).
const assertions = new Map();
const tokenFor = (user) => assertions.get(user) ?? assertions.set(user, assertion(user)).get(user);
// Pools of hostile assertions, made once.
const POOL = 24;
const hostile = { forged: [], expired: [], aud: [], iss: [], kid: [], none: [], hs: [], tampered: [], future: [] };
function makeHostile() {
  const now = nowSecs();
  const pubN = KEY.jwk.n;
  for (let i = 0; i < POOL; i++) {
    const who = i % 2 ? ADMIN : seeded(i);
    hostile.forged.push(assertion(who, { signWith: FORGED }));
    hostile.expired.push(assertion(who, { claims: { exp: now - 600 - i, iat: now - 4000, nbf: now - 4000 } }));
    hostile.future.push(assertion(who, { claims: { nbf: now + 3600, iat: now + 3600, exp: now + 7200 } }));
    hostile.aud.push(assertion(who, { claims: { aud: [`other-${i}`] } }));
    hostile.iss.push(assertion(who, { claims: { iss: `https://evil${i}.cloudflareaccess.com` } }));
    hostile.kid.push(assertion(who, { signWith: STRANGER, kid: `unknown-kid-${i}` }));
    const p = { iss: ISSUER, aud: [AUD], email: who, sub: "x", iat: now - 10, nbf: now - 10, exp: now + 3600 };
    hostile.none.push(`${b64({ alg: "none", kid: KEY.kid, typ: "JWT" })}.${b64(p)}.`);
    hostile.hs.push(hs256({ alg: "HS256", kid: KEY.kid, typ: "JWT" }, p, pubN));
    // A valid token for u<i> whose payload now names the admin, original signature kept.
    const [h, , s] = tokenFor(seeded(i)).split(".");
    hostile.tampered.push(`${h}.${b64({ ...p, email: ADMIN, sub: "sub-admin" })}.${s}`);
  }
}
const OVERSIZED_ASSERTION = "eyJ" + "A".repeat(20000) + ".eyJ" + "B".repeat(100) + ".c2ln";

// ---------------------------------------------------------------------------------------
// The loopback origin: records, per x-soak-id, what it saw.
const seen = new Map();
const origin = http.createServer((req, res) => {
  const raw = req.rawHeaders;
  const names = [];
  const values = {};
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i].toLowerCase();
    names.push(n);
    (values[n] ??= []).push(raw[i + 1]);
  }
  const id = values["x-soak-id"]?.[0];
  if (id) seen.set(id, { names, values });
  req.resume();
  req.on("end", () => {
    res.setHeader("content-type", "text/plain");
    res.end("origin");
  });
});
await new Promise((r) => origin.listen(0, "127.0.0.1", r));
const ORIGIN_URL = `http://127.0.0.1:${origin.address().port}`;

// The loopback JWKS server: counts its GETs.
let jwksGets = 0;
const jwks = http.createServer((req, res) => {
  jwksGets += 1;
  req.resume();
  req.on("end", () => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ keys: [KEY.jwk] }));
  });
});
await new Promise((r) => jwks.listen(0, "127.0.0.1", r));
const JWKS_URL = `http://127.0.0.1:${jwks.address().port}/cdn-cgi/access/certs`;

// ---------------------------------------------------------------------------------------
// The workers.
function rssKb(pid) {
  try {
    return Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)[1]);
  } catch {
    return NaN;
  }
}
async function start(name, { script = "build/index.js", bindings, kv }) {
  const before = children();
  const logs = [];
  const mf = new Miniflare({
    host: "127.0.0.1",
    // Must return nothing (Miniflare checks the handler's return type).
    handleStructuredLogs: (log) => {
      logs.push(log);
    },
    workers: [
      {
        name,
        modules: true,
        scriptPath: script,
        modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
        compatibilityDate: "2026-07-01",
        kvNamespaces: kv?.binding ?? [],
        bindings,
      },
    ],
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  const fresh = [...children()].filter(([pid, comm]) => !before.has(pid) && comm === "workerd");
  if (fresh.length !== 1) throw new Error(`${name}: expected one new workerd child, found ${fresh.length}`);
  const u = new URL(url);
  return { name, mf, url, host: u.host, port: Number(u.port), pid: fresh[0][0], logs, kv, rss: [], wasm: [], heap: [], blocks: [] };
}

/**
 * build-soak/: the stock entry and a build of the wasm with the `heap-stats` feature (a
 * counting allocator), plus the memory probe route (see --wasm-memory).
 */
async function buildProbe() {
  const { build } = await import("esbuild");
  execFileSync("bash", ["scripts/build.sh"], {
    env: { ...process.env, OUT: "build-soak", FEATURES: "heap-stats" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const glue = readFileSync("build-soak/glue/index.js", "utf8");
  writeFileSync(
    "build-soak/glue/index.js",
    `${glue}\nexport function __soak_wasm_bytes() { return wasm.memory.buffer.byteLength; }\n`,
  );
  const glueCopy = path.resolve("build-soak/glue/index.js");
  await build({
    entryPoints: ["tests/soak/wasm-memory-entry.js"],
    bundle: true,
    format: "esm",
    outfile: "build-soak/index.js",
    external: ["./index_bg.wasm", "cloudflare:*"],
    logLevel: "warning",
    plugins: [
      {
        name: "probe-glue",
        setup(b) {
          b.onResolve({ filter: /build\/glue\/index\.js$/ }, () => ({ path: glueCopy }));
        },
      },
    ],
  });
  return "build-soak/index.js";
}
const STOCK = opt["wasm-memory"] ? await buildProbe() : "build/index.js";

const kvA = await startKvApi();
const kvS = await startKvApi();
seed(kvA);
seed(kvS);
const common = { SESSION_SECRET, ORIGIN_URL, USER_RECHECK_SECS: "1", USER_CACHE_SECS: "1" };
const access = await start("access", {
  script: STOCK,
  kv: kvA,
  bindings: {
    ...common,
    AUTH_FILTERS: "session,gateway_jwt,remote_user",
    GATEWAY: "cloudflare_access",
    ACCESS_TEAM_DOMAIN: TEAM,
    ACCESS_AUD: AUD,
    JWKS_URL,
  },
});
const secret = await start("secret", {
  script: STOCK,
  kv: kvS,
  bindings: { ...common, AUTH_FILTERS: "session,gateway_secret,remote_user", GATEWAY_SECRET },
});
const passthrough = await start("passthrough", { script: "bench/workers/passthrough.js", bindings: { ORIGIN_URL } });
const workers = [access, secret, passthrough];

// ---------------------------------------------------------------------------------------
// Sending, and reading what came back.
const agent = new http.Agent({ keepAlive: true, maxSockets: C * 2 });
/** Connections reset by workerd as a kept-alive socket was reused (retried once, counted). */
const transport = { retried: 0, failed: 0 };
function sendOnce(w, { method = "GET", path: p = "/", headers }) {
  const flat = [["Host", w.host], ...headers].flat();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: w.port, path: p, method, headers: flat, agent }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode, setCookie: res.headers["set-cookie"] ?? [], text }));
    });
    req.on("error", (error) => reject(Object.assign(error, { reused: req.reusedSocket })));
    req.end();
  });
}
/**
 * Send; a reset on a reused keep-alive socket (the server closed it as it was picked up) is
 * sent again once on a new one. Any other transport failure is a response with status 0.
 */
async function send(w, req) {
  try {
    return await sendOnce(w, req);
  } catch (error) {
    if (error.reused && error.code === "ECONNRESET") {
      transport.retried += 1;
      try {
        return await sendOnce(w, req);
      } catch (again) {
        error = again;
      }
    }
    transport.failed += 1;
    return { status: 0, setCookie: [], text: `transport error: ${error.code ?? error.message}` };
  }
}

/** The session cookies in a response: issued ones as { pair, user }, and removals. */
function sessionCookies(setCookie) {
  const issued = [];
  let removals = 0;
  for (const line of setCookie) {
    if (!line.startsWith(`${COOKIE}=`)) continue;
    const pair = line.split(";")[0];
    const value = pair.slice(COOKIE.length + 1);
    if (!value || /max-age=0/i.test(line)) {
      removals += 1;
      continue;
    }
    let user;
    try {
      user = JSON.parse(Buffer.from(value.split(".")[1], "base64url").toString("utf8")).sub;
    } catch {
      user = undefined;
    }
    issued.push({ pair, user });
  }
  return { issued, removals };
}

// ---------------------------------------------------------------------------------------
// Checks and figures.
const stats = {
  sent: 0,
  byScenario: {},
  unexpectedStatus: 0,
  wrongIdentity: 0,
  sessionsIssuedWrongly: 0,
  sessionMismatch: 0,
  logins: { access: 0, secret: 0 },
  examples: [],
};
const exampleCounts = new Map();
/** Keep up to 3 examples of each kind of problem per scenario. */
function problem(kind, sc, detail) {
  const k = `${kind} ${sc}`;
  const n = exampleCounts.get(k) ?? 0;
  exampleCounts.set(k, n + 1);
  if (n < 3) stats.examples.push({ kind, scenario: sc, ...detail });
}

/** Spellings an `_`-folding origin reads as one of the guarded headers. */
const GUARDED = [...UPSTREAM, HEADER.toLowerCase(), JWT.toLowerCase(), SECRET_HEADER.toLowerCase()];
const fold = (n) => n.replaceAll("_", "-");

/**
 * Check one response against its expectation:
 *   status        the status
 *   user          the identity the origin must see (null: none), when `reached`
 *   reached       whether the origin must see the request (default: status 200)
 *   session       "issue" | "renew" | "none" | "clear"
 */
function check(sc, id, w, res, expect) {
  const s = (stats.byScenario[sc] ??= { n: 0, statuses: {} });
  s.n += 1;
  s.statuses[res.status] = (s.statuses[res.status] ?? 0) + 1;
  stats.sent += 1;
  if (res.status !== expect.status) {
    stats.unexpectedStatus += 1;
    problem("status", sc, { id, got: res.status, want: expect.status, body: res.text.slice(0, 200) });
  }
  // What reached the origin.
  const reached = expect.reached ?? expect.status === 200;
  const o = seen.get(id);
  seen.delete(id);
  let wrong = null;
  if (!reached && o) wrong = "the origin was reached";
  else if (reached && !o) wrong = "the origin was not reached";
  else if (o) {
    // Values outside visible ASCII reach the origin percent-encoded.
    const decode = (vs) => vs?.map((v) => decodeURIComponent(v));
    const user = decode(o.values["x-remote-user"]);
    if (expect.user === null) {
      if (user) wrong = `origin saw user ${user}`;
    } else if (!user || user.length !== 1 || user[0] !== expect.user) wrong = `origin saw user ${JSON.stringify(user)}`;
    const groups = o.values["x-remote-user-groups"];
    const want = expect.user ? knownGroups.get(expect.user) : undefined;
    if (!wrong && expect.user && want && (groups?.length !== 1 || groups[0] !== want.join(",")))
      wrong = `origin saw groups ${JSON.stringify(groups)} for ${expect.user}`;
    if (!wrong && expect.user && !want && groups && groups.some((g) => g !== ""))
      wrong = `origin saw groups ${JSON.stringify(groups)} for new user ${expect.user}`;
    if (!wrong && !expect.user && (groups || o.values["x-remote-user-email"])) wrong = "identity headers on an anonymous request";
    const email = decode(o.values["x-remote-user-email"]);
    if (!wrong && want && (email?.length !== 1 || email[0] !== expect.user)) wrong = `origin saw email ${JSON.stringify(email)}`;
    // No other spelling of a guarded header, and the gateway's own only when allowed.
    if (!wrong) {
      for (const n of o.names) {
        const f = fold(n);
        if (!GUARDED.includes(f)) continue;
        if (n !== f) {
          wrong = `origin saw the spelling ${n}`;
          break;
        }
        if (n === SECRET_HEADER.toLowerCase()) {
          wrong = "origin saw the gateway secret header";
          break;
        }
        // The gateway's own headers go on only as sent, once, and only naming the user the
        // request is forwarded as.
        if (n === HEADER.toLowerCase() || n === JWT.toLowerCase()) {
          const vs = o.values[n];
          const ok =
            expect.user &&
            vs.length === 1 &&
            (n === JWT.toLowerCase()
              ? vs[0] === assertions.get(expect.user)
              : Buffer.from(vs[0], "latin1").toString("utf8").trim().toLowerCase() === expect.user);
          if (!ok) {
            wrong = `origin saw ${n}: ${String(vs).slice(0, 60)}`;
            break;
          }
        }
        if (UPSTREAM.includes(n) && o.values[n].length !== 1) {
          wrong = `origin saw ${n} ${o.values[n].length} times`;
          break;
        }
      }
    }
    if (!wrong && (o.values.cookie ?? []).some((c) => c.includes(`${COOKIE}=`))) wrong = "origin saw the session cookie";
    // The client's own cookies, byte for byte (as node reads them: latin1).
    if (!wrong && expect.cookie !== undefined && JSON.stringify(o.values.cookie ?? []) !== JSON.stringify([expect.cookie]))
      wrong = `origin saw cookie ${JSON.stringify(o.values.cookie)}`;
    if (!wrong && Object.values(o.values).some((vs) => vs.some((v) => v.includes(GATEWAY_SECRET))))
      wrong = "origin saw the gateway secret";
  }
  if (wrong) {
    stats.wrongIdentity += 1;
    problem("identity", sc, { id, wrong, want: expect.user });
  }
  // The session.
  const { issued, removals } = sessionCookies(res.setCookie);
  let bad = null;
  switch (expect.session) {
    case "issue":
      if (issued.length !== 1 || issued[0].user !== expect.user) bad = "mismatch";
      break;
    case "renew":
      if (issued.length > 1 || (issued.length === 1 && issued[0].user !== expect.user)) bad = "mismatch";
      break;
    case "none":
    case "clear":
      if (issued.length) bad = "issued";
      else if (expect.session === "clear" && removals !== 1) bad = "mismatch";
      else if (expect.session === "none" && removals) bad = "mismatch";
      break;
    default:
      throw new Error(`unknown session expectation ${expect.session}`);
  }
  if (bad === "issued") stats.sessionsIssuedWrongly += 1;
  if (bad === "mismatch") stats.sessionMismatch += 1;
  if (bad) problem(`session-${bad}`, sc, { id, want: expect.session, issued: issued.map((c) => c.user), removals, debug: expect.debug });
  if (expect.session === "issue" && !bad) stats.logins[w.name] += 1;
  return issued.length === 1 && issued[0].user === expect.user ? issued[0].pair : null;
}

// ---------------------------------------------------------------------------------------
// The scenarios. Each takes the client (its cookie jars) and returns what to send and what
// must come back; `after(pair)` updates the jar with the session issued, if any.
let ids = 0;
let newUsers = 0;
const newUser = () => `new${newUsers++}-${opt.seed}@soak.example`;
const activeUser = () => (rand() < 0.03 ? ADMIN : seeded(Math.floor(rand() * SEEDED)));
/** UTF-8 names (some new, some seen before), and the header value node:http sends as their UTF-8 bytes. */
const utf8User = () => `zoë-ñandú${Math.floor(rand() * 50)}@soak.example`;
const wireBytes = (text) => Buffer.from(text, "utf8").toString("latin1");
const revokedUser = () => `r${Math.floor(rand() * REVOKED)}@soak.example`;
const cookieHeader = (...pairs) => ["Cookie", pairs.filter(Boolean).join("; ")];

/** `_` and case spellings of the upstream headers (and the gateway's), naming the admin. */
function spoofedUpstream() {
  const out = [];
  for (const n of UPSTREAM) {
    const words = n.split("-");
    const title = words.map((x) => x[0].toUpperCase() + x.slice(1));
    out.push([title.join("_"), n.endsWith("groups") ? "admins" : ADMIN]);
    out.push([words.join("_").toUpperCase(), n.endsWith("groups") ? "admins" : ADMIN]);
    out.push([pick([n.toUpperCase(), title.join("-"), n]), n.endsWith("groups") ? "admins" : ADMIN]);
  }
  return out;
}
/** A session cookie for `user` signed with another deployment's secret. */
function foreignCookie(user, template) {
  const now = nowSecs();
  let payload = { iat: now, exp: now + 3600, nbf: now, iss: "remote-user-filter", sub: user, jti: "f", chk: now, rmt: true, username: user, email: user, groups: ["admins"] };
  if (template) {
    try {
      payload = { ...JSON.parse(Buffer.from(template.split("=")[1].split(".")[1], "base64url")), sub: user, username: user, groups: ["admins"] };
    } catch {
      // keep the default
    }
  }
  return `${COOKIE}=${hs256({ alg: "HS256", typ: "JWT" }, payload, FOREIGN_SECRET)}`;
}
/** The client's cookie with one character of its signature or payload changed. */
function tampered(pair) {
  const [h, p, s] = pair.slice(COOKIE.length + 1).split(".");
  if (rand() < 0.5) {
    const i = Math.floor(rand() * (s.length - 1));
    const c = s[i] === "A" ? "B" : "A";
    return `${COOKIE}=${h}.${p}.${s.slice(0, i)}${c}${s.slice(i + 1)}`;
  }
  const claims = JSON.parse(Buffer.from(p, "base64url").toString("utf8"));
  // Another user's payload (or, for the admin's own cookie, more groups) under the signature.
  const who = claims.sub === ADMIN ? seeded(0) : ADMIN;
  return `${COOKIE}=${h}.${b64({ ...claims, sub: who, username: who, groups: ["admins", "root"] })}.${s}`;
}

/** Access-mode scenarios: weight, and a maker (client) -> { name, req, expect, user? }. */
const ACCESS = [
  [26, "steady", (c) => {
    const j = c.jar.access;
    if (!j) return null;
    return { req: { headers: [[JWT, tokenFor(j.user)], cookieHeader("theme=dark", j.pair)] }, expect: { status: 200, user: j.user, session: "renew" }, keep: j.user };
  }],
  [9, "login", (c) => {
    const u = activeUser();
    return { req: { headers: [[JWT, tokenFor(u)]] }, expect: { status: 200, user: u, session: "issue" }, keep: u };
  }],
  [6, "cookieless", () => {
    const u = activeUser();
    return { req: { headers: [[JWT, tokenFor(u)]] }, expect: { status: 200, user: u, session: "issue" } };
  }],
  [5, "new-user", () => {
    const u = newUser();
    return { req: { headers: [[JWT, tokenFor(u)]] }, expect: { status: 200, user: u, session: "issue" }, keep: u };
  }],
  [5, "switch-user", (c) => {
    const j = c.jar.access;
    if (!j) return null;
    let u = activeUser();
    if (u === j.user) u = seeded((SEEDED + 1 + Number(j.user.slice(1).split("@")[0] || 0)) % SEEDED);
    return { req: { headers: [[JWT, tokenFor(u)], cookieHeader(j.pair)] }, expect: { status: 200, user: u, session: "issue" }, keep: u };
  }],
  [3, "cookie-no-assertion", (c) => {
    const j = c.jar.access;
    if (!j) return null;
    return { req: { headers: [cookieHeader(j.pair)] }, expect: { status: 401, user: null, session: "clear" }, drop: true };
  }],
  [2, "nothing", () => ({ req: { headers: [] }, expect: { status: 401, user: null, session: "none" } })],
  [4, "tampered-cookie", (c) => {
    const j = c.jar.access;
    if (!j) return null;
    const t = tampered(j.pair);
    if (rand() < 0.5) return { req: { headers: [cookieHeader(t)] }, expect: { status: 401, user: null, session: "none" } };
    const u = activeUser();
    return { req: { headers: [[JWT, tokenFor(u)], cookieHeader(t)] }, expect: { status: 200, user: u, session: "issue" }, keep: u };
  }],
  [3, "foreign-cookie", (c) => {
    const f = foreignCookie(ADMIN, c.jar.access?.pair);
    if (rand() < 0.5) return { req: { headers: [cookieHeader(f)] }, expect: { status: 401, user: null, session: "none" } };
    const u = seeded(Math.floor(rand() * SEEDED));
    return { req: { headers: [[JWT, tokenFor(u)], cookieHeader(f)] }, expect: { status: 200, user: u, session: "issue" }, keep: u };
  }],
  [10, "hostile-assertion", (c) => {
    const kind = pick(Object.keys(hostile));
    const j = c.jar.access;
    // With or without a valid session: a refused assertion is a 401 either way, and the
    // session is neither renewed nor removed (the gateway filter stops the chain).
    const headers = [[JWT, pick(hostile[kind])]];
    if (j && rand() < 0.5) headers.push(cookieHeader(j.pair));
    return { name: `hostile-assertion:${kind}`, req: { headers }, expect: { status: 401, user: null, session: "none" } };
  }],
  [1, "oversized-assertion", () => ({ req: { headers: [[JWT, OVERSIZED_ASSERTION]] }, expect: { status: 401, user: null, session: "none" } })],
  [3, "plain-header-mismatch", (c) => {
    const u = activeUser();
    if (rand() < 0.5) return { req: { headers: [[HEADER, ADMIN]] }, expect: { status: 401, user: null, session: "none" } };
    const headers = [[JWT, tokenFor(u)], [HEADER, u === ADMIN ? seeded(1) : ADMIN]];
    if (c.jar.access?.user === u) headers.push(cookieHeader(c.jar.access.pair));
    return { req: { headers }, expect: { status: 403, user: null, session: "none" } };
  }],
  [2, "plain-header-oversized", () => {
    const u = activeUser();
    return { req: { headers: [[JWT, tokenFor(u)], [HEADER, `${"a".repeat(400)}@soak.example`]] }, expect: { status: 403, user: null, session: "none" } };
  }],
  [2, "plain-header-agrees", () => {
    const u = activeUser();
    return { req: { headers: [[JWT, tokenFor(u)], [HEADER, u.toUpperCase()]] }, expect: { status: 200, user: u, session: "issue" } };
  }],
  [1, "utf8-plain-header-agrees", () => {
    const u = utf8User();
    return { req: { headers: [[JWT, tokenFor(u)], [HEADER, wireBytes(u)]] }, expect: { status: 200, user: u, session: "issue" } };
  }],
  [6, "underscore-spellings", (c) => {
    const j = c.jar.access;
    const u = j?.user ?? activeUser();
    const headers = [[JWT, tokenFor(u)], ...spoofedUpstream(), ["Cf_Access_Authenticated_User_Email", ADMIN], ["Cf_Access_Jwt_Assertion", tokenFor(ADMIN)]];
    if (j) headers.push(cookieHeader(j.pair));
    return { req: { headers }, expect: { status: 200, user: u, session: j ? "renew" : "issue" }, keep: u };
  }],
  [2, "underscore-assertion-only", () => ({
    // The admin's valid assertion under a `_` name is not the assertion header.
    req: { headers: [["Cf_Access_Jwt_Assertion", tokenFor(ADMIN)], ["cf_access_jwt_assertion", tokenFor(ADMIN)]] },
    expect: { status: 401, user: null, session: "none" },
  })],
  [2, "duplicate-assertion", () => {
    const u = activeUser();
    const second = rand() < 0.5 ? tokenFor(u) : tokenFor(ADMIN);
    return { req: { headers: [[JWT, tokenFor(u)], [JWT.toLowerCase(), second]] }, expect: { status: 401, user: null, session: "none" } };
  }],
  [2, "duplicate-upstream", () => {
    const u = activeUser();
    return {
      req: { headers: [[JWT, tokenFor(u)], ["X-Remote-User", ADMIN], ["x-remote-user", ADMIN], ["X-Remote-User-Groups", "admins"], ["x-remote-user-groups", "root"]] },
      expect: { status: 200, user: u, session: "issue" },
    };
  }],
  [2, "oversized-headers", (c) => {
    const u = activeUser();
    const headers = [[JWT, tokenFor(u)], ["X-Remote-User", "x".repeat(9000)], ["X-Padding", "p".repeat(8000)], cookieHeader(`junk=${"j".repeat(6000)}`)];
    return { req: { headers }, expect: { status: 200, user: u, session: "issue" }, keep: u };
  }],
  [3, "revoked-user", () => {
    const u = revokedUser();
    return { req: { headers: [[JWT, tokenFor(u)]] }, expect: { status: 403, user: null, session: "none" } };
  }],
  [1, "own-utf8-cookie", (c) => {
    // The client's own non-ASCII cookie beside the session cookie goes on byte for byte.
    const j = c.jar.access;
    if (!j) return null;
    const own = `pref=${wireBytes("例-é")}`;
    return {
      req: { headers: [[JWT, tokenFor(j.user)], cookieHeader(own, j.pair)] },
      expect: { status: 200, user: j.user, session: "renew", cookie: own },
      keep: j.user,
    };
  }],
  [1, "who-am-i", (c) => {
    const j = c.jar.access;
    if (!j) return null;
    return {
      req: { path: "/.auth/me", headers: [[JWT, tokenFor(j.user)], cookieHeader(j.pair)] },
      expect: { status: 200, user: j.user, session: "renew", reached: false },
      body: (text) => {
        const me = JSON.parse(text);
        if (me.username !== j.user) return `who-am-I named ${me.username}`;
        if (text.includes(j.pair.split("=")[1]) || text.includes(tokenFor(j.user))) return "who-am-I showed a token";
        return null;
      },
      keep: j.user,
    };
  }],
  [1, "sign-out", (c) => {
    const j = c.jar.access;
    if (!j) return null;
    return { req: { method: "POST", path: "/.auth/logout", headers: [[JWT, tokenFor(j.user)], cookieHeader(j.pair)] }, expect: { status: 302, user: null, session: "clear" }, drop: true };
  }],
];

/** Shared-secret header-mode scenarios. */
const S = (headers) => [[SECRET_HEADER, GATEWAY_SECRET], ...headers];
const SECRET = [
  [26, "steady", (c) => {
    const j = c.jar.secret;
    if (!j) return null;
    return { req: { headers: S([[HEADER, j.user], cookieHeader(j.pair)]) }, expect: { status: 200, user: j.user, session: "renew" }, keep: j.user };
  }],
  [10, "login", () => {
    const u = activeUser();
    return { req: { headers: S([[HEADER, u]]) }, expect: { status: 200, user: u, session: "issue" }, keep: u };
  }],
  [4, "new-user", () => {
    const u = newUser();
    return { req: { headers: S([[HEADER, u]]) }, expect: { status: 200, user: u, session: "issue" }, keep: u };
  }],
  [4, "switch-user", (c) => {
    const j = c.jar.secret;
    if (!j) return null;
    const u = j.user === ADMIN ? seeded(3) : ADMIN;
    return { req: { headers: S([[HEADER, u], cookieHeader(j.pair)]) }, expect: { status: 200, user: u, session: "issue" }, keep: u };
  }],
  [6, "no-or-wrong-secret", (c) => {
    const kind = pick(["none", "wrong", "underscore", "short", "empty"]);
    const value = { none: null, wrong: WRONG_SECRET, underscore: null, short: GATEWAY_SECRET.slice(0, 8), empty: "" }[kind];
    const headers = [[HEADER, ADMIN]];
    if (value !== null) headers.push([SECRET_HEADER, value]);
    if (kind === "underscore") headers.push(["X_Gateway_Secret", GATEWAY_SECRET]);
    if (c.jar.secret && rand() < 0.5) headers.push(cookieHeader(c.jar.secret.pair));
    return { name: `secret:${kind}`, req: { headers }, expect: { status: 401, user: null, session: "none" } };
  }],
  [2, "secret-lowercase-name", () => {
    const u = activeUser();
    return { req: { headers: [["x-gateway-secret", GATEWAY_SECRET], [HEADER.toUpperCase(), u]] }, expect: { status: 200, user: u, session: "issue" } };
  }],
  [4, "underscore-identity", (c) => {
    const j = c.jar.secret;
    const headers = S([["Cf_Access_Authenticated_User_Email", ADMIN], ["cf_access_authenticated_user_email", ADMIN], ...spoofedUpstream()]);
    if (j && rand() < 0.5) {
      headers.push(cookieHeader(j.pair));
      return { req: { headers }, expect: { status: 401, user: null, session: "clear" }, drop: true };
    }
    return { req: { headers }, expect: { status: 401, user: null, session: "none" } };
  }],
  [4, "underscore-upstream", (c) => {
    const u = c.jar.secret?.user ?? activeUser();
    const headers = S([[HEADER, u], ...spoofedUpstream()]);
    if (c.jar.secret) headers.push(cookieHeader(c.jar.secret.pair));
    return { req: { headers }, expect: { status: 200, user: u, session: c.jar.secret ? "renew" : "issue" }, keep: u };
  }],
  [3, "duplicate-identity", () => {
    const u = activeUser();
    const kind = pick(["twice", "comma"]);
    const headers = kind === "twice" ? S([[HEADER, u], [HEADER.toLowerCase(), ADMIN]]) : S([[HEADER, `${u}, ${ADMIN}`]]);
    return { name: `duplicate-identity:${kind}`, req: { headers }, expect: { status: 400, user: null, session: "none" } };
  }],
  [2, "utf8-identity", () => {
    const u = utf8User();
    return { req: { headers: S([[HEADER, wireBytes(u)]]) }, expect: { status: 200, user: u, session: "issue" } };
  }],
  [3, "malformed-identity", () => {
    const kind = pick(["oversized", "tab", "not-utf8"]);
    // not-utf8: bytes that are not UTF-8 (a Latin-1 é, a BOM-like pair, a cut-off sequence).
    const value = { oversized: `${"a".repeat(310)}@soak.example`, tab: `u1\t@soak.example`, "not-utf8": `u1${pick(["\xe9", "\xff\xfe", "\xc3"])}@soak.example` }[kind];
    return { name: `malformed-identity:${kind}`, req: { headers: S([[HEADER, value]]) }, expect: { status: 400, user: null, session: "none" } };
  }],
  [3, "tampered-or-foreign-cookie", (c) => {
    const j = c.jar.secret;
    const kind = j && rand() < 0.5 ? "tampered" : "foreign";
    const f = kind === "tampered" ? tampered(j.pair) : foreignCookie(ADMIN, j?.pair);
    return { name: `cookie:${kind}`, req: { headers: S([cookieHeader(f)]) }, expect: { status: 401, user: null, session: "none" }, debug: { f, orig: j?.pair } };
  }],
  [3, "revoked-user", () => ({ req: { headers: S([[HEADER, revokedUser()]]) }, expect: { status: 403, user: null, session: "none" } })],
];

function weighted(table) {
  const total = table.reduce((a, [w]) => a + w, 0);
  return () => {
    let r = rand() * total;
    for (const row of table) if ((r -= row[0]) < 0) return row;
    return table[table.length - 1];
  };
}
const nextAccess = weighted(ACCESS);
const nextSecret = weighted(SECRET);

let issuedCount = 0;
const budget = () => issuedCount < N;

/** One request of a scenario: send, check, update the jar. */
async function run(c, w, made, sc) {
  const id = `${w.name}-${ids++}`;
  const req = { ...made.req, headers: [...made.req.headers, ["x-soak-id", id]] };
  const res = await send(w, req);
  const pair = check(made.name ?? sc, id, w, res, { ...made.expect, debug: made.debug });
  if (made.body && res.status === 200) {
    const why = made.body(res.text);
    if (why) {
      stats.wrongIdentity += 1;
      problem("body", sc, { id, why });
    }
  }
  if (made.drop) c.jar[w.name] = null;
  // Scenarios without `keep` (cookieless clients, one-off probes) leave the jar as it was.
  if (pair && made.keep) c.jar[w.name] = { pair, user: made.keep };
  return res;
}

async function client() {
  const c = { jar: { access: null, secret: null } };
  while (budget()) {
    const onAccess = rand() < 0.6;
    const w = onAccess ? access : secret;
    const [, sc, make] = (onAccess ? nextAccess : nextSecret)();
    const made = make(c);
    if (!made) continue;
    issuedCount += 1;
    await run(c, w, made, sc);
  }
}

/** Revocation, end to end, on both workers in turn, until the budget is spent. */
const revocation = { cycles: 0 };
async function revoker() {
  const c = { jar: { access: null, secret: null } };
  let k = 0;
  const wait = 2300; // USER_RECHECK_SECS (1) + USER_CACHE_SECS (1) + a margin
  while (budget()) {
    const w = k % 2 ? secret : access;
    const u = `flip${k++}-${opt.seed}@soak.example`;
    knownGroups.set(u, ["flip"]);
    const proof = (user) => (w === access ? [[JWT, tokenFor(user)]] : S([[HEADER, user]]));
    
    w.kv.store.set(`user:${u}`, record(u, ["flip"]));
    const step = async (sc, headers, expect, keep) => {
      if (!budget()) return false;
      issuedCount += 1;
      await run(c, w, { req: { headers }, expect, keep }, sc);
      return true;
    };
    if (!(await step("revocation:login", proof(u), { status: 200, user: u, session: "issue" }, u))) break;
    if (!c.jar[w.name]) continue;
    if (!(await step("revocation:steady", [...proof(u), cookieHeader(c.jar[w.name].pair)], { status: 200, user: u, session: "renew" }, u))) break;
    w.kv.store.set(`user:${u}`, record(u, ["flip"], false));
    await sleep(wait);
    if (!(await step("revocation:revoked-session", [...proof(u), cookieHeader(c.jar[w.name].pair)], { status: 403, user: null, session: "clear" }))) break;
    c.jar[w.name] = null;
    if (!(await step("revocation:revoked-login", proof(u), { status: 403, user: null, session: "none" }))) break;
    w.kv.store.set(`user:${u}`, record(u, ["flip"]));
    await sleep(wait);
    if (!(await step("revocation:reinstated", proof(u), { status: 200, user: u, session: "issue" }, u))) break;
    revocation.cycles += 1;
  }
}

// ---------------------------------------------------------------------------------------
// Memory sampling.
let sampling = null;
let passSent = 0;
function sampleEvery(ms, ws) {
  const tick = () => {
    const t = Date.now();
    for (const w of ws) w.rss.push([t, rssKb(w.pid), w === passthrough ? passSent : stats.sent]);
    if (!opt["wasm-memory"]) return;
    for (const w of [access, secret]) {
      const sent = stats.sent;
      send(w, { path: "/__soak/wasm-memory", headers: [] }).then((r) => {
        if (r.status !== 200) return;
        const m = JSON.parse(r.text);
        w.wasm.push([t, m.linear / 1024, sent]);
        w.heap.push([t, m.live / 1024, sent]);
        w.blocks.push([t, m.blocks, sent]);
      });
    }
  };
  tick();
  sampling = setInterval(tick, ms);
}
const mb = (kb) => Math.round(kb / 102.4) / 10;
/** A series' value when 10%, 20%, … 100% of the requests had been answered. */
function tenths(series, total) {
  if (!series.length) return null;
  const out = [];
  for (let k = 1; k <= 10; k++) out.push((series.find(([, , sent]) => sent >= (total * k) / 10) ?? series[series.length - 1])[1]);
  return out;
}
function memory(w, t0, t1, total, series = w.rss) {
  const rows = series.filter(([t]) => t >= t0 && t <= t1);
  const xs = rows.map(([, kb]) => kb);
  if (!xs.length) return null;
  // RSS when 10%, 20%, … 100% of the requests had been answered.
  const byTenth = tenths(rows, total).map(mb);
  const q = (f) => xs[Math.min(xs.length - 1, Math.floor(f * xs.length))];
  return { start_mb: mb(xs[0]), p25_mb: mb(q(0.25)), p50_mb: mb(q(0.5)), p75_mb: mb(q(0.75)), end_mb: mb(xs[xs.length - 1]), max_mb: mb(Math.max(...xs)), growth_mb: mb(xs[xs.length - 1] - xs[0]), rss_mb_at_each_tenth_of_the_requests: byTenth, samples: xs.length };
}

// ---------------------------------------------------------------------------------------
// Run.
const log = (...a) => console.error("[soak]", ...a);
log(`workerd pids: access ${access.pid}, secret ${secret.pid}, passthrough ${passthrough.pid}`);
makeHostile();
for (let i = 0; i < 60; i++) tokenFor(seeded(i));
tokenFor(ADMIN);
for (const w of workers) w.rss.length = 0;
sampleEvery(500, workers);
const tSoak0 = Date.now();
const jwks0 = jwksGets;
const countsBefore = { access: kvA.counts(), secret: kvS.counts() };
let progress = setInterval(() => log(`${stats.sent} requests, ${Math.round(stats.sent / ((Date.now() - tSoak0) / 1000))} req/s; access RSS ${mb(rssKb(access.pid))} MB, secret ${mb(rssKb(secret.pid))} MB, passthrough ${mb(rssKb(passthrough.pid))} MB`), 10000);
await Promise.all([revoker(), ...Array.from({ length: C - 1 }, client)]);
const tSoak1 = Date.now();
const soakSecs = (tSoak1 - tSoak0) / 1000;
const jwksDuring = jwksGets - jwks0;

// The passthrough baseline: the same kinds of requests (access-mode ones with a valid
// assertion), answered 200 by the origin whatever they hold.
const tPass0 = Date.now();
let passBad = 0;
async function passClient() {
  while (passSent < PASS_N) {
    passSent += 1;
    const u = activeUser();
    const headers = [[JWT, tokenFor(u)], ...(rand() < 0.3 ? spoofedUpstream() : []), cookieHeader(`s=${passSent}`), ["x-soak-id", `p-${passSent}`]];
    const r = await send(passthrough, { headers });
    seen.delete(`p-${passSent}`);
    if (r.status !== 200) passBad += 1;
  }
}
await Promise.all(Array.from({ length: C }, passClient));
const tPass1 = Date.now();
clearInterval(sampling);
clearInterval(progress);

// KV figures: every operation the stand-ins saw during the soak, by verb and key kind.
function kvFigures(kv, before, logins) {
  const ops = kv.ops;
  const puts = ops.filter((o) => o.method === "PUT");
  const userPuts = puts.filter((o) => o.key.startsWith("user:")).length;
  const loginPuts = puts.filter((o) => o.key.startsWith("login:")).length;
  const after = kv.counts();
  return {
    reads: after.GET - before.GET,
    writes: after.PUT - before.PUT,
    user_record_writes: userPuts,
    login_stamp_writes: loginPuts,
    logins,
    writes_per_login: logins ? Math.round(((after.PUT - before.PUT) / logins) * 1000) / 1000 : 0,
  };
}

// Worker logs: levels, and whether any line holds a secret or a token the run used.
function scanLogs(w) {
  const levels = {};
  const secrets = [SESSION_SECRET, GATEWAY_SECRET, FOREIGN_SECRET, WRONG_SECRET, ...assertions.values(), ...Object.values(hostile).flat()];
  let leaks = 0;
  for (const l of w.logs) {
    levels[l.level] = (levels[l.level] ?? 0) + 1;
    const m = String(l.message);
    if (secrets.some((s) => m.includes(s)) || m.includes(`${COOKIE}=ey`)) leaks += 1;
  }
  const first = w.logs.slice(0, 5).map((l) => `${l.level}: ${String(l.message).slice(0, 300)}`);
  return { lines: w.logs.length, levels, lines_with_a_secret_or_token: leaks, first };
}

const result = {
  command: `bash scripts/node.sh tests/soak/soak.mjs --requests ${N} --concurrency ${C} --seed ${opt.seed}${opt["wasm-memory"] ? " --wasm-memory" : ""} --passthrough-requests ${PASS_N}`,
  when: new Date().toISOString(),
  requests_sent: stats.sent,
  soak_seconds: soakSecs,
  req_per_sec: Math.round(stats.sent / soakSecs),
  unexpected_statuses: stats.unexpectedStatus,
  wrong_identities_at_origin: stats.wrongIdentity,
  sessions_issued_where_none_should_be: stats.sessionsIssuedWrongly,
  other_session_mismatches: stats.sessionMismatch,
  transport_resets_retried: transport.retried,
  transport_failures: transport.failed,
  revocation_cycles: revocation.cycles,
  new_users_created: newUsers,
  kv: { access: kvFigures(kvA, countsBefore.access, stats.logins.access), secret: kvFigures(kvS, countsBefore.secret, stats.logins.secret) },
  jwks_fetches: { total: jwksGets, during_soak: jwksDuring },
  logs: { access: scanLogs(access), secret: scanLogs(secret), passthrough: scanLogs(passthrough) },
  memory: {
    access: memory(access, tSoak0, tSoak1, stats.sent),
    secret: memory(secret, tSoak0, tSoak1, stats.sent),
    passthrough_during_its_run: memory(passthrough, tPass0, tPass1, PASS_N),
    ...(opt["wasm-memory"]
      ? {
          access_wasm_linear_memory: memory(access, tSoak0, tSoak1, stats.sent, access.wasm),
          secret_wasm_linear_memory: memory(secret, tSoak0, tSoak1, stats.sent, secret.wasm),
          // What the filter holds (the counting allocator's live bytes), against the linear
          // memory the allocator took from the runtime for it.
          access_live_heap: memory(access, tSoak0, tSoak1, stats.sent, access.heap),
          secret_live_heap: memory(secret, tSoak0, tSoak1, stats.sent, secret.heap),
          access_live_blocks_at_each_tenth: tenths(access.blocks, stats.sent),
          secret_live_blocks_at_each_tenth: tenths(secret.blocks, stats.sent),
        }
      : {}),
    passthrough_requests: passSent,
    passthrough_non_200: passBad,
  },
  scenarios: Object.fromEntries(Object.entries(stats.byScenario).sort()),
  problems: stats.examples,
};
console.log(JSON.stringify(result, null, 2));
if (opt.json) writeFileSync(opt.json, JSON.stringify(result, null, 2));

for (const w of workers) await w.mf.dispose();
agent.destroy();
await Promise.all([kvA.close(), kvS.close()]);
origin.closeAllConnections?.();
jwks.closeAllConnections?.();
origin.close();
jwks.close();
const failed = stats.unexpectedStatus + stats.wrongIdentity + stats.sessionsIssuedWrongly + stats.sessionMismatch + passBad;
log(failed ? `FAILED: ${failed} checks` : `ok: ${stats.sent} requests, every check passed`);
process.exit(failed ? 1 : 0);
