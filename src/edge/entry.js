// The worker's entry point: with src/edge/reply.js (the reply decoder), the only JavaScript of
// remote-user-filter (scripts/build.sh bundles both with the wasm-bindgen glue into
// build/index.js).
//
// Every decision is made in Rust (src/edge/worker.rs, src/edge/wire.rs). This file only moves strings
// across the JS/wasm boundary, once each way per request, because each crossing costs more
// than the filter itself: the headers the chain reads go in as `name\tvalue` lines, and one
// encoded reply comes back, which this file carries out with the runtime's own Headers,
// fetch and Response. (Only a refusal whose form the headers sent in cannot decide, and an
// origin that cannot be reached, cost a second crossing: the headers a refusal's form is
// decided on go in then, so that a forwarded request never pays for reading them.)

import { __wbg_reset_state, configure, handle, originUnreachable, refusal } from "../../build/glue/index.js";
import { decode, fold } from "./reply.js";

/**
 * What configure() said, once per isolate (see `Plan` in src/edge/wire.rs): the headers to send in
 * (null: all); `strip`, folded names (see `fold`) never forwarded in any spelling; `guard`,
 * the gateway's own headers by folded name → the one spelling forwarded, and only when the
 * reply says they named the forwarded user; `bare`, folded names a preflight let through
 * without authentication loses (credentials, method overrides, a body's headers);
 * `negotiate`, the headers a refusal's form is decided on, sent in only for a refusal.
 */
let plan = null;
/** Set when the wasm module trapped (a bug): it is re-instantiated before the next request. */
let trapped = false;
/**
 * The requests waiting on a reply Promise, each by the function that answers it 500 instead:
 * a trapped instance never settles them (the trap ends the microtask that would have).
 */
const waiting = new Set();
/** What `untilSettled` gives a request whose instance trapped while it waited. */
const TRAPPED = Symbol("trapped");

/**
 * The wasm module trapped: mark it for re-instantiation before the next request, and answer
 * every request waiting on it (500) now. Three ways in:
 * - a Rust panic (the release profile aborts): src/edge/worker.rs's panic hook calls
 *   `globalThis.__remoteUserFilterTrap` before the abort, wherever the panic happens;
 * - a RuntimeError (or a stack overflow's RangeError) thrown by a synchronous call, below;
 * - one thrown from a microtask or a promise reaction, where the wasm-bindgen-futures queue
 *   and JsFuture callbacks run: workerd reports it as a global `error` or
 *   `unhandledrejection` event. That also covers traps the panic hook never sees: out of
 *   memory (Rust's allocation-failure handler aborts without panicking), a stack overflow
 *   (V8's RangeError, or a RuntimeError when Rust's own stack runs out).
 * A trap somewhere workerd reports neither way would go unseen: the requests waiting on the
 * module would hang until the runtime gives up on them, and the module would stay in use.
 */
function trap(error) {
  if (!trapped) {
    console.error(
      `remote-user-filter: internal error: the wasm module trapped (${error}); ` +
        `${waiting.size} waiting request(s) answered 500, re-instantiating before the next one`,
    );
  }
  trapped = true;
  for (const answer of waiting) answer(TRAPPED);
  waiting.clear();
}

/** Whether `error`, thrown out of the wasm module, means the module trapped. */
function isTrap(error) {
  return error instanceof WebAssembly.RuntimeError || error instanceof RangeError;
}

globalThis.__remoteUserFilterTrap = () => trap("a Rust panic, logged above");
if (typeof addEventListener === "function") {
  addEventListener("error", (event) => isTrap(event.error) && trap(event.error));
  addEventListener("unhandledrejection", (event) => isTrap(event.reason) && trap(event.reason));
}

/** The reply `promise` settles to, or TRAPPED as soon as the instance traps. */
async function untilSettled(promise) {
  let answer;
  const trappedFirst = new Promise((resolve) => (answer = resolve));
  waiting.add(answer);
  try {
    return await Promise.race([promise, trappedFirst]);
  } finally {
    waiting.delete(answer);
  }
}

function ready(env) {
  if (trapped) {
    __wbg_reset_state();
    trapped = false;
    plan = null;
  }
  if (plan === null) {
    const [read, strip = "", guard = "", bare = "", negotiate = ""] = configure(env).split("\n");
    const names = (line) => line.split("\t").filter(Boolean);
    plan = {
      read: read === "*" ? null : names(read),
      strip: new Set(names(strip)),
      guard: new Map(names(guard).map((name) => [fold(name), name])),
      bare: new Set(names(bare)),
      negotiate: names(negotiate),
    };
  }
  return plan;
}

/** The request headers the chain reads, as `name\tvalue` lines (no value holds a newline). */
function headerLines(headers, read) {
  let lines = "";
  if (read === null) {
    for (const [name, value] of headers) lines += `${name}\t${value}\n`;
    return lines;
  }
  for (const name of read) {
    const value = headers.get(name);
    if (value !== null) lines += `${name}\t${value}\n`;
  }
  return lines;
}

/**
 * An answer the wasm module cannot give (it trapped): plain text, not sniffed, not cached.
 */
function plainText(status, body, extra = []) {
  const headers = new Headers([
    ["Content-Type", "text/plain; charset=utf-8"],
    ["Cache-Control", "no-store"],
    ["X-Content-Type-Options", "nosniff"],
    ...extra,
  ]);
  return new Response(body, { status, headers });
}

/** A bug's answer: no detail (it is logged), not cached. */
function internalError() {
  return plainText(500, "remote-user-filter: internal error\n");
}

/** The Response for a decoded `R` reply. */
function respond(decoded) {
  const headers = new Headers(decoded.headers);
  if (decoded.setCookie !== "") headers.append("Set-Cookie", decoded.setCookie);
  // No body (a sign-out's redirect): none at all, so the runtime adds no Content-Type.
  const body = decoded.body === "" ? null : decoded.body;
  return new Response(body, { status: Number(decoded.first), headers });
}

async function forward(request, reply, { strip, guard, bare, negotiate }) {
  const headers = new Headers(request.headers);
  // Client copies of the identity headers and the gateway secret never reach the origin, in
  // any spelling an origin may fold into them; the gateway's own headers only as spelled
  // and only when they named the forwarded user. Neither does our session cookie. A
  // preflight let through without authentication (`P`) goes on bare: no credentials, no
  // method override, no body.
  const keepGateway = reply.body.includes("G");
  const preflight = reply.body.includes("P");
  const drop = [];
  // Names only: `keys()` builds no [name, value] pair and no value string per header.
  for (const name of headers.keys()) {
    const folded = fold(name);
    if (strip.has(folded) || (preflight && bare.has(folded))) drop.push(name);
    else if (guard.has(folded) && !(keepGateway && guard.get(folded) === name)) drop.push(name);
  }
  for (const name of drop) headers.delete(name);
  if (reply.cookie === "-") headers.delete("cookie");
  else if (reply.cookie !== "") headers.set("cookie", reply.cookie.slice(1));
  for (const [name, value] of reply.headers) headers.set(name, value);
  let response;
  try {
    response = await fetch(reply.first, {
      method: request.method,
      headers,
      body: preflight ? null : request.body,
      redirect: "manual",
    });
  } catch (error) {
    console.error(`remote-user-filter: the origin could not be reached: ${error}`);
    // A login that just happened stands: its cookie still goes out, so a retry needs no KV.
    // The 502 is written in the form the client reads (Rust decides, from the same lines).
    if (!trapped) {
      try {
        return respond(decode(originUnreachable(headerLines(request.headers, negotiate), reply.setCookie)));
      } catch (e) {
        if (isTrap(e)) trap(e);
      }
    }
    const extra = reply.setCookie === "" ? [] : [["Set-Cookie", reply.setCookie]];
    return plainText(502, "the origin could not be reached, try again later\n", extra);
  }
  if (reply.setCookie === "") return response;
  // A fetched response's headers are immutable: copy them, then add our one cookie.
  response = new Response(response.body, response);
  response.headers.append("Set-Cookie", reply.setCookie);
  return response;
}

export default {
  async fetch(request, env) {
    let reply;
    let p;
    try {
      p = ready(env);
      reply = handle(request.method, request.url, headerLines(request.headers, p.read));
      if (typeof reply !== "string") reply = await untilSettled(reply);
      // A refusal whose form needs the headers not sent in yet: settled with them (not by an
      // instance that trapped meanwhile).
      if (reply !== TRAPPED && reply.startsWith("N")) {
        if (trapped) return internalError();
        reply = refusal(reply, headerLines(request.headers, p.negotiate));
      }
    } catch (error) {
      if (isTrap(error)) trap(error);
      else console.error(`remote-user-filter: internal error: ${error}`);
      return internalError();
    }
    if (reply === TRAPPED) return internalError();
    const decoded = decode(reply);
    if (decoded.kind === "F") return forward(request, decoded, p);
    return respond(decoded);
  },
};
