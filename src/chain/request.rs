//! The per-request state the filters share: the request as the http crate sees it (method,
//! URI, headers), the time, the user, and typed state each filter keeps for itself in the
//! request's [extensions](AuthRequest::extensions) (as tower and axum do).
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

use std::any::{Any, TypeId};
use std::rc::Rc;

use futures::future::LocalBoxFuture;
use http::request::Parts;
use http::{Extensions, HeaderMap, Method, Uri};

use crate::chain::LocalResponse;
use crate::clock::Clock;
use crate::error::AuthError;
use crate::events::AuthEvent;
use crate::path::{canonicalize, EncodedSlashes, PathError};
use crate::users::{BackendRequest, SessionUser};

/// The header Cloudflare names each request with: events carry it, so a log line can be
/// found from a request (and back).
///
/// ```
/// assert_eq!(remote_user_filter::CF_RAY, "cf-ray");
/// ```
pub const CF_RAY: &str = "cf-ray";

/// What a gateway's signed assertion said about the request, as a gateway-assertion filter
/// ([`GatewayJwtFilter`](crate::GatewayJwtFilter)) found it.
///
/// ```
/// use remote_user_filter::{AuthRequest, GatewayAssertion};
/// let req = AuthRequest::new(http::HeaderMap::new(), 0);
/// assert_eq!(req.gateway_assertion(), &GatewayAssertion::NotChecked);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum GatewayAssertion {
    /// No gateway-assertion filter ran: the identity header is taken as sent.
    #[default]
    NotChecked,
    /// A gateway-assertion filter ran and the request carried no assertion.
    Absent,
    /// A gateway-assertion filter verified an assertion naming this identity.
    Verified(String),
}

/// One request as the filters see it. Filters read it; only `login`/`logout` change who the
/// user is, and each piece of state is changed only by the module that owns it.
///
/// ```
/// use remote_user_filter::AuthRequest;
/// let req = AuthRequest::new(http::HeaderMap::new(), 0);
/// assert!(!req.is_authenticated());
/// ```
pub struct AuthRequest {
    parts: Parts,
    path: RequestPath,
    now: u64,
    user: Option<SessionUser>,
    rejected: bool,
    assertion: GatewayAssertion,
    /// The assertion a gateway-assertion filter verified (never printed, never forwarded).
    verified_assertion: Option<Rc<str>>,
    identity_confirmed: bool,
    public: bool,
    preflight: bool,
    response: Option<LocalResponse>,
    set_cookie: Option<String>,
    state: Vec<(TypeId, Box<dyn Any>)>,
    warnings: Vec<String>,
    events: Vec<AuthEvent>,
    clock: Option<Rc<dyn Clock>>,
}

impl std::fmt::Debug for AuthRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthRequest")
            .field("method", &self.parts.method)
            .field("uri", &self.parts.uri)
            .field("headers", &self.parts.headers)
            .field("now", &self.now)
            .field("user", &self.user)
            .field("rejected", &self.rejected)
            .field("assertion", &self.assertion)
            .finish_non_exhaustive()
    }
}

impl AuthRequest {
    /// A `GET /` request with these headers, seen at `now` (seconds since the epoch).
    pub fn new(headers: HeaderMap, now: u64) -> Self {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.headers = headers;
        Self::from_parts(parts, now)
    }

    /// The request `parts` (method, URI, headers, extensions), seen at `now`.
    ///
    /// ```
    /// let (parts, _body) = http::Request::post("/admin/users?x=1").body(()).unwrap().into_parts();
    /// let req = remote_user_filter::AuthRequest::from_parts(parts, 0);
    /// assert_eq!(req.method(), http::Method::POST);
    /// assert_eq!(req.path(), "/admin/users");
    /// ```
    pub fn from_parts(parts: Parts, now: u64) -> Self {
        Self::read(parts, now, EncodedSlashes::default())
    }

    /// [`from_parts`](Self::from_parts), reading the path with the chain's rule for encoded
    /// slashes.
    pub(crate) fn read(parts: Parts, now: u64, slashes: EncodedSlashes) -> Self {
        let path = RequestPath::read(parts.uri.path(), slashes);
        Self {
            parts,
            path,
            now,
            user: None,
            rejected: false,
            assertion: GatewayAssertion::NotChecked,
            verified_assertion: None,
            identity_confirmed: false,
            public: false,
            preflight: false,
            response: None,
            set_cookie: None,
            state: Vec::new(),
            warnings: Vec::new(),
            events: Vec::new(),
            clock: None,
        }
    }

    /// The request as the http crate sees it.
    pub fn parts(&self) -> &Parts {
        &self.parts
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.parts.method
    }

    /// The request URI (in the worker, the full URL the client asked for).
    pub fn uri(&self) -> &Uri {
        &self.parts.uri
    }

    /// The URI's path in canonical form ([`crate::path`]): what every path decision is made
    /// on and what the origin receives (`/` when it has none). A path with no canonical form
    /// ([`path_error`](Self::path_error)) is answered 400 by the chain before any filter
    /// runs; this then gives the path as sent.
    ///
    /// ```
    /// let (parts, ()) = http::Request::get("//%61dmin/./x?y=%61").body(()).unwrap().into_parts();
    /// let req = remote_user_filter::AuthRequest::from_parts(parts, 0);
    /// assert_eq!(req.path(), "/admin/x");
    /// assert_eq!(req.uri().query(), Some("y=%61"));
    /// ```
    pub fn path(&self) -> &str {
        match &self.path {
            RequestPath::Canonical { path, .. } => path,
            RequestPath::AsSent | RequestPath::Invalid(_) => self.parts.uri.path(),
        }
    }

    /// Every reading of the path a decision must hold for: the canonical form, then the
    /// servlet reading (`;params` removed) and, with `ENCODED_SLASHES=keep`, the reading
    /// with `%2F` as `/` ([`CanonicalPath::readings`](crate::path::CanonicalPath::readings)).
    ///
    /// ```
    /// let (parts, ()) = http::Request::get("/admin;x/y").body(()).unwrap().into_parts();
    /// let req = remote_user_filter::AuthRequest::from_parts(parts, 0);
    /// assert_eq!(req.path_readings().collect::<Vec<_>>(), ["/admin;x/y", "/admin/y"]);
    /// ```
    pub fn path_readings(&self) -> impl Iterator<Item = &str> {
        let others = match &self.path {
            RequestPath::Canonical { others, .. } => others.as_slice(),
            RequestPath::AsSent | RequestPath::Invalid(_) => &[],
        };
        std::iter::once(self.path()).chain(others.iter().map(String::as_str))
    }

    /// Why the path has no canonical form, if it has none (the chain answers 400).
    ///
    /// ```
    /// use remote_user_filter::path::PathError;
    /// let (parts, ()) = http::Request::get("/x/..;/admin").body(()).unwrap().into_parts();
    /// let req = remote_user_filter::AuthRequest::from_parts(parts, 0);
    /// assert_eq!(req.path_error(), Some(PathError::HiddenDotSegment));
    /// ```
    pub fn path_error(&self) -> Option<PathError> {
        match self.path {
            RequestPath::Invalid(error) => Some(error),
            _ => None,
        }
    }

    /// The request headers as sent.
    pub fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }

    /// Typed per-request state filters keep for themselves, one value per type. A filter
    /// keeps its state under a type private to its module, so no other filter can change it.
    ///
    /// ```
    /// #[derive(Clone)]
    /// struct Tenant(&'static str);
    /// let mut req = remote_user_filter::AuthRequest::new(http::HeaderMap::new(), 0);
    /// req.extensions_mut().insert(Tenant("acme"));
    /// assert_eq!(req.extensions().get::<Tenant>().map(|t| t.0), Some("acme"));
    /// ```
    pub fn extensions(&self) -> &Extensions {
        &self.parts.extensions
    }

    /// The per-request state, to change (see [`extensions`](AuthRequest::extensions)).
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.parts.extensions
    }

    /// A filter's own state for this request, by type: like
    /// [`extensions`](AuthRequest::extensions), for values that stay on this thread (an
    /// `Rc`, a `RefCell`), which is what a worker's are. A filter keeps its state under a
    /// type private to its module, so only that module can read or change it.
    ///
    /// ```
    /// use std::rc::Rc;
    /// struct Seen(Rc<str>);
    /// let mut req = remote_user_filter::AuthRequest::new(http::HeaderMap::new(), 0);
    /// assert!(req.state::<Seen>().is_none());
    /// req.insert_state(Seen("ann".into()));
    /// assert_eq!(req.state::<Seen>().map(|s| &*s.0), Some("ann"));
    /// ```
    pub fn state<T: 'static>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.state
            .iter()
            .find(|(t, _)| *t == id)
            .and_then(|(_, value)| value.downcast_ref())
    }

    /// A filter's own state for this request, to change (see [`state`](AuthRequest::state)).
    pub fn state_mut<T: 'static>(&mut self) -> Option<&mut T> {
        let id = TypeId::of::<T>();
        self.state
            .iter_mut()
            .find(|(t, _)| *t == id)
            .and_then(|(_, value)| value.downcast_mut())
    }

    /// Keep `value` as this request's state of its type, replacing any kept before.
    pub fn insert_state<T: 'static>(&mut self, value: T) {
        let id = TypeId::of::<T>();
        match self.state.iter_mut().find(|(t, _)| *t == id) {
            Some((_, kept)) => *kept = Box::new(value),
            None => self.state.push((id, Box::new(value))),
        }
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
        self.backend_request().header_str(name)
    }

    /// The time the request is handled at (seconds since the epoch).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// What a [`UserBackend`](crate::UserBackend) is shown of this request.
    ///
    /// ```
    /// let req = remote_user_filter::AuthRequest::new(http::HeaderMap::new(), 7);
    /// assert_eq!(req.backend_request().now(), 7);
    /// ```
    pub fn backend_request(&self) -> BackendRequest<'_> {
        BackendRequest::new(&self.parts, self.now)
    }

    /// The authenticated user, if any.
    pub fn user(&self) -> Option<&SessionUser> {
        self.user.as_ref()
    }

    /// Whether a user is authenticated.
    pub fn is_authenticated(&self) -> bool {
        self.user.is_some()
    }

    /// Set or clear the user: [`login`](crate::login), [`logout`](crate::logout) and the
    /// session filter only.
    pub(crate) fn set_user(&mut self, user: Option<SessionUser>) {
        self.user = user;
    }

    /// Take the user out, deciding the request.
    pub(crate) fn take_user(&mut self) -> Option<SessionUser> {
        self.user.take()
    }

    /// Whether a presented identity was refused by the backend (a 403 rather than a 401).
    pub fn is_rejected(&self) -> bool {
        self.rejected
    }

    /// The refusal for a request that ends with no user: 403 when a presented identity was
    /// refused ([`is_rejected`](Self::is_rejected)), else 401.
    ///
    /// ```
    /// let req = remote_user_filter::AuthRequest::new(http::HeaderMap::new(), 0);
    /// assert_eq!(req.no_user_error().status(), 401);
    /// ```
    pub fn no_user_error(&self) -> AuthError {
        if self.rejected {
            AuthError::Rejected
        } else {
            AuthError::MissingIdentity
        }
    }

    /// Mark the presented identity as refused (a remote-user filter).
    pub(crate) fn reject(&mut self) {
        self.rejected = true;
    }

    /// What a gateway-assertion filter found.
    pub fn gateway_assertion(&self) -> &GatewayAssertion {
        &self.assertion
    }

    /// Record what a gateway-assertion filter found.
    pub(crate) fn set_gateway_assertion(&mut self, assertion: GatewayAssertion) {
        self.assertion = assertion;
    }

    /// Keep the assertion a gateway-assertion filter just verified (the gateway filter only).
    pub(crate) fn set_verified_assertion(&mut self, token: Rc<str>) {
        self.verified_assertion = Some(token);
    }

    /// The assertion a gateway-assertion filter verified on this request, for the identity
    /// provider's groups (a remote-user filter only): a bearer token, never to be logged or
    /// sent anywhere but to the gateway's own identity endpoint.
    pub(crate) fn verified_assertion(&self) -> Option<Rc<str>> {
        self.verified_assertion.clone()
    }

    /// The identity a gateway-assertion filter verified: `Some(None)` when it ran and the
    /// request had no assertion, `None` when no such filter ran.
    ///
    /// ```
    /// let req = remote_user_filter::AuthRequest::new(http::HeaderMap::new(), 0);
    /// assert_eq!(req.verified_identity(), None);
    /// ```
    pub fn verified_identity(&self) -> Option<Option<&str>> {
        match &self.assertion {
            GatewayAssertion::NotChecked => None,
            GatewayAssertion::Absent => Some(None),
            GatewayAssertion::Verified(identity) => Some(Some(identity)),
        }
    }

    /// Whether the identity the gateway presented on this request names the user it is
    /// forwarded as (so the gateway's own headers may go on to the origin).
    pub fn identity_confirmed(&self) -> bool {
        self.identity_confirmed
    }

    /// Record whether the gateway's identity named the user (a remote-user filter).
    pub(crate) fn confirm_identity(&mut self, confirmed: bool) {
        self.identity_confirmed = confirmed;
    }

    /// Decide the request as public: the chain runs no later filter and forwards it with no
    /// user, no `Set-Cookie` and none of the gateway's headers, whatever an earlier filter
    /// found ([`PublicRoutesFilter`](crate::PublicRoutesFilter) does this, first in the chain).
    ///
    /// ```
    /// let mut req = remote_user_filter::AuthRequest::new(http::HeaderMap::new(), 0);
    /// assert!(!req.is_public());
    /// req.decide_public();
    /// assert!(req.is_public());
    /// ```
    pub fn decide_public(&mut self) {
        self.public = true;
    }

    /// Whether a filter decided the request as public ([`decide_public`](Self::decide_public)).
    pub fn is_public(&self) -> bool {
        self.public
    }

    /// Decide the request as a CORS preflight let through without authentication: public
    /// ([`decide_public`](Self::decide_public)), and forwarded with no credentials, no method
    /// override and no body ([`Outcome::Forward`](crate::Outcome::Forward)'s `preflight`).
    ///
    /// ```
    /// let mut req = remote_user_filter::AuthRequest::new(http::HeaderMap::new(), 0);
    /// req.decide_preflight();
    /// assert!(req.is_public() && req.is_preflight());
    /// ```
    pub fn decide_preflight(&mut self) {
        self.public = true;
        self.preflight = true;
    }

    /// Whether a filter decided the request as a preflight
    /// ([`decide_preflight`](Self::decide_preflight)).
    pub fn is_preflight(&self) -> bool {
        self.preflight
    }

    /// Answer the request here with `response` (a sign-out redirect, a who-am-I page): the
    /// chain runs no later filter and sends it, with the request's one `Set-Cookie` if any,
    /// instead of forwarding.
    ///
    /// ```
    /// use remote_user_filter::{AuthRequest, LocalResponse};
    /// let mut req = AuthRequest::new(http::HeaderMap::new(), 0);
    /// assert!(req.local_response().is_none());
    /// req.respond(LocalResponse::new(204, ""));
    /// assert_eq!(req.local_response().map(|r| r.status()), Some(204));
    /// ```
    pub fn respond(&mut self, response: LocalResponse) {
        self.response = Some(response);
    }

    /// The response a filter answered with ([`respond`](Self::respond)), if any.
    pub fn local_response(&self) -> Option<&LocalResponse> {
        self.response.as_ref()
    }

    pub(crate) fn take_local_response(&mut self) -> Option<LocalResponse> {
        self.response.take()
    }

    /// The one `Set-Cookie` value to send with the response, if the session changed.
    ///
    /// ```
    /// let req = remote_user_filter::AuthRequest::new(http::HeaderMap::new(), 0);
    /// assert!(req.set_cookie().is_none());
    /// ```
    pub fn set_cookie(&self) -> Option<&str> {
        self.set_cookie.as_deref()
    }

    /// Queue the response's one `Set-Cookie` (replacing any queued earlier): the session
    /// module only.
    pub(crate) fn queue_set_cookie(&mut self, cookie: String) {
        self.set_cookie = Some(cookie);
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

    /// Record an event people should see (a login, a sign-out, a revocation, ...); the
    /// chain hands each to its event sink
    /// ([`FilterChainBuilder::on_event`](crate::FilterChainBuilder::on_event)). Its `ray`
    /// is filled in from the request's `cf-ray` header, when it has one and the event none.
    /// Never put a token, a cookie or a secret in one.
    ///
    /// ```
    /// use remote_user_filter::{AuthEvent, AuthRequest, EventKind};
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("cf-ray", "8f1c2d3e4f5a6b7c-LHR".parse().unwrap());
    /// let mut req = AuthRequest::new(headers, 0);
    /// req.record_event(AuthEvent::new(EventKind::SignOut).user("ann@example.com"));
    /// assert_eq!(req.events()[0].ray.as_deref(), Some("8f1c2d3e4f5a6b7c-LHR"));
    /// ```
    pub fn record_event(&mut self, mut event: AuthEvent) {
        if event.ray.is_none() {
            event.ray = self
                .parts
                .headers
                .get(CF_RAY)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
        }
        self.events.push(event);
    }

    /// The events recorded so far.
    ///
    /// ```
    /// let req = remote_user_filter::AuthRequest::new(http::HeaderMap::new(), 0);
    /// assert!(req.events().is_empty());
    /// ```
    pub fn events(&self) -> &[AuthEvent] {
        &self.events
    }

    /// Use the chain's clock for timers, unless the request has one already.
    pub(crate) fn use_clock(&mut self, clock: &Rc<dyn Clock>) {
        if self.clock.is_none() {
            self.clock = Some(Rc::clone(clock));
        }
    }

    /// A timer of `ms` milliseconds on the chain's clock ([`Clock::sleep`]), if it has timers.
    pub(crate) fn sleep(&self, ms: u64) -> Option<LocalBoxFuture<'static, ()>> {
        self.clock.as_ref()?.sleep(ms)
    }
}

/// How the request's path reads ([`crate::path`]), worked out once.
enum RequestPath {
    /// The URI's path is canonical, with no other reading (the common case: no copy).
    AsSent,
    /// The canonical form differs from the path as sent, or has other readings.
    Canonical { path: String, others: Vec<String> },
    /// No canonical form: answered 400.
    Invalid(PathError),
}

impl RequestPath {
    fn read(raw: &str, slashes: EncodedSlashes) -> Self {
        match canonicalize(raw, slashes) {
            Ok(path) if path.is_as_sent() && path.other_readings().is_empty() => Self::AsSent,
            Ok(path) => {
                let (path, others) = path.into_parts();
                Self::Canonical {
                    path: path.into_owned(),
                    others,
                }
            }
            Err(error) => Self::Invalid(error),
        }
    }
}
