//! What the fuzz targets share: the JS decoder of the wire format (a port of `decode` in
//! src/edge/reply.js), the identity-header rule as the README states it, the chains they
//! drive, and the invariants every outcome must meet.

use std::rc::Rc;

use http::HeaderMap;
use percent_encoding::percent_decode_str;
use remote_user_filter::edge::wire::{CookieAction, Reply};
use remote_user_filter::{
    Clock, FilterChain, KvUserBackend, MemoryStore, Outcome, RemoteUserFilter, SessionFilter,
    SessionUser, UpstreamHeaders, DEFAULT_COOKIE_NAME,
};

/// The session secret of every chain here.
pub const SESSION_SECRET: &str = "fuzz-session-secret-0123456789abcdef";
/// The clock's start.
pub const NOW: u64 = 1_800_000_000;
/// The default identity header, as `HeaderMap` keys it.
pub const IDENTITY: &str = "cf-access-authenticated-user-email";

/// A reply as `decode` in src/edge/reply.js reads it.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    pub kind: String,
    pub first: String,
    pub set_cookie: String,
    pub cookie: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// `decode` from src/edge/reply.js, line for line.
pub fn decode(reply: &str) -> Decoded {
    let mut at = 0;
    let mut line = || {
        let end = reply[at..].find('\n').map(|i| at + i);
        let text = &reply[at..end.unwrap_or(reply.len())];
        at = end.map_or(reply.len(), |e| e + 1);
        text.to_owned()
    };
    let kind = line();
    let first = line();
    let set_cookie = line();
    let cookie = line();
    let mut headers = Vec::new();
    loop {
        let l = line();
        if l.is_empty() {
            break;
        }
        // JS: indexOf gives -1 for no tab; slice(0, -1) drops the last char.
        match l.find('\t') {
            Some(tab) => headers.push((l[..tab].to_owned(), l[tab + 1..].to_owned())),
            None => {
                let cut = l.char_indices().last().map_or(0, |(i, _)| i);
                headers.push((l[..cut].to_owned(), l.clone()));
            }
        }
    }
    let body = reply[at..].to_owned();
    Decoded {
        kind,
        first,
        set_cookie,
        cookie,
        headers,
        body,
    }
}

/// What the JS decoder must read back from `reply`'s encoding.
pub fn expected(reply: &Reply) -> Decoded {
    match reply {
        Reply::Forward {
            target,
            set_cookie,
            cookie,
            headers,
            gateway_headers,
            preflight,
        } => Decoded {
            kind: "F".into(),
            first: target.clone(),
            set_cookie: set_cookie.clone().unwrap_or_default(),
            cookie: match cookie {
                CookieAction::Keep => String::new(),
                CookieAction::Delete => "-".into(),
                CookieAction::Set(v) => format!("={v}"),
            },
            headers: headers.clone(),
            body: match (gateway_headers, preflight) {
                (true, true) => "GP".into(),
                (true, false) => "G".into(),
                (false, true) => "P".into(),
                (false, false) => String::new(),
            },
        },
        Reply::Respond {
            status,
            set_cookie,
            headers,
            body,
        } => Decoded {
            kind: "R".into(),
            first: status.to_string(),
            set_cookie: set_cookie.clone().unwrap_or_default(),
            cookie: String::new(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone()))
                .collect(),
            body: body.clone(),
        },
    }
}

/// Encode `reply`; when it encodes, the JS decoder reads back exactly its fields.
pub fn round_trip(reply: &Reply) -> bool {
    match reply.encode() {
        Ok(text) => {
            assert_eq!(
                decode(&text),
                expected(reply),
                "reply {reply:?} as {text:?}"
            );
            true
        }
        Err(_) => false,
    }
}

/// The identity header, as the README's rules read it.
#[derive(Debug, PartialEq, Eq)]
pub enum Identity {
    /// Absent or blank.
    None,
    /// Refused with a 400: sent twice, not UTF-8, over 320 bytes, a comma, a control char.
    Invalid,
    /// This (trimmed) identity.
    Valid(String),
}

/// The header `name`'s identity in `headers`.
pub fn identity(headers: &HeaderMap, name: &str) -> Identity {
    let values: Vec<_> = headers.get_all(name).iter().collect();
    match values.as_slice() {
        [] => Identity::None,
        [one] => match std::str::from_utf8(one.as_bytes()) {
            Err(_) => Identity::Invalid,
            Ok(text) => {
                let text = text.trim();
                if text.len() > 320 || text.contains(',') || text.chars().any(char::is_control) {
                    Identity::Invalid
                } else if text.is_empty() {
                    Identity::None
                } else {
                    Identity::Valid(text.to_owned())
                }
            }
        },
        _ => Identity::Invalid,
    }
}

/// Session + remote user (trusted header) over `store`, at `clock`.
pub fn remote_user_chain(store: Rc<MemoryStore>, clock: impl Clock + 'static) -> FilterChain {
    FilterChain::builder()
        .filter(SessionFilter::builder(SESSION_SECRET).build())
        .filter(
            RemoteUserFilter::builder(Rc::new(KvUserBackend::new(store)))
                .trust_unsigned_header(true)
                .build(),
        )
        .clock(clock)
        .build()
        .expect("a valid chain")
}

/// The token in a `Set-Cookie` for our cookie.
pub fn token_of(set_cookie: &str) -> Option<&str> {
    let pair = set_cookie.split(';').next()?;
    let (name, value) = pair.split_once('=')?;
    (name.trim() == DEFAULT_COOKIE_NAME && !value.is_empty()).then_some(value)
}

/// Every answer is one of the statuses the README lists.
pub fn assert_status(outcome: &Outcome) {
    if let Outcome::Respond { error, .. } = outcome {
        let status = error.status();
        assert!(
            matches!(status, 400 | 401 | 403 | 500 | 503),
            "status {status} for {error:?}"
        );
    }
}

/// The identity headers for `user` are valid header values that decode back to it.
pub fn assert_upstream(user: &SessionUser) {
    let upstream = UpstreamHeaders::default();
    let headers = upstream.identity_headers(user);
    for (name, value) in &headers {
        assert!(
            http::HeaderValue::from_str(value).is_ok()
                && !value.starts_with([' ', '\t'])
                && !value.ends_with([' ', '\t']),
            "{name}: {value:?}"
        );
    }
    let back = |v: &str| {
        percent_decode_str(v)
            .decode_utf8()
            .expect("UTF-8")
            .into_owned()
    };
    assert_eq!(back(&headers[0].1), user.username);
    let mut rest = headers[1..].iter();
    if let Some(email) = &user.email {
        assert_eq!(back(&rest.next().expect("email").1), *email);
    }
    if !user.groups.is_empty() {
        assert_eq!(back(&rest.next().expect("groups").1), user.groups.join(","));
    }
}
