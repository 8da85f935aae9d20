// Real origins behind the worker: Django (its own RemoteUserMiddleware, under uvicorn),
// Express 4 (default options: case-insensitive routing) and nginx, each with an admin route,
// a public prefix and a catch-all, on loopback. The stock worker runs in workerd in front of
// each with RULES="/admin/=admins" and PUBLIC_PATHS="/static/", and a matrix of crafted
// spellings is sent as an admin, as a non-admin and with no identity, byte for byte (no URL
// parsing on this side: workerd's own parser is part of what is tested; a target with a byte
// node:http will not send, a literal tab or space, goes over a plain socket).
//
// Done when, for every origin: the non-admin never gets an answer from the admin route; a
// request with no identity reaches only the static route (ANONYMOUS=deny) or anything but
// the admin route (ANONYMOUS=pass); the worker answers no 5xx; legitimate paths arrive byte
// for byte; a forwarded preflight carries no credentials. Each origin's counts are printed.
//
// WORKER=DIR runs another build (e.g. the one before issue 18) against the same matrix.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import express from "express";
import { HEADER, STOCK_SCRIPT, sendRaw, startWorker } from "../e2e/harness.mjs";

const SCRIPT = process.env.WORKER ? path.join(process.env.WORKER, "index.js") : STOCK_SCRIPT;
const ROOT = "root@example.com";
const ENG = "eng@example.com";
const USERS = { [ROOT]: ["admins"], [ENG]: [] };
const VARS = { RULES: "/admin/=admins", PUBLIC_PATHS: "/static/" };

/** A free loopback port. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Poll `url` until it answers (a server started as a child process). */
async function waitFor(url, child, ms = 30000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`${url}: the server exited (${child.exitCode})`);
    const ok = await new Promise((resolve) => {
      http.get(url, (res) => (res.resume(), resolve(true))).on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

/** Kill every child and remove every temporary directory at exit, and on SIGINT/SIGTERM (which skip `exit` handlers). */
const children = new Set();
const tempDirs = new Set();
const killAll = () => {
  children.forEach((kill) => kill());
  tempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true }));
};
/** A temporary directory, removed at exit whatever happens. */
function tempDir(prefix) {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}
process.on("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    killAll();
    process.kill(process.pid, signal);
  });
}

/**
 * A child process that is killed at exit, whatever happens. It must be one process (nginx
 * runs with `master_process off`): a SIGKILLed nginx master would leave its workers behind.
 */
function child(command, args, options) {
  const proc = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"], ...options });
  let stderr = "";
  proc.stderr.on("data", (d) => (stderr += d));
  const kill = () => proc.exitCode === null && proc.signalCode === null && proc.kill("SIGKILL");
  children.add(kill);
  proc.once("exit", () => children.delete(kill));
  return { proc, stderr: () => stderr, stop: () => (kill(), new Promise((r) => (proc.exitCode !== null || proc.signalCode !== null ? r() : proc.once("exit", r)))) };
}

async function startDjango() {
  const state = tempDir("origins-django-");
  const port = await freePort();
  const c = child(".venv-origins/bin/uvicorn", ["--app-dir", "tests/origins", "--host", "127.0.0.1", "--port", String(port), "--log-level", "warning", "django_app:application"], {
    env: { ...process.env, ORIGIN_STATE_DIR: state },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/ready`, c.proc);
  return { name: "django", url, stop: async () => (await c.stop(), rmSync(state, { recursive: true, force: true })) };
}

async function startExpress() {
  const app = express(); // default: case-insensitive, non-strict routing
  const report = (route) => (req, res) => {
    let length = 0;
    req.on("data", (c) => (length += c.length));
    req.on("end", () =>
      res.json({
        origin: "express",
        route,
        user: req.get("x-remote-user") ?? "",
        raw: req.originalUrl,
        cookie: req.get("cookie") ?? "",
        authorization: req.get("authorization") ?? "",
        proxy_authorization: req.get("proxy-authorization") ?? "",
        method_override: ["x-http-method-override", "x-http-method", "x-method-override"].map((h) => req.get(h) ?? "").join(""),
        body_length: length,
        method: req.method,
      }),
    );
  };
  // X-Origin on every answer (as Django and nginx set it): the test tells the origin's from the worker's.
  app.use((req, res, next) => (res.set("X-Origin", "express"), next()));
  app.use("/admin", report("admin"));
  app.use("/static", report("static"));
  app.use(report("other"));
  const server = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  return {
    name: "express",
    url: `http://127.0.0.1:${server.address().port}`,
    stop: () => new Promise((r) => (server.close(() => r()), server.closeAllConnections())),
  };
}

async function startNginx() {
  const dir = tempDir("origins-nginx-");
  const port = await freePort();
  const body = (route) =>
    `'{"origin":"nginx","route":"${route}","user":"$http_x_remote_user","raw":"$request_uri",` +
    `"cookie":"$http_cookie","authorization":"$http_authorization","proxy_authorization":"$http_proxy_authorization",` +
    `"method_override":"$http_x_http_method_override$http_x_http_method$http_x_method_override",` +
    `"body_length":"$content_length","method":"$request_method"}'`;
  writeFileSync(
    path.join(dir, "nginx.conf"),
    `master_process off;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir};
  proxy_temp_path ${dir};
  fastcgi_temp_path ${dir};
  uwsgi_temp_path ${dir};
  scgi_temp_path ${dir};
  default_type application/json;
  server {
    listen 127.0.0.1:${port};
    add_header X-Origin nginx always;
    location /admin/ { return 200 ${body("admin")}; }
    location /static/ { return 200 ${body("static")}; }
    location / { return 200 ${body("other")}; }
  }
}
`,
  );
  const c = child("nginx", ["-c", path.join(dir, "nginx.conf"), "-p", dir, "-e", path.join(dir, "error.log")], {});
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/ready`, c.proc);
  return { name: "nginx", url, stop: async () => (await c.stop(), rmSync(dir, { recursive: true, force: true })) };
}

/** Each letter of `word` percent-encoded in turn, with upper- and lower-case hex. */
function encodedLetters(word) {
  const out = [];
  for (let i = 0; i < word.length; i++) {
    const hex = word.charCodeAt(i).toString(16);
    for (const h of new Set([hex.toUpperCase(), hex.toLowerCase()])) out.push(word.slice(0, i) + `%${h}` + word.slice(i + 1));
  }
  return out;
}

/** Crafted spellings of the admin route, and of a way out of the public prefix. */
export function craftedPaths() {
  const set = new Set([
    // issue 18's first table
    "/%61dmin/x", "/admin%2Fx", "/Admin/x", "/ADMIN/x", "/admin;x/y", "/x/..;/admin/x", "//admin/x",
    "/%2Fadmin/x", "/x/..%2Fadmin/x", "/static/..;/admin/x",
    // each letter encoded, each letter upper-case
    ...encodedLetters("admin").map((a) => `/${a}/x`),
    ..."admin".split("").map((_, i) => `/${"admin".slice(0, i)}${"admin"[i].toUpperCase()}${"admin".slice(i + 1)}/x`),
    // `;params` on each segment, `..;` and `.;`
    "/admin;p/x", "/admin/x;p", "/admin;jsessionid=1/x", "/;p/admin/x", "/x;p/../admin/x", "/x/.;/admin/x",
    "/x/..;p/admin/x", "/static;p/../admin/x", "/static/.;/../admin/x", "/x/;p/../admin/x",
    // `//` at each place
    "//admin/x", "/admin//x", "///admin/x", "/admin/x//", "/static//../admin/x",
    // encoded separators, double encoding
    "/admin%2fx", "/admin%5Cx", "/admin%5cx", "/%5Cadmin/x", "/static/..%2Fadmin/x", "/static/..%5Cadmin/x",
    "/static%2F..%2Fadmin/x", "/admin%252Fx", "/%252Fadmin/x", "/static/..%252Fadmin/x",
    // NUL, tabs and other controls; a literal tab or space (workerd ends the target there)
    "/admin%00/x", "/admin/x%00", "/admin%09/x", "/ad%09min/x", "/admin%0A/x", "/admin%0d%0a/x",
    "/admin\t/x", "/ad\tmin/x", "/admin /x",
    // a literal backslash (WHATWG URL parsing reads it as `/`)
    "/\\admin/x", "/admin\\x", "/static/..\\admin/x",
    // dot segments, encoded
    "/x/%2e%2e/admin/x", "/x/%2E%2E/admin/x", "/%2e/admin/x", "/x/.%2e/admin/x", "/static/%2e%2e/admin/x",
    "/static/%2e%2e%2fadmin/x",
    // trailing dots and spaces
    "/admin./x", "/admin../x", "/admin/x.", "/admin%20/x",
    // the path itself
    "/admin", "/admin/", "/Admin", "/ADMIN", "/admin%2F",
  ]);
  return [...set];
}

/**
 * A request with this exact target over a plain socket, for the bytes node:http refuses to
 * send (a tab, a space). Returns what `sendRaw` does: { status, headers, text, echo }.
 */
function sendSocket(w, target, { headers = {} } = {}) {
  const u = new URL(w.url);
  const head = [`GET ${target} HTTP/1.1`, `Host: ${u.host}`, "Connection: close"];
  for (const [name, value] of Object.entries(headers)) head.push(`${name}: ${value}`);
  return new Promise((resolve, reject) => {
    const chunks = [];
    const socket = net.connect(Number(u.port), u.hostname);
    socket.on("data", (c) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => {
      const raw = Buffer.concat(chunks).toString("latin1");
      const split = raw.indexOf("\r\n\r\n");
      const lines = raw.slice(0, split).split("\r\n");
      const status = Number(lines[0].split(" ")[1]);
      const headers = Object.fromEntries(
        lines.slice(1).map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]),
      );
      let body = Buffer.from(raw.slice(split + 4), "latin1");
      if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
        const parts = [];
        for (let at = 0; ; ) {
          const eol = body.indexOf("\r\n", at);
          const size = parseInt(body.subarray(at, eol).toString("latin1"), 16);
          if (!size) break;
          parts.push(body.subarray(eol + 2, eol + 2 + size));
          at = eol + 2 + size + 2;
        }
        body = Buffer.concat(parts);
      }
      const text = body.toString("utf8");
      let echo;
      try {
        echo = JSON.parse(text);
      } catch {
        echo = undefined;
      }
      resolve({ status, headers, text, echo });
    });
    socket.end(Buffer.from(`${head.join("\r\n")}\r\n\r\n`, "latin1"));
  });
}

/** `sendRaw`, or `sendSocket` for a target node:http will not send. */
const send = (w, target, options) => (/[^\x21-\xff]/.test(target) ? sendSocket : sendRaw)(w, target, options);

/** Legitimate paths: they must arrive byte for byte. */
const LEGIT = ["/files/a%20b.txt", "/api/items/%E2%9C%93", "/search?q=a%2Fb&x=%61", "/static/app.js?v=1", "/a/b?x=%2e%2e%2F&y=%00"];

const IDENTITIES = [
  { who: "admin", headers: { [HEADER]: ROOT } },
  { who: "non-admin", headers: { [HEADER]: ENG } },
  { who: "none", headers: {} },
];

/** What the origin said, if the response came from it. */
function fromOrigin(r, origin) {
  return r.echo && r.echo.origin === origin ? r.echo : null;
}

/** The matrix against one origin; returns the violations and the counts. */
async function drive(w, origin, { anonymous }) {
  const violations = [];
  const counts = { sent: 0, forwarded: 0, byStatus: {}, byOrigin: {}, adminRoute: { admin: 0, "non-admin": 0, none: 0 } };
  for (const target of craftedPaths()) {
    for (const { who, headers } of IDENTITIES) {
      const r = await send(w, target, { headers });
      counts.sent++;
      const seen = fromOrigin(r, origin);
      const where = `${origin} ${who} ${JSON.stringify(target)}`;
      // Not the origin's report: the worker's answer, or the origin's own refusal (X-Origin).
      const own = !seen && r.headers["x-origin"] === origin;
      if (seen || own) counts.forwarded++;
      if (own) counts.byOrigin[r.status] = (counts.byOrigin[r.status] ?? 0) + 1;
      else if (!seen) counts.byStatus[r.status] = (counts.byStatus[r.status] ?? 0) + 1;
      if (seen?.route === "admin") counts.adminRoute[who]++;
      if (!seen && !own && r.status >= 500) violations.push(`${where}: the worker answered ${r.status} ${r.text.trim()}`);
      // The worker itself answers these paths only with a refusal: a success that is not the
      // origin's report (an origin's JSON broken by what it echoed) would hide a forward.
      if (!seen && r.status < 300) violations.push(`${where}: ${r.status} that is not ${origin}'s report: ${r.text.slice(0, 200)}`);
      if (!seen) continue;
      if (who === "non-admin" && seen.route === "admin") violations.push(`${where}: reached the admin route (origin read ${seen.raw})`);
      if (who === "none" && anonymous === "deny" && seen.route !== "static")
        violations.push(`${where}: reached the ${seen.route} route with no identity (origin read ${seen.raw})`);
      if (who === "none" && anonymous === "pass" && seen.route === "admin")
        violations.push(`${where}: reached the admin route with no identity (origin read ${seen.raw})`);
    }
  }
  return { violations, counts };
}

/** Start the three origins once; each describe block puts workers in front of them. */
const origins = {};
before(async () => {
  for (const start of [startDjango, startExpress, startNginx]) {
    const o = await start();
    origins[o.name] = o;
  }
});
after(async () => {
  for (const o of Object.values(origins)) await o.stop();
});

const summary = [];
after(() => {
  if (summary.length) console.log(["", "real origins, per origin and configuration:", ...summary].join("\n"));
});

for (const name of ["django", "express", "nginx"]) {
  describe(`${name} behind the worker`, () => {
    const workers = {};
    before(async () => {
      for (const [mode, vars] of [
        ["deny", VARS],
        ["pass", { ...VARS, ANONYMOUS: "pass", CORS_PREFLIGHT: "pass" }],
      ]) {
        const w = await startWorker(origins[name], vars, { script: SCRIPT });
        w.kv = await w.mf.getKVNamespace("USERS");
        for (const [user, groups] of Object.entries(USERS)) {
          await w.kv.put(`user:${user}`, JSON.stringify({ username: user, is_active: true, groups }));
        }
        workers[mode] = w;
      }
    });
    after(async () => {
      for (const w of Object.values(workers)) await w.mf.dispose();
    });

    it("controls: the admin reaches the admin route as themselves; the non-admin gets 403", async () => {
      const w = workers.deny;
      const root = await sendRaw(w, "/admin/x", { headers: { [HEADER]: ROOT } });
      assert.equal(fromOrigin(root, name)?.route, "admin", root.text);
      assert.equal(fromOrigin(root, name).user, ROOT);
      const eng = await sendRaw(w, "/admin/x", { headers: { [HEADER]: ENG } });
      assert.equal(eng.status, 403, eng.text);
    });

    for (const anonymous of ["deny", "pass"]) {
      it(`no crafted spelling reaches a route the origin would refuse at its canonical path (ANONYMOUS=${anonymous})`, async () => {
        const { violations, counts } = await drive(workers[anonymous], name, { anonymous });
        const list = (byStatus) => Object.entries(byStatus).map(([s, n]) => `${s}: ${n}`).join(", ");
        const statuses = list(counts.byStatus);
        summary.push(
          `  ${name} ANONYMOUS=${anonymous}: ${counts.sent} requests (${craftedPaths().length} spellings × 3 identities), ` +
            `answered by the worker {${statuses}}, forwarded ${counts.forwarded} ` +
            `(refused by ${name} itself {${list(counts.byOrigin)}}), at the admin route: ` +
            `admin ${counts.adminRoute.admin}, non-admin ${counts.adminRoute["non-admin"]}, none ${counts.adminRoute.none}; ` +
            `violations ${violations.length}`,
        );
        assert.deepEqual(violations, [], `${violations.length} violations:\n${violations.join("\n")}`);
      });
    }

    it("legitimate paths arrive byte for byte, the query untouched, as the admin, the non-admin and (public) no one", async () => {
      for (const target of LEGIT) {
        const identities = target.startsWith("/static/") ? IDENTITIES : IDENTITIES.filter((i) => i.who !== "none");
        for (const { who, headers } of identities) {
          const r = await sendRaw(workers.deny, target, { headers });
          const where = `${name} ${who} ${target}`;
          assert.equal(r.status, 200, `${where}: ${r.text}`);
          assert.equal(fromOrigin(r, name)?.raw, target, `${where}: ${r.text}`);
          // A public path is forwarded as an anonymous pass is, whoever asks.
          const user = target.startsWith("/static/") ? "" : headers[HEADER];
          assert.equal(fromOrigin(r, name).user, user, `${where}: the origin's user`);
        }
      }
    });

    it("a forwarded preflight (CORS_PREFLIGHT=pass) carries no credentials, body or method override", async () => {
      const r = await new Promise((resolve, reject) => {
        const u = new URL(workers.pass.url);
        const req = http.request(
          {
            host: u.hostname,
            port: u.port,
            path: "/admin/x",
            method: "OPTIONS",
            headers: {
              Host: u.host,
              Origin: "https://other.example",
              "Access-Control-Request-Method": "DELETE",
              Cookie: "sessionid=stolen; csrftoken=x",
              Authorization: "Bearer secret",
              "Proxy-Authorization": "Basic c2VjcmV0",
              "X-HTTP-Method-Override": "DELETE",
              "X-HTTP-Method": "DELETE",
              "X-Method-Override": "DELETE",
              "Content-Type": "text/plain",
              "Content-Length": "5",
            },
          },
          (res) => {
            let text = "";
            res.on("data", (c) => (text += c));
            res.on("end", () => resolve({ status: res.statusCode, text }));
          },
        );
        req.on("error", reject);
        req.end("hello");
      });
      let seen;
      try {
        seen = JSON.parse(r.text);
      } catch {
        seen = null;
      }
      assert.equal(seen?.origin, name, `the preflight reaches the origin: ${r.status} ${r.text}`);
      assert.equal(seen.user, "", "no identity");
      // Everything the preflight carried to the origin, in one message.
      const carried = {};
      for (const field of ["cookie", "authorization", "proxy_authorization", "method_override"]) {
        if (seen[field]) carried[field] = seen[field];
      }
      if (Number(seen.body_length)) carried.body_length = Number(seen.body_length);
      assert.deepEqual(carried, {}, `${name}: a forwarded preflight OPTIONS /admin/x carried ${JSON.stringify(carried)}`);
    });
  });
}
