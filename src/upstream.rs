//! What the origin receives: trusted identity headers (client-sent copies stripped), the
//! request without our session cookie, at `ORIGIN_URL` when set.
//!
//! ```
//! use remote_user_filter::{SessionUser, UpstreamHeaders};
//!
//! let upstream = UpstreamHeaders::default();
//! let user = SessionUser {
//!     username: "ann".into(),
//!     email: Some("ann@example.com".into()),
//!     groups: vec!["ops".into(), "dev".into()],
//!     backend: "KvUserBackend".into(),
//! };
//! let headers = upstream.identity_headers(&user);
//! assert_eq!(headers[0], ("x-remote-user", "ann".to_string()));
//! assert_eq!(headers[2], ("x-remote-user-groups", "ops,dev".to_string()));
//! ```

use cookie::Cookie;
use http::HeaderName;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use crate::users::SessionUser;

/// The three identity headers set on the forwarded request.
///
/// ```
/// use remote_user_filter::UpstreamHeaders;
/// let h = UpstreamHeaders::new("X-Forwarded-User").unwrap();
/// assert_eq!(h.names(), ["x-forwarded-user", "x-remote-user-email", "x-remote-user-groups"]);
/// assert!(UpstreamHeaders::new("not a header").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamHeaders {
    user: HeaderName,
    email: HeaderName,
    groups: HeaderName,
}

impl Default for UpstreamHeaders {
    fn default() -> Self {
        Self {
            user: HeaderName::from_static("x-remote-user"),
            email: HeaderName::from_static("x-remote-user-email"),
            groups: HeaderName::from_static("x-remote-user-groups"),
        }
    }
}

impl UpstreamHeaders {
    /// Name the user header `user` (`UPSTREAM_USER_HEADER`); `None` if it is not a header name.
    pub fn new(user: &str) -> Option<Self> {
        Some(Self {
            user: HeaderName::from_bytes(user.as_bytes()).ok()?,
            ..Self::default()
        })
    }

    /// The header names, lower-case: every one is removed from the client's request first.
    pub fn names(&self) -> [&str; 3] {
        [
            self.user.as_str(),
            self.email.as_str(),
            self.groups.as_str(),
        ]
    }

    /// The headers to set for `user`: the username always, email and groups when known.
    /// Non-ASCII bytes are percent-encoded, since header values are bytes, not text; so are
    /// control characters (a tab, a line break), `%` itself, and a space at either end (the
    /// runtime would trim it): every value reaches the origin as it is here, and decodes
    /// back to the identity.
    ///
    /// ```
    /// use remote_user_filter::{SessionUser, UpstreamHeaders};
    /// let user = SessionUser {
    ///     username: " Jos\u{e9} 100%\n".into(),
    ///     email: None,
    ///     groups: vec!["a b".into(), "c\td".into()],
    ///     backend: "KvUserBackend".into(),
    /// };
    /// let upstream = UpstreamHeaders::default();
    /// let headers = upstream.identity_headers(&user);
    /// assert_eq!(headers[0].1, "%20Jos%C3%A9 100%25%0A");
    /// assert_eq!(headers[1].1, "a b,c%09d");
    /// ```
    pub fn identity_headers(&self, user: &SessionUser) -> Vec<(&str, String)> {
        let mut out = vec![(self.user.as_str(), header_safe(&user.username))];
        if let Some(email) = &user.email {
            out.push((self.email.as_str(), header_safe(email)));
        }
        if !user.groups.is_empty() {
            out.push((self.groups.as_str(), header_safe(&user.groups.join(","))));
        }
        out
    }
}

/// What [`header_safe`] percent-encodes besides every non-ASCII byte: control characters (a
/// tab, a line break, DEL) and `%` itself, so that the value decodes back to the identity.
const HEADER_UNSAFE: &AsciiSet = &CONTROLS.add(b'%');

/// Visible ASCII and inner spaces stay as they are; anything else is percent-encoded, and so
/// is a space at either end (the runtime's `Headers` would trim it).
fn header_safe(value: &str) -> String {
    let start = usize::from(value.starts_with(' '));
    let end = value.len() - usize::from(value.len() > start && value.ends_with(' '));
    let mut out = String::with_capacity(value.len() + 6);
    if start > 0 {
        out.push_str("%20");
    }
    out.extend(utf8_percent_encode(&value[start..end], HEADER_UNSAFE));
    if end < value.len() {
        out.push_str("%20");
    }
    out
}

/// The URL to forward to: `origin` (no trailing slash) followed by the request's path and
/// query. Joined as text, not with `http::Uri`'s builder: `ORIGIN_URL` may end in a path
/// prefix, which the builder would replace.
///
/// ```
/// use remote_user_filter::origin_url;
/// assert_eq!(origin_url("http://127.0.0.1:8080", "/a/b?c=1"), "http://127.0.0.1:8080/a/b?c=1");
/// assert_eq!(origin_url("https://internal.example/app/", "/a"), "https://internal.example/app/a");
/// ```
pub fn origin_url(origin: &str, path_and_query: &str) -> String {
    let origin = origin.trim_end_matches('/');
    let mut url = String::with_capacity(origin.len() + path_and_query.len());
    url.push_str(origin);
    url.push_str(path_and_query);
    url
}

/// Where a forward goes: `origin` (`ORIGIN_URL`) when set, else the request URL's own
/// scheme and host; then `path`, the canonical path every decision was made on
/// ([`crate::path`]), and the URL's query exactly as sent.
///
/// ```
/// use remote_user_filter::forward_target;
/// let url = "https://app.example.com//%61dmin/./x?q=a%2Fb&x=%61";
/// assert_eq!(forward_target(None, url, "/admin/x"), "https://app.example.com/admin/x?q=a%2Fb&x=%61");
/// assert_eq!(forward_target(Some("http://127.0.0.1:8080/"), url, "/admin/x"), "http://127.0.0.1:8080/admin/x?q=a%2Fb&x=%61");
/// assert_eq!(forward_target(None, "http://[::1]:8787", "/"), "http://[::1]:8787/");
/// ```
pub fn forward_target(origin: Option<&str>, url: &str, path: &str) -> String {
    let (site, query) = split_url(url);
    let origin = origin.unwrap_or(site).trim_end_matches('/');
    let mut target = String::with_capacity(origin.len() + path.len() + query.len());
    target.push_str(origin);
    target.push_str(path);
    target.push_str(query);
    target
}

/// An absolute URL's scheme and authority, and its query with its `?` (empty when none);
/// the fragment is dropped.
fn split_url(url: &str) -> (&str, &str) {
    let url = url.split_once('#').map_or(url, |(before, _)| before);
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let path_at = url[after_scheme..]
        .find(['/', '?'])
        .map_or(url.len(), |i| after_scheme + i);
    let query = url[path_at..].find('?').map_or("", |i| &url[path_at + i..]);
    (&url[..path_at], query)
}

/// The path and query of an absolute URL (`/` when it has no path), without the fragment,
/// as `http::Uri` reads it; `None` when it reads no URI there (the runtime's URLs always are
/// one, but for a host name no DNS name could be, or one past 64 KB).
///
/// ```
/// use remote_user_filter::path_and_query;
/// assert_eq!(path_and_query("https://app.example.com/a/b?c=1#top").as_deref(), Some("/a/b?c=1"));
/// assert_eq!(path_and_query("https://app.example.com").as_deref(), Some("/"));
/// assert_eq!(path_and_query("http://[::1]:8787?x=1").as_deref(), Some("?x=1"));
/// assert_eq!(path_and_query("https://app.example.com/a b"), None);
/// ```
pub fn path_and_query(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    Some(
        uri.path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned(),
    )
}

/// The `Cookie` header without the cookie `name` (the origin never sees the session token);
/// `None` when nothing else is left.
///
/// Cookies are read as the session filter reads them, with `cookie`'s
/// [`Cookie::split_parse`]: a cookie it would take for ours is never forwarded. A header
/// without ours comes back unchanged; one with it is rebuilt from the other cookies as
/// `name=value` pairs (blanks around `=` and `;` dropped), and a piece that is no
/// `name=value` pair (no `=`, an empty name) goes with ours.
///
/// ```
/// use remote_user_filter::strip_cookie;
/// assert_eq!(strip_cookie("a=1; s=tok; b=2", "s").as_deref(), Some("a=1; b=2"));
/// assert_eq!(strip_cookie("s=tok", "s"), None);
/// assert_eq!(strip_cookie("a=1;b=2", "s").as_deref(), Some("a=1;b=2"));
/// ```
pub fn strip_cookie(header: &str, name: &str) -> Option<String> {
    // One pass, each kept cookie written as `name=value` (what its `Display` writes for a
    // cookie with no attributes, without the formatting machinery).
    let mut found = false;
    let mut kept = String::new();
    for cookie in Cookie::split_parse(header).filter_map(Result::ok) {
        if cookie.name() == name {
            found = true;
            continue;
        }
        if !kept.is_empty() {
            kept.push_str("; ");
        }
        kept.push_str(cookie.name());
        kept.push('=');
        kept.push_str(cookie.value());
    }
    if !found {
        return (!header.trim().is_empty()).then(|| header.to_owned());
    }
    (!kept.is_empty()).then_some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule the crate replaced, byte by byte: visible ASCII but `%` as it is, else `%XX`.
    fn by_hand(value: &str) -> String {
        value
            .bytes()
            .map(|b| match b {
                0x20..=0x7e if b != b'%' => char::from(b).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    #[test]
    fn header_safe_encodes_as_the_hand_written_rule_did_inside_the_value() {
        let every_ascii: String = (1..=0x7f_u8).map(char::from).collect();
        for value in [
            format!("x{every_ascii}x"),
            "x\0\u{e9}\u{1F600}\u{7f}%%41 x".to_owned(),
            "a b".to_owned(),
        ] {
            assert_eq!(header_safe(&value), by_hand(&value), "{value:?}");
        }
    }

    #[test]
    fn header_safe_encodes_a_space_at_either_end() {
        for (value, encoded) in [
            ("", ""),
            (" ", "%20"),
            ("  ", "%20%20"),
            ("   ", "%20 %20"),
            (" a", "%20a"),
            ("a ", "a%20"),
            (" a b ", "%20a b%20"),
            ("\ta\t", "%09a%09"),
        ] {
            assert_eq!(header_safe(value), encoded, "{value:?}");
        }
    }

    /// Where `Cookie::split_parse` reads a header differently from the split by hand it
    /// replaced (`;`, trim, name before the first `=`).
    #[test]
    fn strip_cookie_reads_cookies_as_the_session_filter_does() {
        const S: &str = "__Host-remote-user-session";
        for (header, stripped) in [
            // As before.
            (format!("a=1; {S}=t; b=2"), Some("a=1; b=2")),
            (format!("a=1;{S}=t;b=2"), Some("a=1; b=2")),
            (format!(" {S} = t=u ; c=3"), Some("c=3")),
            (format!("{S}=t; {S}=u"), None),
            (format!("{S}=t"), None),
            ("   ".to_owned(), None),
            // Blanks around `=` go once ours is removed (before: `a = 1`).
            (format!("a = 1 ; {S}=t"), Some("a=1")),
            // A piece without a pair goes with ours (before: `foo; =x`).
            (format!("foo; {S}=t; =x"), None),
            (format!("foo; {S}=t; b=\u{e9}"), Some("b=\u{e9}")),
            // Without ours the header is forwarded as sent (before: `a=1; b=2`).
            ("a=1;;  ; b=2".to_owned(), Some("a=1;;  ; b=2")),
            // A bare name is no cookie of ours, as the session filter sees it (before: removed).
            (S.to_owned(), Some(S)),
        ] {
            assert_eq!(strip_cookie(&header, S).as_deref(), stripped, "{header:?}");
        }
    }

    /// The split by hand `http::Uri` replaced.
    fn path_and_query_by_hand(url: &str) -> &str {
        let url = url.split('#').next().unwrap_or(url);
        let after_scheme = url.find("://").map_or(0, |i| i + 3);
        let rest = &url[after_scheme..];
        match rest.find(['/', '?']) {
            Some(i) => &rest[i..],
            None => "/",
        }
    }

    /// Every URL the runtime hands the worker (WHATWG-serialized: what its path and query
    /// may hold unescaped) reads as the split by hand read it.
    #[test]
    fn path_and_query_reads_runtime_urls_as_the_split_by_hand_did() {
        let visible = (0x21..0x7f_u8).map(char::from);
        // The path percent-encode set: space " # < > ? ` { }; the special-query set: space " # < > '.
        let path: String = visible
            .clone()
            .filter(|c| !"\"#<>?`{}".contains(*c))
            .collect();
        let query: String = visible.filter(|c| !"\"#<>'".contains(*c)).collect();
        let hosts = [
            "app.example.com",
            "app.example.com:8443",
            "127.0.0.1:8787",
            "[::1]:8787",
            "xn--bcher-kva.example",
            "a_b.example",
        ];
        for host in hosts {
            for rest in [
                "/".to_owned(),
                format!("/{path}"),
                format!("/{path}?{query}"),
                format!("/p%C3%A9?q=%09&r=%E2%82%AC#{path}"),
                format!("?{query}"),
                String::new(),
                format!("#{path}"),
            ] {
                let url = format!("https://{host}{rest}");
                assert_eq!(
                    path_and_query(&url).as_deref(),
                    Some(path_and_query_by_hand(&url)),
                    "{url}"
                );
            }
        }
    }
}
