//! Signature verification behind a small trait: [`RustCryptoVerifier`] (jwt-simple, pure
//! Rust) natively; in the worker, the runtime's WebCrypto (`edge::WebCryptoVerifier`), about
//! 29x faster than pure-Rust RSA in wasm for RS256 (`bench/verify.mjs`, BENCHMARKS.md).
//! Claims checks do not live here: they are shared ([`ClaimsPolicy`](crate::ClaimsPolicy)).
//!
//! ```
//! use remote_user_filter::{Algorithm, Jwk, PublicKey, RustCryptoVerifier, SignatureVerifier};
//! # futures::executor::block_on(async {
//! let key = Jwk { kid: "k".into(), key: PublicKey::P256 {
//!     x: "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4".into(),
//!     y: "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM".into() } };
//! let input = b"eyJhbGciOiJFUzI1NiJ9.e30"; // {"alg":"ES256"}.{}
//! let ok = RustCryptoVerifier.verify(Algorithm::Es256, &key, input, &[7u8; 64]).await;
//! assert_eq!(ok, Ok(false));
//! # });
//! ```

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use jwt_simple::prelude::{
    Duration, ECDSAP256PublicKeyLike, ES256PublicKey, NoCustomClaims, RS256PublicKey,
    RSAPublicKeyLike, UnixTimeStamp, VerificationOptions,
};
use jwt_simple::JWTError;

use crate::gateway::Algorithm;
use crate::gateway::{Jwk, PublicKey, MAX_ASSERTION_LEN};

/// A key that cannot be used (bad encoding, too small, wrong curve point).
///
/// ```
/// use remote_user_filter::KeyFormatError;
/// assert!(KeyFormatError("n is not base64url".into()).to_string().contains("n is not"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unusable signing key: {0}")]
pub struct KeyFormatError(pub String);

/// Checks one assertion's signature. `message` is the JWS signing input (`header.payload`,
/// as in the token) and `signature` the decoded third segment: a verifier may check them as
/// the compact token they make (jwt-simple can only verify whole tokens). `Ok(false)` is a
/// signature that does not verify; `Err` a key that cannot be used. Futures need not be
/// `Send`.
///
/// ```
/// use remote_user_filter::{async_trait, Algorithm, Jwk, KeyFormatError, SignatureVerifier};
/// struct Never;
/// #[async_trait(?Send)]
/// impl SignatureVerifier for Never {
///     async fn verify(&self, _: Algorithm, _: &Jwk, _: &[u8], _: &[u8]) -> Result<bool, KeyFormatError> {
///         Ok(false)
///     }
/// }
/// ```
#[async_trait(?Send)]
pub trait SignatureVerifier {
    /// Whether `signature` over the signing input `message` verifies with `key` under `alg`.
    async fn verify(
        &self,
        alg: Algorithm,
        key: &Jwk,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, KeyFormatError>;
}

/// The smallest RSA modulus accepted.
pub const MIN_RSA_BITS: usize = 2048;

pub(crate) fn b64(field: &str, value: &str) -> Result<Vec<u8>, KeyFormatError> {
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| KeyFormatError(format!("{field} is not base64url")))
}

/// What jwt-simple checks besides the signature, left to [`ClaimsPolicy`](crate::ClaimsPolicy)
/// (jwt-simple's claims validation is crate-private, and ours differs: leeway, required
/// `exp`, service tokens): no time checks at all, and never its system clock.
fn signature_only() -> VerificationOptions {
    VerificationOptions {
        accept_future: true,
        time_tolerance: Some(Duration::from_secs(0)),
        // `exp` is checked against this: at 0, every `exp` is in the future.
        artificial_time: Some(UnixTimeStamp::from_secs(0)),
        max_token_length: Some(MAX_ASSERTION_LEN),
        max_header_length: Some(MAX_ASSERTION_LEN),
        ..VerificationOptions::default()
    }
}

/// Why jwt-simple refused a key, without formatting its `anyhow::Error` (that would link a
/// backtrace printer into any wasm build that reaches this).
fn key_error(alg: &str, err: &jwt_simple::Error) -> KeyFormatError {
    let why = match err.downcast_ref::<JWTError>() {
        Some(JWTError::WeakKey) => "is too small",
        Some(JWTError::UnsupportedRSAModulus) => "is larger than 4096 bits",
        Some(JWTError::InvalidPublicKey) => "is not a valid public key",
        _ => "cannot be used",
    };
    KeyFormatError(format!("{alg} key {why}"))
}

/// RS256 and ES256 with jwt-simple's public keys (pure Rust: `superboring`'s RSA, `p256`):
/// each check rebuilds the compact token from `message` and `signature` and has jwt-simple
/// verify it, with no claims checks (those are [`ClaimsPolicy`](crate::ClaimsPolicy)'s). RSA
/// keys must have 2048 to 4096 bits and the exponent 65537.
///
/// ```
/// use remote_user_filter::{Algorithm, Jwk, PublicKey, RustCryptoVerifier, SignatureVerifier};
/// # futures::executor::block_on(async {
/// let small = Jwk { kid: "k".into(), key: PublicKey::Rsa { n: "AQAB".into(), e: "AQAB".into() } };
/// assert!(RustCryptoVerifier.verify(Algorithm::Rs256, &small, b"m", b"s").await.is_err());
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCryptoVerifier;

#[async_trait(?Send)]
impl SignatureVerifier for RustCryptoVerifier {
    async fn verify(
        &self,
        alg: Algorithm,
        key: &Jwk,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, KeyFormatError> {
        let verified = match (alg, &key.key) {
            (Algorithm::Rs256, PublicKey::Rsa { n, e }) => {
                let n = b64("n", n)?;
                let bits = significant_bits(&n);
                if bits < MIN_RSA_BITS {
                    return Err(KeyFormatError(format!(
                        "RSA key is {bits} bits, fewer than {MIN_RSA_BITS}"
                    )));
                }
                let public = RS256PublicKey::from_components(&n, &b64("e", e)?)
                    .map_err(|err| key_error("RSA", &err))?;
                let Some(token) = compact(message, signature) else {
                    return Ok(false);
                };
                public
                    .verify_token::<NoCustomClaims>(&token, Some(signature_only()))
                    .is_ok()
            }
            (Algorithm::Es256, PublicKey::P256 { x, y }) => {
                let (x, y) = (b64("x", x)?, b64("y", y)?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(KeyFormatError("P-256 coordinates must be 32 bytes".into()));
                }
                // SEC1, uncompressed: 0x04 ‖ x ‖ y.
                let mut point = Vec::with_capacity(65);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let public = ES256PublicKey::from_bytes(&point)
                    .map_err(|_| KeyFormatError("P-256 point is not on the curve".into()))?;
                let Some(token) = compact(message, signature) else {
                    return Ok(false);
                };
                public
                    .verify_token::<NoCustomClaims>(&token, Some(signature_only()))
                    .is_ok()
            }
            _ => false,
        };
        Ok(verified)
    }
}

/// `message.base64url(signature)`: the compact token again (the signature re-encodes to the
/// segment it was decoded from, which the parser only accepts in canonical form). `None` if
/// `message` is not text.
fn compact(message: &[u8], signature: &[u8]) -> Option<String> {
    let input = std::str::from_utf8(message).ok()?;
    let mut token = String::with_capacity(input.len() + 1 + signature.len().div_ceil(3) * 4);
    token.push_str(input);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Some(token)
}

/// The bit length of a big-endian unsigned integer.
fn significant_bits(bytes: &[u8]) -> usize {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    match bytes.get(first) {
        Some(top) => (bytes.len() - first) * 8 - top.leading_zeros() as usize,
        None => 0,
    }
}
