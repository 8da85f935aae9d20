//! The canonical request path: the one reading of a request's path that every path decision
//! (public paths, the endpoints, `RULES`) is made on, and the path the origin receives.
//!
//! A check and a router that read one URL two ways is the bug behind the path-normalisation
//! advisories of Envoy, oauth2-proxy and Spring Security: `/%61dmin/x`, `//admin/x` or
//! `/x/..;/admin/x` passes a check for `/admin/` and reaches the admin route of an origin that
//! decodes, merges or strips what the check did not. So the filter reads the path once, in
//! the form of RFC 3986 §6.2.2, and forwards that form:
//!
//! - percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded, the remaining
//!   escapes upper-cased (`%e2%9c%93` → `%E2%9C%93`);
//! - dot segments are removed (`/a/./b/../c` → `/a/c`), and repeated `/` merged (`//a` → `/a`);
//! - what has no reading every origin shares is refused (400, [`PathError`]): an encoded `/` or
//!   `\` in a segment (`%2F`, `%5C`: nginx and Django's ASGI servers decode it into a
//!   separator, Express and Tomcat do not), a `\`, a control character (`%00`–`%1F`, `%7F`), a
//!   `%` without two hex digits, and a `;` that hides a dot or empty segment (`..;`, `.;x`,
//!   `/;x/`: servlet containers strip `;params` before they resolve dot segments).
//!
//! An app that really uses `%2F` inside a segment sets `ENCODED_SLASHES=keep`
//! ([`EncodedSlashes::Keep`]): the escape then goes on as sent, and every decision is also
//! made on the reading with it decoded. Likewise a `;` stays in the forwarded path (Django
//! and Express read it as part of the segment), and decisions are also made on the servlet
//! reading, with each segment's `;params` removed: [`CanonicalPath::readings`].
//!
//! ```
//! use remote_user_filter::path::{canonicalize, EncodedSlashes, PathError};
//!
//! let keep = |raw| canonicalize(raw, EncodedSlashes::Refuse).map(|p| p.as_str().to_owned());
//! assert_eq!(keep("/%61dmin//x/./y/../z").as_deref(), Ok("/admin/x/z"));
//! assert_eq!(keep("/files/a%20b.txt").as_deref(), Ok("/files/a%20b.txt"));
//! assert_eq!(keep("/admin%2Fx"), Err(PathError::EncodedSlash));
//! assert_eq!(keep("/x/..;/admin/x"), Err(PathError::HiddenDotSegment));
//!
//! // The servlet reading: decisions are made on both.
//! let path = canonicalize("/admin;jsessionid=1/x", EncodedSlashes::Refuse).unwrap();
//! assert_eq!(path.readings().collect::<Vec<_>>(), ["/admin;jsessionid=1/x", "/admin/x"]);
//! ```

use std::borrow::Cow;

use crate::error::ConfigProblem;

/// What to do with an encoded `/` or `\` (`%2F`, `%5C`) inside a path segment
/// (`ENCODED_SLASHES`).
///
/// ```
/// use remote_user_filter::path::EncodedSlashes;
/// assert_eq!("keep".parse::<EncodedSlashes>(), Ok(EncodedSlashes::Keep));
/// assert_eq!(EncodedSlashes::default(), EncodedSlashes::Refuse);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncodedSlashes {
    /// Answer 400 (default): origins disagree on whether it separates segments.
    #[default]
    Refuse,
    /// Forward it encoded, deciding on both readings: as sent, and with it decoded to `/`.
    Keep,
}

impl std::str::FromStr for EncodedSlashes {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "refuse" => Ok(Self::Refuse),
            "keep" => Ok(Self::Keep),
            _ => Err(()),
        }
    }
}

/// Why a request path has no reading that every origin shares (answered 400).
///
/// ```
/// use remote_user_filter::path::PathError;
/// assert_eq!(
///     PathError::EncodedSlash.to_string(),
///     "the path has an encoded `/` or `\\` (%2F, %5C) inside a segment, which origins read two ways"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// `%2F` or `%5C` inside a segment, with [`EncodedSlashes::Refuse`].
    #[error(
        "the path has an encoded `/` or `\\` (%2F, %5C) inside a segment, which origins read \
         two ways"
    )]
    EncodedSlash,
    /// A `\`, which some origins read as `/`.
    #[error("the path has a `\\`, which some origins read as `/`")]
    Backslash,
    /// A control character, raw or encoded (`%00`–`%1F`, `%7F`).
    #[error("the path has a control character (%00-%1F, %7F)")]
    ControlCharacter,
    /// A `%` not followed by two hex digits.
    #[error("the path has a `%` that is not followed by two hex digits")]
    BadEscape,
    /// A `;` after an empty, `.` or `..` segment name (`..;`, `.;x`, `/;x/`), which a
    /// servlet container reads as a dot segment or an empty one.
    #[error("the path has a `;` after an empty, `.` or `..` segment, which servlet containers read as a dot segment")]
    HiddenDotSegment,
    /// The path does not start with `/`.
    #[error("the path does not start with `/`")]
    NotAbsolute,
}

/// A request path in canonical form, with the other readings an origin may make of it.
///
/// ```
/// use remote_user_filter::path::{canonicalize, EncodedSlashes};
/// let path = canonicalize("/a/%7Euser/", EncodedSlashes::Refuse).unwrap();
/// assert_eq!(path.as_str(), "/a/~user/");
/// assert_eq!(path.readings().count(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath<'a> {
    path: Cow<'a, str>,
    /// The other readings of `path` (servlet, decoded `%2F`), none in the common case.
    others: Vec<String>,
}

impl<'a> CanonicalPath<'a> {
    /// The canonical form: what every decision starts from and what the origin receives.
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// Whether the canonical form is the path as sent (nothing to decode, merge or remove).
    ///
    /// ```
    /// use remote_user_filter::path::{canonicalize, EncodedSlashes};
    /// assert!(canonicalize("/app/x.js", EncodedSlashes::Refuse).unwrap().is_as_sent());
    /// assert!(!canonicalize("//app/x.js", EncodedSlashes::Refuse).unwrap().is_as_sent());
    /// ```
    pub fn is_as_sent(&self) -> bool {
        matches!(self.path, Cow::Borrowed(_))
    }

    /// Every reading a decision must hold for: the canonical form first, then (when it has
    /// a `;`) the servlet reading with each segment's `;params` removed, and (with
    /// [`EncodedSlashes::Keep`] and an encoded slash) the reading with `%2F`/`%5C` as `/`.
    pub fn readings(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.as_str()).chain(self.others.iter().map(String::as_str))
    }

    /// The other readings alone (see [`readings`](Self::readings)).
    pub fn other_readings(&self) -> &[String] {
        &self.others
    }

    /// An owned copy (the canonical form as its own string when it was borrowed).
    pub fn into_owned(self) -> CanonicalPath<'static> {
        CanonicalPath {
            path: Cow::Owned(self.path.into_owned()),
            others: self.others,
        }
    }

    /// The canonical form and the other readings, by value.
    pub fn into_parts(self) -> (Cow<'a, str>, Vec<String>) {
        (self.path, self.others)
    }
}

/// Read `raw` (a request's path, as sent: no query) into its canonical form (see the
/// [module](self)). A path that is already canonical, the common case, is borrowed.
///
/// ```
/// use remote_user_filter::path::{canonicalize, EncodedSlashes, PathError};
/// let read = |raw, slashes| canonicalize(raw, slashes).map(|p| p.readings().map(str::to_owned).collect::<Vec<_>>());
/// assert_eq!(read("/x/..%2Fadmin/x", EncodedSlashes::Refuse), Err(PathError::EncodedSlash));
/// assert_eq!(read("/x/..%2fadmin/x", EncodedSlashes::Keep).unwrap(), ["/x/..%2Fadmin/x", "/admin/x"]);
/// assert_eq!(read("/a/b/..", EncodedSlashes::Refuse).unwrap(), ["/a/"]);
/// assert_eq!(read("/a%00", EncodedSlashes::Refuse), Err(PathError::ControlCharacter));
/// ```
pub fn canonicalize(raw: &str, slashes: EncodedSlashes) -> Result<CanonicalPath<'_>, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if is_plain(raw) {
        return Ok(CanonicalPath {
            path: Cow::Borrowed(raw),
            others: Vec::new(),
        });
    }
    let segments = resolve(raw[1..].split('/').map(|s| decode_segment(s, slashes)))?;
    let canonical = join(&segments);
    let mut others: Vec<String> = Vec::new();
    let mut add = |reading: String| {
        if reading != canonical && !others.contains(&reading) {
            others.push(reading);
        }
    };
    let has_params = canonical.contains(';');
    if has_params {
        add(join(&strip_params(&segments)));
    }
    if slashes == EncodedSlashes::Keep && has_encoded_slash(&canonical) {
        // Decoding a slash makes new segments, which may be empty or dot segments: resolve
        // again, with the same refusals (a `..;` it reveals has no reading either).
        let decoded = resolve_decoded(&canonical)?;
        if has_params {
            add(join(&strip_params(&decoded)));
            add(join(&resolve_decoded(&join(&strip_params(&segments)))?));
        }
        add(join(&decoded));
    }
    Ok(CanonicalPath {
        path: Cow::Owned(canonical),
        others,
    })
}

/// Already canonical: starts with `/`, no `%`, `;`, `\` or control character to read, and
/// no empty or dot segment (`//`, `/./`, `/../`) to resolve. One pass over the bytes.
fn is_plain(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'%' | b';' | b'\\' | 0..=0x1f | 0x7f => return false,
            b'/' => match &bytes[i + 1..] {
                [b'/', ..] | [b'.'] | [b'.', b'/', ..] | [b'.', b'.'] | [b'.', b'.', b'/', ..] => {
                    return false
                }
                _ => {}
            },
            _ => {}
        }
    }
    true
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// One segment with its unreserved escapes decoded and the others upper-cased.
fn decode_segment(segment: &str, slashes: EncodedSlashes) -> Result<String, PathError> {
    let bytes = segment.as_bytes();
    let mut out = String::with_capacity(segment.len());
    let (mut i, mut run) = (0, 0);
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                out.push_str(&segment[run..i]);
                let (Some(high), Some(low)) = (
                    bytes.get(i + 1).copied().and_then(hex_value),
                    bytes.get(i + 2).copied().and_then(hex_value),
                ) else {
                    return Err(PathError::BadEscape);
                };
                let value = high << 4 | low;
                match value {
                    v if unreserved(v) => out.push(char::from(v)),
                    0..=0x1f | 0x7f => return Err(PathError::ControlCharacter),
                    b'/' | b'\\' if slashes == EncodedSlashes::Refuse => {
                        return Err(PathError::EncodedSlash)
                    }
                    _ => {
                        out.push('%');
                        out.push(char::from(HEX[usize::from(high)]));
                        out.push(char::from(HEX[usize::from(low)]));
                    }
                }
                i += 3;
                run = i;
            }
            0..=0x1f | 0x7f => return Err(PathError::ControlCharacter),
            b'\\' => return Err(PathError::Backslash),
            _ => i += 1,
        }
    }
    out.push_str(&segment[run..]);
    Ok(out)
}

/// A segment's name: what comes before its first `;` (its `;params`, as servlets read them).
fn name_of(segment: &str) -> &str {
    segment.split_once(';').map_or(segment, |(name, _)| name)
}

/// The segments after dot-segment removal and `//` merging (RFC 3986 §5.2.4); a last empty
/// segment (a trailing `/`) is kept as `""`.
fn resolve(
    segments: impl Iterator<Item = Result<String, PathError>>,
) -> Result<Vec<String>, PathError> {
    let mut out: Vec<String> = Vec::new();
    let mut segments = segments.peekable();
    while let Some(segment) = segments.next() {
        let segment = segment?;
        let last = segments.peek().is_none();
        let name = name_of(&segment);
        if name.len() != segment.len() && (matches!(name, "." | "..") || name.is_empty() && !last) {
            return Err(PathError::HiddenDotSegment);
        }
        match segment.as_str() {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            _ => {
                out.push(segment);
                continue;
            }
        }
        if last {
            out.push(String::new());
        }
    }
    Ok(out)
}

fn join(segments: &[String]) -> String {
    let mut path = String::with_capacity(segments.iter().map(|s| s.len() + 1).sum::<usize>() + 1);
    for segment in segments {
        path.push('/');
        path.push_str(segment);
    }
    if path.is_empty() {
        path.push('/');
    }
    path
}

fn strip_params(segments: &[String]) -> Vec<String> {
    segments.iter().map(|s| name_of(s).to_owned()).collect()
}

fn has_encoded_slash(path: &str) -> bool {
    path.contains("%2F") || path.contains("%5C")
}

/// The segments of `path` (canonical) once its `%2F` and `%5C` are read as `/`.
fn resolve_decoded(path: &str) -> Result<Vec<String>, PathError> {
    let decoded = path.replace("%2F", "/").replace("%5C", "/");
    resolve(decoded[1..].split('/').map(|s| Ok(s.to_owned())))
}

/// Whether `path` is `prefix` or lies under it at a segment boundary, ASCII letters compared
/// without case and escapes as the characters they encode: the match of a rule that
/// refuses. `prefix` is given without its trailing `/` (`/admin` covers `/admin`, `/admin/`
/// and `/admin/x`, not `/administrator`); `""` is the whole site.
///
/// The canonical form keeps the escape of a character that is not unreserved (RFC 3986:
/// `%40` need not be `@`), but nginx and Django decode it before they route, so `/%40admin/x`
/// is under `/@admin` and `/caf%C3%A9/x` under `/café`. Only `%2F` and `%5C` are not read as
/// `/`: a segment boundary is a `/` as sent (with `ENCODED_SLASHES=keep`, the decoded
/// reading of the path is decided on as well).
///
/// ```
/// use remote_user_filter::path::under;
/// assert!(under("/ADMIN/x", "/admin"));
/// assert!(under("/admin", "/admin"));
/// assert!(!under("/administrator", "/admin"));
/// assert!(under("/anything", ""));
/// assert!(under("/%40admin/x", "/@admin"));
/// assert!(under("/caf%C3%A9/x", "/caf\u{e9}"));
/// assert!(!under("/admin%2Fx", "/admin/x"));
/// ```
pub fn under(path: &str, prefix: &str) -> bool {
    let (path, prefix) = (path.as_bytes(), prefix.as_bytes());
    if !path.contains(&b'%') && !prefix.contains(&b'%') && prefix.is_ascii() {
        return path.len() >= prefix.len()
            && path[..prefix.len()].eq_ignore_ascii_case(prefix)
            && (path.len() == prefix.len() || path[prefix.len()] == b'/');
    }
    let mut path = units(path);
    for unit in units(prefix) {
        if path.next() != Some(unit) {
            return false;
        }
    }
    matches!(path.next(), None | Some(SLASH))
}

/// A `/` as sent, as [`units`] gives it.
const SLASH: u16 = b'/' as u16;

/// The characters of a path as a rule compares them: each byte, ASCII letters lower-cased,
/// with each escape read as the byte it encodes, but `%2F` and `%5C`, which stand apart
/// (`0x100 +` the byte): not a segment boundary, and not the `%2F` of an encoded `%`
/// (`%252F`).
pub(crate) fn units(path: &[u8]) -> impl Iterator<Item = u16> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let b = *path.get(i)?;
        if b == b'%' {
            if let (Some(high), Some(low)) = (
                path.get(i + 1).copied().and_then(hex_value),
                path.get(i + 2).copied().and_then(hex_value),
            ) {
                i += 3;
                let value = high << 4 | low;
                return Some(match value {
                    b'/' | b'\\' => 0x100 + u16::from(value),
                    v => u16::from(v.to_ascii_lowercase()),
                });
            }
        }
        i += 1;
        Some(u16::from(b.to_ascii_lowercase()))
    })
}

/// A path setting's entry in the canonical form requests are matched in, with no `;`
/// (a reading of its own); `NotCanonical` names the form to write.
pub(crate) fn check_setting_path(setting: &'static str, path: &str) -> Result<(), ConfigProblem> {
    match canonicalize(path, EncodedSlashes::Refuse) {
        Ok(canonical) if canonical.as_str() == path && !path.contains(';') => Ok(()),
        Ok(canonical) if !path.contains(';') => Err(ConfigProblem::NotCanonical {
            setting,
            value: path.to_owned(),
            canonical: canonical.as_str().to_owned(),
        }),
        _ => Err(ConfigProblem::InvalidValue {
            setting,
            value: path.to_owned(),
            expected: "a path with no `;`, `%2F`, `%5C`, `\\`, lone `%` or control character",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(raw: &str) -> Result<String, PathError> {
        canonicalize(raw, EncodedSlashes::Refuse).map(|p| p.as_str().to_owned())
    }

    fn readings(raw: &str, slashes: EncodedSlashes) -> Vec<String> {
        canonicalize(raw, slashes)
            .unwrap()
            .readings()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn rfc_3986_normalisation() {
        for (raw, canonical) in [
            ("/", "/"),
            ("/a/b", "/a/b"),
            ("/a/b/", "/a/b/"),
            ("//", "/"),
            ("//admin/x", "/admin/x"),
            ("/admin//x", "/admin/x"),
            ("/admin/x//", "/admin/x/"),
            ("/a/./b", "/a/b"),
            ("/a/.", "/a/"),
            ("/a/b/..", "/a/"),
            ("/a/b/../c", "/a/c"),
            ("/../admin", "/admin"),
            ("/a/%2e%2E/admin", "/admin"),
            ("/a/.%2e/admin", "/admin"),
            ("/%2e/admin", "/admin"),
            ("/%61dmin/x", "/admin/x"),
            ("/%41%44%4d%49%4e", "/ADMIN"),
            ("/%7euser/%5f%2d", "/~user/_-"),
            ("/files/a%20b.txt", "/files/a%20b.txt"),
            ("/api/items/%e2%9c%93", "/api/items/%E2%9C%93"),
            ("/api/items/%E2%9C%93", "/api/items/%E2%9C%93"),
            ("/a%252Fb", "/a%252Fb"),
            ("/admin./x", "/admin./x"),
            ("/admin;x/y", "/admin;x/y"),
            ("/static/app.js;v=1", "/static/app.js;v=1"),
            ("/app/;jsessionid=1", "/app/;jsessionid=1"),
            ("/caf\u{e9}", "/caf\u{e9}"),
        ] {
            assert_eq!(canon(raw).as_deref(), Ok(canonical), "{raw}");
        }
    }

    #[test]
    fn paths_with_no_shared_reading_are_refused() {
        for (raw, error) in [
            ("/admin%2Fx", PathError::EncodedSlash),
            ("/admin%2fx", PathError::EncodedSlash),
            ("/%2Fadmin/x", PathError::EncodedSlash),
            ("/x/..%2Fadmin/x", PathError::EncodedSlash),
            ("/x/..%5Cadmin/x", PathError::EncodedSlash),
            ("/x\\admin", PathError::Backslash),
            ("/a%00", PathError::ControlCharacter),
            ("/a%09b", PathError::ControlCharacter),
            ("/a%7f", PathError::ControlCharacter),
            ("/a\tb", PathError::ControlCharacter),
            ("/a%", PathError::BadEscape),
            ("/a%2", PathError::BadEscape),
            ("/a%zz", PathError::BadEscape),
            ("/x/..;/admin/x", PathError::HiddenDotSegment),
            ("/static/..;/admin/x", PathError::HiddenDotSegment),
            ("/x/..;jsessionid=1/admin", PathError::HiddenDotSegment),
            ("/x/.;/admin", PathError::HiddenDotSegment),
            ("/x/%2e%2e;/admin", PathError::HiddenDotSegment),
            ("/x/;y/../admin", PathError::HiddenDotSegment),
            ("admin", PathError::NotAbsolute),
            ("", PathError::NotAbsolute),
        ] {
            assert_eq!(canon(raw), Err(error), "{raw}");
        }
    }

    /// Tomcat and Jetty strip each segment's `;params` before routing: decisions are made on
    /// that reading too.
    #[test]
    fn servlet_reading() {
        assert_eq!(
            readings("/admin;x/y", EncodedSlashes::Refuse),
            ["/admin;x/y", "/admin/y"]
        );
        assert_eq!(
            readings("/static/app.js;v=1", EncodedSlashes::Refuse),
            ["/static/app.js;v=1", "/static/app.js"]
        );
        assert_eq!(
            readings("/app/;jsessionid=1", EncodedSlashes::Refuse),
            ["/app/;jsessionid=1", "/app/"]
        );
        assert_eq!(
            readings("/a;b;c/d;e", EncodedSlashes::Refuse),
            ["/a;b;c/d;e", "/a/d"]
        );
    }

    #[test]
    fn encoded_slashes_kept_are_also_read_decoded() {
        assert_eq!(
            readings("/files/a%2fb", EncodedSlashes::Keep),
            ["/files/a%2Fb", "/files/a/b"]
        );
        assert_eq!(
            readings("/%2Fadmin/x", EncodedSlashes::Keep),
            ["/%2Fadmin/x", "/admin/x"]
        );
        assert_eq!(
            readings("/x/..%5Cadmin/x", EncodedSlashes::Keep),
            ["/x/..%5Cadmin/x", "/admin/x"]
        );
        // Both: the servlet reading before and after the slash is decoded.
        assert_eq!(
            readings("/a;p/..%2Fadmin;q/x", EncodedSlashes::Keep),
            [
                "/a;p/..%2Fadmin;q/x",
                "/a/..%2Fadmin/x",
                "/admin/x",
                "/admin;q/x"
            ]
        );
        assert_eq!(
            readings("/a;p%2F..%2F..%2Fadmin/x", EncodedSlashes::Keep),
            ["/a;p%2F..%2F..%2Fadmin/x", "/a/x", "/admin/x"]
        );
        // A `..;` the decoded slash reveals has no reading either.
        assert_eq!(
            canonicalize("/x/a%2F..;/admin", EncodedSlashes::Keep),
            Err(PathError::HiddenDotSegment)
        );
    }

    #[test]
    fn the_plain_check_agrees_with_the_full_reading() {
        for raw in [
            "/",
            "/a",
            "/a/",
            "/a.b/c",
            "/.well-known/x",
            "/a/..",
            "/a//b",
            "/a/.b",
            "/a./b",
        ] {
            let full = join(
                &resolve(
                    raw[1..]
                        .split('/')
                        .map(|s| decode_segment(s, EncodedSlashes::Refuse)),
                )
                .unwrap(),
            );
            assert_eq!(is_plain(raw), full == raw, "{raw}");
        }
    }

    #[test]
    fn segment_boundaries() {
        assert!(under("/app/admin", "/app/admin"));
        assert!(under("/app/admin/x", "/app/admin"));
        assert!(under("/App/Admin/", "/app/admin"));
        assert!(!under("/app/administrator", "/app/admin"));
        assert!(!under("/app", "/app/admin"));
        assert!(under("/", ""));
    }
}
