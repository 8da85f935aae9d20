//! The async backend on wasm32, in Node: `KvUserBackend` over the real `worker::KvStore`
//! binding type (through `WorkerKvStore`), backed by a JS stand-in namespace that counts
//! calls; the stock chain with the JS clock; the custom backend on both known and unknown
//! users.
#![cfg(target_arch = "wasm32")]

mod common;

use std::rc::Rc;

use common::{claims, pair, CorpBackend, SECRET};
use remote_user_filter::edge::worker::WorkerKvStore;
use remote_user_filter::{
    FilterChain, KvUserBackend, Outcome, RemoteUserFilter, SessionFilter, StockSettings,
    SystemClock, UserBackend,
};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen(inline_js = r#"
export function standInEnv(failing) {
  const map = new Map();
  const calls = { get: 0, put: 0 };
  const USERS = {
    async get(key, options) {
      calls.get++;
      if (failing) throw new Error("KV GET failed: 503");
      if (!options || options.type !== "text") throw new Error("expected a text get");
      return map.has(key) ? map.get(key) : null;
    },
    async put(key, value) {
      calls.put++;
      if (failing) throw new Error("KV PUT failed: 503");
      if (typeof value !== "string") throw new Error("expected a string value");
      map.set(key, value);
    },
    async getWithMetadata() { throw new Error("unused"); },
    async list() { throw new Error("unused"); },
    async delete() { throw new Error("unused"); },
  };
  return { USERS, calls, map };
}
export function hangingEnv() {
  const env = standInEnv(false);
  env.USERS.get = (key) => { env.calls.get++; return new Promise(() => {}); };
  return env;
}
export function gets(env) { return env.calls.get; }
export function puts(env) { return env.calls.put; }
export function value(env, key) { return env.map.get(key); }
export function seed(env, key, v) { env.map.set(key, v); }
"#)]
extern "C" {
    #[wasm_bindgen(js_name = standInEnv)]
    fn stand_in_env(failing: bool) -> JsValue;
    #[wasm_bindgen(js_name = hangingEnv)]
    fn hanging_env() -> JsValue;
    fn gets(env: &JsValue) -> u32;
    fn puts(env: &JsValue) -> u32;
    fn value(env: &JsValue, key: &str) -> Option<String>;
    fn seed(env: &JsValue, key: &str, value: &str);
}

const HEADER: &str = "cf-access-authenticated-user-email";

fn headers(
    identity: Option<&str>,
    cookie: Option<&str>,
    extra: &[(&str, &str)],
) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    if let Some(identity) = identity {
        h.insert(HEADER, identity.parse().unwrap());
    }
    if let Some(cookie) = cookie {
        h.insert("cookie", cookie.parse().unwrap());
    }
    for (k, v) in extra {
        h.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

/// The chain answered `status` itself and changed no session.
fn assert_refused(outcome: Outcome, status: u16) {
    match outcome {
        Outcome::Respond {
            error,
            set_cookie: None,
        } => assert_eq!(error.status(), status),
        other => panic!("expected {status} without a cookie, got {other:?}"),
    }
}

fn stock_chain(env: &JsValue, vars: &[(&str, &str)]) -> FilterChain {
    // Header mode (issue 2's behaviours); gateway assertions have their own tests.
    let defaults = [
        ("AUTH_FILTERS", "session,remote_user"),
        ("TRUST_UNSIGNED_HEADER", "true"),
    ];
    let settings = StockSettings::from_vars(|k| {
        vars.iter()
            .chain(defaults.iter())
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.to_string())
    })
    .unwrap();
    settings
        .chain(WorkerKvStore::from_object(env, "USERS"))
        .session_secret(SECRET.to_string())
        .clock(SystemClock)
        .build()
        .unwrap()
}

#[wasm_bindgen_test]
async fn unknown_user_is_created_once_then_the_session_costs_no_kv_call() {
    let env = stand_in_env(false);
    let chain = stock_chain(&env, &[]);
    let first = chain
        .handle(headers(Some("ann@example.com"), None, &[]))
        .await;
    let Outcome::Forward {
        user: Some(user),
        set_cookie: Some(cookie),
        ..
    } = first
    else {
        panic!("expected a login, got {first:?}");
    };
    assert_eq!(user.username, "ann@example.com");
    assert_eq!((gets(&env), puts(&env)), (1, 1));
    let record = value(&env, "user:ann@example.com").expect("created");
    let record: serde_json::Value = serde_json::from_str(&record).unwrap();
    assert_eq!(record["is_active"], true);
    assert!(
        record["last_login"].as_str().unwrap().starts_with("20"),
        "JS clock: {record}"
    );

    let again = chain
        .handle(headers(Some("ann@example.com"), Some(&pair(&cookie)), &[]))
        .await;
    assert!(
        matches!(
            again,
            Outcome::Forward {
                user: Some(_),
                set_cookie: None,
                ..
            }
        ),
        "{again:?}"
    );
    assert_eq!(
        (gets(&env), puts(&env)),
        (1, 1),
        "no KV call in a valid session"
    );
}

#[wasm_bindgen_test]
async fn known_user_keeps_unknown_fields_and_switching_user_rotates_the_session() {
    let env = stand_in_env(false);
    seed(
        &env,
        "user:bob@example.com",
        r#"{"username":"bob@example.com","is_active":true,"groups":["ops"],"team":"blue"}"#,
    );
    let chain = stock_chain(&env, &[]);
    let ann = chain
        .handle(headers(Some("ann@example.com"), None, &[]))
        .await;
    let ann_cookie = pair(ann.set_cookie().unwrap());
    let bob = chain
        .handle(headers(Some("bob@example.com"), Some(&ann_cookie), &[]))
        .await;
    let Outcome::Forward {
        user: Some(user),
        set_cookie: Some(cookie),
        ..
    } = bob
    else {
        panic!("expected a new login, got {bob:?}");
    };
    assert_eq!(user.groups, ["ops"]);
    assert_ne!(claims(&ann_cookie)["jti"], claims(&cookie)["jti"]);
    assert_eq!(
        value(&env, "user:bob@example.com").as_deref(),
        Some(r#"{"username":"bob@example.com","is_active":true,"groups":["ops"],"team":"blue"}"#),
        "the admin's record is never rewritten by a login"
    );
    let stamp = value(&env, "login:bob@example.com").expect("the login is stamped");
    assert!(stamp.starts_with(r#"{"last_login":"20"#), "{stamp}");
}

#[wasm_bindgen_test]
async fn a_kv_call_that_never_answers_is_abandoned_with_503_and_nothing_written() {
    let env = hanging_env();
    let chain = stock_chain(&env, &[("KV_TIMEOUT_MS", "50")]);
    let outcome = chain
        .handle(headers(Some("ann@example.com"), None, &[]))
        .await;
    assert_refused(outcome, 503);
    assert_eq!((gets(&env), puts(&env)), (1, 0));
}

#[wasm_bindgen_test]
async fn concurrent_first_logins_and_cookieless_repeats_share_kv_calls() {
    let env = stand_in_env(false);
    let chain = stock_chain(&env, &[]);
    let logins = (0..8).map(|_| chain.handle(headers(Some("ann@example.com"), None, &[])));
    for outcome in futures::future::join_all(logins).await {
        assert!(
            matches!(
                outcome,
                Outcome::Forward {
                    user: Some(_),
                    set_cookie: Some(_),
                    ..
                }
            ),
            "{outcome:?}"
        );
    }
    assert_eq!((gets(&env), puts(&env)), (1, 1), "one read, one creation");
    // A client without cookies, again and again: no KV call.
    for _ in 0..3 {
        let outcome = chain
            .handle(headers(Some("ann@example.com"), None, &[]))
            .await;
        assert!(outcome.set_cookie().is_some());
    }
    assert_eq!((gets(&env), puts(&env)), (1, 1));
}

#[wasm_bindgen_test]
async fn kv_failure_is_503_with_no_cookie_and_nothing_written() {
    let env = stand_in_env(true);
    let chain = stock_chain(&env, &[]);
    let outcome = chain
        .handle(headers(Some("ann@example.com"), None, &[]))
        .await;
    assert_refused(outcome, 503);
    assert_eq!(puts(&env), 0);
}

#[wasm_bindgen_test]
async fn corrupt_record_is_403_and_left_unchanged() {
    let env = stand_in_env(false);
    seed(&env, "user:ann@example.com", "{oops");
    let chain = stock_chain(&env, &[]);
    let outcome = chain
        .handle(headers(Some("ann@example.com"), None, &[]))
        .await;
    assert_refused(outcome, 403);
    assert_eq!(
        value(&env, "user:ann@example.com").as_deref(),
        Some("{oops")
    );
    assert_eq!(puts(&env), 0);
}

#[wasm_bindgen_test]
async fn inactive_user_403_unless_allow_inactive_and_no_create_writes_nothing() {
    let env = stand_in_env(false);
    seed(
        &env,
        "user:ann@example.com",
        r#"{"username":"ann@example.com","is_active":false}"#,
    );
    let deny = stock_chain(&env, &[]);
    let outcome = deny
        .handle(headers(Some("ann@example.com"), None, &[]))
        .await;
    assert!(
        matches!(&outcome, Outcome::Respond { error, .. } if error.status() == 403),
        "{outcome:?}"
    );
    let allow = stock_chain(&env, &[("ALLOW_INACTIVE_USERS", "true")]);
    let outcome = allow
        .handle(headers(Some("ann@example.com"), None, &[]))
        .await;
    assert!(matches!(
        outcome,
        Outcome::Forward {
            user: Some(_),
            set_cookie: Some(_),
            ..
        }
    ));

    let env = stand_in_env(false);
    let no_create = stock_chain(&env, &[("CREATE_UNKNOWN_USER", "false")]);
    let outcome = no_create
        .handle(headers(Some("new@example.com"), None, &[]))
        .await;
    assert!(matches!(&outcome, Outcome::Respond { error, .. } if error.status() == 403));
    assert_eq!((gets(&env), puts(&env)), (1, 0));
}

#[wasm_bindgen_test]
async fn custom_backend_on_the_async_path_for_known_and_unknown_users() {
    let env = stand_in_env(false);
    seed(
        &env,
        "user:bob",
        r#"{"username":"bob","is_active":true,"email":"bob@old.example"}"#,
    );
    let backend: Rc<dyn UserBackend> = Rc::new(CorpBackend(KvUserBackend::new(
        WorkerKvStore::from_object(&env, "USERS"),
    )));
    let chain = FilterChain::builder()
        .filter(SessionFilter::builder(SECRET).build())
        .filter(
            RemoteUserFilter::builder(backend)
                .trust_unsigned_header(true)
                .build(),
        )
        .clock(SystemClock)
        .build()
        .unwrap();
    let extra = [("x-corp-email", "fresh@corp.example")];

    let unknown = chain
        .handle(headers(Some("ann@corp.example"), None, &extra))
        .await;
    let Outcome::Forward {
        user: Some(user), ..
    } = unknown
    else {
        panic!("{unknown:?}")
    };
    assert_eq!(user.username, "ann");
    assert_eq!(user.email.as_deref(), Some("fresh@corp.example"));
    assert!(value(&env, "user:ann")
        .unwrap()
        .contains("fresh@corp.example"));
    assert_eq!(user.backend, "CorpBackend");

    let known = chain
        .handle(headers(Some("bob@corp.example"), None, &extra))
        .await;
    let Outcome::Forward {
        user: Some(user), ..
    } = known
    else {
        panic!("{known:?}")
    };
    assert_eq!(
        user.email.as_deref(),
        Some("bob@old.example"),
        "known users keep theirs"
    );
    // Two reads; the creation of ann, the stamp of bob's login.
    assert_eq!((gets(&env), puts(&env)), (2, 2));
    assert!(value(&env, "login:bob").is_some());
}

#[wasm_bindgen_test]
fn missing_binding_is_a_configuration_error_naming_backend_and_filter() {
    let env = js_sys::Object::new();
    let settings = StockSettings::from_vars(|k| {
        let v = match k {
            "ACCESS_TEAM_DOMAIN" => "myteam.cloudflareaccess.com",
            "ACCESS_AUD" => "aud-tag",
            _ => return None,
        };
        Some(v.to_string())
    })
    .unwrap();
    let err = settings
        .chain(WorkerKvStore::from_object(&env, "USERS"))
        .session_secret(SECRET.to_string())
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`RemoteUserFilter` uses `KvUserBackend`, whose Workers KV binding `USERS` is not bound; \
         add [[kv_namespaces]] with binding = \"USERS\" to wrangler.toml"
    );
}
