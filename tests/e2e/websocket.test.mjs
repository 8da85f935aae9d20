// WebSockets through the stock worker (issue 11): an upgrade request is authenticated like any
// other and proxied through to the origin (101 with the socket), including when it is the
// request that logs the user in (its one Set-Cookie rides on the 101).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import http from "node:http";
import { COOKIE, HEADER, startWorker } from "./harness.mjs";

/**
 * A loopback origin that accepts WebSocket upgrades and, once open, sends one text message:
 * the JSON of the path and headers its upgrade request carried. Plain HTTP gets 426.
 */
async function startWsOrigin() {
  const upgrades = [];
  const sockets = new Set();
  const server = http.createServer((_req, res) => {
    res.statusCode = 426;
    res.end("upgrade required\n");
  });
  server.on("upgrade", (req, socket) => {
    upgrades.push({ url: req.url, headers: req.headers });
    sockets.add(socket);
    const accept = createHash("sha1")
      .update(`${req.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest("base64");
    socket.write(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    const payload = Buffer.from(JSON.stringify({ url: req.url, headers: req.headers }));
    // One unmasked text frame (the server side sends unmasked); lengths up to 65535.
    const head = payload.length < 126
      ? Buffer.from([0x81, payload.length])
      : Buffer.from([0x81, 126, payload.length >> 8, payload.length & 0xff]);
    socket.write(Buffer.concat([head, payload]));
    socket.on("error", () => {});
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    upgrades,
    url: `http://127.0.0.1:${server.address().port}`,
    close: () =>
      new Promise((r) => {
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections?.();
        server.close(r);
      }),
  };
}

/** Open a WebSocket through the worker; resolves with the response and the first message. */
async function connect(w, path, headers) {
  const res = await w.mf.dispatchFetch(`${w.url}${path}`, { headers: { Upgrade: "websocket", ...headers } });
  if (res.status !== 101) return { res, message: null };
  const ws = res.webSocket;
  const message = new Promise((resolve, reject) => {
    ws.addEventListener("message", (e) => resolve(JSON.parse(e.data)));
    ws.addEventListener("error", reject);
    setTimeout(() => reject(new Error("no message within 5 s")), 5000);
  });
  ws.accept();
  const first = await message;
  ws.close();
  return { res, message: first };
}

describe("WebSockets through the stock worker", () => {
  let origin;
  let w;
  before(async () => {
    origin = await startWsOrigin();
    w = await startWorker(origin);
    const kv = await w.mf.getKVNamespace("USERS");
    await kv.put("user:ann@example.com", JSON.stringify({ username: "ann@example.com", is_active: true, groups: ["ops"] }));
  });
  after(async () => {
    await w?.mf.dispose();
    await origin?.close();
  });

  it("the upgrade that logs the user in is proxied (101, the socket) and carries the one Set-Cookie", async () => {
    const { res, message } = await connect(w, "/ws/chat", { [HEADER]: "ann@example.com", "X-Remote-User": "mallory" });
    assert.equal(res.status, 101);
    const cookies = res.headers.getSetCookie().filter((c) => c.startsWith(`${COOKIE}=`));
    assert.equal(cookies.length, 1, "the login's cookie rides on the 101");
    assert.equal(message.url, "/ws/chat");
    assert.equal(message.headers["x-remote-user"], "ann@example.com", "the origin sees the user, not the client's copy");
    assert.equal(message.headers["x-remote-user-groups"], "ops");

    // With the session cookie: proxied again, no new cookie.
    const pair = cookies[0].split(";")[0];
    const again = await connect(w, "/ws/again", { [HEADER]: "ann@example.com", Cookie: pair });
    assert.equal(again.res.status, 101);
    assert.deepEqual(again.res.headers.getSetCookie().filter((c) => c.startsWith(`${COOKIE}=`)), []);
    assert.equal(again.message.headers["x-remote-user"], "ann@example.com");
    assert.ok(!(again.message.headers.cookie ?? "").includes(COOKIE), "our cookie never reaches the origin");
  });

  it("an upgrade without an identity is refused (401) and never reaches the origin", async () => {
    const before = origin.upgrades.length;
    const { res } = await connect(w, "/ws/chat", {});
    assert.equal(res.status, 401);
    assert.equal(origin.upgrades.length, before);
  });
});
