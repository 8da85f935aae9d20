// The stock worker in real workerd, driven by a real browser: Debian's chromium through
// playwright-core (no browser download), with the gateway's identity header added to every
// request as the gateway would add it. What a browser keeps and sends is what decides whether
// the session works: the `__Host-` cookie must be stored from the first response and sent
// back on every later one, and a page must never need a second login.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import http from "node:http";
import { COOKIE, HEADER, useWorker } from "../e2e/harness.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Our session cookie's `Set-Cookie` lines in a response (the echo origin sets its own too). */
async function ourSetCookies(response) {
  const headers = await response.headersArray();
  return headers
    .filter((h) => h.name.toLowerCase() === "set-cookie")
    .flatMap((h) => h.value.split("\n"))
    .filter((line) => line.startsWith(`${COOKIE}=`));
}

describe("a real browser (chromium) through the stock worker, header mode", () => {
  const w = useWorker();
  let browser;
  before(async () => {
    await w.kv.put(
      "user:ann@example.com",
      JSON.stringify({ username: "ann@example.com", is_active: true, email: "ann@example.com", groups: ["ops"] }),
    );
    // Root in CI: Chrome's sandbox needs user namespaces it may not have there.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  });
  after(async () => browser?.close());

  it("the first page load logs in with one Set-Cookie the browser keeps; ten more send none and reach the origin as the user", async () => {
    const context = await browser.newContext({ extraHTTPHeaders: { [HEADER]: "ann@example.com" } });
    try {
      const page = await context.newPage();
      const first = await page.goto(`${w.url}/app`);
      assert.equal(first.status(), 200);
      assert.equal((await ourSetCookies(first)).length, 1, "one Set-Cookie at login");
      const kept = (await context.cookies()).filter((c) => c.name === COOKIE);
      assert.equal(kept.length, 1, "the browser stored the __Host- session cookie");
      assert.ok(kept[0].httpOnly && kept[0].secure, "HttpOnly and Secure");
      const seenAtLogin = JSON.parse(await first.text());
      assert.equal(seenAtLogin.headers["x-remote-user"], "ann@example.com");

      // Every response the page gets from here on, the browser's own favicon requests too.
      const responses = [];
      page.on("response", (r) => responses.push(r));
      const before = w.origin.requests.length;
      for (let i = 0; i < 10; i++) {
        const res = await page.goto(`${w.url}/app/page-${i}`);
        assert.equal(res.status(), 200);
        assert.deepEqual(await ourSetCookies(res), [], `load ${i + 2}: no Set-Cookie`);
        const seen = JSON.parse(await res.text());
        assert.equal(seen.url, `/app/page-${i}`);
        assert.equal(seen.headers["x-remote-user"], "ann@example.com");
        assert.equal(seen.headers["x-remote-user-groups"], "ops");
        assert.ok(!(seen.headers.cookie ?? "").includes(COOKIE), "our cookie never reaches the origin");
      }
      const pages = w.origin.requests.slice(before).filter((r) => r.url.startsWith("/app/"));
      assert.equal(pages.length, 10);
      for (const r of responses) {
        assert.deepEqual(await ourSetCookies(r), [], `${r.url()}: no Set-Cookie`);
      }
      assert.ok(responses.length >= 10);
    } finally {
      await context.close();
    }
  });

  it("a browser the gateway did not vouch for gets 401 and no cookie", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const res = await page.goto(`${w.url}/app`);
      assert.equal(res.status(), 401);
      assert.deepEqual(await ourSetCookies(res), []);
      assert.deepEqual((await context.cookies()).filter((c) => c.name === COOKIE), []);
    } finally {
      await context.close();
    }
  });
});

/**
 * A stand-in for Cloudflare Access in front of the worker, on loopback: while someone is
 * signed in (`gateway.identity`) it adds their identity header to every request; it answers
 * its own sign-out path (`/cdn-cgi/access/logout`) itself, as Access does before any worker
 * runs, and from then on vouches for no one. `signOuts` lists what reached it.
 */
async function startGateway(worker) {
  const target = new URL(worker);
  const signOuts = [];
  const gateway = { identity: undefined, signOuts };
  const server = http.createServer((req, res) => {
    if (new URL(req.url, "http://gateway").pathname === "/cdn-cgi/access/logout") {
      signOuts.push(`${req.method} ${req.url}`);
      gateway.identity = undefined;
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("signed out of Access");
      return;
    }
    const headers = { ...req.headers, host: target.host };
    delete headers[HEADER.toLowerCase()];
    if (gateway.identity) headers[HEADER.toLowerCase()] = gateway.identity;
    const upstream = http.request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers },
      (answer) => {
        res.writeHead(answer.statusCode, answer.rawHeaders);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return Object.assign(gateway, {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  });
}

describe("a real browser: who-am-I, the sign-out button, a path rule", () => {
  const w = useWorker({ RULES: "/admin/=admins" });
  let browser;
  let gateway;
  before(async () => {
    gateway = await startGateway(w.url);
    await w.kv.put(
      "user:ann@example.com",
      JSON.stringify({ username: "ann@example.com", is_active: true, email: "ann@example.com", groups: ["ops", "dev"] }),
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  });
  after(async () => {
    await browser?.close();
    await gateway?.close();
  });

  it("the who-am-I page shows the user; its sign-out button clears the cookie and lands on Access's sign-out", async () => {
    gateway.identity = "ann@example.com";
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const me = await page.goto(`${gateway.url}/.auth/me`);
      assert.equal(me.status(), 200);
      assert.equal(await page.textContent("#username"), "ann@example.com");
      assert.equal(await page.textContent("#groups"), "ops, dev");
      assert.equal(await page.textContent("#gateway"), "cloudflare_access");
      assert.equal((await context.cookies()).filter((c) => c.name === COOKIE).length, 1, "signed in");

      const signOut = [];
      page.on("response", (r) => {
        if (new URL(r.url()).pathname === "/.auth/logout") signOut.push(r);
      });
      await Promise.all([page.waitForURL("**/cdn-cgi/access/logout"), page.click("#sign-out")]);
      assert.equal(signOut.length, 1);
      assert.equal(signOut[0].status(), 302);
      assert.equal(signOut[0].request().method(), "POST");
      assert.equal((await ourSetCookies(signOut[0])).length, 1, "the cookie's removal");
      assert.deepEqual(gateway.signOuts, ["GET /cdn-cgi/access/logout"], "the gateway's sign-out was reached");
      assert.equal(await page.textContent("body"), "signed out of Access");
      assert.deepEqual(
        (await context.cookies()).filter((c) => c.name === COOKIE),
        [],
        "the browser dropped the session cookie",
      );
    } finally {
      await context.close();
    }
  });

  it("a path rule refuses a user outside its group with 403; the origin never sees the request", async () => {
    gateway.identity = "ann@example.com";
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const seen = w.origin.requests.length;
      const res = await page.goto(`${gateway.url}/admin/settings`);
      assert.equal(res.status(), 403);
      assert.match(await page.textContent("body"), /the rule for `\/admin\/` does not admit this user/);
      assert.equal(w.origin.requests.filter((r) => r.url.startsWith("/admin/")).length, 0);
      // The same browser still opens the rest of the app as Ann.
      const app = await page.goto(`${gateway.url}/app`);
      assert.equal(app.status(), 200);
      assert.equal(JSON.parse(await app.text()).headers["x-remote-user"], "ann@example.com");
      assert.ok(w.origin.requests.length > seen);
    } finally {
      await context.close();
    }
  });
});
