//! What crosses between the worker's JavaScript entry (`src/entry.js`) and the wasm core, in
//! as few calls as possible: crossing that boundary, not the filter, is what a request pays
//! for. Plain Rust, tested natively; the worker glue only hands the strings over.
//!
//! Once per isolate the entry asks for a [`Plan`]: which request headers to send in, which to
//! strip before forwarding (in every spelling an origin may fold into them), and which of the
//! gateway's own headers to pass on only when they named the forwarded user. Per request it
//! sends the URL and the wanted headers as `name\tvalue` lines ([`read_request`]), and gets
//! one encoded [`Reply`] back: forward (to where, with which identity headers, which
//! `Set-Cookie`, and whether the gateway's headers go on) or respond (status, headers, body).
//!
//! ```
//! use remote_user_filter::edge::wire::{read_request, Reply};
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

use crate::chain::Outcome;
use crate::config::{FilterName, StockSettings};
use crate::error::AuthError;
use crate::session::DEFAULT_COOKIE_NAME;
use crate::upstream::{origin_url, path_and_query, strip_cookie, UpstreamHeaders};

/// What the entry does once per isolate: the request headers to send in (`None`: all of
/// them), the names to delete from the forwarded request, and the gateway's own headers,
/// which reach the origin only when a reply says so.
///
/// Names are compared as an origin that folds `_` into `-` reads them (WSGI bridges, older
/// gunicorn and Puma): lower-case, `_` read as `-` ([`fold`]). The entry removes every client
/// header whose folded name is in `strip`; a header whose folded name is that of a `guard`
/// entry goes on only when the reply is a [`Reply::Forward`] with `gateway_headers` and the
/// name is spelled exactly as that entry, and is removed otherwise.
///
/// ```
/// use remote_user_filter::edge::wire::Plan;
/// let plan = Plan {
///     read: Some(vec!["x-a".into(), "cookie".into()]),
///     strip: vec!["x-remote-user".into()],
///     guard: vec!["x-auth-request-email".into()],
/// };
/// assert_eq!(plan.encode(), "x-a\tcookie\nx-remote-user\nx-auth-request-email");
/// assert_eq!(Plan { read: None, strip: vec![], guard: vec![] }.encode(), "*\n\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Lower-case names of the headers the chain reads, plus `cookie` (ours is stripped
    /// before forwarding); `None` when some filter may read any header.
    pub read: Option<Vec<String>>,
    /// Folded names ([`fold`]) never forwarded in any spelling: the identity headers we set
    /// (the defaults always among them), the gateway secret.
    pub strip: Vec<String>,
    /// The gateway's identity header and assertion header, lower-case and spelled as
    /// configured: forwarded in this spelling only, and only for a reply that says the
    /// gateway named the forwarded user; every other spelling is always removed. None of
    /// them folds to a `strip` name (those are removed whatever the reply).
    pub guard: Vec<String>,
}

/// A header name as an origin that folds `_` into `-` reads it: lower-case, `-` for `_`.
///
/// ```
/// use remote_user_filter::edge::wire::fold;
/// assert_eq!(fold("X_Remote-USER"), "x-remote-user");
/// ```
pub fn fold(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '_' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

impl Plan {
    /// The plan for a chain reading `read` (as [`FilterChain::headers_read`]) that removes
    /// the names in `strip` in every spelling and guards the gateway's headers in `guard`
    /// (see [`Plan`]). Names are taken as configured (any case); empty ones are skipped, a
    /// name given twice is kept once, and a `guard` name that folds to a `strip` name is
    /// stripped, not guarded.
    ///
    /// [`FilterChain::headers_read`]: crate::FilterChain::headers_read
    ///
    /// ```
    /// use remote_user_filter::edge::wire::Plan;
    ///
    /// let read = [http::header::COOKIE, http::HeaderName::from_static("x-user")];
    /// let plan = Plan::new(Some(&read), &["X-Remote-User", "X_Gateway_Secret"], &["X-User", "x-remote-user"]);
    /// assert_eq!(plan.read, Some(vec!["cookie".to_string(), "x-user".to_string()]));
    /// assert_eq!(plan.strip, ["x-remote-user", "x-gateway-secret"]);
    /// assert_eq!(plan.guard, ["x-user"]);
    /// ```
    pub fn new(read: Option<&[HeaderName]>, strip: &[&str], guard: &[&str]) -> Self {
        let read = read.map(|names| {
            let mut names: Vec<String> = names.iter().map(|n| n.as_str().to_owned()).collect();
            if !names.iter().any(|n| n == "cookie") {
                names.push("cookie".to_owned());
            }
            names
        });
        let mut stripped: Vec<String> = Vec::with_capacity(strip.len());
        for name in strip.iter().map(|n| fold(n.trim())) {
            if !name.is_empty() && !stripped.contains(&name) {
                stripped.push(name);
            }
        }
        let mut guarded: Vec<String> = Vec::with_capacity(guard.len());
        for name in guard.iter().map(|n| n.trim()) {
            let folded = fold(name);
            if !name.is_empty()
                && !stripped.contains(&folded)
                && !guarded.iter().any(|g| fold(g) == folded)
            {
                guarded.push(name.to_ascii_lowercase());
            }
        }
        Self {
            read,
            strip: stripped,
            guard: guarded,
        }
    }

    /// The stock worker's plan: `settings`' upstream identity headers and, whatever
    /// `UPSTREAM_USER_HEADER` says, the default `x-remote-user`, `x-remote-user-email` and
    /// `x-remote-user-groups`, and the gateway secret header, stripped; the identity header
    /// (`REMOTE_USER_HEADER`) and, with `gateway_jwt` in the chain, the preset's assertion
    /// header, guarded.
    ///
    /// ```
    /// use remote_user_filter::edge::wire::Plan;
    /// use remote_user_filter::StockSettings;
    ///
    /// let settings = StockSettings::from_vars(|name| match name {
    ///     "UPSTREAM_USER_HEADER" => Some("X-Forwarded-User".into()),
    ///     "ACCESS_TEAM_DOMAIN" => Some("team.cloudflareaccess.com".into()),
    ///     "ACCESS_AUD" => Some("aud".into()),
    ///     _ => None,
    /// })
    /// .unwrap();
    /// let plan = Plan::stock(None, &settings);
    /// assert_eq!(
    ///     plan.strip,
    ///     ["x-forwarded-user", "x-remote-user-email", "x-remote-user-groups", "x-remote-user", "x-gateway-secret"]
    /// );
    /// assert_eq!(plan.guard, ["cf-access-authenticated-user-email", "cf-access-jwt-assertion"]);
    /// ```
    pub fn stock(read: Option<&[HeaderName]>, settings: &StockSettings) -> Self {
        let defaults = UpstreamHeaders::default();
        let mut strip: Vec<&str> = settings.upstream.names().to_vec();
        strip.extend(defaults.names());
        strip.push(&settings.gateway_secret_header);
        let mut guard = vec![settings.remote_user_header.as_str()];
        if settings.filters.contains(&FilterName::GatewayJwt) {
            guard.push(&settings.gateway.header);
        }
        Self::new(read, &strip, &guard)
    }

    /// Whether the client's header `name` goes on to the origin, as the JS entry decides it:
    /// not if its folded name is a `strip` name; a `guard` header only in the spelling
    /// configured and only when the reply says the gateway named the forwarded user
    /// (`gateway_headers`); any other header, yes.
    ///
    /// ```
    /// use remote_user_filter::edge::wire::Plan;
    /// let plan = Plan::new(None, &["X-Remote-User"], &["X-Auth-Request-Email"]);
    /// assert!(!plan.forwards("x_remote_user", true));
    /// assert!(plan.forwards("x-auth-request-email", true));
    /// assert!(!plan.forwards("x-auth-request-email", false));
    /// assert!(!plan.forwards("x_auth_request_email", true));
    /// assert!(plan.forwards("accept", false));
    /// ```
    pub fn forwards(&self, name: &str, gateway_headers: bool) -> bool {
        let folded = fold(name);
        if self.strip.contains(&folded) {
            return false;
        }
        match self.guard.iter().find(|g| fold(g) == folded) {
            Some(spelled) => gateway_headers && spelled.eq_ignore_ascii_case(name),
            None => true,
        }
    }

    /// Three lines: the names to read, tab-separated (`*`: all), the names to strip, the
    /// names to guard.
    pub fn encode(&self) -> String {
        let read = match &self.read {
            Some(names) => names.join("\t"),
            None => "*".to_owned(),
        };
        format!(
            "{read}\n{}\n{}",
            self.strip.join("\t"),
            self.guard.join("\t")
        )
    }
}

/// The request as the entry sent it in.
///
/// ```
/// let request = remote_user_filter::edge::wire::read_request("x-a\t1\nnot a name\t2\n");
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
/// let request = remote_user_filter::edge::wire::read_request("x-user\tJos\u{e9}\n");
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
        if let Some(value) = header_value(value) {
            request.headers.append(name, value);
        }
    }
    request
}

/// A header value as JS holds it (a byte string: one char per byte) turned back into its
/// bytes, so a UTF-8 identity arrives intact; `None` if it is not a valid header value.
/// Both the JS entry's lines and the workers-rs API's `worker::Headers` go through here.
pub(crate) fn header_value(value: &str) -> Option<HeaderValue> {
    if value.is_ascii() {
        HeaderValue::from_str(value).ok()
    } else {
        let bytes: Vec<u8> = value
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect();
        HeaderValue::from_bytes(&bytes).ok()
    }
}

/// The request as the http crate sees it: `method` and `url` as the runtime gave them, and
/// the headers read in. A URL the http crate refuses (a WHATWG URL may keep characters
/// such as a backtick that RFC 3986 does not allow) is read again with those characters
/// percent-encoded, which changes no path a prefix rule compares; one still refused is a
/// 400, never a guess. An unknown method is kept as an extension method.
///
/// ```
/// use remote_user_filter::edge::wire::request_parts;
/// let parts = request_parts("POST", "https://app.example/admin/x?y=1", http::HeaderMap::new()).unwrap();
/// assert_eq!((parts.method.as_str(), parts.uri.path()), ("POST", "/admin/x"));
/// let odd = request_parts("GET", "https://app.example/a`b", http::HeaderMap::new()).unwrap();
/// assert_eq!(odd.uri.path(), "/a%60b");
/// assert_eq!(request_parts("GET", "not a url", http::HeaderMap::new()).unwrap_err().status(), 400);
/// ```
pub fn request_parts(
    method: &str,
    url: &str,
    headers: HeaderMap,
) -> Result<http::request::Parts, AuthError> {
    let uri = match url.parse::<http::Uri>() {
        Ok(uri) => uri,
        Err(_) => encode_stray(url)
            .parse::<http::Uri>()
            .map_err(|_| AuthError::BadRequest("the request URL cannot be read"))?,
    };
    let method = http::Method::from_bytes(method.as_bytes())
        .map_err(|_| AuthError::BadRequest("the request method cannot be read"))?;
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.headers = headers;
    Ok(parts)
}

/// `url` with every byte RFC 3986 does not allow percent-encoded (`%` itself is kept).
fn encode_stray(url: &str) -> String {
    const ALLOWED: &[u8] = b"-._~:/?#[]@!$&'()*+,;=%";
    let mut out = String::with_capacity(url.len() + 8);
    for &b in url.as_bytes() {
        if b.is_ascii_alphanumeric() || ALLOWED.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What the forwarded request's `Cookie` header becomes once our session cookie is removed.
///
/// ```
/// use remote_user_filter::edge::wire::CookieAction;
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
/// use remote_user_filter::edge::wire::Reply;
/// use remote_user_filter::{Outcome, SessionUser, UpstreamHeaders};
///
/// let user = SessionUser { username: "ann".into(), email: None, groups: vec![], backend: "KvUserBackend".into() };
/// let outcome = Outcome::Forward { user: Some(user.clone()), set_cookie: Some("s=1".into()), gateway_headers: false };
/// let reply = Reply::new(outcome, "https://app.example.com/a?b", None, &UpstreamHeaders::default(), Some("http://origin"));
/// assert_eq!(reply.encode(), "F\nhttp://origin/a?b\ns=1\n\nx-remote-user\tann\n\n");
///
/// // The gateway's own headers named ann on this request: they go on (`G` after the headers).
/// let outcome = Outcome::Forward { user: Some(user), set_cookie: None, gateway_headers: true };
/// let reply = Reply::new(outcome, "https://app.example.com/", None, &UpstreamHeaders::default(), None);
/// assert_eq!(reply.encode(), "F\nhttps://app.example.com/\n\n\nx-remote-user\tann\n\nG");
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
        /// Whether the gateway's own headers (the plan's `guard` names, exact spelling only)
        /// go on: they named the forwarded user on this request. Otherwise they are removed.
        gateway_headers: bool,
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
                user,
                set_cookie,
                gateway_headers,
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
                gateway_headers,
            },
            Outcome::Respond { error, set_cookie } => Reply::error(&error, set_cookie),
        }
    }

    /// The response for `error`: its status, its message as the body, `no-store`, and a
    /// `WWW-Authenticate` challenge on a 401.
    ///
    /// ```
    /// use remote_user_filter::{edge::wire::Reply, AuthError};
    /// let Reply::Respond { status, headers, body, .. } = Reply::error(&AuthError::Rejected, None) else { panic!() };
    /// assert_eq!(status, 403);
    /// assert!(headers.contains(&("Cache-Control", "no-store".to_string())));
    /// assert!(body.ends_with('\n'));
    /// ```
    pub fn error(error: &AuthError, set_cookie: Option<String>) -> Self {
        let ErrorResponse {
            status,
            headers,
            body,
        } = ErrorResponse::new(error);
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
    /// empty line, and the rest: for a respond, the body (it may span lines); for a forward,
    /// `G` when the gateway's own headers go on ([`Plan::guard`], exact spelling), else
    /// nothing (they are removed, the safe reading of a reply cut short).
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
                cookie,
                headers,
                gateway_headers,
                ..
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
                out.push('\n');
                if *gateway_headers {
                    out.push('G');
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

/// The answer to `error` both worker paths give (the JS entry's [`Reply::error`] and the
/// workers-rs API's `Answer`): its status, `no-store` plain text, a `WWW-Authenticate`
/// challenge on a 401, and its message as the body (a configuration error's redacted).
pub(crate) struct ErrorResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: String,
}

impl ErrorResponse {
    pub(crate) fn new(error: &AuthError) -> Self {
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
        Self {
            status,
            headers,
            body,
        }
    }
}

/// The line to log for a response to `error`, if it is the operator's concern (a backend,
/// key or configuration failure); a client's bad request is not logged. No secrets.
///
/// ```
/// use remote_user_filter::{edge::wire::log_line, AuthError};
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SessionUser;

    fn settings(vars: &[(&str, &str)]) -> StockSettings {
        StockSettings::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .expect("valid settings")
    }

    #[test]
    fn default_names_are_stripped_and_the_identity_header_guarded() {
        let plan = Plan::stock(
            None,
            &settings(&[("AUTH_FILTERS", "session,gateway_secret,remote_user")]),
        );
        assert_eq!(
            plan.strip,
            [
                "x-remote-user",
                "x-remote-user-email",
                "x-remote-user-groups",
                "x-gateway-secret"
            ]
        );
        // No assertion filter in the chain: its header is nobody's business here.
        assert_eq!(plan.guard, ["cf-access-authenticated-user-email"]);
        assert_eq!(
            plan.encode(),
            "*\nx-remote-user\tx-remote-user-email\tx-remote-user-groups\tx-gateway-secret\n\
             cf-access-authenticated-user-email"
        );
    }

    #[test]
    fn configured_names_are_folded_for_strip_and_kept_as_spelled_for_guard() {
        let plan = Plan::stock(
            None,
            &settings(&[
                ("AUTH_FILTERS", "session,gateway_secret,remote_user"),
                ("UPSTREAM_USER_HEADER", "X_Forwarded_User"),
                ("GATEWAY_SECRET_HEADER", "X-Proxy_Secret"),
                ("REMOTE_USER_HEADER", "Remote_User"),
            ]),
        );
        assert_eq!(plan.strip[0], "x-forwarded-user");
        assert!(plan.strip.contains(&"x-remote-user".to_owned()));
        assert_eq!(
            plan.strip.last().map(String::as_str),
            Some("x-proxy-secret")
        );
        assert_eq!(plan.guard, ["remote_user"]);
    }

    #[test]
    fn an_identity_header_named_like_one_we_set_is_stripped_not_guarded() {
        let plan = Plan::stock(
            None,
            &settings(&[
                ("AUTH_FILTERS", "session,gateway_secret,remote_user"),
                ("REMOTE_USER_HEADER", "X-Remote-User"),
            ]),
        );
        assert!(plan.strip.contains(&"x-remote-user".to_owned()));
        assert!(plan.guard.is_empty(), "{:?}", plan.guard);
    }

    #[test]
    fn the_assertion_header_is_guarded_with_gateway_jwt() {
        let plan = Plan::stock(
            None,
            &settings(&[
                ("AUTH_FILTERS", "session,gateway_jwt,remote_user"),
                ("GATEWAY", "pomerium"),
                ("POMERIUM_HOST", "app.example.com"),
            ]),
        );
        assert_eq!(
            plan.guard,
            [
                "cf-access-authenticated-user-email",
                "x-pomerium-jwt-assertion"
            ]
        );
    }

    #[test]
    fn forwards_drops_stripped_names_in_every_spelling_and_guarded_ones_unless_told() {
        let plan = Plan::stock(
            None,
            &settings(&[
                ("AUTH_FILTERS", "session,gateway_jwt,remote_user"),
                ("GATEWAY", "pomerium"),
                ("POMERIUM_HOST", "app.example.com"),
            ]),
        );
        for gateway_headers in [false, true] {
            for name in [
                "x-remote-user",
                "X_Remote_User",
                "x-remote-user-email",
                "x_remote_user_groups",
                "x-gateway-secret",
                "X_GATEWAY_SECRET",
                "cf_access_authenticated_user_email",
                "x_pomerium_jwt_assertion",
            ] {
                assert!(!plan.forwards(name, gateway_headers), "{name}");
            }
            assert!(plan.forwards("accept", gateway_headers));
            assert!(plan.forwards("cookie", gateway_headers));
            for name in [
                "cf-access-authenticated-user-email",
                "Cf-Access-Authenticated-User-Email",
                "x-pomerium-jwt-assertion",
            ] {
                assert_eq!(
                    plan.forwards(name, gateway_headers),
                    gateway_headers,
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn a_forward_says_whether_the_gateway_headers_go_on() {
        let user = SessionUser {
            username: "ann".into(),
            email: None,
            groups: vec![],
            backend: "KvUserBackend".into(),
        };
        let encode = |gateway_headers| {
            let outcome = Outcome::Forward {
                user: Some(user.clone()),
                set_cookie: None,
                gateway_headers,
            };
            Reply::new(
                outcome,
                "https://a.example/",
                Some("__Host-remote-user-session=t"),
                &UpstreamHeaders::default(),
                None,
            )
            .encode()
        };
        assert_eq!(
            encode(true),
            "F\nhttps://a.example/\n\n-\nx-remote-user\tann\n\nG"
        );
        assert_eq!(
            encode(false),
            "F\nhttps://a.example/\n\n-\nx-remote-user\tann\n\n"
        );
        let anonymous = Outcome::Forward {
            user: None,
            set_cookie: None,
            gateway_headers: false,
        };
        let reply = Reply::new(
            anonymous,
            "https://a.example/",
            None,
            &UpstreamHeaders::default(),
            None,
        );
        assert_eq!(reply.encode(), "F\nhttps://a.example/\n\n\n\n");
    }
}
