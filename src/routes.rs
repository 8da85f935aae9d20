//! Requests that need no identity: [`PublicRoutesFilter`] forwards public paths
//! (`PUBLIC_PATHS`) and, with `CORS_PREFLIGHT=pass`, CORS preflights, without
//! authentication: the rest of the chain is skipped (no cookie read, no KV call), and the
//! request goes on with no user, no `Set-Cookie` and no identity header; a preflight also
//! without credentials, method override or body (`Outcome::Forward`'s `preflight`).
//!
//! ```
//! use std::rc::Rc;
//! use remote_user_filter::{
//!     CorsPreflight, FilterChain, KvUserBackend, MemoryStore, Outcome, PublicRoutesFilter,
//!     RemoteUserFilter, SessionFilter,
//! };
//!
//! # futures::executor::block_on(async {
//! let backend = Rc::new(KvUserBackend::new(MemoryStore::new()));
//! let chain = FilterChain::builder()
//!     .filter(PublicRoutesFilter::new(["/healthz", "/static/"], CorsPreflight::Deny))
//!     .filter(SessionFilter::builder("a-32-byte-or-longer-session-secret!").build())
//!     .filter(RemoteUserFilter::builder(backend.clone()).trust_unsigned_header(true).build())
//!     .build()
//!     .unwrap();
//! let (parts, ()) = http::Request::get("https://app.example/static/app.css").body(()).unwrap().into_parts();
//! let outcome = chain.handle_parts(parts).await;
//! assert!(matches!(outcome, Outcome::Forward { user: None, set_cookie: None, gateway_headers: false, preflight: false }));
//! assert_eq!(backend.store().reads(), 0);
//! # });
//! ```

use async_trait::async_trait;
use http::{HeaderName, Method};

use crate::chain::{AuthRequest, Filter, Position};
use crate::error::{AuthError, ConfigProblem};
use crate::path::check_setting_path;

/// What to do with a CORS preflight (`OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`), which browsers send without credentials
/// (`CORS_PREFLIGHT`).
///
/// ```
/// use remote_user_filter::CorsPreflight;
/// assert_eq!("pass".parse::<CorsPreflight>(), Ok(CorsPreflight::Pass));
/// assert_eq!(CorsPreflight::default(), CorsPreflight::Deny);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CorsPreflight {
    /// Treated like any other request (default).
    #[default]
    Deny,
    /// Forwarded without identity, and bare: without `Cookie`, `Authorization`,
    /// `Proxy-Authorization`, a method-override header or a body, which browsers never send
    /// on a preflight (an origin must not run a request on them).
    Pass,
}

impl std::str::FromStr for CorsPreflight {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "deny" => Ok(Self::Deny),
            "pass" => Ok(Self::Pass),
            _ => Err(()),
        }
    }
}

/// The rule a `PUBLIC_PATHS` entry must follow, as the configuration check states it.
const PATH_RULE: &str = "a comma-separated list of paths, each starting with `/`, of visible \
     ASCII without whitespace, control characters, `?` or `#` (a trailing `/` makes a prefix), \
     e.g. `/healthz,/static/`";

/// Forwards public paths and (optionally) CORS preflights with no authentication; put it
/// first. Public paths admit narrowly: an entry ending in `/` is a prefix (`/static/` covers
/// `/static/app.css`, not `/static` nor `/STATIC/app.css`), any other is matched exactly
/// (`/healthz` covers neither `/healthz/` nor `/healthz/x`), letter case included, and every
/// reading of the canonical path must be public ([`crate::path`]: `/static;x/app.css` is not,
/// for a servlet container reads it as `/static/app.css` and Django as another path). The
/// canonical form has no dot segment and no encoded `/`, so an origin cannot be led out of a
/// public prefix.
///
/// ```
/// use remote_user_filter::{CorsPreflight, FilterChain, PublicRoutesFilter};
/// // Entries are checked with the chain.
/// let err = FilterChain::builder()
///     .filter(PublicRoutesFilter::new(["healthz"], CorsPreflight::Deny))
///     .build()
///     .unwrap_err();
/// assert!(err.to_string().starts_with("`PublicRoutesFilter` setting PUBLIC_PATHS is `healthz`"));
/// ```
#[derive(Debug, Clone)]
pub struct PublicRoutesFilter {
    exact: Vec<String>,
    prefixes: Vec<String>,
    preflight: CorsPreflight,
}

impl PublicRoutesFilter {
    /// Public `paths` (the configuration check refuses a malformed one) and what to do with
    /// CORS preflights.
    pub fn new<P: Into<String>>(
        paths: impl IntoIterator<Item = P>,
        preflight: CorsPreflight,
    ) -> Self {
        let (mut exact, mut prefixes) = (Vec::new(), Vec::new());
        for path in paths.into_iter().map(Into::into) {
            if path.ends_with('/') {
                prefixes.push(path);
            } else {
                exact.push(path);
            }
        }
        Self {
            exact,
            prefixes,
            preflight,
        }
    }

    /// Whether this filter makes any request public (no paths and preflights denied: none).
    ///
    /// ```
    /// use remote_user_filter::{CorsPreflight, PublicRoutesFilter};
    /// assert!(!PublicRoutesFilter::new(Vec::<String>::new(), CorsPreflight::Deny).is_active());
    /// assert!(PublicRoutesFilter::new(Vec::<String>::new(), CorsPreflight::Pass).is_active());
    /// ```
    pub fn is_active(&self) -> bool {
        !self.exact.is_empty() || !self.prefixes.is_empty() || self.preflight == CorsPreflight::Pass
    }

    /// Whether `req` is public: a listed path, or a preflight when they pass.
    ///
    /// ```
    /// use remote_user_filter::{AuthRequest, CorsPreflight, PublicRoutesFilter};
    /// let f = PublicRoutesFilter::new(["/healthz", "/static/"], CorsPreflight::Deny);
    /// let req = |uri: &str| {
    ///     let (parts, ()) = http::Request::get(uri).body(()).unwrap().into_parts();
    ///     AuthRequest::from_parts(parts, 0)
    /// };
    /// assert!(f.is_public(&req("/healthz")));
    /// assert!(!f.is_public(&req("/healthz/x")));
    /// assert!(f.is_public(&req("/static/a.css")));
    /// assert!(!f.is_public(&req("/static/../admin")));
    /// assert!(!f.is_public(&req("/Static/a.css")));
    /// assert!(!f.is_public(&req("/static;x/a.css")));
    /// ```
    pub fn is_public(&self, req: &AuthRequest) -> bool {
        (req.path_error().is_none() && req.path_readings().all(|p| self.is_public_path(p)))
            || self.is_preflight(req)
    }

    /// Whether `path` (canonical) is a public path (an exact entry, or under a prefix entry).
    ///
    /// ```
    /// use remote_user_filter::{CorsPreflight, PublicRoutesFilter};
    /// let f = PublicRoutesFilter::new(["/.auth/"], CorsPreflight::Deny);
    /// assert!(f.covers("/.auth/me"));
    /// assert!(!f.covers("/app"));
    /// ```
    pub fn covers(&self, path: &str) -> bool {
        self.is_public_path(path)
    }

    fn is_public_path(&self, path: &str) -> bool {
        self.exact.iter().any(|p| p == path)
            || self.prefixes.iter().any(|p| path.starts_with(p.as_str()))
    }

    /// The entries, exact ones first.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &str> {
        self.exact.iter().chain(&self.prefixes).map(String::as_str)
    }

    fn is_preflight(&self, req: &AuthRequest) -> bool {
        self.preflight == CorsPreflight::Pass
            && req.method() == Method::OPTIONS
            && req.headers().contains_key(http::header::ORIGIN)
            && req
                .headers()
                .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
    }
}

/// A path setting's entry: starts with `/`, visible ASCII, no `?` or `#`.
pub(crate) fn valid_entry(path: &str) -> bool {
    path.starts_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#')
}

#[async_trait(?Send)]
impl Filter for PublicRoutesFilter {
    fn check(&self, _position: &Position<'_>) -> Result<(), ConfigProblem> {
        for entry in self.entries() {
            if !valid_entry(entry) {
                return Err(ConfigProblem::InvalidValue {
                    setting: "PUBLIC_PATHS",
                    value: entry.to_owned(),
                    expected: PATH_RULE,
                });
            }
            check_setting_path("PUBLIC_PATHS", entry)?;
        }
        Ok(())
    }

    fn headers_read(&self) -> Option<Vec<HeaderName>> {
        Some(match self.preflight {
            CorsPreflight::Deny => Vec::new(),
            CorsPreflight::Pass => vec![
                http::header::ORIGIN,
                http::header::ACCESS_CONTROL_REQUEST_METHOD,
            ],
        })
    }

    async fn call(&self, req: &mut AuthRequest) -> Result<(), AuthError> {
        // A preflight goes on bare (no credentials, body or method override), on a public
        // path too.
        if self.is_preflight(req) {
            req.decide_preflight();
        } else if self.is_public(req) {
            req.decide_public();
        }
        Ok(())
    }
}
