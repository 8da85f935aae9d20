// RS256 Cloudflare Access assertions for the benchmark: one RSA-2048 key made here with
// node:crypto, its JWKS, and many distinct tokens (signed on worker threads, one per core).
import { generateKeyPairSync, createPrivateKey, sign } from "node:crypto";
import { writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

export const TEAM_DOMAIN = "myteam.cloudflareaccess.com";
export const ISSUER = `https://${TEAM_DOMAIN}`;
export const AUD = "aud-1";
export const KID = "bench-key-1";

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");

/** A fresh signing key: { privatePem, jwks } (jwks is the `{"keys":[...]}` document). */
export function makeKey() {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: "jwk" }), kid: KID, alg: "RS256", use: "sig" };
  return {
    privatePem: privateKey.export({ format: "pem", type: "pkcs8" }),
    jwks: { keys: [jwk] },
  };
}

/** An Access assertion for `email`: iss, aud ['aud-1'], exp in one hour; `jti`/`iat` vary. */
export function accessToken(privateKey, email, { jti, iat }) {
  const header = { alg: "RS256", kid: KID, typ: "JWT" };
  const payload = {
    aud: [AUD],
    email,
    exp: iat + 3600,
    iat,
    nbf: iat,
    iss: ISSUER,
    type: "app",
    identity_nonce: "bench",
    sub: `sub-${email}`,
    jti,
  };
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${sign("sha256", Buffer.from(input), privateKey).toString("base64url")}`;
}

function range(privatePem, email, from, to, now) {
  const key = createPrivateKey(privatePem);
  const out = [];
  // iat spread over the last minute, and a unique jti: no two tokens are alike.
  for (let i = from; i < to; i++) out.push(accessToken(key, email, { jti: `miss-${i}`, iat: now - 5 - (i % 60) }));
  return out;
}

/** Write `count` distinct tokens for `email`, one per line, to `file` (parallel signing). */
export async function writeTokens(file, privatePem, email, count) {
  const now = Math.floor(Date.now() / 1000);
  const parts = Math.max(1, Math.min(availableParallelism(), 4));
  const per = Math.ceil(count / parts);
  const chunks = await Promise.all(
    Array.from({ length: parts }, (_, p) => {
      const from = p * per;
      const to = Math.min(count, from + per);
      return new Promise((resolve, reject) => {
        const w = new Worker(new URL(import.meta.url), {
          workerData: { privatePem, email, from, to, now },
        });
        w.once("message", resolve);
        w.once("error", reject);
      });
    }),
  );
  writeFileSync(file, chunks.flat().join("\n") + "\n");
}

if (!isMainThread && workerData?.privatePem) {
  const { privatePem, email, from, to, now } = workerData;
  parentPort.postMessage(range(privatePem, email, from, to, now));
}
