// Configuration errors: every request gets a 500 that names the filter type and the problem,
// and never a secret the worker was given.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HEADER, SECRET, kvKeys, send, useWorker, waitForLog } from "./harness.mjs";

/** Configured in every broken configuration below, beside SESSION_SECRET (when set). */
const GATEWAY_SECRET = "e2e-config-gateway-secret-7b1f0c";

/**
 * A describe-block for one broken configuration: requests (with and without an identity)
 * get 500 naming `expected`, no cookie, the origin is never reached, nothing is written,
 * and neither the body nor the worker's log holds any secret configured (SESSION_SECRET
 * unless `vars` removes it, GATEWAY_SECRET always). Each of `hidden` (the values the
 * operator configured) is in the log and never in the body.
 */
function brokenConfig(title, vars, expected, { kv, extra, hidden = [] } = {}) {
  const all = { GATEWAY_SECRET, ...vars };
  const secrets = [Object.hasOwn(all, "SESSION_SECRET") ? all.SESSION_SECRET : SECRET, all.GATEWAY_SECRET].filter(
    (v) => v !== undefined,
  );
  describe(`configuration error: ${title}`, () => {
    const w = useWorker(all, kv ? { kv } : {});

    it("500 naming the filter and the problem, never a configured secret", async () => {
      assert.ok(secrets.length > 0, "a secret is configured to look for");
      for (const headers of [{ [HEADER]: "cfg@example.com", "X-Gateway-Secret": GATEWAY_SECRET }, {}]) {
        const r = await send(w, "/", { headers });
        assert.equal(r.status, 500, `status for ${JSON.stringify(headers)}: body ${r.text}`);
        for (const part of [expected].flat()) assert.ok(r.text.includes(part), `body ${JSON.stringify(r.text)} contains ${JSON.stringify(part)}`);
        for (const secret of secrets) assert.ok(!r.text.includes(secret), `the secret ${JSON.stringify(secret)} is not in the body`);
        for (const value of hidden) assert.ok(!r.text.includes(value), `body ${JSON.stringify(r.text)} holds no ${JSON.stringify(value)}`);
        assert.deepEqual(r.res.headers.getSetCookie(), []);
        extra?.(r);
      }
      assert.equal(w.origin.requests.length, 0, "the origin is never reached");
      if (w.kv) assert.deepEqual(await kvKeys(w.kv), []);
      const first = hidden[0] ?? [expected].flat()[0];
      assert.ok(await waitForLog(w, first), "the problem is logged for the operator");
      const logged = w.logs.map((l) => l.message).join("\n");
      for (const secret of secrets) assert.ok(!logged.includes(secret), `the secret ${JSON.stringify(secret)} is not logged`);
      for (const value of hidden) assert.ok(logged.includes(value), `the log keeps ${JSON.stringify(value)}`);
    });
  });
}

brokenConfig(
  "SESSION_SECRET missing (GATEWAY_SECRET set and in use)",
  { SESSION_SECRET: undefined, AUTH_FILTERS: "session,gateway_secret,remote_user", TRUST_UNSIGNED_HEADER: "false" },
  "`SessionFilter` needs the secret SESSION_SECRET, which is not set",
);

brokenConfig(
  "SESSION_SECRET too short",
  { SESSION_SECRET: "xq7zk" },
  "`SessionFilter` needs SESSION_SECRET to be at least 32 bytes long",
  { hidden: ["but it is 5 bytes"] },
);

brokenConfig(
  "persistent_remote_user before session",
  { AUTH_FILTERS: "persistent_remote_user,session" },
  "`PersistentRemoteUserFilter` requires `SessionFilter` to be installed before it",
);

brokenConfig(
  "unknown filter name",
  { AUTH_FILTERS: "session,bogus" },
  "AUTH_FILTERS names an unknown filter",
  { hidden: ["`bogus`"] },
);

brokenConfig(
  "no KV binding",
  {},
  "`RemoteUserFilter` uses `KvUserBackend`, whose Workers KV binding `USERS` is not bound",
  { kv: [] },
);

brokenConfig(
  "invalid REMOTE_USER_HEADER",
  { REMOTE_USER_HEADER: "Bad Header" },
  "`RemoteUserFilter` setting REMOTE_USER_HEADER is not a valid HTTP header name",
  { hidden: ["`Bad Header`"] },
);

brokenConfig(
  "a chain that logs no one in (AUTH_FILTERS=session)",
  { AUTH_FILTERS: "session" },
  "AUTH_FILTERS installs no remote-user filter",
);

brokenConfig(
  "JWKS_URL plain http to a non-loopback host",
  {
    AUTH_FILTERS: "session,gateway_jwt,remote_user",
    ACCESS_TEAM_DOMAIN: "myteam.cloudflareaccess.com",
    ACCESS_AUD: "aud-tag",
    JWKS_URL: "http://localhost@jwks.internal.example/certs",
  },
  "`GatewayJwtFilter` setting JWKS_URL must be",
  { hidden: ["jwks.internal.example"] },
);
