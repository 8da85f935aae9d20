// Contender `jose-hoisted`: the documented recipe with one change: the remote key set is
// created once per isolate (lazily, on the first request, since the team domain is an env
// var) and reused, so jose's own key cache applies.
import { createRemoteJWKSet, jwtVerify } from "jose";

let JWKS;

export default {
  async fetch(request, env) {
    if (!env.POLICY_AUD) {
      return new Response("Missing required audience", { status: 403 });
    }
    const token = request.headers.get("cf-access-jwt-assertion");
    if (!token) {
      return new Response("Missing required CF Access JWT", { status: 403 });
    }
    let payload;
    try {
      JWKS ??= createRemoteJWKSet(new URL(`${env.TEAM_DOMAIN}/cdn-cgi/access/certs`));
      ({ payload } = await jwtVerify(token, JWKS, {
        issuer: env.TEAM_DOMAIN,
        audience: env.POLICY_AUD,
      }));
    } catch (error) {
      return new Response(`Invalid token: ${error.message}`, { status: 403 });
    }
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    headers.set("X-Remote-User", payload.email);
    return fetch(env.ORIGIN_URL + url.pathname + url.search, {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
    });
  },
};
