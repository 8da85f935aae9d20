//! The session cookie decoder (`SessionKey::verify`): any token, and tokens whose payload is
//! any bytes but whose HMAC is right (the fuzzer cannot forge one), so the claims decoding
//! behind the signature is reached too. A token it accepts holds at `now`, names its user,
//! and signs again to a token it accepts with the same claims.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use remote_user_filter::session::token::{SessionKey, ISSUER, MAX_TOKEN_LEN};
use remote_user_filter_fuzz::{NOW, SESSION_SECRET};

/// `{"alg":"HS256","typ":"JWT"}`.
const HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

fuzz_target!(|data: &[u8]| {
    let [mode, d0, d1, rest @ ..] = data else {
        return;
    };
    let now = NOW + u64::from(u16::from_le_bytes([*d0, *d1]));
    let rest = String::from_utf8_lossy(rest);
    let key = SessionKey::new(SESSION_SECRET.as_bytes()).expect("a key");
    let token = match mode % 4 {
        // As sent.
        0 => rest.into_owned(),
        // The payload is the input, signed with our key under our header.
        1 | 2 => {
            let signed = format!("{HEADER}.{}", URL_SAFE_NO_PAD.encode(rest.as_bytes()));
            let mac = hmac_sha256::HMAC::mac(signed.as_bytes(), SESSION_SECRET.as_bytes());
            format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac))
        }
        // Header and payload are the input (split at the first NUL), signed with our key.
        _ => {
            let (header, payload) = rest.split_once('\0').unwrap_or((&rest, "{}"));
            let signed = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.as_bytes()),
                URL_SAFE_NO_PAD.encode(payload.as_bytes())
            );
            let mac = hmac_sha256::HMAC::mac(signed.as_bytes(), SESSION_SECRET.as_bytes());
            format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac))
        }
    };
    let Some(claims) = key.verify(&token, now) else {
        return;
    };
    assert!(token.len() <= MAX_TOKEN_LEN);
    assert!(claims.hold(now), "{claims:?}");
    assert_eq!(claims.issuer, ISSUER);
    assert!(!claims.user.username.is_empty());
    assert_eq!(claims.subject, claims.user.username);
    assert!(claims.not_before <= now && now <= claims.expires);
    let again = key.sign(&claims);
    if again.len() <= MAX_TOKEN_LEN {
        assert_eq!(key.verify(&again, now), Some(claims));
    }
});
