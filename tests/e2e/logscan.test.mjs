// The worker's logs hold no token, cookie or secret: representative scenarios (logins, a
// session, who-am-I, sign-out, bad cookies, forged and stale assertions, wrong and `_`-spelled
// gateway secrets, get-identity failing, JWKS down, KV failing, the origin unreachable, two
// configuration errors with short secrets) run against the built stock worker in workerd,
// every token the run sent or was issued (whole, and its payload and signature segments) and
// every secret is noted, and the last test scans every log line of every worker for them.
// The scan is not vacuous: the lines it must find (each configuration error, the get-identity
// warning, the key and KV failures, the unreachable origin) are asserted to be there.
import http from "node:http";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  HEADER,
  accessAssertion,
  rsaSigningKey,
  send,
  sessionCookie,
  signJwt,
  startKvApi,
  startOrigin,
  startWorker,
  tokenOf,
  waitForLog,
  JWT_HEADER,
  CERTS_PATH,
  IDENTITY_PATH,
} from "./harness.mjs";

const TEAM = "logscan.cloudflareaccess.com";
const AUD = "aud-logscan";
const SESSION_SECRET = "logscan-session-secret-7Kq2Vx9Lm4Np8Rt3Wz6Yb1Cd5";
const GATEWAY_SECRET = "logscan-gateway-secret-Hj4Fs8Qa2Ue6";
const WRONG_GATEWAY_SECRET = "logscan-gateway-secret-Hj4Fs8Qa2UeX";
const SHORT_SESSION_SECRET = "short-session-Zp3Xq9"; // under 32 bytes: a configuration error
const SHORT_GATEWAY_SECRET = "gw-Tn5Rw2Ks"; // under 16 bytes: a configuration error
const FOREIGN_SECRET = "logscan-another-deployment-secret-0123456789";
const KEY = rsaSigningKey("key-logscan");
const FORGED = rsaSigningKey("key-logscan"); // same kid, never published
const STRANGER = rsaSigningKey("key-unknown");

/** Every value no log line may hold. */
const secrets = new Map(); // value -> what it is
function note(what, value) {
  if (!value) return value;
  secrets.set(value, what);
  // A JWT's payload and signature segments are as telling as the whole token.
  const parts = value.split(".");
  if (parts.length === 3) {
    if (parts[1].length >= 16) secrets.set(parts[1], `${what} (payload segment)`);
    if (parts[2].length >= 16) secrets.set(parts[2], `${what} (signature segment)`);
  }
  return value;
}
for (const [what, v] of Object.entries({ SESSION_SECRET, GATEWAY_SECRET, WRONG_GATEWAY_SECRET, SHORT_SESSION_SECRET, SHORT_GATEWAY_SECRET, FOREIGN_SECRET })) note(what, v);

const assertion = (email, opts = {}) =>
  note(`assertion for ${email}`, accessAssertion(opts.key ?? KEY, email, { issuer: `https://${TEAM}`, audience: AUD, claims: opts.claims }));
/** Note the session cookie a response issued; returns its `name=value` pair. */
function issued(r) {
  const { pair } = sessionCookie(r.res);
  if (pair) note("session cookie", tokenOf(pair));
  return pair;
}

/**
 * A loopback Access team domain: the JWKS (503 while `jwksDown`) and get-identity (500 for
 * users in `failFor`). Every CF_Authorization token get-identity receives is noted.
 */
async function startAccess() {
  const state = { jwksDown: false, failFor: new Set(), calls: 0 };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const path = new URL(req.url, "http://x").pathname;
      if (path === CERTS_PATH) {
        if (state.jwksDown) {
          res.statusCode = 503;
          return res.end("down");
        }
        res.setHeader("content-type", "application/json");
        return res.end(JSON.stringify({ keys: [KEY.jwk] }));
      }
      if (path !== IDENTITY_PATH) {
        res.statusCode = 404;
        return res.end();
      }
      state.calls += 1;
      const token = /CF_Authorization=([^;]+)/.exec(req.headers.cookie ?? "")?.[1];
      note("get-identity token", token);
      const email = token ? JSON.parse(Buffer.from(token.split(".")[1], "base64url")).email : "";
      if (state.failFor.has(email)) {
        res.statusCode = 500;
        return res.end("identity provider error");
      }
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ email, groups: ["idp-group"] }));
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    state,
    jwksUrl: `${base}${CERTS_PATH}`,
    identityUrl: `${base}${IDENTITY_PATH}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}

const accessVars = (access, extra = {}) => ({
  SESSION_SECRET,
  AUTH_FILTERS: "session,gateway_jwt,remote_user",
  TRUST_UNSIGNED_HEADER: "false",
  GATEWAY: "cloudflare_access",
  ACCESS_TEAM_DOMAIN: TEAM,
  ACCESS_AUD: AUD,
  JWKS_URL: access.jwksUrl,
  ACCESS_FETCH_IDENTITY: "true",
  ACCESS_IDENTITY_URL: access.identityUrl,
  ...extra,
});
const secretVars = (extra = {}) => ({
  SESSION_SECRET,
  AUTH_FILTERS: "session,gateway_secret,remote_user",
  TRUST_UNSIGNED_HEADER: "false",
  GATEWAY_SECRET,
  ...extra,
});

describe("log scan: no token, cookie or secret in any worker log line", () => {
  const ctx = { workers: [] };
  const start = async (name, vars, options) => {
    const w = await startWorker(ctx.origin, vars, options);
    w.name = name;
    ctx.workers.push(w);
    return w;
  };
  before(async () => {
    ctx.origin = await startOrigin();
    ctx.access = await startAccess();
    ctx.failingKv = await startKvApi({ failing: ["GET"] });
  });
  after(async () => {
    for (const w of ctx.workers) await w.mf.dispose();
    await ctx.origin?.close();
    await ctx.access?.close();
    await ctx.failingKv?.close();
  });

  it("Access mode: login, session, who-am-I, sign-out, bad cookies and assertions, get-identity failing", async () => {
    const w = await start("access", accessVars(ctx.access));
    // A login; get-identity is asked with the assertion.
    const ann = "ann@logscan.example";
    let r = await send(w, "/", { headers: { [JWT_HEADER]: assertion(ann) } });
    assert.equal(r.status, 200, r.text);
    const pair = issued(r);
    assert.ok(pair, "a session was issued");
    assert.ok(ctx.access.state.calls >= 1, "get-identity was asked");
    // The session, who-am-I (answered by the worker), then sign-out.
    r = await send(w, "/", { headers: { [JWT_HEADER]: assertion(ann), Cookie: pair } });
    assert.equal(r.status, 200);
    r = await send(w, "/.auth/me", { headers: { [JWT_HEADER]: assertion(ann), Cookie: pair } });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.text).username, ann);
    // The session cookie without the assertion: logged out (401).
    r = await send(w, "/", { headers: { Cookie: pair } });
    assert.equal(r.status, 401);
    // A tampered and a foreign cookie.
    const [h, p, s] = tokenOf(pair).split(".");
    const tampered = note("tampered cookie", `${h}.${p}.${s.slice(0, -2)}AA`);
    const payload = JSON.parse(Buffer.from(p, "base64url"));
    const foreign = note("foreign cookie", signJwt({ ...payload, sub: "admin@logscan.example" }, FOREIGN_SECRET));
    for (const bad of [tampered, foreign]) {
      r = await send(w, "/", { headers: { Cookie: `__Host-remote-user-session=${bad}` } });
      assert.equal(r.status, 401);
    }
    // Forged, expired, unknown-kid, alg-none and tampered assertions.
    const now = Math.floor(Date.now() / 1000);
    const valid = assertion("bob@logscan.example");
    const [vh, , vs] = valid.split(".");
    const hostile = [
      assertion("admin@logscan.example", { key: FORGED }),
      assertion("admin@logscan.example", { claims: { iat: now - 7200, nbf: now - 7200, exp: now - 600 } }),
      assertion("admin@logscan.example", { key: STRANGER }),
      note("alg none", `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")}.${valid.split(".")[1]}.`),
      note("tampered assertion", `${vh}.${Buffer.from(JSON.stringify({ email: "admin@logscan.example", iss: `https://${TEAM}`, aud: [AUD], exp: now + 600 })).toString("base64url")}.${vs}`),
    ];
    for (const token of hostile) {
      r = await send(w, "/", { headers: { [JWT_HEADER]: token, Cookie: pair } });
      assert.equal(r.status, 401, r.text);
    }
    // A plain identity header naming someone else than the assertion: 403.
    r = await send(w, "/", { headers: { [JWT_HEADER]: valid, [HEADER]: "mallory@logscan.example" } });
    assert.equal(r.status, 403);
    // get-identity failing for this user: the login stands, with a warning in the log.
    const carol = "carol@logscan.example";
    ctx.access.state.failFor.add(carol);
    r = await send(w, "/", { headers: { [JWT_HEADER]: assertion(carol) } });
    assert.equal(r.status, 200, r.text);
    const carolPair = issued(r);
    assert.ok(await waitForLog(w, "were not fetched"), "the get-identity warning is logged");
    // Sign-out.
    r = await send(w, "/.auth/logout", { method: "POST", headers: { Cookie: carolPair } });
    assert.equal(r.status, 302);
  });

  it("Access mode, JWKS down from the start: 503 and a log line", async () => {
    ctx.access.state.jwksDown = true;
    try {
      const w = await start("access-jwks-down", accessVars(ctx.access));
      const r = await send(w, "/", { headers: { [JWT_HEADER]: assertion("dan@logscan.example") } });
      assert.equal(r.status, 503, r.text);
      assert.ok(await waitForLog(w, "gateway keys unavailable"), "the key failure is logged");
    } finally {
      ctx.access.state.jwksDown = false;
    }
  });

  it("shared-secret mode: right, wrong and `_`-spelled secrets; KV failing", async () => {
    const w = await start("secret", secretVars());
    let r = await send(w, "/", { headers: { [HEADER]: "erin@logscan.example", "X-Gateway-Secret": GATEWAY_SECRET } });
    assert.equal(r.status, 200, r.text);
    const pair = issued(r);
    r = await send(w, "/", { headers: { [HEADER]: "erin@logscan.example", "X-Gateway-Secret": GATEWAY_SECRET, Cookie: pair } });
    assert.equal(r.status, 200);
    r = await send(w, "/", { headers: { [HEADER]: "erin@logscan.example", "X-Gateway-Secret": WRONG_GATEWAY_SECRET } });
    assert.equal(r.status, 401);
    r = await send(w, "/", { headers: { [HEADER]: "erin@logscan.example", X_Gateway_Secret: GATEWAY_SECRET } });
    assert.equal(r.status, 401);
    const down = await start("secret-kv-failing", secretVars(), { kv: ctx.failingKv.binding });
    r = await send(down, "/", { headers: { [HEADER]: "fay@logscan.example", "X-Gateway-Secret": GATEWAY_SECRET } });
    assert.equal(r.status, 503, r.text);
    assert.ok(await waitForLog(down, "\"reason\":\"store_unavailable\""), "the KV failure is logged");
  });

  it("the origin unreachable: 502 and a log line, the login's cookie kept out of it", async () => {
    const w = await start("origin-down", secretVars({ ORIGIN_URL: "http://127.0.0.1:9" }));
    const r = await send(w, "/", { headers: { [HEADER]: "gil@logscan.example", "X-Gateway-Secret": GATEWAY_SECRET } });
    assert.equal(r.status, 502, r.text);
    issued(r);
    assert.ok(await waitForLog(w, "the origin could not be reached"));
  });

  it("configuration errors with a short SESSION_SECRET and a short GATEWAY_SECRET: 500 and a log line", async () => {
    const a = await start("short-session-secret", secretVars({ SESSION_SECRET: SHORT_SESSION_SECRET }));
    const b = await start("short-gateway-secret", secretVars({ GATEWAY_SECRET: SHORT_GATEWAY_SECRET }));
    for (const w of [a, b]) {
      const r = await send(w, "/", { headers: { [HEADER]: "hal@logscan.example", "X-Gateway-Secret": GATEWAY_SECRET } });
      assert.equal(r.status, 500, r.text);
    }
    assert.ok(await waitForLog(a, "SESSION_SECRET"), "the short SESSION_SECRET is logged by name");
    assert.ok(await waitForLog(b, "GATEWAY_SECRET"), "the short GATEWAY_SECRET is logged by name");
  });

  it("no log line of any worker holds a token, a cookie or a secret", () => {
    const lines = ctx.workers.flatMap((w) => w.logs.map((l) => ({ worker: w.name, message: String(l.message) })));
    assert.ok(lines.length >= 6, `the scenarios logged (${lines.length} lines)`);
    assert.ok(secrets.size >= 30, `tokens and secrets noted (${secrets.size})`);
    const found = [];
    for (const { worker, message } of lines) {
      for (const [value, what] of secrets) if (message.includes(value)) found.push(`${worker}: ${what} in ${JSON.stringify(message.slice(0, 160))}`);
    }
    assert.deepEqual(found, []);
  });
});
