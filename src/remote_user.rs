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

use std::rc::Rc;

use async_trait::async_trait;
use http::HeaderName;

use crate::backend::UserBackend;
use crate::error::{AuthError, ConfigError, ConfigProblem};
use crate::filter::{Filter, FilterKind, Position};
use crate::request::AuthRequest;
use crate::session::{login, logout};

/// The identity header Cloudflare Access sets.
pub const DEFAULT_HEADER: &str = "Cf-Access-Authenticated-User-Email";
/// The setting that names the identity header, named in configuration errors.
pub(crate) const HEADER_SETTING: &str = "REMOTE_USER_HEADER";
/// Longest identity accepted (an email address is at most 254 bytes).
pub const MAX_IDENTITY_LEN: usize = 320;

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
}

impl std::fmt::Debug for RemoteUserFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteUserFilter")
            .field("backend", &self.backend.name())
            .field("header", &self.header)
            .field("force_logout_if_no_header", &self.force_logout_if_no_header)
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

    /// The filter.
    pub fn build(self) -> RemoteUserFilter {
        RemoteUserFilter {
            header_name: HeaderName::from_bytes(self.header.as_bytes()).ok(),
            header: self.header,
            backend: self.backend,
            force_logout_if_no_header: true,
            trust_unsigned_header: self.trust_unsigned_header,
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
            // Django logs out only sessions its own backend made.
            let ours = req.user().is_some_and(|u| u.backend == self.backend.name());
            if self.force_logout_if_no_header && ours {
                logout(req);
            }
            return Ok(());
        };
        if let Some(user) = req.user() {
            if user.username == self.backend.clean_username(&remote_user) {
                req.identity_confirmed = true;
                return Ok(());
            }
            logout(req);
        }
        match self.backend.authenticate(req, &remote_user).await? {
            Some(found) => {
                login(req, found.user, self.backend.as_ref()).await?;
                req.identity_confirmed = true;
                Ok(())
            }
            None => {
                req.rejected = true;
                Ok(())
            }
        }
    }
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
