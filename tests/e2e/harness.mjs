// Shared e2e harness: a loopback echo origin and the built worker in real workerd through
// Miniflare's API (no wrangler proxy), with a local KV namespace `USERS`.
import http from "node:http";
import { createHmac, generateKeyPairSync, sign as cryptoSign } from "node:crypto";
import { before, after } from "node:test";
import { Miniflare } from "miniflare";

export const SECRET = "e2e-session-secret-0123456789abcdef0123456789";
export const HEADER = "Cf-Access-Authenticated-User-Email";
/** Cloudflare Access's signed assertion header, its JWKS path and its get-identity path. */
export const JWT_HEADER = "Cf-Access-Jwt-Assertion";
export const CERTS_PATH = "/cdn-cgi/access/certs";
export const IDENTITY_PATH = "/cdn-cgi/access/get-identity";
export const COOKIE = "__Host-remote-user-session";
export const DEFAULT_TTL = 28800;

/** Close a server and the keep-alive connections workerd may still hold to it. */
function closeServer(server) {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}

/**
 * A loopback origin that answers with the method, path, headers and body it received.
 * Every request it saw is also kept in `requests` (so a test can tell it was never reached).
 */
export async function startOrigin() {
  const requests = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const seen = { method: req.method, url: req.url, headers: req.headers, body };
      requests.push(seen);
      res.setHeader("content-type", "application/json");
      res.setHeader("set-cookie", "origin=1; Path=/");
      res.end(JSON.stringify(seen));
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    server,
    requests,
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => closeServer(server),
  };
}

/** The stock worker, built by scripts/build.sh. */
export const STOCK_SCRIPT = "build/index.js";
/** The workers-rs example (examples/hello), built by scripts/build-example.sh. */
export const EXAMPLE_SCRIPT = "examples/hello/build/index.js";

/**
 * Start the worker with these [vars] (merged over the stock defaults; `undefined` removes one).
 * `kv` is Miniflare's `kvNamespaces` (a list of local bindings, or a record, e.g. one whose
 * `remoteProxyConnectionString` points at `startKvApi`). `script` is the built worker to run
 * (default: the stock one). `workerOptions` are more Miniflare options for the worker (e.g.
 * `wrappedBindings`), `extraWorkers` more workers beside it. `upstream` is Miniflare's: every
 * request reaches the worker with its URL rewritten to start with it (as if the worker were
 * routed in front of that host). Worker logs are collected in `logs` (printed too when
 * E2E_VERBOSE is set).
 */
export async function startWorker(
  origin,
  vars = {},
  { kv = ["USERS"], script = STOCK_SCRIPT, workerOptions = {}, extraWorkers = [], upstream } = {},
) {
  // Header mode unless a test says otherwise: issue 2's behaviours do not depend on how the
  // gateway proves itself; the gateway tests set AUTH_FILTERS/GATEWAY themselves.
  const bindings = {
    SESSION_SECRET: SECRET,
    ORIGIN_URL: origin.url,
    AUTH_FILTERS: "session,remote_user",
    TRUST_UNSIGNED_HEADER: "true",
    ...vars,
  };
  for (const [k, v] of Object.entries(bindings)) if (v === undefined) delete bindings[k];
  const logs = [];
  const mf = new Miniflare({
    host: "127.0.0.1",
    ...(upstream ? { upstream } : {}),
    handleStructuredLogs: (log) => {
      logs.push(log);
      if (process.env.E2E_VERBOSE) console.error(`[workerd ${log.level}] ${log.message}`);
    },
    workers: [
      {
        name: "remote-user-filter",
        modules: true,
        scriptPath: script,
        modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
        compatibilityDate: "2026-07-01",
        kvNamespaces: kv,
        bindings,
        ...workerOptions,
      },
      ...extraWorkers,
    ],
  });
  const url = await mf.ready;
  return { mf, logs, url: url.toString().replace(/\/$/, "") };
}

/**
 * For a describe-block: start an origin and one worker before its tests, dispose both after.
 * The returned object is filled in by the `before` hook: { origin, mf, url, logs, kv? }.
 * `setup` may start extra things first (e.g. a fake KV API) and return startWorker options.
 */
export function useWorker(vars = {}, options = {}, setup = undefined) {
  const ctx = {};
  before(async () => {
    ctx.origin = await startOrigin();
    let opts = options;
    if (setup) opts = { ...options, ...(await setup(ctx)) };
    Object.assign(ctx, await startWorker(ctx.origin, vars, opts));
    const local = opts.kv ?? ["USERS"];
    if (Array.isArray(local) && local.includes("USERS")) ctx.kv = await ctx.mf.getKVNamespace("USERS");
  });
  after(async () => {
    await ctx.mf?.dispose();
    await ctx.origin?.close();
    await ctx.kvApi?.close();
  });
  return ctx;
}

/** The `name=value` part of the session cookie in a response, if any. */
export function sessionCookie(res) {
  const all = res.headers.getSetCookie();
  const ours = all.filter((c) => c.startsWith(`${COOKIE}=`));
  return { all: ours, pair: ours.length ? ours[0].split(";")[0] : undefined };
}

/** A Set-Cookie line as { name, value, attrs } (attribute names lower-cased; flags map to true). */
export function parseSetCookie(line) {
  const [pair, ...rest] = line.split(";").map((s) => s.trim());
  const eq = pair.indexOf("=");
  const attrs = {};
  for (const a of rest) {
    if (!a) continue;
    const i = a.indexOf("=");
    if (i < 0) attrs[a.toLowerCase()] = true;
    else attrs[a.slice(0, i).toLowerCase()] = a.slice(i + 1);
  }
  return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attrs };
}

/** The token in a `name=value` cookie pair. */
export function tokenOf(pair) {
  return pair.slice(pair.indexOf("=") + 1);
}

/** Decode a JWT (no verification): { header, payload, signature }. */
export function decodeJwt(token) {
  const [h, p, s] = token.split(".");
  return {
    header: JSON.parse(Buffer.from(h, "base64url").toString("utf8")),
    payload: JSON.parse(Buffer.from(p, "base64url").toString("utf8")),
    signature: s,
  };
}

/** An HS256 JWT over `payload`, signed with `secret` (the one header the worker writes and accepts). */
export function signJwt(payload, secret, header = { alg: "HS256", typ: "JWT" }) {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const input = `${enc(header)}.${enc(payload)}`;
  const sig = createHmac("sha256", secret).update(input).digest("base64url");
  return `${input}.${sig}`;
}

/** Seconds since the epoch. */
export const nowSecs = () => Math.floor(Date.now() / 1000);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** GET (or another method) through the worker; returns the Response and the echo, if any. */
export async function send(w, path = "/", { headers = {}, method = "GET", body } = {}) {
  const res = await fetch(`${w.url}${path}`, { method, headers, body, redirect: "manual" });
  const text = await res.text();
  let echo;
  try {
    echo = JSON.parse(text);
  } catch {
    echo = undefined;
  }
  return { res, status: res.status, text, echo };
}

/**
 * A request with exact header lines (repeated names, names fetch might refuse or fold), via
 * node:http. `headers` is a list of [name, value]. Returns { status, headers, setCookie, text }.
 */
export function rawRequest(w, path, headers, method = "GET") {
  const u = new URL(`${w.url}${path}`);
  // Raw header lists get no default Host header from node:http; workerd needs one.
  const hasHost = headers.some(([name]) => name.toLowerCase() === "host");
  const flat = (hasHost ? headers : [["Host", u.host], ...headers]).flat();
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: flat },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (text += c));
        res.on("end", () =>
          resolve({
            status: res.statusCode,
            headers: res.headers,
            setCookie: res.headers["set-cookie"] ?? [],
            text,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/**
 * A request whose target is sent byte for byte as `target` (no URL parsing on this side, so
 * `//`, `%2e` and `..;` reach workerd as a client could send them). `headers` is an object.
 * Returns { status, headers, setCookie, text, echo }.
 */
export function sendRaw(w, target, { headers = {}, method = "GET" } = {}) {
  const u = new URL(w.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: target, method, headers: { Host: u.host, ...headers } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (text += c));
        res.on("end", () => {
          let echo;
          try {
            echo = JSON.parse(text);
          } catch {
            echo = undefined;
          }
          resolve({ status: res.statusCode, headers: res.headers, setCookie: res.headers["set-cookie"] ?? [], text, echo });
        });
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** All keys in the local USERS namespace. */
export async function kvKeys(kv) {
  const keys = [];
  let cursor;
  do {
    const page = await kv.list({ cursor });
    keys.push(...page.keys.map((k) => k.name));
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return keys.sort();
}

export { startKvApi } from "./kv-api.mjs";

/** Wait (up to `ms`) for a worker log line containing `text`; returns it or undefined. */
export async function waitForLog(w, text, ms = 2000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = w.logs.find((l) => l.message.includes(text));
    if (found || Date.now() > deadline) return found;
    await sleep(25);
  }
}

/** RFC 3339 date-time. */
export const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * An RSA-2048 key for signing gateway assertions (RS256): `privateKey`, and `jwk`, the public
 * half as a JWKS entry named `kid`.
 */
export function rsaSigningKey(kid) {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { kid, privateKey, jwk: { ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" } };
}

/**
 * A Cloudflare Access assertion for `email` from `issuer` to `audience`, RS256 with `key`,
 * valid for an hour; `claims` override the defaults.
 */
export function accessAssertion(key, email, { issuer, audience, claims = {} }) {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = nowSecs();
  const header = { alg: "RS256", kid: key.kid, typ: "JWT" };
  const payload = { iss: issuer, aud: [audience], email, sub: `sub-${email}`, iat: now - 10, nbf: now - 10, exp: now + 3600, ...claims };
  const input = `${enc(header)}.${enc(payload)}`;
  return `${input}.${cryptoSign("sha256", Buffer.from(input), key.privateKey).toString("base64url")}`;
}

/** A loopback JWKS endpoint serving `keys` (from `rsaSigningKey`) at any path: { url, close }. */
export async function startJwksServer(keys, path = CERTS_PATH) {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keys: keys.map((k) => k.jwk) }));
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}${path}`, close: () => closeServer(server) };
}
