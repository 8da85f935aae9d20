//! The [`Filter`] extension point and the [`FilterChain`] that runs filters in order.
//!
//! Building a chain runs the configuration check: every filter checks its settings and its
//! place, and a failure names the concrete filter type the user installed.
//!
//! ```
//! use std::rc::Rc;
//! use remote_user_filter::{
//!     FilterChain, KvUserBackend, MemoryStore, PersistentRemoteUserFilter, SessionFilter,
//! };
//!
//! let backend = Rc::new(KvUserBackend::new(MemoryStore::new()));
//! // The remote-user filter before the session filter: refused, naming the concrete type.
//! let err = FilterChain::builder()
//!     .filter(PersistentRemoteUserFilter::new(backend))
//!     .filter(SessionFilter::builder("a-32-byte-or-longer-session-secret!").build())
//!     .build()
//!     .unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "`PersistentRemoteUserFilter` requires `SessionFilter` to be installed before it"
//! );
//! ```

use std::rc::Rc;

use async_trait::async_trait;
use http::request::Parts;
use http::{HeaderMap, HeaderName};

use crate::chain::{AuthRequest, LocalResponse};
use crate::clock::{Clock, SystemClock};
use crate::error::{AuthError, ConfigError, ConfigProblem};
use crate::events::{AuthEvent, EventKind};
use crate::path::EncodedSlashes;
use crate::type_name::short_type_name;
use crate::users::SessionUser;

/// What role a filter plays, so others can check their place against it.
///
/// ```
/// use remote_user_filter::{Filter, FilterKind, SessionFilter};
/// let f = SessionFilter::builder("a-32-byte-or-longer-session-secret!").build();
/// assert_eq!(f.kind(), FilterKind::Session);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FilterKind {
    /// Owns the session (reads the cookie; `login`/`logout` need it).
    Session,
    /// Turns a gateway's identity into a logged-in user.
    RemoteUser,
    /// Proves the request came through the gateway (signed assertion or shared secret).
    Gateway,
    /// Anything else.
    Other,
}

/// Where a filter stands in its chain, for [`Filter::check`].
///
/// ```
/// use remote_user_filter::{FilterKind, Position};
/// let kinds = [FilterKind::Session, FilterKind::RemoteUser];
/// let pos = Position::new(&kinds, 1);
/// assert_eq!(pos.before(), &[FilterKind::Session]);
/// assert!(pos.after().is_empty());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Position<'a> {
    kinds: &'a [FilterKind],
    index: usize,
}

impl<'a> Position<'a> {
    /// The filter at `index` in a chain of `kinds`.
    pub fn new(kinds: &'a [FilterKind], index: usize) -> Self {
        Self { kinds, index }
    }

    /// Kinds of the filters that run before this one.
    pub fn before(&self) -> &'a [FilterKind] {
        &self.kinds[..self.index.min(self.kinds.len())]
    }

    /// Kinds of the filters that run after this one.
    pub fn after(&self) -> &'a [FilterKind] {
        self.kinds.get(self.index + 1..).unwrap_or(&[])
    }

    /// This filter's index in the chain.
    pub fn index(&self) -> usize {
        self.index
    }
}

/// One step of the chain. Futures need not be `Send`.
///
/// `name` defaults to the implementing type's own name, so a wrapper such as
/// `struct CorpRemoteUser(RemoteUserFilter)` is reported as `CorpRemoteUser`, even when it
/// hands `check` to the filter it wraps.
///
/// ```
/// use std::rc::Rc;
/// use remote_user_filter::{
///     async_trait, AuthError, AuthRequest, ConfigProblem, Filter, FilterChain, FilterKind,
///     KvUserBackend, MemoryStore, Position, RemoteUserFilter,
/// };
///
/// struct CorpRemoteUser(RemoteUserFilter);
///
/// #[async_trait(?Send)]
/// impl Filter for CorpRemoteUser {
///     fn kind(&self) -> FilterKind { self.0.kind() }
///     fn check(&self, position: &Position<'_>) -> Result<(), ConfigProblem> {
///         self.0.check(position)
///     }
///     async fn call(&self, req: &mut AuthRequest) -> Result<(), AuthError> {
///         self.0.call(req).await
///     }
/// }
///
/// let backend = Rc::new(KvUserBackend::new(MemoryStore::new()));
/// let inner = RemoteUserFilter::builder(backend).header("X-Corp-User").build();
/// let err = FilterChain::builder().filter(CorpRemoteUser(inner)).build().unwrap_err();
/// assert_eq!(err.to_string(), "`CorpRemoteUser` requires `SessionFilter` to be installed before it");
/// ```
#[async_trait(?Send)]
pub trait Filter {
    /// The name used in configuration errors: the type's own name by default.
    fn name(&self) -> String {
        short_type_name::<Self>()
    }

    /// The filter's role.
    fn kind(&self) -> FilterKind {
        FilterKind::Other
    }

    /// Check settings and position once, before the first request.
    fn check(&self, position: &Position<'_>) -> Result<(), ConfigProblem> {
        let _ = position;
        Ok(())
    }

    /// The request headers this filter reads, so a host can hand over just those; `None`
    /// (the default) means it may read any header.
    fn headers_read(&self) -> Option<Vec<HeaderName>> {
        None
    }

    /// Handle one request. `Err` stops the chain and answers with the error's status.
    async fn call(&self, req: &mut AuthRequest) -> Result<(), AuthError>;
}

/// What happens to requests that end the chain with no user.
///
/// ```
/// use remote_user_filter::AnonymousPolicy;
/// assert_eq!("pass".parse::<AnonymousPolicy>(), Ok(AnonymousPolicy::Pass));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnonymousPolicy {
    /// No identity → 401; a refused identity → 403.
    #[default]
    Deny,
    /// Forward without identity headers.
    Pass,
}

impl std::str::FromStr for AnonymousPolicy {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "deny" => Ok(Self::Deny),
            "pass" => Ok(Self::Pass),
            _ => Err(()),
        }
    }
}

/// What the chain decided for one request.
///
/// ```
/// use remote_user_filter::Outcome;
/// let o = Outcome::Forward { user: None, set_cookie: None, gateway_headers: false, preflight: false };
/// assert!(o.set_cookie().is_none());
/// ```
#[derive(Debug)]
pub enum Outcome {
    /// Forward to the origin as `user` (none: anonymous), sending `set_cookie` back.
    Forward {
        /// The user to name in the trusted headers.
        user: Option<SessionUser>,
        /// At most one `Set-Cookie` value.
        set_cookie: Option<String>,
        /// Whether the gateway's own identity header (and its signed assertion, when one was
        /// verified) named `user` on this request, so they may reach the origin as sent.
        /// Otherwise the host strips them.
        gateway_headers: bool,
        /// A CORS preflight let through without authentication (`CORS_PREFLIGHT=pass`):
        /// the host forwards it with no credentials (`Cookie`, `Authorization`,
        /// `Proxy-Authorization`), no method override and no body
        /// ([`PREFLIGHT_DROPPED`](crate::edge::wire::PREFLIGHT_DROPPED)). Browsers send none
        /// of them on a preflight; a client that does is not a browser asking for CORS.
        preflight: bool,
    },
    /// Answer here with `error`'s status. `set_cookie` is a logout's removal cookie; a
    /// failing request (400/500/503) changes no session and carries none.
    Respond {
        /// Why.
        error: AuthError,
        /// At most one `Set-Cookie` value.
        set_cookie: Option<String>,
    },
    /// Answer here with a filter's own `response` (a sign-out redirect, a who-am-I page),
    /// sending `set_cookie` with it.
    Answer {
        /// What the filter answered.
        response: LocalResponse,
        /// At most one `Set-Cookie` value (a login's cookie, a sign-out's removal).
        set_cookie: Option<String>,
    },
}

impl Outcome {
    /// The `Set-Cookie` value to send, if any.
    pub fn set_cookie(&self) -> Option<&str> {
        match self {
            Outcome::Forward { set_cookie, .. }
            | Outcome::Respond { set_cookie, .. }
            | Outcome::Answer { set_cookie, .. } => set_cookie.as_deref(),
        }
    }
}

/// Filters run in order, built and checked once.
///
/// ```
/// use std::rc::Rc;
/// use remote_user_filter::{
///     FilterChain, KvUserBackend, ManualClock, MemoryStore, Outcome, RemoteUserFilter, SessionFilter,
/// };
///
/// # futures::executor::block_on(async {
/// let backend = Rc::new(KvUserBackend::new(MemoryStore::new()));
/// let chain = FilterChain::builder()
///     .filter(SessionFilter::builder("a-32-byte-or-longer-session-secret!").build())
///     // Header mode: only for a worker nothing but the gateway can reach (see GatewayJwtFilter).
///     .filter(RemoteUserFilter::builder(backend.clone()).trust_unsigned_header(true).build())
///     .clock(ManualClock::new(1_700_000_000))
///     .build()
///     .unwrap();
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("cf-access-authenticated-user-email", "ann@example.com".parse().unwrap());
/// match chain.handle(headers).await {
///     Outcome::Forward { user, set_cookie, .. } => {
///         assert_eq!(user.unwrap().username, "ann@example.com");
///         assert!(set_cookie.is_some());
///     }
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(backend.store().writes(), 1);
/// # });
/// ```
pub struct FilterChain {
    filters: Vec<Box<dyn Filter>>,
    headers_read: Option<Vec<HeaderName>>,
    anonymous: AnonymousPolicy,
    encoded_slashes: EncodedSlashes,
    clock: Rc<dyn Clock>,
    on_warning: Option<WarningSink>,
    on_event: Option<EventSink>,
}

/// Where the chain sends the warnings filters note ([`AuthRequest::warn`]).
pub(crate) type WarningSink = Rc<dyn Fn(&str)>;

/// Where the chain sends the events filters record ([`AuthRequest::record_event`]).
pub(crate) type EventSink = Rc<dyn Fn(&AuthEvent)>;

impl std::fmt::Debug for FilterChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilterChain")
            .field("filters", &self.names())
            .field("anonymous", &self.anonymous)
            .finish()
    }
}

/// Builds a [`FilterChain`]; `build` runs the configuration check.
///
/// ```
/// use remote_user_filter::{AnonymousPolicy, FilterChain};
/// let err = FilterChain::builder().anonymous(AnonymousPolicy::Pass).build().unwrap_err();
/// assert!(err.to_string().contains("AUTH_FILTERS is empty"));
/// ```
#[derive(Default)]
pub struct FilterChainBuilder {
    filters: Vec<Box<dyn Filter>>,
    anonymous: AnonymousPolicy,
    encoded_slashes: EncodedSlashes,
    clock: Option<Rc<dyn Clock>>,
    on_warning: Option<WarningSink>,
    on_event: Option<EventSink>,
}

impl std::fmt::Debug for FilterChainBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilterChainBuilder")
            .field("filters", &self.filters.len())
            .field("anonymous", &self.anonymous)
            .finish()
    }
}

impl FilterChainBuilder {
    /// Append a filter.
    pub fn filter(self, filter: impl Filter + 'static) -> Self {
        self.boxed(Box::new(filter))
    }

    /// Append an already boxed filter.
    pub fn boxed(mut self, filter: Box<dyn Filter>) -> Self {
        self.filters.push(filter);
        self
    }

    /// What to do with requests that end with no user (default: deny).
    pub fn anonymous(mut self, policy: AnonymousPolicy) -> Self {
        self.anonymous = policy;
        self
    }

    /// What to do with an encoded `/` or `\` in a path segment (default: answer 400; see
    /// [`crate::path`]).
    ///
    /// ```
    /// use remote_user_filter::path::EncodedSlashes;
    /// use remote_user_filter::{FilterChain, SessionFilter};
    /// let chain = FilterChain::builder()
    ///     .filter(SessionFilter::builder("a-32-byte-or-longer-session-secret!").build())
    ///     .encoded_slashes(EncodedSlashes::Keep)
    ///     .build()
    ///     .unwrap();
    /// let (parts, ()) = http::Request::get("/files/a%2fb").body(()).unwrap().into_parts();
    /// assert_eq!(chain.request(parts).path(), "/files/a%2Fb");
    /// ```
    pub fn encoded_slashes(mut self, rule: EncodedSlashes) -> Self {
        self.encoded_slashes = rule;
        self
    }

    /// Where time comes from (default: the system clock).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(Rc::new(clock));
        self
    }

    /// Where warnings go (default: nowhere): the worker logs them with `console.warn`.
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use remote_user_filter::{FilterChain, SessionFilter};
    /// let seen = Rc::new(RefCell::new(Vec::<String>::new()));
    /// let sink = Rc::clone(&seen);
    /// let chain = FilterChain::builder()
    ///     .filter(SessionFilter::builder("a-32-byte-or-longer-session-secret!").build())
    ///     .on_warning(move |line| sink.borrow_mut().push(line.to_owned()));
    /// # let _ = chain;
    /// ```
    pub fn on_warning(mut self, sink: impl Fn(&str) + 'static) -> Self {
        self.on_warning = Some(Rc::new(sink));
        self
    }

    /// Where events go (default: nowhere): every event a filter records
    /// ([`AuthRequest::record_event`]: a login, a revocation, a key fetch) and, for every
    /// request answered here, the chain's own refusal event (`reason` from
    /// [`AuthError::reason`], `status`). The worker logs each as a JSON line and counts it in
    /// Analytics Engine. A request with a valid session records none.
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use remote_user_filter::{FilterChain, Outcome, SessionFilter};
    /// # futures::executor::block_on(async {
    /// let seen = Rc::new(RefCell::new(Vec::<String>::new()));
    /// let sink = Rc::clone(&seen);
    /// let chain = FilterChain::builder()
    ///     .filter(SessionFilter::builder("a-32-byte-or-longer-session-secret!").build())
    ///     .on_event(move |event| sink.borrow_mut().push(event.to_json_line()))
    ///     .build()
    ///     .unwrap();
    /// assert!(matches!(chain.handle(http::HeaderMap::new()).await, Outcome::Respond { .. }));
    /// assert_eq!(*seen.borrow(), [r#"{"event":"refusal","reason":"missing_identity","status":401}"#]);
    /// # });
    /// ```
    pub fn on_event(mut self, sink: impl Fn(&AuthEvent) + 'static) -> Self {
        self.on_event = Some(Rc::new(sink));
        self
    }

    /// Check every filter's settings and position, then build the chain.
    pub fn build(self) -> Result<FilterChain, ConfigError> {
        if self.filters.is_empty() {
            return Err(ConfigError::EmptyChain);
        }
        let kinds: Vec<FilterKind> = self.filters.iter().map(|f| f.kind()).collect();
        for (index, filter) in self.filters.iter().enumerate() {
            filter
                .check(&Position::new(&kinds, index))
                .map_err(|problem| ConfigError::filter(filter.name(), problem))?;
        }
        let mut headers_read = Some(Vec::new());
        for filter in &self.filters {
            headers_read = match (headers_read, filter.headers_read()) {
                (Some(mut all), Some(names)) => {
                    for name in names {
                        if !all.contains(&name) {
                            all.push(name);
                        }
                    }
                    Some(all)
                }
                _ => None,
            };
        }
        Ok(FilterChain {
            headers_read,
            filters: self.filters,
            anonymous: self.anonymous,
            encoded_slashes: self.encoded_slashes,
            clock: self.clock.unwrap_or_else(|| Rc::new(SystemClock)),
            on_warning: self.on_warning,
            on_event: self.on_event,
        })
    }
}

impl FilterChain {
    /// A builder for a chain.
    pub fn builder() -> FilterChainBuilder {
        FilterChainBuilder::default()
    }

    /// The filters' names, in order.
    pub fn names(&self) -> Vec<String> {
        self.filters.iter().map(|f| f.name()).collect()
    }

    /// Every request header any filter reads (`None`: some filter may read any header). A
    /// host that pays per header to build the [`HeaderMap`] (the worker) passes just these.
    ///
    /// ```
    /// use remote_user_filter::{FilterChain, SessionFilter};
    /// let chain = FilterChain::builder()
    ///     .filter(SessionFilter::builder("a-32-byte-or-longer-session-secret!").build())
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(chain.headers_read().unwrap(), [http::header::COOKIE]);
    /// ```
    pub fn headers_read(&self) -> Option<&[HeaderName]> {
        self.headers_read.as_deref()
    }

    /// Run every filter on a `GET /` request with these headers and decide (see
    /// [`handle_parts`](FilterChain::handle_parts) for filters that read the method or path).
    pub async fn handle(&self, headers: HeaderMap) -> Outcome {
        let mut req = AuthRequest::new(headers, self.clock.now_secs());
        self.run(&mut req).await
    }

    /// Run every filter on a request (method, URI, headers) and decide.
    ///
    /// ```
    /// use remote_user_filter::{FilterChain, Outcome, SessionFilter};
    /// # futures::executor::block_on(async {
    /// let chain = FilterChain::builder()
    ///     .filter(SessionFilter::builder("a-32-byte-or-longer-session-secret!").build())
    ///     .build()
    ///     .unwrap();
    /// let (parts, ()) = http::Request::post("https://app.example/admin").body(()).unwrap().into_parts();
    /// // No session and no identity filter: refused.
    /// assert!(matches!(chain.handle_parts(parts).await, Outcome::Respond { .. }));
    /// # });
    /// ```
    pub async fn handle_parts(&self, parts: Parts) -> Outcome {
        let mut req = self.request(parts);
        self.run(&mut req).await
    }

    /// The [`AuthRequest`] for `parts`, seen now by the chain's clock: for a host that runs
    /// the chain ([`run`](FilterChain::run)) and then still reads the request (the worker
    /// takes the forward's path from the URI the chain saw).
    ///
    /// ```
    /// use remote_user_filter::{FilterChain, ManualClock, SessionFilter};
    /// let chain = FilterChain::builder()
    ///     .filter(SessionFilter::builder("a-32-byte-or-longer-session-secret!").build())
    ///     .clock(ManualClock::new(1_700_000_000))
    ///     .build()
    ///     .unwrap();
    /// let (parts, ()) = http::Request::get("/a?b").body(()).unwrap().into_parts();
    /// let req = chain.request(parts);
    /// assert_eq!((req.now(), req.path()), (1_700_000_000, "/a"));
    /// ```
    pub fn request(&self, parts: Parts) -> AuthRequest {
        AuthRequest::read(parts, self.clock.now_secs(), self.encoded_slashes)
    }

    /// Run every filter on `req` and decide; the warnings noted go to the warning sink, the
    /// events recorded (and, for an answer here, the refusal) to the event sink.
    pub async fn run(&self, req: &mut AuthRequest) -> Outcome {
        req.use_clock(&self.clock);
        let outcome = self.decide(req).await;
        if let Outcome::Respond { error, .. } = &outcome {
            req.record_event(refusal(error, req.user().map(|u| u.username.as_str())));
        }
        if let Some(sink) = &self.on_warning {
            for line in req.warnings() {
                sink(line);
            }
        }
        if let Some(sink) = &self.on_event {
            for event in req.events() {
                sink(event);
            }
        }
        outcome
    }

    async fn decide(&self, req: &mut AuthRequest) -> Outcome {
        // Every path decision is made on the canonical path: one that has none is decided
        // by nobody.
        if let Some(error) = req.path_error() {
            return Outcome::Respond {
                error: AuthError::BadPath(error),
                set_cookie: None,
            };
        }
        for filter in &self.filters {
            if let Err(error) = filter.call(req).await {
                // A refusal may follow a logout, whose cookie removal still goes out; a
                // failure (bad request, backend down, misconfiguration) changes nothing.
                let set_cookie = match error.status() {
                    401 | 403 => req.set_cookie().map(str::to_owned),
                    _ => None,
                };
                return Outcome::Respond { error, set_cookie };
            }
            if let Some(response) = req.take_local_response() {
                // Answered here: no later filter runs, nothing is forwarded.
                return Outcome::Answer {
                    response,
                    set_cookie: req.set_cookie().map(str::to_owned),
                };
            }
            if req.is_public() {
                // Public: no later filter runs, and nothing an earlier one found goes out.
                return Outcome::Forward {
                    user: None,
                    set_cookie: None,
                    gateway_headers: false,
                    preflight: req.is_preflight(),
                };
            }
        }
        let set_cookie = req.set_cookie().map(str::to_owned);
        match (req.take_user(), self.anonymous) {
            (Some(user), _) => Outcome::Forward {
                gateway_headers: req.identity_confirmed(),
                user: Some(user),
                set_cookie,
                preflight: false,
            },
            (None, AnonymousPolicy::Pass) => Outcome::Forward {
                user: None,
                set_cookie,
                gateway_headers: false,
                preflight: false,
            },
            (None, AnonymousPolicy::Deny) => Outcome::Respond {
                error: req.no_user_error(),
                set_cookie,
            },
        }
    }
}

/// The refusal event for a request answered with `error`: its reason code and status, the
/// user the request had (if any), and for the operator's failures the detail.
///
/// ```
/// use remote_user_filter::{chain::refusal, AuthError, EventKind};
/// let event = refusal(&AuthError::Rejected, None);
/// assert_eq!((event.event, event.reason.as_deref(), event.status), (EventKind::Refusal, Some("rejected"), Some(403)));
/// ```
pub fn refusal(error: &AuthError, user: Option<&str>) -> AuthEvent {
    let mut event = AuthEvent::new(EventKind::Refusal)
        .reason(error.reason())
        .status(error.status());
    event.user = user.map(str::to_owned);
    event.detail = error.detail();
    event
}
