// Rules per path (RULES) in workerd: the longest matching prefix decides, `*` admits any
// signed-in user, an unmatched path any signed-in user; a refusal is 403 and the origin sees
// nothing. Both the text form and the JSON array wrangler passes for a TOML array var.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HEADER, COOKIE, send, sessionCookie, useWorker } from "./harness.mjs";

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
    const open = await send(w, "/admin", { headers: h });
    assert.equal(open.status, 200, "`/admin` is not under `/admin/`");
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
