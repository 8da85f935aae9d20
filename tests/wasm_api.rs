//! The workers-rs API (`edge::api`) on wasm32 in Node, over the real `worker::Request`,
//! `worker::Response` and `worker::Env` types: the chain built from `env`, a refusal answered
//! as the stock worker answers it, a login admitted with its user and finished with one
//! `Set-Cookie`, the session that follows costing no KV call, and the `http` flavour.
#![cfg(target_arch = "wasm32")]

use remote_user_filter::{Admitted, Answer, EdgeAuth};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;
use worker::{Env, Headers, Method, Request, RequestInit, Response};

#[wasm_bindgen(inline_js = r#"
let env = null;
export function apiEnv() {
  if (env) return env;
  const map = new Map();
  const calls = { get: 0, put: 0 };
  env = {
    AUTH_FILTERS: "session,gateway_secret,remote_user",
    GATEWAY_SECRET: "api-test-gateway-secret-0123456789",
    SESSION_SECRET: "api-test-session-secret-0123456789abcdef",
    USERS: {
      async get(key) { calls.get++; return map.has(key) ? map.get(key) : null; },
      async put(key, value) { calls.put++; map.set(key, value); },
    },
    calls,
  };
  map.set("user:ann@example.com", JSON.stringify({
    username: "ann@example.com", is_active: true, email: "ann@example.com", groups: ["ops", "dev"],
  }));
  return env;
}
export function kvCalls() { return env.calls.get + env.calls.put; }
export function immutableResponse() { return Response.redirect("https://app.test/elsewhere", 302); }
"#)]
extern "C" {
    #[wasm_bindgen(js_name = apiEnv)]
    fn api_env() -> JsValue;
    #[wasm_bindgen(js_name = kvCalls)]
    fn kv_calls() -> u32;
    #[wasm_bindgen(js_name = immutableResponse)]
    fn immutable_response() -> web_sys::Response;
}

const SECRET: &str = "api-test-gateway-secret-0123456789";
const IDENTITY: &str = "cf-access-authenticated-user-email";

fn env() -> Env {
    api_env().unchecked_into()
}

fn request(headers: &[(&str, &str)]) -> Request {
    let js = Headers::new();
    for (name, value) in headers {
        js.append(name, value).unwrap();
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(js);
    Request::new_with_init("https://app.test/hello", &init).unwrap()
}

/// The response's `Set-Cookie` lines (Node's `Headers` has no `getAll`; iterating yields each
/// `Set-Cookie` on its own).
fn set_cookies(response: &Response) -> Vec<String> {
    response
        .headers()
        .entries()
        .filter(|(name, _)| name == "set-cookie")
        .map(|(_, value)| value)
        .collect()
}

async fn admitted(headers: &[(&str, &str)]) -> Admitted {
    let auth = EdgeAuth::from_env(&env()).expect("a valid configuration");
    match auth.decide(&request(headers)).await {
        Ok(admitted) => admitted,
        Err(answer) => panic!("refused: {answer:?}"),
    }
}

#[wasm_bindgen_test]
async fn no_identity_is_the_stock_401() {
    let answer = EdgeAuth::authenticate(&request(&[("x-gateway-secret", SECRET)]), &env())
        .await
        .expect_err("no identity");
    assert_eq!(answer.status(), 401);
    assert_eq!(
        answer.body(),
        "authentication required: no identity was presented\n"
    );
    assert!(answer
        .headers()
        .contains(&("WWW-Authenticate", "RemoteUser".to_string())));
    assert!(answer.set_cookie().is_none());

    let response = answer.clone().into_response().unwrap();
    assert_eq!(response.status_code(), 401);
    assert_eq!(
        response.headers().get("cache-control").unwrap().as_deref(),
        Some("no-store")
    );
    assert_eq!(answer.into_http().status(), 401);

    // In the form the client reads: JSON to a script (a header the chain does not read,
    // read for the refusal only), a page to a browser.
    for (header, value, content_type) in [
        ("sec-fetch-dest", "empty", "application/json"),
        ("accept", "application/json", "application/json"),
        ("accept", "text/html", "text/html; charset=utf-8"),
    ] {
        let answer = EdgeAuth::authenticate(
            &request(&[("x-gateway-secret", SECRET), (header, value)]),
            &env(),
        )
        .await
        .expect_err("no identity");
        assert_eq!(answer.status(), 401);
        let headers = answer.headers();
        assert!(
            headers.contains(&("Content-Type", content_type.to_string())),
            "{header}: {headers:?}"
        );
        assert!(headers.contains(&("X-Content-Type-Options", "nosniff".to_string())));
    }
}

#[wasm_bindgen_test]
async fn a_login_is_admitted_and_finished_with_one_cookie_then_the_session_needs_no_kv() {
    let login = admitted(&[("x-gateway-secret", SECRET), (IDENTITY, "ann@example.com")]).await;
    let user = login.user().expect("a user").clone();
    assert_eq!(user.username, "ann@example.com");
    assert_eq!(user.groups, ["ops", "dev"]);
    assert_eq!(
        login.identity_headers(),
        [
            ("x-remote-user", "ann@example.com".to_string()),
            ("x-remote-user-email", "ann@example.com".to_string()),
            ("x-remote-user-groups", "ops,dev".to_string()),
        ]
    );
    let cookie = login.set_cookie().expect("a login cookie").to_owned();
    let response = login.finish(Response::ok("hello").unwrap()).unwrap();
    assert_eq!(set_cookies(&response), [cookie.as_str()]);

    let calls = kv_calls();
    let pair = cookie.split(';').next().unwrap();
    let session = admitted(&[
        ("x-gateway-secret", SECRET),
        (IDENTITY, "ann@example.com"),
        ("cookie", &format!("other=1; {pair}")),
    ])
    .await;
    assert_eq!(session.user(), Some(&user));
    assert!(session.set_cookie().is_none(), "no new cookie");
    assert_eq!(kv_calls(), calls, "a valid session costs no KV call");
    let response = session.finish(Response::ok("hello").unwrap()).unwrap();
    assert!(set_cookies(&response).is_empty());
}

#[wasm_bindgen_test]
async fn finish_copies_headers_that_cannot_change() {
    let login = admitted(&[("x-gateway-secret", SECRET), (IDENTITY, "bob@example.com")]).await;
    let cookie = login.set_cookie().expect("a login cookie").to_owned();
    let fetched: Response = immutable_response().into();
    assert!(
        fetched.headers().append("x-probe", "1").is_err(),
        "a redirect's headers are immutable"
    );
    let response = login.finish(fetched).unwrap();
    assert_eq!(response.status_code(), 302);
    assert_eq!(set_cookies(&response), [cookie]);
    assert_eq!(
        response.headers().get("location").unwrap().as_deref(),
        Some("https://app.test/elsewhere")
    );
}

#[wasm_bindgen_test]
async fn the_http_flavour_decides_the_same() {
    let auth = EdgeAuth::from_env(&env()).unwrap();
    let refused = http::Request::builder()
        .header("x-gateway-secret", SECRET)
        .body(())
        .unwrap();
    let answer: Answer = auth.decide_http(&refused).await.expect_err("no identity");
    assert_eq!(answer.status(), 401);
    let scripted = http::Request::builder()
        .header("x-gateway-secret", SECRET)
        .header("x-requested-with", "XMLHttpRequest")
        .body(())
        .unwrap();
    let answer = auth.decide_http(&scripted).await.expect_err("no identity");
    assert!(
        answer.body().starts_with("{\"error\":"),
        "{}",
        answer.body()
    );

    let login = http::Request::builder()
        .header("x-gateway-secret", SECRET)
        .header(IDENTITY, "carol@example.com")
        .body(())
        .unwrap();
    let admitted = auth.decide_http(&login).await.expect("a login");
    assert_eq!(admitted.user().unwrap().username, "carol@example.com");
    let response = admitted.finish_http(http::Response::new("hi")).unwrap();
    assert_eq!(
        response
            .headers()
            .get_all(http::header::SET_COOKIE)
            .iter()
            .count(),
        1
    );
}
