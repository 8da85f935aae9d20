// The worker's entry point, the only JavaScript of remote-user-filter (scripts/build.sh
// bundles it with the wasm-bindgen glue into build/index.js).
//
// Every decision is made in Rust (src/edge.rs, src/wire.rs). This file only moves strings
// across the JS/wasm boundary, once each way per request, because each crossing costs more
// than the filter itself: the headers the chain reads go in as `name\tvalue` lines, and one
// encoded reply comes back, which this file carries out with the runtime's own Headers,
// fetch and Response.

import { __wbg_reset_state, configure, handle } from "../build/glue/index.js";

/**
 * What configure() said, once per isolate (see `Plan` in src/wire.rs): the headers to send in
 * (null: all); `strip`, folded names (see `fold`) never forwarded in any spelling; `guard`,
 * the gateway's own headers by folded name → the one spelling forwarded, and only when the
 * reply says they named the forwarded user.
 */
let plan = null;
/** Set when the wasm module trapped (a bug): it is re-instantiated before the next request. */
let trapped = false;

function ready(env) {
  if (trapped) {
    __wbg_reset_state();
    trapped = false;
    plan = null;
  }
  if (plan === null) {
    const [read, strip = "", guard = ""] = configure(env).split("\n");
    const names = (line) => line.split("\t").filter(Boolean);
    plan = {
      read: read === "*" ? null : names(read),
      strip: new Set(names(strip)),
      guard: new Map(names(guard).map((name) => [fold(name), name])),
    };
  }
  return plan;
}

/**
 * A header name as an origin that folds `_` into `-` (WSGI bridges, older gunicorn/Puma)
 * reads it. Names from `Headers` are already lower-case.
 */
function fold(name) {
  return name.includes("_") ? name.replaceAll("_", "-") : name;
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
 * Decode a reply (see `Reply::encode` in src/wire.rs): kind, target or status, Set-Cookie,
 * Cookie action, `name\tvalue` lines up to an empty line, then the body (a forward's is `G`
 * when the gateway's own headers go on).
 */
function decode(reply) {
  let at = 0;
  const line = () => {
    const end = reply.indexOf("\n", at);
    const text = reply.slice(at, end < 0 ? reply.length : end);
    at = end < 0 ? reply.length : end + 1;
    return text;
  };
  const kind = line();
  const first = line();
  const setCookie = line();
  const cookie = line();
  const headers = [];
  for (let l = line(); l !== ""; l = line()) {
    const tab = l.indexOf("\t");
    headers.push([l.slice(0, tab), l.slice(tab + 1)]);
  }
  return { kind, first, setCookie, cookie, headers, body: reply.slice(at) };
}

function plainText(status, body, extra = []) {
  const headers = new Headers([
    ["Content-Type", "text/plain; charset=utf-8"],
    ["Cache-Control", "no-store"],
    ...extra,
  ]);
  return new Response(body, { status, headers });
}

async function forward(request, reply, { strip, guard }) {
  const headers = new Headers(request.headers);
  // Client copies of the identity headers and the gateway secret never reach the origin, in
  // any spelling an origin may fold into them; the gateway's own headers only as spelled
  // and only when they named the forwarded user. Neither does our session cookie.
  const keepGateway = reply.body === "G";
  const drop = [];
  for (const [name] of headers) {
    const folded = fold(name);
    if (strip.has(folded)) drop.push(name);
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
      body: request.body,
      redirect: "manual",
    });
  } catch (error) {
    console.error(`remote-user-filter: the origin could not be reached: ${error}`);
    // A login that just happened stands: its cookie still goes out, so a retry needs no KV.
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
      reply = handle(request.url, headerLines(request.headers, p.read));
      if (typeof reply !== "string") reply = await reply;
    } catch (error) {
      if (error instanceof WebAssembly.RuntimeError) trapped = true;
      console.error(`remote-user-filter: internal error: ${error}`);
      return plainText(500, "remote-user-filter: internal error\n");
    }
    const decoded = decode(reply);
    if (decoded.kind === "F") return forward(request, decoded, p);
    const headers = new Headers(decoded.headers);
    if (decoded.setCookie !== "") headers.append("Set-Cookie", decoded.setCookie);
    return new Response(decoded.body, { status: Number(decoded.first), headers });
  },
};
