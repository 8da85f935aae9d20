// The JS half of the wire format (the Rust half is src/edge/wire.rs): what src/edge/entry.js
// reads from the wasm core. Kept apart from entry.js, which imports the wasm-bindgen glue,
// so that tests can load the very decoder the worker runs: tests/wasm_wire.rs feeds it
// `Reply::encode` output from the wasm side.

/**
 * A header name as an origin that folds `_` into `-` (WSGI bridges, older gunicorn/Puma)
 * reads it. Names from `Headers` are already lower-case.
 */
export function fold(name) {
  return name.includes("_") ? name.replaceAll("_", "-") : name;
}

/**
 * Decode a reply (see `Reply::encode` in src/edge/wire.rs): kind, target or status, Set-Cookie,
 * Cookie action, `name\tvalue` lines up to an empty line, then the body (a forward's is `G`
 * when the gateway's own headers go on). `encode` refuses any field that would break this
 * framing (a line break in a line, a tab in a header name), so a header's value is
 * everything after the first tab.
 */
export function decode(reply) {
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
