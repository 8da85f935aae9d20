// The session cookie: its shape, user switches, logout, and cookies that must not be trusted.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  COOKIE,
  DEFAULT_TTL,
  HEADER,
  SECRET,
  decodeJwt,
  nowSecs,
  parseSetCookie,
  send,
  sessionCookie,
  signJwt,
  sleep,
  tokenOf,
  useWorker,
} from "./harness.mjs";

/** Log `user` in with the identity header; returns the cookie pair and its decoded JWT. */
async function login(w, user) {
  const r = await send(w, "/", { headers: { [HEADER]: user } });
  assert.equal(r.status, 200, `login of ${user}`);
  const { all, pair } = sessionCookie(r.res);
  assert.equal(all.length, 1, `one session cookie for ${user}`);
  return { pair, line: all[0], token: tokenOf(pair), jwt: decodeJwt(tokenOf(pair)) };
}

/** Assert `r` is a fresh login of `user` that replaced the session `oldToken`. */
function assertFreshLogin(r, user, oldToken) {
  assert.equal(r.status, 200);
  assert.equal(r.echo.headers["x-remote-user"], user);
  const { all, pair } = sessionCookie(r.res);
  assert.equal(all.length, 1, "a new session cookie");
  const cookie = parseSetCookie(all[0]);
  assert.equal(cookie.attrs["max-age"], String(DEFAULT_TTL));
  assert.notEqual(tokenOf(pair), oldToken);
  const fresh = decodeJwt(tokenOf(pair)).payload;
  assert.equal(fresh.sub, user);
  if (oldToken) {
    let oldJti;
    try {
      oldJti = decodeJwt(oldToken).payload.jti;
    } catch {
      oldJti = undefined;
    }
    assert.notEqual(fresh.jti, oldJti, "a new session id");
  }
}

/** A claims set shaped like a real cookie of `w`'s, for `user`, with these times. */
async function craftedClaims(w, user, { iat, exp, nbf = iat }) {
  const real = (await login(w, user)).jwt;
  assert.deepEqual(real.header, { alg: "HS256", typ: "JWT" });
  return { header: real.header, payload: { ...real.payload, iat, nbf, exp, jti: "f".repeat(32) } };
}

describe("session cookie, default settings", () => {
  const w = useWorker();

  it("cookie attributes and claims", async () => {
    const user = "shape@example.com";
    const before = nowSecs();
    const { line, jwt } = await login(w, user);
    const cookie = parseSetCookie(line);
    assert.equal(cookie.name, COOKIE);
    assert.deepEqual(cookie.attrs, {
      httponly: true,
      samesite: "Lax",
      secure: true,
      path: "/",
      "max-age": String(DEFAULT_TTL),
    });
    assert.equal(jwt.header.alg, "HS256");
    const p = jwt.payload;
    assert.equal(p.sub, user);
    assert.equal(p.username, user);
    assert.equal(p.iss, "remote-user-filter");
    assert.match(p.jti, /^[0-9a-f]{32}$/);
    assert.ok(Math.abs(p.iat - before) < 60);
    assert.equal(p.exp - p.iat, DEFAULT_TTL);
  });

  it("header names another user: new login, new cookie, origin sees the new user", async () => {
    const old = await login(w, "first@example.com");
    const r = await send(w, "/", { headers: { [HEADER]: "second@example.com", cookie: old.pair } });
    assertFreshLogin(r, "second@example.com", old.token);
    assert.equal(r.echo.headers["x-remote-user"], "second@example.com");
    assert.notEqual(decodeJwt(tokenOf(sessionCookie(r.res).pair)).payload.jti, old.jwt.payload.jti);
    assert.ok(await w.kv.get("user:second@example.com"), "the new user exists");
  });

  it("header disappears with a valid cookie: 401 and the cookie is cleared", async () => {
    const { pair } = await login(w, "leaver@example.com");
    const seen = w.origin.requests.length;
    const r = await send(w, "/", { headers: { cookie: pair } });
    assert.equal(r.status, 401);
    const { all } = sessionCookie(r.res);
    assert.equal(all.length, 1, "one Set-Cookie clearing the session");
    const cookie = parseSetCookie(all[0]);
    assert.equal(cookie.value, "");
    assert.deepEqual(cookie.attrs, {
      httponly: true,
      samesite: "Lax",
      secure: true,
      path: "/",
      "max-age": "0",
    });
    assert.equal(w.origin.requests.length, seen, "the origin is not contacted");
  });

  it("a cookie crafted with SESSION_SECRET and valid times is accepted (control)", async () => {
    const user = "crafted@example.com";
    const now = nowSecs();
    const { header, payload } = await craftedClaims(w, user, { iat: now - 60, exp: now + 3600 });
    const raw = await w.kv.get(`user:${user}`);
    await sleep(1100);
    const token = signJwt(payload, SECRET, header);
    const r = await send(w, "/", { headers: { [HEADER]: user, cookie: `${COOKIE}=${token}` } });
    assert.equal(r.status, 200);
    assert.deepEqual(sessionCookie(r.res).all, [], "trusted: no new login");
    assert.equal(await w.kv.get(`user:${user}`), raw);
  });

  it("tampered signature: ignored, then a normal login", async () => {
    const user = "tamper@example.com";
    const { token } = await login(w, user);
    const [h, p, s] = token.split(".");
    const i = 10; // a middle character: all six of its bits are signature bits
    const flipped = s.slice(0, i) + (s[i] === "A" ? "B" : "A") + s.slice(i + 1);
    const bad = `${h}.${p}.${flipped}`;
    const r = await send(w, "/", { headers: { [HEADER]: user, cookie: `${COOKIE}=${bad}` } });
    assertFreshLogin(r, user, bad);
  });

  it("tampered payload (another user, original signature): ignored, then a normal login", async () => {
    const victim = "victim@example.com";
    const attacker = "attacker@example.com";
    const { token } = await login(w, attacker);
    const [h, p, s] = token.split(".");
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: victim, username: victim })).toString(
      "base64url",
    );
    const bad = `${h}.${forged}.${s}`;
    // Header still names the attacker: the forged victim session must not be used.
    const r = await send(w, "/", { headers: { [HEADER]: attacker, cookie: `${COOKIE}=${bad}` } });
    assertFreshLogin(r, attacker, bad);
  });

  it("cookie signed with another secret: ignored, then a normal login", async () => {
    const user = "foreign@example.com";
    const now = nowSecs();
    const { header, payload } = await craftedClaims(w, user, { iat: now - 60, exp: now + 3600 });
    const bad = signJwt(payload, "another-secret-of-at-least-32-bytes-0123456789", header);
    const r = await send(w, "/", { headers: { [HEADER]: user, cookie: `${COOKIE}=${bad}` } });
    assertFreshLogin(r, user, bad);
  });

  it("expired cookie: ignored, then a normal login", async () => {
    const user = "expired@example.com";
    const now = nowSecs();
    const { header, payload } = await craftedClaims(w, user, { iat: now - 7200, exp: now - 3600 });
    const bad = signJwt(payload, SECRET, header);
    const raw = await w.kv.get(`user:${user}`);
    await sleep(1100);
    const r = await send(w, "/", { headers: { [HEADER]: user, cookie: `${COOKIE}=${bad}` } });
    assertFreshLogin(r, user, bad);
    assert.equal(await w.kv.get(`user:${user}`), raw, "a login never rewrites the record");
  });
});

describe("session cookie from another deployment (different SESSION_SECRET)", () => {
  const a = useWorker();
  const b = useWorker({ SESSION_SECRET: "a-different-deployment-secret-abcdefghijklmnop" });

  it("is ignored, then a normal login", async () => {
    const user = "roamer@example.com";
    const theirs = await login(b, user);
    const r = await send(a, "/", { headers: { [HEADER]: user, cookie: theirs.pair } });
    assertFreshLogin(r, user, theirs.token);
  });
});

describe("session cookie, AUTH_FILTERS=session,persistent_remote_user", () => {
  const w = useWorker({ AUTH_FILTERS: "session,persistent_remote_user" });

  it("header disappears with a valid cookie: still the same user, no Set-Cookie", async () => {
    const user = "stayer@example.com";
    const { pair } = await login(w, user);
    const raw = await w.kv.get(`user:${user}`);
    const r = await send(w, "/", { headers: { cookie: pair } });
    assert.equal(r.status, 200);
    assert.equal(r.echo.headers["x-remote-user"], user);
    assert.deepEqual(r.res.headers.getSetCookie().filter((c) => c.startsWith(`${COOKIE}=`)), []);
    assert.equal(await w.kv.get(`user:${user}`), raw);
  });

  it("cookie-only request forwards email and groups from the session", async () => {
    const user = "lee@example.com";
    await w.kv.put(
      `user:${user}`,
      JSON.stringify({ username: user, is_active: true, email: "lee@corp.example", groups: ["a", "b", "c"] }),
    );
    const { pair } = await login(w, user);
    const r = await send(w, "/", { headers: { cookie: pair } });
    assert.equal(r.status, 200);
    assert.equal(r.echo.headers["x-remote-user"], user);
    assert.equal(r.echo.headers["x-remote-user-email"], "lee@corp.example");
    assert.equal(r.echo.headers["x-remote-user-groups"], "a,b,c");
    assert.deepEqual(sessionCookie(r.res).all, []);
  });

  it("no header and no cookie: still 401", async () => {
    const r = await send(w, "/");
    assert.equal(r.status, 401);
    assert.deepEqual(r.res.headers.getSetCookie(), []);
  });
});

describe("session cookie, SESSION_TTL_SECS=120", () => {
  const w = useWorker({ SESSION_TTL_SECS: "120" });

  it("Max-Age and the token's lifetime follow the setting", async () => {
    const { line, jwt } = await login(w, "brief@example.com");
    assert.equal(parseSetCookie(line).attrs["max-age"], "120");
    assert.equal(jwt.payload.exp - jwt.payload.iat, 120);
  });
});
