// Real traffic against the built worker in workerd: bursts of first logins, clients that keep
// no cookie, revocation, records the worker must never rewrite, sessions issued under another
// backend, users in many groups, and a KV that does not answer.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  HEADER,
  decodeJwt,
  send,
  sessionCookie,
  sleep,
  startKvApi,
  startOrigin,
  startWorker,
  tokenOf,
  useWorker,
} from "./harness.mjs";

/** useWorker over a fresh loopback KV stand-in (`w.kvApi`), with these vars and options. */
function useWorkerWithKvApi(vars = {}, kvOptions = {}) {
  return useWorker(vars, {}, async (ctx) => {
    ctx.kvApi = await startKvApi(kvOptions);
    return { kv: ctx.kvApi.binding };
  });
}

describe("a burst of first logins (KV answers after 150 ms)", () => {
  const w = useWorkerWithKvApi({}, { delayMs: 150 });

  it("8 concurrent first logins of one user: one KV read, one write, 8 × 200", async () => {
    const user = "burst@example.com";
    const all = await Promise.all(
      Array.from({ length: 8 }, () => send(w, "/", { headers: { [HEADER]: user } })),
    );
    for (const r of all) {
      assert.equal(r.status, 200, r.text);
      assert.equal(r.echo.headers["x-remote-user"], user);
    }
    assert.deepEqual(w.kvApi.counts(), { GET: 1, PUT: 1, other: 0 });
  });
});

describe("a client that keeps no cookie", () => {
  const w = useWorkerWithKvApi();

  it("after its first request, no KV read and no write", async () => {
    const user = "curl@example.com";
    w.kvApi.store.set(`user:${user}`, JSON.stringify({ username: user, groups: ["ops"] }));
    const first = await send(w, "/", { headers: { [HEADER]: user } });
    assert.equal(first.status, 200);
    const afterFirst = w.kvApi.counts();
    assert.deepEqual(afterFirst, { GET: 1, PUT: 1, other: 0 }, "one read, one login stamp");
    for (let i = 0; i < 10; i++) {
      const r = await send(w, "/", { headers: { [HEADER]: user } });
      assert.equal(r.status, 200);
      assert.equal(r.echo.headers["x-remote-user-groups"], "ops");
      assert.equal(sessionCookie(r.res).all.length, 1, "a login: one Set-Cookie");
    }
    assert.deepEqual(w.kvApi.counts(), afterFirst, "no KV call after the first request");
  });
});

describe("the admin's record", () => {
  const w = useWorkerWithKvApi({ LAST_LOGIN_INTERVAL_SECS: "1", USER_CACHE_SECS: "0" });

  it("is byte-identical after logins; last_login goes to login:<name>", async () => {
    const user = "admin-owned@example.com";
    const record = JSON.stringify({
      username: user,
      is_active: true,
      groups: ["ops"],
      last_login: "2020-01-01T00:00:00Z",
      note: "kept as written",
    });
    w.kvApi.store.set(`user:${user}`, record);
    for (let i = 0; i < 3; i++) {
      const r = await send(w, "/", { headers: { [HEADER]: user } });
      assert.equal(r.status, 200);
      await sleep(1100);
    }
    assert.equal(w.kvApi.store.get(`user:${user}`), record);
    const puts = w.kvApi.ops.filter((o) => o.method === "PUT").map((o) => o.key);
    assert.deepEqual(puts, Array(3).fill(`login:${user}`), "only stamps are written");
    const stamp = JSON.parse(w.kvApi.store.get(`login:${user}`));
    assert.ok(Math.abs(Date.parse(stamp.last_login) / 1000 - Date.now() / 1000) < 10, stamp.last_login);
  });
});

describe("revocation: USER_RECHECK_SECS=1, USER_CACHE_SECS=0", () => {
  const w = useWorkerWithKvApi({ USER_RECHECK_SECS: "1", USER_CACHE_SECS: "0" });

  it("a user deactivated after login is logged out and refused at the next re-check", async () => {
    const user = "leaver@example.com";
    const key = `user:${user}`;
    w.kvApi.store.set(key, JSON.stringify({ username: user, is_active: true, groups: ["ops"] }));
    const login = await send(w, "/", { headers: { [HEADER]: user } });
    const cookie = sessionCookie(login.res).pair;
    // (That no KV call is made before the interval is up is pinned natively, on a manual
    // clock: here a second boundary may fall between two requests.)

    // Groups changed: re-issued in the same session.
    w.kvApi.store.set(key, JSON.stringify({ username: user, is_active: true, groups: ["ops", "sre"] }));
    await sleep(1100);
    const ops = w.kvApi.ops.length;
    const changed = await send(w, "/", { headers: { [HEADER]: user, cookie } });
    assert.equal(changed.status, 200);
    assert.equal(changed.echo.headers["x-remote-user-groups"], "ops,sre");
    const renewed = sessionCookie(changed.res).pair;
    assert.ok(renewed, "re-issued");
    assert.equal(decodeJwt(tokenOf(renewed)).payload.jti, decodeJwt(tokenOf(cookie)).payload.jti);
    assert.deepEqual(w.kvApi.ops.slice(ops), [{ method: "GET", key }], "one read, no write");

    const record = JSON.stringify({ username: user, is_active: false });
    w.kvApi.store.set(key, record);
    await sleep(1100);
    const refused = await send(w, "/", { headers: { [HEADER]: user, cookie: renewed } });
    assert.equal(refused.status, 403, refused.text);
    const removal = sessionCookie(refused.res).all;
    assert.equal(removal.length, 1);
    assert.match(removal[0], /Max-Age=0/);
    assert.equal(w.kvApi.store.get(key), record, "nothing written");
  });
});

describe("two workers, one SESSION_SECRET, different ALLOW_INACTIVE_USERS", () => {
  it("header gone: a session the other worker issued is logged out too", async () => {
    const origin = await startOrigin();
    const allow = await startWorker(origin, { ALLOW_INACTIVE_USERS: "true" });
    const deny = await startWorker(origin, {});
    try {
      const login = await send(allow, "/", { headers: { [HEADER]: "shared@example.com" } });
      assert.equal(login.status, 200);
      const cookie = sessionCookie(login.res).pair;
      const seen = origin.requests.length;
      const r = await send(deny, "/", { headers: { cookie } });
      assert.equal(r.status, 401, r.text);
      assert.match(r.res.headers.getSetCookie()[0], /Max-Age=0/);
      assert.equal(origin.requests.length, seen, "not forwarded as that user");
    } finally {
      await allow.mf.dispose();
      await deny.mf.dispose();
      await origin.close();
    }
  });
});

describe("a user in 300 groups", () => {
  it("gets a cookie browsers keep; warm and cold isolates forward every group", async () => {
    const kvApi = await startKvApi();
    const origin = await startOrigin();
    const user = "many.groups@example.com";
    const groups = Array.from({ length: 300 }, (_, i) => `entra-group-${String(i).padStart(8, "0")}`);
    kvApi.store.set(`user:${user}`, JSON.stringify({ username: user, email: user, groups }));
    const warm = await startWorker(origin, {}, { kv: kvApi.binding });
    try {
      const login = await send(warm, "/", { headers: { [HEADER]: user } });
      assert.equal(login.status, 200);
      const [line] = sessionCookie(login.res).all;
      assert.ok(line.length < 4096, `Set-Cookie is ${line.length} bytes`);
      assert.equal(login.echo.headers["x-remote-user-groups"], groups.join(","));
      const cookie = sessionCookie(login.res).pair;

      const ops = kvApi.ops.length;
      const next = await send(warm, "/", { headers: { [HEADER]: user, cookie } });
      assert.equal(next.echo.headers["x-remote-user-groups"], groups.join(","));
      assert.deepEqual(sessionCookie(next.res).all, []);
      assert.equal(kvApi.ops.length, ops, "warm isolate: no KV call");

      const cold = await startWorker(origin, {}, { kv: kvApi.binding });
      try {
        const first = await send(cold, "/", { headers: { [HEADER]: user, cookie } });
        assert.equal(first.echo.headers["x-remote-user-groups"], groups.join(","));
        assert.deepEqual(sessionCookie(first.res).all, []);
        assert.deepEqual(kvApi.ops.slice(ops), [{ method: "GET", key: `user:${user}` }], "cold: one read");
        const again = await send(cold, "/", { headers: { [HEADER]: user, cookie } });
        assert.equal(again.echo.headers["x-remote-user-groups"], groups.join(","));
        assert.equal(kvApi.ops.length, ops + 1, "then none");
      } finally {
        await cold.mf.dispose();
      }
    } finally {
      await warm.mf.dispose();
      await origin.close();
      await kvApi.close();
    }
  });
});

describe("a KV that does not answer (KV_TIMEOUT_MS=300)", () => {
  const w = useWorkerWithKvApi({ KV_TIMEOUT_MS: "300" }, { hang: ["GET"] });

  it("503 within the timeout, no cookie, nothing written, the origin not reached", async () => {
    const started = Date.now();
    const r = await send(w, "/", { headers: { [HEADER]: "hang@example.com" } });
    assert.equal(r.status, 503, r.text);
    assert.ok(Date.now() - started < 5000, "answered, not hung");
    assert.deepEqual(r.res.headers.getSetCookie(), []);
    assert.deepEqual(w.kvApi.counts(), { GET: 1, PUT: 0, other: 0 });
    assert.equal(w.origin.requests.length, 0);
  });
});
