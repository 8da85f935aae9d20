// What the origin receives, and which identity header the worker reads.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  COOKIE,
  HEADER,
  kvKeys,
  parseSetCookie,
  rawRequest,
  send,
  sessionCookie,
  useWorker,
  waitForLog,
} from "./harness.mjs";

const SPOOFED = {
  "X-Remote-User": "admin",
  "X-Remote-User-Email": "admin@evil.example",
  "X-Remote-User-Groups": "superusers",
};

describe("forwarding, default settings", () => {
  const w = useWorker();

  it("client-sent identity headers are replaced (user without email/groups)", async () => {
    const user = "plain@example.com";
    const r = await send(w, "/", { headers: { [HEADER]: user, ...SPOOFED } });
    assert.equal(r.status, 200);
    assert.equal(r.echo.headers["x-remote-user"], user);
    assert.equal(r.echo.headers["x-remote-user-email"], undefined);
    assert.equal(r.echo.headers["x-remote-user-groups"], undefined);

    // Also on a request served from the session cookie.
    const { pair } = sessionCookie(r.res);
    const next = await send(w, "/", { headers: { [HEADER]: user, cookie: pair, ...SPOOFED } });
    assert.equal(next.status, 200);
    assert.equal(next.echo.headers["x-remote-user"], user);
    assert.equal(next.echo.headers["x-remote-user-email"], undefined);
    assert.equal(next.echo.headers["x-remote-user-groups"], undefined);
  });

  it("client-sent identity headers are replaced (user with email/groups)", async () => {
    const user = "rich@example.com";
    await w.kv.put(
      `user:${user}`,
      JSON.stringify({ username: user, is_active: true, email: "rich@corp.example", groups: ["dev"] }),
    );
    // Lower- and mixed-case spellings of the spoofed names, too.
    const r = await send(w, "/", {
      headers: { [HEADER]: user, "x-remote-user": "admin", "X-REMOTE-USER-EMAIL": "a@evil.example", "x-Remote-User-Groups": "root" },
    });
    assert.equal(r.status, 200);
    assert.equal(r.echo.headers["x-remote-user"], user);
    assert.equal(r.echo.headers["x-remote-user-email"], "rich@corp.example");
    assert.equal(r.echo.headers["x-remote-user-groups"], "dev");
  });

  it("the session cookie never reaches the origin; other cookies do", async () => {
    const user = "cookies@example.com";
    const first = await send(w, "/", { headers: { [HEADER]: user, cookie: "a=1; b=2" } });
    assert.equal(first.status, 200);
    assert.equal(first.echo.headers.cookie, "a=1; b=2");
    const { pair } = sessionCookie(first.res);

    const mixed = await send(w, "/", { headers: { [HEADER]: user, cookie: `a=1; ${pair}; b=2` } });
    assert.equal(mixed.status, 200);
    assert.deepEqual(sessionCookie(mixed.res).all, [], "the session was used");
    assert.equal(mixed.echo.headers.cookie, "a=1; b=2");
    assert.ok(!JSON.stringify(mixed.echo).includes(COOKIE));

    const only = await send(w, "/", { headers: { [HEADER]: user, cookie: pair } });
    assert.equal(only.status, 200);
    assert.equal(only.echo.headers.cookie, undefined);

    // A stale or forged session cookie is not passed on either.
    const forged = await send(w, "/", { headers: { [HEADER]: user, cookie: `${COOKIE}=junk; c=3` } });
    assert.equal(forged.status, 200);
    assert.equal(forged.echo.headers.cookie, "c=3");
  });

  it("path and query are kept", async () => {
    const path = "/some/deep/path.html?x=1&y=two%20words&x=3&empty=";
    const r = await send(w, path, { headers: { [HEADER]: "paths@example.com" } });
    assert.equal(r.status, 200);
    assert.equal(r.echo.url, path);
  });

  it("method and body are forwarded", async () => {
    const r = await send(w, "/submit?id=7", {
      method: "POST",
      headers: { [HEADER]: "poster@example.com", "content-type": "application/json" },
      body: JSON.stringify({ hello: "world" }),
    });
    assert.equal(r.status, 200);
    assert.equal(r.echo.method, "POST");
    assert.equal(r.echo.url, "/submit?id=7");
    assert.equal(r.echo.body, '{"hello":"world"}');
  });

  it("the origin's Set-Cookie is passed through alongside the session cookie", async () => {
    const user = "setcookie@example.com";
    const r = await send(w, "/", { headers: { [HEADER]: user } });
    assert.equal(r.status, 200);
    const all = r.res.headers.getSetCookie();
    assert.ok(all.includes("origin=1; Path=/"), `origin cookie in ${JSON.stringify(all)}`);
    assert.equal(all.filter((c) => c.startsWith(`${COOKIE}=`)).length, 1);
    assert.equal(all.length, 2);

    // Without a login, only the origin's cookie.
    const next = await send(w, "/", { headers: { [HEADER]: user, cookie: sessionCookie(r.res).pair } });
    assert.deepEqual(next.res.headers.getSetCookie(), ["origin=1; Path=/"]);
  });
});

describe("forwarding, ANONYMOUS=pass", () => {
  const w = useWorker({ ANONYMOUS: "pass" });

  it("anonymous requests carry no identity headers, even spoofed ones", async () => {
    const r = await send(w, "/open", { headers: SPOOFED });
    assert.equal(r.status, 200);
    assert.equal(r.echo.headers["x-remote-user"], undefined);
    assert.equal(r.echo.headers["x-remote-user-email"], undefined);
    assert.equal(r.echo.headers["x-remote-user-groups"], undefined);
    assert.deepEqual(r.res.headers.getSetCookie(), ["origin=1; Path=/"]);
  });
});

describe("forwarding, UPSTREAM_USER_HEADER=X-Forwarded-User", () => {
  const w = useWorker({ UPSTREAM_USER_HEADER: "X-Forwarded-User" });

  it("the user is named in the configured header; a client-sent copy is replaced", async () => {
    const r = await send(w, "/", {
      headers: { [HEADER]: "fwd@example.com", "X-Forwarded-User": "admin", ...SPOOFED },
    });
    assert.equal(r.status, 200);
    assert.equal(r.echo.headers["x-forwarded-user"], "fwd@example.com");
    assert.equal(r.echo.headers["x-remote-user-email"], undefined);
    assert.equal(r.echo.headers["x-remote-user-groups"], undefined);
  });
});

describe("identity header, REMOTE_USER_HEADER=X-Auth-Request-Email", () => {
  const w = useWorker({ REMOTE_USER_HEADER: "X-Auth-Request-Email" });

  it("the configured header logs in", async () => {
    const r = await send(w, "/", { headers: { "X-Auth-Request-Email": "oauth@example.com" } });
    assert.equal(r.status, 200);
    assert.equal(r.echo.headers["x-remote-user"], "oauth@example.com");
    assert.equal(sessionCookie(r.res).all.length, 1);
    assert.ok(await w.kv.get("user:oauth@example.com"));
  });

  it("the default header is no longer read", async () => {
    const r = await send(w, "/", { headers: { [HEADER]: "cf@example.com" } });
    assert.equal(r.status, 401);
    assert.equal(await w.kv.get("user:cf@example.com"), null);
  });

  it("a header spelled with `_` instead of `-` is not matched", async () => {
    const r = await rawRequest(w, "/", [["X_Auth_Request_Email", "under@example.com"]]);
    assert.equal(r.status, 401);
    assert.deepEqual(r.setCookie, []);
    assert.equal(await w.kv.get("user:under@example.com"), null);
  });
});

describe("identity header, REMOTE_USER_HEADER=X-Auth-Request-Email, ANONYMOUS=pass", () => {
  const w = useWorker({ REMOTE_USER_HEADER: "X-Auth-Request-Email", ANONYMOUS: "pass" });

  it("the `_` header does reach the worker (and the origin) but names nobody", async () => {
    const r = await rawRequest(w, "/", [["X_Auth_Request_Email", "under@example.com"]]);
    assert.equal(r.status, 200);
    const echo = JSON.parse(r.text);
    assert.equal(echo.headers["x_auth_request_email"], "under@example.com");
    assert.equal(echo.headers["x-remote-user"], undefined);
    assert.deepEqual(
      r.setCookie.filter((c) => parseSetCookie(c).name === COOKIE),
      [],
    );
    assert.deepEqual(await kvKeys(w.kv), []);
  });
});

describe("origin unreachable (ORIGIN_URL on a closed loopback port)", () => {
  const w = useWorker({ ORIGIN_URL: "http://127.0.0.1:9" });

  it("answers 502 with a plain message, keeps the login's cookie, and logs why", async () => {
    const user = "unreachable@example.com";
    const r = await send(w, "/x", { headers: { [HEADER]: user } });
    assert.equal(r.status, 502);
    assert.match(r.text, /origin could not be reached/);
    assert.equal(r.res.headers.get("cache-control"), "no-store");
    const { pair } = sessionCookie(r.res);
    assert.ok(pair.startsWith(`${COOKIE}=`), "the login stands");
    assert.ok(await waitForLog(w, "origin could not be reached"), "logged for the operator");
    // The retry is answered from the session: still 502, no second cookie.
    const again = await send(w, "/x", { headers: { [HEADER]: user, cookie: pair } });
    assert.equal(again.status, 502);
    assert.equal(again.res.headers.get("set-cookie"), null);
  });
});
