//! The Cloudflare Worker's wasm side: the two exports the JS entry (`src/edge/entry.js`)
//! calls, `configure` once per isolate and `handle` once per request, with the request and
//! the answer passed as the strings of [`wire`](crate::edge::wire) (with the default feature
//! `stock-worker`); the stock chain built from `env` and checked once per isolate, which the
//! workers-rs API ([`api`](crate::edge::api)) shares; and the Workers KV store, the key
//! fetcher and the identity fetcher that chain uses. Only on wasm32.
//!
//! ```no_run
//! use remote_user_filter::edge::worker::WorkerKvStore;
//! # fn demo(env: &worker::Env) {
//! let store = WorkerKvStore::from_env(env, "USERS");
//! # let _ = store;
//! # }
//! ```

use std::cell::OnceCell;
use std::future::Future;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll, Waker};

use async_trait::async_trait;
use futures::future::{select, Either};
#[cfg(feature = "stock-worker")]
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{
    console_error, console_log, console_warn, AnalyticsEngineDataPointBuilder,
    AnalyticsEngineDataset, Env, Fetch, KvStore, Request,
};

use crate::chain::{refusal, FilterChain};
#[cfg(feature = "stock-worker")]
use crate::chain::{Outcome, CF_RAY};
use crate::config::{StockSettings, DEFAULT_KV_TIMEOUT_MS, KV_BINDING};
use crate::edge::wire::Plan;
#[cfg(feature = "stock-worker")]
use crate::edge::wire::Unsettled;
#[cfg(feature = "stock-worker")]
use crate::edge::wire::{read_request, request_parts, Reply, UNFRAMED_REPLY};
use crate::error::{AuthError, ConfigError, StoreError};
use crate::events::{AuthEvent, EventKind};
use crate::gateway::{
    IdentitySource, JwksSource, ACCESS_ASSERTION_COOKIE, DEFAULT_IDENTITY_TIMEOUT_MS,
    MAX_IDENTITY_DOC_LEN,
};
#[cfg(feature = "stock-worker")]
use crate::negotiate::ErrorFormat;
#[cfg(feature = "stock-worker")]
use crate::upstream::forward_target;
use crate::users::UserStore;
use crate::{SystemClock, Timer};

/// A Workers KV namespace as a [`UserStore`]; a missing binding is reported by the
/// configuration check, not at the first user lookup.
///
/// ```no_run
/// # fn demo(env: &worker::Env) {
/// let store = remote_user_filter::edge::worker::WorkerKvStore::from_env(env, "USERS");
/// # let _ = store;
/// # }
/// ```
#[derive(Debug)]
pub struct WorkerKvStore {
    binding: String,
    kv: Option<KvStore>,
    timeout_ms: u64,
}

impl WorkerKvStore {
    /// The namespace bound as `binding` in `env` (possibly missing).
    pub fn from_env(env: &Env, binding: &str) -> Self {
        Self {
            binding: binding.to_owned(),
            kv: env.kv(binding).ok(),
            timeout_ms: DEFAULT_KV_TIMEOUT_MS,
        }
    }

    /// The namespace bound as `binding` on any JS object (e.g. a test stand-in).
    pub fn from_object(object: &JsValue, binding: &str) -> Self {
        Self {
            binding: binding.to_owned(),
            kv: KvStore::from_this(object, binding).ok(),
            timeout_ms: DEFAULT_KV_TIMEOUT_MS,
        }
    }

    /// Abandon a call that has not answered within `ms` milliseconds (default 2000,
    /// `KV_TIMEOUT_MS`): it fails as an unreachable store would (503), and a read that
    /// timed out is never followed by a write.
    ///
    /// ```no_run
    /// # fn demo(env: &worker::Env) {
    /// let store = remote_user_filter::edge::worker::WorkerKvStore::from_env(env, "USERS").with_timeout_ms(500);
    /// # let _ = store;
    /// # }
    /// ```
    pub fn with_timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = ms;
        self
    }

    fn kv(&self) -> Result<&KvStore, StoreError> {
        self.kv
            .as_ref()
            .ok_or_else(|| StoreError(format!("KV binding `{}` is not bound", self.binding)))
    }

    /// `call`'s answer, or a timeout error once `timeout_ms` have passed.
    async fn timed<T>(
        &self,
        what: &str,
        key: &str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let call = std::pin::pin!(call);
        let Some(timer) = Timer::start(self.timeout_ms) else {
            return call.await;
        };
        match select(call, timer).await {
            Either::Left((answer, _)) => answer,
            Either::Right(((), _)) => Err(StoreError(format!(
                "KV {what} of `{key}` did not answer within {} ms (KV_TIMEOUT_MS); abandoned",
                self.timeout_ms
            ))),
        }
    }
}

#[async_trait(?Send)]
impl UserStore for WorkerKvStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let kv = self.kv()?;
        let call = async {
            kv.get(key)
                .text()
                .await
                .map_err(|e| StoreError(e.to_string()))
        };
        self.timed("read", key, call).await
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let kv = self.kv()?;
        let call = async {
            kv.put(key, value)
                .map_err(|e| StoreError(e.to_string()))?
                .execute()
                .await
                .map_err(|e| StoreError(e.to_string()))
        };
        self.timed("write", key, call).await
    }

    fn missing_binding(&self) -> Option<&str> {
        self.kv.is_none().then_some(self.binding.as_str())
    }
}

/// The checked stock chain, the settings it came from and the forwarding plan they give:
/// shared by the JS entry's exports and the workers-rs API ([`api`](crate::edge::api)).
pub(crate) struct Stock {
    pub(crate) chain: FilterChain,
    pub(crate) settings: StockSettings,
    pub(crate) plan: Plan,
}

thread_local! {
    /// Built (and so checked) once per isolate.
    static STOCK: OnceCell<Result<Rc<Stock>, ConfigError>> = const { OnceCell::new() };
    /// The Analytics Engine dataset bound as `AUTH_EVENTS`, if any (looked up once, with the
    /// stock chain).
    static EVENT_DATASET: OnceCell<Option<AnalyticsEngineDataset>> = const { OnceCell::new() };
}

/// The binding events are counted in, when bound: an Analytics Engine dataset
/// (`[[analytics_engine_datasets]] binding = "AUTH_EVENTS"` in wrangler.toml).
///
/// ```
/// assert_eq!(remote_user_filter::edge::worker::EVENTS_BINDING, "AUTH_EVENTS");
/// ```
pub const EVENTS_BINDING: &str = "AUTH_EVENTS";

/// The stock chain built from `env` and checked, once per isolate: later calls reuse the
/// first result, whichever path (the JS entry's `configure`, or
/// [`EdgeAuth::from_env`](crate::edge::api::EdgeAuth::from_env)) asked first. A failed
/// check is logged once here, as a `config_error` event with the full text; each request
/// it then answers 500 logs a short refusal.
pub(crate) fn stock(env: &Env) -> Result<Rc<Stock>, ConfigError> {
    STOCK.with(|cell| {
        cell.get_or_init(|| {
            EVENT_DATASET.with(|d| {
                d.get_or_init(|| env.analytics_engine(EVENTS_BINDING).ok());
            });
            let built = build_stock(env).map(Rc::new);
            if let Err(e) = &built {
                emit(
                    &AuthEvent::new(EventKind::ConfigError)
                        .status(500)
                        .detail(e.to_string()),
                );
            }
            built
        })
        .clone()
    })
}

/// Tell the operator of `event`: one JSON line on the console (`console.error` for what is
/// theirs to fix: an event with a `detail`; `console.log` otherwise) and, with `AUTH_EVENTS`
/// bound, one data point: index1 the event's name, blob1..4 its name, reason, user and ray
/// (empty when unknown), double1 its status (0 when none), double2 its key count.
pub(crate) fn emit(event: &AuthEvent) {
    let line = event.to_json_line();
    if event.detail.is_some() {
        console_error!("{line}");
    } else {
        console_log!("{line}");
    }
    EVENT_DATASET.with(|d| {
        if let Some(Some(dataset)) = d.get() {
            let name = event.event.name();
            let point = AnalyticsEngineDataPointBuilder::new()
                .indexes([name])
                .add_blob(name)
                .add_blob(event.reason.as_deref().unwrap_or(""))
                .add_blob(event.user.as_deref().unwrap_or(""))
                .add_blob(event.ray.as_deref().unwrap_or(""))
                .add_double(f64::from(event.status.unwrap_or(0)))
                .add_double(event.keys.unwrap_or(0) as f64)
                .build();
            if let Err(e) = dataset.write_data_point(&point) {
                console_error!(
                    "remote-user-filter: writing an event to {EVENTS_BINDING} failed: {e}"
                );
            }
        }
    });
}

/// Log the refusal of a request the chain did not decide (a URL it cannot read, a
/// configuration error) with the `cf-ray` found in the entry's header `lines`. A
/// configuration error's text was logged once already: not on every request.
pub(crate) fn emit_refusal(error: &AuthError, ray: Option<&str>) {
    let mut event = refusal(error, None);
    if matches!(error, AuthError::Config(_)) {
        event.detail = None;
    }
    event.ray = ray.map(str::to_owned);
    emit(&event);
}

/// A var as text: a string as it is; any other value (a TOML array, table, number or boolean
/// var, which wrangler passes as a JS value) as its JSON, as the offline check reads it.
fn env_string(env: &Env, name: &str) -> Option<String> {
    let value = js_sys::Reflect::get(env, &JsValue::from_str(name)).ok()?;
    if let Some(text) = value.as_string() {
        return Some(text);
    }
    if value.is_undefined() || value.is_null() {
        return None;
    }
    js_sys::JSON::stringify(&value).ok()?.as_string()
}

/// The gateway's key set, fetched with the Workers `fetch`.
///
/// ```no_run
/// let source = remote_user_filter::edge::worker::FetchJwks::new("https://team.cloudflareaccess.com/cdn-cgi/access/certs");
/// # let _ = source;
/// ```
#[derive(Debug, Clone)]
pub struct FetchJwks {
    url: String,
}

impl FetchJwks {
    /// Fetch from `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into() }
    }
}

#[async_trait(?Send)]
impl JwksSource for FetchJwks {
    async fn fetch_jwks(&self) -> Result<String, String> {
        fetch_text(&self.url, None, None, None).await
    }
}

/// `GET url` with the Workers `fetch` (with `cookie`, not following redirects, when given),
/// its body when the answer is 200 (and, with `max_len`, declares no longer body), abandoned
/// after `timeout_ms` when given. One function for the key and identity fetches, so the
/// worker carries one copy of the request's code. Errors name the URL, never the cookie.
async fn fetch_text(
    url: &str,
    cookie: Option<&str>,
    max_len: Option<usize>,
    timeout_ms: Option<u64>,
) -> Result<String, String> {
    let call = async {
        // web-sys's init, not the `worker` crate's: that one converts its `cf` properties,
        // which costs the worker 6 KiB gzip for a plain GET.
        let init = web_sys::RequestInit::new();
        init.set_method("GET");
        if let Some(cookie) = cookie {
            let headers = web_sys::Headers::new().map_err(|_| "no Headers".to_owned())?;
            headers
                .set("cookie", cookie)
                .map_err(|_| "the assertion cannot be sent as a cookie".to_owned())?;
            headers
                .set("accept", "application/json")
                .map_err(|_| "no Accept header".to_owned())?;
            init.set_headers(&headers);
            init.set_redirect(web_sys::RequestRedirect::Manual);
        }
        let request = web_sys::Request::new_with_str_and_init(url, &init)
            .map(Request::from)
            .map_err(|_| format!("URL {url} cannot be fetched"))?;
        let mut response = Fetch::Request(request)
            .send()
            .await
            .map_err(|e| format!("fetching {url}: {e}"))?;
        let status = response.status_code();
        if status != 200 {
            return Err(format!("fetching {url}: HTTP {status}"));
        }
        if let Some(max) = max_len {
            let declared = response
                .headers()
                .get("content-length")
                .ok()
                .flatten()
                .and_then(|len| len.trim().parse::<usize>().ok());
            if declared.is_some_and(|len| len > max) {
                return Err(format!(
                    "fetching {url}: the answer is larger than {max} bytes"
                ));
            }
        }
        response
            .text()
            .await
            .map_err(|e| format!("reading {url}: {e}"))
    };
    let call = std::pin::pin!(call);
    let Some(timer) = timeout_ms.and_then(Timer::start) else {
        return call.await;
    };
    match select(call, timer).await {
        Either::Left((answer, _)) => answer,
        Either::Right(((), _)) => Err(format!(
            "{url} did not answer within {} ms; abandoned",
            timeout_ms.unwrap_or_default()
        )),
    }
}

/// The identity provider's document for an assertion (`ACCESS_FETCH_IDENTITY`): a `GET` of
/// Cloudflare Access's `get-identity` with the Workers `fetch`, the assertion as the
/// `CF_Authorization` cookie, redirects not followed, abandoned after a timeout. The
/// assertion is never part of an error.
///
/// ```no_run
/// use remote_user_filter::edge::worker::FetchIdentity;
/// let source = FetchIdentity::new("https://team.cloudflareaccess.com/cdn-cgi/access/get-identity")
///     .with_timeout_ms(1500);
/// # let _ = source;
/// ```
#[derive(Debug, Clone)]
pub struct FetchIdentity {
    url: String,
    timeout_ms: u64,
}

impl FetchIdentity {
    /// Ask `url`, abandoning a call after two seconds.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            timeout_ms: DEFAULT_IDENTITY_TIMEOUT_MS,
        }
    }

    /// Abandon a call that has not answered within `ms` milliseconds.
    pub fn with_timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = ms;
        self
    }
}

#[async_trait(?Send)]
impl IdentitySource for FetchIdentity {
    async fn fetch_identity(&self, assertion: &str) -> Result<String, String> {
        let cookie = format!("{ACCESS_ASSERTION_COOKIE}={assertion}");
        fetch_text(
            &self.url,
            Some(&cookie),
            Some(MAX_IDENTITY_DOC_LEN),
            Some(self.timeout_ms),
        )
        .await
    }
}

fn build_stock(env: &Env) -> Result<Stock, ConfigError> {
    let settings = StockSettings::from_vars(|name| env_string(env, name))?;
    let store = WorkerKvStore::from_env(env, KV_BINDING).with_timeout_ms(settings.kv_timeout_ms);
    let chain = settings
        .chain(store)
        .session_secret(env_string(env, "SESSION_SECRET"))
        .gateway_secret(env_string(env, "GATEWAY_SECRET"))
        .clock(SystemClock)
        .jwks(Rc::new(FetchJwks::new(settings.gateway.jwks_url.clone())))
        .identity(Rc::new(FetchIdentity::new(settings.identity_url.clone())))
        .on_warning(|line| console_warn!("remote-user-filter: {line}"))
        .on_event(emit)
        .build()?;
    let plan = Plan::stock(chain.headers_read(), &settings);
    Ok(Stock {
        chain,
        settings,
        plan,
    })
}

/// Build and check the stock chain from `env` (once per isolate: later calls reuse the
/// first result) and return the entry's [`Plan`], encoded. A failed check still yields a
/// plan; every request then answers 500 and logs why, until the settings are fixed.
///
/// ```no_run
/// # fn demo(env: worker::Env) {
/// let plan = remote_user_filter::edge::worker::configure(env);
/// let mut lines = plan.split('\n');
/// let (read, strip, guard) = (lines.next(), lines.next(), lines.next());
/// # let _ = (read, strip, guard);
/// # }
/// ```
#[cfg(feature = "stock-worker")]
#[wasm_bindgen(js_name = configure)]
pub fn configure(env: Env) -> String {
    match stock(&env) {
        Ok(stock) => stock.plan.encode(),
        // Every request is answered 500: nothing is forwarded, so nothing to strip; only
        // `cf-ray` is read, for the refusal's log line (its form is settled as any refusal's).
        Err(_) => Plan {
            read: Some(vec![CF_RAY.to_owned()]),
            strip: Vec::new(),
            guard: Vec::new(),
        }
        .encode(),
    }
}

/// Decide one request: its `method`, `url` and the plan's headers as `name\tvalue` lines in, an encoded
/// [`Reply`] out. When the chain needs no I/O (a valid session, a cached assertion) the
/// reply is a string at once; otherwise (KV, a key fetch, a signature check) a `Promise`
/// of it.
///
/// ```no_run
/// use remote_user_filter::edge::worker::handle;
/// let reply = handle("GET".into(), "https://app.example.com/".into(), "x-gateway-secret\tsecret\n".into());
/// if let Some(reply) = reply.as_string() {
///     assert!(reply.starts_with('F') || reply.starts_with('R'));
/// }
/// ```
#[cfg(feature = "stock-worker")]
#[wasm_bindgen(js_name = handle)]
pub fn handle(method: String, url: String, lines: String) -> JsValue {
    let Some(stock) = STOCK.with(|cell| cell.get().cloned()) else {
        // Only a hand-written entry that skips `configure` gets here.
        let body = "remote-user-filter: the JS entry called handle() before configure(env)\n";
        return JsValue::from(framed(&Reply::Respond {
            status: 500,
            set_cookie: None,
            headers: vec![
                ("Content-Type", "text/plain; charset=utf-8".into()),
                ("Cache-Control", "no-store".into()),
                ("X-Content-Type-Options", "nosniff".into()),
            ],
            body: body.into(),
        }));
    };
    settle(async move {
        let stock = match stock {
            Ok(stock) => stock,
            Err(e) => return reply_to_error(&AuthError::Config(e), &lines, false),
        };
        let request = read_request(&lines);
        let parts = match request_parts(&method, &url, request.headers) {
            Ok(parts) => parts,
            Err(e) => return reply_to_error(&e, &lines, stock.plan.reads_all()),
        };
        // The URI the chain saw also says where a forward goes: the URL is parsed once.
        // The chain's event sink has logged the refusal, if it is one.
        let mut req = stock.chain.request(parts);
        let outcome = stock.chain.run(&mut req).await;
        if let Outcome::Respond { error, set_cookie } = outcome {
            return refusal_reply(&error, set_cookie, req.headers(), stock.plan.reads_all());
        }
        let settings = &stock.settings;
        // The path every decision was made on, with the query as sent.
        let target = forward_target(settings.origin_url.as_deref(), &url, req.path());
        framed(&Reply::with_target(
            outcome,
            target,
            request.cookie.as_deref(),
            &settings.upstream,
            req.headers(),
        ))
    })
}

/// The `cf-ray` value in the entry's `name\tvalue` header lines, if sent.
#[cfg(feature = "stock-worker")]
fn ray_in(lines: &str) -> Option<&str> {
    lines
        .split('\n')
        .find_map(|line| line.strip_prefix("cf-ray\t"))
}

#[cfg(feature = "stock-worker")]
fn reply_to_error(error: &AuthError, lines: &str, reads_all: bool) -> String {
    emit_refusal(error, ray_in(lines));
    refusal_reply(error, None, &read_request(lines).headers, reads_all)
}

/// The reply to a refusal of `error` whose request sent in `headers` (all of them when
/// `reads_all`): in the form they decide, or, when only the headers not read yet can
/// (`Sec-Fetch-Dest`, `X-Requested-With`, an `Accept` no filter reads), [`Unsettled`], for
/// the entry to settle with [`settle_refusal`].
#[cfg(feature = "stock-worker")]
fn refusal_reply(
    error: &AuthError,
    set_cookie: Option<String>,
    headers: &http::HeaderMap,
    reads_all: bool,
) -> String {
    let format = match ErrorFormat::from_accept(headers) {
        Some(format) => format,
        None if reads_all => ErrorFormat::negotiate(headers),
        None => {
            return Unsettled::new(error, set_cookie)
                .encode()
                .unwrap_or_else(|error| {
                    console_error!("remote-user-filter: internal error: {error}; answered 500");
                    UNFRAMED_REPLY.to_owned()
                })
        }
    };
    framed(&Reply::error(error, set_cookie, format))
}

/// Settle an [`Unsettled`] refusal `handle` answered: the entry sends it back with the
/// request's negotiation headers as `name\tvalue` `lines` (the plan's fifth line), and gets
/// the reply in the form they ask for. Called only for a refusal.
///
/// ```no_run
/// use remote_user_filter::edge::worker::settle_refusal;
/// let reply = settle_refusal("N\n401\n\nmissing_identity\nno identity".into(), "accept\tapplication/json\n".into());
/// assert!(reply.starts_with("R\n401\n"));
/// ```
#[cfg(feature = "stock-worker")]
#[wasm_bindgen(js_name = refusal)]
pub fn settle_refusal(unsettled: String, lines: String) -> String {
    let Some(unsettled) = Unsettled::decode(&unsettled) else {
        // Only a hand-written entry gets here.
        console_error!("remote-user-filter: internal error: refusal() was not given an N reply");
        return UNFRAMED_REPLY.to_owned();
    };
    framed(&unsettled.settle(ErrorFormat::negotiate(&read_request(&lines).headers)))
}

/// The entry's answer when the origin of a forward cannot be reached: a 502 in the form the
/// request's negotiation headers (`name\tvalue` `lines`, the plan's fifth line) ask for,
/// with the forward's `set_cookie` (empty: none), which stands (a retry needs no KV call).
/// Called only then.
///
/// ```no_run
/// let reply = remote_user_filter::edge::worker::origin_unreachable("accept\tapplication/json\n".into(), String::new());
/// assert!(reply.starts_with("R\n502\n"));
/// ```
#[cfg(feature = "stock-worker")]
#[wasm_bindgen(js_name = originUnreachable)]
pub fn origin_unreachable(lines: String, set_cookie: String) -> String {
    let format = ErrorFormat::negotiate(&read_request(&lines).headers);
    let set_cookie = Some(set_cookie).filter(|c| !c.is_empty());
    framed(&Reply::unreachable(set_cookie, format))
}

#[cfg(feature = "stock-worker")]
/// `reply` encoded for the entry or, if a field would break the framing (a bug: identity
/// headers are percent-encoded, the rest is ours or the runtime's), a plain 500 and a log line
/// naming the field.
fn framed(reply: &Reply) -> String {
    reply.encode().unwrap_or_else(|error| {
        console_error!("remote-user-filter: internal error: {error}; answered 500");
        UNFRAMED_REPLY.to_owned()
    })
}

/// Run `decision` to its first await point here; if it finished, its string, else a
/// `Promise` that the runtime's event loop drives to it. Most requests finish at once, and
/// so cost no executor round trip.
///
/// ```no_run
/// let value = remote_user_filter::edge::worker::settle(async { "done".to_string() });
/// assert_eq!(value.as_string().as_deref(), Some("done"));
/// ```
pub fn settle(decision: impl Future<Output = String> + 'static) -> JsValue {
    let mut decision = Box::pin(decision);
    // Polling with a waker that does nothing is safe: a pending future is polled again by
    // the executor below, and every future re-registers its waker on each poll.
    match decision
        .as_mut()
        .poll(&mut TaskContext::from_waker(Waker::noop()))
    {
        Poll::Ready(reply) => JsValue::from(reply),
        Poll::Pending => {
            wasm_bindgen_futures::future_to_promise(
                async move { Ok(JsValue::from(decision.await)) },
            )
            .into()
        }
    }
}

/// The function the JS entry (`src/edge/entry.js`) puts on `globalThis` to hear of a panic.
#[cfg(feature = "stock-worker")]
const TRAP_HOOK: &str = "__remoteUserFilterTrap";

/// Once per instance (and again after the entry re-instantiates a trapped one): log panics
/// to the console, and tell the entry of each, since the abort that follows (the release
/// profile has `panic = "abort"`) ends the microtask that would have settled the requests
/// in flight: the entry answers them 500 and re-instantiates before the next request.
///
/// Traps that are not panics never reach this hook: out of memory (Rust's allocation-failure
/// handler aborts without panicking), a stack overflow. The entry catches those where the
/// runtime reports them instead (a synchronous call's exception, workerd's global `error`
/// and `unhandledrejection` events).
///
/// The hook already installed is kept and called too: the `worker` crate's own start function
/// installs one (it flags `globalThis.__worker_init_state.criticalError`), and which of the
/// two runs first is not ours to decide.
///
/// Only with the `stock-worker` feature: a workers-rs worker of your own has the `worker`
/// crate's hook and its shim's re-instantiation instead.
#[cfg(feature = "stock-worker")]
#[wasm_bindgen(start)]
fn start() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        console_error_panic_hook::hook(info);
        previous(info);
        tell_entry_of_panic();
    }));
}

/// Call the entry's trap function, if one is installed (the wasm-bindgen-test layer, which
/// loads no entry, has none). Nothing here may panic: it runs inside the panic hook.
#[cfg(feature = "stock-worker")]
fn tell_entry_of_panic() {
    use wasm_bindgen::JsCast;

    let Ok(hook) = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str(TRAP_HOOK)) else {
        return;
    };
    if let Some(hook) = hook.dyn_ref::<js_sys::Function>() {
        // The entry's function only marks state and settles promises; whatever it throws,
        // the abort follows anyway.
        let _ = hook.call0(&JsValue::UNDEFINED);
    }
}
