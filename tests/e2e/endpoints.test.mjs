// The endpoints the worker answers itself, in workerd: sign-out (LOGOUT_PATH) clears the
// session cookie and redirects to the gateway's own sign-out; who-am-I (WHOAMI_PATH) answers
// JSON or a page for the signed-in user, 401 for no one. Neither reaches the origin.
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import {
  COOKIE,
  HEADER,
  RFC3339,
  nowSecs,
  parseSetCookie,
  send,
  sessionCookie,
  useWorker,
  waitForLog,
} from "./harness.mjs";

const ANN = "ann@example.com";

async function seed(w) {
  await w.kv.put(
    `user:${ANN}`,
    JSON.stringify({ username: ANN, is_active: true, email: ANN, groups: ["ops", "dev"] }),
  );
}

async function login(w) {
  const r = await send(w, "/", { headers: { [HEADER]: ANN } });
  assert.equal(r.status, 200);
  return sessionCookie(r.res).pair;
}

describe("sign-out and who-am-I, defaults (Cloudflare Access)", () => {
  const w = useWorker();
  before(() => seed(w));

  it("GET /.auth/logout: 302 to Access's sign-out, the cookie removed, the origin untouched", async () => {
    const pair = await login(w);
    const seen = w.origin.requests.length;
    // The gateway still sends the identity header on this request: no new login.
    const r = await send(w, "/.auth/logout", { headers: { [HEADER]: ANN, cookie: pair } });
    assert.equal(r.status, 302);
    assert.equal(r.res.headers.get("location"), "/cdn-cgi/access/logout");
    assert.equal(r.res.headers.get("cache-control"), "no-store");
    const cookies = r.res.headers.getSetCookie();
    assert.equal(cookies.length, 1, "one Set-Cookie: the removal");
    const removal = parseSetCookie(cookies[0]);
    assert.equal(removal.name, COOKIE);
    assert.equal(removal.value, "");
    assert.equal(removal.attrs["max-age"], "0");
    assert.equal(w.origin.requests.length, seen, "never forwarded");
    // One event line naming who signed out, with the request's cf-ray; never the cookie.
    const ray = "8f0e1d2c3b4a5968-LHR";
    await send(w, "/.auth/logout", { headers: { cookie: pair, "cf-ray": ray } });
    const line = await waitForLog(w, ray);
    assert.ok(line, "a sign_out line with the ray");
    assert.deepEqual(JSON.parse(line.message), { event: "sign_out", user: ANN, ray });
    for (const log of w.logs) assert.ok(!log.message.includes(pair.split("=")[1]), log.message);
  });

  it("POST /.auth/logout signs out too; PUT is 405", async () => {
    const pair = await login(w);
    const post = await send(w, "/.auth/logout", { method: "POST", headers: { cookie: pair } });
    assert.equal(post.status, 302);
    assert.equal(post.res.headers.get("location"), "/cdn-cgi/access/logout");
    const put = await send(w, "/.auth/logout", { method: "PUT", headers: { cookie: pair } });
    assert.equal(put.status, 405);
    assert.equal(put.res.headers.get("allow"), "GET, POST");
    assert.equal(put.res.headers.get("x-content-type-options"), "nosniff");
    assert.deepEqual(put.res.headers.getSetCookie(), []);
  });

  it("GET /.auth/me: JSON for the signed-in user, no-store, no cookie or token in it, origin untouched", async () => {
    const pair = await login(w);
    const seen = w.origin.requests.length;
    const before = nowSecs();
    const r = await send(w, "/.auth/me", { headers: { [HEADER]: ANN, cookie: pair } });
    assert.equal(r.status, 200);
    assert.equal(r.res.headers.get("content-type"), "application/json");
    assert.equal(r.res.headers.get("cache-control"), "no-store");
    assert.equal(r.res.headers.get("x-content-type-options"), "nosniff");
    assert.deepEqual(r.res.headers.getSetCookie(), [], "a steady session sends no cookie");
    const me = JSON.parse(r.text);
    assert.deepEqual(Object.keys(me).sort(), ["email", "gateway", "groups", "session_expires_at", "username"]);
    assert.equal(me.username, ANN);
    assert.equal(me.email, ANN);
    assert.deepEqual(me.groups, ["ops", "dev"]);
    assert.equal(me.gateway, "cloudflare_access");
    assert.match(me.session_expires_at, RFC3339);
    const expires = Date.parse(me.session_expires_at) / 1000;
    assert.ok(Math.abs(expires - (before + 28800)) <= 5, `expires ${me.session_expires_at}`);
    assert.ok(!r.text.includes(pair.split("=")[1]), "the token is not shown");
    assert.equal(w.origin.requests.length, seen);
  });

  it("GET /.auth/me with Accept: text/html: a page with the user, the groups and a sign-out button", async () => {
    const r = await send(w, "/.auth/me", { headers: { [HEADER]: ANN, accept: "text/html,*/*;q=0.8" } });
    assert.equal(r.status, 200);
    assert.equal(r.res.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(r.res.headers.get("x-content-type-options"), "nosniff");
    assert.match(r.res.headers.get("content-security-policy"), /default-src 'none'/);
    assert.match(r.text, /Signed in as <span id="username">ann@example\.com<\/span>/);
    assert.match(r.text, /<dd id="groups">ops, dev<\/dd>/);
    assert.match(r.text, /<form method="post" action="\/\.auth\/logout">/);
    // This request logged Ann in: its one Set-Cookie came with the page.
    assert.equal(sessionCookie(r.res).all.length, 1);
  });

  it("GET /.auth/me with no one signed in: 401, origin untouched", async () => {
    const seen = w.origin.requests.length;
    const r = await send(w, "/.auth/me");
    assert.equal(r.status, 401);
    assert.deepEqual(r.res.headers.getSetCookie(), []);
    assert.equal(w.origin.requests.length, seen);
  });
});

describe("LOGOUT_REDIRECT", () => {
  const w = useWorker({ LOGOUT_REDIRECT: "https://idp.example.com/logout?done=1" });
  it("is where sign-out sends the browser", async () => {
    const r = await send(w, "/.auth/logout");
    assert.equal(r.status, 302);
    assert.equal(r.res.headers.get("location"), "https://idp.example.com/logout?done=1");
  });
});

describe("Google IAP", () => {
  const w = useWorker({ GATEWAY: "google_iap" });
  it("sign-out sends the browser to IAP's CLEAR_LOGIN_COOKIE", async () => {
    const r = await send(w, "/.auth/logout");
    assert.equal(r.res.headers.get("location"), "/?gcp-iap-mode=CLEAR_LOGIN_COOKIE");
  });
});

describe("Pomerium", () => {
  const w = useWorker({ GATEWAY: "pomerium", POMERIUM_HOST: "authenticate.example.com" });
  it("sign-out sends the browser to Pomerium's sign_out", async () => {
    const r = await send(w, "/.auth/logout");
    assert.equal(r.res.headers.get("location"), "https://authenticate.example.com/.pomerium/sign_out");
  });
});

describe("endpoints off (empty paths)", () => {
  const w = useWorker({ LOGOUT_PATH: "", WHOAMI_PATH: "" });
  before(() => seed(w));
  it("both paths go to the origin like any other", async () => {
    for (const path of ["/.auth/logout", "/.auth/me"]) {
      const r = await send(w, path, { headers: { [HEADER]: ANN } });
      assert.equal(r.status, 200, path);
      assert.equal(r.echo.url, path);
      assert.equal(r.echo.headers["x-remote-user"], ANN);
    }
  });
});

describe("a bad LOGOUT_REDIRECT", () => {
  const w = useWorker({ LOGOUT_REDIRECT: "//evil.example" });
  it("every request is 500 naming the filter and the setting, never the value", async () => {
    const r = await send(w, "/", { headers: { [HEADER]: ANN } });
    assert.equal(r.status, 500);
    assert.match(r.text, /^configuration error: `SignOutFilter` setting LOGOUT_REDIRECT must be a path on this host/);
    assert.ok(!r.text.includes("evil.example"));
  });
});
