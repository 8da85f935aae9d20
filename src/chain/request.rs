//! The per-request state the filters share: the incoming headers, the session, the user.
//!
//! ```
//! use http::HeaderMap;
//! use remote_user_filter::AuthRequest;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("x-corp-email", "ann@corp.example".parse().unwrap());
//! let req = AuthRequest::new(headers, 1_700_000_000);
//! assert_eq!(req.header_str("X-Corp-Email"), Some("ann@corp.example"));
//! assert!(req.user().is_none());
//! ```

use std::rc::Rc;

use futures::future::LocalBoxFuture;
use http::HeaderMap;

use crate::clock::Clock;
use crate::session::SessionState;
use crate::users::SessionUser;

/// One request as the filters see it. Filters read it; only `login`/`logout` change who the
/// user is.
///
/// ```
/// use remote_user_filter::AuthRequest;
/// let req = AuthRequest::new(http::HeaderMap::new(), 0);
/// assert!(!req.is_authenticated());
/// ```
pub struct AuthRequest {
    headers: HeaderMap,
    now: u64,
    pub(crate) session: Option<SessionState>,
    pub(crate) user: Option<SessionUser>,
    pub(crate) rejected: bool,
    /// Set by a gateway-assertion filter: `Some(None)` when it ran and found no assertion.
    pub(crate) verified: Option<Option<String>>,
    /// Set by a remote-user filter when the identity the gateway presented on this request
    /// names the user the request is forwarded as.
    pub(crate) identity_confirmed: bool,
    warnings: Vec<String>,
    /// The chain's clock, for timers (set by [`FilterChain::run`](crate::FilterChain::run)).
    pub(crate) clock: Option<Rc<dyn Clock>>,
}

impl std::fmt::Debug for AuthRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthRequest")
            .field("headers", &self.headers)
            .field("now", &self.now)
            .field("session", &self.session)
            .field("user", &self.user)
            .field("rejected", &self.rejected)
            .finish_non_exhaustive()
    }
}

impl AuthRequest {
    /// A request with these headers, seen at `now` (seconds since the epoch).
    pub fn new(headers: HeaderMap, now: u64) -> Self {
        Self {
            headers,
            now,
            session: None,
            user: None,
            rejected: false,
            verified: None,
            identity_confirmed: false,
            warnings: Vec::new(),
            clock: None,
        }
    }

    /// The request headers as sent.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The value of header `name` (matched as HTTP does: case-insensitive, `_` is not `-`)
    /// when present once and valid UTF-8.
    ///
    /// ```
    /// let mut h = http::HeaderMap::new();
    /// h.insert("x-user", "ann".parse().unwrap());
    /// let req = remote_user_filter::AuthRequest::new(h, 0);
    /// assert_eq!(req.header_str("x-user"), Some("ann"));
    /// assert_eq!(req.header_str("x_user"), None);
    /// ```
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
    }

    /// The time the request is handled at (seconds since the epoch).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The authenticated user, if any.
    pub fn user(&self) -> Option<&SessionUser> {
        self.user.as_ref()
    }

    /// Whether a user is authenticated.
    pub fn is_authenticated(&self) -> bool {
        self.user.is_some()
    }

    /// Whether a presented identity was refused by the backend (a 403 rather than a 401).
    pub fn is_rejected(&self) -> bool {
        self.rejected
    }

    /// The identity a gateway-assertion filter verified: `Some(None)` when it ran and the
    /// request had no assertion, `None` when no such filter ran.
    pub fn verified_identity(&self) -> Option<Option<&str>> {
        self.verified.as_ref().map(Option::as_deref)
    }

    /// Note something the operator should hear of but the request survives (a login stamp
    /// that failed, say); the chain hands these to its warning sink
    /// ([`FilterChainBuilder::on_warning`](crate::FilterChainBuilder::on_warning)). Never
    /// put a secret or a token in one.
    ///
    /// ```
    /// let mut req = remote_user_filter::AuthRequest::new(http::HeaderMap::new(), 0);
    /// req.warn("KV rate-limited the login stamp");
    /// assert_eq!(req.warnings(), ["KV rate-limited the login stamp"]);
    /// ```
    pub fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }

    /// The warnings noted so far.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// A timer of `ms` milliseconds on the chain's clock ([`Clock::sleep`]), if it has timers.
    pub(crate) fn sleep(&self, ms: u64) -> Option<LocalBoxFuture<'static, ()>> {
        self.clock.as_ref()?.sleep(ms)
    }

    /// Whether a session filter has run for this request.
    pub fn has_session(&self) -> bool {
        self.session.is_some()
    }
}
