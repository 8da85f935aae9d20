//! The canonical request path and the rules decided on it. Input: a path (the first line),
//! then bytes, in this order (the compact first: libFuzzer's inputs start short):
//! - flags: bit 0 `ENCODED_SLASHES=keep`, 1 `ANONYMOUS=pass`, 2 no identity, 3-4 how many
//!   public paths, 5-7 the user's groups (`g0`, `g1`, `g2`);
//! - the request: method, method-override header, host (a byte each);
//! - a spelling recipe ([`Recipe::read`]): which unreserved characters to encode, in which
//!   hex case, which escapes to lower-case, which letters to change case, and `//`, `/./`
//!   or `/x/../` at which `/`;
//! - up to four rules (paths cut from the request's own path or from a fixed list, groups,
//!   methods, a host), then the public paths.
//!
//! A zero byte picks the first choice of each, and the input's end reads as zeros:
//! `/x/..;/admin/x\n` alone is a `GET` for it by a user in no group, with
//! `RULES=/admin/=g0`. The seeds (fuzz/seeds/path) start from the rows of issue 18's table.
//!
//! Invariants: `canonicalize` never panics; its output (every reading) is its own canonical
//! form, with no `//`, dot segment, encoded unreserved character, lower-case escape or
//! control character, nor with `refuse` an encoded slash; a spelling of the path reads the
//! same (or 400, for an `x` in `/x/../` that hides an empty segment behind `;`); letter case
//! (of the path and the host, and a host's trailing `.`) and escaped reserved characters
//! (`%40` for `@`) change no rule decision (`PathRulesFilter::rule_for` over every reading
//! and method);
//! through the stock chain (`MemoryStore`), a path the rules refuse at its canonical form is
//! refused (401/403) or answered 400 at every spelling, the same spelling for spelling; a
//! path with no canonical form is 400; a request is forwarded only as the model allows
//! (with a user the rules admit, or public, or anonymous where no rule applies), and with
//! the canonical form as its path.
#![no_main]

use std::collections::HashMap;
use std::rc::Rc;

use arbitrary::Unstructured;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;
use remote_user_filter::edge::wire::request_parts;
use remote_user_filter::path::{canonicalize, CanonicalPath, EncodedSlashes, PathError};
use remote_user_filter::{
    AuthError, CorsPreflight, FilterChain, ManualClock, MemoryStore, Outcome, PathRule,
    PathRulesFilter, PublicRoutesFilter, StockSettings, ANY_GROUP,
};
use remote_user_filter_fuzz::{NOW, SESSION_SECRET};

const IDENTITY: &str = "cf-access-authenticated-user-email";
const USER: &str = "u@example.com";
const GROUPS: [&str; 3] = ["g0", "g1", "g2"];
const RULE_PATHS: [&str; 8] = [
    "/admin/", "/", "/admin", "/static/", "/a/b", "/x/", "/api/", "/.auth/",
];
const PUBLIC_PATHS: [&str; 4] = ["/static/", "/healthz", "/a/", "/x/y"];
const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "DELETE", "OPTIONS", "PUT"];
const OVERRIDES: [Option<(&str, &str)>; 6] = [
    None,
    Some(("x-http-method-override", "DELETE")),
    Some(("x-http-method", "post")),
    Some(("x-method-override", "PUT")),
    Some(("x-http-method-override", "DELETE, POST")),
    Some(("x-http-method", "head")),
];
const HOSTS: [&str; 3] = ["app.example.com", "admin.example.com", "ADMIN.Example.COM"];
const RULE_HOSTS: [Option<&str>; 3] = [None, Some("admin.example.com"), Some("app.example.com")];

fn byte(u: &mut Unstructured<'_>) -> u8 {
    u.arbitrary().unwrap_or(0)
}

fn unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
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

/// Bit `i` of `bits`, cycled: over 32 bits for the characters to encode, 16 for the others.
fn bit(bits: u64, i: usize, width: usize) -> bool {
    bits >> (i % width) & 1 == 1
}

/// What a spelling does at one `/`.
enum Insert {
    Nothing,
    Double,
    Dot,
    Parent(String),
}

struct Recipe {
    encode: u64,
    lower_hex: u64,
    flip_case: u64,
    inserts: Vec<Insert>,
}

impl Recipe {
    /// Compact, for libFuzzer's short inputs: 32 bits of which characters to encode (the
    /// `i`-th character by bit `i % 32`), 16 of hex case and 16 of letter case, then the
    /// number of `/` choices (cycled), each a byte (and the bytes of an `x`).
    fn read(u: &mut Unstructured<'_>) -> Self {
        let encode = u64::from(u.arbitrary::<u32>().unwrap_or(0));
        let lower_hex = u64::from(u.arbitrary::<u16>().unwrap_or(0));
        let flip_case = u64::from(u.arbitrary::<u16>().unwrap_or(0));
        let count = usize::from(byte(u) % 8);
        let inserts = (0..count.max(1))
            .map(|_| match byte(u) {
                b if b % 5 < 2 => Insert::Nothing,
                b if b % 5 == 2 => Insert::Double,
                b if b % 5 == 3 => Insert::Dot,
                b => {
                    // `x` from letters, digits, `;`, `=`, `_`, `~`, `-`, `%41`: never a dot
                    // segment; a `;` first hides an empty one.
                    const X: [&str; 10] = ["x", "Y", "0", ";", "=", "_", "~", "-", "%41", "z"];
                    let len = 1 + usize::from(b / 5 % 4);
                    let x = (0..len)
                        .map(|_| X[usize::from(byte(u)) % X.len()])
                        .collect();
                    Insert::Parent(x)
                }
            })
            .collect();
        Self {
            encode,
            lower_hex,
            flip_case,
            inserts,
        }
    }

    /// `host` in another letter case, with a trailing `.` by the last bit of the case bits.
    fn spell_host(&self, host: &str) -> String {
        let mut out: String = host
            .char_indices()
            .map(|(i, c)| {
                if bit(self.flip_case, i, 15) {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        if bit(self.flip_case, 15, 16) {
            out.push('.');
        }
        out
    }

    /// `raw` spelled another way; with `case`, letters outside escapes change case too, and
    /// the characters [`escapable`] are encoded as unreserved ones are.
    /// Whether an inserted `x` hides an empty segment (a 400).
    fn spell(&self, raw: &str, case: bool) -> (String, bool) {
        let chars: Vec<char> = raw.chars().collect();
        let hex = |c: &char| c.is_ascii_hexdigit();
        let (mut out, mut hides, mut slash, mut i) = (String::new(), false, 0, 0);
        while i < chars.len() {
            let c = chars[i];
            if c == '%' && chars.get(i + 1).is_some_and(hex) && chars.get(i + 2).is_some_and(hex) {
                let triple: String = chars[i..i + 3].iter().collect();
                out.push_str(&if bit(self.lower_hex, i, 16) {
                    triple.to_ascii_lowercase()
                } else {
                    triple.to_ascii_uppercase()
                });
                i += 3;
                continue;
            }
            if c == '/' {
                match &self.inserts[slash % self.inserts.len()] {
                    Insert::Nothing => out.push('/'),
                    Insert::Double => out.push_str("//"),
                    Insert::Dot => out.push_str("/./"),
                    Insert::Parent(x) => {
                        hides |= x.starts_with(';');
                        out.push_str(&format!("/{x}/../"));
                    }
                }
                slash += 1;
            } else if (unreserved(c) || case && escapable(c)) && bit(self.encode, i, 32) {
                let escape = format!("%{:02X}", c as u32);
                out.push_str(&if bit(self.lower_hex, i, 16) {
                    escape.to_ascii_lowercase()
                } else {
                    escape
                });
            } else if case && c.is_ascii_alphabetic() && bit(self.flip_case, i, 16) {
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
}

fn readings(path: &CanonicalPath<'_>) -> Vec<String> {
    path.readings().map(str::to_owned).collect()
}

/// What no output of `canonicalize` may hold.
fn check_output(raw: &str, output: &str, slashes: EncodedSlashes) {
    let bad = |what: &str| panic!("{raw:?} ({slashes:?}) reads {output:?}: {what}");
    if !output.starts_with('/') {
        bad("not absolute");
    }
    if output.contains("//") {
        bad("`//`");
    }
    if output[1..].split('/').any(|s| s == "." || s == "..") {
        bad("a dot segment");
    }
    if output.contains('\\') || output.chars().any(|c| c.is_ascii_control()) {
        bad("a `\\` or a control character");
    }
    let bytes = output.as_bytes();
    for (i, _) in output.match_indices('%') {
        let escape = &bytes[i + 1..(i + 3).min(bytes.len())];
        if escape.len() != 2
            || !escape
                .iter()
                .all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F'))
        {
            bad("a malformed or lower-case escape");
        }
        let value = u8::from_str_radix(std::str::from_utf8(escape).unwrap(), 16).unwrap();
        if unreserved(char::from(value)) || value < 0x20 || value == 0x7f {
            bad("an encoded unreserved or control character");
        }
        if slashes == EncodedSlashes::Refuse && matches!(value, b'/' | b'\\') {
            bad("an encoded slash");
        }
    }
    // Its own canonical form.
    match canonicalize(output, slashes) {
        Ok(again) if again.as_str() == output => {}
        other => bad(&format!("read again: {other:?}")),
    }
}

/// `canonicalize` of `raw`, with its invariants checked.
fn canonical(raw: &str, slashes: EncodedSlashes) -> Result<CanonicalPath<'_>, PathError> {
    let path = canonicalize(raw, slashes)?;
    for reading in path.readings() {
        check_output(raw, reading, slashes);
    }
    let again = canonicalize(path.as_str(), slashes).expect("the canonical form reads");
    assert_eq!(readings(&again), readings(&path), "{raw:?} read twice");
    Ok(path)
}

/// What the rules decide for a request: for every reading and every method the request
/// must be admitted for, the groups of the rule that decides (none: no rule).
fn decisions(
    rules: &PathRulesFilter,
    methods: &[Method],
    host: Option<&str>,
    path: &CanonicalPath<'_>,
) -> Vec<Option<Vec<String>>> {
    let mut out = Vec::new();
    for reading in path.readings() {
        for method in methods {
            out.push(
                rules
                    .rule_for(method, host, reading)
                    .map(|r| r.groups.clone()),
            );
        }
    }
    out
}

/// Whether the user (`None`: no identity) is refused by one of `decisions`.
fn refused(decisions: &[Option<Vec<String>>], user: Option<&[String]>) -> bool {
    decisions.iter().flatten().any(|groups| {
        user.is_none_or(|mine| !groups.iter().any(|g| g == ANY_GROUP || mine.contains(g)))
    })
}

/// A rule's or public path's path, cut from `path`'s segments: the first `n`, in the
/// letter case `flip` says, with or without a trailing `/`.
fn cut(path: &str, n: u8, flip: u8, trailing: bool) -> String {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let n = usize::from(n) % (segments.len() + 1);
    let mut out = String::from("/");
    out.push_str(&segments[..n].join("/"));
    if trailing && !out.ends_with('/') {
        out.push('/');
    }
    out.char_indices()
        .map(|(i, c)| {
            if bit(u64::from(flip), i, 8) {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

struct Setup {
    chain: FilterChain,
    rules: PathRulesFilter,
    public: PublicRoutesFilter,
    anonymous: bool,
    endpoints: bool,
}

/// The stock chain for what `u` picks; the rules and public paths that conflict with each
/// other or the endpoints are dropped.
fn setup(u: &mut Unstructured<'_>, path: &str, slashes: EncodedSlashes, flags: u8) -> Setup {
    let anonymous = flags & 2 != 0;
    let mut rules: Vec<serde_json::Value> = Vec::new();
    for _ in 0..[1, 2, 3, 4, 0][usize::from(byte(u) % 5)] {
        let (kind, n, flip) = (byte(u), byte(u), byte(u));
        let rule_path = match kind % 3 {
            0 => RULE_PATHS[usize::from(n) % RULE_PATHS.len()].to_owned(),
            _ => cut(path, n, flip, kind & 4 != 0),
        };
        let group_bits = byte(u);
        let mut groups: Vec<&str> = (0..4)
            .filter(|i| group_bits >> i & 1 == 1)
            .map(|i| if i == 3 { ANY_GROUP } else { GROUPS[i] })
            .collect();
        if groups.is_empty() {
            groups.push(GROUPS[0]);
        }
        let method_bits = byte(u);
        let methods: Vec<&str> = (0..METHODS.len())
            .filter(|i| method_bits >> i & 1 == 1)
            .map(|i| METHODS[i])
            .collect();
        let mut rule =
            serde_json::json!({ "path": rule_path, "groups": groups, "methods": methods });
        if let Some(host) = RULE_HOSTS[usize::from(byte(u)) % RULE_HOSTS.len()] {
            rule["host"] = host.into();
        }
        rules.push(rule);
        // Kept only if the rules still parse (canonical, no overlap).
        if PathRule::parse_setting(&serde_json::Value::from(rules.clone()).to_string()).is_err() {
            rules.pop();
        }
    }
    let mut public: Vec<String> = Vec::new();
    for _ in 0..(flags >> 3) % 4 {
        let (kind, n, flip) = (byte(u), byte(u), byte(u));
        public.push(match kind % 3 {
            0 => PUBLIC_PATHS[usize::from(n) % PUBLIC_PATHS.len()].to_owned(),
            _ => cut(path, n, flip, kind & 4 != 0),
        });
    }
    let store = Rc::new(MemoryStore::new());
    let user_groups: Vec<&str> = (0..3)
        .filter(|i| flags >> (5 + i) & 1 == 1)
        .map(|i| GROUPS[i])
        .collect();
    store.seed(
        &format!("user:{USER}"),
        &serde_json::json!({"username": USER, "is_active": true, "groups": user_groups})
            .to_string(),
    );
    let rules_text = serde_json::Value::from(rules).to_string();
    // Dropped in turn until the settings hold together: the public paths, the endpoints,
    // the rules.
    for (public, endpoints, with_rules) in [
        (&public[..], true, true),
        (&[][..], true, true),
        (&[][..], false, true),
        (&[][..], false, false),
    ] {
        let mut vars: HashMap<&str, String> = HashMap::from([
            ("AUTH_FILTERS", "session,remote_user".to_owned()),
            ("TRUST_UNSIGNED_HEADER", "true".to_owned()),
            (
                "ANONYMOUS",
                if anonymous { "pass" } else { "deny" }.to_owned(),
            ),
            (
                "ENCODED_SLASHES",
                if slashes == EncodedSlashes::Keep {
                    "keep"
                } else {
                    "refuse"
                }
                .to_owned(),
            ),
            ("PUBLIC_PATHS", public.join(",")),
        ]);
        if with_rules {
            vars.insert("RULES", rules_text.clone());
        }
        if !endpoints {
            vars.insert("WHOAMI_PATH", String::new());
            vars.insert("LOGOUT_PATH", String::new());
        }
        let Ok(settings) = StockSettings::from_vars(|k| vars.get(k).cloned()) else {
            continue;
        };
        let parsed = settings.rules.clone();
        let listed = settings.public_paths.clone();
        let Ok(chain) = settings
            .chain(Rc::clone(&store))
            .session_secret(SESSION_SECRET.to_owned())
            .clock(ManualClock::new(NOW))
            .build()
        else {
            continue;
        };
        return Setup {
            chain,
            rules: PathRulesFilter::new(parsed),
            public: PublicRoutesFilter::new(listed, CorsPreflight::Deny),
            anonymous,
            endpoints,
        };
    }
    panic!("the stock chain with no rules and no public paths does not build");
}

/// A request's outcome: its status, whether it is forwarded with a user or without, or
/// answered by an endpoint; and the path forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    User,
    NoUser,
    Answered,
    Refused(u16, bool),
}

fn send(
    chain: &FilterChain,
    method: &str,
    url: &str,
    headers: &HeaderMap,
) -> Option<(Seen, String)> {
    let parts = request_parts(method, url, headers.clone()).ok()?;
    let mut req = chain.request(parts);
    let outcome = futures::executor::block_on(chain.run(&mut req));
    let seen = match outcome {
        Outcome::Forward { user: Some(_), .. } => Seen::User,
        Outcome::Forward { user: None, .. } => Seen::NoUser,
        Outcome::Answer { .. } => Seen::Answered,
        Outcome::Respond { error, .. } => {
            let by_rule = matches!(error, AuthError::PathForbidden { .. });
            Seen::Refused(error.status(), by_rule)
        }
    };
    Some((seen, req.path().to_owned()))
}

fn status(seen: &Seen) -> u16 {
    match seen {
        Seen::Refused(status, _) => *status,
        _ => 200,
    }
}

fuzz_target!(|data: &[u8]| {
    let (line, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let line = String::from_utf8_lossy(line);
    // Any text: no panic, and what reads meets the invariants.
    for slashes in [EncodedSlashes::Refuse, EncodedSlashes::Keep] {
        let _ = canonical(&line, slashes);
    }
    let mut u = Unstructured::new(rest);
    let flags = byte(&mut u);
    let slashes = if flags & 1 != 0 {
        EncodedSlashes::Keep
    } else {
        EncodedSlashes::Refuse
    };
    // The path of a request URL: the query and fragment are not the path's.
    let mut raw: String = line.chars().filter(|c| !matches!(c, '?' | '#')).collect();
    if !raw.starts_with('/') {
        raw.insert(0, '/');
    }
    let cut_from = match canonicalize(&raw, slashes) {
        Ok(path) => path.as_str().to_owned(),
        Err(_) => raw.clone(),
    };
    let method = METHODS[usize::from(byte(&mut u)) % METHODS.len()];
    let mut headers = HeaderMap::new();
    let override_header = OVERRIDES[usize::from(byte(&mut u)) % OVERRIDES.len()];
    if let Some((name, value)) = override_header {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    let host = HOSTS[usize::from(byte(&mut u)) % HOSTS.len()];
    let identity = flags & 4 == 0;
    if identity {
        headers.insert(IDENTITY, HeaderValue::from_static(USER));
    }
    let user_groups: Vec<String> = (0..3)
        .filter(|i| flags >> (5 + i) & 1 == 1)
        .map(|i| GROUPS[i].to_owned())
        .collect();
    let user = identity.then_some(&user_groups[..]);
    let recipe = Recipe::read(&mut u);
    let setup = setup(&mut u, &cut_from, slashes, flags);

    if std::env::var_os("FUZZ_PATH_SHOW").is_some() {
        let rules: Vec<String> = setup
            .rules
            .rules()
            .iter()
            .map(|r| format!("{r}={}", r.groups.join(",")))
            .collect();
        eprintln!(
            "{method} https://{host}{raw} {override_header:?} {slashes:?} anonymous={} identity={identity} groups={user_groups:?} rules={rules:?} endpoints={} recipe: {:?}",
            setup.anonymous, setup.endpoints, recipe.spell(&raw, true).0
        );
    }
    // The path as the worker reads the URL (stray characters encoded).
    let Some((seen, forwarded)) = send(
        &setup.chain,
        method,
        &format!("https://{host}{raw}"),
        &headers,
    ) else {
        return;
    };
    let parts = request_parts(method, &format!("https://{host}{raw}"), HeaderMap::new()).unwrap();
    let raw = parts.uri.path().to_owned();
    let mut methods = vec![Method::from_bytes(method.as_bytes()).unwrap()];
    // Each method an override header lists, and a `GET` for a `HEAD`.
    if let Some((_, value)) = override_header {
        for claimed in value.split(',') {
            let claimed = claimed.trim().to_ascii_uppercase();
            methods.push(Method::from_bytes(claimed.as_bytes()).unwrap());
        }
    }
    if methods.contains(&Method::HEAD) {
        methods.push(Method::GET);
    }
    let rule_host = Some(host);

    let Ok(path) = canonical(&raw, slashes) else {
        // No canonical form: 400, and at every spelling.
        assert_eq!(status(&seen), 400, "{raw:?}: {seen:?}");
        for case in [false, true] {
            let (spelled, _) = recipe.spell(&raw, case);
            assert!(
                canonicalize(&spelled, slashes).is_err(),
                "{raw:?} has no reading, {spelled:?} has"
            );
            if let Some((other, _)) = send(
                &setup.chain,
                method,
                &format!("https://{host}{spelled}"),
                &headers,
            ) {
                assert_eq!(status(&other), 400, "{raw:?} as {spelled:?}: {other:?}");
            }
        }
        return;
    };

    // What the chain did agrees with the rules and public paths.
    let decided = decisions(&setup.rules, &methods, rule_host, &path);
    let is_refused = refused(&decided, user);
    let public = path.readings().all(|r| setup.public.covers(r));
    let endpoint = setup.endpoints
        && path.readings().any(|r| {
            r.eq_ignore_ascii_case("/.auth/me") || r.eq_ignore_ascii_case("/.auth/logout")
        });
    match &seen {
        Seen::User => {
            assert!(
                !is_refused || endpoint,
                "{raw:?} forwarded, but the rules refuse: {decided:?}"
            )
        }
        Seen::NoUser => assert!(
            public || (setup.anonymous && !identity && decided.iter().all(Option::is_none)),
            "{raw:?} forwarded with no user: {decided:?}"
        ),
        Seen::Refused(_, by_rule) => assert!(!by_rule || is_refused, "{raw:?}: {seen:?}"),
        Seen::Answered => {}
    }
    if !matches!(seen, Seen::Refused(..)) {
        assert_eq!(
            forwarded,
            path.as_str(),
            "{raw:?} forwarded as {forwarded:?}"
        );
    }
    if is_refused && !public && !endpoint {
        assert!(
            matches!(status(&seen), 401 | 403),
            "{raw:?} refused by the rules: {seen:?}"
        );
    }

    for case in [false, true] {
        let (spelled, hides) = recipe.spell(&raw, case);
        // With another letter case, the host too: its letters, and the trailing `.` of a
        // fully qualified name, which DNS and the origins drop.
        let host = if case {
            recipe.spell_host(host)
        } else {
            host.to_owned()
        };
        let rule_host = Some(host.as_str());
        let other = canonical(&spelled, slashes);
        let other = match other {
            Err(error) => {
                assert!(
                    hides && error == PathError::HiddenDotSegment,
                    "{raw:?} as {spelled:?}: {error:?}"
                );
                None
            }
            Ok(other) => {
                assert!(!hides, "{raw:?} as {spelled:?} reads {:?}", other.as_str());
                let (ours, theirs) = (readings(&path), readings(&other));
                if case {
                    assert_eq!(ours.len(), theirs.len(), "{raw:?} as {spelled:?}");
                    for (a, b) in ours.iter().zip(&theirs) {
                        assert!(
                            as_matched(a) == as_matched(b),
                            "{raw:?} as {spelled:?}: {a:?} vs {b:?}"
                        );
                    }
                } else {
                    assert_eq!(ours, theirs, "{raw:?} as {spelled:?}");
                }
                // The rules decide a spelling as they decide the path.
                assert_eq!(
                    decisions(&setup.rules, &methods, rule_host, &other),
                    decided,
                    "{raw:?} as {spelled:?} on {host:?}"
                );
                Some(other)
            }
        };
        let Some((again, sent)) = send(
            &setup.chain,
            method,
            &format!("https://{host}{spelled}"),
            &headers,
        ) else {
            continue;
        };
        match other {
            None => assert_eq!(status(&again), 400, "{raw:?} as {spelled:?}: {again:?}"),
            // The same path: the same answer, the same path forwarded.
            Some(_) if !case => {
                assert_eq!(again, seen, "{raw:?} as {spelled:?}");
                if !matches!(again, Seen::Refused(..)) {
                    assert_eq!(sent, forwarded, "{raw:?} as {spelled:?}");
                }
            }
            // Another letter case: what the rules refuse stays refused (a public path
            // admits only as listed, and an endpoint answers only at its own path).
            Some(other) => {
                let public = other.readings().all(|r| setup.public.covers(r));
                if is_refused && !public && !endpoint {
                    assert!(
                        matches!(status(&again), 401 | 403),
                        "{raw:?} as {spelled:?}: {again:?}"
                    );
                }
                if is_refused && !public {
                    assert!(
                        again != Seen::User || endpoint,
                        "{raw:?} as {spelled:?}: {again:?}"
                    );
                }
            }
        }
    }
});
