// A loopback stand-in for the Workers KV service, reached by a real `kvNamespaces` binding
// through Miniflare's remote-binding client (`remoteProxyConnectionString`). Shared by the
// e2e tests (failures, call counts) and the benchmark's counting runs (bench/run.mjs); every
// KV operation is a round trip to this Node server, so it is never used for throughput.
import http from "node:http";

/**
 * Stores values in `store`, logs each KV operation in `ops` as { method, key }, and fails the
 * verbs listed in `failing` (e.g. ["GET"], ["PUT"]) with 503, as an unreachable KV would.
 * Verbs in `hang` are never answered (a KV that does not respond); every answer waits
 * `delayMs` first (so concurrent requests overlap).
 * `counts()` tallies `ops` by verb; `reset()` empties `ops`.
 */
export async function startKvApi({ failing = [], hang = [], delayMs = 0 } = {}) {
  const store = new Map();
  const ops = [];
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
      ops.push({ method: req.method, key });
      if (hang.includes(req.method)) return;
      if (delayMs > 0) return setTimeout(() => answer(req, res, key, body), delayMs);
      answer(req, res, key, body);
    });
  });
  function answer(req, res, key, body) {
    {
      if (failing.includes(req.method)) {
        res.statusCode = 503;
        return res.end("KV is down");
      }
      if (req.method === "GET") {
        if (!store.has(key)) {
          res.statusCode = 404;
          return res.end();
        }
        return res.end(store.get(key));
      }
      if (req.method === "PUT") {
        store.set(key, body);
        return res.end();
      }
      res.statusCode = 501;
      res.end();
    }
  }
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}/`;
  return {
    store,
    ops,
    url,
    counts() {
      const n = (m) => ops.filter((o) => o.method === m).length;
      return { GET: n("GET"), PUT: n("PUT"), other: ops.length - n("GET") - n("PUT") };
    },
    reset() {
      ops.length = 0;
    },
    binding: { USERS: { id: "users", remoteProxyConnectionString: new URL(url) } },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
