// The worker's entry point, the only JavaScript of remote-user-filter (scripts/build.sh
// bundles it with the wasm-bindgen glue into build/index.js).
//
// Every decision is made in Rust (src/edge.rs, src/wire.rs). This file only moves strings
// across the JS/wasm boundary, once each way per request, because each crossing costs more
// than the filter itself: the headers the chain reads go in as `name\tvalue` lines, and one
// encoded reply comes back, which this file carries out with the runtime's own Headers,
// fetch and Response.

import { __wbg_reset_state, configure, handle } from "../build/glue/index.js";

/** What configure() said, once per isolate: headers to send in (null: all), to strip. */
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
    const [read, strip] = configure(env).split("\n");
    plan = {
      read: read === "*" ? null : read.split("\t").filter(Boolean),
      strip: strip.split("\t").filter(Boolean),
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
 * Decode a reply (see `Reply::encode` in src/wire.rs): kind, target or status, Set-Cookie,
 * Cookie action, `name\tvalue` lines up to an empty line, then the body.
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

async function forward(request, reply, strip) {
  const headers = new Headers(request.headers);
  // Client copies of the identity headers and the gateway secret never reach the origin;
  // neither does our session cookie.
  for (const name of strip) headers.delete(name);
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
    let strip;
    try {
      const p = ready(env);
      strip = p.strip;
      reply = handle(request.url, headerLines(request.headers, p.read));
      if (typeof reply !== "string") reply = await reply;
    } catch (error) {
      if (error instanceof WebAssembly.RuntimeError) trapped = true;
      console.error(`remote-user-filter: internal error: ${error}`);
      return plainText(500, "remote-user-filter: internal error\n");
    }
    const decoded = decode(reply);
    if (decoded.kind === "F") return forward(request, decoded, strip);
    const headers = new Headers(decoded.headers);
    if (decoded.setCookie !== "") headers.append("Set-Cookie", decoded.setCookie);
    return new Response(decoded.body, { status: Number(decoded.first), headers });
  },
};
