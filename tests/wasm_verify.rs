//! On wasm32, in Node: the WebCrypto verifier (what the worker uses) and the pure-Rust one
//! accept and reject exactly the same tokens. Keys are generated here with WebCrypto.
#![cfg(target_arch = "wasm32")]

use remote_user_filter::gateway::webcrypto::WebCryptoVerifier;
use remote_user_filter::{parse_jwks, Algorithm, RustCryptoVerifier, SignatureVerifier};
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
