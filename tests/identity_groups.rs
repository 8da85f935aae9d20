//! Groups from the identity provider (`ACCESS_FETCH_IDENTITY`), natively, through the stock
//! chain: merged after the record's, fetched at a login and a re-check only, one fetch for a
//! burst of first requests, a failed fetch is a warning, the record is never rewritten, and
//! the configuration check refuses the setting outside Cloudflare Access mode.
#![cfg(not(target_arch = "wasm32"))]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures::channel::oneshot;
use futures::executor::block_on;
use futures::future::{join_all, FutureExt, Shared};
use http::HeaderMap;
use remote_user_filter::config::offline::OfflineConfig;
use remote_user_filter::{
    async_trait, ConfigError, FilterChain, IdentitySource, JwksSource, ManualClock, MemoryStore,
    Outcome, StockSettings, UpstreamHeaders,
};

mod common;
use common::keys::*;

const SECRET: &str = "identity-test-session-secret-0123456789abcdef";
const ANN: &str = "ann@example.com";
const ANN_RECORD: &str =
    r#"{"username":"ann@example.com","is_active":true,"groups":["ops","dev"]}"#;

struct Keys;
#[async_trait(?Send)]
impl JwksSource for Keys {
    async fn fetch_jwks(&self) -> Result<String, String> {
        Ok(jwks(&[rsa_key(0).jwk()]))
    }
}

/// A fake `get-identity`: answers `doc`, counts calls, keeps the assertions it was sent,
/// and can hold calls until the test releases them.
struct FakeIdentity {
    doc: RefCell<Result<String, String>>,
    calls: Cell<usize>,
    assertions: RefCell<Vec<String>>,
    gate: RefCell<Option<Shared<oneshot::Receiver<()>>>>,
}

impl FakeIdentity {
    fn new(doc: Result<&str, &str>) -> Rc<Self> {
        Rc::new(Self {
            doc: RefCell::new(doc.map(str::to_owned).map_err(str::to_owned)),
            calls: Cell::new(0),
            assertions: RefCell::new(Vec::new()),
            gate: RefCell::new(None),
        })
    }

    fn hold(&self) -> oneshot::Sender<()> {
        let (release, held) = oneshot::channel();
        *self.gate.borrow_mut() = Some(held.shared());
        release
    }
}

#[async_trait(?Send)]
impl IdentitySource for FakeIdentity {
    async fn fetch_identity(&self, assertion: &str) -> Result<String, String> {
        self.calls.set(self.calls.get() + 1);
        self.assertions.borrow_mut().push(assertion.to_owned());
        let gate = self.gate.borrow().clone();
        if let Some(gate) = gate {
            gate.await
                .map_err(|_| "released without an answer".to_owned())?;
        }
        self.doc.borrow().clone()
    }
}

struct Idp {
    chain: FilterChain,
    clock: Rc<ManualClock>,
    store: Rc<MemoryStore>,
    identity: Rc<FakeIdentity>,
    warnings: Rc<RefCell<Vec<String>>>,
}

fn vars<'a>(extra: &[(&'a str, &'a str)]) -> HashMap<&'a str, &'a str> {
    let mut all = HashMap::from([
        ("AUTH_FILTERS", "session,gateway_jwt,remote_user"),
        ("GATEWAY", "cloudflare_access"),
        ("ACCESS_TEAM_DOMAIN", TEAM),
        ("ACCESS_AUD", AUD),
        ("ACCESS_FETCH_IDENTITY", "true"),
    ]);
    all.extend(extra.iter().copied());
    all
}

fn settings(extra: &[(&str, &str)]) -> Result<StockSettings, ConfigError> {
    let all = vars(extra);
    StockSettings::from_vars(|k| all.get(k).map(|v| v.to_string()))
}

fn idp(doc: Result<&str, &str>, extra: &[(&str, &str)]) -> Idp {
    let store = Rc::new(MemoryStore::new());
    store.seed(&format!("user:{ANN}"), ANN_RECORD);
    let clock = Rc::new(ManualClock::new(NOW));
    let identity = FakeIdentity::new(doc);
    let warnings = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&warnings);
    let chain = settings(extra)
        .expect("valid settings")
        .chain(Rc::clone(&store))
        .session_secret(SECRET.to_owned())
        .clock(Rc::clone(&clock))
        .jwks(Rc::new(Keys))
        .identity(identity.clone())
        .on_warning(move |line| sink.borrow_mut().push(line.to_owned()))
        .build()
        .expect("valid chain");
    Idp {
        chain,
        clock,
        store,
        identity,
        warnings,
    }
}

impl Idp {
    async fn send(&self, token: &str, cookie: Option<&str>) -> Outcome {
        let mut headers = HeaderMap::new();
        headers.insert("cf-access-jwt-assertion", token.parse().unwrap());
        if let Some(pair) = cookie {
            headers.insert("cookie", pair.parse().unwrap());
        }
        self.chain.handle(headers).await
    }
}

fn token(email: &str) -> String {
    rs256(rsa_key(0), &claims(email))
}

/// The groups the origin is sent, as `X-Remote-User-Groups` says them.
fn groups_header(outcome: &Outcome) -> Option<String> {
    let Outcome::Forward {
        user: Some(user), ..
    } = outcome
    else {
        panic!("expected a forwarded user, got {outcome:?}");
    };
    UpstreamHeaders::default()
        .identity_headers(user)
        .into_iter()
        .find(|(name, _)| *name == "x-remote-user-groups")
        .map(|(_, value)| value)
}

fn pair(outcome: &Outcome) -> String {
    let cookie = outcome.set_cookie().expect("a session cookie");
    cookie.split(';').next().unwrap().to_owned()
}

/// Broken by: merging without the dedup, fetched groups first, or dropping `{"name": …}`.
#[test]
fn fetched_groups_as_strings_and_objects_follow_the_record_s_each_once() {
    block_on(async {
        let doc = r#"{"email":"ann@example.com","groups":["dev",{"id":"g1","name":"sso-admins"},
            {"name":"ops"},5,{"id":"no-name"},null,"eng","eng"],"idp":{"type":"okta"}}"#;
        let g = idp(Ok(doc), &[]);
        let token = token(ANN);
        let first = g.send(&token, None).await;
        assert_eq!(
            groups_header(&first).as_deref(),
            Some("ops,dev,sso-admins,eng")
        );
        assert_eq!(g.identity.calls.get(), 1);
        assert_eq!(*g.identity.assertions.borrow(), [token]);
        assert!(g.warnings.borrow().is_empty(), "{:?}", g.warnings.borrow());
    })
}

/// Broken by: saving the merged user (`backend.save_user`) after the fetch.
#[test]
fn the_user_record_is_never_written_with_fetched_groups() {
    block_on(async {
        let g = idp(Ok(r#"{"groups":["sso-admins"]}"#), &[]);
        let outcome = g.send(&token(ANN), None).await;
        assert_eq!(
            groups_header(&outcome).as_deref(),
            Some("ops,dev,sso-admins")
        );
        assert_eq!(
            g.store.peek(&format!("user:{ANN}")).as_deref(),
            Some(ANN_RECORD)
        );
        // The one write is the login stamp.
        assert_eq!(g.store.writes(), 1);
        assert!(g.store.peek(&format!("login:{ANN}")).is_some());

        // A user created at this login is written once, with no fetched group in it.
        let bob = "bob@example.com";
        let outcome = g.send(&token(bob), None).await;
        assert_eq!(groups_header(&outcome).as_deref(), Some("sso-admins"));
        let record: serde_json::Value =
            serde_json::from_str(&g.store.peek(&format!("user:{bob}")).unwrap()).unwrap();
        assert_eq!(record.get("groups"), None, "{record}");
        assert_eq!(g.store.writes(), 2);
    })
}

/// Broken by: a failed fetch failing the look-up (503), or no warning for it.
#[test]
fn a_failed_fetch_logs_in_with_the_record_s_groups_and_a_warning() {
    let answers: [Result<&str, &str>; 5] = [
        Err("fetching https://myteam.cloudflareaccess.com/cdn-cgi/access/get-identity: HTTP 500"),
        Err("did not answer within 2000 ms; abandoned"),
        Ok("<html>sign in</html>"),
        Ok(r#"{"err":"invalid token"}"#),
        Ok("[]"),
    ];
    for answer in answers {
        block_on(async {
            let g = idp(answer, &[]);
            let token = token(ANN);
            let outcome = g.send(&token, None).await;
            assert_eq!(
                groups_header(&outcome).as_deref(),
                Some("ops,dev"),
                "{answer:?}"
            );
            assert!(outcome.set_cookie().is_some(), "logged in: {answer:?}");
            let warnings = g.warnings.borrow();
            assert_eq!(warnings.len(), 1, "{answer:?}: {warnings:?}");
            let prefix = format!(
                "the identity provider's groups of `{ANN}` were not fetched \
                 (ACCESS_FETCH_IDENTITY; the user keeps the record's groups): "
            );
            assert!(warnings[0].starts_with(&prefix), "{}", warnings[0]);
            if let Err(why) = answer {
                assert!(warnings[0].contains(why), "{}", warnings[0]);
            }
            assert!(!warnings[0].contains(&token), "no token in a warning");
            assert_eq!(
                g.store.peek(&format!("user:{ANN}")).as_deref(),
                Some(ANN_RECORD)
            );
        })
    }
}

/// Broken by: looking the session's user up on every request (the re-check's early return
/// removed); with `USER_CACHE_SECS=0` each would be a fetch.
#[test]
fn a_valid_session_makes_no_call() {
    block_on(async {
        let g = idp(Ok(r#"{"groups":["sso"]}"#), &[("USER_CACHE_SECS", "0")]);
        let token = token(ANN);
        let first = g.send(&token, None).await;
        let cookie = pair(&first);
        for _ in 0..10 {
            g.clock.advance(5);
            let next = g.send(&token, Some(&cookie)).await;
            assert_eq!(groups_header(&next).as_deref(), Some("ops,dev,sso"));
            assert!(next.set_cookie().is_none());
        }
        assert_eq!(g.identity.calls.get(), 1);
        assert_eq!(g.store.reads(), 1);
    })
}

/// Broken by: fetching at a login only (no fetch when the look-up is a re-check).
#[test]
fn a_recheck_fetches_again_and_reissues_changed_groups() {
    block_on(async {
        let g = idp(Ok(r#"{"groups":["sso"]}"#), &[("USER_RECHECK_SECS", "300")]);
        let token = token(ANN);
        let cookie = pair(&g.send(&token, None).await);
        assert_eq!(g.identity.calls.get(), 1);

        *g.identity.doc.borrow_mut() = Ok(r#"{"groups":["sso","on-call"]}"#.into());
        g.clock.advance(301);
        let rechecked = g.send(&token, Some(&cookie)).await;
        assert_eq!(g.identity.calls.get(), 2, "the re-check asks again");
        assert_eq!(
            groups_header(&rechecked).as_deref(),
            Some("ops,dev,sso,on-call")
        );
        let renewed = pair(&rechecked);
        g.clock.advance(5);
        let next = g.send(&token, Some(&renewed)).await;
        assert_eq!(groups_header(&next).as_deref(), Some("ops,dev,sso,on-call"));
        assert_eq!(g.identity.calls.get(), 2);
        assert_eq!(
            g.store.peek(&format!("user:{ANN}")).as_deref(),
            Some(ANN_RECORD)
        );
    })
}

/// Broken by: fetching outside the shared look-up (after the single flight): one call per
/// request.
#[test]
fn a_burst_of_first_requests_makes_one_call() {
    block_on(async {
        let g = idp(Ok(r#"{"groups":["sso"]}"#), &[]);
        let release = g.identity.hold();
        let tokens: Vec<String> = (0..10).map(|_| token(ANN)).collect();
        let mut all = join_all(tokens.iter().map(|t| g.send(t, None))).boxed_local();
        assert!((&mut all).now_or_never().is_none(), "the fetch is held");
        assert_eq!(g.identity.calls.get(), 1);
        release.send(()).unwrap();
        let outcomes = all.await;
        for outcome in &outcomes {
            assert_eq!(groups_header(outcome).as_deref(), Some("ops,dev,sso"));
        }
        assert_eq!(g.identity.calls.get(), 1, "one call for ten requests");
        assert_eq!(g.store.reads(), 1);
    })
}

/// Broken by: fetching whenever a source is given, the setting off.
#[test]
fn off_by_default() {
    block_on(async {
        let g = idp(
            Ok(r#"{"groups":["sso"]}"#),
            &[("ACCESS_FETCH_IDENTITY", "")],
        );
        let outcome = g.send(&token(ANN), None).await;
        assert_eq!(groups_header(&outcome).as_deref(), Some("ops,dev"));
        assert_eq!(g.identity.calls.get(), 0);
    })
}

fn check(extra: &[(&str, &str)]) -> Result<Vec<String>, ConfigError> {
    settings(extra)?
        .chain(MemoryStore::new())
        .session_secret(SECRET.to_owned())
        .gateway_secret("a-long-random-gateway-secret".to_owned())
        .clock(ManualClock::new(0))
        .jwks(Rc::new(Keys))
        .identity(FakeIdentity::new(Ok("{}")))
        .build()
        .map(|chain| chain.names())
}

fn offline(extra: &[(&str, &str)]) -> Result<Vec<String>, ConfigError> {
    let mut toml = String::from("[[kv_namespaces]]\nbinding = \"USERS\"\nid = \"x\"\n[vars]\n");
    for (k, v) in vars(extra) {
        toml.push_str(&format!("{k} = {v:?}\n"));
    }
    let dev_vars =
        format!("SESSION_SECRET={SECRET}\nGATEWAY_SECRET=a-long-random-gateway-secret\n");
    OfflineConfig::parse(&toml, &dev_vars, None)
        .expect("readable files")
        .check()
}

/// Broken by: not checking ACCESS_FETCH_IDENTITY's company (or ACCESS_IDENTITY_URL).
#[test]
fn the_configuration_check_refuses_it_outside_access_mode() {
    let refusals: [(&[(&str, &str)], &str); 5] = [
        (
            &[("ACCESS_TEAM_DOMAIN", "")],
            "`GatewayJwtFilter` needs the setting ACCESS_TEAM_DOMAIN",
        ),
        (
            &[
                ("GATEWAY", "pomerium"),
                ("POMERIUM_HOST", "auth.example.com"),
            ],
            "ACCESS_FETCH_IDENTITY is `true` with GATEWAY `pomerium`",
        ),
        (
            &[("AUTH_FILTERS", "session,gateway_secret,remote_user")],
            "ACCESS_FETCH_IDENTITY is `true` without `gateway_jwt` in AUTH_FILTERS",
        ),
        (
            &[("ACCESS_IDENTITY_URL", "http://idp.example.com/get-identity")],
            "ACCESS_IDENTITY_URL is `http://idp.example.com/get-identity`",
        ),
        (
            &[("ACCESS_FETCH_IDENTITY", "yes")],
            "ACCESS_FETCH_IDENTITY is `yes`",
        ),
    ];
    for (extra, expected) in refusals {
        let worker = check(extra).expect_err("refused").to_string();
        assert!(worker.starts_with(expected), "{worker}");
        let offline = offline(extra).expect_err("refused offline").to_string();
        assert_eq!(offline, worker);
    }
    // Accepted: Access mode, loopback http for tests, and the setting off anywhere.
    let ok: [&[(&str, &str)]; 3] = [
        &[],
        &[(
            "ACCESS_IDENTITY_URL",
            "http://127.0.0.1:8788/cdn-cgi/access/get-identity",
        )],
        &[
            ("ACCESS_FETCH_IDENTITY", "false"),
            ("AUTH_FILTERS", "session,gateway_secret,remote_user"),
        ],
    ];
    for extra in ok {
        assert!(check(extra).is_ok(), "{extra:?}: {:?}", check(extra));
        assert!(offline(extra).is_ok(), "{extra:?}: {:?}", offline(extra));
    }
}

/// Broken by: building the chain with the setting on and no source (no login would fetch).
#[test]
fn a_chain_without_an_identity_source_is_refused() {
    let err = settings(&[])
        .unwrap()
        .chain(MemoryStore::new())
        .session_secret(SECRET.to_owned())
        .clock(ManualClock::new(0))
        .jwks(Rc::new(Keys))
        .build()
        .expect_err("refused")
        .to_string();
    assert!(
        err.starts_with("`RemoteUserFilter` has ACCESS_FETCH_IDENTITY=true but no source"),
        "{err}"
    );
}

#[test]
fn the_identity_url_defaults_to_the_team_s_get_identity() {
    let s = settings(&[("ACCESS_TEAM_DOMAIN", "https://other.cloudflareaccess.com/")]).unwrap();
    assert_eq!(
        s.identity_url,
        "https://other.cloudflareaccess.com/cdn-cgi/access/get-identity"
    );
    assert!(s.fetch_identity);
    let off = StockSettings::from_vars(|_| None).unwrap();
    assert!(!off.fetch_identity);
}
