//! The JWKS parser (`parse_jwks`), and each key it returns through the native verifier's
//! key checks (RSA size and exponent, P-256 point): a key set either parses to keys with a
//! `kid`, or is refused with a `JwksError`; a key never verifies a made-up signature.
#![no_main]

use libfuzzer_sys::fuzz_target;
use remote_user_filter::{parse_jwks, PublicKey, RustCryptoVerifier, SignatureVerifier};

fuzz_target!(|doc: &str| {
    let Ok(keys) = parse_jwks(doc) else {
        return;
    };
    for jwk in keys.iter().take(4) {
        assert!(!jwk.kid.is_empty());
        assert!(matches!(
            jwk.key,
            PublicKey::Rsa { .. } | PublicKey::P256 { .. }
        ));
        let verified = futures::executor::block_on(RustCryptoVerifier.verify(
            jwk.algorithm(),
            jwk,
            b"eyJhbGciOiJFUzI1NiJ9.e30",
            &[7; 64],
        ));
        assert_ne!(verified, Ok(true), "{jwk:?}");
    }
});
