//! Gateway signing keys: parsed from a JWKS document, cached in isolate memory for a TTL,
//! refetched when a token names an unknown `kid` (at most once per 30 s, so forged `kid`s
//! cannot cause a fetch storm). A failed refetch keeps the cached keys.
//!
//! ```
//! use remote_user_filter::parse_jwks;
//!
//! let keys = parse_jwks(r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1",
//!   "x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}"#).unwrap();
//! assert_eq!(keys.len(), 1);
//! assert_eq!(keys[0].kid, "k1");
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use async_trait::async_trait;
use serde::Deserialize;

use crate::assertion::Algorithm;

/// Default time keys are trusted before a refetch: one hour.
pub const DEFAULT_KEY_TTL_SECS: u64 = 3600;
/// The default shortest time between two fetches.
pub const MIN_REFETCH_INTERVAL_SECS: u64 = 30;

/// A public key from a JWKS, its components as the document gave them (base64url).
///
/// ```
/// use remote_user_filter::{Algorithm, Jwk, PublicKey};
/// let jwk = Jwk { kid: "k".into(), key: PublicKey::Rsa { n: "AQAB".into(), e: "AQAB".into() } };
/// assert_eq!(jwk.algorithm(), Algorithm::Rs256);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    /// Key id.
    pub kid: String,
    /// The key.
    pub key: PublicKey,
}

/// The key types gateways use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublicKey {
    /// RSA: modulus and exponent, base64url.
    Rsa {
        /// Modulus.
        n: String,
        /// Public exponent.
        e: String,
    },
    /// EC P-256: coordinates, base64url.
    P256 {
        /// x.
        x: String,
        /// y.
        y: String,
    },
}

impl Jwk {
    /// The algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        match self.key {
            PublicKey::Rsa { .. } => Algorithm::Rs256,
            PublicKey::P256 { .. } => Algorithm::Es256,
        }
    }
}

/// A JWKS document that cannot be used.
///
/// ```
/// use remote_user_filter::parse_jwks;
/// assert!(parse_jwks("[]").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the key set is not a JWKS document: {0}")]
pub struct JwksError(pub String);

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<RawKey>,
}

#[derive(Deserialize)]
struct RawKey {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

/// The signing keys in a JWKS document (`{"keys": [...]}`); keys without a `kid`, of another
/// type or curve, or not for signatures are skipped. Other members (Cloudflare's
/// `public_cert(s)`) are ignored.
pub fn parse_jwks(json: &str) -> Result<Vec<Jwk>, JwksError> {
    let set: RawSet = serde_json::from_str(json).map_err(|e| JwksError(e.to_string()))?;
    Ok(set
        .keys
        .into_iter()
        .filter(|k| k.use_.as_deref().is_none_or(|u| u == "sig"))
        .filter_map(|k| {
            let kid = k.kid.filter(|kid| !kid.is_empty())?;
            let key = match (k.kty.as_str(), k.crv.as_deref()) {
                ("RSA", _) => PublicKey::Rsa { n: k.n?, e: k.e? },
                ("EC", Some("P-256")) => PublicKey::P256 { x: k.x?, y: k.y? },
                _ => return None,
            };
            Some(Jwk { kid, key })
        })
        .collect())
}

/// Where the key set comes from: the Workers `fetch` in the worker, anything in tests.
///
/// ```
/// use remote_user_filter::{async_trait, JwksSource};
/// struct Inline(&'static str);
/// #[async_trait(?Send)]
/// impl JwksSource for Inline {
///     async fn fetch_jwks(&self) -> Result<String, String> { Ok(self.0.to_owned()) }
/// }
/// ```
#[async_trait(?Send)]
pub trait JwksSource {
    /// The JWKS document, or why it could not be had.
    async fn fetch_jwks(&self) -> Result<String, String>;
}

/// Why no key could be had for a `kid`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Keys exist, none has this `kid` (401).
    #[error("no key with this kid")]
    Unknown,
    /// No keys at all: never fetched successfully (503).
    #[error("the gateway's signing keys are unavailable: {0}")]
    Unavailable(String),
}

#[derive(Default)]
struct KeyState {
    keys: HashMap<String, Rc<Jwk>>,
    fetched_at: Option<u64>,
    last_attempt: Option<u64>,
    generation: u64,
}

/// The isolate's cached key set.
///
/// ```
/// use std::rc::Rc;
/// use remote_user_filter::{async_trait, JwksSource, KeyCache};
/// struct Down;
/// #[async_trait(?Send)]
/// impl JwksSource for Down {
///     async fn fetch_jwks(&self) -> Result<String, String> { Err("connection refused".into()) }
/// }
/// # futures::executor::block_on(async {
/// let cache = KeyCache::new(Rc::new(Down));
/// assert!(cache.key("k1", 0).await.is_err()); // no keys at all: unavailable (503)
/// # });
/// ```
pub struct KeyCache {
    source: Rc<dyn JwksSource>,
    ttl_secs: u64,
    min_refetch_secs: u64,
    state: RefCell<KeyState>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("KeyCache")
            .field("ttl_secs", &self.ttl_secs)
            .field("keys", &state.keys.len())
            .field("fetched_at", &state.fetched_at)
            .finish()
    }
}

impl KeyCache {
    /// A cache over `source` with the default one-hour TTL.
    pub fn new(source: Rc<dyn JwksSource>) -> Self {
        Self {
            source,
            ttl_secs: DEFAULT_KEY_TTL_SECS,
            min_refetch_secs: MIN_REFETCH_INTERVAL_SECS,
            state: RefCell::default(),
        }
    }

    /// Trust fetched keys for `ttl_secs`.
    pub fn with_ttl(mut self, ttl_secs: u64) -> Self {
        self.ttl_secs = ttl_secs;
        self
    }

    /// Fetch at most once per `secs` (default 30).
    pub fn with_min_refetch_interval(mut self, secs: u64) -> Self {
        self.min_refetch_secs = secs;
        self
    }

    /// Bumped whenever a fetch replaces the key set (verified-token caches compare it).
    pub fn generation(&self) -> u64 {
        self.state.borrow().generation
    }

    /// Whether the key set was fetched less than the TTL before `now`.
    pub fn is_fresh(&self, now: u64) -> bool {
        self.state
            .borrow()
            .fetched_at
            .is_some_and(|t| now < t.saturating_add(self.ttl_secs))
    }

    /// Whether `kid` is in the current key set (no fetch).
    pub fn has(&self, kid: &str) -> bool {
        self.state.borrow().keys.contains_key(kid)
    }

    /// The key for `kid` at `now`, fetching when the set is stale or lacks it (throttled).
    pub async fn key(&self, kid: &str, now: u64) -> Result<Rc<Jwk>, KeyError> {
        let (found, may_fetch) = {
            let state = self.state.borrow();
            let may_fetch = state
                .last_attempt
                .is_none_or(|t| now >= t.saturating_add(self.min_refetch_secs));
            (state.keys.get(kid).cloned(), may_fetch)
        };
        if let Some(key) = found.filter(|_| self.is_fresh(now)) {
            return Ok(key);
        }
        let mut error = None;
        if may_fetch {
            self.state.borrow_mut().last_attempt = Some(now);
            match self
                .source
                .fetch_jwks()
                .await
                .and_then(|doc| parse_jwks(&doc).map_err(|e| e.to_string()))
            {
                Ok(keys) if !keys.is_empty() => {
                    let mut state = self.state.borrow_mut();
                    state.keys = keys
                        .into_iter()
                        .map(|k| (k.kid.clone(), Rc::new(k)))
                        .collect();
                    state.fetched_at = Some(now);
                    state.generation += 1;
                }
                Ok(_) => error = Some("the key set holds no usable signing key".to_owned()),
                Err(e) => error = Some(e),
            }
        }
        let state = self.state.borrow();
        match state.keys.get(kid) {
            Some(key) => Ok(Rc::clone(key)),
            None if state.keys.is_empty() => {
                Err(KeyError::Unavailable(error.unwrap_or_else(|| {
                    "not fetched yet; retrying shortly".to_owned()
                })))
            }
            None => Err(KeyError::Unknown),
        }
    }
}
