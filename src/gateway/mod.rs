//! Proof that the gateway sent the request: the signed-assertion filter
//! ([`GatewayJwtFilter`], with presets for Cloudflare Access, Google IAP and Pomerium), the
//! shared-secret filter ([`SharedSecretFilter`]), the assertion parser and claims checks, the
//! JWKS key cache, the signature verifiers (pure Rust natively, WebCrypto on wasm32), and
//! the identity provider's groups ([`IdentitySource`], Cloudflare Access's `get-identity`).

mod assertion;
mod filter;
mod identity;
mod jwks;
mod verify;
#[cfg(target_arch = "wasm32")]
pub mod webcrypto;

pub use assertion::{
    parse_assertion, Algorithm, AssertionError, Audience, Claims, ClaimsPolicy, ParsedAssertion,
    MAX_ASSERTION_LEN,
};
pub(crate) use filter::jwks_url_allowed;
pub use filter::{
    Gateway, GatewayJwtFilter, GatewayJwtFilterBuilder, GatewayPreset, SharedSecretFilter,
    MAX_LEEWAY_SECS, MIN_GATEWAY_SECRET_LEN, TOKEN_CACHE_ENTRIES,
};
pub use identity::{
    access_identity_url, merge_groups, parse_identity_groups, IdentityError, IdentitySource,
    ACCESS_ASSERTION_COOKIE, ACCESS_IDENTITY_PATH, DEFAULT_IDENTITY_TIMEOUT_MS, MAX_GROUP_NAME_LEN,
    MAX_IDENTITY_DOC_LEN,
};
pub use jwks::{
    parse_jwks, Jwk, JwksError, JwksSource, KeyCache, KeyError, KeyFetch, PublicKey,
    DEFAULT_KEY_TTL_SECS, MIN_REFETCH_INTERVAL_SECS,
};
pub use verify::{KeyFormatError, RustCryptoVerifier, SignatureVerifier, MIN_RSA_BITS};
