//! Events people can see (issue 11): what the chain hands its event sink for a login, a
//! refusal, a revocation, a key fetch and a steady request, and that no line carries a
//! token, a cookie, a secret or an assertion.

use std::cell::RefCell;
use std::rc::Rc;

use futures::executor::block_on;
use http::HeaderMap;
use remote_user_filter::{
    async_trait, AuthEvent, EventKind, FilterChain, GatewayJwtFilter, GatewayPreset, JwksSource,
    KvUserBackend, ManualClock, MemoryStore, Outcome, RemoteUserFilter, RustCryptoVerifier,
    SessionFilter, SharedSecretFilter,
};

const SECRET: &str = "events-test-session-secret-0123456789abcdef";
const GATEWAY_SECRET: &str = "events-test-gateway-secret-0123";
const HEADER: &str = "cf-access-authenticated-user-email";
const T0: u64 = 1_800_000_000;
const RAY: &str = "8f1c2d3e4f5a6b7c-LHR";

type Seen = Rc<RefCell<Vec<AuthEvent>>>;

struct Setup {
    chain: FilterChain,
    store: Rc<MemoryStore>,
    clock: Rc<ManualClock>,
    seen: Seen,
}

fn setup() -> Setup {
    let store = Rc::new(MemoryStore::new());
    let clock = Rc::new(ManualClock::new(T0));
    let seen: Seen = Rc::default();
    let sink = Rc::clone(&seen);
    let backend = Rc::new(KvUserBackend::new(Rc::clone(&store)).with_create_unknown_user(false));
    let chain = FilterChain::builder()
        .filter(SessionFilter::builder(SECRET).build())
        .filter(SharedSecretFilter::new(
            "X-Gateway-Secret",
            Some(GATEWAY_SECRET.into()),
        ))
        .filter(
            RemoteUserFilter::builder(backend)
                .recheck_secs(60)
                .user_cache_secs(0)
                .build(),
        )
        .clock(Rc::clone(&clock))
        .on_event(move |event| sink.borrow_mut().push(event.clone()))
        .build()
        .unwrap();
    store.seed(
        "user:ann@example.com",
        r#"{"username":"ann@example.com","is_active":true}"#,
    );
    Setup {
        chain,
        store,
        clock,
        seen,
    }
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    map
}

/// Log ann in; the `name=value` pair of her session cookie.
fn login(s: &Setup) -> String {
    let outcome = block_on(s.chain.handle(headers(&[
        (HEADER, "ann@example.com"),
        ("x-gateway-secret", GATEWAY_SECRET),
        ("cf-ray", RAY),
    ])));
    let Outcome::Forward {
        set_cookie: Some(cookie),
        ..
    } = outcome
    else {
        panic!("expected a login: {outcome:?}");
    };
    cookie.split(';').next().unwrap().to_owned()
}

fn take(seen: &Seen) -> Vec<AuthEvent> {
    std::mem::take(&mut *seen.borrow_mut())
}

#[test]
fn a_login_records_one_login_event_naming_the_user_and_the_ray() {
    let s = setup();
    let cookie = login(&s);
    let events = take(&s.seen);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event, EventKind::Login);
    assert_eq!(events[0].user.as_deref(), Some("ann@example.com"));
    assert_eq!(events[0].ray.as_deref(), Some(RAY));
    let line = events[0].to_json_line();
    assert_eq!(
        line,
        format!(r#"{{"event":"login","user":"ann@example.com","ray":"{RAY}"}}"#)
    );
    assert!(!line.contains(cookie.split('=').nth(1).unwrap()));
}

#[test]
fn the_steady_request_with_a_valid_session_records_nothing() {
    let s = setup();
    let cookie = login(&s);
    take(&s.seen);
    for _ in 0..3 {
        let outcome = block_on(s.chain.handle(headers(&[
            (HEADER, "ann@example.com"),
            ("x-gateway-secret", GATEWAY_SECRET),
            ("cookie", &cookie),
            ("cf-ray", RAY),
        ])));
        assert!(matches!(outcome, Outcome::Forward { user: Some(_), .. }));
    }
    assert!(take(&s.seen).is_empty());
}

#[test]
fn a_refusal_records_its_reason_and_status() {
    let s = setup();
    // No identity at all.
    block_on(s.chain.handle(headers(&[
        ("x-gateway-secret", GATEWAY_SECRET),
        ("cf-ray", RAY),
    ])));
    // Not through the gateway (a wrong secret).
    block_on(s.chain.handle(headers(&[
        (HEADER, "ann@example.com"),
        ("x-gateway-secret", "a-guess-at-the-gateway-secret!!"),
    ])));
    // Unknown user, creation off.
    block_on(s.chain.handle(headers(&[
        (HEADER, "bob@example.com"),
        ("x-gateway-secret", GATEWAY_SECRET),
    ])));
    let lines: Vec<String> = take(&s.seen).iter().map(AuthEvent::to_json_line).collect();
    assert_eq!(
        lines,
        [
            format!(
                r#"{{"event":"refusal","reason":"missing_identity","status":401,"ray":"{RAY}"}}"#
            ),
            r#"{"event":"refusal","reason":"not_from_gateway","status":401}"#.to_owned(),
            r#"{"event":"refusal","reason":"rejected","status":403}"#.to_owned(),
        ]
    );
    for line in &lines {
        assert!(!line.contains("a-guess-at-the-gateway-secret"), "{line}");
        assert!(!line.contains(GATEWAY_SECRET), "{line}");
    }
}

#[test]
fn a_recheck_that_finds_the_user_inactive_records_a_revocation() {
    let s = setup();
    let cookie = login(&s);
    take(&s.seen);
    s.store.seed(
        "user:ann@example.com",
        r#"{"username":"ann@example.com","is_active":false}"#,
    );
    s.clock.advance(61);
    let outcome = block_on(s.chain.handle(headers(&[
        (HEADER, "ann@example.com"),
        ("x-gateway-secret", GATEWAY_SECRET),
        ("cookie", &cookie),
    ])));
    assert!(matches!(outcome, Outcome::Respond { .. }), "{outcome:?}");
    let events = take(&s.seen);
    let kinds: Vec<EventKind> = events.iter().map(|e| e.event).collect();
    assert_eq!(
        kinds,
        [EventKind::Revocation, EventKind::Refusal],
        "{events:?}"
    );
    assert_eq!(events[0].user.as_deref(), Some("ann@example.com"));
    assert_eq!(events[0].reason.as_deref(), Some("user_rejected"));
    assert_eq!(
        (events[1].reason.as_deref(), events[1].status),
        (Some("rejected"), Some(403))
    );
    let token = cookie.split_once('=').unwrap().1;
    for event in &events {
        assert!(!event.to_json_line().contains(token));
    }
}

/// A key source serving whatever it is given, counting fetches.
struct Keys(RefCell<Result<String, String>>);

#[async_trait(?Send)]
impl JwksSource for Keys {
    async fn fetch_jwks(&self) -> Result<String, String> {
        self.0.borrow().clone()
    }
}

fn access_chain(source: Rc<Keys>, seen: &Seen) -> FilterChain {
    let sink = Rc::clone(seen);
    let backend = Rc::new(KvUserBackend::new(MemoryStore::new()));
    let preset = GatewayPreset::cloudflare_access("team.cloudflareaccess.com", vec!["aud".into()]);
    FilterChain::builder()
        .filter(SessionFilter::builder(SECRET).build())
        .filter(GatewayJwtFilter::builder(preset, source, Rc::new(RustCryptoVerifier)).build())
        .filter(RemoteUserFilter::new(backend))
        .clock(ManualClock::new(T0))
        .on_event(move |event| sink.borrow_mut().push(event.clone()))
        .build()
        .unwrap()
}

/// An unsigned-looking but well-formed RS256 assertion for ann, valid at T0.
fn assertion(kid: &str) -> String {
    use base64::Engine;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let header = b64(serde_json::json!({"alg": "RS256", "kid": kid, "typ": "JWT"}));
    let claims = b64(serde_json::json!({
        "iss": "https://team.cloudflareaccess.com", "aud": ["aud"], "email": "ann@example.com",
        "sub": "1", "iat": T0 - 10, "exp": T0 + 600, "type": "app",
    }));
    format!("{header}.{claims}.c2lnbmF0dXJl")
}

#[test]
fn a_key_fetch_records_its_outcome_and_a_forged_assertion_its_reason() {
    let seen: Seen = Rc::default();
    let source = Rc::new(Keys(RefCell::new(Err(
        "fetching https://keys: HTTP 500".into()
    ))));
    let chain = access_chain(Rc::clone(&source), &seen);
    let forged = assertion("k1");
    let request = || headers(&[("cf-access-jwt-assertion", &forged), ("cf-ray", RAY)]);

    // The key set cannot be had: a failed fetch, and a 503 refusal with the operator's detail.
    block_on(chain.handle(request()));
    let events = take(&seen);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[0].to_json_line(),
        format!(
            r#"{{"event":"key_fetch","reason":"fetch_failed","ray":"{RAY}","detail":"fetching https://keys: HTTP 500"}}"#
        )
    );
    assert_eq!(
        (events[1].reason.as_deref(), events[1].status),
        (Some("keys_unavailable"), Some(503))
    );
    assert!(events[1].detail.as_deref().unwrap().contains("HTTP 500"));

    // A key set with another key: fetched (one key), and the assertion's kid is unknown.
    *source.0.borrow_mut() = Ok(serde_json::json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "other", "alg": "ES256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    }]})
    .to_string());
    let chain = access_chain(source, &seen);
    block_on(chain.handle(request()));
    let events = take(&seen);
    let lines: Vec<String> = events.iter().map(AuthEvent::to_json_line).collect();
    assert_eq!(
        lines,
        [
            format!(r#"{{"event":"key_fetch","ray":"{RAY}","keys":1}}"#),
            format!(
                r#"{{"event":"refusal","reason":"assertion_unknown_key","status":401,"ray":"{RAY}"}}"#
            ),
        ]
    );
    for line in &lines {
        assert!(!line.contains(&forged), "{line}");
    }
}
