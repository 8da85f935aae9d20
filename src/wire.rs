//! What crosses between the worker's JavaScript entry (`src/entry.js`) and the wasm core, in
//! as few calls as possible: crossing that boundary, not the filter, is what a request pays
//! for. Plain Rust, tested natively; the worker glue only hands the strings over.
//!
//! Once per isolate the entry asks for a [`Plan`]: which request headers to send in and which
//! to strip before forwarding. Per request it sends the URL and the wanted headers as
//! `name\tvalue` lines ([`read_request`]), and gets one encoded [`Reply`] back: forward (to
//! where, with which identity headers, which `Set-Cookie`) or respond (status, headers,
//! body).
//!
//! ```
//! use remote_user_filter::wire::{read_request, Reply};
//! use remote_user_filter::{AuthError, Outcome, UpstreamHeaders};
//!
//! let request = read_request("cf-access-authenticated-user-email\tann@example.com\ncookie\ta=1\n");
//! assert_eq!(request.headers["cf-access-authenticated-user-email"], "ann@example.com");
//! assert_eq!(request.cookie.as_deref(), Some("a=1"));
//!
//! let outcome = Outcome::Respond { error: AuthError::MissingIdentity, set_cookie: None };
//! let reply = Reply::new(outcome, "https://app.example.com/x", None, &UpstreamHeaders::default(), None);
//! assert!(reply.encode().starts_with("R\n401\n"));
//! ```

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::AuthError;
use crate::filter::Outcome;
use crate::session::DEFAULT_COOKIE_NAME;
use crate::upstream::{origin_url, path_and_query, strip_cookie, UpstreamHeaders};

/// What the entry does once per isolate: the request headers to send in (`None`: all of
/// them) and the names to delete from the forwarded request.
///
/// ```
/// use remote_user_filter::wire::Plan;
/// let plan = Plan { read: Some(vec!["x-a".into(), "cookie".into()]), strip: vec!["x-remote-user".into()] };
/// assert_eq!(plan.encode(), "x-a\tcookie\nx-remote-user");
/// assert_eq!(Plan { read: None, strip: vec![] }.encode(), "*\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Lower-case names of the headers the chain reads, plus `cookie` (ours is stripped
    /// before forwarding); `None` when some filter may read any header.
    pub read: Option<Vec<String>>,
    /// Lower-case names never forwarded: the identity headers we set, the gateway secret.
    pub strip: Vec<String>,
}

impl Plan {
    /// The plan for a chain reading `read` (as [`FilterChain::headers_read`]) that sets the
    /// `upstream` identity headers and strips `secret_header`.
    ///
    /// [`FilterChain::headers_read`]: crate::FilterChain::headers_read
    ///
    /// ```
    /// use remote_user_filter::wire::Plan;
    /// use remote_user_filter::UpstreamHeaders;
    ///
    /// let read = [http::header::COOKIE, http::HeaderName::from_static("x-user")];
    /// let plan = Plan::new(Some(&read), &UpstreamHeaders::default(), "X-Gateway-Secret");
    /// assert_eq!(plan.read, Some(vec!["cookie".to_string(), "x-user".to_string()]));
    /// assert_eq!(plan.strip.last().map(String::as_str), Some("x-gateway-secret"));
    /// ```
    pub fn new(
        read: Option<&[HeaderName]>,
        upstream: &UpstreamHeaders,
        secret_header: &str,
    ) -> Self {
        let read = read.map(|names| {
            let mut names: Vec<String> = names.iter().map(|n| n.as_str().to_owned()).collect();
            if !names.iter().any(|n| n == "cookie") {
                names.push("cookie".to_owned());
            }
            names
        });
        let mut strip: Vec<String> = upstream.names().iter().map(|n| (*n).to_owned()).collect();
        let secret = secret_header.to_ascii_lowercase();
        if !secret.is_empty() && !strip.contains(&secret) {
            strip.push(secret);
        }
        Self { read, strip }
    }

    /// Two lines: the names to read, tab-separated (`*`: all), and the names to strip.
    pub fn encode(&self) -> String {
        let read = match &self.read {
            Some(names) => names.join("\t"),
            None => "*".to_owned(),
        };
        format!("{read}\n{}", self.strip.join("\t"))
    }
}

/// The request as the entry sent it in.
///
/// ```
/// let request = remote_user_filter::wire::read_request("x-a\t1\nnot a name\t2\n");
/// assert_eq!(request.headers.len(), 1);
/// assert!(request.cookie.is_none());
/// ```
#[derive(Debug, Default)]
pub struct WireRequest {
    /// The headers, as bytes (a JS header value is a byte string).
    pub headers: HeaderMap,
    /// The `Cookie` header exactly as JS holds it, to hand back without our cookie.
    pub cookie: Option<String>,
}

/// Read `name\tvalue` lines. A JS header value is a byte string (one char per byte): each
/// char is turned back into its byte, so a UTF-8 identity arrives intact. Lines that are not
/// a valid header are skipped: the runtime has already checked every header, so none are
/// expected.
///
/// ```
/// let request = remote_user_filter::wire::read_request("x-user\tJos\u{e9}\n");
/// // The char U+00E9 was the byte 0xE9 on the wire.
/// assert_eq!(request.headers["x-user"].as_bytes(), b"Jos\xe9");
/// ```
pub fn read_request(lines: &str) -> WireRequest {
    let mut request = WireRequest::default();
    for line in lines.split('\n') {
        let Some((name, value)) = line.split_once('\t') else {
            continue;
        };
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        if name == http::header::COOKIE {
            request.cookie = Some(value.to_owned());
        }
        let value = if value.is_ascii() {
            HeaderValue::from_str(value)
        } else {
            let bytes: Vec<u8> = value
                .chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                .collect();
            HeaderValue::from_bytes(&bytes)
        };
        if let Ok(value) = value {
            request.headers.append(name, value);
        }
    }
    request
}

/// What the forwarded request's `Cookie` header becomes once our session cookie is removed.
///
/// ```
/// use remote_user_filter::wire::CookieAction;
/// assert_eq!(CookieAction::strip(Some("a=1; __Host-remote-user-session=t")), CookieAction::Set("a=1".into()));
/// assert_eq!(CookieAction::strip(Some("__Host-remote-user-session=t")), CookieAction::Delete);
/// assert_eq!(CookieAction::strip(Some("a=1")), CookieAction::Keep);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieAction {
    /// Forward it as it is (or there is none).
    Keep,
    /// Nothing but our cookie was in it.
    Delete,
    /// Forward this instead.
    Set(String),
}

impl CookieAction {
    /// The action for a request whose `Cookie` header is `cookie`.
    pub fn strip(cookie: Option<&str>) -> Self {
        let Some(cookie) = cookie else {
            return Self::Keep;
        };
        match strip_cookie(cookie, DEFAULT_COOKIE_NAME) {
            Some(rest) if rest == cookie => Self::Keep,
            Some(rest) => Self::Set(rest),
            None => Self::Delete,
        }
    }
}

/// The answer to one request, for the entry to carry out.
///
/// ```
/// use remote_user_filter::wire::Reply;
/// use remote_user_filter::{Outcome, SessionUser, UpstreamHeaders};
///
/// let user = SessionUser { username: "ann".into(), email: None, groups: vec![], backend: "KvUserBackend".into() };
/// let outcome = Outcome::Forward { user: Some(user), set_cookie: Some("s=1".into()), gateway_headers: false };
/// let reply = Reply::new(outcome, "https://app.example.com/a?b", None, &UpstreamHeaders::default(), Some("http://origin"));
/// assert_eq!(reply.encode(), "F\nhttp://origin/a?b\ns=1\n\nx-remote-user\tann\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Forward to `target` with these identity headers set (after stripping the plan's
    /// names and applying `cookie`), adding `set_cookie` to the origin's response.
    Forward {
        /// The URL to fetch.
        target: String,
        /// At most one `Set-Cookie` for the response.
        set_cookie: Option<String>,
        /// What becomes of the forwarded `Cookie` header.
        cookie: CookieAction,
        /// Trusted identity headers, set on the forwarded request.
        headers: Vec<(String, String)>,
    },
    /// Answer here.
    Respond {
        /// The HTTP status.
        status: u16,
        /// At most one `Set-Cookie` (a logout's removal cookie).
        set_cookie: Option<String>,
        /// Response headers.
        headers: Vec<(&'static str, String)>,
        /// A plain-text body saying what is wrong (never a secret).
        body: String,
    },
}

impl Reply {
    /// The reply for the chain's `outcome` on a request for `url` whose `Cookie` header is
    /// `cookie`, forwarding to `origin` (`ORIGIN_URL`) when set, else to `url` itself.
    pub fn new(
        outcome: Outcome,
        url: &str,
        cookie: Option<&str>,
        upstream: &UpstreamHeaders,
        origin: Option<&str>,
    ) -> Self {
        match outcome {
            Outcome::Forward {
                user, set_cookie, ..
            } => Reply::Forward {
                target: match origin {
                    Some(origin) => origin_url(origin, path_and_query(url)),
                    None => url.to_owned(),
                },
                set_cookie,
                cookie: CookieAction::strip(cookie),
                headers: user
                    .map(|user| {
                        upstream
                            .identity_headers(&user)
                            .into_iter()
                            .map(|(name, value)| (name.to_owned(), value))
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            Outcome::Respond { error, set_cookie } => Reply::error(&error, set_cookie),
        }
    }

    /// The response for `error`: its status, its message as the body, `no-store`, and a
    /// `WWW-Authenticate` challenge on a 401.
    ///
    /// ```
    /// use remote_user_filter::{wire::Reply, AuthError};
    /// let Reply::Respond { status, headers, body, .. } = Reply::error(&AuthError::Rejected, None) else { panic!() };
    /// assert_eq!(status, 403);
    /// assert!(headers.contains(&("Cache-Control", "no-store".to_string())));
    /// assert!(body.ends_with('\n'));
    /// ```
    pub fn error(error: &AuthError, set_cookie: Option<String>) -> Self {
        let status = error.status();
        let mut headers = vec![
            ("Content-Type", "text/plain; charset=utf-8".to_owned()),
            ("Cache-Control", "no-store".to_owned()),
        ];
        if status == 401 {
            headers.push(("WWW-Authenticate", "RemoteUser".to_owned()));
        }
        let body = match error {
            // The operator's values stay in the log: the client learns the filter, the
            // setting and the rule.
            AuthError::Config(e) => format!(
                "configuration error: {}; the worker's log has the details\n",
                e.redacted()
            ),
            other => format!("{other}\n"),
        };
        Reply::Respond {
            status,
            set_cookie,
            headers,
            body,
        }
    }

    /// One string for the entry, lines separated by `\n` (no header value holds one):
    /// kind (`F`/`R`), target URL or status, `Set-Cookie` (empty: none), the `Cookie`
    /// action (forward only: empty keep, `-` delete, `=value` set), `name\tvalue` lines, an
    /// empty line, and the body (respond only; it may span lines).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(256);
        let (kind, first, set_cookie) = match self {
            Reply::Forward {
                target, set_cookie, ..
            } => ('F', target.clone(), set_cookie),
            Reply::Respond {
                status, set_cookie, ..
            } => ('R', status.to_string(), set_cookie),
        };
        out.push(kind);
        out.push('\n');
        out.push_str(&first);
        out.push('\n');
        out.push_str(set_cookie.as_deref().unwrap_or(""));
        out.push('\n');
        let push_header = |out: &mut String, name: &str, value: &str| {
            out.push_str(name);
            out.push('\t');
            out.push_str(value);
            out.push('\n');
        };
        match self {
            Reply::Forward {
                cookie, headers, ..
            } => {
                match cookie {
                    CookieAction::Keep => {}
                    CookieAction::Delete => out.push('-'),
                    CookieAction::Set(value) => {
                        out.push('=');
                        out.push_str(value);
                    }
                }
                out.push('\n');
                for (name, value) in headers {
                    push_header(&mut out, name, value);
                }
            }
            Reply::Respond { headers, body, .. } => {
                out.push('\n');
                for (name, value) in headers {
                    push_header(&mut out, name, value);
                }
                out.push('\n');
                out.push_str(body);
            }
        }
        out
    }
}

/// The line to log for a response to `error`, if it is the operator's concern (a backend,
/// key or configuration failure); a client's bad request is not logged. No secrets.
///
/// ```
/// use remote_user_filter::{wire::log_line, AuthError};
/// assert!(log_line(&AuthError::MissingIdentity).is_none());
/// assert!(log_line(&AuthError::KeysUnavailable("no keys".into())).unwrap().contains("no keys"));
/// ```
pub fn log_line(error: &AuthError) -> Option<String> {
    match error {
        AuthError::Backend(e) => Some(format!("remote-user-filter: {}", e.log_line())),
        AuthError::KeysUnavailable(why) => Some(format!(
            "remote-user-filter: gateway keys unavailable: {why}"
        )),
        AuthError::Config(e) => Some(format!("remote-user-filter configuration error: {e}")),
        _ => None,
    }
}
