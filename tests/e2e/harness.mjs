// Shared e2e harness: a loopback echo origin and the built worker in real workerd through
// Miniflare's API (no wrangler proxy), with a local KV namespace `USERS`.
import http from "node:http";
import { Miniflare } from "miniflare";

export const SECRET = "e2e-session-secret-0123456789abcdef0123456789";
export const HEADER = "Cf-Access-Authenticated-User-Email";
export const COOKIE = "__Host-remote-user-session";

/** A loopback origin that answers with the method, path and headers it received. */
export async function startOrigin() {
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      res.setHeader("content-type", "application/json");
      res.setHeader("set-cookie", "origin=1; Path=/");
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${server.address().port}` };
}

/** Start the worker with these [vars] (merged over the stock defaults). */
export async function startWorker(origin, vars = {}, { kv = ["USERS"] } = {}) {
  const bindings = { SESSION_SECRET: SECRET, ORIGIN_URL: origin.url, ...vars };
  for (const [k, v] of Object.entries(bindings)) if (v === undefined) delete bindings[k];
  const mf = new Miniflare({
    workers: [
      {
        name: "remote-user-filter",
        modules: true,
        scriptPath: "build/index.js",
        modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
        compatibilityDate: "2026-07-01",
        kvNamespaces: kv,
        bindings,
      },
    ],
  });
  const url = await mf.ready;
  return { mf, url: url.toString().replace(/\/$/, "") };
}

/** The `name=value` part of the session cookie in a response, if any. */
export function sessionCookie(res) {
  const all = res.headers.getSetCookie();
  const ours = all.filter((c) => c.startsWith(`${COOKIE}=`));
  return { all: ours, pair: ours.length ? ours[0].split(";")[0] : undefined };
}
