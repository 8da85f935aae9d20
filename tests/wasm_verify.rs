//! On wasm32, in Node: the WebCrypto verifier (what the worker uses) and the pure-Rust one
//! (jwt-simple) accept and reject exactly the same signatures; and jwt-simple's full token
//! verification, the reference, gives the same verdict as the worker's path (the gateway
//! filter over WebCrypto: parse, claims policy, key by `kid`, signature) on the whole
//! rejection matrix. Keys and tokens are made here with WebCrypto.
#![cfg(target_arch = "wasm32")]

mod common;

use std::rc::Rc;

use common::reference::jwt_simple_verdict;
use remote_user_filter::gateway::webcrypto::WebCryptoVerifier;
use remote_user_filter::{
    async_trait, parse_jwks, Algorithm, GatewayJwtFilter, GatewayPreset, JwksSource,
    RustCryptoVerifier, SignatureVerifier,
};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen(inline_js = r#"
const b64u = (buf) => Buffer.from(buf).toString("base64url");
const enc = (s) => new TextEncoder().encode(s);
export async function cases() {
  const subtle = globalThis.crypto.subtle;
  const rsaAlg = { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" };
  const ecAlg = { name: "ECDSA", namedCurve: "P-256" };
  const rsa = await subtle.generateKey(rsaAlg, true, ["sign", "verify"]);
  const rsa2 = await subtle.generateKey(rsaAlg, true, ["sign", "verify"]);
  const ec = await subtle.generateKey(ecAlg, true, ["sign", "verify"]);
  const ec2 = await subtle.generateKey(ecAlg, true, ["sign", "verify"]);
  const jwk = async (k, kid) => { const j = await subtle.exportKey("jwk", k.publicKey); return { ...j, kid }; };
  const keys = [await jwk(rsa, "rsa"), await jwk(ec, "ec")];
  const input = (alg, kid, email) =>
    b64u(enc(JSON.stringify({ alg, kid }))) + "." + b64u(enc(JSON.stringify({ email, exp: 4102444800 })));
  const signRs = async (k, data) => new Uint8Array(await subtle.sign("RSASSA-PKCS1-v1_5", k.privateKey, enc(data)));
  const signEc = async (k, data) => new Uint8Array(await subtle.sign({ name: "ECDSA", hash: "SHA-256" }, k.privateKey, enc(data)));
  const out = [];
  const add = (name, alg, kid, data, sig, valid) => out.push({ name, alg, kid, data, sig: b64u(sig), valid });
  const r = input("RS256", "rsa", "ann@example.com");
  const rsSig = await signRs(rsa, r);
  add("rs256 valid", "RS256", "rsa", r, rsSig, true);
  add("rs256 other key", "RS256", "rsa", r, await signRs(rsa2, r), false);
  add("rs256 tampered data", "RS256", "rsa", input("RS256", "rsa", "mallory@example.com"), rsSig, false);
  const flipped = rsSig.slice(); flipped[100] ^= 1;
  add("rs256 flipped bit", "RS256", "rsa", r, flipped, false);
  add("rs256 truncated", "RS256", "rsa", r, rsSig.slice(0, 255), false);
  add("rs256 empty", "RS256", "rsa", r, new Uint8Array(0), false);
  const e = input("ES256", "ec", "bob@example.com");
  const esSig = await signEc(ec, e);
  add("es256 valid", "ES256", "ec", e, esSig, true);
  add("es256 other key", "ES256", "ec", e, await signEc(ec2, e), false);
  add("es256 tampered data", "ES256", "ec", input("ES256", "ec", "mallory@example.com"), esSig, false);
  const f2 = esSig.slice(); f2[10] ^= 1;
  add("es256 flipped bit", "ES256", "ec", e, f2, false);
  add("es256 63 bytes", "ES256", "ec", e, esSig.slice(0, 63), false);
  add("es256 zeros", "ES256", "ec", e, new Uint8Array(64), false);
  add("es256 der-encoded", "ES256", "ec", e, new Uint8Array([0x30, 0x44, ...esSig.slice(0, 64), 0, 0]), false);
  add("rs256 sig with ec key", "RS256", "ec", r, rsSig, false);
  add("es256 sig with rsa key", "ES256", "rsa", e, esSig, false);
  return JSON.stringify({ jwks: JSON.stringify({ keys }), cases: out });
}
"#)]
extern "C" {
    fn cases() -> js_sys::Promise;
}

#[derive(Deserialize)]
struct Fixture {
    jwks: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    alg: String,
    kid: String,
    data: String,
    sig: String,
    valid: bool,
}

#[wasm_bindgen_test]
async fn webcrypto_and_rust_verifiers_agree_on_every_token() {
    use base64::Engine as _;
    let raw = JsFuture::from(cases()).await.unwrap().as_string().unwrap();
    let fixture: Fixture = serde_json::from_str(&raw).unwrap();
    let keys = parse_jwks(&fixture.jwks).unwrap();
    assert_eq!(keys.len(), 2);
    let web = WebCryptoVerifier::default();
    let mut accepted = 0;
    for case in &fixture.cases {
        let key = keys.iter().find(|k| k.kid == case.kid).unwrap();
        let alg = if case.alg == "RS256" {
            Algorithm::Rs256
        } else {
            Algorithm::Es256
        };
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&case.sig)
            .unwrap();
        let by_web = web
            .verify(alg, key, case.data.as_bytes(), &sig)
            .await
            .unwrap_or(false);
        let by_rust = RustCryptoVerifier
            .verify(alg, key, case.data.as_bytes(), &sig)
            .await
            .unwrap_or(false);
        assert_eq!(
            by_web, by_rust,
            "{}: WebCrypto and pure Rust disagree",
            case.name
        );
        assert_eq!(by_web, case.valid, "{}", case.name);
        accepted += usize::from(by_web);
        // Verifying again uses the imported-key cache and must say the same.
        assert_eq!(
            web.verify(alg, key, case.data.as_bytes(), &sig)
                .await
                .unwrap_or(false),
            by_web
        );
    }
    assert_eq!(accepted, 2, "exactly the two valid tokens are accepted");
    assert_eq!(fixture.cases.len(), 15);
}

// The rejection matrix, for RS256 (Cloudflare Access) and ES256 (Pomerium): every token is
// validly signed by the gateway's key unless its name says otherwise.
#[wasm_bindgen(inline_js = r#"
const b64u = (buf) => Buffer.from(buf).toString("base64url");
const padded = (buf) => Buffer.from(buf).toString("base64").replaceAll("+", "-").replaceAll("/", "_");
const enc = (s) => new TextEncoder().encode(s);
export async function matrix(team, aud, host) {
  const subtle = globalThis.crypto.subtle;
  const now = Math.floor(Date.now() / 1000);
  const rsaAlg = { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" };
  const ecAlg = { name: "ECDSA", namedCurve: "P-256" };
  const gen = (alg) => subtle.generateKey(alg, true, ["sign", "verify"]);
  const [rsa, rsa2, ec, ec2] = [await gen(rsaAlg), await gen(rsaAlg), await gen(ecAlg), await gen(ecAlg)];
  const jwk = async (k, kid) => ({ ...(await subtle.exportKey("jwk", k.publicKey)), kid });
  const keys = [await jwk(rsa, "rsa"), await jwk(ec, "ec")];
  const pem = async (k) => "-----BEGIN PUBLIC KEY-----\n" +
    Buffer.from(await subtle.exportKey("spki", k.publicKey)).toString("base64").match(/.{1,64}/g).join("\n") +
    "\n-----END PUBLIC KEY-----\n";
  const out = [];
  for (const [alg, key, other, kid, iss, audience] of [
    ["RS256", rsa, rsa2, "rsa", `https://${team}`, aud],
    ["ES256", ec, ec2, "ec", host, host],
  ]) {
    const sign = async (k, input) => new Uint8Array(alg === "RS256"
      ? await subtle.sign("RSASSA-PKCS1-v1_5", k.privateKey, enc(input))
      : await subtle.sign({ name: "ECDSA", hash: "SHA-256" }, k.privateKey, enc(input)));
    const claims = (over = {}) => ({ iss, aud: [audience], email: "ann@example.com", sub: "u-1",
      iat: now - 10, nbf: now - 10, exp: now + 3600, ...over });
    const header = (over = {}) => ({ alg, kid, typ: "JWT", ...over });
    const input = (h, c) => b64u(enc(JSON.stringify(h))) + "." + b64u(enc(JSON.stringify(c)));
    const signed = async (h, c, k = key) => { const i = input(h, c); return i + "." + b64u(await sign(k, i)); };
    const add = (name, token, valid = false) => out.push({ name: `${alg} ${name}`, alg, token, valid });

    const valid = await signed(header(), claims());
    add("valid", valid, true);
    add("valid, 10 KiB of claims", await signed(header(), claims({ pad: "x".repeat(10 * 1024) })), true);
    add("alg none", input(header({ alg: "none" }), claims()) + ".");
    const hsInput = input(header({ alg: "HS256" }), claims());
    const hmacKey = await subtle.importKey("raw", enc(await pem(key)), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    add("HS256 keyed with the public key", hsInput + "." + b64u(await subtle.sign("HMAC", hmacKey, enc(hsInput))));
    add("signed by another key", await signed(header(), claims(), other));
    add("wrong kid", await signed(header({ kid: "other" }), claims()));
    add("wrong iss", await signed(header(), claims({ iss: "https://evil.example.com" })));
    add("wrong aud", await signed(header(), claims({ aud: ["another-app"] })));
    add("expired", await signed(header(), claims({ iat: now - 7200, nbf: now - 7200, exp: now - 3600 })));
    add("future nbf", await signed(header(), claims({ nbf: now + 3600 })));
    add("crit header", await signed(header({ crit: ["exp"], exp: now + 3600 }), claims()));
    const [h, , sig] = valid.split(".");
    add("tampered payload", [h, b64u(enc(JSON.stringify(claims({ email: "mallory@example.com" })))), sig].join("."));
    if (!padded(Buffer.from(sig, "base64url")).endsWith("=")) throw new Error("the signature needs no padding");
    add("padded signature", [h, valid.split(".")[1], padded(Buffer.from(sig, "base64url"))].join("."));
    // A payload whose base64 needs padding, signed with the padding in the signing input.
    let c = claims({ email: "ann@example.com" });
    while (padded(enc(JSON.stringify(c))).endsWith("=") === false) c = { ...c, email: "a" + c.email };
    const padInput = b64u(enc(JSON.stringify(header()))) + "." + padded(enc(JSON.stringify(c)));
    add("padded payload", padInput + "." + b64u(await sign(key, padInput)));
    add("over 16 KiB", await signed(header(), claims({ pad: "x".repeat(17 * 1024) })));
  }
  return JSON.stringify({ now, jwks: JSON.stringify({ keys }), cases: out });
}
"#)]
extern "C" {
    fn matrix(team: &str, aud: &str, host: &str) -> js_sys::Promise;
}

#[derive(Deserialize)]
struct Matrix {
    now: u64,
    jwks: String,
    cases: Vec<Token>,
}

#[derive(Deserialize)]
struct Token {
    name: String,
    alg: String,
    token: String,
    valid: bool,
}

const TEAM: &str = "team.example.com";
const AUD: &str = "aud-1";
const HOST: &str = "auth.example.com";

struct Inline(String);

#[async_trait(?Send)]
impl JwksSource for Inline {
    async fn fetch_jwks(&self) -> Result<String, String> {
        Ok(self.0.clone())
    }
}

#[wasm_bindgen_test]
async fn jwt_simple_and_the_webcrypto_path_agree_on_the_rejection_matrix() {
    let raw = JsFuture::from(matrix(TEAM, AUD, HOST))
        .await
        .unwrap()
        .as_string()
        .unwrap();
    let m: Matrix = serde_json::from_str(&raw).unwrap();
    let keys = parse_jwks(&m.jwks).unwrap();
    let mut seen = (0, 0);
    for (alg, preset, kid) in [
        (
            "RS256",
            GatewayPreset::cloudflare_access(TEAM, vec![AUD.into()]),
            "rsa",
        ),
        ("ES256", GatewayPreset::pomerium(HOST), "ec"),
    ] {
        let key = keys.iter().find(|k| k.kid == kid).unwrap();
        let filter = |verifier: Rc<dyn SignatureVerifier>| {
            GatewayJwtFilter::builder(preset.clone(), Rc::new(Inline(m.jwks.clone())), verifier)
                .build()
        };
        let web = filter(Rc::new(WebCryptoVerifier::default()));
        let rust = filter(Rc::new(RustCryptoVerifier));
        for case in m.cases.iter().filter(|c| c.alg == alg) {
            let by_reference = jwt_simple_verdict(&preset, key, &case.token, m.now);
            let by_web = web.verify(&case.token, m.now).await;
            let by_rust = rust.verify(&case.token, m.now).await.is_ok();
            assert_eq!(by_reference, case.valid, "{}: jwt-simple", case.name);
            assert_eq!(
                by_web.is_ok(),
                by_reference,
                "{}: the WebCrypto path ({by_web:?}) and jwt-simple disagree",
                case.name
            );
            assert_eq!(by_rust, by_reference, "{}: RustCryptoVerifier", case.name);
            seen.0 += 1;
            seen.1 += usize::from(by_reference);
        }
    }
    assert_eq!(seen, (2 * 15, 2 * 2), "(tokens, accepted)");
}
