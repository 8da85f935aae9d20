// A loopback stand-in for the Workers KV service that counts operations, reached by a real
// `kvNamespaces` binding through Miniflare's remote-binding client (the same technique as
// tests/e2e/harness.mjs `startKvApi`). Only for the short counting runs: every KV operation
// makes a round trip to this Node server, so it is not used for throughput.
import http from "node:http";

export async function startKvApi() {
  const store = new Map();
  const counts = { GET: 0, PUT: 0, other: 0 };
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const target = req.headers["mf-url"];
      if (!target) {
        // The client's RPC-session probe, not a KV operation.
        res.statusCode = 400;
        return res.end();
      }
      const key = decodeURIComponent(new URL(target).pathname.slice(1));
      if (req.method === "GET") {
        counts.GET += 1;
        if (!store.has(key)) {
          res.statusCode = 404;
          return res.end();
        }
        return res.end(store.get(key));
      }
      if (req.method === "PUT") {
        counts.PUT += 1;
        store.set(key, body);
        return res.end();
      }
      counts.other += 1;
      res.statusCode = 501;
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}/`;
  return {
    store,
    counts,
    reset() {
      counts.GET = counts.PUT = counts.other = 0;
    },
    binding: { USERS: { id: "users", remoteProxyConnectionString: new URL(url) } },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
