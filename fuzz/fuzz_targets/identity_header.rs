//! The identity header rules (`RemoteUserFilter`: trimmed, at most 320 bytes, UTF-8, no
//! control character, no comma, sent once) and the session cookie, through a whole chain:
//! `SessionFilter` + `RemoteUserFilter` (trusted header) over a `MemoryStore` and a
//! `ManualClock`. A first request logs ann in; the fuzzed request then carries any headers
//! (the identity header in any case or `_` spelling, any value) and ann's cookie as issued,
//! altered, or none. Invariants: a malformed identity header is a 400; a user is forwarded
//! only as the valid identity header names them, or as ann when the cookie the chain issued
//! is sent; a cookie is set only for a valid identity header; statuses are 400/401/403.
#![no_main]

use std::rc::Rc;

use arbitrary::Arbitrary;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use remote_user_filter::edge::wire::Reply;
use remote_user_filter::{ManualClock, MemoryStore, Outcome, UpstreamHeaders, DEFAULT_COOKIE_NAME};
use remote_user_filter_fuzz::{
    assert_status, assert_upstream, identity, remote_user_chain, round_trip, token_of, Identity,
    IDENTITY, NOW,
};

#[derive(Arbitrary, Debug)]
enum Name {
    Identity,
    Upper,
    Underscore,
    Cookie,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Value {
    Ann,
    Text(String),
    Bytes(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Cookie {
    None,
    Issued,
    /// The issued token with one byte changed.
    Flipped(u16, u8),
    /// The issued token cut short.
    Cut(u16),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    headers: Vec<(Name, Value)>,
    cookie: Cookie,
    /// Seconds between the login and this request.
    later: u16,
}

fuzz_target!(|input: Input| {
    let store = Rc::new(MemoryStore::new());
    let clock = Rc::new(ManualClock::new(NOW));
    let chain = remote_user_chain(store, clock.clone());
    let mut first = HeaderMap::new();
    first.insert(IDENTITY, HeaderValue::from_static("ann@example.com"));
    let login = futures::executor::block_on(chain.handle(first));
    let Outcome::Forward {
        set_cookie: Some(set_cookie),
        ..
    } = login
    else {
        panic!("ann logs in: {login:?}");
    };
    let issued = token_of(&set_cookie).expect("our cookie").to_owned();
    clock.advance(u64::from(input.later));

    let mut headers = HeaderMap::new();
    for (name, value) in &input.headers {
        let name = match name {
            Name::Identity => HeaderName::from_static(IDENTITY),
            Name::Upper => match HeaderName::from_bytes(b"Cf-Access-Authenticated-User-Email") {
                Ok(n) => n,
                Err(_) => continue,
            },
            Name::Underscore => HeaderName::from_static("cf_access_authenticated_user_email"),
            Name::Cookie => http::header::COOKIE,
            Name::Other(s) => match HeaderName::from_bytes(s.as_bytes()) {
                Ok(n) => n,
                Err(_) => continue,
            },
        };
        let value = match value {
            Value::Ann => HeaderValue::from_static("ann@example.com"),
            Value::Text(s) => match HeaderValue::from_str(s) {
                Ok(v) => v,
                Err(_) => continue,
            },
            Value::Bytes(b) => match HeaderValue::from_bytes(b) {
                Ok(v) => v,
                Err(_) => continue,
            },
        };
        headers.append(name, value);
    }
    let token = match &input.cookie {
        Cookie::None => None,
        Cookie::Issued => Some(issued.clone()),
        Cookie::Flipped(at, to) => {
            let mut bytes = issued.clone().into_bytes();
            let at = usize::from(*at) % bytes.len();
            bytes[at] = *to;
            String::from_utf8(bytes).ok()
        }
        Cookie::Cut(at) => Some(issued[..usize::from(*at) % issued.len()].to_owned()),
        Cookie::Raw(s) => Some(s.clone()),
    };
    if let Some(token) = &token {
        if let Ok(value) = HeaderValue::from_str(&format!("{DEFAULT_COOKIE_NAME}={token}")) {
            headers.append(http::header::COOKIE, value);
        }
    }
    // Whether the request carries the very cookie the chain issued (in any Cookie header).
    let sends_issued = headers.get_all(http::header::COOKIE).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(';')
                .any(|pair| pair.trim() == format!("{DEFAULT_COOKIE_NAME}={issued}"))
        })
    });
    let said = identity(&headers, IDENTITY);
    let cookie = headers
        .get(http::header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    let outcome = futures::executor::block_on(chain.handle(headers));
    assert_status(&outcome);
    if said == Identity::Invalid {
        assert!(
            matches!(&outcome, Outcome::Respond { error, .. } if error.status() == 400),
            "a malformed identity header must be a 400: {outcome:?}"
        );
    }
    match &outcome {
        Outcome::Forward { user: None, .. } => panic!("ANONYMOUS=deny forwarded no one"),
        Outcome::Forward {
            user: Some(user),
            set_cookie,
            ..
        } => {
            match &said {
                Identity::Valid(id) => assert_eq!(&user.username, id),
                _ => {
                    assert!(
                        sends_issued,
                        "a user without a header or our cookie: {user:?}"
                    );
                    assert_eq!(user.username, "ann@example.com");
                }
            }
            if set_cookie.is_some() {
                assert!(
                    matches!(&said, Identity::Valid(id) if *id == user.username),
                    "a session issued without a valid identity header"
                );
            }
            assert_upstream(user);
        }
        Outcome::Respond { .. } | Outcome::Answer { .. } => {}
    }
    let reply = Reply::new(
        outcome,
        "https://app.example.com/",
        cookie.as_deref(),
        &UpstreamHeaders::default(),
        Some("http://origin.internal"),
        &http::HeaderMap::new(),
    );
    assert!(round_trip(&reply), "the reply cannot be framed: {reply:?}");
});
