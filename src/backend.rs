//! The user backend: Django's `RemoteUserBackend` as an async trait, with Workers KV
//! ([`KvUserBackend`]) as the default and [`AllowAllUsers`] as the allow-inactive variant.
//!
//! A custom backend wraps another and overrides the hooks it cares about:
//!
//! ```
//! use remote_user_filter::{
//!     async_trait, AuthRequest, BackendError, ConfigProblem, KvUserBackend, MemoryStore, User,
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
//!     fn clean_username(&self, username: &str) -> String {
//!         username.split('@').next().unwrap_or(username).to_owned()
//!     }
//!     async fn configure_user(
//!         &self,
//!         request: &AuthRequest,
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
//! let found = backend.authenticate(&req, "ann@corp.example").await.unwrap().unwrap();
//! assert!(found.created);
//! assert_eq!(found.user.username, "ann");
//! assert_eq!(found.user.email.as_deref(), Some("ann@corp.example"));
//! # });
//! ```

use async_trait::async_trait;

use crate::error::{BackendError, ConfigProblem};
use crate::request::AuthRequest;
use crate::store::UserStore;
use crate::type_name::short_type_name;
use crate::user::{timestamp, User};

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
    /// Whether the user did not exist before this request. Such a user is written by
    /// `login` (together with `last_login`), so a new user costs one write.
    pub created: bool,
}

/// Looks up, creates or rejects the user a gateway named.
///
/// Two verbs to implement (`get_user`, `save_user`); Django's hooks have defaults:
/// `clean_username` (identity), `create_unknown_user` (`true`), `user_can_authenticate`
/// (`is_active`), `configure_user` (no change). `authenticate` is provided and follows
/// Django's `RemoteUserBackend.authenticate`. Futures need not be `Send`.
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
        request: &AuthRequest,
        user: User,
        created: bool,
    ) -> Result<User, BackendError> {
        let _ = (request, created);
        Ok(user)
    }

    /// Find or make the user named by `remote_user`, as Django's `RemoteUserBackend` does:
    /// clean the name, look it up (one store read), create it if allowed, let
    /// `configure_user` adjust it, and keep it only if `user_can_authenticate`.
    ///
    /// A new user is written once, by `login`. A new user that `configure_user` made unable
    /// to log in is written here instead, so it still exists exactly once.
    async fn authenticate(
        &self,
        request: &AuthRequest,
        remote_user: &str,
    ) -> Result<Option<Authenticated>, BackendError> {
        let username = self.clean_username(remote_user);
        if username.is_empty() {
            return Ok(None);
        }
        let (user, created) = match self.get_user(&username).await? {
            Some(user) => (self.configure_user(request, user, false).await?, false),
            None if self.create_unknown_user() => {
                let mut user = User::new(username);
                user.date_joined = Some(timestamp(request.now()));
                (self.configure_user(request, user, true).await?, true)
            }
            None => return Ok(None),
        };
        if !self.user_can_authenticate(&user) {
            if created {
                self.save_user(&user).await?;
            }
            return Ok(None);
        }
        Ok(Some(Authenticated { user, created }))
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
}

impl<S: UserStore> KvUserBackend<S> {
    /// Prefix of every user key.
    pub const KEY_PREFIX: &'static str = "user:";

    /// A backend over `store` that creates unknown users.
    pub fn new(store: S) -> Self {
        Self {
            store,
            create_unknown_user: true,
        }
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
        request: &AuthRequest,
        user: User,
        created: bool,
    ) -> Result<User, BackendError> {
        self.0.configure_user(request, user, created).await
    }
}
