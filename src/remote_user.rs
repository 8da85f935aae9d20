//! Django's `RemoteUserMiddleware` and `PersistentRemoteUserMiddleware` as filters.
//!
//! The filter only decides; [`login`] and [`logout`] change the session, once.
//!
//! ```
//! use std::rc::Rc;
//! use remote_user_filter::{
//!     FilterChain, KvUserBackend, ManualClock, MemoryStore, Outcome, RemoteUserFilter, SessionFilter,
//!     SharedSecretFilter,
//! };
//!
//! # futures::executor::block_on(async {
//! let backend = Rc::new(KvUserBackend::new(MemoryStore::new()));
//! let chain = FilterChain::builder()
//!     .filter(SessionFilter::builder("a-32-byte-or-longer-session-secret!").build())
//!     .filter(SharedSecretFilter::new("X-Gateway-Secret", Some("a-long-random-gateway-secret".into())))
//!     .filter(RemoteUserFilter::builder(backend.clone()).header("X-Auth-Request-Email").build())
//!     .clock(ManualClock::new(1_700_000_000))
//!     .build()
//!     .unwrap();
//! let mut headers = http::HeaderMap::new();
//! headers.insert("x-auth-request-email", "ann@example.com".parse().unwrap());
//! headers.insert("x-gateway-secret", "a-long-random-gateway-secret".parse().unwrap());
//! assert!(matches!(chain.handle(headers).await, Outcome::Forward { user: Some(_), .. }));
//! # });
//! ```

use std::cell::RefCell;
use std::rc::Rc;

use async_trait::async_trait;
use http::HeaderName;

use crate::chain::{AuthRequest, Filter, FilterKind, Position};
use crate::error::{AuthError, BackendError, ConfigError, ConfigProblem};
use crate::events::{AuthEvent, EventKind};
use crate::gateway::{merge_groups, parse_identity_groups, IdentitySource};
use crate::session::{login, logout, renew};
use crate::support::bounded::BoundedMap;
use crate::support::single_flight::SingleFlight;
use crate::users::{Authenticated, SessionUser, UserBackend, MAX_IDENTITY_LEN};

/// The identity header Cloudflare Access sets.
pub const DEFAULT_HEADER: &str = "Cf-Access-Authenticated-User-Email";
/// The setting that names the identity header, named in configuration errors.
pub(crate) const HEADER_SETTING: &str = "REMOTE_USER_HEADER";
/// Default time a looked-up user is reused by an isolate: 60 s (`USER_CACHE_SECS`), the
/// staleness Workers KV itself allows a read.
pub const DEFAULT_USER_CACHE_SECS: u64 = 60;
/// Default age after which a session's user is checked against the backend again: 300 s
/// (`USER_RECHECK_SECS`).
pub const DEFAULT_RECHECK_SECS: u64 = 300;
/// How many looked-up users an isolate remembers (the oldest is forgotten first).
const USER_CACHE_ENTRIES: usize = 4096;

/// What one look-up decided: the user, or `None` for refused.
type Lookup = Result<Option<Authenticated>, BackendError>;

/// How long a request waits on a look-up another request started before giving up (503).
/// The request doing the look-up gives up sooner (`KV_TIMEOUT_MS`); this bounds the wait
/// should that request go away.
const SHARED_WAIT_MS: u64 = 5_000;

/// Users looked up in this isolate, and the look-ups under way, by cleaned username:
/// concurrent requests for one user wait on one look-up, and repeats within `ttl_secs`
/// reuse its answer (a refusal too).
struct UserCache {
    ttl_secs: u64,
    entries: RefCell<BoundedMap<(u64, Option<Authenticated>)>>,
    in_flight: SingleFlight<Lookup>,
}

impl UserCache {
    fn new(ttl_secs: u64) -> Self {
        Self {
            ttl_secs,
            entries: RefCell::new(BoundedMap::new(USER_CACHE_ENTRIES, MAX_IDENTITY_LEN)),
            in_flight: SingleFlight::default(),
        }
    }

    fn get(&self, username: &str, now: u64) -> Option<Option<Authenticated>> {
        let entries = self.entries.borrow();
        let (at, found) = entries.get(username)?;
        (now >= *at && now < at.saturating_add(self.ttl_secs)).then(|| found.clone())
    }

    fn put(&self, username: &str, now: u64, found: Option<Authenticated>) {
        if self.ttl_secs > 0 {
            self.entries.borrow_mut().insert(username, (now, found));
        }
    }
}

/// Logs in the user a gateway names in a header; logs out when the header goes away or
/// names someone else. Needs a [`SessionFilter`](crate::SessionFilter) before it.
///
/// ```
/// use std::rc::Rc;
/// use remote_user_filter::{KvUserBackend, MemoryStore, RemoteUserFilter};
/// let filter = RemoteUserFilter::new(Rc::new(KvUserBackend::new(MemoryStore::new())));
/// assert_eq!(filter.header(), "Cf-Access-Authenticated-User-Email");
/// ```
#[derive(Clone)]
pub struct RemoteUserFilter {
    backend: Rc<dyn UserBackend>,
    header: String,
    header_name: Option<HeaderName>,
    force_logout_if_no_header: bool,
    trust_unsigned_header: bool,
    recheck_secs: u64,
    identity: Option<Rc<dyn IdentitySource>>,
    users: Rc<UserCache>,
}

impl std::fmt::Debug for RemoteUserFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteUserFilter")
            .field("backend", &self.backend.name())
            .field("header", &self.header)
            .field("force_logout_if_no_header", &self.force_logout_if_no_header)
            .field("recheck_secs", &self.recheck_secs)
            .field("user_cache_secs", &self.users.ttl_secs)
            .field("fetch_identity", &self.identity.is_some())
            .finish()
    }
}

/// Builds a [`RemoteUserFilter`].
///
/// ```
/// use std::rc::Rc;
/// use remote_user_filter::{KvUserBackend, MemoryStore, RemoteUserFilter};
/// let filter = RemoteUserFilter::builder(Rc::new(KvUserBackend::new(MemoryStore::new())))
///     .header("X-Forwarded-User")
///     .build();
/// assert_eq!(filter.header(), "X-Forwarded-User");
/// ```
pub struct RemoteUserFilterBuilder {
    backend: Rc<dyn UserBackend>,
    header: String,
    trust_unsigned_header: bool,
    user_cache_secs: u64,
    recheck_secs: u64,
    identity: Option<Rc<dyn IdentitySource>>,
}

impl std::fmt::Debug for RemoteUserFilterBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteUserFilterBuilder")
            .field("header", &self.header)
            .finish()
    }
}

impl RemoteUserFilterBuilder {
    /// The identity header (default `Cf-Access-Authenticated-User-Email`). Checked when the
    /// chain is built.
    pub fn header(mut self, header: impl Into<String>) -> Self {
        self.header = header.into();
        self
    }

    /// Trust the plain header with no gateway proof before this filter (default `false`:
    /// the configuration check then requires a `GatewayJwtFilter` or `SharedSecretFilter`
    /// earlier in the chain). Only for workers nothing but the gateway can reach.
    pub fn trust_unsigned_header(mut self, trust: bool) -> Self {
        self.trust_unsigned_header = trust;
        self
    }

    /// Reuse a looked-up user for `secs` (default 60, `USER_CACHE_SECS`; `0`: look up every
    /// login), so a client that keeps no cookie costs no store call after its first
    /// request. A refusal is reused too. A custom `configure_user` therefore runs at most
    /// once per `secs` per user in an isolate.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use remote_user_filter::{KvUserBackend, MemoryStore, RemoteUserFilter};
    /// let filter = RemoteUserFilter::builder(Rc::new(KvUserBackend::new(MemoryStore::new())))
    ///     .user_cache_secs(0)
    ///     .build();
    /// # let _ = filter;
    /// ```
    pub fn user_cache_secs(mut self, secs: u64) -> Self {
        self.user_cache_secs = secs;
        self
    }

    /// Check a session's user against the backend again once the session was last checked
    /// `secs` ago (default 300, `USER_RECHECK_SECS`; `0`: never): an inactive user, or one
    /// gone while creation is off, is logged out and refused (403); a changed email or
    /// groups are re-issued in the cookie. One read (none when the user was looked up in
    /// this isolate within `user_cache_secs`), no write.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use remote_user_filter::{KvUserBackend, MemoryStore, RemoteUserFilter};
    /// let filter = RemoteUserFilter::builder(Rc::new(KvUserBackend::new(MemoryStore::new())))
    ///     .recheck_secs(60)
    ///     .build();
    /// # let _ = filter;
    /// ```
    pub fn recheck_secs(mut self, secs: u64) -> Self {
        self.recheck_secs = secs;
        self
    }

    /// Add the identity provider's groups to the user's at each look-up (a login, a
    /// re-check: never on a request a valid session cookie decides), asking `source` with the
    /// assertion a [`GatewayJwtFilter`](crate::GatewayJwtFilter) verified on the request
    /// (`ACCESS_FETCH_IDENTITY`). The user record's groups come first, each group once; the
    /// record is not rewritten. A failed fetch is a warning and the user keeps the record's
    /// groups. The merged user is what this isolate's user cache keeps (`user_cache_secs`),
    /// and concurrent look-ups of one user share one fetch. No assertion on the request (a
    /// re-check by a persistent filter without one): the record's groups alone.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use remote_user_filter::{async_trait, IdentitySource, KvUserBackend, MemoryStore, RemoteUserFilter};
    /// struct Idp;
    /// #[async_trait(?Send)]
    /// impl IdentitySource for Idp {
    ///     async fn fetch_identity(&self, _assertion: &str) -> Result<String, String> {
    ///         Ok(r#"{"groups":["ops"]}"#.into())
    ///     }
    /// }
    /// let filter = RemoteUserFilter::builder(Rc::new(KvUserBackend::new(MemoryStore::new())))
    ///     .identity_source(Rc::new(Idp))
    ///     .build();
    /// # let _ = filter;
    /// ```
    pub fn identity_source(mut self, source: Rc<dyn IdentitySource>) -> Self {
        self.identity = Some(source);
        self
    }

    /// The filter.
    pub fn build(self) -> RemoteUserFilter {
        RemoteUserFilter {
            header_name: HeaderName::from_bytes(self.header.as_bytes()).ok(),
            header: self.header,
            backend: self.backend,
            force_logout_if_no_header: true,
            trust_unsigned_header: self.trust_unsigned_header,
            recheck_secs: self.recheck_secs,
            identity: self.identity,
            users: Rc::new(UserCache::new(self.user_cache_secs)),
        }
    }
}

impl RemoteUserFilter {
    /// A filter reading the default header, using `backend`.
    pub fn new(backend: Rc<dyn UserBackend>) -> Self {
        Self::builder(backend).build()
    }

    /// A builder using `backend`.
    pub fn builder(backend: Rc<dyn UserBackend>) -> RemoteUserFilterBuilder {
        RemoteUserFilterBuilder {
            backend,
            header: DEFAULT_HEADER.to_owned(),
            trust_unsigned_header: false,
            user_cache_secs: DEFAULT_USER_CACHE_SECS,
            recheck_secs: DEFAULT_RECHECK_SECS,
            identity: None,
        }
    }

    /// The identity header's name as configured.
    pub fn header(&self) -> &str {
        &self.header
    }

    /// The backend.
    pub fn backend(&self) -> &Rc<dyn UserBackend> {
        &self.backend
    }

    /// The identity: what a gateway-assertion filter verified when one ran, else the
    /// header's value (`None` when absent or empty; 400 when malformed).
    fn identity(&self, req: &AuthRequest) -> Result<Option<String>, AuthError> {
        if let Some(verified) = req.verified_identity() {
            return Ok(verified.map(str::to_owned));
        }
        let Some(name) = &self.header_name else {
            return Err(AuthError::Config(ConfigError::filter(
                "RemoteUserFilter",
                ConfigProblem::InvalidHeaderName {
                    setting: HEADER_SETTING,
                    value: self.header.clone(),
                },
            )));
        };
        let bad = |reason| AuthError::BadIdentityHeader {
            header: self.header.clone(),
            reason,
        };
        let mut values = req.headers().get_all(name).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(bad("it was sent more than once"));
        }
        let text = std::str::from_utf8(value.as_bytes())
            .map_err(|_| bad("it is not UTF-8 text"))?
            .trim();
        if text.len() > MAX_IDENTITY_LEN {
            return Err(bad("it is longer than 320 bytes"));
        }
        // Two headers joined by a proxy (or by JS `Headers`) arrive as `a, b`.
        if text.contains(',') {
            return Err(bad("it holds more than one value"));
        }
        if text.chars().any(char::is_control) {
            return Err(bad("it contains control characters"));
        }
        Ok((!text.is_empty()).then(|| text.to_owned()))
    }

    fn headers(&self) -> Option<Vec<HeaderName>> {
        let mut names = self.backend.headers_read()?;
        names.extend(self.header_name.clone());
        Some(names)
    }

    fn check_settings(&self, position: &Position<'_>) -> Result<(), ConfigProblem> {
        if self.header_name.is_none() {
            return Err(ConfigProblem::InvalidHeaderName {
                setting: HEADER_SETTING,
                value: self.header.clone(),
            });
        }
        if !position.before().contains(&FilterKind::Session) {
            return Err(ConfigProblem::RequiresBefore {
                required: "SessionFilter",
            });
        }
        if !self.trust_unsigned_header && !position.before().contains(&FilterKind::Gateway) {
            return Err(ConfigProblem::UnsignedHeader {
                header: self.header.clone(),
            });
        }
        // Name the backend the user installed (e.g. a wrapper), not the one it delegates to.
        self.backend.check().map_err(|problem| match problem {
            ConfigProblem::MissingBinding { binding, .. } => ConfigProblem::MissingBinding {
                backend: self.backend.name(),
                binding,
            },
            other => other,
        })
    }

    async fn process(&self, req: &mut AuthRequest) -> Result<(), AuthError> {
        let Some(remote_user) = self.identity(req)? else {
            if req.user().is_some() {
                // Django logs out only sessions a remote-user login made.
                if self.force_logout_if_no_header && req.session_is_remote_user() {
                    logout(req);
                    return Ok(());
                }
                return self.refresh(req).await;
            }
            return Ok(());
        };
        let username = self.backend.clean_username(&remote_user);
        if let Some(user) = req.user() {
            if user.username == username {
                self.refresh(req).await?;
                let confirmed = req.user().is_some();
                req.confirm_identity(confirmed);
                return Ok(());
            }
            logout(req);
        }
        match self.lookup(req, &username, Some(&remote_user)).await? {
            Some(found) => {
                login(req, found.user, self.backend.as_ref()).await?;
                req.confirm_identity(true);
                Ok(())
            }
            None => {
                req.reject();
                Ok(())
            }
        }
    }

    /// Find `username` (cleaned): reused from this isolate's cache, else one look-up
    /// shared by every request waiting on it: `authenticate(remote_user)` for a login,
    /// `find_or_create(username)` for a re-check, then the identity provider's groups when
    /// an [`IdentitySource`] is set (a failed fetch is this request's warning).
    async fn lookup(
        &self,
        req: &mut AuthRequest,
        username: &str,
        remote_user: Option<&str>,
    ) -> Lookup {
        let now = req.now();
        if let Some(found) = self.users.get(username, now) {
            return Ok(found);
        }
        let backend = &self.backend;
        let identity = self.identity.as_deref().zip(req.verified_assertion());
        // Only the request that does the look-up hears of a failed fetch.
        let warning = RefCell::new(None);
        let warn_to = &warning;
        let request = req.backend_request();
        let work = || async move {
            let found = match remote_user {
                Some(remote_user) => backend.authenticate(&request, remote_user).await,
                None => backend.find_or_create(&request, username).await,
            };
            match (found, identity) {
                (Ok(Some(mut found)), Some((source, assertion))) => {
                    match fetch_groups(source, &assertion).await {
                        Ok(groups) => found.user.groups = merge_groups(&found.user.groups, groups),
                        Err(why) => {
                            *warn_to.borrow_mut() = Some(format!(
                                "the identity provider's groups of `{username}` were not fetched \
                                 (ACCESS_FETCH_IDENTITY; the user keeps the record's groups): \
                                 {why}"
                            ));
                        }
                    }
                    Ok(Some(found))
                }
                (found, _) => found,
            }
        };
        let guard = req.sleep(SHARED_WAIT_MS);
        let result = self
            .users
            .in_flight
            .run(username, work, guard)
            .await
            .unwrap_or_else(|| {
                Err(BackendError::Unavailable(format!(
                    "another request's look-up of `{username}` did not finish (waited at most \
                     {SHARED_WAIT_MS} ms)"
                )))
            });
        if let Some(warning) = warning.into_inner() {
            req.warn(warning);
        }
        if let Ok(found) = &result {
            self.users.put(username, now, found.clone());
        }
        result
    }

    /// Bring a session's user up to date when it is due a re-check, or when its cookie
    /// carried a digest of email and groups this isolate has not seen.
    async fn refresh(&self, req: &mut AuthRequest) -> Result<(), AuthError> {
        let Some(username) = req.user().map(|u| u.username.clone()) else {
            return Ok(());
        };
        let now = req.now();
        let due = self.recheck_secs > 0
            && req.session_checked_at().is_some_and(|checked| {
                now >= checked.saturating_add(self.recheck_secs) || now < checked
            });
        if !due && !req.session_profile_pending() {
            return Ok(());
        }
        match self.lookup(req, &username, None).await? {
            Some(found) => {
                let user = SessionUser::from_user(&found.user, &self.backend.name());
                renew(req, user, due)
            }
            None => {
                // The re-check found the user gone or inactive: the session ends here.
                req.record_event(
                    AuthEvent::new(EventKind::Revocation)
                        .reason("user_rejected")
                        .user(username),
                );
                logout(req);
                req.reject();
                Ok(())
            }
        }
    }
}

/// The group names in the identity document `source` has for the bearer of `assertion`,
/// or why there are none (never with the assertion in it).
async fn fetch_groups(source: &dyn IdentitySource, assertion: &str) -> Result<Vec<String>, String> {
    let doc = source.fetch_identity(assertion).await?;
    parse_identity_groups(&doc).map_err(|e| e.to_string())
}

#[async_trait(?Send)]
impl Filter for RemoteUserFilter {
    fn kind(&self) -> FilterKind {
        FilterKind::RemoteUser
    }

    fn check(&self, position: &Position<'_>) -> Result<(), ConfigProblem> {
        self.check_settings(position)
    }

    fn headers_read(&self) -> Option<Vec<HeaderName>> {
        self.headers()
    }

    async fn call(&self, req: &mut AuthRequest) -> Result<(), AuthError> {
        self.process(req).await
    }
}

/// Django's `PersistentRemoteUserMiddleware`: like [`RemoteUserFilter`], but a request
/// without the header keeps its session (for gateways that send the header only on the
/// login page).
///
/// ```
/// use std::rc::Rc;
/// use remote_user_filter::{KvUserBackend, MemoryStore, PersistentRemoteUserFilter};
/// let filter = PersistentRemoteUserFilter::new(Rc::new(KvUserBackend::new(MemoryStore::new())));
/// assert_eq!(filter.inner().header(), "Cf-Access-Authenticated-User-Email");
/// ```
#[derive(Debug, Clone)]
pub struct PersistentRemoteUserFilter(RemoteUserFilter);

impl PersistentRemoteUserFilter {
    /// A persistent filter reading the default header, using `backend`.
    pub fn new(backend: Rc<dyn UserBackend>) -> Self {
        Self::from(RemoteUserFilter::new(backend))
    }

    /// The remote-user filter it is made of.
    pub fn inner(&self) -> &RemoteUserFilter {
        &self.0
    }
}

impl From<RemoteUserFilter> for PersistentRemoteUserFilter {
    fn from(mut filter: RemoteUserFilter) -> Self {
        filter.force_logout_if_no_header = false;
        Self(filter)
    }
}

#[async_trait(?Send)]
impl Filter for PersistentRemoteUserFilter {
    fn kind(&self) -> FilterKind {
        FilterKind::RemoteUser
    }

    fn check(&self, position: &Position<'_>) -> Result<(), ConfigProblem> {
        self.0.check_settings(position)
    }

    fn headers_read(&self) -> Option<Vec<HeaderName>> {
        self.0.headers()
    }

    async fn call(&self, req: &mut AuthRequest) -> Result<(), AuthError> {
        self.0.process(req).await
    }
}
