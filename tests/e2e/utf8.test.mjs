// The identity header's bytes, as the gateway sent them, in real workerd: workerd hands a header
// value to JS decoded as UTF-8 (a byte that is not UTF-8 becomes U+FFFD), so a UTF-8 identity
// must arrive intact and one that is not UTF-8 must be a 400, never another name (found by the
// hostile soak, tests/soak/soak.mjs: `u1\xe9@…` logged in as `u1?@…`, and a UTF-8 `josé@…`
// was refused as not UTF-8). The client's own cookies, sent back to the origin without our
// session cookie, go through the same decoding.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  HEADER,
  accessAssertion,
  decodeJwt,
  kvKeys,
  rawRequest,
  rsaSigningKey,
  startJwksServer,
  startOrigin,
  startWorker,
  tokenOf,
  useWorker,
} from "./harness.mjs";

/** A header value that node:http writes as exactly these bytes (it writes latin1). */
const bytes = (buf) => Buffer.from(buf).toString("latin1");
const sessionPair = (r) => r.setCookie.map((c) => c.split(";")[0]).find((p) => p.startsWith("__Host-remote-user-session="));

describe("identity header bytes, header mode", () => {
  const w = useWorker();

  it("a UTF-8 identity logs in as itself, percent-encoded to the origin", async () => {
    const user = "josé.ñandú@example.com";
    const r = await rawRequest(w, "/", [[HEADER, bytes(Buffer.from(user, "utf8"))]]);
    assert.equal(r.status, 200, r.text);
    const seen = JSON.parse(r.text).headers["x-remote-user"];
    assert.equal(decodeURIComponent(seen), user);
    assert.equal(decodeJwt(tokenOf(sessionPair(r))).payload.sub, user);
    assert.ok((await kvKeys(w.kv)).includes(`user:${user}`));
  });

  it("bytes that are not UTF-8 are a 400 naming the reason; nothing created, no cookie, origin not reached", async () => {
    const seen = w.origin.requests.length;
    const before = await kvKeys(w.kv);
    for (const raw of [[0x75, 0x31, 0xe9, 0x40, 0x78], [0x75, 0x31, 0xe8, 0x40, 0x78], [0xff, 0xfe, 0x40, 0x78]]) {
      const r = await rawRequest(w, "/", [[HEADER, bytes(raw)]]);
      assert.equal(r.status, 400, `${Buffer.from(raw).toString("hex")}: ${r.text}`);
      assert.match(r.text, /not UTF-8/);
      assert.deepEqual(r.setCookie, []);
    }
    assert.equal(w.origin.requests.length, seen, "the origin is not reached");
    assert.deepEqual(await kvKeys(w.kv), before, "no user created");
  });
});

describe("the client's own cookies beside the session cookie", () => {
  const w = useWorker();
  const ours = "; __Host-remote-user-session=x";
  const cookieAtOrigin = () => Buffer.from(w.origin.requests.at(-1).headers.cookie ?? "", "latin1");

  it("a UTF-8 cookie reaches the origin byte for byte, our cookie stripped (was a 500)", async () => {
    const raw = Buffer.concat([Buffer.from("pref="), Buffer.from("例é", "utf8")]);
    const r = await rawRequest(w, "/", [
      [HEADER, "ann@example.com"],
      ["Cookie", bytes(Buffer.concat([raw, Buffer.from(ours)]))],
    ]);
    assert.equal(r.status, 200, r.text);
    assert.equal(cookieAtOrigin().toString("hex"), raw.toString("hex"));
  });

  it("a cookie byte that is not UTF-8 reaches the origin as workerd decoded it (U+FFFD), not a 500", async () => {
    const r = await rawRequest(w, "/", [
      [HEADER, "ann@example.com"],
      ["Cookie", bytes(Buffer.concat([Buffer.from([0x70, 0x3d, 0xe9]), Buffer.from(ours)]))],
    ]);
    assert.equal(r.status, 200, r.text);
    assert.equal(cookieAtOrigin().toString("hex"), Buffer.from("p=\ufffd", "utf8").toString("hex"));
  });
});

describe("identity header bytes, Cloudflare Access mode", () => {
  const TEAM = "utf8team.cloudflareaccess.com";
  const AUD = "aud-utf8";
  const KEY = rsaSigningKey("key-utf8");
  const w = {};
  before(async () => {
    w.jwks = await startJwksServer([KEY]);
    w.origin = await startOrigin();
    Object.assign(
      w,
      await startWorker(w.origin, {
        AUTH_FILTERS: "session,gateway_jwt,remote_user",
        TRUST_UNSIGNED_HEADER: "false",
        GATEWAY: "cloudflare_access",
        ACCESS_TEAM_DOMAIN: TEAM,
        ACCESS_AUD: AUD,
        JWKS_URL: w.jwks.url,
      }),
    );
  });
  after(async () => {
    await w.mf?.dispose();
    await w.origin?.close();
    await w.jwks?.close();
  });

  it("Access's plain header for a UTF-8 email agrees with the assertion: 200, not 403", async () => {
    const user = "zoë@example.com";
    const token = accessAssertion(KEY, user, { issuer: `https://${TEAM}`, audience: AUD });
    const r = await rawRequest(w, "/", [
      ["Cf-Access-Jwt-Assertion", token],
      [HEADER, bytes(Buffer.from(user, "utf8"))],
    ]);
    assert.equal(r.status, 200, r.text);
    assert.equal(decodeURIComponent(JSON.parse(r.text).headers["x-remote-user"]), user);
  });
});
