// The settings every benchmark shares: the user, the header names, the secrets, the origin,
// and the worker bindings of each mode, so that bench/run.mjs and bench/handler.mjs measure
// the same workloads.
import { AUD, ISSUER } from "./tokens.mjs";

export const USER = "ann@example.com";
export const EMAIL_HEADER = "Cf-Access-Authenticated-User-Email";
export const JWT_HEADER = "Cf-Access-Jwt-Assertion";
export const SECRET_HEADER = "X-Gateway-Secret";
export const GATEWAY_SECRET = "bench-gateway-secret-0123456789";
export const SESSION_SECRET = "bench-session-secret-0123456789abcdef0123456789";
export const ORIGIN_URL = "http://origin.bench";
/** Path and query of every benchmark request. */
export const PATH = "/app/resource?id=42&q=bench";
export const COMPAT_DATE = "2026-07-01";

/** This worker in header mode: a shared gateway secret, then the session. */
export const HEADER_VARS = {
  AUTH_FILTERS: "session,gateway_secret,remote_user",
  GATEWAY_SECRET,
  SESSION_SECRET,
  ORIGIN_URL,
};
/** This worker in Cloudflare Access mode. */
export const ACCESS_VARS = {
  AUTH_FILTERS: "session,gateway_jwt,remote_user",
  ACCESS_TEAM_DOMAIN: "myteam.cloudflareaccess.com",
  ACCESS_AUD: AUD,
  SESSION_SECRET,
  ORIGIN_URL,
};
/** The jose contenders (bench/workers/jose-*.js). */
export const JOSE_VARS = { TEAM_DOMAIN: ISSUER, POLICY_AUD: AUD, ORIGIN_URL };
