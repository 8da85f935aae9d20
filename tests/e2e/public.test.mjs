// Public paths (PUBLIC_PATHS) and CORS preflights (CORS_PREFLIGHT): forwarded with no
// authentication, no KV call, no Set-Cookie, and no identity header in any spelling.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { COOKIE, HEADER, rawRequest, send, sessionCookie, startKvApi, useWorker } from "./harness.mjs";

/** Identity headers as a client might spoof them, in `-` and `_` spellings and any case. */
const SPOOFED = [
  ["X-Remote-User", "admin"],
  ["X_Remote_User", "admin"],
  ["x-remote_user", "admin"],
  ["X-Remote-User-Email", "admin@evil.example"],
  ["x_remote_user_email", "admin@evil.example"],
  ["X-Remote-User-Groups", "superusers"],
  ["X_REMOTE_USER_GROUPS", "superusers"],
  [HEADER, "mallory@example.com"],
  ["Cf_Access_Authenticated_User_Email", "mallory@example.com"],
];

/** Header names the origin saw that fold to an identity header. */
function identitySeen(headers) {
  const fold = (n) => n.toLowerCase().replaceAll("_", "-");
  const identity = new Set(["x-remote-user", "x-remote-user-email", "x-remote-user-groups", HEADER.toLowerCase()]);
  return Object.keys(headers).filter((n) => identity.has(fold(n)));
}

/** useWorker over a KV stand-in that records every call (`w.kvApi.ops`). */
function useCountingWorker(vars) {
  return useWorker(vars, {}, async (ctx) => {
    ctx.kvApi = await startKvApi({});
    return { kv: ctx.kvApi.binding };
  });
}

const PREFLIGHT = [
  ["Origin", "https://spa.example"],
  ["Access-Control-Request-Method", "POST"],
];

describe("PUBLIC_PATHS", () => {
  const w = useCountingWorker({ PUBLIC_PATHS: "/healthz,/static/" });

  it("a public path reaches the origin with no identity header, no Set-Cookie, no KV call", async () => {
    for (const path of ["/healthz", "/static/app.css?v=1"]) {
      const r = await rawRequest(w, path, [...SPOOFED, ["Cookie", "theme=dark"]]);
      assert.equal(r.status, 200, path);
      const echo = JSON.parse(r.text);
      assert.equal(echo.url, path);
      assert.deepEqual(identitySeen(echo.headers), [], `${path}: no identity header reaches the origin`);
      assert.equal(echo.headers.cookie, "theme=dark", "the client's other cookies go on");
      assert.deepEqual(r.setCookie, ["origin=1; Path=/"], "only the origin's own cookie");
    }
    assert.deepEqual(w.kvApi.ops, [], "no KV call");
  });

  it("exact entries are exact: /healthz/x is authenticated (401 without an identity)", async () => {
    const before = w.kvApi.ops.length;
    const r = await send(w, "/healthz/x");
    assert.equal(r.status, 401);
    const s = await send(w, "/static");
    assert.equal(s.status, 401);
    assert.equal(w.origin.requests.filter((q) => q.url === "/healthz/x" || q.url === "/static").length, 0);
    assert.equal(w.kvApi.ops.length, before);
  });

  it("any other path logs in as before (one KV read, one Set-Cookie)", async () => {
    const before = w.kvApi.ops.length;
    const r = await send(w, "/app", { headers: { [HEADER]: "ann@example.com" } });
    assert.equal(r.status, 200);
    assert.equal(r.echo.headers["x-remote-user"], "ann@example.com");
    assert.equal(sessionCookie(r.res).all.length, 1);
    assert.deepEqual(w.kvApi.ops[before], { method: "GET", key: "user:ann@example.com" });
  });

  it("a session cookie on a public path is neither read nor forwarded", async () => {
    const login = await send(w, "/app", { headers: { [HEADER]: "bob@example.com" } });
    const pair = sessionCookie(login.res).pair;
    assert.ok(pair?.startsWith(`${COOKIE}=`));
    const before = w.kvApi.ops.length;
    const r = await send(w, "/healthz", { headers: { cookie: pair } });
    assert.equal(r.status, 200);
    assert.equal(r.echo.headers.cookie, undefined);
    assert.deepEqual(identitySeen(r.echo.headers), []);
    assert.deepEqual(sessionCookie(r.res).all, []);
    assert.equal(w.kvApi.ops.length, before);
  });
});

describe("CORS_PREFLIGHT=pass", () => {
  const w = useCountingWorker({ CORS_PREFLIGHT: "pass" });

  it("a preflight reaches the origin without identity and without a KV call", async () => {
    const r = await rawRequest(w, "/api/items", [...PREFLIGHT, ...SPOOFED], "OPTIONS");
    assert.equal(r.status, 200);
    const echo = JSON.parse(r.text);
    assert.equal(echo.method, "OPTIONS");
    assert.equal(echo.headers.origin, "https://spa.example");
    assert.equal(echo.headers["access-control-request-method"], "POST");
    assert.deepEqual(identitySeen(echo.headers), []);
    assert.deepEqual(r.setCookie, ["origin=1; Path=/"]);
    assert.deepEqual(w.kvApi.ops, []);
  });

  it("a preflight reaches the origin bare: no credentials, no method override, no body", async () => {
    const login = await send(w, "/app", { headers: { [HEADER]: "carol@example.com" } });
    const pair = sessionCookie(login.res).pair;
    assert.ok(pair?.startsWith(`${COOKIE}=`));
    const before = w.kvApi.ops.length;
    const credentials = {
      cookie: `${pair}; sessionid=django-session; csrftoken=t`,
      authorization: "Basic YWRtaW46YWRtaW4=",
      "proxy-authorization": "Basic cHJveHk6cHJveHk=",
      "x-http-method-override": "DELETE",
      "x-http-method": "DELETE",
      "x-method-override": "DELETE",
      x_http_method_override: "DELETE",
      "content-type": "application/x-www-form-urlencoded",
    };
    const r = await send(w, "/admin/users/1", {
      method: "OPTIONS",
      headers: { origin: "https://spa.example", "access-control-request-method": "DELETE", ...credentials },
      body: "confirm=yes&csrfmiddlewaretoken=t",
    });
    assert.equal(r.status, 200, r.text);
    const seen = r.echo;
    assert.equal(seen.method, "OPTIONS");
    assert.equal(seen.headers.origin, "https://spa.example");
    assert.equal(seen.headers["access-control-request-method"], "DELETE");
    const fold = (n) => n.toLowerCase().replaceAll("_", "-");
    const leaked = Object.keys(seen.headers).filter((n) => fold(n) in credentials || n in credentials);
    assert.deepEqual(leaked, [], `no credential, override or body header reaches the origin: ${JSON.stringify(seen.headers)}`);
    assert.equal(seen.body, "", "no body");
    assert.ok(!("content-length" in seen.headers) || seen.headers["content-length"] === "0", seen.headers["content-length"]);
    assert.deepEqual(identitySeen(seen.headers), []);
    assert.deepEqual(w.kvApi.ops.slice(before), [], "no KV call");
  });

  it("an OPTIONS without both headers, or a GET with them, is authenticated (401)", async () => {
    const before = w.kvApi.ops.length;
    for (const [method, headers] of [
      ["OPTIONS", [PREFLIGHT[0]]],
      ["OPTIONS", [PREFLIGHT[1]]],
      ["GET", PREFLIGHT],
    ]) {
      const r = await rawRequest(w, "/api/items", headers, method);
      assert.equal(r.status, 401, `${method} ${JSON.stringify(headers)}`);
    }
    assert.equal(w.kvApi.ops.length, before);
  });
});

describe("CORS_PREFLIGHT=deny (the default)", () => {
  const w = useCountingWorker({});

  it("a preflight is treated like any other request: 401, the origin not reached", async () => {
    const r = await rawRequest(w, "/api/items", PREFLIGHT, "OPTIONS");
    assert.equal(r.status, 401);
    assert.equal(w.origin.requests.length, 0);
  });
});
