//! # remote-user-filter
//!
//! Authenticate people at the Cloudflare edge from the identity an access gateway
//! (Cloudflare Access, oauth2-proxy, Authelia, …) puts on each request: Django's
//! `RemoteUserMiddleware` + `RemoteUserBackend`, as a Rust Worker and a library.
//!
//! Per request: the [`SessionFilter`] verifies the session cookie; a [`RemoteUserFilter`]
//! reads the identity header and, when no session already names that user, asks the async
//! [`UserBackend`] (Workers KV by default) to find, create or reject the user, then
//! [`login`] starts a new session with one cookie and stamps the login, without rewriting
//! the user's record.
//!
//! ```
//! use std::rc::Rc;
//! use remote_user_filter::{
//!     FilterChain, KvUserBackend, ManualClock, MemoryStore, Outcome, RemoteUserFilter, SessionFilter,
//!     SharedSecretFilter,
//! };
//!
//! # futures::executor::block_on(async {
//! let store = Rc::new(MemoryStore::new());
//! let chain = FilterChain::builder()
//!     .filter(SessionFilter::builder("a-32-byte-or-longer-session-secret!").build())
//!     .filter(SharedSecretFilter::new("X-Gateway-Secret", Some("a-long-random-gateway-secret".into())))
//!     .filter(RemoteUserFilter::new(Rc::new(KvUserBackend::new(store.clone()))))
//!     .clock(ManualClock::new(1_700_000_000))
//!     .build()
//!     .expect("a valid chain");
//!
//! let mut first = http::HeaderMap::new();
//! first.insert("cf-access-authenticated-user-email", "ann@example.com".parse().unwrap());
//! first.insert("x-gateway-secret", "a-long-random-gateway-secret".parse().unwrap());
//! let Outcome::Forward { set_cookie: Some(cookie), .. } = chain.handle(first.clone()).await else {
//!     panic!("expected a login")
//! };
//!
//! // The next request carries the cookie: no store call, no new cookie.
//! let (reads, writes) = (store.reads(), store.writes());
//! let mut next = first;
//! let pair = cookie.split(';').next().unwrap();
//! next.insert("cookie", pair.parse().unwrap());
//! let outcome = chain.handle(next).await;
//! assert!(outcome.set_cookie().is_none());
//! assert_eq!((store.reads(), store.writes()), (reads, writes));
//! # });
//! ```
#![deny(missing_docs, unreachable_pub, unsafe_code)]

pub mod chain;
mod clock;
pub mod config;
pub mod edge;
pub mod endpoints;
mod error;
mod events;
pub mod gateway;
pub mod negotiate;
pub mod path;
mod path_rules;
mod remote_user;
mod routes;
pub mod session;
mod support;
mod type_name;
mod upstream;
pub mod users;

pub use async_trait::async_trait;
pub use chain::{
    AnonymousPolicy, AuthRequest, Filter, FilterChain, FilterChainBuilder, FilterKind,
    GatewayAssertion, LocalResponse, Outcome, Position, CF_RAY,
};
#[cfg(target_arch = "wasm32")]
pub use clock::Timer;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{FilterName, StockChainBuilder, StockSettings, DEFAULT_KV_TIMEOUT_MS, KV_BINDING};
#[cfg(target_arch = "wasm32")]
pub use edge::api::{Admitted, Answer, EdgeAuth};
pub use endpoints::{
    SignOutFilter, WhoAmIFilter, ACCESS_SIGN_OUT, DEFAULT_LOGOUT_PATH, DEFAULT_WHOAMI_PATH,
    IAP_SIGN_OUT,
};
pub use error::{AuthError, BackendError, ConfigError, ConfigProblem, StoreError};
pub use events::{AuthEvent, EventKind};
pub use gateway::{
    parse_assertion, parse_jwks, Algorithm, AssertionError, Audience, Claims, ClaimsPolicy,
    Gateway, GatewayJwtFilter, GatewayJwtFilterBuilder, GatewayPreset, IdentitySource, Jwk,
    JwksError, JwksSource, KeyCache, KeyError, KeyFormatError, ParsedAssertion, PublicKey,
    RustCryptoVerifier, SharedSecretFilter, SignatureVerifier, DEFAULT_KEY_TTL_SECS,
    MAX_ASSERTION_LEN, MAX_LEEWAY_SECS, MIN_GATEWAY_SECRET_LEN, MIN_REFETCH_INTERVAL_SECS,
    MIN_RSA_BITS, TOKEN_CACHE_ENTRIES,
};
pub use path_rules::{PathRule, PathRulesFilter, ANY_GROUP};
pub use remote_user::{
    PersistentRemoteUserFilter, RemoteUserFilter, RemoteUserFilterBuilder, DEFAULT_HEADER,
    DEFAULT_RECHECK_SECS, DEFAULT_USER_CACHE_SECS,
};
pub use routes::{CorsPreflight, PublicRoutesFilter};
pub use session::{
    login, logout, SessionFilter, SessionFilterBuilder, DEFAULT_COOKIE_NAME, DEFAULT_TTL_SECS,
    MAX_SET_COOKIE_LEN, MIN_SECRET_LEN, SESSION_CACHE_ENTRIES,
};
pub use type_name::short_type_name;
pub use upstream::{forward_target, origin_url, path_and_query, strip_cookie, UpstreamHeaders};
pub use users::{
    AllowAllUsers, Authenticated, BackendRequest, KvUserBackend, MemoryStore, SessionUser, User,
    UserBackend, UserStore, DEFAULT_LAST_LOGIN_INTERVAL_SECS, MAX_IDENTITY_LEN,
};

/// The README's Rust example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
