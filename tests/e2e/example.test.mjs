// examples/hello, a workers-rs worker (`#[event(fetch)]`, `worker::Router`) with the library's
// API in front (src/edge/api.rs), in real workerd: who gets through, what the handler sees,
// the one Set-Cookie, the proxy route, and answers identical to the stock worker's.
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import {
  COOKIE,
  EXAMPLE_SCRIPT,
  HEADER,
  decodeJwt,
  rawRequest,
  send,
  sessionCookie,
  tokenOf,
  useWorker,
  waitForLog,
} from "./harness.mjs";

const ANN = "ann@example.com";
const IVAN = "ivan@example.com";
const USERS = {
  [ANN]: { username: ANN, is_active: true, email: ANN, groups: ["ops", "dev"] },
  [IVAN]: { username: IVAN, is_active: false, email: IVAN, groups: ["ops"] },
};

async function seed(kv) {
  for (const [name, record] of Object.entries(USERS)) {
    await kv.put(`user:${name}`, JSON.stringify(record));
  }
}

const example = (vars = {}) => useWorker(vars, { script: EXAMPLE_SCRIPT });

describe("examples/hello: the handler behind the filter", () => {
  const w = example();
  before(() => seed(w.kv));

  it("no identity: 401 from the filter, the handler never runs, no cookie", async () => {
    const r = await send(w, "/");
    assert.equal(r.status, 401);
    assert.equal(r.text, "authentication required: no identity was presented\n");
    assert.equal(r.res.headers.get("www-authenticate"), "RemoteUser");
    assert.equal(r.res.headers.get("cache-control"), "no-store");
    assert.equal(r.res.headers.get("x-content-type-options"), "nosniff");
    assert.deepEqual(r.res.headers.getSetCookie(), []);
  });

  it("an identity: 200, the greeting names the user and the groups, exactly one Set-Cookie", async () => {
    const r = await send(w, "/", { headers: { [HEADER]: ANN } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, `Hello, ${ANN}!\nYour groups: ops, dev\n`);
    assert.equal(r.res.headers.getSetCookie().length, 1, "exactly one Set-Cookie");
    const { all, pair } = sessionCookie(r.res);
    assert.equal(all.length, 1);
    assert.equal(decodeJwt(tokenOf(pair)).payload.sub, ANN);

    // The next request carries the cookie: still ann, and no new cookie.
    const next = await send(w, "/", { headers: { [HEADER]: ANN, cookie: pair } });
    assert.equal(next.status, 200, next.text);
    assert.equal(next.text, `Hello, ${ANN}!\nYour groups: ops, dev\n`);
    assert.deepEqual(next.res.headers.getSetCookie(), [], "no Set-Cookie with a valid session");
  });

  it("/groups: the user's name, email and groups as JSON", async () => {
    const r = await send(w, "/groups", { headers: { [HEADER]: ANN } });
    assert.equal(r.status, 200, r.text);
    assert.match(r.res.headers.get("content-type"), /^application\/json/);
    assert.deepEqual(JSON.parse(r.text), { username: ANN, email: ANN, groups: ["ops", "dev"] });
  });

  it("an unknown user is created and greeted with no groups", async () => {
    const user = "new.user@example.com";
    const r = await send(w, "/", { headers: { [HEADER]: user } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, `Hello, ${user}!\nYour groups: none\n`);
    assert.equal(sessionCookie(r.res).all.length, 1);
    assert.equal(JSON.parse(await w.kv.get(`user:${user}`)).username, user);
  });

  it("an inactive user: 403, no cookie, the handler never runs", async () => {
    const r = await send(w, "/", { headers: { [HEADER]: IVAN } });
    assert.equal(r.status, 403);
    assert.equal(r.text, "forbidden: this identity may not sign in here\n");
    assert.deepEqual(r.res.headers.getSetCookie(), []);
  });

  it("a route the router does not know: its 404, still with the login's cookie", async () => {
    const r = await send(w, "/nowhere", { headers: { [HEADER]: ANN } });
    assert.equal(r.status, 404);
    assert.equal(sessionCookie(r.res).all.length, 1);
  });

  it("/app/: forwarded to ORIGIN_URL with the identity headers; client copies and our cookie stripped", async () => {
    const login = await send(w, "/", { headers: { [HEADER]: ANN } });
    const { pair } = sessionCookie(login.res);
    const seen = w.origin.requests.length;
    // node:http keeps every spelling as sent (fetch would refuse none, but folds none either).
    const r = await rawRequest(w, "/app/page?x=1", [
      [HEADER, ANN],
      ["Cookie", `theme=dark; ${pair}`],
      ["X-Remote-User", "mallory@example.com"],
      ["X_Remote_User", "mallory@example.com"],
      ["x-remote-user-groups", "admin"],
      ["X-Other", "kept"],
    ], "POST");
    assert.equal(r.status, 200, r.text);
    assert.equal(w.origin.requests.length, seen + 1, "the origin was reached once");
    const echo = JSON.parse(r.text);
    assert.equal(echo.method, "POST");
    assert.equal(echo.url, "/app/page?x=1");
    assert.equal(echo.headers["x-remote-user"], ANN);
    assert.equal(echo.headers["x-remote-user-email"], ANN);
    assert.equal(echo.headers["x-remote-user-groups"], "ops,dev");
    assert.equal(echo.headers.x_remote_user, undefined, "the `_` spelling is stripped");
    assert.equal(echo.headers.cookie, "theme=dark", "our session cookie never reaches the origin");
    assert.equal(echo.headers["x-other"], "kept");
    assert.equal(echo.headers[HEADER.toLowerCase()], ANN, "the gateway's header named ann: kept");
    // The origin's own cookie comes back; the session was valid, so none of ours.
    assert.deepEqual(r.setCookie, ["origin=1; Path=/"]);
  });

  it("/app/ on a first login: the origin's response carries the one session cookie", async () => {
    const r = await send(w, "/app/", { headers: { [HEADER]: "proxy.first@example.com" } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.echo.headers["x-remote-user"], "proxy.first@example.com");
    const cookies = r.res.headers.getSetCookie();
    assert.equal(cookies.length, 2, cookies.join(" | "));
    assert.equal(cookies[0], "origin=1; Path=/");
    assert.ok(cookies[1].startsWith(`${COOKIE}=`), cookies[1]);
  });
});

describe("examples/hello: a broken configuration", () => {
  const w = example({ SESSION_SECRET: "xq7zk" });

  it("500 naming the filter type and the setting, never the value; the log has the full text", async () => {
    const r = await send(w, "/", { headers: { [HEADER]: ANN } });
    assert.equal(r.status, 500);
    assert.match(r.text, /^configuration error: `SessionFilter` /);
    assert.ok(r.text.includes("SESSION_SECRET"), r.text);
    assert.ok(!r.text.includes("xq7zk"), "the secret is not in the body");
    assert.deepEqual(r.res.headers.getSetCookie(), []);
    assert.equal(w.origin.requests.length, 0);
    const line = await waitForLog(w, '{"event":"config_error"');
    assert.ok(line, "the configuration error is logged");
    assert.ok(line.message.includes("at least 32 bytes"), line.message);
  });
});

/** What a client can tell of an answer: status, body, the headers the filter sets. */
async function answerOf(w, headers, path = "/", method = "GET") {
  const r = await rawRequest(w, path, headers, method);
  const pick = [
    "content-type",
    "cache-control",
    "x-content-type-options",
    "www-authenticate",
    "location",
    "content-security-policy",
  ];
  return {
    status: r.status,
    text: r.text,
    headers: Object.fromEntries(pick.map((name) => [name, r.headers[name]])),
    setCookie: r.setCookie,
  };
}

describe("examples/hello answers as the stock worker does", () => {
  const stock = useWorker();
  const hello = example();
  before(() => Promise.all([seed(stock.kv), seed(hello.kv)]));

  /** A session cookie for ann, issued by `w`. */
  async function annSession(w) {
    return sessionCookie((await send(w, "/", { headers: { [HEADER]: ANN } })).res).pair;
  }

  const JSON_ACCEPT = ["Accept", "application/json"];
  const BROWSER = ["Accept", "text/html,application/xhtml+xml,*/*;q=0.8"];
  const cases = [
    ["no identity (401)", () => []],
    ["an inactive user (403)", () => [[HEADER, IVAN]]],
    ["an identity header over 320 bytes (400)", () => [[HEADER, `${"a".repeat(330)}@example.com`]]],
    ["an identity sent twice (400)", () => [[HEADER, ANN], [HEADER, IVAN]]],
    // Refusals in the form the client reads: JSON, a page, JSON to a script.
    ["no identity, Accept: application/json (401 JSON)", () => [JSON_ACCEPT]],
    ["an inactive user, a browser (403 page)", () => [[HEADER, IVAN], BROWSER]],
    ["an identity sent twice, fetch() (400 JSON)", () => [[HEADER, ANN], [HEADER, IVAN], ["Sec-Fetch-Dest", "empty"]]],
  ];
  for (const [name, headers] of cases) {
    it(name, async () => {
      const [a, b] = await Promise.all([answerOf(stock, headers()), answerOf(hello, headers())]);
      assert.notEqual(a.status, 200, a.text);
      assert.equal(a.headers["x-content-type-options"], "nosniff");
      assert.deepEqual(b, a);
    });
  }

  it("sign-out (GET and POST): the same 302 to Access's sign-out and the same removal cookie", async () => {
    for (const method of ["GET", "POST"]) {
      const [a, b] = await Promise.all(
        [stock, hello].map(async (w) =>
          answerOf(w, [[HEADER, ANN], ["Cookie", await annSession(w)]], "/.auth/logout", method),
        ),
      );
      assert.equal(a.status, 302, method);
      assert.equal(a.headers.location, "/cdn-cgi/access/logout");
      assert.equal(a.setCookie.length, 1, "the removal cookie");
      assert.deepEqual(b, a, method);
    }
  });

  it("who-am-I: the same JSON, and the same page for a browser", async () => {
    const [a, b] = await Promise.all(
      [stock, hello].map(async (w) => answerOf(w, [[HEADER, ANN], ["Cookie", await annSession(w)]], "/.auth/me")),
    );
    assert.equal(a.status, 200);
    const [ja, jb] = [JSON.parse(a.text), JSON.parse(b.text)];
    assert.equal(ja.username, ANN);
    assert.deepEqual(ja.groups, ["ops", "dev"]);
    // Each session began when its worker logged ann in: compare all but the expiry's second.
    delete ja.session_expires_at;
    delete jb.session_expires_at;
    assert.deepEqual(jb, ja);
    assert.deepEqual({ ...b, text: "" }, { ...a, text: "" });
    const [pa, pb] = await Promise.all(
      [stock, hello].map((w) => answerOf(w, [[HEADER, ANN], ["Accept", "text/html"]], "/.auth/me")),
    );
    assert.equal(pa.status, 200);
    assert.match(pa.text, /Signed in as <span id="username">ann@example\.com<\/span>/);
    const strip = (page) => page.replace(/<dd id="expires">[^<]*<\/dd>/, "");
    assert.equal(strip(pb.text), strip(pa.text));
    assert.equal(pb.headers["content-security-policy"], pa.headers["content-security-policy"]);
  });

  it("a session of ann with an inactive user's header: logout, 403 and the same removal cookie", async () => {
    const [a, b] = await Promise.all(
      [stock, hello].map(async (w) => answerOf(w, [[HEADER, IVAN], ["Cookie", await annSession(w)]])),
    );
    assert.equal(a.status, 403);
    assert.equal(a.setCookie.length, 1, "the removal cookie");
    assert.deepEqual(b, a);
  });
});

describe("examples/hello answers a broken configuration as the stock worker does", () => {
  const vars = { AUTH_FILTERS: "session,gateway_jwt,remote_user", ACCESS_TEAM_DOMAIN: undefined };
  const stock = useWorker(vars);
  const hello = example(vars);

  it("the same 500", async () => {
    const [a, b] = await Promise.all([answerOf(stock, [[HEADER, ANN]]), answerOf(hello, [[HEADER, ANN]])]);
    assert.equal(a.status, 500);
    assert.match(a.text, /`GatewayJwtFilter`.*ACCESS_TEAM_DOMAIN/);
    assert.deepEqual(b, a);
  });

  it("the same 500 in JSON to Accept: application/json", async () => {
    const headers = [[HEADER, ANN], ["Accept", "application/json"]];
    const [a, b] = await Promise.all([answerOf(stock, headers), answerOf(hello, headers)]);
    assert.equal(a.status, 500);
    assert.equal(JSON.parse(a.text).reason, "config_error");
    assert.deepEqual(b, a);
  });
});

describe("examples/hello with CORS_PREFLIGHT=pass: Admitted::forward sends a preflight on bare", () => {
  const w = example({ CORS_PREFLIGHT: "pass" });
  before(() => seed(w.kv));

  it("no credentials, no method override, no body reach the origin; the CORS headers do", async () => {
    const login = await send(w, "/", { headers: { [HEADER]: ANN } });
    const { pair } = sessionCookie(login.res);
    const credentials = {
      cookie: `${pair}; sessionid=django-session`,
      authorization: "Bearer not-for-a-preflight",
      "proxy-authorization": "Basic cHJveHk6cHJveHk=",
      "x-http-method-override": "DELETE",
      "x-http-method": "DELETE",
      "x-method-override": "DELETE",
      x_http_method_override: "DELETE",
      "content-type": "application/json",
    };
    const r = await send(w, "/app/items/1", {
      method: "OPTIONS",
      headers: { origin: "https://spa.example", "access-control-request-method": "DELETE", ...credentials },
      body: '{"confirm":true}',
    });
    assert.equal(r.status, 200, r.text);
    const seen = r.echo;
    assert.equal(seen.method, "OPTIONS");
    assert.equal(seen.url, "/app/items/1");
    assert.equal(seen.headers.origin, "https://spa.example");
    assert.equal(seen.headers["access-control-request-method"], "DELETE");
    const fold = (n) => n.toLowerCase().replaceAll("_", "-");
    const leaked = Object.keys(seen.headers).filter((n) => fold(n) in credentials || n in credentials);
    assert.deepEqual(leaked, [], JSON.stringify(seen.headers));
    assert.equal(seen.body, "", "no body");
    assert.equal(seen.headers["x-remote-user"], undefined, "no identity");
    assert.deepEqual(r.res.headers.getSetCookie(), ["origin=1; Path=/"], "no session cookie");
  });
});
