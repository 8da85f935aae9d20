//! jwt-simple as the reference verifier for gateway assertions: its full verification of a
//! compact token, with the options that say what a preset's claims policy says.

use std::collections::HashSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwt_simple::prelude::{
    Duration, ECDSAP256PublicKeyLike, ES256PublicKey, NoCustomClaims, RS256PublicKey,
    RSAPublicKeyLike, UnixTimeStamp, VerificationOptions,
};
use remote_user_filter::{GatewayPreset, Jwk, PublicKey, MAX_ASSERTION_LEN};

/// Whether jwt-simple accepts `token` at `now` under `preset`'s policy, signed by `key` (as
/// the filter picks it: by `kid`): the issuer, one of the audiences, the leeway on `exp`,
/// `nbf` and `iat`, the length limit.
pub fn jwt_simple_verdict(preset: &GatewayPreset, key: &Jwk, token: &str, now: u64) -> bool {
    let options = VerificationOptions {
        required_key_id: Some(key.kid.clone()),
        allowed_issuers: Some(HashSet::from([preset.policy.issuer.clone()])),
        allowed_audiences: Some(preset.policy.audiences.iter().cloned().collect()),
        time_tolerance: Some(Duration::from_secs(preset.policy.leeway_secs)),
        artificial_time: Some(UnixTimeStamp::from_secs(now)),
        max_token_length: Some(MAX_ASSERTION_LEN),
        ..VerificationOptions::default()
    };
    let b64 = |v: &str| URL_SAFE_NO_PAD.decode(v).unwrap();
    match &key.key {
        PublicKey::Rsa { n, e } => RS256PublicKey::from_components(&b64(n), &b64(e))
            .unwrap()
            .with_key_id(&key.kid)
            .verify_token::<NoCustomClaims>(token, Some(options))
            .is_ok(),
        PublicKey::P256 { x, y } => {
            let point = [&[4u8][..], &b64(x), &b64(y)].concat();
            ES256PublicKey::from_bytes(&point)
                .unwrap()
                .with_key_id(&key.kid)
                .verify_token::<NoCustomClaims>(token, Some(options))
                .is_ok()
        }
        _ => unreachable!("only RSA and P-256 keys here"),
    }
}
