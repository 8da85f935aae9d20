//! Content negotiation, as small as the worker needs it: which of a few media types a
//! request's `Accept` prefers (RFC 9110 §12.5.1: q-values, `type/*`, `*/*`, the most
//! specific range deciding; between equals, the range listed first, as Express's
//! `negotiator` reads it), and the form a refusal is answered in ([`ErrorFormat`]): JSON to
//! scripts and to `Accept: application/json`, a small page to browsers, plain text otherwise.
//!
//! ```
//! use remote_user_filter::negotiate::{preferred, ErrorFormat};
//! use remote_user_filter::AuthError;
//!
//! let mut headers = http::HeaderMap::new();
//! headers.insert("accept", "application/json;q=0, text/html".parse().unwrap());
//! assert_eq!(preferred(&headers, &["application/json", "text/html"]), Some("text/html"));
//!
//! let page = ErrorFormat::negotiate(&headers).respond(&AuthError::MissingIdentity);
//! assert_eq!(page.status(), 401);
//! assert_eq!(page.header_value("content-type"), Some("text/html; charset=utf-8"));
//! assert_eq!(page.header_value("x-content-type-options"), Some("nosniff"));
//! ```
//!
//! Hand-written rather than a crate's: the worker needs one question answered (which of two
//! or three types): about 150 lines, which allocate nothing.

use http::header::ACCEPT;
use http::HeaderMap;

use crate::chain::LocalResponse;
use crate::error::AuthError;

/// The request headers a refusal's form is decided on: `accept`, `sec-fetch-dest` and
/// `x-requested-with`. The worker reads them only for a refusal (a forwarded request does
/// not pay for them): the JS entry sends them in when the chain's own headers cannot settle
/// the form ([`Unsettled`](crate::edge::wire::Unsettled)).
///
/// ```
/// assert_eq!(remote_user_filter::negotiate::NEGOTIATION_HEADERS[0], "accept");
/// ```
pub const NEGOTIATION_HEADERS: [&str; 3] = ["accept", "sec-fetch-dest", "x-requested-with"];

/// The policy of every page the worker answers with: no script, no outside resource, only its
/// own inline style.
pub(crate) const PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'";

/// One media range of an `Accept` field, with its weight in thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range<'a> {
    kind: &'a str,
    subtype: &'a str,
    q: u16,
}

impl<'a> Range<'a> {
    /// `type/subtype` (or `type/*`, `*/*`) and its parameters; `None` for anything else,
    /// and for a range whose `q` is not a qvalue (`0` to `1` with at most three decimals).
    fn parse(item: &'a str) -> Option<Self> {
        let mut pieces = Split::new(item, b';');
        let (kind, subtype) = pieces.next()?.trim().split_once('/')?;
        if !token(kind) || !token(subtype) || (kind == "*" && subtype != "*") {
            return None;
        }
        let mut q = 1000;
        for param in pieces {
            let Some((name, value)) = param.split_once('=') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("q") {
                q = qvalue(value.trim())?;
                // What follows the weight is an extension, not the media type's.
                break;
            }
        }
        Some(Self { kind, subtype, q })
    }

    /// How specifically this range names `kind/subtype`: 3 exactly, 2 by `type/*`, 1 by
    /// `*/*`; 0 when it does not cover it.
    fn specificity(&self, kind: &str, subtype: &str) -> u8 {
        match (self.kind, self.subtype) {
            ("*", "*") => 1,
            (k, "*") if k.eq_ignore_ascii_case(kind) => 2,
            (k, s) if k.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(subtype) => 3,
            _ => 0,
        }
    }
}

/// Whether `s` is an RFC 9110 token (a media type's type or subtype).
fn token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A qvalue in thousandths: `0`, `0.5`, `0.125`, `1`, `1.000`; `None` for anything else.
fn qvalue(s: &str) -> Option<u16> {
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths = 0;
    for (i, scale) in [100, 10, 1].into_iter().enumerate() {
        if let Some(digit) = fraction.as_bytes().get(i) {
            thousandths += u16::from(digit - b'0') * scale;
        }
    }
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// The items of a list split at `delim`, a quoted string (`"a,b"`, with `\` escapes) kept
/// whole; empty items are skipped.
struct Split<'a> {
    rest: &'a str,
    delim: u8,
}

impl<'a> Split<'a> {
    fn new(text: &'a str, delim: u8) -> Self {
        Self { rest: text, delim }
    }
}

impl<'a> Iterator for Split<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let (mut quoted, mut escaped) = (false, false);
            let mut end = self.rest.len();
            for (i, b) in self.rest.bytes().enumerate() {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' if quoted => escaped = true,
                    b'"' => quoted = !quoted,
                    b if b == self.delim && !quoted => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            let item = &self.rest[..end];
            self.rest = self.rest.get(end + 1..).unwrap_or("");
            if !item.trim().is_empty() {
                return Some(item);
            }
        }
    }
}

/// Every media range of every `Accept` field line, in order (lines that are not ASCII and
/// ranges that do not parse are left out).
fn ranges(headers: &HeaderMap) -> impl Iterator<Item = Range<'_>> {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| Split::new(value, b','))
        .filter_map(Range::parse)
}

/// How the request's `Accept` rates one media type: the weight (thousandths), how
/// specifically the deciding range names it (3 exactly, 2 `type/*`, 1 `*/*`, 0 no `Accept`)
/// and where that range stands in the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rating {
    q: u16,
    specificity: u8,
    position: usize,
}

impl Rating {
    /// Whether this rating beats `other`: a higher weight, then a more specific range, then
    /// one listed earlier.
    fn beats(&self, other: &Rating) -> bool {
        (self.q, self.specificity, std::cmp::Reverse(self.position))
            > (
                other.q,
                other.specificity,
                std::cmp::Reverse(other.position),
            )
    }
}

/// The rating of `media_type` (`type/subtype`): the most specific range that covers it
/// decides (the highest weight, if several are as specific); none does: weight 0. A request
/// with no `Accept` (or none that parses) takes anything: weight 1000.
fn rating(headers: &HeaderMap, media_type: &str) -> Rating {
    let (kind, subtype) = media_type.split_once('/').unwrap_or((media_type, ""));
    let mut any = false;
    let mut best: Option<Rating> = None;
    for (position, range) in ranges(headers).enumerate() {
        any = true;
        let specificity = range.specificity(kind, subtype);
        if specificity == 0 {
            continue;
        }
        let candidate = Rating {
            q: range.q,
            specificity,
            position,
        };
        best = match best {
            Some(b)
                if b.specificity > specificity
                    || (b.specificity == specificity && b.q >= range.q) =>
            {
                Some(b)
            }
            _ => Some(candidate),
        };
    }
    best.unwrap_or(Rating {
        q: if any { 0 } else { 1000 },
        specificity: 0,
        position: 0,
    })
}

/// How much the request's `Accept` wants `media_type` (`type/subtype`), in thousandths: the
/// weight of the most specific range that covers it (the highest, if several are as
/// specific), 0 if none does. A request with no `Accept` (or none that parses) takes
/// anything: 1000.
///
/// ```
/// use remote_user_filter::negotiate::quality;
/// let mut headers = http::HeaderMap::new();
/// assert_eq!(quality(&headers, "application/json"), 1000);
/// headers.insert("accept", "text/*;q=0.5, text/html;q=0, */*;q=0.1".parse().unwrap());
/// assert_eq!(quality(&headers, "text/html"), 0);
/// assert_eq!(quality(&headers, "text/plain"), 500);
/// assert_eq!(quality(&headers, "application/json"), 100);
/// ```
pub fn quality(headers: &HeaderMap, media_type: &str) -> u16 {
    rating(headers, media_type).q
}

/// Of `offers` (media types, most preferred first), the one the request's `Accept` wants
/// most: the highest weight, then the one named by a more specific range, then by a range
/// listed earlier (`application/json, text/plain` prefers JSON), then the earlier offer
/// (`*/*`, or no `Accept`, gets the first); `None` when it refuses them all (`q=0`, or not
/// listed).
///
/// ```
/// use remote_user_filter::negotiate::preferred;
/// let offers = ["application/json", "text/html"];
/// let accept = |value: &str| {
///     let mut headers = http::HeaderMap::new();
///     headers.insert("accept", value.parse().unwrap());
///     preferred(&headers, &offers)
/// };
/// assert_eq!(preferred(&http::HeaderMap::new(), &offers), Some("application/json"));
/// assert_eq!(accept("*/*"), Some("application/json"));
/// assert_eq!(accept("text/html,application/xhtml+xml,*/*;q=0.8"), Some("text/html"));
/// assert_eq!(accept("application/json;q=0, text/html"), Some("text/html"));
/// assert_eq!(accept("application/json;q=0"), None);
/// ```
pub fn preferred<'o>(headers: &HeaderMap, offers: &[&'o str]) -> Option<&'o str> {
    let mut best: Option<(&'o str, Rating)> = None;
    for &offer in offers {
        let rated = rating(headers, offer);
        if rated.q > 0 && best.is_none_or(|(_, b)| rated.beats(&b)) {
            best = Some((offer, rated));
        }
    }
    best.map(|(offer, _)| offer)
}

/// The form a refusal (or any answer the worker gives instead of the origin's) is written in,
/// as the client asked: [`negotiate`](Self::negotiate).
///
/// ```
/// use remote_user_filter::negotiate::ErrorFormat;
/// assert_eq!(ErrorFormat::negotiate(&http::HeaderMap::new()), ErrorFormat::Text);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorFormat {
    /// `text/plain`: the message and a line break (curl, scripts that ask for nothing).
    #[default]
    Text,
    /// `application/json`: `{"error": message, "status": n, "reason": code}`.
    Json,
    /// `text/html`: a small page, the message HTML-escaped, under a policy that runs no
    /// script and loads nothing.
    Html,
}

impl ErrorFormat {
    /// The form for a request with these headers. The one `Accept` prefers among
    /// `text/plain`, `application/json` and `text/html` ([`preferred`]), and on a tie (`*/*`,
    /// or no `Accept`): JSON for a script (`Sec-Fetch-Dest: empty`, which browsers send on
    /// `fetch` and `XMLHttpRequest`, or `X-Requested-With: XMLHttpRequest`, which jQuery and
    /// others add), else plain text. Nothing acceptable: plain text, as before.
    ///
    /// ```
    /// use remote_user_filter::negotiate::ErrorFormat;
    /// let form = |pairs: &[(&'static str, &'static str)]| {
    ///     let mut headers = http::HeaderMap::new();
    ///     for (name, value) in pairs {
    ///         headers.append(*name, value.parse().unwrap());
    ///     }
    ///     ErrorFormat::negotiate(&headers)
    /// };
    /// assert_eq!(form(&[("accept", "*/*")]), ErrorFormat::Text);
    /// assert_eq!(form(&[("accept", "application/json")]), ErrorFormat::Json);
    /// assert_eq!(form(&[("accept", "*/*"), ("sec-fetch-dest", "empty")]), ErrorFormat::Json);
    /// assert_eq!(form(&[("x-requested-with", "XMLHttpRequest")]), ErrorFormat::Json);
    /// assert_eq!(form(&[("accept", "text/html,*/*;q=0.8"), ("sec-fetch-dest", "document")]), ErrorFormat::Html);
    /// // A script that asks for HTML (htmx, say) gets HTML.
    /// assert_eq!(form(&[("accept", "text/html"), ("sec-fetch-dest", "empty")]), ErrorFormat::Html);
    /// assert_eq!(form(&[("accept", "image/png")]), ErrorFormat::Text);
    /// ```
    pub fn negotiate(headers: &HeaderMap) -> Self {
        let script = headers
            .get("sec-fetch-dest")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"empty"))
            || headers
                .get("x-requested-with")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"XMLHttpRequest"));
        Self::by_accept(headers, script)
    }

    /// The form `Accept` alone decides, whether the caller is a script or not; `None` when
    /// that is what decides (`*/*`, or no `Accept`: JSON for a script, plain text else). A
    /// host that read `Accept` but not yet `Sec-Fetch-Dest` and `X-Requested-With` knows
    /// from this whether it needs them.
    ///
    /// ```
    /// use remote_user_filter::negotiate::ErrorFormat;
    /// let accept = |value: &'static str| {
    ///     let mut headers = http::HeaderMap::new();
    ///     headers.insert("accept", value.parse().unwrap());
    ///     ErrorFormat::from_accept(&headers)
    /// };
    /// assert_eq!(accept("text/html,*/*;q=0.8"), Some(ErrorFormat::Html));
    /// assert_eq!(accept("application/json"), Some(ErrorFormat::Json));
    /// assert_eq!(accept("*/*"), None);
    /// assert_eq!(ErrorFormat::from_accept(&http::HeaderMap::new()), None);
    /// ```
    pub fn from_accept(headers: &HeaderMap) -> Option<Self> {
        let plain = Self::by_accept(headers, false);
        (plain == Self::by_accept(headers, true)).then_some(plain)
    }

    /// The form `Accept` prefers, ties going to JSON for a `script`, else to plain text.
    fn by_accept(headers: &HeaderMap, script: bool) -> Self {
        const TEXT: &str = "text/plain";
        const JSON: &str = "application/json";
        const HTML: &str = "text/html";
        let offers = if script {
            [JSON, TEXT, HTML]
        } else {
            [TEXT, JSON, HTML]
        };
        match preferred(headers, &offers) {
            Some(JSON) => Self::Json,
            Some(HTML) => Self::Html,
            _ => Self::Text,
        }
    }

    /// The answer to `error` in this form: its status, `Cache-Control: no-store`,
    /// `X-Content-Type-Options: nosniff`, a `WWW-Authenticate` challenge on a 401, and its
    /// message (a configuration error's without any value the operator configured: the log
    /// has those).
    ///
    /// ```
    /// use remote_user_filter::{negotiate::ErrorFormat, AuthError};
    /// let r = ErrorFormat::Json.respond(&AuthError::Rejected);
    /// assert_eq!(r.body(), r#"{"error":"forbidden: this identity may not sign in here","status":403,"reason":"rejected"}"#);
    /// let r = ErrorFormat::Text.respond(&AuthError::Rejected);
    /// assert_eq!(r.body(), "forbidden: this identity may not sign in here\n");
    /// assert_eq!(r.header_value("cache-control"), Some("no-store"));
    /// ```
    pub fn respond(self, error: &AuthError) -> LocalResponse {
        self.answer(error.status(), &message(error), error.reason())
    }

    /// An answer with `status` saying `message`, `reason` its stable code (the refusal
    /// event's), in this form, with the headers of [`respond`](Self::respond).
    ///
    /// ```
    /// use remote_user_filter::negotiate::ErrorFormat;
    /// let r = ErrorFormat::Html.answer(502, "the origin could not be reached <now>", "origin_unreachable");
    /// assert!(r.body().contains("<title>502 Bad Gateway</title>"));
    /// assert!(r.body().contains("the origin could not be reached &lt;now&gt;"));
    /// ```
    pub fn answer(self, status: u16, message: &str, reason: &str) -> LocalResponse {
        let (content_type, body) = match self {
            Self::Text => ("text/plain; charset=utf-8", format!("{message}\n")),
            Self::Json => ("application/json", json_body(status, message, reason)),
            Self::Html => ("text/html; charset=utf-8", page(status, message)),
        };
        let mut response = LocalResponse::new(status, body)
            .header("Content-Type", content_type)
            .header("Cache-Control", "no-store")
            .header("X-Content-Type-Options", "nosniff");
        if self == Self::Html {
            response = response.header("Content-Security-Policy", PAGE_POLICY);
        }
        if status == 401 {
            response = response.header("WWW-Authenticate", "RemoteUser");
        }
        response
    }
}

/// What a client is told of `error`: its message; a configuration error's without any value
/// the operator configured (the log has those).
pub(crate) fn message(error: &AuthError) -> String {
    match error {
        AuthError::Config(e) => format!(
            "configuration error: {}; the worker's log has the details",
            e.redacted()
        ),
        other => other.to_string(),
    }
}

/// `{"error": message, "status": n, "reason": code}`.
fn json_body(status: u16, message: &str, reason: &str) -> String {
    // A string serializes without fail; serde_json's string writer is linked anyway.
    let string = |text: &str| serde_json::to_string(text).unwrap_or_default();
    format!(
        "{{\"error\":{},\"status\":{status},\"reason\":{}}}",
        string(message),
        string(reason)
    )
}

/// The reason phrase of the statuses the worker answers with itself (the `http` crate's
/// table of them all costs the worker more than the page does).
fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// A small page: the status as its title and heading, the message escaped.
fn page(status: u16, message: &str) -> String {
    let title = match reason_phrase(status) {
        "" => status.to_string(),
        reason => format!("{status} {reason}"),
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;margin:3em auto;max-width:36em;padding:0 1em}}</style>\
         </head><body>\n<h1>{title}</h1>\n<p id=\"error\">{}</p>\n</body></html>\n",
        escape_html(message)
    )
}

/// Text safe inside HTML text and quoted attributes.
///
/// ```
/// # use remote_user_filter::negotiate::escape_html;
/// assert_eq!(escape_html("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
/// ```
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(ACCEPT, value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn reason_phrases_are_the_http_crates() {
        for status in [400, 401, 403, 404, 405, 406, 500, 502, 503, 504] {
            let canonical = http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason());
            assert_eq!(Some(reason_phrase(status)), canonical, "{status}");
        }
        assert_eq!(reason_phrase(599), "");
        assert!(page(599, "x").contains("<title>599</title>"));
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape_html("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
        assert_eq!(escape_html("ann@example.com"), "ann@example.com");
    }

    #[test]
    fn qvalues_follow_the_grammar() {
        for (text, q) in [
            ("0", Some(0)),
            ("0.", Some(0)),
            ("0.5", Some(500)),
            ("0.05", Some(50)),
            ("0.125", Some(125)),
            ("1", Some(1000)),
            ("1.000", Some(1000)),
            ("1.001", None),
            ("0.1234", None),
            ("2", None),
            (".5", None),
            ("", None),
            ("-0", None),
            ("0.5x", None),
            ("1e0", None),
        ] {
            assert_eq!(qvalue(text), q, "{text:?}");
        }
    }

    #[test]
    fn q_zero_refuses_and_the_most_specific_range_decides() {
        let h = accept(&["application/json;q=0, text/html"]);
        assert_eq!(quality(&h, "application/json"), 0);
        assert_eq!(quality(&h, "text/html"), 1000);
        // Not listed, no wildcard: refused.
        assert_eq!(quality(&h, "text/plain"), 0);
        let h = accept(&["*/*;q=0.9, application/*;q=0, application/json;q=0.3"]);
        assert_eq!(quality(&h, "application/json"), 300);
        assert_eq!(quality(&h, "application/xml"), 0);
        assert_eq!(quality(&h, "text/plain"), 900);
        // Order does not matter, only specificity.
        let h = accept(&["text/html;q=0.2", "*/*"]);
        assert_eq!(quality(&h, "text/html"), 200);
        // Equally specific: the highest weight.
        let h = accept(&["text/html;level=1;q=0, text/html;q=0.7"]);
        assert_eq!(quality(&h, "text/html"), 700);
    }

    #[test]
    fn spelling_is_read_as_http_reads_it() {
        let h = accept(&[" Application/JSON ; Q=0 ,TEXT/HTML;charset=\"a,b;q=0\""]);
        assert_eq!(quality(&h, "application/json"), 0);
        assert_eq!(quality(&h, "text/html"), 1000);
        // Several field lines are one list.
        let h = accept(&["text/plain;q=0", "application/json"]);
        assert_eq!(
            preferred(&h, &["text/plain", "application/json"]),
            Some("application/json")
        );
        // Extension parameters after the weight are not weights.
        let h = accept(&["text/html;q=0.5;q=0"]);
        assert_eq!(quality(&h, "text/html"), 500);
    }

    #[test]
    fn what_does_not_parse_is_left_out() {
        // Nothing usable: as if there were no Accept at all.
        for values in [
            &[""][..],
            &["garbage"],
            &["*/html"],
            &["text/html;q=2"],
            &[",,"],
            &["/"],
        ] {
            let h = accept(values);
            assert_eq!(quality(&h, "text/html"), 1000, "{values:?}");
        }
        // A bad range among good ones is skipped.
        let h = accept(&["text/html;q=x, application/json"]);
        assert_eq!(quality(&h, "text/html"), 0);
        assert_eq!(quality(&h, "application/json"), 1000);
        // A line that is not ASCII is skipped.
        let mut h = HeaderMap::new();
        h.append(
            ACCEPT,
            http::HeaderValue::from_bytes(b"text/\xffhtml").unwrap(),
        );
        h.append(ACCEPT, "application/json".parse().unwrap());
        assert_eq!(quality(&h, "application/json"), 1000);
        assert_eq!(quality(&h, "text/html"), 0);
    }

    #[test]
    fn preferred_breaks_ties_by_specificity_then_the_order_listed_then_offered() {
        let offers = ["text/plain", "application/json", "text/html"];
        assert_eq!(preferred(&accept(&["*/*"]), &offers), Some("text/plain"));
        assert_eq!(preferred(&HeaderMap::new(), &offers), Some("text/plain"));
        // Listed first wins among equals (axios sends this).
        assert_eq!(
            preferred(&accept(&["application/json, text/plain, */*"]), &offers),
            Some("application/json")
        );
        assert_eq!(
            preferred(&accept(&["text/html, application/json"]), &offers),
            Some("text/html")
        );
        // A type named exactly beats one covered by a range.
        assert_eq!(
            preferred(&accept(&["text/*, application/json"]), &offers),
            Some("application/json")
        );
        assert_eq!(
            preferred(&accept(&["*/*, text/html"]), &offers),
            Some("text/html")
        );
        assert_eq!(
            preferred(&accept(&["text/html, application/json;q=0.99"]), &offers),
            Some("text/html")
        );
        assert_eq!(preferred(&accept(&["image/*"]), &offers), None);
    }

    fn form(pairs: &[(&'static str, &'static str)]) -> ErrorFormat {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, value.parse().unwrap());
        }
        ErrorFormat::negotiate(&headers)
    }

    #[test]
    fn each_client_gets_the_form_it_reads() {
        use ErrorFormat::{Html, Json, Text};
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,\
                       image/webp,*/*;q=0.8";
        for (pairs, expected) in [
            // curl, wget, a health check: plain text, as before.
            (&[][..], Text),
            (&[("accept", "*/*")], Text),
            (&[("accept", "text/plain")], Text),
            // Nothing acceptable: plain text all the same (a refusal is never a 406).
            (&[("accept", "image/png")], Text),
            (&[("accept", "application/json")], Json),
            (
                &[("accept", "application/problem+json, application/json")],
                Json,
            ),
            (&[("accept", "application/json, text/plain;q=0.5")], Json),
            (&[("accept", "application/json, text/plain, */*")], Json),
            (&[("accept", "application/json;q=0, text/html")], Html),
            // A browser's navigation.
            (&[("accept", browser), ("sec-fetch-dest", "document")], Html),
            (&[("accept", browser)], Html),
            // fetch() and XMLHttpRequest (Accept: */*): JSON.
            (&[("accept", "*/*"), ("sec-fetch-dest", "empty")], Json),
            (&[("sec-fetch-dest", "EMPTY")], Json),
            (&[("x-requested-with", "XMLHttpRequest")], Json),
            (
                &[
                    ("accept", "application/json, text/javascript, */*; q=0.01"),
                    ("x-requested-with", "XMLHttpRequest"),
                ],
                Json,
            ),
            // A script that asks for something else gets it.
            (
                &[("accept", "text/html"), ("sec-fetch-dest", "empty")],
                Html,
            ),
            (
                &[("accept", "text/plain"), ("sec-fetch-dest", "empty")],
                Text,
            ),
            // Other destinations are not scripts.
            (&[("accept", "*/*"), ("sec-fetch-dest", "image")], Text),
            (
                &[("accept", "*/*"), ("x-requested-with", "com.example.app")],
                Text,
            ),
        ] {
            assert_eq!(form(pairs), expected, "{pairs:?}");
        }
    }

    #[test]
    fn accept_alone_says_when_it_decides() {
        for (values, expected) in [
            (&[][..], None),
            (&["*/*"], None),
            (&["image/png, */*;q=0.5"], None),
            (&["text/plain"], Some(ErrorFormat::Text)),
            (&["image/png"], Some(ErrorFormat::Text)),
            (&["application/json"], Some(ErrorFormat::Json)),
            (&["text/html,*/*;q=0.8"], Some(ErrorFormat::Html)),
            (
                &["application/json, text/plain, */*"],
                Some(ErrorFormat::Json),
            ),
        ] {
            assert_eq!(
                ErrorFormat::from_accept(&accept(values)),
                expected,
                "{values:?}"
            );
            // Whenever it decides, the script headers change nothing.
            if let Some(format) = expected {
                let mut h = accept(values);
                h.insert("sec-fetch-dest", "empty".parse().unwrap());
                assert_eq!(ErrorFormat::negotiate(&h), format, "{values:?}");
            }
        }
    }

    #[test]
    fn every_form_is_not_sniffed_nor_stored() {
        for format in [ErrorFormat::Text, ErrorFormat::Json, ErrorFormat::Html] {
            for error in [
                AuthError::MissingIdentity,
                AuthError::Rejected,
                AuthError::BadRequest("x"),
                AuthError::KeysUnavailable("down".into()),
            ] {
                let r = format.respond(&error);
                assert_eq!(r.status(), error.status());
                assert_eq!(r.header_value("cache-control"), Some("no-store"));
                assert_eq!(r.header_value("x-content-type-options"), Some("nosniff"));
                assert_eq!(
                    r.header_value("www-authenticate").is_some(),
                    error.status() == 401
                );
            }
        }
    }

    #[test]
    fn each_form_carries_the_message() {
        let error = AuthError::PathForbidden {
            path: "/a<b>&\"c'/".into(),
        };
        let message = error.to_string();
        let text = ErrorFormat::Text.respond(&error);
        assert_eq!(text.body(), format!("{message}\n"));
        assert_eq!(
            text.header_value("content-type"),
            Some("text/plain; charset=utf-8")
        );

        let json = ErrorFormat::Json.respond(&error);
        assert_eq!(json.header_value("content-type"), Some("application/json"));
        let value: serde_json::Value = serde_json::from_str(json.body()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"error": message, "status": 403, "reason": "path_forbidden"})
        );

        let html = ErrorFormat::Html.respond(&error);
        assert_eq!(
            html.header_value("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(
            html.header_value("content-security-policy"),
            Some(PAGE_POLICY)
        );
        let body = html.body();
        assert!(body.contains("<title>403 Forbidden</title>"), "{body}");
        assert!(
            body.contains("the rule for `/a&lt;b&gt;&amp;&quot;c&#39;/` does not admit"),
            "{body}"
        );
        assert!(!body.contains("<b>"), "{body}");
    }

    #[test]
    fn a_configuration_error_shows_no_configured_value() {
        let error = AuthError::Config(crate::ConfigError::InvalidSetting {
            setting: "KV_TIMEOUT_MS",
            value: "secret-ish".into(),
            expected: "a number",
        });
        for format in [ErrorFormat::Text, ErrorFormat::Json, ErrorFormat::Html] {
            let r = format.respond(&error);
            assert_eq!(r.status(), 500);
            assert!(
                r.body().contains("KV_TIMEOUT_MS must be a number"),
                "{format:?}"
            );
            assert!(!r.body().contains("secret-ish"), "{format:?}");
        }
    }
}
