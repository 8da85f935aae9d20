// The worker's Workers KV traffic, through a real `kvNamespace` binding whose service is a
// loopback stand-in (Miniflare's remote-binding client pointed at `startKvApi`): how many
// reads and writes a login costs, and what happens when KV is unreachable.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HEADER, send, sessionCookie, startKvApi, useWorker, waitForLog } from "./harness.mjs";

/** useWorker over a fresh KV stand-in failing `failing`; the stand-in is `w.kvApi`. */
function useWorkerWithKvApi(failing = []) {
  return useWorker({}, {}, async (ctx) => {
    ctx.kvApi = await startKvApi({ failing });
    return { kv: ctx.kvApi.binding };
  });
}

describe("KV traffic", () => {
  const w = useWorkerWithKvApi();

  it("a new user costs one read and one write; the cookie request costs none", async () => {
    const user = "counted@example.com";
    const key = `user:${user}`;
    const first = await send(w, "/", { headers: { [HEADER]: user } });
    assert.equal(first.status, 200);
    assert.deepEqual(w.kvApi.ops, [
      { method: "GET", key },
      { method: "PUT", key },
    ]);
    const record = JSON.parse(w.kvApi.store.get(key));
    assert.equal(record.username, user);

    const next = await send(w, "/", { headers: { [HEADER]: user, cookie: sessionCookie(first.res).pair } });
    assert.equal(next.status, 200);
    assert.equal(next.echo.headers["x-remote-user"], user);
    assert.equal(w.kvApi.ops.length, 2, "no KV call for a request with a valid session");
  });

  it("a known user costs one read and one write (the login stamp, not the record)", async () => {
    const user = "known-counted@example.com";
    const key = `user:${user}`;
    const record = JSON.stringify({ username: user, is_active: true, team: "ops" });
    w.kvApi.store.set(key, record);
    const before = w.kvApi.ops.length;
    const r = await send(w, "/", { headers: { [HEADER]: user } });
    assert.equal(r.status, 200);
    assert.deepEqual(w.kvApi.ops.slice(before), [
      { method: "GET", key },
      { method: "PUT", key: `login:${user}` },
    ]);
    assert.equal(w.kvApi.store.get(key), record);
    assert.ok(JSON.parse(w.kvApi.store.get(`login:${user}`)).last_login);
  });
});

describe("KV unreachable (every call fails)", () => {
  const w = useWorkerWithKvApi(["GET", "PUT"]);

  it("503, no cookie, the origin is not reached", async () => {
    const r = await send(w, "/", { headers: { [HEADER]: "down@example.com" } });
    assert.equal(r.status, 503);
    assert.deepEqual(r.res.headers.getSetCookie(), []);
    assert.equal(w.origin.requests.length, 0);
    assert.deepEqual(w.kvApi.ops, [{ method: "GET", key: "user:down@example.com" }]);
    assert.ok(await waitForLog(w, "user store unavailable"), "the failure is logged");
  });
});

describe("KV write fails (reads work)", () => {
  const w = useWorkerWithKvApi(["PUT"]);

  it("503, no cookie, nothing stored, the origin is not reached", async () => {
    const key = "user:half@example.com";
    const r = await send(w, "/", { headers: { [HEADER]: "half@example.com" } });
    assert.equal(r.status, 503);
    assert.deepEqual(r.res.headers.getSetCookie(), []);
    assert.equal(w.origin.requests.length, 0);
    assert.deepEqual(w.kvApi.ops, [
      { method: "GET", key },
      { method: "PUT", key },
    ]);
    assert.equal(w.kvApi.store.size, 0);
  });
});
