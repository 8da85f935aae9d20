//! Test keys and tokens, generated on first use (never committed) with jwt-simple: RSA-2048
//! and P-256 keys, their JWKs, and RS256/ES256 assertions with the claims Cloudflare Access
//! sends. Shared by the native gateway tests and the benchmarks.
#![allow(dead_code)]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwt_simple::prelude::{
    ECDSAP256KeyPairLike, ECDSAP256PublicKeyLike, ES256KeyPair, JWTClaims, RS256KeyPair,
    RSAKeyPairLike,
};

pub const TEAM: &str = "myteam.cloudflareaccess.com";
pub const ISS: &str = "https://myteam.cloudflareaccess.com";
pub const AUD: &str = "aud-tag-1";
pub const NOW: u64 = 1_800_000_000;

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub struct RsaKey {
    /// The key pair, with `kid` as its key id.
    pub private: RS256KeyPair,
    pub kid: &'static str,
}

impl RsaKey {
    /// `private`'s key under another `kid` (a forger claiming to be that key).
    pub fn claiming(private: &RS256KeyPair, kid: &'static str) -> Self {
        Self {
            private: private.clone().with_key_id(kid),
            kid,
        }
    }

    pub fn jwk(&self) -> serde_json::Value {
        let public = self.private.public_key().to_components();
        serde_json::json!({"kty": "RSA", "kid": self.kid, "alg": "RS256", "use": "sig",
            "n": b64(&public.n), "e": b64(&public.e)})
    }
}

pub fn rsa_key(index: usize) -> &'static RsaKey {
    static KEYS: OnceLock<Vec<RsaKey>> = OnceLock::new();
    &KEYS.get_or_init(|| {
        ["rsa-1", "rsa-2"]
            .into_iter()
            .map(|kid| RsaKey::claiming(&RS256KeyPair::generate(2048).unwrap(), kid))
            .collect()
    })[index]
}

pub fn ec_key() -> &'static ES256KeyPair {
    static KEY: OnceLock<ES256KeyPair> = OnceLock::new();
    KEY.get_or_init(ES256KeyPair::generate)
}

pub fn ec_jwk(kid: &str) -> serde_json::Value {
    let point = ec_key().public_key().public_key().to_bytes_uncompressed();
    serde_json::json!({"kty": "EC", "crv": "P-256", "kid": kid,
        "x": b64(&point[1..33]), "y": b64(&point[33..])})
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

/// `claims` exactly as given (no registered claim added), in jwt-simple's claims type.
fn as_is(claims: &serde_json::Value) -> JWTClaims<serde_json::Value> {
    JWTClaims {
        issued_at: None,
        expires_at: None,
        invalid_before: None,
        issuer: None,
        subject: None,
        audiences: None,
        jwt_id: None,
        nonce: None,
        custom: claims.clone(),
    }
}

/// Header `{"alg":"RS256","kid":…,"typ":"JWT"}`.
pub fn rs256(key: &RsaKey, claims: &serde_json::Value) -> String {
    key.private.sign(as_is(claims)).unwrap()
}

/// Header `{"alg":"ES256","kid":…,"typ":"JWT"}`, signed by [`ec_key`].
pub fn es256(kid: &str, claims: &serde_json::Value) -> String {
    es256_by(ec_key(), kid, claims)
}

/// As [`es256`], signed by `key`.
pub fn es256_by(key: &ES256KeyPair, kid: &str, claims: &serde_json::Value) -> String {
    let key = ES256KeyPair::from_bytes(&key.to_bytes())
        .unwrap()
        .with_key_id(kid);
    key.sign(as_is(claims)).unwrap()
}
