//! The filter in front of your own workers-rs worker (`#[event(fetch)]`, `worker::Router`):
//! the stock chain, built from `env` and checked once per isolate exactly as the stock
//! worker's, decides each request; you get either the [`Answer`] to send (400, 401, 403, 500,
//! 503: the stock worker's status, body and headers) or the [`Admitted`] request, which
//! names the user and adds the one `Set-Cookie` to your response. Only on wasm32.
//!
//! Depend on the library without its default feature `stock-worker` (the stock worker's own
//! wasm exports): `remote-user-filter = { version = "0.1", default-features = false }`.
//! `examples/hello` is a whole worker built this way.
//!
//! The examples that need a `worker::Env` (and so an [`EdgeAuth`] or an [`Admitted`]) are
//! `no_run`: a worker's `env` exists only inside the Workers runtime. They are compiled; the
//! e2e tests run `examples/hello` in workerd, and `tests/wasm_api.rs` drives the API in Node
//! over a stand-in `env`.
//!
//! ```no_run
//! use remote_user_filter::EdgeAuth;
//! use worker::{event, Context, Env, Request, Response, Result, Router};
//!
//! #[event(fetch)]
//! async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
//!     // 401 without an identity, 403 for a refused user, 500 for a bad configuration, …
//!     let admitted = match EdgeAuth::authenticate(&req, &env).await {
//!         Ok(admitted) => admitted,
//!         Err(answer) => return answer.into_response(),
//!     };
//!     let name = admitted.user().map_or("stranger", |u| u.username.as_str()).to_owned();
//!     let response = Router::with_data(name)
//!         .get("/", |_, ctx| Response::ok(format!("Hello, {}!\n", ctx.data)))
//!         .run(req, env)
//!         .await?;
//!     // The login's one Set-Cookie, if this request logged the user in.
//!     admitted.finish(response)
//! }
//! # fn main() {}
//! ```

use std::rc::Rc;

use http::request::Parts;
use http::{HeaderMap, HeaderName};
use wasm_bindgen::JsValue;
use worker::{console_error, Env, Fetch, Headers, Request, RequestInit, RequestRedirect, Response};

use crate::chain::{FilterChain, LocalResponse, Outcome, CF_RAY};
use crate::config::StockSettings;
use crate::edge::wire::{
    header_value, preflight_drops, request_parts, unreachable_response, CookieAction,
};
use crate::edge::worker::{emit_refusal, stock, Stock};
use crate::error::{AuthError, ConfigError};
use crate::negotiate::{ErrorFormat, NEGOTIATION_HEADERS};
use crate::upstream::origin_url;
use crate::users::SessionUser;

/// The stock chain of this isolate, built from the worker's `env` (`[vars]`, the
/// `SESSION_SECRET` and `GATEWAY_SECRET` secrets, the `USERS` KV namespace) and checked
/// once: the settings, the filters and the configuration check are the stock worker's
/// (README, "Settings"). Cheap to clone.
///
/// ```no_run
/// use remote_user_filter::{edge::api::Answer, EdgeAuth};
///
/// # async fn demo(req: worker::Request, env: worker::Env) -> worker::Result<worker::Response> {
/// let auth = match EdgeAuth::from_env(&env) {
///     Ok(auth) => auth,
///     // The stock worker's 500: the filter type, the setting and the rule; no value.
///     Err(e) => return Answer::config_for(&e, &req).into_response(),
/// };
/// let admitted = match auth.decide(&req).await {
///     Ok(admitted) => admitted,
///     Err(answer) => return answer.into_response(),
/// };
/// admitted.finish(worker::Response::ok("hello")?)
/// # }
/// ```
#[derive(Clone)]
pub struct EdgeAuth {
    stock: Rc<Stock>,
}

impl std::fmt::Debug for EdgeAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeAuth")
            .field("chain", &self.stock.chain)
            .finish_non_exhaustive()
    }
}

impl EdgeAuth {
    /// This isolate's chain: built from `env` and checked by the first call (in this
    /// isolate, from here or from the stock worker's entry); every later call returns the
    /// same chain, or the same [`ConfigError`], without reading `env` again.
    ///
    /// ```no_run
    /// # fn demo(env: &worker::Env) {
    /// match remote_user_filter::EdgeAuth::from_env(env) {
    ///     Ok(auth) => assert!(!auth.chain().names().is_empty()),
    ///     Err(e) => worker::console_error!("{e}"),
    /// }
    /// # }
    /// ```
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        stock(env).map(|stock| Self { stock })
    }

    /// [`from_env`](Self::from_env), then [`decide`](Self::decide): one call for a handler,
    /// a configuration error answered as the stock worker answers it ([`Answer::config_for`]).
    ///
    /// ```no_run
    /// # async fn demo(req: worker::Request, env: worker::Env) -> worker::Result<worker::Response> {
    /// let admitted = match remote_user_filter::EdgeAuth::authenticate(&req, &env).await {
    ///     Ok(admitted) => admitted,
    ///     Err(answer) => return answer.into_response(),
    /// };
    /// admitted.finish(worker::Response::ok("hello")?)
    /// # }
    /// ```
    pub async fn authenticate(req: &Request, env: &Env) -> Result<Admitted, Answer> {
        match Self::from_env(env) {
            Ok(auth) => auth.decide(req).await,
            Err(e) => Err(Answer::config_for(&e, req)),
        }
    }

    /// Run the chain on `req`: its method and URL, and only the headers the filters read
    /// (as the stock entry sends them in); the session cookie, the identity header, the
    /// gateway's proof are checked as in the stock worker. `Err` is the answer to send instead of
    /// running your handler, a refusal in the form the client reads ([`ErrorFormat`]); it has
    /// been logged (a refusal event, see [`AuthEvent`](crate::AuthEvent)).
    ///
    /// ```no_run
    /// # async fn demo(auth: remote_user_filter::EdgeAuth, req: worker::Request) -> worker::Result<worker::Response> {
    /// match auth.decide(&req).await {
    ///     Ok(admitted) => admitted.finish(worker::Response::ok("hello")?),
    ///     Err(answer) => answer.into_response(),
    /// }
    /// # }
    /// ```
    pub async fn decide(&self, req: &Request) -> Result<Admitted, Answer> {
        let js = req.headers();
        let mut headers = HeaderMap::new();
        let mut cookie = None;
        let mut add = |name: &str, value: String| {
            let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                return;
            };
            if let Some(value) = header_value(&value) {
                headers.append(name.clone(), value);
            }
            if name == http::header::COOKIE {
                cookie = Some(value);
            }
        };
        match &self.stock.plan.read {
            Some(names) => {
                for name in names {
                    if let Ok(Some(value)) = js.get(name) {
                        add(name, value);
                    }
                }
            }
            None => {
                for (name, value) in js.entries() {
                    add(&name, value);
                }
            }
        }
        // Method and URL as the JS entry reads them: a URL the http crate cannot read is a 400.
        let web = req.inner();
        match request_parts(&web.method(), &web.url(), headers) {
            // A refusal's form from the request's own headers, read only for a refusal.
            Ok(parts) => self.run(parts, cookie, || js_format(js)).await,
            Err(e) => {
                emit_refusal(&e, js.get(CF_RAY).ok().flatten().as_deref());
                Err(Answer::error(&e, None, js_format(js)))
            }
        }
    }

    /// [`decide`](Self::decide) for an `http::Request` (the `worker` crate's `http`
    /// feature, axum and other `http`-based frameworks): its method, URI and the headers the
    /// filters read, as they are.
    ///
    /// ```no_run
    /// # async fn demo(auth: remote_user_filter::EdgeAuth, req: http::Request<()>) {
    /// let response = match auth.decide_http(&req).await {
    ///     Ok(admitted) => admitted.finish_http(http::Response::new("hello".to_string())),
    ///     Err(answer) => Ok(answer.into_http()),
    /// };
    /// # let _ = response;
    /// # }
    /// ```
    pub async fn decide_http<B>(&self, req: &http::Request<B>) -> Result<Admitted, Answer> {
        let headers = match &self.stock.plan.read {
            Some(names) => {
                let mut some = HeaderMap::new();
                for name in names {
                    let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                        continue;
                    };
                    for value in req.headers().get_all(&name) {
                        some.append(name.clone(), value.clone());
                    }
                }
                some
            }
            None => req.headers().clone(),
        };
        let cookie = headers
            .get(http::header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.method = req.method().clone();
        parts.uri = req.uri().clone();
        parts.version = req.version();
        parts.headers = headers;
        self.run(parts, cookie, || ErrorFormat::negotiate(req.headers()))
            .await
    }

    /// Run the chain on `parts`; a refusal is written in the form `format` reads from the
    /// request (called for a refusal only).
    async fn run(
        &self,
        parts: Parts,
        cookie: Option<String>,
        format: impl FnOnce() -> ErrorFormat,
    ) -> Result<Admitted, Answer> {
        let mut req = self.stock.chain.request(parts);
        match self.stock.chain.run(&mut req).await {
            Outcome::Forward {
                user,
                set_cookie,
                gateway_headers,
                preflight,
            } => Ok(Admitted {
                user,
                set_cookie,
                gateway_headers,
                preflight,
                cookie,
                // The path every decision was made on goes on, with the query as read.
                path_and_query: match req.uri().query() {
                    Some(query) => format!("{}?{query}", req.path()),
                    None => req.path().to_owned(),
                },
                stock: Rc::clone(&self.stock),
            }),
            // The chain's event sink has logged the refusal.
            Outcome::Respond { error, set_cookie } => {
                Err(Answer::error(&error, set_cookie, format()))
            }
            Outcome::Answer {
                response,
                set_cookie,
            } => Err(Answer::local(response, set_cookie)),
        }
    }

    /// The chain, e.g. to name its filters.
    ///
    /// ```no_run
    /// # fn demo(auth: remote_user_filter::EdgeAuth) {
    /// assert_eq!(auth.chain().names()[0], "SessionFilter");
    /// # }
    /// ```
    pub fn chain(&self) -> &FilterChain {
        &self.stock.chain
    }

    /// The settings the chain was built from (e.g. `ORIGIN_URL` for [`Admitted::forward`]).
    ///
    /// ```no_run
    /// # fn demo(auth: remote_user_filter::EdgeAuth) {
    /// let origin = auth.settings().origin_url.as_deref().unwrap_or("https://origin.example.com");
    /// # let _ = origin;
    /// # }
    /// ```
    pub fn settings(&self) -> &StockSettings {
        &self.stock.settings
    }
}

/// The chain's answer to a request it did not let through: send it instead of running your
/// handler. Status, headers and body are the stock worker's: what is wrong (never a secret,
/// never a value the operator configured) in the form the client reads ([`ErrorFormat`]:
/// JSON, a small page, or plain text), `no-store` and `nosniff`, a `WWW-Authenticate`
/// challenge on a 401, and on a refusal that ended a session the cookie's removal. The
/// endpoints the worker answers itself (sign-out's 302 with the cookie's removal,
/// who-am-I's JSON or page) come back as an `Answer` too.
///
/// ```no_run
/// # async fn demo(auth: remote_user_filter::EdgeAuth, req: worker::Request) -> worker::Result<worker::Response> {
/// if let Err(answer) = auth.decide(&req).await {
///     assert!(matches!(answer.status(), 200 | 302 | 400 | 401 | 403 | 405 | 500 | 503));
///     return answer.into_response();
/// }
/// # worker::Response::ok("")
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    set_cookie: Option<String>,
}

impl Answer {
    /// The stock worker's answer to a bad configuration: 500, the filter type, the setting
    /// and the rule in the body ([`ConfigError::redacted`]), as plain text (for the form the
    /// request asks for, [`config_for`](Self::config_for)). The full text is logged once
    /// per isolate, as a `config_error` event, when the chain is built; each call logs a
    /// short refusal event (`reason` `config_error`), as the stock worker does per request.
    ///
    /// ```
    /// use remote_user_filter::{edge::api::Answer, ConfigError};
    /// let answer = Answer::config(&ConfigError::EmptyChain);
    /// assert_eq!(answer.status(), 500);
    /// assert!(answer.body().starts_with("configuration error: AUTH_FILTERS is empty"));
    /// ```
    pub fn config(error: &ConfigError) -> Self {
        Self::config_as(error, ErrorFormat::Text)
    }

    /// [`config`](Self::config) in the form `req` asks for ([`ErrorFormat::negotiate`] on its
    /// `Accept`, `Sec-Fetch-Dest` and `X-Requested-With`), as the stock worker answers it.
    ///
    /// ```no_run
    /// # fn demo(req: worker::Request, env: worker::Env) -> worker::Result<worker::Response> {
    /// use remote_user_filter::{edge::api::Answer, EdgeAuth};
    /// if let Err(e) = EdgeAuth::from_env(&env) {
    ///     return Answer::config_for(&e, &req).into_response();
    /// }
    /// # worker::Response::ok("")
    /// # }
    /// ```
    pub fn config_for(error: &ConfigError, req: &Request) -> Self {
        Self::config_as(error, js_format(req.headers()))
    }

    fn config_as(error: &ConfigError, format: ErrorFormat) -> Self {
        let error = AuthError::Config(error.clone());
        emit_refusal(&error, None);
        Self::error(&error, None, format)
    }

    /// The answer to `error` in `format` (logged by the caller).
    fn error(error: &AuthError, set_cookie: Option<String>, format: ErrorFormat) -> Self {
        Self::local(format.respond(error), set_cookie)
    }

    /// `response`, with `set_cookie`.
    fn local(response: LocalResponse, set_cookie: Option<String>) -> Self {
        let (status, headers, body) = response.into_parts();
        Self {
            status,
            headers,
            body,
            set_cookie,
        }
    }

    /// The HTTP status.
    ///
    /// ```
    /// # use remote_user_filter::{edge::api::Answer, ConfigError};
    /// assert_eq!(Answer::config(&ConfigError::EmptyChain).status(), 500);
    /// ```
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The body (plain text, JSON or a page: see the `Content-Type` in
    /// [`headers`](Self::headers)).
    ///
    /// ```
    /// # use remote_user_filter::{edge::api::Answer, ConfigError};
    /// assert!(Answer::config(&ConfigError::EmptyChain).body().ends_with('\n'));
    /// ```
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The response headers, `Set-Cookie` aside.
    ///
    /// ```
    /// # use remote_user_filter::{edge::api::Answer, ConfigError};
    /// let answer = Answer::config(&ConfigError::EmptyChain);
    /// assert!(answer.headers().contains(&("Cache-Control", "no-store".to_string())));
    /// ```
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// The one `Set-Cookie`, if any: the session's removal, when a refusal ended it.
    ///
    /// ```
    /// # use remote_user_filter::{edge::api::Answer, ConfigError};
    /// assert!(Answer::config(&ConfigError::EmptyChain).set_cookie().is_none());
    /// ```
    pub fn set_cookie(&self) -> Option<&str> {
        self.set_cookie.as_deref()
    }

    /// As a `worker::Response`.
    ///
    /// ```
    /// # use remote_user_filter::{edge::api::Answer, ConfigError};
    /// let response = Answer::config(&ConfigError::EmptyChain).into_response()?;
    /// assert_eq!(response.status_code(), 500);
    /// # Ok::<(), worker::Error>(())
    /// ```
    pub fn into_response(self) -> worker::Result<Response> {
        let headers = Headers::new();
        for (name, value) in &self.headers {
            headers.append(name, value)?;
        }
        if let Some(cookie) = &self.set_cookie {
            headers.append("Set-Cookie", cookie)?;
        }
        Ok(Response::builder()
            .with_status(self.status)
            .with_headers(headers)
            .fixed(self.body.into_bytes()))
    }

    /// As an `http::Response` (the `worker` crate's `http` feature, axum, …).
    ///
    /// ```
    /// # use remote_user_filter::{edge::api::Answer, ConfigError};
    /// let response = Answer::config(&ConfigError::EmptyChain).into_http();
    /// assert_eq!(response.status(), 500);
    /// ```
    pub fn into_http(self) -> http::Response<String> {
        let mut response = http::Response::new(self.body);
        *response.status_mut() = http::StatusCode::from_u16(self.status)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        let cookie = self.set_cookie.map(|c| ("set-cookie", c));
        for (name, value) in self.headers.into_iter().chain(cookie) {
            let name = HeaderName::from_bytes(name.as_bytes());
            if let (Ok(name), Ok(value)) = (name, http::HeaderValue::try_from(value)) {
                headers.append(name, value);
            }
        }
        response
    }
}

/// A request the chain let through: the user it is authenticated as (none only with
/// `ANONYMOUS=pass`, a public path or a passed CORS preflight), the `Set-Cookie` a login issued, and the identity headers an origin
/// behind you expects. Finish your response with [`finish`](Self::finish), or hand the
/// request on with [`forward`](Self::forward).
///
/// ```no_run
/// # async fn demo(auth: remote_user_filter::EdgeAuth, req: worker::Request) -> worker::Result<worker::Response> {
/// let Ok(admitted) = auth.decide(&req).await else { return worker::Response::error("no", 401) };
/// let user = admitted.user().cloned();
/// let greeting = match &user {
///     Some(user) => format!("Hello, {} ({})", user.username, user.groups.join(", ")),
///     None => "Hello, stranger".to_string(),
/// };
/// admitted.finish(worker::Response::ok(greeting)?)
/// # }
/// ```
pub struct Admitted {
    user: Option<SessionUser>,
    set_cookie: Option<String>,
    gateway_headers: bool,
    /// A CORS preflight let through without authentication: forwarded bare.
    preflight: bool,
    /// The request's `Cookie` header as it came, to forward without our session cookie.
    cookie: Option<String>,
    /// The canonical path the chain decided on and the query: what goes on to the origin.
    path_and_query: String,
    stock: Rc<Stock>,
}

impl std::fmt::Debug for Admitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The cookies are secrets: say whether they are there, not what they are.
        f.debug_struct("Admitted")
            .field("user", &self.user)
            .field("set_cookie", &self.set_cookie.is_some())
            .field("gateway_headers", &self.gateway_headers)
            .field("preflight", &self.preflight)
            .finish_non_exhaustive()
    }
}

impl Admitted {
    /// Who the request is authenticated as: username, email and groups as the session (or
    /// the login that just happened) says, with no KV call. `None` only when the chain
    /// passes anonymous requests (`ANONYMOUS=pass`) or the request is public
    /// (`PUBLIC_PATHS`, `CORS_PREFLIGHT=pass`).
    ///
    /// ```no_run
    /// # fn demo(admitted: remote_user_filter::edge::api::Admitted) {
    /// if let Some(user) = admitted.user() {
    ///     let admin = user.groups.iter().any(|g| g == "admin");
    ///     # let _ = admin;
    /// }
    /// # }
    /// ```
    pub fn user(&self) -> Option<&SessionUser> {
        self.user.as_ref()
    }

    /// Whether this is a CORS preflight let through without authentication
    /// (`CORS_PREFLIGHT=pass`: `OPTIONS` with `Origin` and `Access-Control-Request-Method`).
    /// [`forward`](Self::forward) sends it on bare: none of the client's headers in
    /// [`PREFLIGHT_DROPPED`](crate::edge::wire::PREFLIGHT_DROPPED) (`Cookie`,
    /// `Authorization`, `Proxy-Authorization`, the method overrides, the body's headers) and
    /// no body. A handler that answers it itself must not act on them either: answer the
    /// CORS headers, nothing else.
    ///
    /// ```no_run
    /// # fn demo(admitted: remote_user_filter::edge::api::Admitted) -> worker::Result<worker::Response> {
    /// if admitted.is_preflight() {
    ///     let headers = worker::Headers::new();
    ///     headers.set("Access-Control-Allow-Origin", "https://spa.example")?;
    ///     headers.set("Access-Control-Allow-Methods", "GET, POST")?;
    ///     return Ok(worker::Response::empty()?.with_status(204).with_headers(headers));
    /// }
    /// # worker::Response::ok("")
    /// # }
    /// ```
    pub fn is_preflight(&self) -> bool {
        self.preflight
    }

    /// The `Set-Cookie` this request earns (a login, a re-issued session), if any; the
    /// finishing methods add it for you.
    ///
    /// ```no_run
    /// # fn demo(admitted: remote_user_filter::edge::api::Admitted) {
    /// let logged_in_now = admitted.set_cookie().is_some();
    /// # let _ = logged_in_now;
    /// # }
    /// ```
    pub fn set_cookie(&self) -> Option<&str> {
        self.set_cookie.as_deref()
    }

    /// The trusted identity headers for an origin (`UPSTREAM_USER_HEADER`, by default
    /// `x-remote-user`, then `x-remote-user-email` and `x-remote-user-groups` when known;
    /// values outside visible ASCII percent-encoded); none for an anonymous request. Set
    /// them only after removing the client's copies: [`forward`](Self::forward) does both.
    ///
    /// ```no_run
    /// # fn demo(admitted: remote_user_filter::edge::api::Admitted) {
    /// for (name, value) in admitted.identity_headers() {
    ///     worker::console_log!("{name}: {value}");
    /// }
    /// # }
    /// ```
    pub fn identity_headers(&self) -> Vec<(&str, String)> {
        match &self.user {
            Some(user) => self.stock.settings.upstream.identity_headers(user),
            None => Vec::new(),
        }
    }

    /// Your handler's `response` with the one `Set-Cookie` added, if this request earned
    /// one. A response whose headers cannot change (one `fetch` returned) gets a copy of
    /// them.
    ///
    /// ```no_run
    /// # fn demo(admitted: remote_user_filter::edge::api::Admitted) -> worker::Result<worker::Response> {
    /// admitted.finish(worker::Response::ok("hello")?)
    /// # }
    /// ```
    pub fn finish(self, mut response: Response) -> worker::Result<Response> {
        let Some(cookie) = self.set_cookie else {
            return Ok(response);
        };
        if response.headers().append("Set-Cookie", &cookie).is_err() {
            let headers = response.headers().clone();
            headers.append("Set-Cookie", &cookie)?;
            response = response.with_headers(headers);
        }
        Ok(response)
    }

    /// [`finish`](Self::finish) for an `http::Response`; `Err` only if the cookie is not a
    /// valid header value (never for the cookies the session filter issues).
    ///
    /// ```no_run
    /// # fn demo(admitted: remote_user_filter::edge::api::Admitted) {
    /// let response = admitted.finish_http(http::Response::new("hello"));
    /// # let _ = response;
    /// # }
    /// ```
    pub fn finish_http<B>(
        self,
        mut response: http::Response<B>,
    ) -> Result<http::Response<B>, http::header::InvalidHeaderValue> {
        if let Some(cookie) = self.set_cookie {
            let value = http::HeaderValue::try_from(cookie)?;
            response
                .headers_mut()
                .append(http::header::SET_COOKIE, value);
        }
        Ok(response)
    }

    /// Hand `req` (the request [`EdgeAuth::decide`] read) on to `origin` (e.g.
    /// `https://app.internal.example`; the path and query the chain read are kept) as the
    /// stock worker forwards to `ORIGIN_URL`: the client's
    /// copies of the identity headers and of the gateway secret removed in every spelling,
    /// the gateway's own identity and assertion headers passed on only as spelled and only
    /// when they named this user, our session cookie removed, the
    /// [identity headers](Self::identity_headers) set; method and body as they came,
    /// redirects returned, not followed. A [preflight](Self::is_preflight) goes on bare: no
    /// credentials, method override or body. The origin's response comes back
    /// [finished](Self::finish); an origin that cannot be reached is a 502 in the form the
    /// client reads (the login's cookie still goes out).
    ///
    /// ```no_run
    /// # async fn demo(auth: remote_user_filter::EdgeAuth, req: worker::Request) -> worker::Result<worker::Response> {
    /// match auth.decide(&req).await {
    ///     Ok(admitted) => admitted.forward(req, "https://app.internal.example").await,
    ///     Err(answer) => answer.into_response(),
    /// }
    /// # }
    /// ```
    pub async fn forward(self, req: Request, origin: &str) -> worker::Result<Response> {
        let target = origin_url(origin, &self.path_and_query);
        // A copy: the incoming request's headers cannot change.
        let headers = req.headers().clone();
        let plan = &self.stock.plan;
        let preflight = self.preflight;
        let drop: Vec<String> = headers
            .keys()
            .filter(|name| {
                !plan.forwards(name, self.gateway_headers) || (preflight && preflight_drops(name))
            })
            .collect();
        for name in &drop {
            headers.delete(name)?;
        }
        // A preflight's cookies are gone already.
        match CookieAction::strip(self.cookie.as_deref()) {
            CookieAction::Keep => {}
            _ if preflight => {}
            CookieAction::Delete => headers.delete("cookie")?,
            CookieAction::Set(rest) => headers.set("cookie", &rest)?,
        }
        for (name, value) in self.identity_headers() {
            headers.set(name, &value)?;
        }
        let mut init = RequestInit::new();
        init.with_method(req.method())
            .with_headers(headers)
            .with_redirect(RequestRedirect::Manual)
            .with_body(match preflight {
                true => None,
                false => req.inner().body().map(JsValue::from),
            });
        let outbound = Request::new_with_init(&target, &init)?;
        match Fetch::Request(outbound).send().await {
            Ok(response) => self.finish(response),
            Err(e) => {
                console_error!("remote-user-filter: the origin could not be reached: {e}");
                let response = unreachable_response(js_format(req.headers()));
                // A login that just happened stands: a retry needs no KV.
                Answer::local(response, self.set_cookie).into_response()
            }
        }
    }
}

/// The form the request with these runtime `headers` asks an answer in
/// ([`ErrorFormat::negotiate`]), read for an answer the chain did not give (a configuration
/// error, a URL it cannot read, an origin that cannot be reached): the
/// [`NEGOTIATION_HEADERS`] only.
fn js_format(headers: &Headers) -> ErrorFormat {
    let mut some = HeaderMap::new();
    for name in NEGOTIATION_HEADERS {
        if let Ok(Some(value)) = headers.get(name) {
            if let Some(value) = header_value(&value) {
                some.append(HeaderName::from_static(name), value);
            }
        }
    }
    ErrorFormat::negotiate(&some)
}
