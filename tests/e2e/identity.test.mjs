// Groups from the identity provider (ACCESS_FETCH_IDENTITY), end to end: real workerd
// through Miniflare, Cloudflare Access mode with a loopback server for both the JWKS and
// get-identity, RS256 assertions signed here, users seeded in the local KV namespace.
import http from "node:http";
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  EXAMPLE_SCRIPT,
  accessAssertion,
  kvKeys,
  rsaSigningKey,
  send,
  sessionCookie,
  sleep,
  startOrigin,
  startWorker,
  waitForLog,
  JWT_HEADER,
  CERTS_PATH,
  IDENTITY_PATH,
} from "./harness.mjs";

const TEAM = "myteam.cloudflareaccess.com";
const AUD = "aud-identity";
const KEY = rsaSigningKey("key-identity");

const token = (email) => accessAssertion(KEY, email, { issuer: `https://${TEAM}`, audience: AUD });

/**
 * One loopback server for the Access team domain: the JWKS at CERTS_PATH, get-identity at
 * IDENTITY_PATH. `calls` lists every get-identity request's Cookie header; `answer` is what
 * it answers: "ok" (the `doc`), a status number, or "hang" (never answers), after `delayMs`.
 */
async function startAccess() {
  const state = {
    calls: [],
    answer: "ok",
    delayMs: 0,
    doc: {
      email: "someone@example.com",
      groups: ["dev", { id: "g-1", name: "sso-admins" }, { name: "ops" }, 42, { id: "no-name" }, "eng"],
      idp: { id: "idp-1", type: "okta" },
    },
  };
  const hung = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", async () => {
      const path = new URL(req.url, "http://x").pathname;
      if (path === CERTS_PATH) {
        res.setHeader("content-type", "application/json");
        return res.end(JSON.stringify({ keys: [KEY.jwk] }));
      }
      if (path !== IDENTITY_PATH) {
        res.statusCode = 404;
        return res.end();
      }
      state.calls.push({ method: req.method, cookie: req.headers.cookie });
      if (state.delayMs > 0) await sleep(state.delayMs);
      if (state.answer === "hang") return hung.push(res);
      if (typeof state.answer === "number") {
        res.statusCode = state.answer;
        return res.end("identity provider error");
      }
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(state.doc));
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
        for (const res of hung) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}

/** The stored record of `email` with `groups`, as an admin would write it. */
const record = (email, groups) => JSON.stringify({ username: email, is_active: true, groups });

/** The worker vars for Access mode with ACCESS_FETCH_IDENTITY against `access`. */
const identityVars = (access) => ({
  AUTH_FILTERS: "session,gateway_jwt,remote_user",
  TRUST_UNSIGNED_HEADER: "false",
  GATEWAY: "cloudflare_access",
  ACCESS_TEAM_DOMAIN: TEAM,
  ACCESS_AUD: AUD,
  JWKS_URL: access.jwksUrl,
  ACCESS_FETCH_IDENTITY: "true",
  ACCESS_IDENTITY_URL: access.identityUrl,
});

describe("ACCESS_FETCH_IDENTITY: groups from get-identity", () => {
  const w = {};
  const users = {
    ann: ["ann@example.com", ["ops", "dev"]],
    bob: ["bob@example.com", ["ops"]],
    carol: ["carol@example.com", ["support"]],
    dave: ["dave@example.com", ["dev"]],
  };
  before(async () => {
    w.access = await startAccess();
    w.origin = await startOrigin();
    Object.assign(w, await startWorker(w.origin, identityVars(w.access)));
    w.kv = await w.mf.getKVNamespace("USERS");
    for (const [email, groups] of Object.values(users)) await w.kv.put(`user:${email}`, record(email, groups));
  });
  after(async () => {
    await w.mf?.dispose();
    await w.origin?.close();
    await w.access?.close();
  });

  it("a login merges the fetched groups after the record's (one call, the assertion as CF_Authorization), record untouched", async () => {
    const [email] = users.ann;
    const jwt = token(email);
    const r = await send(w, "/", { headers: { [JWT_HEADER]: jwt } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.echo.headers["x-remote-user"], email);
    assert.equal(r.echo.headers["x-remote-user-groups"], "ops,dev,sso-admins,eng");
    assert.deepEqual(w.access.state.calls, [{ method: "GET", cookie: `CF_Authorization=${jwt}` }]);
    assert.equal(await w.kv.get(`user:${email}`), record(email, users.ann[1]), "the admin's record as it was");
    assert.deepEqual(
      (await kvKeys(w.kv)).filter((k) => k.includes(email)),
      [`login:${email}`, `user:${email}`],
    );

    // Ten more requests with the session cookie (and the assertion Access sends on each): no call.
    const { pair } = sessionCookie(r.res);
    for (let i = 0; i < 10; i++) {
      const next = await send(w, "/", { headers: { [JWT_HEADER]: jwt, cookie: pair } });
      assert.equal(next.status, 200);
      assert.equal(next.echo.headers["x-remote-user-groups"], "ops,dev,sso-admins,eng");
      assert.deepEqual(sessionCookie(next.res).all, [], "no new session");
    }
    assert.equal(w.access.state.calls.length, 1, "no get-identity call in the steady state");
  });

  it("get-identity answering 500: the login goes on with the record's groups and a warning (no token in it)", async () => {
    w.access.state.answer = 500;
    const before = w.access.state.calls.length;
    const [email, groups] = users.bob;
    const jwt = token(email);
    const r = await send(w, "/", { headers: { [JWT_HEADER]: jwt } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.echo.headers["x-remote-user-groups"], groups.join(","));
    assert.equal(sessionCookie(r.res).all.length, 1, "logged in");
    assert.equal(w.access.state.calls.length, before + 1);
    const line = await waitForLog(w, `groups of \`${email}\` were not fetched`);
    assert.ok(line, `a warning: ${JSON.stringify(w.logs.map((l) => l.message))}`);
    assert.match(line.message, /HTTP 500/);
    assert.equal(line.level, "warn");
    assert.ok(!w.logs.some((l) => l.message.includes(jwt)), "the assertion is never logged");
  });

  it("get-identity not answering: abandoned after 2 s, the login goes on with the record's groups", { timeout: 10_000 }, async () => {
    w.access.state.answer = "hang";
    const [email, groups] = users.carol;
    const started = Date.now();
    const r = await send(w, "/", { headers: { [JWT_HEADER]: token(email) } });
    const took = Date.now() - started;
    assert.equal(r.status, 200, r.text);
    assert.equal(r.echo.headers["x-remote-user-groups"], groups.join(","));
    assert.ok(took >= 1900 && took < 4500, `took ${took} ms`);
    const line = await waitForLog(w, `groups of \`${email}\` were not fetched`);
    assert.match(line?.message ?? "", /did not answer within 2000 ms/);
  });

  it("10 concurrent cookieless first requests of one user: one get-identity call", async () => {
    w.access.state.answer = "ok";
    // Slow enough that all ten are in the worker while the first one's call is out.
    w.access.state.delayMs = 300;
    const before = w.access.state.calls.length;
    const [email] = users.dave;
    const jwt = token(email);
    const all = await Promise.all(
      Array.from({ length: 10 }, () => send(w, "/", { headers: { [JWT_HEADER]: jwt } })),
    );
    for (const r of all) {
      assert.equal(r.status, 200, r.text);
      assert.equal(r.echo.headers["x-remote-user-groups"], "dev,sso-admins,ops,eng");
    }
    assert.equal(w.access.state.calls.length - before, 1, "one call for the burst");
  });
});

describe("ACCESS_FETCH_IDENTITY in the workers-rs API (examples/hello, EdgeAuth)", () => {
  const w = {};
  const email = "erin@example.com";
  before(async () => {
    w.access = await startAccess();
    w.origin = await startOrigin();
    Object.assign(w, await startWorker(w.origin, identityVars(w.access), { script: EXAMPLE_SCRIPT }));
    w.kv = await w.mf.getKVNamespace("USERS");
    await w.kv.put(`user:${email}`, record(email, ["ops"]));
  });
  after(async () => {
    await w.mf?.dispose();
    await w.origin?.close();
    await w.access?.close();
  });

  it("the handler sees the merged groups; one call, none with the session", async () => {
    const jwt = token(email);
    const r = await send(w, "/groups", { headers: { [JWT_HEADER]: jwt } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(JSON.parse(r.text).groups, ["ops", "dev", "sso-admins", "eng"]);
    assert.deepEqual(w.access.state.calls, [{ method: "GET", cookie: `CF_Authorization=${jwt}` }]);
    const { pair } = sessionCookie(r.res);
    const next = await send(w, "/groups", { headers: { [JWT_HEADER]: jwt, cookie: pair } });
    assert.deepEqual(JSON.parse(next.text).groups, ["ops", "dev", "sso-admins", "eng"]);
    assert.equal(w.access.state.calls.length, 1);
    assert.equal(await w.kv.get(`user:${email}`), record(email, ["ops"]));
  });
});
