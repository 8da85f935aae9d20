//! Sessions: one signed cookie, issued by [`login`] and cleared by [`logout`].
//!
//! The cookie is an HS256 JWT ([`session_token`](crate::session::token)) signed with
//! `SESSION_SECRET`, carrying the username, a random session id, issue and expiry times, the
//! backend that logged the user in, and the email and groups forwarded upstream — so a request
//! with a valid cookie costs no store call. A tampered, expired or foreign cookie is treated
//! as absent. A cookie verified once is remembered for the isolate (bounded), so the next
//! request with it skips the HMAC check; its expiry is still checked every time.
//!
//! ```
//! use remote_user_filter::{
//!     login, AuthRequest, Filter, KvUserBackend, MemoryStore, SessionFilter, User,
//! };
//!
//! # futures::executor::block_on(async {
//! let sessions = SessionFilter::builder("a-32-byte-or-longer-session-secret!").build();
//! let backend = KvUserBackend::new(MemoryStore::new());
//!
//! let mut req = AuthRequest::new(http::HeaderMap::new(), 1_700_000_000);
//! sessions.call(&mut req).await.unwrap();
//! login(&mut req, User::new("ann"), &backend).await.unwrap();
//! let cookie = req.set_cookie().unwrap();
//! assert!(cookie.starts_with("__Host-remote-user-session="));
//! assert!(cookie.contains("HttpOnly") && cookie.contains("Secure"));
//! # });
//! ```

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use async_trait::async_trait;
use cookie::{Cookie, SameSite};

use crate::chain::AuthRequest;
use crate::chain::{Filter, FilterKind, Position};
use crate::error::{AuthError, BackendError, ConfigError, ConfigProblem};
use crate::events::{AuthEvent, EventKind};
use crate::session::token::{SessionClaims, SessionKey, MAX_TOKEN_LEN};
use crate::support::bounded::BoundedMap;
use crate::users::UserBackend;
use crate::users::{SessionUser, User};

/// Default session cookie name. The `__Host-` prefix makes browsers insist on `Secure`,
/// `Path=/` and no `Domain`, so a sibling subdomain cannot plant a session.
pub const DEFAULT_COOKIE_NAME: &str = "__Host-remote-user-session";
/// Default session lifetime: 8 hours.
pub const DEFAULT_TTL_SECS: u64 = 8 * 60 * 60;
/// The shortest accepted `SESSION_SECRET`, in bytes.
pub const MIN_SECRET_LEN: usize = 32;
/// The setting that holds the secret, named in configuration errors.
pub(crate) const SECRET_SETTING: &str = "SESSION_SECRET";
/// How many verified session cookies are remembered per isolate, so a user's next request
/// skips the HMAC check and the JSON parse (the expiry is still checked on every request).
pub const SESSION_CACHE_ENTRIES: usize = 1024;

/// The session as one request holds it: what arrived, and the one cookie to send back.
#[derive(Debug)]
struct SessionState {
    config: Rc<SessionConfig>,
    session_id: Option<String>,
    /// When the session began (its expiry follows from it; a renewal keeps it).
    issued_at: u64,
    /// When the session ends (the cookie's `exp`).
    expires_at: u64,
    /// When the session's user was last checked against the backend.
    checked_at: u64,
    /// Whether a remote-user login made the session.
    remote_user: bool,
    /// The digest of an email and groups the cookie left out and this isolate has not seen.
    profile_pending: Option<String>,
}

/// The longest `Set-Cookie` line issued: browsers silently drop cookies of 4,096 bytes and
/// more (name, value and attributes), so a longer one would mean a login on every request.
pub const MAX_SET_COOKIE_LEN: usize = 4095;
/// How many email-and-groups profiles left out of cookies an isolate remembers, by digest.
const PROFILE_CACHE_ENTRIES: usize = 1024;

/// An email and groups left out of a cookie, remembered by their digest.
#[derive(Debug, Clone)]
struct Profile {
    email: Option<String>,
    groups: Vec<String>,
}

/// The digest a cookie carries in place of an email and groups: SHA-256 over their JSON,
/// 128 bits in base64url. Equal profiles have equal digests in every isolate.
fn profile_digest(email: Option<&str>, groups: &[String]) -> String {
    use base64::Engine;
    use sha2::Digest;
    let json = serde_json::to_vec(&(email, groups)).unwrap_or_default();
    let hash = sha2::Sha256::digest(&json);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&hash[..16])
}

/// What a verified session cookie says.
struct Found {
    user: SessionUser,
    session_id: String,
    issued_at: u64,
    expires_at: u64,
    checked_at: u64,
    remote_user: bool,
    profile_digest: Option<String>,
}

impl Found {
    fn from_claims(claims: &SessionClaims) -> Self {
        Self {
            user: claims.user.clone(),
            session_id: claims.session_id.clone(),
            issued_at: claims.issued_at,
            expires_at: claims.expires,
            checked_at: claims.checked(),
            remote_user: claims.remote_user.unwrap_or(true),
            profile_digest: claims.profile_digest.clone(),
        }
    }
}

struct SessionConfig {
    key: Option<SessionKey>,
    verified: RefCell<BoundedMap<SessionClaims>>,
    profiles: RefCell<BoundedMap<Profile>>,
    secret_len: Option<usize>,
    cookie_name: String,
    ttl_secs: u64,
    secure: bool,
    same_site: SameSite,
}

impl fmt::Debug for SessionConfig {
    // The key is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConfig")
            .field("key", &self.key.as_ref().map(|_| "[redacted]"))
            .field("cookie_name", &self.cookie_name)
            .field("ttl_secs", &self.ttl_secs)
            .field("secure", &self.secure)
            .field("same_site", &self.same_site)
            .finish()
    }
}

impl SessionConfig {
    fn cookie<'c>(&self, value: String, max_age: i64) -> Cookie<'c> {
        Cookie::build((self.cookie_name.clone(), value))
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(self.same_site)
            .max_age(cookie::time::Duration::seconds(max_age))
            .build()
    }

    /// The `Set-Cookie` for `user`'s session `session_id`, issued at `issued_at` (a login;
    /// a renewal keeps the session's) and checked at `now`. When the email and groups would
    /// make it too long for browsers, it carries their digest instead and this isolate
    /// remembers them; another isolate reads them once from the backend.
    fn issue(
        &self,
        user: &SessionUser,
        session_id: &str,
        issued_at: u64,
        now: u64,
    ) -> Result<String, AuthError> {
        let key = self.key.as_ref().ok_or_else(missing_secret)?;
        let expires = issued_at.saturating_add(self.ttl_secs);
        let max_age = i64::try_from(expires.saturating_sub(now)).unwrap_or(i64::MAX);
        let mut claims = SessionClaims::new(user.clone(), session_id.to_owned(), issued_at, 0);
        claims.expires = expires;
        claims.checked_at = Some(now);
        let cookie = self.cookie(key.sign(&claims), max_age).to_string();
        if cookie.len() <= MAX_SET_COOKIE_LEN {
            return Ok(cookie);
        }
        let digest = profile_digest(user.email.as_deref(), &user.groups);
        self.profiles.borrow_mut().insert(
            &digest,
            Profile {
                email: claims.user.email.take(),
                groups: std::mem::take(&mut claims.user.groups),
            },
        );
        claims.profile_digest = Some(digest);
        let cookie = self.cookie(key.sign(&claims), max_age).to_string();
        if cookie.len() > MAX_SET_COOKIE_LEN {
            // Only a username of kilobytes gets here (an identity is at most 320 bytes).
            return Err(AuthError::Config(ConfigError::filter(
                "SessionFilter",
                ConfigProblem::InvalidValue {
                    setting: "username",
                    value: format!("{} bytes", user.username.len()),
                    expected: "short enough for a session cookie under 4,096 bytes",
                },
            )));
        }
        Ok(cookie)
    }

    fn verify(&self, token: &str, now: u64) -> Option<Found> {
        let key = self.key.as_ref()?;
        // Over-long tokens are neither cached nor accepted (`SessionKey::verify` refuses them).
        if let Some(hit) = self.verified.borrow().get(token) {
            // The same bytes were verified before: only time can have made them invalid.
            return hit.hold(now).then(|| Found::from_claims(hit));
        }
        let claims = key.verify(token, now)?;
        let found = Found::from_claims(&claims);
        self.verified.borrow_mut().insert(token, claims);
        Some(found)
    }

    /// Fill in the email and groups a cookie left out, when this isolate knows them.
    fn resolve(&self, found: &mut Found) -> Option<String> {
        let digest = found.profile_digest.take()?;
        match self.profiles.borrow().get(&digest) {
            Some(profile) => {
                found.user.email = profile.email.clone();
                found.user.groups = profile.groups.clone();
                None
            }
            None => Some(digest),
        }
    }

    fn removal(&self) -> String {
        self.cookie(String::new(), 0).to_string()
    }
}

fn missing_secret() -> AuthError {
    AuthError::Config(ConfigError::filter(
        "SessionFilter",
        ConfigProblem::MissingSecret {
            setting: SECRET_SETTING,
        },
    ))
}

/// Reads and verifies the session cookie, and owns the session that [`login`] and
/// [`logout`] change. Must come before any remote-user filter.
///
/// ```
/// use remote_user_filter::SessionFilter;
/// let filter = SessionFilter::builder("a-32-byte-or-longer-session-secret!")
///     .ttl_secs(3600)
///     .cookie_name("__Host-app-session")
///     .build();
/// # let _ = filter;
/// ```
#[derive(Debug, Clone)]
pub struct SessionFilter {
    config: Rc<SessionConfig>,
}

/// Builds a [`SessionFilter`]; secure defaults (`HttpOnly`, `Secure`, `SameSite=Lax`,
/// `Path=/`, a `__Host-` name, 8 hours).
///
/// ```
/// use remote_user_filter::SessionFilter;
/// let filter = SessionFilter::builder("a-32-byte-or-longer-session-secret!").secure(true).build();
/// # let _ = filter;
/// ```
#[derive(Debug)]
pub struct SessionFilterBuilder {
    secret: Option<Vec<u8>>,
    cookie_name: String,
    ttl_secs: u64,
    secure: bool,
    same_site: SameSite,
}

impl SessionFilter {
    /// A builder signing sessions with `secret` (at least 32 bytes).
    pub fn builder(secret: impl AsRef<[u8]>) -> SessionFilterBuilder {
        Self::builder_from(Some(secret.as_ref().to_vec()))
    }

    /// A builder whose secret may be missing (the configuration check then reports it).
    ///
    /// ```
    /// use remote_user_filter::SessionFilter;
    /// let filter = SessionFilter::builder_from(None).build();
    /// # let _ = filter;
    /// ```
    pub fn builder_from(secret: Option<Vec<u8>>) -> SessionFilterBuilder {
        SessionFilterBuilder {
            secret,
            cookie_name: DEFAULT_COOKIE_NAME.to_owned(),
            ttl_secs: DEFAULT_TTL_SECS,
            secure: true,
            same_site: SameSite::Lax,
        }
    }

    /// The session cookie's name.
    pub fn cookie_name(&self) -> &str {
        &self.config.cookie_name
    }
}

impl SessionFilterBuilder {
    /// The cookie's name (default `__Host-remote-user-session`).
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// Session lifetime in seconds (default 8 hours).
    pub fn ttl_secs(mut self, ttl: u64) -> Self {
        self.ttl_secs = ttl;
        self
    }

    /// Whether the cookie is `Secure` (default `true`; a `__Host-` name requires it).
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// The cookie's `SameSite` (default `Lax`).
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// The filter. Its settings are checked when the chain is built.
    pub fn build(self) -> SessionFilter {
        let secret_len = self.secret.as_ref().map(Vec::len);
        let key = self
            .secret
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .and_then(|s| SessionKey::new(&s));
        SessionFilter {
            config: Rc::new(SessionConfig {
                key,
                verified: RefCell::new(BoundedMap::new(SESSION_CACHE_ENTRIES, MAX_TOKEN_LEN)),
                profiles: RefCell::new(BoundedMap::new(PROFILE_CACHE_ENTRIES, 64)),
                secret_len,
                cookie_name: self.cookie_name,
                ttl_secs: self.ttl_secs,
                secure: self.secure,
                same_site: self.same_site,
            }),
        }
    }
}

#[async_trait(?Send)]
impl Filter for SessionFilter {
    fn kind(&self) -> FilterKind {
        FilterKind::Session
    }

    fn headers_read(&self) -> Option<Vec<http::HeaderName>> {
        Some(vec![http::header::COOKIE])
    }

    fn check(&self, position: &Position<'_>) -> Result<(), ConfigProblem> {
        let config = &self.config;
        ConfigProblem::check_secret(SECRET_SETTING, config.secret_len, MIN_SECRET_LEN)?;
        if position.before().contains(&FilterKind::Session) {
            return Err(ConfigProblem::Duplicate);
        }
        if config.ttl_secs == 0 {
            return Err(ConfigProblem::InvalidValue {
                setting: "SESSION_TTL_SECS",
                value: "0".into(),
                expected: "a positive number of seconds",
            });
        }
        if http::HeaderName::from_bytes(config.cookie_name.as_bytes()).is_err()
            || config.cookie_name.contains(['=', ';', ','])
        {
            return Err(ConfigProblem::InvalidValue {
                setting: "cookie_name",
                value: config.cookie_name.clone(),
                expected: "a cookie name (letters, digits, `-`, `_`)",
            });
        }
        if config.cookie_name.starts_with("__Host-") && !config.secure {
            return Err(ConfigProblem::InvalidValue {
                setting: "secure",
                value: "false".into(),
                expected: "true for a `__Host-` cookie name (browsers drop it otherwise)",
            });
        }
        Ok(())
    }

    async fn call(&self, req: &mut AuthRequest) -> Result<(), AuthError> {
        let config = &self.config;
        let now = req.now();
        let mut found = req
            .headers()
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .filter(|c| c.name() == config.cookie_name)
            .find_map(|c| config.verify(c.value(), now));
        let profile_pending = found.as_mut().and_then(|f| config.resolve(f));
        req.insert_state(SessionState {
            config: Rc::clone(config),
            session_id: found.as_ref().map(|f| f.session_id.clone()),
            issued_at: found.as_ref().map_or(now, |f| f.issued_at),
            expires_at: found
                .as_ref()
                .map_or(now.saturating_add(config.ttl_secs), |f| f.expires_at),
            checked_at: found.as_ref().map_or(now, |f| f.checked_at),
            remote_user: found.as_ref().is_some_and(|f| f.remote_user),
            profile_pending,
        });
        req.set_user(found.map(|f| f.user));
        Ok(())
    }
}

impl AuthRequest {
    /// Whether a session filter has run for this request.
    ///
    /// ```
    /// let req = remote_user_filter::AuthRequest::new(http::HeaderMap::new(), 0);
    /// assert!(!req.has_session());
    /// ```
    pub fn has_session(&self) -> bool {
        self.state::<SessionState>().is_some()
    }

    /// The current session's id, if a session is established.
    pub fn session_id(&self) -> Option<&str> {
        self.state::<SessionState>()?.session_id.as_deref()
    }

    /// When the session's user was last checked against the backend: at login, or at the
    /// last re-check. `None` without a session.
    ///
    /// ```
    /// let req = remote_user_filter::AuthRequest::new(http::HeaderMap::new(), 0);
    /// assert!(req.session_checked_at().is_none());
    /// ```
    pub fn session_checked_at(&self) -> Option<u64> {
        let state = self.state::<SessionState>()?;
        state.session_id.as_ref().map(|_| state.checked_at)
    }

    /// When the current session ends (seconds since the epoch): the cookie's expiry, or for
    /// a session begun on this request its start plus the session lifetime. `None` without
    /// a session.
    ///
    /// ```
    /// let req = remote_user_filter::AuthRequest::new(http::HeaderMap::new(), 0);
    /// assert!(req.session_expires_at().is_none());
    /// ```
    pub fn session_expires_at(&self) -> Option<u64> {
        let state = self.state::<SessionState>()?;
        state.session_id.as_ref().map(|_| state.expires_at)
    }

    /// Whether the current session was made by a remote-user login (so losing the header
    /// ends it), whatever backend type made it.
    ///
    /// ```
    /// let req = remote_user_filter::AuthRequest::new(http::HeaderMap::new(), 0);
    /// assert!(!req.session_is_remote_user());
    /// ```
    pub fn session_is_remote_user(&self) -> bool {
        self.state::<SessionState>()
            .is_some_and(|s| s.session_id.is_some() && s.remote_user)
    }

    /// Whether the session's email and groups are still to be read from the backend: the
    /// cookie carried their digest and this isolate has not seen them.
    ///
    /// ```
    /// let req = remote_user_filter::AuthRequest::new(http::HeaderMap::new(), 0);
    /// assert!(!req.session_profile_pending());
    /// ```
    pub fn session_profile_pending(&self) -> bool {
        self.state::<SessionState>()
            .is_some_and(|s| s.profile_pending.is_some())
    }
}

fn new_session_id() -> Result<String, AuthError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| BackendError::Other {
        status: 500,
        message: format!("no randomness for a session id: {e}"),
    })?;
    // Hex by hand: a `format!` per byte is 16 allocations on every login.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(32);
    for b in bytes {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    Ok(id)
}

/// Log `user` in: start a new session with a new id, queue exactly one `Set-Cookie`, then
/// have the backend stamp the login ([`UserBackend::record_login`], best effort: a failure
/// is logged and the login stands). The user's record is not written. Needs a
/// [`SessionFilter`] earlier in the chain.
///
/// ```
/// use remote_user_filter::{login, AuthRequest, KvUserBackend, MemoryStore, User};
/// # futures::executor::block_on(async {
/// let backend = KvUserBackend::new(MemoryStore::new());
/// let mut req = AuthRequest::new(http::HeaderMap::new(), 0);
/// // No SessionFilter ran: login refuses, naming what is missing.
/// let err = login(&mut req, User::new("ann"), &backend).await.unwrap_err();
/// assert_eq!(err.status(), 500);
/// # });
/// ```
pub async fn login<B: UserBackend + ?Sized>(
    req: &mut AuthRequest,
    user: User,
    backend: &B,
) -> Result<(), AuthError> {
    let now = req.now();
    let config = match req.state::<SessionState>() {
        Some(state) => Rc::clone(&state.config),
        None => {
            return Err(AuthError::Config(ConfigError::filter(
                "login",
                ConfigProblem::RequiresBefore {
                    required: "SessionFilter",
                },
            )))
        }
    };
    let session_id = new_session_id()?;
    let session_user = SessionUser::from_user(&user, &backend.name());
    let cookie = config.issue(&session_user, &session_id, now, now)?;
    if let Some(state) = req.state_mut::<SessionState>() {
        state.session_id = Some(session_id);
        state.issued_at = now;
        state.expires_at = now.saturating_add(config.ttl_secs);
        state.checked_at = now;
        state.remote_user = true;
        state.profile_pending = None;
    }
    req.queue_set_cookie(cookie);
    req.record_event(AuthEvent::new(EventKind::Login).user(session_user.username.as_str()));
    req.set_user(Some(session_user));
    if let Err(e) = backend.record_login(&user, now).await {
        req.warn(format!(
            "the login of `{}` was not stamped (the login stands): {}",
            user.username,
            e.log_line()
        ));
    }
    Ok(())
}

/// Bring the current session up to date with `user` as the backend has it now (a re-check,
/// or email and groups read for a cookie that carried their digest): the same session id
/// and expiry, checked now, and one `Set-Cookie` when anything the cookie says changed or
/// `restamp` asks for a new check time. Does nothing without a session.
pub(crate) fn renew(
    req: &mut AuthRequest,
    user: SessionUser,
    restamp: bool,
) -> Result<(), AuthError> {
    let now = req.now();
    let known_same = |digest: Option<&String>, known: Option<&SessionUser>| {
        let same_profile = match digest {
            Some(digest) => *digest == profile_digest(user.email.as_deref(), &user.groups),
            None => known.is_some_and(|k| k.email == user.email && k.groups == user.groups),
        };
        same_profile && known.is_some_and(|k| k.username == user.username)
    };
    let Some(state) = req.state::<SessionState>() else {
        return Ok(());
    };
    if state.session_id.is_none() {
        return Ok(());
    }
    let same = known_same(state.profile_pending.as_ref(), req.user());
    let Some(state) = req.state_mut::<SessionState>() else {
        return Ok(());
    };
    let pending = state.profile_pending.take();
    if same && !restamp {
        if let Some(digest) = pending {
            // The same profile as the cookie's digest: remember it, so this isolate's next
            // request with the cookie reads nothing.
            state.config.profiles.borrow_mut().insert(
                &digest,
                Profile {
                    email: user.email.clone(),
                    groups: user.groups.clone(),
                },
            );
        }
        req.set_user(Some(user));
        return Ok(());
    }
    let Some(session_id) = state.session_id.as_deref() else {
        return Ok(());
    };
    let cookie = state
        .config
        .issue(&user, session_id, state.issued_at, now)?;
    state.checked_at = now;
    state.expires_at = state.issued_at.saturating_add(state.config.ttl_secs);
    req.queue_set_cookie(cookie);
    req.set_user(Some(user));
    Ok(())
}

/// Log the user out: forget the user and queue the cookie's removal (`Max-Age=0`, same
/// attributes). Touches no store.
///
/// ```
/// use remote_user_filter::{logout, AuthRequest};
/// let mut req = AuthRequest::new(http::HeaderMap::new(), 0);
/// logout(&mut req);
/// assert!(!req.is_authenticated());
/// ```
pub fn logout(req: &mut AuthRequest) {
    req.set_user(None);
    if let Some(state) = req.state_mut::<SessionState>() {
        state.session_id = None;
        state.remote_user = false;
        state.profile_pending = None;
        let removal = state.config.removal();
        req.queue_set_cookie(removal);
    }
}
