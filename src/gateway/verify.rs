//! Signature verification behind a small trait: [`RustCryptoVerifier`] (pure Rust) natively;
//! in the worker, the runtime's WebCrypto (`edge::WebCryptoVerifier`), about 29x faster
//! than pure-Rust RSA in wasm for RS256 (`bench/verify.mjs`, BENCHMARKS.md). Claims checks do not live here: they are shared.
//!
//! ```
//! use remote_user_filter::{Algorithm, Jwk, PublicKey, RustCryptoVerifier, SignatureVerifier};
//! # futures::executor::block_on(async {
//! let key = Jwk { kid: "k".into(), key: PublicKey::P256 {
//!     x: "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4".into(),
//!     y: "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM".into() } };
//! let ok = RustCryptoVerifier.verify(Algorithm::Es256, &key, b"message", &[0u8; 64]).await;
//! assert_eq!(ok, Ok(false));
//! # });
//! ```

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::gateway::Algorithm;
use crate::gateway::{Jwk, PublicKey};

/// A key that cannot be used (bad encoding, too small, wrong curve point).
///
/// ```
/// use remote_user_filter::KeyFormatError;
/// assert!(KeyFormatError("n is not base64url".into()).to_string().contains("n is not"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unusable signing key: {0}")]
pub struct KeyFormatError(pub String);

/// Checks one signature. `Ok(false)` is a signature that does not verify; `Err` a key that
/// cannot be used. Futures need not be `Send`.
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
    /// Whether `signature` over `message` verifies with `key` under `alg`.
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

/// Pure-Rust RS256 (`rsa`) and ES256 (`p256`) verification.
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
        use sha2::{Digest, Sha256};
        match (alg, &key.key) {
            (Algorithm::Rs256, PublicKey::Rsa { n, e }) => {
                use rsa::traits::PublicKeyParts;
                let n = rsa::BigUint::from_bytes_be(&b64("n", n)?);
                let e = rsa::BigUint::from_bytes_be(&b64("e", e)?);
                let public = rsa::RsaPublicKey::new(n, e)
                    .map_err(|err| KeyFormatError(format!("RSA key: {err}")))?;
                if public.size() * 8 < MIN_RSA_BITS {
                    return Err(KeyFormatError(format!(
                        "RSA key is {} bits, fewer than {MIN_RSA_BITS}",
                        public.size() * 8
                    )));
                }
                let digest = Sha256::digest(message);
                Ok(public
                    .verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest, signature)
                    .is_ok())
            }
            (Algorithm::Es256, PublicKey::P256 { x, y }) => {
                use p256::ecdsa::signature::Verifier;
                let (x, y) = (b64("x", x)?, b64("y", y)?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(KeyFormatError("P-256 coordinates must be 32 bytes".into()));
                }
                let point = p256::EncodedPoint::from_affine_coordinates(
                    x.as_slice().into(),
                    y.as_slice().into(),
                    false,
                );
                let public = p256::ecdsa::VerifyingKey::from_encoded_point(&point)
                    .map_err(|_| KeyFormatError("P-256 point is not on the curve".into()))?;
                let Ok(signature) = p256::ecdsa::Signature::from_slice(signature) else {
                    return Ok(false);
                };
                Ok(public.verify(message, &signature).is_ok())
            }
            _ => Ok(false),
        }
    }
}
