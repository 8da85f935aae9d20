//! What crosses between the worker's JavaScript entry (`src/entry.js`) and the wasm core, in
//! as few calls as possible: crossing that boundary, not the filter, is what a request pays
//! for. Plain Rust, tested natively; the worker glue only hands the strings over.
//!
//! Once per isolate the entry asks for a [`Plan`]: which request headers to send in, which to
//! strip before forwarding (in every spelling an origin may fold into them), and which of the
//! gateway's own headers to pass on only when they named the forwarded user. Per request it
//! sends the URL and the wanted headers as `name\tvalue` lines ([`read_request`]), and gets
//! one encoded [`Reply`] back: forward (to where, with which identity headers, which
//! `Set-Cookie`, whether the gateway's headers go on, and whether it is a preflight that goes
//! on bare) or respond (status, headers, body: a refusal in the form the client reads, see
//! [`ErrorFormat`]).
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
//! let reply = Reply::new(outcome, "https://app.example.com/x", None, &UpstreamHeaders::default(), None, &request.headers);
//! assert!(reply.encode().unwrap().starts_with("R\n401\n"));
//! ```

use http::{HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::chain::{LocalResponse, Outcome, CF_RAY};
use crate::config::{FilterName, StockSettings};
use crate::error::AuthError;
use crate::negotiate::{ErrorFormat, NEGOTIATION_HEADERS};
use crate::path::{canonicalize, EncodedSlashes};
use crate::session::DEFAULT_COOKIE_NAME;
use crate::upstream::{forward_target, path_and_query, strip_cookie, UpstreamHeaders};

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
/// A reply that says the request is a preflight ([`Reply::Forward`]'s `preflight`) has every
/// client header whose folded name is in [`PREFLIGHT_DROPPED`] removed too, and no body: the
/// plan's fourth line.
///
/// ```
/// use remote_user_filter::edge::wire::Plan;
/// let plan = Plan {
///     read: Some(vec!["x-a".into(), "cookie".into()]),
///     strip: vec!["x-remote-user".into()],
///     guard: vec!["x-auth-request-email".into()],
/// };
/// assert!(plan.encode().starts_with("x-a\tcookie\nx-remote-user\nx-auth-request-email\ncookie\tauthorization\t"));
/// assert!(plan.encode().ends_with("\naccept\tsec-fetch-dest\tx-requested-with"));
/// assert!(Plan { read: None, strip: vec![], guard: vec![] }.encode().starts_with("*\n\n\ncookie\t"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Lower-case names of the headers the chain reads, plus `cookie` (ours is stripped
    /// before forwarding) and `cf-ray` (events carry it); `None` when some filter may read
    /// any header.
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

/// The client headers (folded names, see [`fold`]) a CORS preflight let through without
/// authentication never carries to the origin: credentials (`Cookie`, `Authorization`,
/// `Proxy-Authorization`), the method overrides frameworks honour (`X-HTTP-Method-Override`,
/// `X-HTTP-Method`, `X-Method-Override`), and, as its body is dropped too, the headers that
/// describe a body. A browser sends none of them on a preflight.
///
/// ```
/// use remote_user_filter::edge::wire::{preflight_drops, PREFLIGHT_DROPPED};
/// assert_eq!(PREFLIGHT_DROPPED[..3], ["cookie", "authorization", "proxy-authorization"]);
/// assert!(preflight_drops("X_HTTP_Method_Override"));
/// assert!(!preflight_drops("access-control-request-method"));
/// ```
pub const PREFLIGHT_DROPPED: [&str; 10] = [
    "cookie",
    "authorization",
    "proxy-authorization",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "content-length",
    "content-type",
    "content-encoding",
    "transfer-encoding",
];

/// Whether a forwarded preflight loses the client's header `name` (any case, `_` read as
/// `-`): [`PREFLIGHT_DROPPED`].
pub fn preflight_drops(name: &str) -> bool {
    PREFLIGHT_DROPPED.contains(&fold(name).as_str())
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
    /// assert_eq!(plan.read.unwrap(), ["cookie", "x-user", "cf-ray"]);
    /// assert_eq!(plan.strip, ["x-remote-user", "x-gateway-secret"]);
    /// assert_eq!(plan.guard, ["x-user"]);
    /// ```
    pub fn new(read: Option<&[HeaderName]>, strip: &[&str], guard: &[&str]) -> Self {
        let read = read.map(|names| {
            let mut names: Vec<String> = names.iter().map(|n| n.as_str().to_owned()).collect();
            for host_reads in ["cookie", CF_RAY] {
                if !names.iter().any(|n| n == host_reads) {
                    names.push(host_reads.to_owned());
                }
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

    /// Five lines: the names to read, tab-separated (`*`: all), the names to strip, the
    /// names to guard, the names a preflight loses ([`PREFLIGHT_DROPPED`]), and the names a
    /// refusal's form is decided on ([`NEGOTIATION_HEADERS`]: sent in only to settle an
    /// [`Unsettled`] refusal or the 502 of an origin that cannot be reached).
    pub fn encode(&self) -> String {
        let read = match &self.read {
            Some(names) => names.join("\t"),
            None => "*".to_owned(),
        };
        format!(
            "{read}\n{}\n{}\n{}\n{}",
            self.strip.join("\t"),
            self.guard.join("\t"),
            PREFLIGHT_DROPPED.join("\t"),
            NEGOTIATION_HEADERS.join("\t")
        )
    }

    /// Whether the entry sends in every request header (`read` is `None`), so that what a
    /// refusal's form is decided on is at hand.
    pub fn reads_all(&self) -> bool {
        self.read.is_none()
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
    /// The headers, as bytes (see [`read_request`]).
    pub headers: HeaderMap,
    /// The `Cookie` header exactly as JS holds it, to hand back without our cookie.
    pub cookie: Option<String>,
}

/// Read `name\tvalue` lines. workerd hands JS a header value decoded as UTF-8 (a byte that
/// is not UTF-8 becomes U+FFFD): the value goes back to its UTF-8 bytes, so a UTF-8 identity
/// arrives intact, and each U+FFFD to the byte 0xFF, so bytes that were not UTF-8 stay not
/// UTF-8 (the identity check's 400), never another name. Lines that are not a valid header are
/// skipped: the runtime has already checked every header, so none are expected.
///
/// ```
/// let request = remote_user_filter::edge::wire::read_request("x-user\tJos\u{e9}\nx-bad\tu\u{fffd}\n");
/// // `Jos\u{e9}` was the UTF-8 bytes of `José` on the wire.
/// assert_eq!(request.headers["x-user"].as_bytes(), "Jos\u{e9}".as_bytes());
/// // U+FFFD stood for a byte that was not UTF-8: it stays not UTF-8.
/// assert_eq!(request.headers["x-bad"].as_bytes(), b"u\xff");
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

/// A header value as JS holds it turned back into bytes; `None` if it is not a valid header
/// value. workerd decodes a header's bytes as UTF-8 for JS, each byte that is not part of
/// UTF-8 becoming U+FFFD: the text goes back as its UTF-8 bytes, so a UTF-8 identity arrives
/// intact, and each U+FFFD as the byte 0xFF, which is never UTF-8, so bytes that were not
/// UTF-8 are refused as such (400) rather than read as another name. Both the JS entry's
/// lines and the workers-rs API's `worker::Headers` go through here.
pub(crate) fn header_value(value: &str) -> Option<HeaderValue> {
    if value.is_ascii() {
        return HeaderValue::from_str(value).ok();
    }
    let mut bytes = Vec::with_capacity(value.len());
    for c in value.chars() {
        match c {
            char::REPLACEMENT_CHARACTER => bytes.push(0xff),
            c => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    HeaderValue::from_bytes(&bytes).ok()
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

/// Every byte RFC 3986 does not allow in a URI, for [`encode_stray`]: all but letters,
/// digits and `-._~:/?#[]@!$&'()*+,;=%` (`%` is kept: the URL is already encoded).
const STRAY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':')
    .remove(b'/')
    .remove(b'?')
    .remove(b'#')
    .remove(b'[')
    .remove(b']')
    .remove(b'@')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b'%');

/// `url` with every byte RFC 3986 does not allow percent-encoded (`%` itself is kept).
fn encode_stray(url: &str) -> String {
    utf8_percent_encode(url, STRAY).to_string()
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
/// let request = http::HeaderMap::new();
/// let outcome = Outcome::Forward { user: Some(user.clone()), set_cookie: Some("s=1".into()), gateway_headers: false, preflight: false };
/// let reply = Reply::new(outcome, "https://app.example.com/a?b", None, &UpstreamHeaders::default(), Some("http://origin"), &request);
/// assert_eq!(reply.encode().as_deref(), Ok("F\nhttp://origin/a?b\ns=1\n\nx-remote-user\tann\n\n"));
///
/// // The gateway's own headers named ann on this request: they go on (`G` after the headers).
/// let outcome = Outcome::Forward { user: Some(user), set_cookie: None, gateway_headers: true, preflight: false };
/// let reply = Reply::new(outcome, "https://app.example.com/", None, &UpstreamHeaders::default(), None, &request);
/// assert_eq!(reply.encode().as_deref(), Ok("F\nhttps://app.example.com/\n\n\nx-remote-user\tann\n\nG"));
///
/// // A preflight let through goes on bare (`P`): no cookie at all, nor the plan's other
/// // preflight names, nor a body.
/// let outcome = Outcome::Forward { user: None, set_cookie: None, gateway_headers: false, preflight: true };
/// let reply = Reply::new(outcome, "https://app.example.com/", Some("a=1"), &UpstreamHeaders::default(), None, &request);
/// assert_eq!(reply.encode().as_deref(), Ok("F\nhttps://app.example.com/\n\n-\n\nP"));
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
        /// A CORS preflight let through without authentication: every client header in
        /// [`PREFLIGHT_DROPPED`] is removed (whatever `cookie` says), and no body goes on.
        preflight: bool,
    },
    /// Answer here.
    Respond {
        /// The HTTP status.
        status: u16,
        /// At most one `Set-Cookie` (a logout's removal cookie).
        set_cookie: Option<String>,
        /// Response headers.
        headers: Vec<(&'static str, String)>,
        /// The body: what is wrong (never a secret) in the form the client reads
        /// ([`ErrorFormat`]), or an endpoint's page or JSON.
        body: String,
    },
}

impl Reply {
    /// The reply for the chain's `outcome` on a request for `url` whose `Cookie` header is
    /// `cookie` and whose other headers (those the chain read) are `request`, forwarding to
    /// `origin` (`ORIGIN_URL`) when set, else to `url` itself. A URL whose path and query
    /// `http::Uri` cannot read, even with its stray characters percent-encoded (as
    /// [`request_parts`] reads it), is answered 400 rather than forwarded to `origin`. A
    /// refusal is written in the form `request` asks for ([`ErrorFormat::negotiate`]).
    pub fn new(
        outcome: Outcome,
        url: &str,
        cookie: Option<&str>,
        upstream: &UpstreamHeaders,
        origin: Option<&str>,
        request: &HeaderMap,
    ) -> Self {
        match outcome {
            Outcome::Forward {
                user,
                set_cookie,
                gateway_headers,
                preflight,
            } => {
                // The path read as `request_parts` and the chain read it, in canonical form
                // (the chain has refused what its own rule for encoded slashes refuses).
                let path = path_and_query(url)
                    .or_else(|| path_and_query(&encode_stray(url)))
                    .ok_or(AuthError::BadRequest("the request URL cannot be read"))
                    .and_then(|pq| {
                        let path = match pq.split_once('?').map_or(pq.as_str(), |(p, _)| p) {
                            "" => "/",
                            path => path,
                        };
                        canonicalize(path, EncodedSlashes::Keep)
                            .map(|p| p.as_str().to_owned())
                            .map_err(AuthError::from)
                    });
                let target = match path {
                    Ok(path) => forward_target(origin, url, &path),
                    Err(error) => {
                        let format = ErrorFormat::negotiate(request);
                        return Reply::error(&error, set_cookie, format);
                    }
                };
                let outcome = Outcome::Forward {
                    user,
                    set_cookie,
                    gateway_headers,
                    preflight,
                };
                Self::with_target(outcome, target, cookie, upstream, request)
            }
            outcome => Self::with_target(outcome, String::new(), cookie, upstream, request),
        }
    }

    /// [`Reply::new`] for a host that has already worked out where a forward goes (the
    /// worker reads the path from the URI it parsed for the chain, and so parses it once).
    ///
    /// ```
    /// use remote_user_filter::edge::wire::Reply;
    /// use remote_user_filter::{Outcome, UpstreamHeaders};
    /// let request = http::HeaderMap::new();
    /// let outcome = Outcome::Forward { user: None, set_cookie: None, gateway_headers: false, preflight: false };
    /// let reply = Reply::with_target(outcome, "http://origin/a".into(), None, &UpstreamHeaders::default(), &request);
    /// assert!(matches!(reply, Reply::Forward { target, .. } if target == "http://origin/a"));
    /// ```
    pub fn with_target(
        outcome: Outcome,
        target: String,
        cookie: Option<&str>,
        upstream: &UpstreamHeaders,
        request: &HeaderMap,
    ) -> Self {
        match outcome {
            Outcome::Forward {
                user,
                set_cookie,
                gateway_headers,
                preflight,
            } => Reply::Forward {
                target,
                set_cookie,
                cookie: match preflight {
                    true => CookieAction::Delete,
                    false => CookieAction::strip(cookie),
                },
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
                preflight,
            },
            // Only a refusal reads the headers it is negotiated on.
            Outcome::Respond { error, set_cookie } => {
                Reply::error(&error, set_cookie, ErrorFormat::negotiate(request))
            }
            Outcome::Answer {
                response,
                set_cookie,
            } => Reply::local(response, set_cookie),
        }
    }

    /// The response a filter answered with itself ([`Outcome::Answer`]).
    ///
    /// ```
    /// use remote_user_filter::{edge::wire::Reply, LocalResponse};
    /// let reply = Reply::local(LocalResponse::new(302, "").header("Location", "/"), None);
    /// assert!(matches!(reply, Reply::Respond { status: 302, .. }));
    /// ```
    pub fn local(response: LocalResponse, set_cookie: Option<String>) -> Self {
        let (status, headers, body) = response.into_parts();
        Reply::Respond {
            status,
            set_cookie,
            headers,
            body,
        }
    }

    /// The response for `error` in `format` ([`ErrorFormat::respond`]): its status, its
    /// message, `no-store`, `nosniff`, and a `WWW-Authenticate` challenge on a 401.
    ///
    /// ```
    /// use remote_user_filter::{edge::wire::Reply, negotiate::ErrorFormat, AuthError};
    /// let Reply::Respond { status, headers, body, .. } = Reply::error(&AuthError::Rejected, None, ErrorFormat::Text) else { panic!() };
    /// assert_eq!(status, 403);
    /// assert!(headers.contains(&("Cache-Control", "no-store".to_string())));
    /// assert!(headers.contains(&("X-Content-Type-Options", "nosniff".to_string())));
    /// assert!(body.ends_with('\n'));
    /// ```
    pub fn error(error: &AuthError, set_cookie: Option<String>, format: ErrorFormat) -> Self {
        Reply::local(format.respond(error), set_cookie)
    }

    /// The 502 for an origin that could not be reached, in `format`, with the `Set-Cookie`
    /// a login on this request earned (it stands: a retry needs no KV call).
    ///
    /// ```
    /// use remote_user_filter::{edge::wire::Reply, negotiate::ErrorFormat};
    /// let Reply::Respond { status, body, .. } = Reply::unreachable(None, ErrorFormat::Json) else { panic!() };
    /// assert_eq!(status, 502);
    /// assert!(body.contains(r#""reason":"origin_unreachable""#));
    /// ```
    pub fn unreachable(set_cookie: Option<String>, format: ErrorFormat) -> Self {
        Reply::local(unreachable_response(format), set_cookie)
    }

    /// One string for the entry (its decoder is `decode` in `src/edge/reply.js`), lines
    /// separated by `\n`: kind (`F`/`R`), target URL or status, `Set-Cookie` (empty: none),
    /// the `Cookie` action (forward only: empty keep, `-` delete, `=value` set),
    /// `name\tvalue` lines, an empty line, and the rest: for a respond, the body (it may span
    /// lines); for a forward, its flags: `G` when the gateway's own headers go on
    /// ([`Plan::guard`], exact spelling; without it they are removed, the safe reading of a
    /// reply cut short), `P` for a preflight that goes on bare ([`PREFLIGHT_DROPPED`]).
    ///
    /// A field the entry could not carry out as meant is refused, never sent half-framed:
    /// a control character in the target; a header name that is not one (a tab, a line
    /// break, empty); a header or `Set-Cookie` value that is not ASCII, holds a control
    /// character other than tab or has whitespace at an end (the runtime's `Headers` would
    /// trim it); a `Cookie` value with a line break, a NUL or whitespace at an end (any
    /// other text goes back as the UTF-8 it came as). The worker answers [`UNFRAMED_REPLY`]
    /// instead. Identity headers never hit this: [`UpstreamHeaders`] percent-encodes
    /// whatever would.
    ///
    /// ```
    /// use remote_user_filter::edge::wire::{CookieAction, Reply, WireError};
    ///
    /// let reply = |name: &str, value: &str| Reply::Forward {
    ///     target: "https://app.example.com/".into(),
    ///     set_cookie: None,
    ///     cookie: CookieAction::Keep,
    ///     headers: vec![(name.into(), value.into())],
    ///     gateway_headers: false,
    ///     preflight: false,
    /// };
    /// assert!(reply("x-remote-user", "ann").encode().is_ok());
    /// assert_eq!(reply("x-remote-user", "ann\nx-admin\t1").encode(), Err(WireError::HeaderValue("x-remote-user".into())));
    /// assert_eq!(reply("x-remote\tuser", "ann").encode(), Err(WireError::HeaderName("x-remote\tuser".into())));
    /// ```
    pub fn encode(&self) -> Result<String, WireError> {
        let mut out = String::with_capacity(256);
        let set_cookie = match self {
            Reply::Forward {
                target, set_cookie, ..
            } => {
                if target.chars().any(|c| c.is_ascii_control()) {
                    return Err(WireError::Target);
                }
                out.push_str("F\n");
                out.push_str(target);
                set_cookie
            }
            Reply::Respond {
                status, set_cookie, ..
            } => {
                out.push_str("R\n");
                out.push_str(&status.to_string());
                set_cookie
            }
        };
        out.push('\n');
        if let Some(set_cookie) = set_cookie {
            if set_cookie.is_empty() || !header_value_ok(set_cookie) {
                return Err(WireError::SetCookie);
            }
            out.push_str(set_cookie);
        }
        out.push('\n');
        if let Reply::Forward { cookie, .. } = self {
            match cookie {
                CookieAction::Keep => {}
                CookieAction::Delete => out.push('-'),
                CookieAction::Set(value) => {
                    if !js_header_value_ok(value) {
                        return Err(WireError::Cookie);
                    }
                    out.push('=');
                    out.push_str(value);
                }
            }
        }
        out.push('\n');
        let mut push_header = |name: &str, value: &str| {
            if !header_name_ok(name) {
                return Err(WireError::HeaderName(name.to_owned()));
            }
            if !header_value_ok(value) {
                return Err(WireError::HeaderValue(name.to_owned()));
            }
            out.push_str(name);
            out.push('\t');
            out.push_str(value);
            out.push('\n');
            Ok(())
        };
        match self {
            Reply::Forward { headers, .. } => {
                for (name, value) in headers {
                    push_header(name, value)?;
                }
            }
            Reply::Respond { headers, .. } => {
                for (name, value) in headers {
                    push_header(name, value)?;
                }
            }
        }
        out.push('\n');
        match self {
            Reply::Forward {
                gateway_headers,
                preflight,
                ..
            } => {
                if *gateway_headers {
                    out.push('G');
                }
                if *preflight {
                    out.push('P');
                }
            }
            Reply::Respond { body, .. } => out.push_str(body),
        }
        Ok(out)
    }
}

/// A refusal whose form the headers the entry sent in cannot decide: the worker reads
/// `Sec-Fetch-Dest` and `X-Requested-With` (and, unless a filter reads it, `Accept`) only for
/// a refusal, so that a forwarded request never pays for them. Its encoding (`N`, then the
/// status, the `Set-Cookie`, the reason code and the message) goes to the entry, which sends
/// it back with the [`NEGOTIATION_HEADERS`] (the plan's fifth line) to be
/// [settled](Unsettled::settle): one more crossing, for a refusal only.
///
/// ```
/// use remote_user_filter::edge::wire::{read_request, Reply, Unsettled};
/// use remote_user_filter::{negotiate::ErrorFormat, AuthError};
///
/// let unsettled = Unsettled::new(&AuthError::MissingIdentity, None);
/// let text = unsettled.encode().unwrap();
/// assert_eq!(text, "N\n401\n\nmissing_identity\nauthentication required: no identity was presented");
///
/// // The entry sends it back with the request's negotiation headers.
/// let headers = read_request("sec-fetch-dest\tempty\n").headers;
/// let reply = Unsettled::decode(&text).unwrap().settle(ErrorFormat::negotiate(&headers));
/// assert!(reply.encode().unwrap().starts_with("R\n401\n\n\nContent-Type\tapplication/json\n"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsettled {
    status: u16,
    set_cookie: Option<String>,
    reason: String,
    message: String,
}

impl Unsettled {
    /// The refusal of `error`, with `set_cookie` (a logout's removal).
    pub fn new(error: &AuthError, set_cookie: Option<String>) -> Self {
        Self {
            status: error.status(),
            set_cookie,
            reason: error.reason().to_owned(),
            message: crate::negotiate::message(error),
        }
    }

    /// `N`, the status, the `Set-Cookie` (empty: none), the reason and the message (the rest,
    /// which may span lines), separated by `\n`. A `Set-Cookie` that [`Reply::encode`] would
    /// refuse is refused here too.
    pub fn encode(&self) -> Result<String, WireError> {
        let set_cookie = self.set_cookie.as_deref().unwrap_or_default();
        if self
            .set_cookie
            .as_deref()
            .is_some_and(|c| c.is_empty() || !header_value_ok(c))
        {
            return Err(WireError::SetCookie);
        }
        if self.reason.contains('\n') {
            return Err(WireError::HeaderValue("reason".into()));
        }
        Ok(format!(
            "N\n{}\n{set_cookie}\n{}\n{}",
            self.status, self.reason, self.message
        ))
    }

    /// What [`encode`](Self::encode) wrote; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        let mut fields = text.splitn(5, '\n');
        if fields.next()? != "N" {
            return None;
        }
        let status = fields.next()?.parse().ok()?;
        let set_cookie = Some(fields.next()?.to_owned()).filter(|c| !c.is_empty());
        let reason = fields.next()?.to_owned();
        let message = fields.next()?.to_owned();
        Some(Self {
            status,
            set_cookie,
            reason,
            message,
        })
    }

    /// The reply in `format` ([`ErrorFormat::answer`]).
    pub fn settle(self, format: ErrorFormat) -> Reply {
        let response = format.answer(self.status, &self.message, &self.reason);
        Reply::local(response, self.set_cookie)
    }
}

/// The 502 both worker paths give when the origin cannot be reached (the JS entry through
/// the `originUnreachable` export, the workers-rs API's `Admitted::forward`), in `format`.
pub(crate) fn unreachable_response(format: ErrorFormat) -> LocalResponse {
    format.answer(
        502,
        "the origin could not be reached, try again later",
        "origin_unreachable",
    )
}

/// Whether the runtime's `Headers` sets `value` byte for byte: visible ASCII, spaces and tabs
/// inside (a JS string's chars above `~` would be sent as other bytes, or refused), nothing
/// it trims at either end.
/// Whether `name` is a header name (RFC 9110 `token`: visible ASCII but delimiters). The
/// rule `http::HeaderName::from_bytes` applies, without the copy it makes of a custom name.
fn header_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn header_value_ok(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
        && !value.starts_with([' ', '\t'])
        && !value.ends_with([' ', '\t'])
}

/// Whether a header value the entry handed in can go back as it came. workerd hands JS a
/// header value decoded as UTF-8 and encodes a value JS sets as UTF-8, so any text goes
/// back as the bytes it came from (a byte that was not UTF-8, which JS saw as U+FFFD, goes
/// back as U+FFFD's bytes: no worker can read the original); refused: a line break or NUL,
/// whitespace at an end (the runtime would trim it).
fn js_header_value_ok(value: &str) -> bool {
    !value.contains(['\0', '\r', '\n'])
        && !value.starts_with([' ', '\t'])
        && !value.ends_with([' ', '\t'])
}

/// A reply field [`Reply::encode`] refuses: the entry could not carry it out as meant, and a
/// line break in it would let the rest of the field pass for other lines of the reply.
///
/// ```
/// use remote_user_filter::edge::wire::WireError;
/// assert_eq!(WireError::Target.to_string(), "the target URL holds a control character");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The URL to forward to holds a control character (the URL parser would drop or
    /// refuse it).
    #[error("the target URL holds a control character")]
    Target,
    /// The `Set-Cookie` value is empty, not ASCII, holds a control character other than tab
    /// or has whitespace at an end.
    #[error(
        "the Set-Cookie value is empty, not ASCII, or holds a control character or \
         whitespace at an end"
    )]
    SetCookie,
    /// The forwarded `Cookie` value holds a line break, a NUL, or whitespace at an end.
    #[error("the forwarded Cookie header holds a line break, a NUL or whitespace at an end")]
    Cookie,
    /// Not a header name (empty, a tab, a line break, a separator, not ASCII).
    #[error("{0:?} is not a header name")]
    HeaderName(String),
    /// The value of the named header is not ASCII, holds a control character other than tab
    /// or has whitespace at an end.
    #[error(
        "the value of header `{0}` is not ASCII, or holds a control character or whitespace \
         at an end"
    )]
    HeaderValue(String),
}

/// What the worker answers instead of a reply [`Reply::encode`] refused (the log says which
/// field): a plain-text 500, not cached, framed by hand so that it cannot fail in turn.
///
/// ```
/// use remote_user_filter::edge::wire::UNFRAMED_REPLY;
/// assert!(UNFRAMED_REPLY.starts_with("R\n500\n"));
/// ```
pub const UNFRAMED_REPLY: &str = "R\n500\n\n\n\
    Content-Type\ttext/plain; charset=utf-8\n\
    Cache-Control\tno-store\n\
    X-Content-Type-Options\tnosniff\n\n\
    remote-user-filter: internal error: the reply could not be framed; the worker's log says why\n";

/// A plain-text line for a response to `error`, if it is the operator's concern (a backend,
/// key or configuration failure): [`AuthError::detail`] after the crate's name. A client's
/// bad request has none. No secrets. (The stock worker logs the refusal event instead, whose
/// `detail` this is.)
///
/// ```
/// use remote_user_filter::{edge::wire::log_line, AuthError};
/// assert!(log_line(&AuthError::MissingIdentity).is_none());
/// assert_eq!(
///     log_line(&AuthError::KeysUnavailable("no keys".into())).as_deref(),
///     Some("remote-user-filter: gateway keys unavailable: no keys")
/// );
/// ```
pub fn log_line(error: &AuthError) -> Option<String> {
    error
        .detail()
        .map(|detail| format!("remote-user-filter: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_name_ok_is_the_http_crates_rule() {
        let mut names: Vec<String> = (0..=0x7f_u8)
            .map(|b| format!("x{}y", char::from(b)))
            .collect();
        names.extend(
            [
                "",
                "x-remote-user",
                "X-Remote-User",
                "x remote",
                "x\tuser",
                "é",
            ]
            .map(String::from),
        );
        for name in names {
            assert_eq!(
                header_name_ok(&name),
                HeaderName::from_bytes(name.as_bytes()).is_ok(),
                "{name:?}"
            );
        }
    }

    /// workerd gives JS a header value decoded as UTF-8, a byte that is not UTF-8 as U+FFFD
    /// (seen in the soak: `u1\xe9@…` logged in as `u1?@…`; `josé@…` was refused).
    #[test]
    fn header_values_are_utf8_and_a_replacement_char_stays_not_utf8() {
        let value = |s: &str| header_value(s).map(|v| v.as_bytes().to_vec());
        assert_eq!(
            value("jos\u{e9}@example.com"),
            Some("josé@example.com".into())
        );
        assert_eq!(value("z\u{1F600}"), Some("z\u{1F600}".into()));
        for bad in ["u1\u{fffd}@x", "\u{fffd}\u{fffd}@x"] {
            let bytes = value(bad).unwrap();
            assert!(std::str::from_utf8(&bytes).is_err(), "{bad:?} -> {bytes:?}");
        }
        // Two different invalid names never become one valid name.
        assert!(!value("u1\u{fffd}@x").unwrap().contains(&b'?'));
        assert_eq!(value("a\u{1}"), None);
    }
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
             cf-access-authenticated-user-email\n\
             cookie\tauthorization\tproxy-authorization\tx-http-method-override\tx-http-method\t\
             x-method-override\tcontent-length\tcontent-type\tcontent-encoding\ttransfer-encoding\n\
             accept\tsec-fetch-dest\tx-requested-with"
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
                preflight: false,
            };
            Reply::new(
                outcome,
                "https://a.example/",
                Some("__Host-remote-user-session=t"),
                &UpstreamHeaders::default(),
                None,
                &HeaderMap::new(),
            )
            .encode()
            .unwrap()
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
            preflight: false,
        };
        let reply = Reply::new(
            anonymous,
            "https://a.example/",
            None,
            &UpstreamHeaders::default(),
            None,
            &HeaderMap::new(),
        );
        assert_eq!(reply.encode().unwrap(), "F\nhttps://a.example/\n\n\n\n");
    }

    #[test]
    fn a_preflight_goes_on_bare() {
        let outcome = Outcome::Forward {
            user: None,
            set_cookie: None,
            gateway_headers: false,
            preflight: true,
        };
        let reply = Reply::new(
            outcome,
            "https://a.example/x?y",
            Some("a=1; __Host-remote-user-session=t"),
            &UpstreamHeaders::default(),
            Some("http://origin"),
            &HeaderMap::new(),
        );
        // Every cookie removed, the bare flag set.
        assert_eq!(reply.encode().unwrap(), "F\nhttp://origin/x?y\n\n-\n\nP");
        for name in [
            "cookie",
            "Authorization",
            "proxy_authorization",
            "X-HTTP-Method-Override",
            "x_http_method",
            "X-Method-Override",
            "content-length",
            "Content-Type",
            "transfer-encoding",
        ] {
            assert!(preflight_drops(name), "{name}");
        }
        for name in [
            "origin",
            "access-control-request-method",
            "access-control-request-headers",
            "accept",
            "user-agent",
            "x-http-method-overridden",
        ] {
            assert!(!preflight_drops(name), "{name}");
        }
        // Not a preflight: no flag, the cookie as before.
        let outcome = Outcome::Forward {
            user: None,
            set_cookie: None,
            gateway_headers: false,
            preflight: false,
        };
        let reply = Reply::new(
            outcome,
            "https://a.example/x",
            Some("a=1"),
            &UpstreamHeaders::default(),
            None,
            &HeaderMap::new(),
        );
        assert_eq!(reply.encode().unwrap(), "F\nhttps://a.example/x\n\n\n\n");
    }

    #[test]
    fn a_refusal_is_written_in_the_form_the_request_asks_for() {
        for (accept, content_type, body_starts) in [
            (None, "text/plain; charset=utf-8", "authentication required"),
            (
                Some("*/*"),
                "text/plain; charset=utf-8",
                "authentication required",
            ),
            (Some("application/json"), "application/json", "{\"error\":"),
            (
                Some("text/html"),
                "text/html; charset=utf-8",
                "<!doctype html>",
            ),
        ] {
            let mut request = HeaderMap::new();
            if let Some(accept) = accept {
                request.insert(http::header::ACCEPT, accept.parse().unwrap());
            }
            let outcome = Outcome::Respond {
                error: AuthError::MissingIdentity,
                set_cookie: Some("s=; Max-Age=0".into()),
            };
            let reply = Reply::new(
                outcome,
                "https://a.example/",
                None,
                &UpstreamHeaders::default(),
                None,
                &request,
            );
            let Reply::Respond {
                status,
                set_cookie,
                headers,
                body,
            } = &reply
            else {
                panic!("{reply:?}")
            };
            assert_eq!(
                (*status, set_cookie.as_deref()),
                (401, Some("s=; Max-Age=0"))
            );
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(header("content-type"), Some(content_type), "{accept:?}");
            assert_eq!(header("x-content-type-options"), Some("nosniff"));
            assert_eq!(header("cache-control"), Some("no-store"));
            assert_eq!(header("www-authenticate"), Some("RemoteUser"));
            assert!(body.starts_with(body_starts), "{accept:?}: {body}");
            assert!(reply.encode().is_ok());
        }
    }

    #[test]
    fn an_unsettled_refusal_round_trips_and_settles_in_each_form() {
        let removal = "__Host-remote-user-session=; Max-Age=0; Path=/";
        let error = AuthError::Backend(crate::BackendError::Other {
            status: 403,
            message: "line one\nline <two>\n".into(),
        });
        let unsettled = Unsettled::new(&error, Some(removal.into()));
        let text = unsettled.encode().unwrap();
        assert_eq!(
            text,
            format!("N\n403\n{removal}\nbackend_error\nline one\nline <two>\n")
        );
        assert_eq!(Unsettled::decode(&text), Some(unsettled.clone()));
        for (format, content_type) in [
            (ErrorFormat::Text, "text/plain; charset=utf-8"),
            (ErrorFormat::Json, "application/json"),
            (ErrorFormat::Html, "text/html; charset=utf-8"),
        ] {
            // Settled, it is what the refusal would have been had the headers been read.
            let settled = unsettled.clone().settle(format);
            assert_eq!(settled, Reply::error(&error, Some(removal.into()), format));
            let Reply::Respond {
                status,
                set_cookie,
                headers,
                ..
            } = &settled
            else {
                panic!("{settled:?}")
            };
            assert_eq!((*status, set_cookie.as_deref()), (403, Some(removal)));
            assert!(headers.contains(&("Content-Type", content_type.to_owned())));
            assert!(settled.encode().is_ok());
        }
        for garbage in ["", "N", "N\nx\n\nr\nm", "R\n401\n\nr\nm", "N\n401\n\nr"] {
            assert_eq!(Unsettled::decode(garbage), None, "{garbage:?}");
        }
        let bad_cookie = Unsettled::new(&AuthError::Rejected, Some("s=1\nx".into()));
        assert_eq!(bad_cookie.encode(), Err(WireError::SetCookie));
    }

    fn forward(target: &str, set_cookie: Option<&str>, cookie: CookieAction) -> Reply {
        Reply::Forward {
            target: target.into(),
            set_cookie: set_cookie.map(Into::into),
            cookie,
            headers: vec![("x-remote-user".into(), "ann".into())],
            gateway_headers: false,
            preflight: false,
        }
    }

    fn with_header(name: &str, value: &str) -> Reply {
        Reply::Forward {
            target: "https://a.example/".into(),
            set_cookie: None,
            cookie: CookieAction::Keep,
            headers: vec![(name.into(), value.into())],
            gateway_headers: false,
            preflight: false,
        }
    }

    #[test]
    fn encode_refuses_a_target_or_cookie_that_would_break_the_framing() {
        let keep = CookieAction::Keep;
        for target in [
            "https://a.example/\nx",
            "https://a.example/\r",
            "https://a\t.example/",
            "\0",
        ] {
            assert_eq!(
                forward(target, None, keep.clone()).encode(),
                Err(WireError::Target),
                "{target:?}"
            );
        }
        assert!(
            forward("https://b\u{fc}cher.example/?q=|{}", None, keep.clone())
                .encode()
                .is_ok()
        );
        for set_cookie in ["s=1\nx-admin\t1", "s=1\r", "s=\u{e9}", "", " s=1", "s=1\t"] {
            assert_eq!(
                forward("https://a.example/", Some(set_cookie), keep.clone()).encode(),
                Err(WireError::SetCookie),
                "{set_cookie:?}"
            );
        }
        for cookie in ["a=1\nb=2", "a=1\r", "a=\0", "a=1 ", "\ta=1"] {
            let action = CookieAction::Set(cookie.into());
            assert_eq!(
                forward("https://a.example/", None, action).encode(),
                Err(WireError::Cookie),
                "{cookie:?}"
            );
        }
        // Any text goes back (workerd sets it as the UTF-8 it was decoded from), U+FFFD too.
        let text = "a=caf\u{e9}; b=\u{4f8b}; c=\u{fffd}";
        let reply = forward("https://a.example/", None, CookieAction::Set(text.into()))
            .encode()
            .unwrap();
        assert!(reply.contains(&format!("\n={text}\n")), "{reply:?}");
    }

    #[test]
    fn encode_refuses_a_header_that_would_break_the_framing() {
        for name in [
            "x-remote\tuser",
            "x-remote-user\nx-admin",
            "",
            "x remote",
            "x-\u{e9}",
            "x:y",
        ] {
            assert_eq!(
                with_header(name, "ann").encode(),
                Err(WireError::HeaderName(name.into())),
                "{name:?}"
            );
        }
        for value in [
            "ann\nx-admin\t1",
            "ann\r",
            "ann\0",
            "Jos\u{e9}",
            " ann",
            "ann ",
            "ann\t",
            "\x7f",
        ] {
            assert_eq!(
                with_header("x-remote-user", value).encode(),
                Err(WireError::HeaderValue("x-remote-user".into())),
                "{value:?}"
            );
        }
        for value in ["", "a b", "a\tb", "a%0Ab", "!~"] {
            assert!(
                with_header("x-remote-user", value).encode().is_ok(),
                "{value:?}"
            );
        }
        let respond = Reply::Respond {
            status: 401,
            set_cookie: None,
            headers: vec![("WWW-Authenticate", "RemoteUser\nx".into())],
            body: "b".into(),
        };
        assert_eq!(
            respond.encode(),
            Err(WireError::HeaderValue("WWW-Authenticate".into()))
        );
    }

    #[test]
    fn hostile_identities_are_percent_encoded_so_never_refused() {
        let user = SessionUser {
            username: " \tann\r\nx-admin\t1 ".into(),
            email: Some("a\tb@ex\u{e4}mple.com\n".into()),
            groups: vec![
                String::new(),
                "ops\tteam".into(),
                "d\u{e9}v\r\n".into(),
                " ".into(),
            ],
            backend: "KvUserBackend".into(),
        };
        let outcome = Outcome::Forward {
            user: Some(user),
            set_cookie: None,
            gateway_headers: false,
            preflight: false,
        };
        let reply = Reply::new(
            outcome,
            "https://a.example/",
            None,
            &UpstreamHeaders::default(),
            None,
            &HeaderMap::new(),
        );
        let encoded = reply.encode().unwrap();
        assert_eq!(
            encoded,
            "F\nhttps://a.example/\n\n\n\
             x-remote-user\t%20%09ann%0D%0Ax-admin%091%20\n\
             x-remote-user-email\ta%09b@ex%C3%A4mple.com%0A\n\
             x-remote-user-groups\t,ops%09team,d%C3%A9v%0D%0A,%20\n\n"
        );
    }

    #[test]
    fn the_unframed_reply_is_a_well_framed_500() {
        let reply = Reply::Respond {
            status: 500,
            set_cookie: None,
            headers: vec![
                ("Content-Type", "text/plain; charset=utf-8".into()),
                ("Cache-Control", "no-store".into()),
                ("X-Content-Type-Options", "nosniff".into()),
            ],
            body: "remote-user-filter: internal error: the reply could not be framed; \
                   the worker's log says why\n"
                .into(),
        };
        assert_eq!(reply.encode().as_deref(), Ok(UNFRAMED_REPLY));
    }

    #[test]
    fn a_url_with_no_path_uri_reads_is_answered_400_not_forwarded() {
        let outcome = || Outcome::Forward {
            user: None,
            set_cookie: Some("s=1".into()),
            gateway_headers: false,
            preflight: false,
        };
        let upstream = UpstreamHeaders::default();
        let origin = Some("http://origin");
        let long = format!("https://app.example/{}", "a".repeat(70_000));
        for url in ["not a url", long.as_str()] {
            let reply = Reply::new(outcome(), url, None, &upstream, origin, &HeaderMap::new());
            let Reply::Respond {
                status, set_cookie, ..
            } = &reply
            else {
                panic!("{reply:?}")
            };
            assert_eq!((*status, set_cookie.as_deref()), (400, Some("s=1")));
            assert!(reply.encode().is_ok());
            // Without ORIGIN_URL too: a path with no canonical form is not forwarded.
            let reply = Reply::new(outcome(), url, None, &upstream, None, &HeaderMap::new());
            assert!(
                matches!(reply, Reply::Respond { status: 400, .. }),
                "{reply:?}"
            );
        }
        // Read with its stray characters percent-encoded, as `request_parts` read it.
        let url = "https://app.example/a`b";
        assert!(request_parts("GET", url, HeaderMap::new()).is_ok());
        let reply = Reply::new(outcome(), url, None, &upstream, origin, &HeaderMap::new());
        assert!(
            matches!(&reply, Reply::Forward { target, .. } if target == "http://origin/a%60b"),
            "{reply:?}"
        );
    }
}
