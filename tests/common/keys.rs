//! Test keys and tokens, generated on first use (never committed): RSA-2048 and P-256 keys,
//! their JWKs, and RS256/ES256 assertions with the claims Cloudflare Access sends. Shared by
//! the native gateway tests and the benchmarks.
#![allow(dead_code)]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};

pub const TEAM: &str = "myteam.cloudflareaccess.com";
pub const ISS: &str = "https://myteam.cloudflareaccess.com";
pub const AUD: &str = "aud-tag-1";
pub const NOW: u64 = 1_800_000_000;

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub struct RsaKey {
    pub private: rsa::RsaPrivateKey,
    pub kid: &'static str,
}

impl RsaKey {
    pub fn jwk(&self) -> serde_json::Value {
        let public = self.private.to_public_key();
        serde_json::json!({"kty": "RSA", "kid": self.kid, "alg": "RS256", "use": "sig",
            "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())})
    }
}

pub fn rsa_key(index: usize) -> &'static RsaKey {
    static KEYS: OnceLock<Vec<RsaKey>> = OnceLock::new();
    &KEYS.get_or_init(|| {
        ["rsa-1", "rsa-2"]
            .into_iter()
            .map(|kid| RsaKey {
                private: rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap(),
                kid,
            })
            .collect()
    })[index]
}

pub fn ec_key() -> &'static p256::ecdsa::SigningKey {
    static KEY: OnceLock<p256::ecdsa::SigningKey> = OnceLock::new();
    KEY.get_or_init(|| p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng))
}

pub fn ec_jwk(kid: &str) -> serde_json::Value {
    let point = ec_key().verifying_key().to_encoded_point(false);
    serde_json::json!({"kty": "EC", "crv": "P-256", "kid": kid,
        "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())})
}

pub fn jwks(keys: &[serde_json::Value]) -> String {
    serde_json::json!({ "keys": keys, "public_cert": {"kid": "x", "cert": "..."} }).to_string()
}

pub fn claims(email: &str) -> serde_json::Value {
    serde_json::json!({"iss": ISS, "aud": [AUD], "email": email, "sub": "u-1",
        "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 3600, "type": "app"})
}

pub fn unsigned(header: &serde_json::Value, claims: &serde_json::Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

pub fn rs256(key: &RsaKey, claims: &serde_json::Value) -> String {
    let input = unsigned(
        &serde_json::json!({"alg": "RS256", "kid": key.kid, "typ": "JWT"}),
        claims,
    );
    let digest = Sha256::digest(input.as_bytes());
    let sig = key
        .private
        .sign(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest)
        .unwrap();
    format!("{input}.{}", b64(&sig))
}

pub fn es256(kid: &str, claims: &serde_json::Value) -> String {
    use p256::ecdsa::signature::Signer;
    let input = unsigned(&serde_json::json!({"alg": "ES256", "kid": kid}), claims);
    let sig: p256::ecdsa::Signature = ec_key().sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_bytes()))
}
