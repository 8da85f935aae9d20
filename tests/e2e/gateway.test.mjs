// Cloudflare Access JWT mode and shared-secret mode, end to end: real workerd through
// Miniflare, a loopback JWKS server with RSA keys made here, RS256 assertions signed here.
import http from "node:http";
import { generateKeyPairSync, sign as cryptoSign } from "node:crypto";
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  HEADER,
  decodeJwt,
  kvKeys,
  nowSecs,
  send,
  sessionCookie,
  sleep,
  startOrigin,
  startWorker,
  tokenOf,
  JWT_HEADER,
  CERTS_PATH,
} from "./harness.mjs";

const TEAM = "myteam.cloudflareaccess.com";
const ISSUER = `https://${TEAM}`;
const AUD = "aud-1";
const GATEWAY_SECRET = "e2e-gateway-secret-0123456789";

/** An RSA-2048 signing key: the private half, and the public half as a JWKS entry. */
function makeKey(kid) {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return {
    kid,
    privateKey,
    jwk: { ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" },
  };
}

const KEY_A = makeKey("key-a");
const KEY_B = makeKey("key-b");
// Another key that claims to be key A: its signatures must not verify against A's JWKS entry.
const FORGED_A = makeKey("key-a");

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");

/**
 * A Cloudflare Access assertion for `email`, RS256 over `header.payload` with `key` (or
 * `signWith`'s private key), valid for an hour; `claims`/`header` override the defaults.
 */
function accessToken(key, email, { claims = {}, header = {}, signWith = key } = {}) {
  const now = nowSecs();
  const h = { alg: "RS256", kid: key.kid, typ: "JWT", ...header };
  const p = {
    iss: ISSUER,
    aud: [AUD],
    email,
    sub: `sub-${email}`,
    iat: now - 10,
    nbf: now - 10,
    exp: now + 3600,
    ...claims,
  };
  const input = `${b64(h)}.${b64(p)}`;
  const sig = cryptoSign("sha256", Buffer.from(input), signWith.privateKey).toString("base64url");
  return `${input}.${sig}`;
}

/**
 * A loopback JWKS endpoint serving `{"keys": [...]}` at /cdn-cgi/access/certs. `gets` counts
 * the GET requests it saw (answered or not); `publish` swaps the key list; `down = true`
 * makes it answer 503; `delayMs` holds every answer back that long (a slow key server).
 */
async function startJwks(keys, { down = false, delayMs = 0 } = {}) {
  const state = { keys: keys.map((k) => k.jwk), down, gets: 0 };
  const server = http.createServer((req, res) => {
    if (req.method === "GET") state.gets += 1;
    req.resume();
    req.on("end", async () => {
      if (delayMs > 0) await sleep(delayMs);
      if (state.down) {
        res.statusCode = 503;
        return res.end("JWKS is down");
      }
      if (req.method !== "GET" || new URL(req.url, "http://x").pathname !== CERTS_PATH) {
        res.statusCode = 404;
        return res.end();
      }
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keys: state.keys }));
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}${CERTS_PATH}`,
    get gets() {
      return state.gets;
    },
    get down() {
      return state.down;
    },
    set down(v) {
      state.down = v;
    },
    publish(list) {
      state.keys = list.map((k) => k.jwk);
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}

/** The worker vars for Cloudflare Access JWT mode against `jwks`. */
const accessVars = (jwks) => ({
  AUTH_FILTERS: "session,gateway_jwt,remote_user",
  TRUST_UNSIGNED_HEADER: "false",
  GATEWAY: "cloudflare_access",
  ACCESS_TEAM_DOMAIN: TEAM,
  ACCESS_AUD: AUD,
  JWKS_URL: jwks.url,
});

/**
 * For a describe-block: a JWKS server (keys from `keys()`, `down` from the start if asked,
 * answering after `delayMs`), an echo origin, and the worker with `vars(jwks)`. Filled in
 * by `before`: { jwks, origin, mf, url, logs, kv }.
 */
function useGateway({ keys = [KEY_A], down = false, delayMs = 0, vars = accessVars } = {}) {
  const ctx = {};
  before(async () => {
    ctx.jwks = await startJwks(keys, { down, delayMs });
    ctx.origin = await startOrigin();
    Object.assign(ctx, await startWorker(ctx.origin, vars(ctx.jwks)));
    ctx.kv = await ctx.mf.getKVNamespace("USERS");
  });
  after(async () => {
    await ctx.mf?.dispose();
    await ctx.origin?.close();
    await ctx.jwks?.close();
  });
  return ctx;
}

/** A 200 from the origin as `email`, with exactly one new session cookie; returns its pair. */
function assertLoggedIn(r, email, what = "request") {
  assert.equal(r.status, 200, `${what}: status (body ${JSON.stringify(r.text)})`);
  assert.equal(r.echo?.headers["x-remote-user"], email, `${what}: the origin sees the user`);
  const { all, pair } = sessionCookie(r.res);
  assert.equal(all.length, 1, `${what}: exactly one session Set-Cookie`);
  assert.equal(decodeJwt(tokenOf(pair)).payload.sub, email);
  return pair;
}

/** The stored record for `email`: exactly one key, an active user of that name. */
async function assertUserStored(w, email) {
  const key = `user:${email}`;
  const keys = (await kvKeys(w.kv)).filter((k) => k.includes(email));
  assert.deepEqual(keys, [key], `exactly one record for ${email}`);
  const record = JSON.parse(await w.kv.get(key));
  assert.equal(record.username, email);
  assert.equal(record.is_active, true);
}

/** A refusal: `status`, no Set-Cookie at all, origin untouched, KV unchanged. */
async function assertRefused(w, r, status, { seen, keysBefore, what = "request" }) {
  assert.equal(r.status, status, `${what}: status (body ${JSON.stringify(r.text)})`);
  assert.deepEqual(sessionCookie(r.res).all, [], `${what}: no session cookie`);
  assert.deepEqual(r.res.headers.getSetCookie(), [], `${what}: no Set-Cookie at all`);
  assert.equal(w.origin.requests.length, seen, `${what}: the origin is not reached`);
  assert.deepEqual(await kvKeys(w.kv), keysBefore, `${what}: KV unchanged`);
}

describe("Cloudflare Access JWT mode", () => {
  const w = useGateway();

  it("plain email header without an assertion: 401, origin not reached, nothing stored", async () => {
    const r = await send(w, "/", { headers: { [HEADER]: "plain.only@example.com" } });
    await assertRefused(w, r, 401, { seen: 0, keysBefore: [] });
    assert.equal(w.jwks.gets, 0, "no assertion, no key fetch");
  });

  it("valid assertion logs in (one cookie, one fetch); the session request fetches nothing", async () => {
    const email = "ann@example.com";
    const token = accessToken(KEY_A, email);
    const first = await send(w, "/", { headers: { [JWT_HEADER]: token, [HEADER]: email } });
    const pair = assertLoggedIn(first, email, "login");
    assert.equal(w.jwks.gets, 1, "the keys are fetched once");
    await assertUserStored(w, email);

    const next = await send(w, "/", {
      headers: { [JWT_HEADER]: token, [HEADER]: email, cookie: pair },
    });
    assert.equal(next.status, 200);
    assert.equal(next.echo.headers["x-remote-user"], email);
    assert.deepEqual(sessionCookie(next.res).all, [], "no new session cookie");
    assert.equal(w.jwks.gets, 1, "no new JWKS fetch");
    await assertUserStored(w, email);
  });

  it("plain email header naming someone else than the assertion: 403, no cookie", async () => {
    const email = "bob@example.com";
    const keysBefore = await kvKeys(w.kv);
    const seen = w.origin.requests.length;
    const r = await send(w, "/", {
      headers: { [JWT_HEADER]: accessToken(KEY_A, email), [HEADER]: "mallory@example.com" },
    });
    await assertRefused(w, r, 403, { seen, keysBefore });
    assert.ok(!keysBefore.some((k) => k.includes(email)));
  });

  describe("invalid assertions: 401, origin not reached, token not echoed", () => {
    const email = "eve@example.com";
    const now = nowSecs();
    const cases = [
      [
        "expired beyond the 60 s leeway",
        () => accessToken(KEY_A, email, { claims: { iat: now - 7200, nbf: now - 7200, exp: now - 120 } }),
        /expired/,
      ],
      ["wrong aud", () => accessToken(KEY_A, email, { claims: { aud: ["aud-2"] } }), /another application/],
      [
        "wrong iss",
        () => accessToken(KEY_A, email, { claims: { iss: "https://otherteam.cloudflareaccess.com" } }),
        /issued by someone else/,
      ],
      [
        "alg none",
        () => {
          const t = accessToken(KEY_A, email, { header: { alg: "none" } });
          return t.slice(0, t.lastIndexOf(".") + 1);
        },
        /algorithm `none`/,
      ],
      [
        "bad signature (another key, same kid)",
        () => accessToken(KEY_A, email, { signWith: FORGED_A }),
        /signature is not valid/,
      ],
      ["garbage a.b.c", () => "a.b.c", /malformed/],
    ];
    // `reason`: the refusal is for this case's fault, not some other one.
    for (const [title, make, reason] of cases) {
      it(title, async () => {
        const token = make();
        const keysBefore = await kvKeys(w.kv);
        const seen = w.origin.requests.length;
        const gets = w.jwks.gets;
        const r = await send(w, "/", { headers: { [JWT_HEADER]: token, [HEADER]: email } });
        await assertRefused(w, r, 401, { seen, keysBefore, what: title });
        assert.match(r.text, reason, `${title}: refused for the right reason`);
        assert.ok(!r.text.includes(token), `${title}: body ${JSON.stringify(r.text)} echoes the token`);
        for (const part of token.split(".").filter((s) => s.length > 16)) {
          assert.ok(!r.text.includes(part), `${title}: body echoes a token segment`);
        }
        assert.ok(!keysBefore.some((k) => k.includes(email)));
        assert.equal(w.jwks.gets, gets, `${title}: no key fetch (keys are fresh, kid known)`);
      });
    }
  });
});

// The refetch interval at its shortest, so that a fetch can be forced while the server is down
// (an unknown kid once the interval has passed); the keys stay fresh (TTL an hour).
describe("JWKS server down, warm cache (JWKS_REFETCH_INTERVAL_SECS=1)", () => {
  const w = useGateway({ vars: (jwks) => ({ ...accessVars(jwks), JWKS_REFETCH_INTERVAL_SECS: "1" }) });

  it("a fetch attempted while down fails; the cached keys still verify new tokens", async () => {
    assertLoggedIn(
      await send(w, "/", { headers: { [JWT_HEADER]: accessToken(KEY_A, "warm@example.com"), [HEADER]: "warm@example.com" } }),
      "warm@example.com",
      "warm-up login",
    );
    assert.equal(w.jwks.gets, 1);
    w.jwks.down = true;

    // Fresh keys, known kid: no fetch.
    const carol = "carol@example.com";
    assertLoggedIn(
      await send(w, "/", { headers: { [JWT_HEADER]: accessToken(KEY_A, carol), [HEADER]: carol } }),
      carol,
      "warm cache, JWKS down, known kid",
    );
    assert.equal(w.jwks.gets, 1, "fresh keys, known kid: no fetch");

    // Past the refetch interval (whole seconds: 1.1 s always counts as at least one), a token
    // by a key the set lacks forces a fetch, which fails.
    await sleep(1100);
    const stranger = "stranger@example.com";
    const keysBefore = await kvKeys(w.kv);
    const seen = w.origin.requests.length;
    const unknown = await send(w, "/", { headers: { [JWT_HEADER]: accessToken(KEY_B, stranger), [HEADER]: stranger } });
    await assertRefused(w, unknown, 401, { seen, keysBefore, what: "unknown kid, JWKS down" });
    assert.match(unknown.text, /unknown key/);
    assert.equal(w.jwks.gets, 2, "the unknown kid made a fetch attempt, while the server was down");

    // The failed fetch kept the cached keys: a new token by key A still verifies.
    const dave = "dave@example.com";
    assertLoggedIn(
      await send(w, "/", { headers: { [JWT_HEADER]: accessToken(KEY_A, dave), [HEADER]: dave } }),
      dave,
      "after the failed fetch",
    );
    await assertUserStored(w, dave);
    assert.ok(w.jwks.gets <= 3, "at most one more attempt (only if a second has passed)");
  });
});

// The worker's clock counts whole seconds: each sleep is a little over the interval it must
// pass (so it always counts as passed), and what must happen within an interval is asserted
// only when the real time taken proves it was within (else a bound). tests/gateway.rs
// (`refetch_interval_and_ttl_boundaries`) drives the same rules second by second.
describe("key rotation (JWKS_REFETCH_INTERVAL_SECS=3, JWKS_CACHE_TTL_SECS=4)", () => {
  const w = useGateway({
    vars: (jwks) => ({
      ...accessVars(jwks),
      JWKS_REFETCH_INTERVAL_SECS: "3",
      JWKS_CACHE_TTL_SECS: "4",
    }),
  });

  it("a new key is fetched once when a token names it; a retired key is refused after the TTL", async () => {
    const annA = "rot.ann@example.com";
    const tokenA = accessToken(KEY_A, annA);
    assertLoggedIn(
      await send(w, "/", { headers: { [JWT_HEADER]: tokenA, [HEADER]: annA } }),
      annA,
      "login with key A",
    );
    assert.equal(w.jwks.gets, 1);
    await assertUserStored(w, annA);

    w.jwks.publish([KEY_A, KEY_B]);
    await sleep(3100);
    const bobB = "rot.bob@example.com";
    const tokenB = accessToken(KEY_B, bobB);
    assertLoggedIn(
      await send(w, "/", { headers: { [JWT_HEADER]: tokenB, [HEADER]: bobB } }),
      bobB,
      "token by key B",
    );
    assert.equal(w.jwks.gets, 2, "exactly one more JWKS fetch for the new kid");
    await assertUserStored(w, bobB);

    w.jwks.publish([KEY_B]);
    await sleep(4100);
    const seen = w.origin.requests.length;
    const keysBefore = await kvKeys(w.kv);
    // Taken before the refetch below: the requests after it are at most `elapsed` later.
    const started = Date.now();
    const oldA = await send(w, "/", { headers: { [JWT_HEADER]: tokenA, [HEADER]: annA } });
    await assertRefused(w, oldA, 401, { seen, keysBefore, what: "cached token by retired key A" });
    assert.match(oldA.text, /unknown key/);
    assert.equal(w.jwks.gets, 3, "the stale key set is refetched");

    const newA = await send(w, "/", {
      headers: { [JWT_HEADER]: accessToken(KEY_A, annA), [HEADER]: annA },
    });
    await assertRefused(w, newA, 401, { seen, keysBefore, what: "new token by retired key A" });
    assert.match(newA.text, /unknown key/);

    assertLoggedIn(
      await send(w, "/", { headers: { [JWT_HEADER]: tokenB, [HEADER]: bobB } }),
      bobB,
      "token by key B after rotation",
    );
    // The worker counts whole seconds: under 2 s of real time after the refetch is at most 2
    // counted, inside the 3 s interval, so no fetch may have happened. A slower machine may
    // legitimately pass the interval: then at most one fetch per 3 counted seconds.
    const elapsed = Date.now() - started;
    if (elapsed < 2000) {
      assert.equal(w.jwks.gets, 3, "no fetch within the refetch interval");
    } else {
      const counted = Math.floor(elapsed / 1000) + 1;
      assert.ok(w.jwks.gets <= 3 + Math.ceil(counted / 3), `${w.jwks.gets} fetches in ${elapsed} ms`);
    }
  });

  it("stale cache and JWKS down: the failed refetch keeps the cached keys", async () => {
    w.jwks.down = true;
    await sleep(4100);
    const gets = w.jwks.gets;
    const dan = "rot.dan@example.com";
    assertLoggedIn(
      await send(w, "/", { headers: { [JWT_HEADER]: accessToken(KEY_B, dan), [HEADER]: dan } }),
      dan,
      "stale keys, JWKS down",
    );
    assert.equal(w.jwks.gets, gets + 1, "one refetch was attempted");
    await assertUserStored(w, dan);
  });
});

describe("cold cache, JWKS server down from the start", () => {
  const w = useGateway({ down: true });

  it("a valid token gets 503: no cookie, nothing stored, origin not reached", async () => {
    const email = "cold@example.com";
    const token = accessToken(KEY_A, email);
    const r = await send(w, "/", { headers: { [JWT_HEADER]: token, [HEADER]: email } });
    await assertRefused(w, r, 503, { seen: 0, keysBefore: [] });
    assert.ok(!r.text.includes(token));
    assert.equal(w.jwks.gets, 1, "one fetch attempted");

    const again = await send(w, "/", { headers: { [JWT_HEADER]: token, [HEADER]: email } });
    await assertRefused(w, again, 503, { seen: 0, keysBefore: [], what: "retry" });
    assert.equal(w.jwks.gets, 1, "no second fetch within the refetch interval");
  });
});

describe("cold isolate, slow JWKS (answers after 300 ms)", () => {
  const w = useGateway({ delayMs: 300 });

  it("8 concurrent first requests all log in, on one key fetch", async () => {
    const emails = Array.from({ length: 8 }, (_, i) => `burst${i}@example.com`);
    const answers = await Promise.all(
      emails.map((email) =>
        send(w, "/", { headers: { [JWT_HEADER]: accessToken(KEY_A, email), [HEADER]: email } }),
      ),
    );
    assert.deepEqual(
      answers.map((r) => r.status),
      emails.map(() => 200),
      "every request waits for the key fetch in flight (none is turned away with 503)",
    );
    answers.forEach((r, i) => assertLoggedIn(r, emails[i], `concurrent request ${i}`));
    assert.equal(w.jwks.gets, 1, "the waiting requests share the one fetch in flight");
    for (const email of emails) await assertUserStored(w, email);
  });
});

/** A describe-block whose worker refuses every request with a 500 naming `expected`. */
function brokenGateway(title, vars, expected, headers) {
  describe(`configuration error: ${title}`, () => {
    const w = useGateway({ vars });

    it("500 naming the problem, no cookie, origin and JWKS never reached", async () => {
      for (const h of [headers(), {}]) {
        const r = await send(w, "/", { headers: h });
        assert.equal(r.status, 500, `status for ${JSON.stringify(Object.keys(h))}: body ${r.text}`);
        assert.ok(r.text.includes(expected), `body ${JSON.stringify(r.text)} contains ${JSON.stringify(expected)}`);
        assert.deepEqual(r.res.headers.getSetCookie(), []);
      }
      assert.equal(w.origin.requests.length, 0);
      assert.deepEqual(await kvKeys(w.kv), []);
      assert.equal(w.jwks.gets, 0);
    });
  });
}

brokenGateway(
  "gateway_jwt without ACCESS_TEAM_DOMAIN",
  (jwks) => ({ ...accessVars(jwks), ACCESS_TEAM_DOMAIN: undefined }),
  "`GatewayJwtFilter` needs the setting ACCESS_TEAM_DOMAIN, which is not set",
  () => ({ [JWT_HEADER]: accessToken(KEY_A, "cfg@example.com"), [HEADER]: "cfg@example.com" }),
);

brokenGateway(
  "remote_user trusting the plain header",
  () => ({ AUTH_FILTERS: "session,remote_user", TRUST_UNSIGNED_HEADER: "false" }),
  "`RemoteUserFilter` trusts the plain identity header (REMOTE_USER_HEADER) with no proof that the gateway sent it",
  () => ({ [HEADER]: "cfg@example.com" }),
);

describe("shared secret mode (gateway_secret)", () => {
  const w = useGateway({
    vars: () => ({
      AUTH_FILTERS: "session,gateway_secret,remote_user",
      TRUST_UNSIGNED_HEADER: "false",
      GATEWAY_SECRET,
    }),
  });
  const email = "secret.user@example.com";

  it("no secret header: 401, origin not reached", async () => {
    const r = await send(w, "/", { headers: { [HEADER]: email } });
    await assertRefused(w, r, 401, { seen: 0, keysBefore: [] });
  });

  it("wrong secret: 401, origin not reached, the secret not echoed", async () => {
    const r = await send(w, "/", {
      headers: { [HEADER]: email, "X-Gateway-Secret": "e2e-gateway-secret-WRONG-456789" },
    });
    await assertRefused(w, r, 401, { seen: 0, keysBefore: [] });
    assert.ok(!r.text.includes(GATEWAY_SECRET));
  });

  it("right secret: logged in; the origin does not receive the secret header", async () => {
    const r = await send(w, "/", {
      headers: { [HEADER]: email, "X-Gateway-Secret": GATEWAY_SECRET },
    });
    assertLoggedIn(r, email, "right secret");
    await assertUserStored(w, email);
    assert.equal(w.origin.requests.length, 1);
    assert.equal(r.echo.headers["x-gateway-secret"], undefined);
    assert.ok(!JSON.stringify(w.origin.requests[0]).includes(GATEWAY_SECRET));
    assert.equal(w.jwks.gets, 0);
  });
});

describe("shared secret mode, GATEWAY_SECRET_HEADER=X-Proxy-Secret", () => {
  const w = useGateway({
    vars: () => ({
      AUTH_FILTERS: "session,gateway_secret,remote_user",
      TRUST_UNSIGNED_HEADER: "false",
      GATEWAY_SECRET,
      GATEWAY_SECRET_HEADER: "X-Proxy-Secret",
    }),
  });
  const email = "proxy.user@example.com";

  it("the secret in the default header only: 401, origin not reached", async () => {
    const r = await send(w, "/", { headers: { [HEADER]: email, "X-Gateway-Secret": GATEWAY_SECRET } });
    await assertRefused(w, r, 401, { seen: 0, keysBefore: [] });
  });

  it("a secret of another length in the configured header: 401", async () => {
    for (const value of [GATEWAY_SECRET.slice(0, -1), `${GATEWAY_SECRET}9`]) {
      const r = await send(w, "/", { headers: { [HEADER]: email, "X-Proxy-Secret": value } });
      await assertRefused(w, r, 401, { seen: 0, keysBefore: [], what: `${value.length} bytes` });
    }
  });

  it("the secret in the configured header: logged in; the origin receives neither header", async () => {
    const r = await send(w, "/", { headers: { [HEADER]: email, "X-Proxy-Secret": GATEWAY_SECRET } });
    assertLoggedIn(r, email, "configured header");
    await assertUserStored(w, email);
    assert.equal(r.echo.headers["x-proxy-secret"], undefined);
    assert.ok(!JSON.stringify(w.origin.requests).includes(GATEWAY_SECRET));
  });
});

/** A P-256 signing key (ES256): the private half, and the public half as a JWKS entry. */
function makeEcKey(kid) {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { kid, privateKey, jwk: { ...publicKey.export({ format: "jwk" }), kid, alg: "ES256", use: "sig" } };
}

const EC_KEY = makeEcKey("ec-1");
// Another P-256 key claiming the same kid.
const FORGED_EC = makeEcKey("ec-1");

/** An ES256 assertion over `claims` (JWS signature: r || s), signed with `signWith`. */
function es256Token(key, claims, { signWith = key } = {}) {
  const now = nowSecs();
  const input = `${b64({ alg: "ES256", kid: key.kid, typ: "JWT" })}.${b64({ iat: now - 10, nbf: now - 10, exp: now + 3600, ...claims })}`;
  const sig = cryptoSign("sha256", Buffer.from(input), { key: signWith.privateKey, dsaEncoding: "ieee-p1363" });
  return `${input}.${sig.toString("base64url")}`;
}

/**
 * An ES256 gateway over HTTP: `vars` selects the preset (its keys from the loopback JWKS_URL),
 * `header` carries its assertion, `claims(email)` are what it signs.
 */
function es256Gateway(title, { vars, header, claims }) {
  describe(title, () => {
    const w = useGateway({
      keys: [EC_KEY],
      vars: (jwks) => ({
        AUTH_FILTERS: "session,gateway_jwt,remote_user",
        TRUST_UNSIGNED_HEADER: "false",
        JWKS_URL: jwks.url,
        ...vars,
      }),
    });

    it("a valid assertion in its header logs in (one key fetch)", async () => {
      const email = "es.ann@example.com";
      const r = await send(w, "/", { headers: { [header]: es256Token(EC_KEY, claims(email)) } });
      assertLoggedIn(r, email, title);
      await assertUserStored(w, email);
      assert.equal(w.jwks.gets, 1);
      assert.equal(r.echo.headers["x-remote-user"], email);
    });

    const bad = [
      ["another key claiming its kid", () => es256Token(EC_KEY, claims("es.eve@example.com"), { signWith: FORGED_EC })],
      ["another gateway's issuer", () => es256Token(EC_KEY, { ...claims("es.eve@example.com"), iss: "https://evil.example" })],
      ["another audience", () => es256Token(EC_KEY, { ...claims("es.eve@example.com"), aud: "other-aud" })],
      ["RS256 (Access's algorithm)", () => accessToken(KEY_A, "es.eve@example.com", { claims: claims("es.eve@example.com") })],
    ];
    for (const [what, make] of bad) {
      it(`${what}: 401, origin not reached`, async () => {
        const seen = w.origin.requests.length;
        const keysBefore = await kvKeys(w.kv);
        const r = await send(w, "/", { headers: { [header]: make(), [HEADER]: "es.eve@example.com" } });
        await assertRefused(w, r, 401, { seen, keysBefore, what });
      });
    }

    it("a valid assertion in Access's header instead: 401 (its own header only)", async () => {
      const seen = w.origin.requests.length;
      const keysBefore = await kvKeys(w.kv);
      const r = await send(w, "/", { headers: { [JWT_HEADER]: es256Token(EC_KEY, claims("es.bob@example.com")) } });
      await assertRefused(w, r, 401, { seen, keysBefore });
    });
  });
}

const IAP_AUD = "/projects/123456/global/backendServices/789";
es256Gateway("Google IAP (GATEWAY=google_iap), over HTTP", {
  vars: { GATEWAY: "google_iap", ACCESS_AUD: IAP_AUD },
  header: "x-goog-iap-jwt-assertion",
  claims: (email) => ({ iss: "https://cloud.google.com/iap", aud: IAP_AUD, email, sub: `accounts.google.com:${email}` }),
});

const POMERIUM_HOST = "app.example.com";
es256Gateway("Pomerium (GATEWAY=pomerium), over HTTP", {
  vars: { GATEWAY: "pomerium", POMERIUM_HOST },
  header: "X-Pomerium-Jwt-Assertion",
  claims: (email) => ({ iss: POMERIUM_HOST, aud: POMERIUM_HOST, email, sub: `pomerium-${email}` }),
});
