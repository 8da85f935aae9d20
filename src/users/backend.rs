//! The user backend: Django's `RemoteUserBackend` as an async trait, with Workers KV
//! ([`KvUserBackend`]) as the default and [`AllowAllUsers`] as the allow-inactive variant.
//!
//! A custom backend wraps another and overrides the hooks it cares about:
//!
//! ```
//! use remote_user_filter::{
//!     async_trait, AuthRequest, BackendError, BackendRequest, ConfigProblem, KvUserBackend, MemoryStore, User,
//!     UserBackend,
//! };
//!
//! /// Strips `@corp.example` and takes the email from the gateway's second header on creation.
//! struct CorpBackend(KvUserBackend<MemoryStore>);
//!
//! #[async_trait(?Send)]
//! impl UserBackend for CorpBackend {
//!     async fn get_user(&self, username: &str) -> Result<Option<User>, BackendError> {
//!         self.0.get_user(username).await
//!     }
//!     async fn save_user(&self, user: &User) -> Result<(), BackendError> {
//!         self.0.save_user(user).await
//!     }
//!     fn check(&self) -> Result<(), ConfigProblem> {
//!         self.0.check()
//!     }
//!     async fn record_login(&self, user: &User, now: u64) -> Result<(), BackendError> {
//!         self.0.record_login(user, now).await
//!     }
//!     fn clean_username(&self, username: &str) -> String {
//!         username.split('@').next().unwrap_or(username).to_owned()
//!     }
//!     async fn configure_user(
//!         &self,
//!         request: &BackendRequest<'_>,
//!         mut user: User,
//!         created: bool,
//!     ) -> Result<User, BackendError> {
//!         if created {
//!             user.email = request.header_str("x-corp-email").map(str::to_owned);
//!         }
//!         Ok(user)
//!     }
//! }
//!
//! # futures::executor::block_on(async {
//! let backend = CorpBackend(KvUserBackend::new(MemoryStore::new()));
//! let mut headers = http::HeaderMap::new();
//! headers.insert("x-corp-email", "ann@corp.example".parse().unwrap());
//! let req = AuthRequest::new(headers, 1_700_000_000);
//! let found = backend.authenticate(&req.backend_request(), "ann@corp.example").await.unwrap().unwrap();
//! assert!(found.created);
//! assert_eq!(found.user.username, "ann");
//! assert_eq!(found.user.email.as_deref(), Some("ann@corp.example"));
//! # });
//! ```

use std::cell::RefCell;

use async_trait::async_trait;
use serde::Serialize;

use super::request::BackendRequest;
use super::store::UserStore;
use super::user::{timestamp, User, MAX_IDENTITY_LEN};
use crate::error::{BackendError, ConfigProblem};
use crate::support::bounded::BoundedMap;
use crate::type_name::short_type_name;

/// A user found or made by [`UserBackend::authenticate`], not yet logged in.
///
/// ```
/// use remote_user_filter::{Authenticated, User};
/// let a = Authenticated { user: User::new("ann"), created: true };
/// assert!(a.created);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Authenticated {
    /// The user, as `configure_user` left it.
    pub user: User,
    /// Whether the user did not exist before this request. Such a user was written once,
    /// by `find_or_create` (with `date_joined` and `last_login`), so a new user costs one write.
    pub created: bool,
}

/// Looks up, creates or rejects the user a gateway named.
///
/// Two verbs to implement (`get_user`, `save_user`); Django's hooks have defaults:
/// `clean_username` (identity), `create_unknown_user` (`true`), `user_can_authenticate`
/// (`is_active`), `configure_user` (no change), `record_login` (nothing). `authenticate`
/// is provided and follows Django's `RemoteUserBackend.authenticate`, except that an
/// existing record is never rewritten just to log in. Futures need not be `Send`.
///
/// A wrapper (a custom backend around [`KvUserBackend`]) delegates `get_user`, `save_user`,
/// `check` and `record_login`, and overrides the hooks it cares about.
///
/// `Ok(None)` from `authenticate` means "not this user" (403); `Err` means the backend failed
/// (503 for an unreachable store).
///
/// ```
/// use remote_user_filter::{KvUserBackend, MemoryStore, UserBackend};
/// let backend = KvUserBackend::new(MemoryStore::new()).with_create_unknown_user(false);
/// assert!(!backend.create_unknown_user());
/// assert_eq!(backend.name(), "KvUserBackend");
/// ```
#[async_trait(?Send)]
pub trait UserBackend {
    /// The user stored under `username`, if any.
    async fn get_user(&self, username: &str) -> Result<Option<User>, BackendError>;

    /// Store `user`, replacing the stored record.
    async fn save_user(&self, user: &User) -> Result<(), BackendError>;

    /// The backend's name in sessions and messages: its type name by default.
    fn name(&self) -> String {
        short_type_name::<Self>()
    }

    /// Check the backend's own configuration (e.g. a binding that is not bound).
    fn check(&self) -> Result<(), ConfigProblem> {
        Ok(())
    }

    /// The request headers `configure_user` reads; `None` (the default) means any.
    fn headers_read(&self) -> Option<Vec<http::HeaderName>> {
        None
    }

    /// Turn the header's value into a username (e.g. strip a domain). An empty result is
    /// rejected.
    fn clean_username(&self, username: &str) -> String {
        username.to_owned()
    }

    /// Whether users not in the store are created.
    fn create_unknown_user(&self) -> bool {
        true
    }

    /// Whether this user may log in: active users only, by default.
    fn user_can_authenticate(&self, user: &User) -> bool {
        user.is_active
    }

    /// Adjust a user found (`created == false`) or about to be created (`created == true`),
    /// e.g. from other request headers.
    async fn configure_user(
        &self,
        request: &BackendRequest<'_>,
        user: User,
        created: bool,
    ) -> Result<User, BackendError> {
        let _ = (request, created);
        Ok(user)
    }

    /// Find or make the user named by `remote_user`, as Django's `RemoteUserBackend` does:
    /// clean the name, then [`find_or_create`](UserBackend::find_or_create) it. A name that
    /// cleans to nothing, or to more than [`MAX_IDENTITY_LEN`](crate::MAX_IDENTITY_LEN)
    /// bytes, is refused.
    async fn authenticate(
        &self,
        request: &BackendRequest<'_>,
        remote_user: &str,
    ) -> Result<Option<Authenticated>, BackendError> {
        let username = self.clean_username(remote_user);
        if username.is_empty() || username.len() > MAX_IDENTITY_LEN {
            return Ok(None);
        }
        self.find_or_create(request, &username).await
    }

    /// Look `username` (already cleaned) up (one store read), create it if allowed, let
    /// `configure_user` adjust it, and keep it only if `user_can_authenticate`.
    ///
    /// The stored record belongs to whoever administers the users: it is written only to
    /// create a user that does not exist (once, with `date_joined` and `last_login`), or when
    /// a custom `configure_user` changed an existing user (then the changed record replaces
    /// the stored one). Logging in does not write it: see [`record_login`](UserBackend::record_login).
    ///
    /// ```
    /// use remote_user_filter::{AuthRequest, KvUserBackend, MemoryStore, UserBackend};
    /// # futures::executor::block_on(async {
    /// let store = MemoryStore::new();
    /// let record = r#"{"username":"ann","is_active":true,"groups":["ops"]}"#;
    /// store.seed("user:ann", record);
    /// let backend = KvUserBackend::new(store);
    /// let req = AuthRequest::new(http::HeaderMap::new(), 1_700_000_000);
    /// assert!(backend.find_or_create(&req.backend_request(), "ann").await.unwrap().is_some());
    /// // Found, not changed: one read, no write, the admin's record as it was.
    /// assert_eq!((backend.store().reads(), backend.store().writes()), (1, 0));
    /// assert_eq!(backend.store().peek("user:ann").as_deref(), Some(record));
    /// # });
    /// ```
    async fn find_or_create(
        &self,
        request: &BackendRequest<'_>,
        username: &str,
    ) -> Result<Option<Authenticated>, BackendError> {
        let (user, created) = match self.get_user(username).await? {
            Some(stored) => {
                let user = self.configure_user(request, stored.clone(), false).await?;
                if user != stored {
                    self.save_user(&user).await?;
                }
                (user, false)
            }
            None if self.create_unknown_user() => {
                let mut user = User::new(username);
                user.date_joined = Some(timestamp(request.now()));
                let mut user = self.configure_user(request, user, true).await?;
                if self.user_can_authenticate(&user) {
                    // The first login is this one: the creation write stamps it too.
                    user.last_login = user.date_joined;
                }
                self.save_user(&user).await?;
                (user, true)
            }
            None => return Ok(None),
        };
        if !self.user_can_authenticate(&user) {
            return Ok(None);
        }
        Ok(Some(Authenticated { user, created }))
    }

    /// Stamp a login of `user` at `now` (seconds since the epoch), somewhere other than the
    /// user's record. Called by [`login`](crate::login) after the session is issued; a
    /// failure is logged and the login stands. The default does nothing; a wrapper
    /// delegates it to the backend it wraps.
    async fn record_login(&self, user: &User, now: u64) -> Result<(), BackendError> {
        let _ = (user, now);
        Ok(())
    }
}

/// The default backend: users as JSON in a key-value store under `user:<username>`.
///
/// A record that is not a valid user is an error for that user (403, logged with its key) and
/// is never overwritten.
///
/// ```
/// use remote_user_filter::{KvUserBackend, MemoryStore, UserBackend};
/// # futures::executor::block_on(async {
/// let store = MemoryStore::new();
/// store.seed("user:ann", r#"{"username":"ann","is_active":true}"#);
/// let backend = KvUserBackend::new(store);
/// assert!(backend.get_user("ann").await.unwrap().is_some());
/// # });
/// ```
#[derive(Debug)]
pub struct KvUserBackend<S> {
    store: S,
    create_unknown_user: bool,
    last_login_interval_secs: u64,
    /// When each user's login was last stamped by this isolate (bounded).
    stamped: RefCell<BoundedMap<u64>>,
}

/// Default shortest time between two `last_login` stamps of one user: five minutes.
pub const DEFAULT_LAST_LOGIN_INTERVAL_SECS: u64 = 300;
/// How many users' stamp times an isolate remembers (the oldest is forgotten first).
const STAMP_ENTRIES: usize = 4096;

/// What the backend writes under `login:<username>`.
#[derive(Serialize)]
struct LoginStamp {
    #[serde(with = "time::serde::rfc3339")]
    last_login: time::OffsetDateTime,
}

impl<S: UserStore> KvUserBackend<S> {
    /// Prefix of every user key.
    pub const KEY_PREFIX: &'static str = "user:";

    /// Prefix of every login-stamp key: `login:<username>` holds `{"last_login": …}`.
    pub const LOGIN_KEY_PREFIX: &'static str = "login:";

    /// A backend over `store` that creates unknown users.
    pub fn new(store: S) -> Self {
        Self {
            store,
            create_unknown_user: true,
            last_login_interval_secs: DEFAULT_LAST_LOGIN_INTERVAL_SECS,
            stamped: RefCell::new(BoundedMap::new(STAMP_ENTRIES, MAX_IDENTITY_LEN)),
        }
    }

    /// Stamp a user's `last_login` at most once per `secs` (default 300;
    /// `LAST_LOGIN_INTERVAL_SECS`): Workers KV takes one write per second per key, and a
    /// client that keeps no cookie logs in on every request.
    ///
    /// ```
    /// use remote_user_filter::{KvUserBackend, MemoryStore, User, UserBackend};
    /// # futures::executor::block_on(async {
    /// let backend = KvUserBackend::new(MemoryStore::new()).with_last_login_interval_secs(60);
    /// let ann = User::new("ann");
    /// backend.record_login(&ann, 1_000).await.unwrap();
    /// backend.record_login(&ann, 1_030).await.unwrap(); // within the interval: no write
    /// backend.record_login(&ann, 1_060).await.unwrap();
    /// assert_eq!(backend.store().writes(), 2);
    /// assert_eq!(
    ///     backend.store().peek("login:ann").as_deref(),
    ///     Some(r#"{"last_login":"1970-01-01T00:17:40Z"}"#)
    /// );
    /// # });
    /// ```
    pub fn with_last_login_interval_secs(mut self, secs: u64) -> Self {
        self.last_login_interval_secs = secs;
        self
    }

    /// The store key of `username`'s login stamp.
    ///
    /// ```
    /// use remote_user_filter::{KvUserBackend, MemoryStore};
    /// assert_eq!(KvUserBackend::<MemoryStore>::login_key("ann"), "login:ann");
    /// ```
    pub fn login_key(username: &str) -> String {
        format!("{}{username}", Self::LOGIN_KEY_PREFIX)
    }

    /// Whether unknown users are created (default `true`).
    ///
    /// ```
    /// use remote_user_filter::{KvUserBackend, MemoryStore, UserBackend};
    /// assert!(!KvUserBackend::new(MemoryStore::new()).with_create_unknown_user(false).create_unknown_user());
    /// ```
    pub fn with_create_unknown_user(mut self, create: bool) -> Self {
        self.create_unknown_user = create;
        self
    }

    /// The store underneath.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store key of `username`.
    ///
    /// ```
    /// use remote_user_filter::{KvUserBackend, MemoryStore};
    /// assert_eq!(KvUserBackend::<MemoryStore>::key("ann"), "user:ann");
    /// ```
    pub fn key(username: &str) -> String {
        format!("{}{username}", Self::KEY_PREFIX)
    }
}

#[async_trait(?Send)]
impl<S: UserStore> UserBackend for KvUserBackend<S> {
    async fn get_user(&self, username: &str) -> Result<Option<User>, BackendError> {
        let key = Self::key(username);
        let Some(raw) = self.store.get(&key).await? else {
            return Ok(None);
        };
        let user: User = serde_json::from_str(&raw).map_err(|e| BackendError::CorruptRecord {
            key: key.clone(),
            reason: e.to_string(),
        })?;
        if user.username != username {
            return Err(BackendError::CorruptRecord {
                key,
                reason: "its `username` does not match the key".into(),
            });
        }
        Ok(Some(user))
    }

    async fn save_user(&self, user: &User) -> Result<(), BackendError> {
        let value = serde_json::to_string(user).map_err(|e| BackendError::Other {
            status: 500,
            message: format!("user record cannot be serialised: {e}"),
        })?;
        self.store.put(&Self::key(&user.username), &value).await?;
        if let Some(at) = user.last_login {
            // A record written with this login's time (a creation) is this login's stamp.
            let at = u64::try_from(at.unix_timestamp()).unwrap_or(0);
            self.stamped.borrow_mut().insert(&user.username, at);
        }
        Ok(())
    }

    async fn record_login(&self, user: &User, now: u64) -> Result<(), BackendError> {
        let interval = self.last_login_interval_secs;
        let last = self.stamped.borrow().get(&user.username).copied();
        if last.is_some_and(|t| now >= t && now < t.saturating_add(interval)) {
            return Ok(());
        }
        // Marked before the write: a failed or rate-limited stamp is not retried on every
        // request of the interval (it is best effort).
        self.stamped.borrow_mut().insert(&user.username, now);
        let stamp = LoginStamp {
            last_login: timestamp(now),
        };
        let value = serde_json::to_string(&stamp).map_err(|e| BackendError::Other {
            status: 500,
            message: format!("login stamp cannot be serialised: {e}"),
        })?;
        self.store
            .put(&Self::login_key(&user.username), &value)
            .await?;
        Ok(())
    }

    fn check(&self) -> Result<(), ConfigProblem> {
        match self.store.missing_binding() {
            Some(binding) => Err(ConfigProblem::MissingBinding {
                backend: self.name(),
                binding: binding.to_owned(),
            }),
            None => Ok(()),
        }
    }

    fn create_unknown_user(&self) -> bool {
        self.create_unknown_user
    }

    fn headers_read(&self) -> Option<Vec<http::HeaderName>> {
        Some(Vec::new())
    }
}

/// Django's `AllowAllUsersRemoteUserBackend`: the wrapped backend, but inactive users may log
/// in too.
///
/// ```
/// use remote_user_filter::{AllowAllUsers, KvUserBackend, MemoryStore, User, UserBackend};
/// let backend = AllowAllUsers(KvUserBackend::new(MemoryStore::new()));
/// let mut user = User::new("ann");
/// user.is_active = false;
/// assert!(backend.user_can_authenticate(&user));
/// assert_eq!(backend.name(), "AllowAllUsers<KvUserBackend>");
/// ```
#[derive(Debug)]
pub struct AllowAllUsers<B>(pub B);

#[async_trait(?Send)]
impl<B: UserBackend> UserBackend for AllowAllUsers<B> {
    async fn get_user(&self, username: &str) -> Result<Option<User>, BackendError> {
        self.0.get_user(username).await
    }
    async fn save_user(&self, user: &User) -> Result<(), BackendError> {
        self.0.save_user(user).await
    }
    fn name(&self) -> String {
        format!("AllowAllUsers<{}>", self.0.name())
    }
    fn check(&self) -> Result<(), ConfigProblem> {
        self.0.check()
    }
    async fn record_login(&self, user: &User, now: u64) -> Result<(), BackendError> {
        self.0.record_login(user, now).await
    }
    fn clean_username(&self, username: &str) -> String {
        self.0.clean_username(username)
    }
    fn create_unknown_user(&self) -> bool {
        self.0.create_unknown_user()
    }
    fn user_can_authenticate(&self, _user: &User) -> bool {
        true
    }
    fn headers_read(&self) -> Option<Vec<http::HeaderName>> {
        self.0.headers_read()
    }
    async fn configure_user(
        &self,
        request: &BackendRequest<'_>,
        user: User,
        created: bool,
    ) -> Result<User, BackendError> {
        self.0.configure_user(request, user, created).await
    }
}
