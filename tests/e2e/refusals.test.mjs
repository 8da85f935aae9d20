// Refusals in the form the client reads, in workerd (issue 18, item 6): JSON to
// `Accept: application/json` and to scripts (`Sec-Fetch-Dest: empty`, `X-Requested-With:
// XMLHttpRequest`), a small page with the message HTML-escaped to browsers (`Accept:
// text/html`), plain text otherwise, as before; every one `nosniff` and `no-store`. And
// who-am-I's own negotiation: `q=0` is a refusal.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { HEADER, JWT_HEADER, rawRequest, rsaSigningKey, send, startJwksServer, useWorker } from "./harness.mjs";

const ANN = "ann@example.com";
const IVAN = "ivan@example.com";
const NO_ONE = "authentication required: no identity was presented";
const BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

async function seed(kv) {
  await kv.put(`user:${ANN}`, JSON.stringify({ username: ANN, is_active: true, email: ANN, groups: ["ops"] }));
  await kv.put(`user:${IVAN}`, JSON.stringify({ username: IVAN, is_active: false, email: IVAN, groups: [] }));
}

/** The headers every refusal carries, whatever its form. */
function assertNotSniffedNorStored(r, what) {
  assert.equal(r.headers["x-content-type-options"], "nosniff", `${what}: nosniff`);
  assert.equal(r.headers["cache-control"], "no-store", `${what}: no-store`);
}

describe("refusals in the form the client reads", () => {
  // A rule whose path holds characters HTML must escape (a URL path may hold `&` and `'`).
  const w = useWorker({ RULES: "/r&d'x/=admins" });
  before(() => seed(w.kv));

  it("plain text by default: no Accept, */* (curl, fetch from Node), or nothing acceptable", async () => {
    for (const headers of [[], [["Accept", "*/*"]], [["Accept", "image/png"]], [["Accept", "text/plain"]]]) {
      const r = await rawRequest(w, "/", headers);
      const what = JSON.stringify(headers);
      assert.equal(r.status, 401, what);
      assert.equal(r.headers["content-type"], "text/plain; charset=utf-8", what);
      assert.equal(r.text, `${NO_ONE}\n`, what);
      assert.equal(r.headers["www-authenticate"], "RemoteUser", what);
      assertNotSniffedNorStored(r, what);
    }
  });

  it("JSON to Accept: application/json, and to fetch/XHR callers", async () => {
    for (const headers of [
      [["Accept", "application/json"]],
      [["Accept", "application/json, text/plain;q=0.5"]],
      [["Accept", "*/*"], ["Sec-Fetch-Dest", "empty"]],
      [["X-Requested-With", "XMLHttpRequest"]],
    ]) {
      const r = await rawRequest(w, "/", headers);
      const what = JSON.stringify(headers);
      assert.equal(r.status, 401, what);
      assert.equal(r.headers["content-type"], "application/json", what);
      assert.deepEqual(JSON.parse(r.text), { error: NO_ONE, status: 401, reason: "missing_identity" }, what);
      assert.equal(r.headers["www-authenticate"], "RemoteUser", what);
      assertNotSniffedNorStored(r, what);
    }
    // A 403 too: an inactive user, and a rule.
    const inactive = await rawRequest(w, "/", [[HEADER, IVAN], ["Accept", "application/json"]]);
    assert.equal(inactive.status, 403);
    assert.deepEqual(JSON.parse(inactive.text), {
      error: "forbidden: this identity may not sign in here",
      status: 403,
      reason: "rejected",
    });
    const ruled = await rawRequest(w, "/r&d'x/plan", [[HEADER, ANN], ["Accept", "application/json"]]);
    assert.equal(ruled.status, 403);
    assert.deepEqual(JSON.parse(ruled.text), {
      error: "forbidden: the rule for `/r&d'x/` does not admit this user",
      status: 403,
      reason: "path_forbidden",
    });
    assertNotSniffedNorStored(ruled, "the rule's 403");
  });

  it("a page to a browser, the message HTML-escaped, under a policy that runs nothing", async () => {
    const r = await rawRequest(w, "/r&d'x/plan", [[HEADER, ANN], ["Accept", BROWSER], ["Sec-Fetch-Dest", "document"]]);
    assert.equal(r.status, 403);
    assert.equal(r.headers["content-type"], "text/html; charset=utf-8");
    assert.match(r.headers["content-security-policy"], /default-src 'none'/);
    assertNotSniffedNorStored(r, "the page");
    assert.match(r.text, /^<!doctype html>/);
    assert.match(r.text, /<title>403 Forbidden<\/title>/);
    assert.ok(
      r.text.includes("forbidden: the rule for `/r&amp;d&#39;x/` does not admit this user"),
      r.text,
    );
    assert.ok(!r.text.includes("/r&d'x/"), "nothing unescaped");
    // `q=0` is a refusal: JSON refused, HTML wanted.
    const q0 = await rawRequest(w, "/", [["Accept", "application/json;q=0, text/html"]]);
    assert.equal(q0.status, 401);
    assert.equal(q0.headers["content-type"], "text/html; charset=utf-8");
    assert.match(q0.text, /<title>401 Unauthorized<\/title>/);
  });

  it("a 400 follows the same rules", async () => {
    const bad = await rawRequest(w, "/", [[HEADER, ANN], [HEADER, IVAN], ["Accept", "application/json"]]);
    assert.equal(bad.status, 400);
    assert.equal(JSON.parse(bad.text).reason, "bad_identity_header");
    assertNotSniffedNorStored(bad, "400");
  });
});

describe("a 500 (broken configuration) in the form the client reads", () => {
  const w = useWorker({ RULES: "admin/=admins" });

  it("JSON, a page, or plain text, never a configured value", async () => {
    const json = await rawRequest(w, "/", [["Accept", "application/json"]]);
    assert.equal(json.status, 500);
    const body = JSON.parse(json.text);
    assert.equal(body.status, 500);
    assert.equal(body.reason, "config_error");
    assert.match(body.error, /^configuration error: `PathRulesFilter` setting RULES must be/);
    assertNotSniffedNorStored(json, "500 JSON");
    const page = await rawRequest(w, "/", [["Accept", BROWSER]]);
    assert.equal(page.headers["content-type"], "text/html; charset=utf-8");
    assert.match(page.text, /<title>500 Internal Server Error<\/title>/);
    const text = await rawRequest(w, "/", []);
    assert.match(text.text, /^configuration error: `PathRulesFilter`/);
    assertNotSniffedNorStored(text, "500 text");
  });
});

describe("the origin down: a 502 in the form the client reads", () => {
  const w = useWorker({ ORIGIN_URL: "http://127.0.0.1:9" });
  before(() => seed(w.kv));

  it("JSON to a script, plain text otherwise, the login's cookie kept", async () => {
    const json = await rawRequest(w, "/", [[HEADER, ANN], ["Accept", "application/json"]]);
    assert.equal(json.status, 502);
    assert.deepEqual(JSON.parse(json.text), {
      error: "the origin could not be reached, try again later",
      status: 502,
      reason: "origin_unreachable",
    });
    assertNotSniffedNorStored(json, "502 JSON");
    assert.equal(json.setCookie.length, 1, "the login stands");
    const text = await rawRequest(w, "/", [[HEADER, ANN]]);
    assert.equal(text.status, 502);
    assert.equal(text.text, "the origin could not be reached, try again later\n");
    assertNotSniffedNorStored(text, "502 text");
  });
});

describe("a client-chosen message on a page is escaped (the assertion's algorithm)", () => {
  const key = rsaSigningKey("k1");
  const ctx = {};
  before(async () => {
    ctx.jwks = await startJwksServer([key]);
  });
  after(() => ctx.jwks?.close());
  const w = useWorker({
    AUTH_FILTERS: "session,gateway_jwt,remote_user",
    TRUST_UNSIGNED_HEADER: "false",
    ACCESS_TEAM_DOMAIN: "team.cloudflareaccess.com",
    ACCESS_AUD: "aud-1",
    // Filled in below, once the key server listens: a getter keeps the var lazy.
    get JWKS_URL() {
      return ctx.jwks?.url;
    },
  });

  it("an `alg` of markup reaches a browser as text", async () => {
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const alg = "<img src=x onerror=alert(1)>";
    const token = `${b64({ alg, kid: "k1", typ: "JWT" })}.${b64({ email: ANN })}.c2ln`;
    const page = await rawRequest(w, "/", [[JWT_HEADER, token], ["Accept", BROWSER]]);
    assert.equal(page.status, 401);
    assert.equal(page.headers["content-type"], "text/html; charset=utf-8");
    assert.ok(!page.text.includes("<img"), page.text);
    assert.ok(page.text.includes("&lt;img src=x onerror=alert(1)&gt;"), page.text);
    const json = await rawRequest(w, "/", [[JWT_HEADER, token], ["Accept", "application/json"]]);
    assert.equal(JSON.parse(json.text).error, `invalid gateway assertion: the assertion's algorithm \`${alg}\` is not the one this gateway signs with`);
    assert.equal(JSON.parse(json.text).reason, "assertion_unsupported_algorithm");
  });
});

describe("who-am-I honours q=0 and is not sniffed", () => {
  const w = useWorker();
  before(() => seed(w.kv));

  it("each Accept gets the form it allows; one that refuses both gets 406", async () => {
    for (const [accept, status, type] of [
      ["application/json;q=0, text/html", 200, "text/html; charset=utf-8"],
      ["text/html;q=0.0, */*", 200, "application/json"],
      ["TEXT/HTML;Q=0, application/json", 200, "application/json"],
      ["text/html;q=0.5, application/json", 200, "application/json"],
      [BROWSER, 200, "text/html; charset=utf-8"],
      ["*/*", 200, "application/json"],
      ["application/json;q=0", 406, "text/plain; charset=utf-8"],
      ["image/png", 406, "text/plain; charset=utf-8"],
    ]) {
      const r = await send(w, "/.auth/me", { headers: { [HEADER]: ANN, accept } });
      assert.equal(r.status, status, accept);
      assert.equal(r.res.headers.get("content-type"), type, accept);
      assert.equal(r.res.headers.get("x-content-type-options"), "nosniff", accept);
      assert.equal(r.res.headers.get("cache-control"), "no-store", accept);
    }
  });
});
