//! Property tests (proptest, 256 cases each) of the canonical request path
//! ([`remote_user_filter::path`]): it is idempotent and a canonical path is its own canonical
//! form (readings included); no output has an empty or dot segment, an encoded unreserved
//! character, a lower-case escape or a control character, nor (with `ENCODED_SLASHES=refuse`)
//! an encoded slash; and spellings of one path read the same: any unreserved characters
//! encoded (either hex case), escapes in either hex case, `//`, `/./` or `/x/../` at any
//! separator give the same canonical form and readings (a 400 for an `x` that hides an empty
//! segment behind `;`), and neither letter case nor an escape of a reserved character
//! (`%40` for `@`, which nginx and Django decode before routing) changes what a rule covers.
#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use remote_user_filter::path::{canonicalize, under, CanonicalPath, EncodedSlashes, PathError};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// What a path is made of: letters of both cases, digits, the other unreserved characters,
/// `;`, `=`, `%`, `/`, `.`, escapes (of unreserved characters, of `/`, `\`, `;`, `%`, a
/// space, a control character, UTF-8), dot segments with and without `;`, and non-ASCII.
const PIECES: &[&str] = &[
    "a",
    "A",
    "d",
    "D",
    "m",
    "M",
    "z",
    "Z",
    "0",
    "9",
    "-",
    ".",
    "_",
    "~",
    ";",
    "=",
    "%",
    "/",
    ".",
    "/",
    "/",
    "%2e",
    "%2E",
    "%41",
    "%61",
    "%6d",
    "%7e",
    "%7E",
    "%5f",
    "%2d",
    "%30",
    "%2F",
    "%2f",
    "%5C",
    "%5c",
    "%20",
    "%e2%9c%93",
    "%E2%9C%93",
    "%25",
    "%252F",
    "%00",
    "%3B",
    "%3b",
    "..",
    "..;",
    ".;",
    ";x",
    "//",
    "/./",
    "/../",
    "\u{e9}",
    "@",
    ":",
    ",",
    "!",
    "$",
    "(",
    "*",
    "+",
    "'",
    "%40",
    "%3a",
    "%2C",
];

/// The same, without what has no canonical form in either mode (a lone `%`, a control
/// character) nor an encoded slash: most such paths read.
const READABLE: &[&str] = &[
    "a",
    "A",
    "d",
    "D",
    "m",
    "M",
    "z",
    "Z",
    "0",
    "9",
    "-",
    ".",
    "_",
    "~",
    ";",
    "=",
    "/",
    ".",
    "/",
    "/",
    "%2e",
    "%2E",
    "%41",
    "%61",
    "%6d",
    "%7e",
    "%7E",
    "%5f",
    "%2d",
    "%30",
    "%20",
    "%e2%9c%93",
    "%E2%9C%93",
    "%25",
    "%252F",
    "%3B",
    "%3b",
    "..",
    "//",
    "/./",
    "/../",
    "\u{e9}",
    "admin",
    "x;p=1",
    "@",
    ":",
    ",",
    "!",
    "$",
    "(",
    "*",
    "+",
    "'",
    "%40",
    "%3a",
    "%2C",
];

fn path_of(pieces: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(pieces), 0..24)
        .prop_map(|pieces| format!("/{}", pieces.concat()))
}

fn slashes() -> impl Strategy<Value = EncodedSlashes> {
    prop_oneof![Just(EncodedSlashes::Refuse), Just(EncodedSlashes::Keep)]
}

/// What a spelling does at one `/`.
#[derive(Debug, Clone)]
enum Insert {
    Nothing,
    /// `//`
    Double,
    /// `/./`
    Dot,
    /// `/x/../`
    Parent(String),
}

fn insert() -> impl Strategy<Value = Insert> {
    prop_oneof![
        2 => Just(Insert::Nothing),
        1 => Just(Insert::Double),
        1 => Just(Insert::Dot),
        1 => "[a-zA-Z0-9;=_~-]{1,4}".prop_map(Insert::Parent),
    ]
}

/// How to spell a path another way: which unreserved characters to encode (bit `i % 64`
/// for the `i`-th character), in which hex case; which escapes' hex to lower-case; which
/// letters to change the case of; what to insert at each `/` (cycled).
#[derive(Debug, Clone)]
struct Recipe {
    encode: u64,
    lower_hex: u64,
    flip_case: u64,
    inserts: Vec<Insert>,
}

fn recipe() -> impl Strategy<Value = Recipe> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        proptest::collection::vec(insert(), 1..8),
    )
        .prop_map(|(encode, lower_hex, flip_case, inserts)| Recipe {
            encode,
            lower_hex,
            flip_case,
            inserts,
        })
}

fn unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

fn bit(bits: u64, i: usize) -> bool {
    bits >> (i % 64) & 1 == 1
}

/// A character whose escape stays in the canonical form but that nginx and Django decode
/// before they route: `@`, `:`, `,`, `!`, `$`, … (not `/`, `%`, `;`, which mean something
/// else escaped, nor `?`, `#`, `\`).
fn escapable(c: char) -> bool {
    c.is_ascii_graphic() && !unreserved(c) && !matches!(c, '/' | '%' | ';' | '?' | '#' | '\\')
}

/// A path as a rule compares it: ASCII letters lower-cased, each escape but `%2F` and `%5C`
/// read as its byte.
fn as_matched(path: &str) -> Vec<u16> {
    let bytes = path.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < bytes.len() {
        let escape = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escape {
            Some(b @ (b'/' | b'\\')) => {
                out.push(0x100 + u16::from(b));
                i += 3;
            }
            Some(b) => {
                out.push(u16::from(b.to_ascii_lowercase()));
                i += 3;
            }
            None => {
                out.push(u16::from(bytes[i].to_ascii_lowercase()));
                i += 1;
            }
        }
    }
    out
}

/// `raw` spelled by `recipe`; with `case`, letters outside escapes change case as it says,
/// and the characters [`escapable`] are encoded as unreserved ones are.
/// Whether an inserted `x` has an empty name before a `;` (a servlet's empty segment).
fn spell(raw: &str, recipe: &Recipe, case: bool) -> (String, bool) {
    let chars: Vec<char> = raw.chars().collect();
    let hex = |c: &char| c.is_ascii_hexdigit();
    let (mut out, mut hides, mut slash) = (String::new(), false, 0);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '%' && chars.get(i + 1).is_some_and(hex) && chars.get(i + 2).is_some_and(hex) {
            let triple: String = chars[i..i + 3].iter().collect();
            out.push_str(&if bit(recipe.lower_hex, i) {
                triple.to_ascii_lowercase()
            } else {
                triple.to_ascii_uppercase()
            });
            i += 3;
            continue;
        }
        if c == '/' {
            match &recipe.inserts[slash % recipe.inserts.len()] {
                Insert::Nothing => out.push('/'),
                Insert::Double => out.push_str("//"),
                Insert::Dot => out.push_str("/./"),
                Insert::Parent(x) => {
                    hides |= x.starts_with(';');
                    out.push_str(&format!("/{x}/../"));
                }
            }
            slash += 1;
        } else if (unreserved(c) || case && escapable(c)) && bit(recipe.encode, i) {
            let escape = format!("%{:02X}", c as u32);
            out.push_str(&if bit(recipe.lower_hex, i) {
                escape.to_ascii_lowercase()
            } else {
                escape
            });
        } else if case && c.is_ascii_alphabetic() && bit(recipe.flip_case, i) {
            out.push(if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            });
        } else {
            out.push(c);
        }
        i += 1;
    }
    (out, hides)
}

fn readings(path: &CanonicalPath<'_>) -> Vec<String> {
    path.readings().map(str::to_owned).collect()
}

/// What no output may hold: not starting with `/`, an empty segment before the last, a `.`
/// or `..` segment, an encoded unreserved character, a lower-case or malformed escape, a
/// control character or `\`; with `Refuse`, an encoded `/` or `\`.
fn flaw(output: &str, slashes: EncodedSlashes) -> Option<String> {
    if !output.starts_with('/') {
        return Some("does not start with `/`".into());
    }
    if output.contains("//") {
        return Some("`//`".into());
    }
    if output[1..].split('/').any(|s| s == "." || s == "..") {
        return Some("a dot segment".into());
    }
    if output.contains('\\') || output.chars().any(|c| c.is_ascii_control()) {
        return Some("a `\\` or a control character".into());
    }
    let bytes = output.as_bytes();
    for (i, _) in output.match_indices('%') {
        let escape = &bytes[i + 1..(i + 3).min(bytes.len())];
        if escape.len() != 2
            || !escape
                .iter()
                .all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F'))
        {
            return Some(format!("a malformed or lower-case escape at {i}"));
        }
        let value = u8::from_str_radix(std::str::from_utf8(escape).unwrap(), 16).unwrap();
        if unreserved(char::from(value)) {
            return Some(format!("an encoded unreserved character at {i}"));
        }
        if value < 0x20 || value == 0x7f {
            return Some(format!("an encoded control character at {i}"));
        }
        if slashes == EncodedSlashes::Refuse && matches!(value, b'/' | b'\\') {
            return Some(format!("an encoded slash at {i}"));
        }
    }
    None
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_canonical_form_is_idempotent(raw in path_of(PIECES), slashes in slashes()) {
        if let Ok(path) = canonicalize(&raw, slashes) {
            let again = canonicalize(path.as_str(), slashes);
            prop_assert!(again.is_ok(), "{:?} -> {:?} -> {:?}", raw, path.as_str(), again);
            let again = again.unwrap();
            prop_assert_eq!(again.as_str(), path.as_str(), "from {:?}", raw);
            prop_assert_eq!(readings(&again), readings(&path), "from {:?}", raw);
        }
    }

    #[test]
    fn a_canonical_path_and_each_reading_is_its_own_canonical_form(raw in path_of(READABLE), slashes in slashes()) {
        if let Ok(path) = canonicalize(&raw, slashes) {
            for reading in path.readings() {
                let own = canonicalize(reading, slashes);
                prop_assert!(own.is_ok(), "{:?}: reading {:?} -> {:?}", raw, reading, own);
                let own = own.unwrap();
                prop_assert_eq!(own.as_str(), reading, "from {:?}", raw);
            }
        }
    }

    #[test]
    fn no_output_has_an_empty_or_dot_segment_or_an_encoded_unreserved_character(raw in path_of(PIECES), slashes in slashes()) {
        if let Ok(path) = canonicalize(&raw, slashes) {
            for reading in path.readings() {
                prop_assert!(flaw(reading, slashes).is_none(), "{:?} -> {:?}: {:?}", raw, reading, flaw(reading, slashes));
            }
            // The servlet reading has no `;`, and with `Refuse` there is no other.
            let others = path.other_readings();
            prop_assert!(others.len() <= usize::from(path.as_str().contains(';')) || slashes == EncodedSlashes::Keep);
            if slashes == EncodedSlashes::Refuse {
                if let Some(servlet) = others.first() {
                    prop_assert!(!servlet.contains(';'), "{:?} -> {:?}", raw, servlet);
                }
            }
        }
    }

    #[test]
    fn spellings_of_a_path_read_the_same(raw in path_of(READABLE), slashes in slashes(), recipe in recipe()) {
        let (spelled, hides) = spell(&raw, &recipe, false);
        match (canonicalize(&raw, slashes), canonicalize(&spelled, slashes)) {
            (Ok(path), _) if hides => {
                let result = canonicalize(&spelled, slashes).map(|p| p.as_str().to_owned());
                prop_assert_eq!(result, Err(PathError::HiddenDotSegment), "{:?} as {:?} (from {:?})", path.as_str(), spelled, raw);
            }
            (Ok(path), Ok(other)) => {
                prop_assert_eq!(other.as_str(), path.as_str(), "{:?} as {:?}", raw, spelled);
                prop_assert_eq!(readings(&other), readings(&path), "{:?} as {:?}", raw, spelled);
            }
            (Ok(path), Err(error)) => {
                prop_assert!(false, "{:?} ({:?}) as {:?}: {:?}", raw, path.as_str(), spelled, error);
            }
            (Err(_), other) => {
                prop_assert!(other.is_err(), "{:?} has no reading, but {:?} reads {:?}", raw, spelled, other);
            }
        }
    }

    /// The same with any path, lone `%`, controls and encoded slashes included: a spelling
    /// of a path that has no canonical form has none either.
    #[test]
    fn spellings_of_any_path_read_the_same_or_are_refused_alike(raw in path_of(PIECES), slashes in slashes(), recipe in recipe()) {
        let (spelled, hides) = spell(&raw, &recipe, false);
        let (path, other) = (canonicalize(&raw, slashes), canonicalize(&spelled, slashes));
        match (path, other) {
            (Ok(path), Ok(other)) => {
                prop_assert!(!hides, "{:?} as {:?}", raw, spelled);
                prop_assert_eq!(other.as_str(), path.as_str(), "{:?} as {:?}", raw, spelled);
                prop_assert_eq!(readings(&other), readings(&path), "{:?} as {:?}", raw, spelled);
            }
            (Ok(path), Err(error)) => {
                prop_assert!(hides && error == PathError::HiddenDotSegment, "{:?} ({:?}) as {:?}: {:?}", raw, path.as_str(), spelled, error);
            }
            (Err(error), other) => {
                prop_assert!(other.is_err(), "{:?} ({:?}), but {:?} reads {:?}", raw, error, spelled, other);
            }
        }
    }

    #[test]
    fn letter_case_and_escapes_change_nothing_a_rule_covers(raw in path_of(READABLE), slashes in slashes(), recipe in recipe(), cut in 0usize..6, mid_segment in any::<bool>()) {
        let (spelled, hides) = spell(&raw, &recipe, true);
        let Ok(path) = canonicalize(&raw, slashes) else { return Ok(()); };
        let other = canonicalize(&spelled, slashes);
        if hides {
            prop_assert_eq!(other.map(|p| p.as_str().to_owned()), Err(PathError::HiddenDotSegment));
            return Ok(());
        }
        prop_assert!(other.is_ok(), "{:?} as {:?}: {:?}", raw, spelled, other);
        let other = other.unwrap();
        let (ours, theirs) = (readings(&path), readings(&other));
        prop_assert_eq!(ours.len(), theirs.len(), "{:?} as {:?}", raw, spelled);
        // A rule's prefix cut from the path itself (so that it matches), in the case
        // the path has, at a segment boundary or in the middle of a segment.
        let canonical = path.as_str();
        let mut prefix: String = canonical.split('/').take(cut + 1).collect::<Vec<_>>().join("/");
        if mid_segment && prefix.len() > 1 {
            prefix.pop();
        }
        for (a, b) in ours.iter().zip(&theirs) {
            prop_assert_eq!(as_matched(a), as_matched(b), "{:?} vs {:?}", a, b);
            prop_assert_eq!(under(a, &prefix), under(b, &prefix), "{:?} vs {:?} under {:?}", a, b, prefix);
            prop_assert_eq!(under(a, &prefix.to_ascii_uppercase()), under(b, &prefix.to_ascii_lowercase()));
        }
    }
}

/// The rows of issue 18's table, each as the spelling of a canonical path: the same
/// canonical form, or no canonical form (400).
#[test]
fn the_issues_spellings_of_admin_read_as_admin_or_not_at_all() {
    for raw in [
        "/%61dmin/x",
        "/%61%64%6D%69%6E/x",
        "//admin/x",
        "/./admin/x",
        "/x/../admin/x",
        "/admin//x",
        "/admin/./x",
        "/admin/y/../x",
        "/%2e/admin/x",
        "/x/%2e%2e/admin/x",
    ] {
        let path = canonicalize(raw, EncodedSlashes::Refuse).unwrap();
        assert_eq!(readings(&path), ["/admin/x"], "{raw}");
    }
    for (raw, error) in [
        ("/admin%2Fx", PathError::EncodedSlash),
        ("/%2Fadmin/x", PathError::EncodedSlash),
        ("/x/..%2Fadmin/x", PathError::EncodedSlash),
        ("/x/..%5Cadmin/x", PathError::EncodedSlash),
        ("/x/..;/admin/x", PathError::HiddenDotSegment),
        ("/static/..;/admin/x", PathError::HiddenDotSegment),
        ("/x\\..\\admin/x", PathError::Backslash),
    ] {
        assert_eq!(
            canonicalize(raw, EncodedSlashes::Refuse).map(|p| readings(&p)),
            Err(error),
            "{raw}"
        );
    }
}
