// What the origin receives, and which identity header the worker reads.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  COOKIE,
  HEADER,
  accessAssertion,
  kvKeys,
  parseSetCookie,
  rawRequest,
  rsaSigningKey,
  send,
  sessionCookie,
  startJwksServer,
  useWorker,
  waitForLog,
  JWT_HEADER,
} from "./harness.mjs";

const SPOOFED = {
  "X-Remote-User": "admin",
  "X-Remote-User-Email": "admin@evil.example",
  "X-Remote-User-Groups": "superusers",
};
const UPSTREAM = ["x-remote-user", "x-remote-user-email", "x-remote-user-groups"];

/**
 * Spellings of the header `name` (three words or more, e.g. `x-remote-user`) that an origin
 * folding `_` into `-` (WSGI bridges, older gunicorn/Puma) reads as it, each with at least
 * one `_`: `X_Remote_User`, `x_remote_user`, `X-REMOTE_USER`, `x_remote-user`, `X-Remote_User`.
 */
function underscoreSpellings(name) {
  const words = name.toLowerCase().split("-");
  const title = words.map((w) => w[0].toUpperCase() + w.slice(1));
  const upper = words.map((w) => w.toUpperCase());
  // The first separator is `first`, the others `rest`.
  const join = (ws, first, rest) => ws[0] + ws.slice(1).map((w, i) => (i === 0 ? first : rest) + w).join("");
  return [title.join("_"), words.join("_"), join(upper, "-", "_"), join(words, "_", "-"), join(title, "-", "_")];
}

/** The header names the origin saw that an `_`-folding origin reads as `name`. */
function spellingsSeen(echo, name) {
  const canonical = name.toLowerCase();
  return Object.keys(echo.headers).filter((n) => n.replaceAll("_", "-") === canonical).sort();
}

/** Raw header lines: every `_` spelling of each of `names`, with `value`. */
const spoofAll = (names, value = "admin") => names.flatMap((n) => underscoreSpellings(n).map((s) => [s, value]));

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

  it("an email and groups with tabs, line breaks and non-ASCII reach the origin percent-encoded, intact", async () => {
    const user = "hostile@example.com";
    // A space at either end, too: the runtime's Headers would trim it unless encoded.
    const email = " ann\tb\u00fcrger@m\u00fcnchen.example\nx-remote-user: root\r";
    const groups = ["", "ops\tteam", "d\u00e9v\r\nx-admin: 1", "\u{1F600}", "100%", "g".repeat(2000), " lead "];
    await w.kv.put(`user:${user}`, JSON.stringify({ username: user, is_active: true, email, groups }));
    const r = await send(w, "/", { headers: { [HEADER]: user } });
    assert.equal(r.status, 200, r.text);
    const seen = r.echo.headers;
    assert.equal(seen["x-remote-user"], user);
    // Visible ASCII only (inner spaces kept), and each value decodes back to what KV holds.
    for (const name of ["x-remote-user-email", "x-remote-user-groups"]) {
      assert.match(seen[name], /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/, name);
    }
    assert.equal(decodeURIComponent(seen["x-remote-user-email"]), email);
    assert.equal(decodeURIComponent(seen["x-remote-user-groups"]), groups.join(","));
    assert.ok(seen["x-remote-user-email"].startsWith("%20ann%09b%C3%BCrger@"), seen["x-remote-user-email"]);
    const seenGroups = seen["x-remote-user-groups"];
    assert.ok(seenGroups.startsWith(",ops%09team,d%C3%A9v%0D%0Ax-admin: 1,%F0%9F%98%80,100%25,ggg"), seenGroups);
    assert.ok(seenGroups.endsWith("g, lead%20"), seenGroups);
    // Nothing the values held became a header of its own.
    assert.equal(seen["x-admin"], undefined);
    assert.deepEqual(spellingsSeen(r.echo, "x-remote-user"), ["x-remote-user"]);
  });

  it("no `_` spelling of an identity header or of the gateway's header reaches the origin", async () => {
    const user = "spelled@example.com";
    const spoofed = spoofAll([...UPSTREAM, HEADER]);
    for (const n of ["X_Remote_User", "x_remote_user_email", "X-REMOTE_USER_GROUPS", "Cf_Access_Authenticated_User_Email"]) {
      assert.ok(spoofed.some(([s]) => s === n), n);
    }
    const r = await rawRequest(w, "/", [[HEADER, user], ...spoofed]);
    assert.equal(r.status, 200, r.text);
    const echo = JSON.parse(r.text);
    assert.deepEqual(spellingsSeen(echo, "x-remote-user"), ["x-remote-user"]);
    assert.equal(echo.headers["x-remote-user"], user);
    assert.deepEqual(spellingsSeen(echo, "x-remote-user-email"), []);
    assert.deepEqual(spellingsSeen(echo, "x-remote-user-groups"), []);
    // The gateway's header named the user the request is forwarded as: it goes on as sent,
    // in its own spelling only.
    assert.deepEqual(spellingsSeen(echo, HEADER), [HEADER.toLowerCase()]);
    assert.equal(echo.headers[HEADER.toLowerCase()], user);
    assert.ok(!r.text.includes("admin"), r.text);
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

  it("anonymous requests carry no `_` spelling of an identity header either", async () => {
    const r = await rawRequest(w, "/open", spoofAll([...UPSTREAM, HEADER]));
    assert.equal(r.status, 200, r.text);
    const echo = JSON.parse(r.text);
    for (const name of [...UPSTREAM, HEADER]) assert.deepEqual(spellingsSeen(echo, name), [], name);
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

  it("the default X-Remote-User from the client is stripped too, in every spelling", async () => {
    const r = await rawRequest(w, "/", [
      [HEADER, "fwd2@example.com"],
      ["X-Remote-User", "admin"],
      ...spoofAll(["x-forwarded-user", ...UPSTREAM]),
    ]);
    assert.equal(r.status, 200, r.text);
    const echo = JSON.parse(r.text);
    assert.deepEqual(spellingsSeen(echo, "x-forwarded-user"), ["x-forwarded-user"]);
    assert.equal(echo.headers["x-forwarded-user"], "fwd2@example.com");
    for (const name of UPSTREAM) assert.deepEqual(spellingsSeen(echo, name), [], name);
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

  it("the `_` header names nobody and does not reach the origin", async () => {
    const r = await rawRequest(w, "/", [["X_Auth_Request_Email", "under@example.com"]]);
    assert.equal(r.status, 200);
    const echo = JSON.parse(r.text);
    assert.deepEqual(spellingsSeen(echo, "x-auth-request-email"), []);
    assert.equal(echo.headers["x-remote-user"], undefined);
    assert.deepEqual(
      r.setCookie.filter((c) => parseSetCookie(c).name === COOKIE),
      [],
    );
    assert.deepEqual(await kvKeys(w.kv), []);
  });
});

describe("forwarding, shared secret mode (gateway_secret)", () => {
  const GATEWAY_SECRET = "e2e-forwarding-gateway-secret-0123";
  const w = useWorker({
    AUTH_FILTERS: "session,gateway_secret,remote_user",
    TRUST_UNSIGNED_HEADER: "false",
    GATEWAY_SECRET,
  });

  it("no spelling of the secret header reaches the origin; nor a `_` identity header", async () => {
    const user = "secret.spelling@example.com";
    const r = await rawRequest(w, "/", [
      [HEADER, user],
      ["X-Gateway-Secret", GATEWAY_SECRET],
      ...spoofAll(["X-Gateway-Secret"], GATEWAY_SECRET),
      ...spoofAll([HEADER, ...UPSTREAM]),
    ]);
    assert.equal(r.status, 200, r.text);
    const echo = JSON.parse(r.text);
    assert.deepEqual(spellingsSeen(echo, "x-gateway-secret"), []);
    assert.ok(!r.text.includes(GATEWAY_SECRET), r.text);
    assert.equal(echo.headers["x-remote-user"], user);
    assert.deepEqual(spellingsSeen(echo, HEADER), [HEADER.toLowerCase()]);
    assert.equal(echo.headers[HEADER.toLowerCase()], user);
    for (const name of UPSTREAM) assert.deepEqual(spellingsSeen(echo, name), name === "x-remote-user" ? [name] : [], name);
  });
});

describe("forwarding, Cloudflare Access mode, persistent_remote_user, ANONYMOUS=pass", () => {
  const TEAM = "fwdteam.cloudflareaccess.com";
  const AUD = "fwd-aud";
  const key = rsaSigningKey("fwd-key");
  const sign = (email) => accessAssertion(key, email, { issuer: `https://${TEAM}`, audience: AUD });
  const vars = {
    AUTH_FILTERS: "session,gateway_jwt,persistent_remote_user",
    TRUST_UNSIGNED_HEADER: "false",
    ANONYMOUS: "pass",
    GATEWAY: "cloudflare_access",
    ACCESS_TEAM_DOMAIN: TEAM,
    ACCESS_AUD: AUD,
  };
  // The key server starts first: the worker's JWKS_URL names its port.
  const w = useWorker(vars, {}, async (ctx) => {
    ctx.jwks = await startJwksServer([key]);
    vars.JWKS_URL = ctx.jwks.url;
    return {};
  });
  after(async () => w.jwks?.close());

  const lower = HEADER.toLowerCase();
  const jwtLower = JWT_HEADER.toLowerCase();
  const gatewaySpellings = spoofAll([HEADER, JWT_HEADER], "forged");

  it("no assertion: the client's gateway headers are not forwarded, in any spelling", async () => {
    const r = await rawRequest(w, "/anon", [[HEADER, "admin@example.com"], ...gatewaySpellings]);
    assert.equal(r.status, 200, r.text);
    const echo = JSON.parse(r.text);
    assert.equal(echo.headers["x-remote-user"], undefined);
    assert.deepEqual(spellingsSeen(echo, HEADER), []);
    assert.deepEqual(spellingsSeen(echo, JWT_HEADER), []);
    assert.ok(!r.text.includes("admin@example.com"), r.text);
  });

  let pair;
  it("verified login: the gateway's headers are forwarded as sent, in their own spelling only", async () => {
    const email = "fwd.ann@example.com";
    const token = sign(email);
    const r = await rawRequest(w, "/in", [[JWT_HEADER, token], [HEADER, email], ...gatewaySpellings]);
    assert.equal(r.status, 200, r.text);
    pair = r.setCookie.find((c) => parseSetCookie(c).name === COOKIE)?.split(";")[0];
    assert.ok(pair, "logged in");
    const echo = JSON.parse(r.text);
    assert.equal(echo.headers["x-remote-user"], email);
    assert.deepEqual(spellingsSeen(echo, HEADER), [lower]);
    assert.equal(echo.headers[lower], email);
    assert.deepEqual(spellingsSeen(echo, JWT_HEADER), [jwtLower]);
    assert.equal(echo.headers[jwtLower], token);

    // From the session, with the same assertion: still the user's own, still forwarded.
    const again = await rawRequest(w, "/in", [["cookie", pair], [JWT_HEADER, token], [HEADER, email]]);
    assert.equal(again.status, 200, again.text);
    const echo2 = JSON.parse(again.text);
    assert.equal(echo2.headers[jwtLower], token);
    assert.equal(echo2.headers[lower], email);
  });

  it("session kept without an assertion: an unverified Cf-Access-Authenticated-User-Email is not forwarded", async () => {
    assert.ok(pair, "the login test ran first");
    const r = await rawRequest(w, "/kept", [["cookie", pair], [HEADER, "mallory@example.com"]]);
    assert.equal(r.status, 200, r.text);
    const echo = JSON.parse(r.text);
    assert.equal(echo.headers["x-remote-user"], "fwd.ann@example.com", "the session user");
    assert.deepEqual(spellingsSeen(echo, HEADER), []);
    assert.ok(!r.text.includes("mallory"), r.text);
  });

  it("a refused user's valid assertion is not forwarded with the anonymous request", async () => {
    const email = "fwd.inactive@example.com";
    await w.kv.put(`user:${email}`, JSON.stringify({ username: email, is_active: false }));
    const token = sign(email);
    const r = await rawRequest(w, "/refused", [[JWT_HEADER, token], [HEADER, email]]);
    assert.equal(r.status, 200, r.text);
    const echo = JSON.parse(r.text);
    assert.equal(echo.headers["x-remote-user"], undefined);
    assert.deepEqual(spellingsSeen(echo, HEADER), []);
    assert.deepEqual(spellingsSeen(echo, JWT_HEADER), []);
    assert.ok(!r.text.includes(token), "the assertion is not forwarded");
  });
});

describe("origin unreachable (ORIGIN_URL on a closed loopback port)", () => {
  const w = useWorker({ ORIGIN_URL: "http://127.0.0.1:9" });

  it("answers 502 with a plain message, keeps the login's cookie, and logs why", async () => {
    const user = "unreachable@example.com";
    const r = await send(w, "/x", { headers: { [HEADER]: user } });
    assert.equal(r.status, 502);
    assert.equal(r.text, "the origin could not be reached, try again later\n");
    assert.equal(r.res.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(r.res.headers.get("cache-control"), "no-store");
    assert.equal(r.res.headers.get("x-content-type-options"), "nosniff");
    const { pair } = sessionCookie(r.res);
    assert.ok(pair.startsWith(`${COOKIE}=`), "the login stands");
    assert.ok(await waitForLog(w, "origin could not be reached"), "logged for the operator");
    // The retry is answered from the session: still 502, no second cookie.
    const again = await send(w, "/x", { headers: { [HEADER]: user, cookie: pair } });
    assert.equal(again.status, 502);
    assert.equal(again.res.headers.get("set-cookie"), null);
  });
});

// ORIGIN_URL unset: the request goes on to the URL it was routed with. Miniflare's `upstream`
// plays the route: every request reaches the worker with its URL rewritten to the loopback
// origin's, as a Worker routed in front of that host sees it.
describe("ORIGIN_URL unset: forwarded as routed (Miniflare upstream = the origin)", () => {
  const w = useWorker({ ORIGIN_URL: undefined }, {}, async (ctx) => ({ upstream: ctx.origin.url }));

  it("the origin gets the request at its routed path and query, with the identity, without our cookie", async () => {
    const user = "routed@example.com";
    const login = await send(w, "/routed/a?b=1&c=%20", { headers: { [HEADER]: user } });
    assert.equal(login.status, 200, login.text);
    assert.equal(w.origin.requests.length, 1, "the origin itself was reached");
    assert.equal(login.echo.url, "/routed/a?b=1&c=%20");
    assert.equal(login.echo.headers["x-remote-user"], user);
    const { pair } = sessionCookie(login.res);
    const next = await send(w, "/routed/b", {
      method: "POST",
      body: "payload",
      headers: { [HEADER]: user, cookie: `${pair}; other=1` },
    });
    assert.equal(next.status, 200, next.text);
    assert.deepEqual([next.echo.method, next.echo.url, next.echo.body], ["POST", "/routed/b", "payload"]);
    assert.equal(next.echo.headers.cookie, "other=1");
    assert.equal(next.echo.headers["x-remote-user"], user);
    assert.equal(w.origin.requests.length, 2);
  });

  it("a refused request does not reach the origin", async () => {
    const seen = w.origin.requests.length;
    const r = await send(w, "/routed/c");
    assert.equal(r.status, 401);
    assert.equal(w.origin.requests.length, seen);
  });
});
