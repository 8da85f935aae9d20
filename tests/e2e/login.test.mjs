// Logging in from the identity header: who gets through, who is created, what KV holds.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  HEADER,
  RFC3339,
  decodeJwt,
  kvKeys,
  nowSecs,
  rawRequest,
  send,
  sessionCookie,
  sleep,
  tokenOf,
  useWorker,
  waitForLog,
} from "./harness.mjs";

/** An RFC 3339 time within a minute of now. */
function assertRecentTime(value, what) {
  assert.match(value, RFC3339, `${what} is RFC 3339`);
  const t = Date.parse(value) / 1000;
  assert.ok(Math.abs(t - nowSecs()) < 60, `${what} (${value}) is about now`);
}

describe("login, default settings", () => {
  const w = useWorker();

  it("no identity header: 401, nothing created, no session cookie", async () => {
    const before = await kvKeys(w.kv);
    const seen = w.origin.requests.length;
    const r = await send(w, "/");
    assert.equal(r.status, 401);
    assert.deepEqual(sessionCookie(r.res).all, []);
    assert.deepEqual(r.res.headers.getSetCookie(), []);
    assert.deepEqual(await kvKeys(w.kv), before);
    assert.equal(w.origin.requests.length, seen, "the origin is not contacted");
  });

  it("empty identity header: 401, nothing created, no session cookie", async () => {
    const before = await kvKeys(w.kv);
    const seen = w.origin.requests.length;
    const r = await send(w, "/", { headers: { [HEADER]: "" } });
    assert.equal(r.status, 401);
    assert.deepEqual(r.res.headers.getSetCookie(), []);
    assert.deepEqual(await kvKeys(w.kv), before);
    assert.equal(w.origin.requests.length, seen);
  });

  it("unknown user: created once, one cookie; the cookie request writes nothing", async () => {
    const user = "new.user@example.com";
    const key = `user:${user}`;
    assert.equal(await w.kv.get(key), null);

    const first = await send(w, "/", { headers: { [HEADER]: user } });
    assert.equal(first.status, 200);
    assert.equal(first.echo.headers["x-remote-user"], user);
    const { all, pair } = sessionCookie(first.res);
    assert.equal(all.length, 1, "exactly one session Set-Cookie");
    assert.equal(decodeJwt(tokenOf(pair)).payload.sub, user);

    const keys = (await kvKeys(w.kv)).filter((k) => k.includes(user));
    assert.deepEqual(keys, [key], "exactly one record for the user");
    const raw = await w.kv.get(key);
    const record = JSON.parse(raw);
    assert.equal(record.username, user);
    assert.equal(record.is_active, true);
    assertRecentTime(record.date_joined, "date_joined");
    assertRecentTime(record.last_login, "last_login");
    assert.equal(record.date_joined, record.last_login);

    // Timestamps have one-second resolution: make sure a second login would show.
    await sleep(1100);
    const next = await send(w, "/", { headers: { [HEADER]: user, cookie: pair } });
    assert.equal(next.status, 200);
    assert.equal(next.echo.headers["x-remote-user"], user);
    assert.deepEqual(sessionCookie(next.res).all, [], "no new session cookie");
    assert.equal(await w.kv.get(key), raw, "record byte-identical (last_login unchanged)");
  });

  it("known user: logged in, last_login stamped under login:<name>, the record untouched, email/groups forwarded", async () => {
    const user = "kim@example.com";
    const key = `user:${user}`;
    const seed = {
      username: user,
      is_active: true,
      email: "kim@corp.example",
      groups: ["ops", "dev"],
      date_joined: "2024-01-02T03:04:05Z",
      team: "ops",
      nested: { keep: [1, 2] },
    };
    await w.kv.put(key, JSON.stringify(seed));

    const first = await send(w, "/", { headers: { [HEADER]: user } });
    assert.equal(first.status, 200);
    assert.equal(first.echo.headers["x-remote-user"], user);
    assert.equal(first.echo.headers["x-remote-user-email"], "kim@corp.example");
    assert.equal(first.echo.headers["x-remote-user-groups"], "ops,dev");
    const { all, pair } = sessionCookie(first.res);
    assert.equal(all.length, 1);

    const raw = await w.kv.get(key);
    assert.equal(raw, JSON.stringify(seed), "the admin's record, byte for byte");
    const stamp = JSON.parse(await w.kv.get(`login:${user}`));
    assertRecentTime(stamp.last_login, "last_login");

    // Served from the session cookie: same identity headers, no new cookie, no write.
    const next = await send(w, "/", { headers: { [HEADER]: user, cookie: pair } });
    assert.equal(next.status, 200);
    assert.deepEqual(sessionCookie(next.res).all, []);
    assert.equal(next.echo.headers["x-remote-user"], user);
    assert.equal(next.echo.headers["x-remote-user-email"], "kim@corp.example");
    assert.equal(next.echo.headers["x-remote-user-groups"], "ops,dev");
    assert.equal(await w.kv.get(key), raw);
  });

  it("inactive user: 403, no session cookie, record unchanged", async () => {
    const user = "gone@example.com";
    const key = `user:${user}`;
    const raw = JSON.stringify({ username: user, is_active: false, team: "ex" });
    await w.kv.put(key, raw);
    const seen = w.origin.requests.length;
    const r = await send(w, "/", { headers: { [HEADER]: user } });
    assert.equal(r.status, 403);
    assert.deepEqual(r.res.headers.getSetCookie(), []);
    assert.equal(await w.kv.get(key), raw);
    assert.equal(w.origin.requests.length, seen);
  });

  it("malformed identity (two values): 400, no cookie, nothing written", async () => {
    const before = await kvKeys(w.kv);
    const seen = w.origin.requests.length;
    // One header line holding a comma-separated pair...
    const r = await send(w, "/", { headers: { [HEADER]: "a1@example.com, b1@example.com" } });
    assert.equal(r.status, 400);
    assert.deepEqual(r.res.headers.getSetCookie(), []);
    // ...and the same identity header sent twice (control: sent once, it logs in).
    const once = await rawRequest(w, "/", [[HEADER, "once@example.com"]]);
    assert.equal(once.status, 200);
    const raw = await rawRequest(w, "/", [
      [HEADER, "a2@example.com"],
      [HEADER, "b2@example.com"],
    ]);
    assert.equal(raw.status, 400);
    assert.deepEqual(raw.setCookie, []);
    assert.deepEqual(await kvKeys(w.kv), [...before, "user:once@example.com"].sort());
    assert.equal(w.origin.requests.length, seen + 1);
  });

  // README: a malformed identity header (not UTF-8, control characters, over 320 bytes) is a
  // 400. node:http writes header values as Latin-1, one byte per char: a string of chars
  // U+0000..U+00FF is the exact bytes workerd receives.
  const bytes = (text) => Buffer.from(text, "utf8").toString("latin1");

  it("identity not UTF-8, with a control character, or over 320 bytes: 400, nothing read or written", async () => {
    const before = await kvKeys(w.kv);
    const seen = w.origin.requests.length;
    const over = `${"o".repeat(321 - "@example.com".length)}@example.com`;
    assert.equal(Buffer.byteLength(over), 321);
    const cases = [
      ["not UTF-8 (a lone 0xFF)", "ann\xff@example.com"],
      ["Latin-1, not UTF-8 (0xE9)", "jos\xe9@example.com"],
      ["a tab inside", "ann\tx@example.com"],
      ["NEL (U+0085, C2 85 in UTF-8)", bytes("ann\u0085x@example.com")],
      ["321 bytes", over],
    ];
    for (const [title, value] of cases) {
      const r = await rawRequest(w, "/", [[HEADER, value]]);
      assert.equal(r.status, 400, `${title}: ${r.text}`);
      assert.match(r.text, /not UTF-8 text|control characters|longer than 320 bytes/, title);
      assert.deepEqual(r.setCookie, [], title);
    }
    assert.deepEqual(await kvKeys(w.kv), before, "nothing written");
    assert.equal(w.origin.requests.length, seen, "the origin is not reached");
  });

  it("identity of exactly 320 bytes (blanks around it trimmed): logged in", async () => {
    const user = `${"e".repeat(320 - "@example.com".length)}@example.com`;
    const r = await rawRequest(w, "/", [[HEADER, `  ${user} `]]);
    assert.equal(r.status, 200, r.text);
    assert.equal(JSON.parse(r.text).headers["x-remote-user"], user);
    assert.ok((await kvKeys(w.kv)).includes(`user:${user}`));
  });

  it("a non-ASCII identity (UTF-8) logs in; the origin gets it percent-encoded, KV as text", async () => {
    const user = "jos\u00e9.m\u00fcller@\u4f8b.example";
    const r = await rawRequest(w, "/", [[HEADER, bytes(user)]]);
    assert.equal(r.status, 200, r.text);
    const seen = JSON.parse(r.text).headers["x-remote-user"];
    assert.equal(seen, "jos%C3%A9.m%C3%BCller@%E4%BE%8B.example");
    assert.equal(decodeURIComponent(seen), user);
    const record = JSON.parse(await w.kv.get(`user:${user}`));
    assert.equal(record.username, user);
  });

  it("KV record without is_active: active (Django's default), logged in, record untouched", async () => {
    const user = "noflag@example.com";
    const raw = JSON.stringify({ username: user, groups: ["ops"] });
    await w.kv.put(`user:${user}`, raw);
    const r = await send(w, "/", { headers: { [HEADER]: user } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.echo.headers["x-remote-user"], user);
    assert.equal(r.echo.headers["x-remote-user-groups"], "ops");
    assert.equal(sessionCookie(r.res).all.length, 1);
    assert.equal(await w.kv.get(`user:${user}`), raw);
  });

  it("corrupt KV record: 403, record left as it was", async () => {
    const key = "user:bad@example.com";
    await w.kv.put(key, "not json");
    const r = await send(w, "/", { headers: { [HEADER]: "bad@example.com" } });
    assert.equal(r.status, 403);
    assert.deepEqual(r.res.headers.getSetCookie(), []);
    assert.equal(await w.kv.get(key), "not json");
    assert.ok(!r.text.includes("not json"), "the stored record is not sent to the client");
    assert.ok(await waitForLog(w, key), "the bad record's key is logged for the operator");
  });

  it("KV record whose username does not match its key: 403, left as it was", async () => {
    const key = "user:alias@example.com";
    const raw = JSON.stringify({ username: "someone-else@example.com", is_active: true });
    await w.kv.put(key, raw);
    const r = await send(w, "/", { headers: { [HEADER]: "alias@example.com" } });
    assert.equal(r.status, 403);
    assert.deepEqual(r.res.headers.getSetCookie(), []);
    assert.equal(await w.kv.get(key), raw);
  });
});

describe("login, ANONYMOUS=pass", () => {
  const w = useWorker({ ANONYMOUS: "pass" });

  it("no identity: forwarded without identity headers, no cookie, nothing created", async () => {
    for (const headers of [{}, { [HEADER]: "" }]) {
      const r = await send(w, "/anon?x=1", { headers });
      assert.equal(r.status, 200);
      assert.equal(r.echo.url, "/anon?x=1");
      assert.equal(r.echo.headers["x-remote-user"], undefined);
      assert.equal(r.echo.headers["x-remote-user-email"], undefined);
      assert.equal(r.echo.headers["x-remote-user-groups"], undefined);
      assert.deepEqual(sessionCookie(r.res).all, []);
    }
    assert.deepEqual(await kvKeys(w.kv), []);
  });

  it("an identity still logs in", async () => {
    const r = await send(w, "/", { headers: { [HEADER]: "pat@example.com" } });
    assert.equal(r.status, 200);
    assert.equal(r.echo.headers["x-remote-user"], "pat@example.com");
    assert.equal(sessionCookie(r.res).all.length, 1);
  });
});

describe("login, ALLOW_INACTIVE_USERS=true", () => {
  const w = useWorker({ ALLOW_INACTIVE_USERS: "true" });

  it("inactive user: logged in", async () => {
    const user = "gone@example.com";
    const key = `user:${user}`;
    const seed = { username: user, is_active: false, team: "ex" };
    await w.kv.put(key, JSON.stringify(seed));
    const r = await send(w, "/", { headers: { [HEADER]: user } });
    assert.equal(r.status, 200);
    assert.equal(r.echo.headers["x-remote-user"], user);
    assert.equal(sessionCookie(r.res).all.length, 1);
    assert.equal(await w.kv.get(key), JSON.stringify(seed), "the record untouched");
    assertRecentTime(JSON.parse(await w.kv.get(`login:${user}`)).last_login, "last_login");
  });
});

describe("login, CREATE_UNKNOWN_USER=false", () => {
  const w = useWorker({ CREATE_UNKNOWN_USER: "false" });

  it("unknown user: 403, nothing written", async () => {
    const seen = w.origin.requests.length;
    const r = await send(w, "/", { headers: { [HEADER]: "stranger@example.com" } });
    assert.equal(r.status, 403);
    assert.deepEqual(r.res.headers.getSetCookie(), []);
    assert.deepEqual(await kvKeys(w.kv), []);
    assert.equal(w.origin.requests.length, seen);
  });

  it("known user: still logged in", async () => {
    const user = "member@example.com";
    await w.kv.put(`user:${user}`, JSON.stringify({ username: user, is_active: true }));
    const r = await send(w, "/", { headers: { [HEADER]: user } });
    assert.equal(r.status, 200);
    assert.equal(r.echo.headers["x-remote-user"], user);
    assert.equal(sessionCookie(r.res).all.length, 1);
  });
});
