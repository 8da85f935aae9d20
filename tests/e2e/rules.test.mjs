// Rules per path (RULES) in workerd: the longest matching prefix decides, `*` admits any
// signed-in user, an unmatched path any signed-in user; a refusal is 403 and the origin sees
// nothing. Both the text form and the JSON array wrangler passes for a TOML array var.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HEADER, COOKIE, send, sendRaw, sessionCookie, useWorker } from "./harness.mjs";

const USERS = {
  "root@example.com": ["admins"],
  "ann@example.com": ["staff"],
  "nog@example.com": [],
};

async function seed(w) {
  for (const [user, groups] of Object.entries(USERS)) {
    await w.kv.put(`user:${user}`, JSON.stringify({ username: user, is_active: true, groups }));
  }
}

/** The same behaviour, whichever form RULES takes. */
function rulesBehave(w) {
  it("an admin reaches /admin/x as themselves", async () => {
    await seed(w);
    const r = await send(w, "/admin/x", { headers: { [HEADER]: "root@example.com" } });
    assert.equal(r.status, 200);
    assert.equal(r.echo.url, "/admin/x");
    assert.equal(r.echo.headers["x-remote-user"], "root@example.com");
  });

  it("a non-admin gets 403 naming the rule, and the origin sees nothing", async () => {
    await seed(w);
    const seen = w.origin.requests.length;
    const r = await send(w, "/admin/x", { headers: { [HEADER]: "ann@example.com" } });
    assert.equal(r.status, 403);
    assert.equal(r.text, "forbidden: the rule for `/admin/` does not admit this user\n");
    assert.ok(!r.text.includes("staff"), "the user's groups are not shown");
    assert.equal(w.origin.requests.length, seen, "the origin is not contacted");
    // The login made on this request stands: its one cookie goes out with the 403.
    const { all, pair } = sessionCookie(r.res);
    assert.equal(all.length, 1);
    // With that session: refused again, no cookie (not logged out), and /api/ still opens.
    const again = await send(w, "/admin/y", { headers: { [HEADER]: "ann@example.com", cookie: pair } });
    assert.equal(again.status, 403);
    assert.deepEqual(again.res.headers.getSetCookie(), []);
    assert.equal(w.origin.requests.length, seen);
    const api = await send(w, "/api/v1", { headers: { [HEADER]: "ann@example.com", cookie: pair } });
    assert.equal(api.status, 200);
    assert.equal(api.echo.headers["x-remote-user"], "ann@example.com");
    assert.deepEqual(api.res.headers.getSetCookie().filter((c) => c.startsWith(`${COOKIE}=`)), []);
  });

  it("a user without groups: refused under /admin/, admitted by `*` and where no rule matches", async () => {
    await seed(w);
    const h = { [HEADER]: "nog@example.com" };
    assert.equal((await send(w, "/admin/", { headers: h })).status, 403);
    const api = await send(w, "/api/items?x=1", { headers: h });
    assert.equal(api.status, 200);
    assert.equal(api.echo.url, "/api/items?x=1");
    // A rule covers its path with and without the trailing `/`, not what merely starts alike.
    assert.equal((await send(w, "/admin", { headers: h })).status, 403, "`/admin` is under `/admin/`");
    const open = await send(w, "/administrator", { headers: h });
    assert.equal(open.status, 200, "`/administrator` is not under `/admin/`");
    assert.equal(open.echo.headers["x-remote-user"], "nog@example.com");
  });
}

describe("RULES, text form", () => {
  const w = useWorker({ RULES: "/admin/=admins; /admin/public/=*; /api/=*" });
  rulesBehave(w);

  it("the longest prefix wins", async () => {
    await seed(w);
    const r = await send(w, "/admin/public/page", { headers: { [HEADER]: "ann@example.com" } });
    assert.equal(r.status, 200);
  });
});

describe("RULES, JSON array var (a TOML array in wrangler.toml)", () => {
  const w = useWorker({
    RULES: [
      { path: "/admin/", groups: ["admins"] },
      { path: "/api/", groups: ["*"] },
    ],
  });
  rulesBehave(w);
});

describe("RULES, a bad rule", () => {
  const w = useWorker({ RULES: [{ path: "admin/", groups: ["admins"] }] });

  it("every request is 500 naming the filter and the setting; the log has the value", async () => {
    const seen = w.origin.requests.length;
    const r = await send(w, "/", { headers: { [HEADER]: "root@example.com" } });
    assert.equal(r.status, 500);
    assert.equal(
      r.text,
      "configuration error: `PathRulesFilter` setting RULES must be a rule whose path starts with `/`; " +
        "the worker's log has the details\n",
    );
    assert.equal(w.origin.requests.length, seen);
  });
});

describe("RULES: every spelling of a ruled path", () => {
  const w = useWorker({ RULES: "/admin/=admins; /api/=*", ANONYMOUS: "pass" });
  const ann = { [HEADER]: "ann@example.com" };

  it("a non-admin is refused at every spelling that reads as /admin/…, and the origin sees none", async () => {
    await seed(w);
    const seen = w.origin.requests.length;
    for (const target of ["/ADMIN/x", "/Admin", "/%61dmin/x", "/%41DMIN/x", "//admin/x", "/admin;x/y", "/x/%2e%2e/admin/x"]) {
      const r = await sendRaw(w, target, { headers: ann });
      assert.equal(r.status, 403, `${target}: ${r.text}`);
    }
    for (const target of ["/admin%2Fx", "/%2Fadmin/x", "/x/..%2Fadmin/x", "/x/..;/admin/x", "/static/..;/admin/x", "/admin%00/x"]) {
      const r = await sendRaw(w, target, { headers: ann });
      assert.equal(r.status, 400, `${target}: ${r.text}`);
      assert.match(r.text, /^bad request: the path /);
    }
    assert.equal(w.origin.requests.length, seen, "the origin is not contacted");
  });

  it("with no identity (ANONYMOUS=pass) the same spellings need a sign-in", async () => {
    for (const target of ["/ADMIN/x", "/%61dmin/x", "//admin/x", "/admin;x/y"]) {
      assert.equal((await sendRaw(w, target)).status, 401, target);
    }
  });

  it("an admin's request reaches the origin at its canonical path, the query as sent", async () => {
    await seed(w);
    const r = await sendRaw(w, "//%61dmin/./x/%7euser?q=a%2Fb&x=%61", { headers: { [HEADER]: "root@example.com" } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.echo.url, "/admin/x/~user?q=a%2Fb&x=%61");
    for (const target of ["/files/a%20b.txt", "/api/items/%E2%9C%93", "/search?q=a%2Fb&x=%61"]) {
      const ok = await sendRaw(w, target, { headers: ann });
      assert.equal(ok.status, 200, target);
      assert.equal(ok.echo.url, target, "legitimate paths arrive byte for byte");
    }
  });
});

describe("RULES per method and host", () => {
  const w = useWorker({
    RULES: "GET,HEAD /reports/=staff,admins; /reports/=admins; admin.example.com/=admins",
  });

  it("staff may read reports but not change them, nor claim another method", async () => {
    await seed(w);
    const ann = { [HEADER]: "ann@example.com" };
    assert.equal((await send(w, "/reports/q1", { headers: ann })).status, 200);
    assert.equal((await send(w, "/reports/q1", { headers: ann, method: "HEAD" })).status, 200);
    assert.equal((await send(w, "/reports/q1", { headers: ann, method: "POST", body: "x" })).status, 403);
    const override = { ...ann, "X-HTTP-Method-Override": "DELETE" };
    assert.equal((await send(w, "/reports/q1", { headers: override })).status, 403);
    const root = { [HEADER]: "root@example.com" };
    assert.equal((await send(w, "/reports/q1", { headers: root, method: "POST", body: "x" })).status, 200);
  });

  it("a host rule holds on that host only", async () => {
    await seed(w);
    const onAdmin = (user) => sendRaw(w, "/settings", { headers: { Host: "admin.example.com", [HEADER]: user } });
    assert.equal((await onAdmin("ann@example.com")).status, 403);
    assert.equal((await onAdmin("root@example.com")).status, 200);
    assert.equal((await send(w, "/settings", { headers: { [HEADER]: "ann@example.com" } })).status, 200);
  });
});

describe("RULES with ANONYMOUS=pass", () => {
  const w = useWorker({ RULES: "/admin/=admins; /api/=*", ANONYMOUS: "pass" });

  it("a ruled path still needs someone signed in (401, origin untouched); others pass anonymously", async () => {
    const seen = w.origin.requests.length;
    assert.equal((await send(w, "/api/v1")).status, 401);
    assert.equal((await send(w, "/admin/x")).status, 401);
    assert.equal(w.origin.requests.length, seen);
    const open = await send(w, "/open");
    assert.equal(open.status, 200);
    assert.equal(open.echo.headers["x-remote-user"], undefined);
  });
});
