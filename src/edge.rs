//! The Cloudflare Worker: a thin layer that turns a `worker::Request` into headers for the
//! [`FilterChain`](crate::FilterChain), and its [`Outcome`](crate::Outcome) into a response
//! or a forwarded request. Only on wasm32.
//!
//! ```no_run
//! use remote_user_filter::edge::WorkerKvStore;
//! # fn demo(env: &worker::Env) {
//! let store = WorkerKvStore::from_env(env, "USERS");
//! # let _ = store;
//! # }
//! ```

use std::cell::OnceCell;
use std::rc::Rc;

use async_trait::async_trait;
use http::{HeaderMap, HeaderName, HeaderValue};
use wasm_bindgen::{JsCast, JsValue};
use worker::{console_error, event, Context, Env, Fetch, KvStore, Request, Response};

use crate::error::{AuthError, ConfigError, StoreError};
use crate::filter::{FilterChain, Outcome};
use crate::jwks::JwksSource;
use crate::settings::{StockSettings, KV_BINDING};
use crate::store::UserStore;
use crate::upstream::{origin_url, path_and_query, strip_cookie};
use crate::{SystemClock, DEFAULT_COOKIE_NAME};

/// A Workers KV namespace as a [`UserStore`]; a missing binding is reported by the
/// configuration check, not at the first user lookup.
///
/// ```no_run
/// # fn demo(env: &worker::Env) {
/// let store = remote_user_filter::edge::WorkerKvStore::from_env(env, "USERS");
/// # let _ = store;
/// # }
/// ```
#[derive(Debug)]
pub struct WorkerKvStore {
    binding: String,
    kv: Option<KvStore>,
}

impl WorkerKvStore {
    /// The namespace bound as `binding` in `env` (possibly missing).
    pub fn from_env(env: &Env, binding: &str) -> Self {
        Self {
            binding: binding.to_owned(),
            kv: env.kv(binding).ok(),
        }
    }

    /// The namespace bound as `binding` on any JS object (e.g. a test stand-in).
    pub fn from_object(object: &JsValue, binding: &str) -> Self {
        Self {
            binding: binding.to_owned(),
            kv: KvStore::from_this(object, binding).ok(),
        }
    }

    fn kv(&self) -> Result<&KvStore, StoreError> {
        self.kv
            .as_ref()
            .ok_or_else(|| StoreError(format!("KV binding `{}` is not bound", self.binding)))
    }
}

#[async_trait(?Send)]
impl UserStore for WorkerKvStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.kv()?
            .get(key)
            .text()
            .await
            .map_err(|e| StoreError(e.to_string()))
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.kv()?
            .put(key, value)
            .map_err(|e| StoreError(e.to_string()))?
            .execute()
            .await
            .map_err(|e| StoreError(e.to_string()))
    }

    fn missing_binding(&self) -> Option<&str> {
        self.kv.is_none().then_some(self.binding.as_str())
    }
}

/// The checked stock chain and the settings it came from.
struct Stock {
    chain: FilterChain,
    settings: StockSettings,
}

thread_local! {
    /// Built (and so checked) once per isolate.
    static STOCK: OnceCell<Rc<Result<Stock, ConfigError>>> = const { OnceCell::new() };
}

fn env_string(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string())
}

/// The gateway's key set, fetched with the Workers `fetch`.
///
/// ```no_run
/// let source = remote_user_filter::edge::FetchJwks::new("https://team.cloudflareaccess.com/cdn-cgi/access/certs");
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
        let request = Request::new(&self.url, worker::Method::Get)
            .map_err(|e| format!("JWKS URL {}: {e}", self.url))?;
        let mut response = Fetch::Request(request)
            .send()
            .await
            .map_err(|e| format!("fetching {}: {e}", self.url))?;
        if response.status_code() != 200 {
            return Err(format!(
                "fetching {}: HTTP {}",
                self.url,
                response.status_code()
            ));
        }
        response
            .text()
            .await
            .map_err(|e| format!("reading {}: {e}", self.url))
    }
}

fn build_stock(env: &Env) -> Result<Stock, ConfigError> {
    let settings = StockSettings::from_vars(|name| env_string(env, name))?;
    let chain = settings
        .chain(WorkerKvStore::from_env(env, KV_BINDING))
        .session_secret(env_string(env, "SESSION_SECRET"))
        .gateway_secret(env_string(env, "GATEWAY_SECRET"))
        .clock(SystemClock)
        .jwks(Rc::new(FetchJwks::new(settings.gateway.jwks_url.clone())))
        .build()?;
    Ok(Stock { chain, settings })
}

fn stock(env: &Env) -> Rc<Result<Stock, ConfigError>> {
    STOCK.with(|cell| {
        // A failed check is kept too: every request answers 500 and logs it, until the
        // settings are fixed and the worker redeployed.
        Rc::clone(cell.get_or_init(|| Rc::new(build_stock(env))))
    })
}

/// JS header values are byte strings: each char is one byte. Recover the bytes so UTF-8
/// identities arrive intact.
fn byte_string(value: &str) -> Vec<u8> {
    value
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

fn append_header(map: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_bytes(&byte_string(value)) {
        map.append(name, value);
    }
}

/// The request headers the chain reads, each fetched by name (a few short strings across the
/// JS boundary); when some filter may read any header, all of them, in two calls
/// (`Array.from` + `JSON.stringify`). Crossing the boundary is the glue's main cost.
fn header_map(headers: &web_sys::Headers, wanted: Option<&[HeaderName]>) -> HeaderMap {
    let mut map = HeaderMap::new();
    if let Some(names) = wanted {
        for name in names {
            if let Ok(Some(value)) = headers.get(name.as_str()) {
                append_header(&mut map, name.clone(), &value);
            }
        }
        return map;
    }
    let pairs: Vec<(String, String)> = js_sys::JSON::stringify(&js_sys::Array::from(headers))
        .ok()
        .and_then(|json| json.as_string())
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default();
    for (name, value) in pairs {
        if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
            append_header(&mut map, name, &value);
        }
    }
    map
}

fn error_response(error: &AuthError, set_cookie: Option<&str>) -> worker::Result<Response> {
    let status = error.status();
    match error {
        AuthError::Backend(e) => console_error!("remote-user-filter: {}", e.log_line()),
        AuthError::KeysUnavailable(why) => {
            console_error!("remote-user-filter: gateway keys unavailable: {why}")
        }
        AuthError::Config(e) => console_error!("remote-user-filter configuration error: {e}"),
        _ => {}
    }
    let mut response = Response::error(format!("{error}\n"), status)?;
    let headers = response.headers_mut();
    headers.set("Content-Type", "text/plain; charset=utf-8")?;
    headers.set("Cache-Control", "no-store")?;
    if status == 401 {
        headers.set("WWW-Authenticate", "RemoteUser")?;
    }
    if let Some(cookie) = set_cookie {
        headers.append("Set-Cookie", cookie)?;
    }
    Ok(response)
}

fn js_error(e: JsValue) -> worker::Error {
    worker::Error::from(e)
}

/// Forward to the origin. The client's headers are copied by the runtime in one call; only
/// the stripped, rewritten and added ones cross the JS boundary. The origin's response goes
/// back untouched unless a session cookie must be added.
async fn forward(
    req: &web_sys::Request,
    stock: &Stock,
    user: Option<&crate::SessionUser>,
    set_cookie: Option<&str>,
) -> worker::Result<web_sys::Response> {
    let upstream = &stock.settings.upstream;
    let headers = web_sys::Headers::new_with_headers(&req.headers()).map_err(js_error)?;
    // Client copies of the identity headers, and the gateway's shared secret, never reach
    // the origin; neither does our session cookie.
    for name in upstream.names() {
        headers.delete(name).map_err(js_error)?;
    }
    headers
        .delete(&stock.settings.gateway_secret_header)
        .map_err(js_error)?;
    if let Some(cookie) = headers.get("cookie").map_err(js_error)? {
        match strip_cookie(&cookie, DEFAULT_COOKIE_NAME) {
            Some(rest) if rest != cookie => headers.set("cookie", &rest).map_err(js_error)?,
            Some(_) => {}
            None => headers.delete("cookie").map_err(js_error)?,
        }
    }
    if let Some(user) = user {
        for (name, value) in upstream.identity_headers(user) {
            headers.set(name, &value).map_err(js_error)?;
        }
    }
    // The runtime's own URL string: no URL parser (and its Unicode tables) in the worker.
    let url = req.url();
    let target = match &stock.settings.origin_url {
        Some(origin) => origin_url(origin, path_and_query(&url)),
        None => url,
    };
    let init = web_sys::RequestInit::new();
    init.set_method(&req.method());
    init.set_headers(&headers);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if let Some(body) = req.body() {
        init.set_body(&body);
    }
    let outgoing = web_sys::Request::new_with_str_and_init(&target, &init).map_err(js_error)?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let response: web_sys::Response =
        wasm_bindgen_futures::JsFuture::from(global.fetch_with_request(&outgoing))
            .await
            .map_err(js_error)?
            .unchecked_into();
    let Some(cookie) = set_cookie else {
        return Ok(response);
    };
    // A fetched response's headers are immutable: copy them, then add our one cookie.
    let copied = web_sys::Headers::new_with_headers(&response.headers()).map_err(js_error)?;
    copied.append("Set-Cookie", cookie).map_err(js_error)?;
    let init = web_sys::ResponseInit::new();
    init.set_status(response.status());
    init.set_status_text(&response.status_text());
    init.set_headers(&copied);
    web_sys::Response::new_with_opt_readable_stream_and_init(response.body().as_ref(), &init)
        .map_err(js_error)
}

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// The stock worker's entry point.
#[event(fetch)]
pub async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<web_sys::Response> {
    let stock = stock(&env);
    let stock = match stock.as_ref() {
        Ok(stock) => stock,
        Err(e) => return Ok(error_response(&AuthError::Config(e.clone()), None)?.into()),
    };
    let req = req.inner();
    let headers = header_map(&req.headers(), stock.chain.headers_read());
    match stock.chain.handle(headers).await {
        Outcome::Forward { user, set_cookie } => {
            forward(req, stock, user.as_ref(), set_cookie.as_deref()).await
        }
        Outcome::Respond { error, set_cookie } => {
            Ok(error_response(&error, set_cookie.as_deref())?.into())
        }
    }
}
