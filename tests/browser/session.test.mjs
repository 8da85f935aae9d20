// The stock worker in real workerd, driven by a real browser: Debian's chromium through
// playwright-core (no browser download), with the gateway's identity header added to every
// request as the gateway would add it. What a browser keeps and sends is what decides whether
// the session works: the `__Host-` cookie must be stored from the first response and sent
// back on every later one, and a page must never need a second login.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
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
