//! The two exports the JS entry calls, on wasm32 in Node: `configure(env)` once, then
//! `handle(method, url, lines)`. A login needs KV, so its reply comes as a `Promise` the JS event
//! loop drives (the async path end to end); a request with a valid session needs no I/O, so
//! its reply is a string at once, and KV is not touched.
#![cfg(all(target_arch = "wasm32", feature = "stock-worker"))]

use remote_user_filter::edge::wire::{Plan, UNFRAMED_REPLY};
use remote_user_filter::edge::worker::{configure, handle, settle, settle_refusal};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen(inline_js = r#"
export function entryEnv() {
  const map = new Map();
  const calls = { get: 0, put: 0 };
  return {
    AUTH_FILTERS: "session,gateway_secret,remote_user",
    GATEWAY_SECRET: "entry-test-gateway-secret-0123456789",
    SESSION_SECRET: "entry-test-session-secret-0123456789abcdef",
    ORIGIN_URL: "http://origin.test",
    USERS: {
      async get(key) { calls.get++; return map.has(key) ? map.get(key) : null; },
      async put(key, value) { calls.put++; map.set(key, value); },
    },
    calls,
  };
}
export function kvCalls(env) { return env.calls.get + env.calls.put; }
"#)]
extern "C" {
    #[wasm_bindgen(js_name = entryEnv)]
    fn entry_env() -> JsValue;
    #[wasm_bindgen(js_name = kvCalls)]
    fn kv_calls(env: &JsValue) -> u32;
}

const SECRET_LINE: &str = "x-gateway-secret\tentry-test-gateway-secret-0123456789\n";

/// Lines 0-3 of a reply: kind, target/status, Set-Cookie, cookie action.
fn fields(reply: &str) -> Vec<&str> {
    reply.split('\n').collect()
}

#[wasm_bindgen_test]
async fn settle_answers_at_once_when_nothing_awaits() {
    let value = settle(async { "ready".to_string() });
    assert_eq!(value.as_string().as_deref(), Some("ready"));

    let value = settle(async {
        let tick = js_sys::Promise::resolve(&JsValue::from(1));
        JsFuture::from(tick).await.unwrap();
        "later".to_string()
    });
    let promise: js_sys::Promise = value.dyn_into().expect("a pending decision is a Promise");
    let done = JsFuture::from(promise).await.unwrap();
    assert_eq!(done.as_string().as_deref(), Some("later"));
}

#[wasm_bindgen_test]
async fn login_is_a_promise_then_the_session_is_answered_at_once() {
    let env = entry_env();
    let plan = configure(env.clone().unchecked_into());
    let expected = Plan {
        read: Some(vec![
            "cookie".into(),
            "x-gateway-secret".into(),
            "cf-access-authenticated-user-email".into(),
            // The who-am-I endpoint's (JSON or a page).
            "accept".into(),
            "cf-ray".into(),
        ]),
        strip: vec![
            "x-remote-user".into(),
            "x-remote-user-email".into(),
            "x-remote-user-groups".into(),
            "x-gateway-secret".into(),
        ],
        guard: vec!["cf-access-authenticated-user-email".into()],
    };
    assert_eq!(plan, expected.encode());

    let lines = format!("cf-access-authenticated-user-email\tann@example.com\n{SECRET_LINE}");
    let first = handle("GET".into(), "https://app.test/a?b=1".into(), lines.clone());
    let promise: js_sys::Promise = first.dyn_into().expect("a login awaits KV");
    let reply = JsFuture::from(promise).await.unwrap().as_string().unwrap();
    let f = fields(&reply);
    assert_eq!(f[0..2], ["F", "http://origin.test/a?b=1"]);
    assert!(f[2].starts_with("__Host-remote-user-session="), "{reply}");
    assert!(
        reply.contains("\nx-remote-user\tann@example.com\n"),
        "{reply}"
    );
    assert!(
        reply.ends_with("\n\nG"),
        "the gateway's header named ann: it goes on: {reply}"
    );
    let kv_after_login = kv_calls(&env);
    assert_eq!(kv_after_login, 2, "one read, one write");

    let cookie = f[2].split(';').next().unwrap();
    let lines = format!("cookie\tother=1; {cookie}\n{lines}");
    let second = handle("GET".into(), "https://app.test/next".into(), lines);
    let reply = second
        .as_string()
        .expect("a valid session is answered at once");
    let f = fields(&reply);
    assert_eq!(
        f[0..4],
        ["F", "http://origin.test/next", "", "=other=1"],
        "no new cookie; ours is stripped from the forwarded Cookie header"
    );
    assert!(reply.ends_with("\n\nG"), "{reply}");
    assert_eq!(kv_calls(&env), kv_after_login, "no KV call");

    // A field that would break the reply's framing (here a NUL in the `Cookie` header, which
    // only a hand-called `handle` can send) is answered with a plain 500, never half-framed.
    let lines = format!(
        "cookie\tother=\0; {cookie}\n\
         cf-access-authenticated-user-email\tann@example.com\n{SECRET_LINE}"
    );
    let unframed = handle("GET".into(), "https://app.test/".into(), lines);
    let reply = unframed
        .as_string()
        .expect("a valid session is answered at once");
    assert_eq!(reply, UNFRAMED_REPLY);

    // A refusal whose form the headers sent in cannot decide (no Accept): unsettled, and
    // settled by the entry with the request's negotiation headers.
    let refused = handle("GET".into(), "https://app.test/".into(), String::new());
    let unsettled = refused.as_string().expect("a refusal needs no I/O");
    assert!(unsettled.starts_with("N\n401\n"), "{unsettled}");
    let reply = settle_refusal(unsettled.clone(), String::new());
    assert!(reply.starts_with("R\n401\n"), "{reply}");
    assert!(
        reply.contains("\nWWW-Authenticate\tRemoteUser\n"),
        "{reply}"
    );
    assert!(
        reply.contains("\nContent-Type\ttext/plain; charset=utf-8\n"),
        "{reply}"
    );
    let reply = settle_refusal(unsettled, "sec-fetch-dest\tempty\n".into());
    assert!(
        reply.contains("\nContent-Type\tapplication/json\n"),
        "{reply}"
    );
    assert!(
        reply.contains("\nX-Content-Type-Options\tnosniff\n"),
        "{reply}"
    );

    // An Accept the chain reads (who-am-I's) that decides the form: settled at once.
    let refused = handle(
        "GET".into(),
        "https://app.test/".into(),
        "accept\ttext/html\n".into(),
    );
    let reply = refused.as_string().expect("a refusal needs no I/O");
    assert!(reply.starts_with("R\n401\n"), "{reply}");
    assert!(
        reply.contains("\nContent-Type\ttext/html; charset=utf-8\n"),
        "{reply}"
    );
}
