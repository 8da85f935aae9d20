// Contender `jose-documented`: Cloudflare's documented Access recipe with `jose`, as written:
// the remote key set is created inside `fetch`, so every request starts with an empty one
// (and fetches the JWKS again). On success the request goes to the origin with X-Remote-User.
import { createRemoteJWKSet, jwtVerify } from "jose";

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
      const JWKS = createRemoteJWKSet(new URL(`${env.TEAM_DOMAIN}/cdn-cgi/access/certs`));
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
