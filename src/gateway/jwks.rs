//! Gateway signing keys: parsed from a JWKS document, cached in isolate memory for a TTL,
//! refetched when a token names an unknown `kid` (at most once per 30 s, so forged `kid`s
//! cannot cause a fetch storm). A failed refetch keeps the cached keys. Requests that need
//! the keys while a fetch is in flight all wait for that one fetch.
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

use crate::events::{AuthEvent, EventKind};
use crate::gateway::Algorithm;
use crate::support::single_flight::signal;

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

type KeyMap = HashMap<String, Rc<Jwk>>;

/// The fetch in flight, since `started`: `done` fires when it ends, however it ends.
struct InFlight {
    id: u64,
    started: u64,
    done: signal::Done,
}

#[derive(Default)]
struct KeyState {
    keys: KeyMap,
    fetched_at: Option<u64>,
    last_attempt: Option<u64>,
    /// Why the last fetch failed (cleared by a successful one).
    failure: Option<String>,
    generation: u64,
    fetches_started: u64,
    in_flight: Option<InFlight>,
}

impl KeyState {
    fn is_fresh(&self, now: u64, ttl_secs: u64) -> bool {
        self.fetched_at
            .is_some_and(|t| now < t.saturating_add(ttl_secs))
    }
}

/// Fetch and parse the key set; on failure a reason code and the message.
async fn fetch_keys(source: &dyn JwksSource) -> Result<KeyMap, (&'static str, String)> {
    let doc = source.fetch_jwks().await.map_err(|e| ("fetch_failed", e))?;
    let keys = parse_jwks(&doc).map_err(|e| ("invalid_key_set", e.to_string()))?;
    if keys.is_empty() {
        return Err((
            "no_usable_key",
            "the key set holds no usable signing key".to_owned(),
        ));
    }
    Ok(keys
        .into_iter()
        .map(|k| (k.kid.clone(), Rc::new(k)))
        .collect())
}

/// What one key fetch came to, for the key-fetch event of the request that made it.
///
/// ```
/// use remote_user_filter::gateway::KeyFetch;
/// let event = KeyFetch::Failed { reason: "fetch_failed", detail: "HTTP 500".into() }.event();
/// assert_eq!(event.to_json_line(), r#"{"event":"key_fetch","reason":"fetch_failed","detail":"HTTP 500"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFetch {
    /// The key set was fetched and holds this many usable keys.
    Fetched(usize),
    /// The fetch failed: a reason code (`fetch_failed`, `invalid_key_set`, `no_usable_key`)
    /// and the message (the URL, the HTTP status; never a key or a token).
    Failed {
        /// The reason code.
        reason: &'static str,
        /// What went wrong.
        detail: String,
    },
}

impl KeyFetch {
    /// The [`AuthEvent`] for this fetch.
    pub fn event(&self) -> AuthEvent {
        let event = AuthEvent::new(EventKind::KeyFetch);
        match self {
            KeyFetch::Fetched(keys) => event.keys(*keys),
            KeyFetch::Failed { reason, detail } => event.reason(*reason).detail(detail.clone()),
        }
    }
}

/// Ends the fetch `id` when dropped, finished or abandoned: clears it and wakes its waiters,
/// who then look at the key set again.
struct FetchInFlight<'a> {
    state: &'a RefCell<KeyState>,
    id: u64,
    _fire: signal::Fire,
}

impl Drop for FetchInFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut state) = self.state.try_borrow_mut() {
            state.in_flight.take_if(|f| f.id == self.id);
        }
    }
}

enum Next<'a, W> {
    Wait(W),
    Fetch(FetchInFlight<'a>),
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
            .field("fetching", &state.in_flight.is_some())
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
        self.state.borrow().is_fresh(now, self.ttl_secs)
    }

    /// Whether `kid` is in the current key set (no fetch).
    pub fn has(&self, kid: &str) -> bool {
        self.state.borrow().keys.contains_key(kid)
    }

    /// The key for `kid` at `now`, fetching when the set is stale or lacks it. A caller that
    /// needs a fetch while one is in flight waits for that one; otherwise a fetch starts at
    /// most once per refetch interval, and a caller that may not start one gets what is cached.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use futures::future::join_all;
    /// use remote_user_filter::{async_trait, JwksSource, KeyCache};
    /// struct Keys(std::cell::Cell<u32>);
    /// #[async_trait(?Send)]
    /// impl JwksSource for Keys {
    ///     async fn fetch_jwks(&self) -> Result<String, String> {
    ///         self.0.set(self.0.get() + 1);
    ///         Ok(r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"AA","y":"AA"}]}"#.into())
    ///     }
    /// }
    /// # futures::executor::block_on(async {
    /// let source = Rc::new(Keys(Default::default()));
    /// let cache = KeyCache::new(source.clone());
    /// let keys = join_all((0..8).map(|_| cache.key("k1", 0))).await;
    /// assert!(keys.iter().all(Result::is_ok));
    /// assert_eq!(source.0.get(), 1); // one fetch, however many callers
    /// # });
    /// ```
    pub async fn key(&self, kid: &str, now: u64) -> Result<Rc<Jwk>, KeyError> {
        self.key_reporting(kid, now, &mut None).await
    }

    /// [`key`](KeyCache::key), telling `fetched` what the fetch came to when this call made
    /// one (a caller that waited on another's fetch, or found the key cached, is told
    /// nothing).
    ///
    /// ```
    /// use std::rc::Rc;
    /// use remote_user_filter::{async_trait, gateway::KeyFetch, JwksSource, KeyCache};
    /// struct Down;
    /// #[async_trait(?Send)]
    /// impl JwksSource for Down {
    ///     async fn fetch_jwks(&self) -> Result<String, String> { Err("HTTP 500".into()) }
    /// }
    /// # futures::executor::block_on(async {
    /// let cache = KeyCache::new(Rc::new(Down));
    /// let mut fetched = None;
    /// assert!(cache.key_reporting("k1", 0, &mut fetched).await.is_err());
    /// assert_eq!(fetched, Some(KeyFetch::Failed { reason: "fetch_failed", detail: "HTTP 500".into() }));
    /// # });
    /// ```
    pub async fn key_reporting(
        &self,
        kid: &str,
        now: u64,
        fetched: &mut Option<KeyFetch>,
    ) -> Result<Rc<Jwk>, KeyError> {
        loop {
            let next = {
                let mut state = self.state.borrow_mut();
                if state.is_fresh(now, self.ttl_secs) {
                    if let Some(key) = state.keys.get(kid) {
                        return Ok(Rc::clone(key));
                    }
                }
                let may_fetch = state
                    .last_attempt
                    .is_none_or(|t| now >= t.saturating_add(self.min_refetch_secs));
                match &state.in_flight {
                    // A fetch that has been in flight for the whole refetch interval is
                    // presumed lost (in workerd, a request cancelled mid-fetch never resumes):
                    // the next caller starts another, still at most one per interval.
                    Some(f) if now < f.started.saturating_add(self.min_refetch_secs) => {
                        Next::Wait(f.done.wait())
                    }
                    _ if may_fetch => {
                        state.last_attempt = Some(now);
                        state.fetches_started += 1;
                        let id = state.fetches_started;
                        let (fire, done) = signal::signal();
                        state.in_flight = Some(InFlight {
                            id,
                            started: now,
                            done,
                        });
                        Next::Fetch(FetchInFlight {
                            state: &self.state,
                            id,
                            _fire: fire,
                        })
                    }
                    _ => break,
                }
            };
            match next {
                // Then look again: the keys may be here, or another fetch in flight.
                Next::Wait(done) => done.await,
                Next::Fetch(in_flight) => {
                    let result = fetch_keys(self.source.as_ref()).await;
                    let mut state = self.state.borrow_mut();
                    *fetched = Some(match &result {
                        Ok(keys) => KeyFetch::Fetched(keys.len()),
                        Err((reason, detail)) => KeyFetch::Failed {
                            reason,
                            detail: detail.clone(),
                        },
                    });
                    match result {
                        // Unless a later fetch (one that took over from this one) stored its
                        // keys already.
                        Ok(keys) if state.fetched_at.is_none_or(|t| t <= now) => {
                            state.keys = keys;
                            state.fetched_at = Some(now);
                            state.generation += 1;
                            state.failure = None;
                        }
                        Ok(_) => {}
                        Err((_, e)) => state.failure = Some(e),
                    }
                    drop(state);
                    drop(in_flight);
                    break;
                }
            }
        }
        let state = self.state.borrow();
        match state.keys.get(kid) {
            Some(key) => Ok(Rc::clone(key)),
            None if state.keys.is_empty() => {
                Err(KeyError::Unavailable(state.failure.clone().unwrap_or_else(
                    || "not fetched yet; retrying shortly".to_owned(),
                )))
            }
            None => Err(KeyError::Unknown),
        }
    }
}
