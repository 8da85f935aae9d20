//! The wire format from both sides: [`Reply::encode`] (Rust) feeds the very decoder the
//! worker's entry runs (`decode` in `src/edge/reply.js`), and the headers it yields, set on
//! the runtime's `Headers` as the entry sets them, are what Rust meant: for identities full of
//! tabs, line breaks, non-ASCII, empty and very long values, exactly the percent-encoded
//! identity headers, which decode back to the identity; a `Set-Cookie`, a target URL, the
//! `Cookie` action and a multi-line body come through untouched.
#![cfg(target_arch = "wasm32")]

use remote_user_filter::edge::wire::{CookieAction, Reply};
use remote_user_filter::negotiate::ErrorFormat;
use remote_user_filter::{AuthError, Outcome, SessionUser, UpstreamHeaders};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen(module = "/src/edge/reply.js")]
extern "C" {
    /// The entry's decoder: `{ kind, first, setCookie, cookie, headers, body }`.
    fn decode(reply: &str) -> JsValue;
}

#[wasm_bindgen(inline_js = r#"
export function field(object, name) { return object[name]; }
export function pairs(decoded) { return decoded.headers.map(([n, v]) => `${n}\t${v}`); }
export function throughHeaders(decoded) {
  const headers = new Headers();
  for (const [name, value] of decoded.headers) headers.set(name, value);
  return [...headers].map(([n, v]) => `${n}\t${v}`);
}
"#)]
extern "C" {
    fn field(object: &JsValue, name: &str) -> String;
    /// The decoded header pairs, as `name\tvalue` strings.
    fn pairs(decoded: &JsValue) -> Vec<String>;
    /// The decoded headers once set on a `Headers` (as the entry's forward does): lower-case
    /// names, values as the runtime holds them.
    #[wasm_bindgen(js_name = throughHeaders)]
    fn through_headers(decoded: &JsValue) -> Vec<String>;
}

/// `text` with `%XX` escapes decoded (the identity an origin reads back).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn hostile_user(groups: Vec<String>) -> SessionUser {
    SessionUser {
        username: " \tJos\u{e9}\r\nx-admin: 1\t%41 \u{1F600}".into(),
        email: Some("ann\t\u{e4}\u{f6}\u{fc}@b\u{fc}cher.example\nx-remote-user: root".into()),
        groups,
        backend: "KvUserBackend".into(),
    }
}

/// Every field of `reply` through `decode` equals what `reply` holds.
fn assert_decodes_to(reply: &Reply) -> JsValue {
    let encoded = reply.encode().expect("encodable");
    let decoded = decode(&encoded);
    match reply {
        Reply::Forward {
            target,
            set_cookie,
            cookie,
            headers,
            gateway_headers,
            preflight,
        } => {
            assert_eq!(field(&decoded, "kind"), "F");
            assert_eq!(&field(&decoded, "first"), target);
            assert_eq!(
                field(&decoded, "setCookie"),
                set_cookie.clone().unwrap_or_default()
            );
            let action = match cookie {
                CookieAction::Keep => String::new(),
                CookieAction::Delete => "-".into(),
                CookieAction::Set(value) => format!("={value}"),
            };
            assert_eq!(field(&decoded, "cookie"), action);
            let want: Vec<String> = headers.iter().map(|(n, v)| format!("{n}\t{v}")).collect();
            assert_eq!(pairs(&decoded), want);
            assert_eq!(
                through_headers(&decoded),
                want,
                "Headers keeps them byte for byte"
            );
            let mut flags = String::new();
            if *gateway_headers {
                flags.push('G');
            }
            if *preflight {
                flags.push('P');
            }
            assert_eq!(field(&decoded, "body"), flags);
        }
        Reply::Respond {
            status,
            set_cookie,
            headers,
            body,
        } => {
            assert_eq!(field(&decoded, "kind"), "R");
            assert_eq!(field(&decoded, "first"), status.to_string());
            assert_eq!(
                field(&decoded, "setCookie"),
                set_cookie.clone().unwrap_or_default()
            );
            assert_eq!(field(&decoded, "cookie"), "");
            let want: Vec<String> = headers.iter().map(|(n, v)| format!("{n}\t{v}")).collect();
            assert_eq!(pairs(&decoded), want);
            assert_eq!(&field(&decoded, "body"), body);
        }
    }
    decoded
}

#[wasm_bindgen_test]
fn a_forward_with_hostile_identities_decodes_to_the_identity_headers() {
    let long = "g\u{e9}\t".repeat(20_000);
    let cases = [
        vec![],
        vec![String::new()],
        vec![String::new(), String::new()],
        vec![
            "ops\tteam".into(),
            "d\u{e9}v\r\n".into(),
            " lead ".into(),
            long,
        ],
    ];
    let set_cookie = "__Host-remote-user-session=eyJhbGciOiJIUzI1NiJ9.e30.c2ln; Path=/; \
                      Max-Age=28800; HttpOnly; Secure; SameSite=Lax";
    let url = "https://app.example.com/p%C3%A9/a|b{c}?q=%09x&r=\u{e9}&s=a\tb";
    for (i, groups) in cases.into_iter().enumerate() {
        let user = hostile_user(groups.clone());
        let outcome = Outcome::Forward {
            user: Some(user.clone()),
            set_cookie: Some(set_cookie.into()),
            gateway_headers: i % 2 == 0,
            preflight: false,
        };
        // The request URL's tab cannot reach the target: forwarded to ORIGIN_URL, only its
        // path and query go on, and a runtime URL never holds one.
        let url = url.split('\t').next().unwrap();
        let cookie = Some("a=caf\u{e9}; __Host-remote-user-session=t; b=\u{ff}");
        let reply = Reply::new(
            outcome,
            url,
            cookie,
            &UpstreamHeaders::default(),
            Some("http://127.0.0.1:8080"),
            &http::HeaderMap::new(),
        );
        let decoded = assert_decodes_to(&reply);

        let mut want = vec![
            ("x-remote-user", user.username.clone()),
            ("x-remote-user-email", user.email.clone().unwrap()),
        ];
        if !groups.is_empty() {
            want.push(("x-remote-user-groups", groups.join(",")));
        }
        let got: Vec<(String, String)> = through_headers(&decoded)
            .iter()
            .map(|line| {
                let (name, value) = line.split_once('\t').unwrap();
                (name.to_owned(), percent_decode(value))
            })
            .collect();
        let want: Vec<(String, String)> =
            want.into_iter().map(|(n, v)| (n.to_owned(), v)).collect();
        assert_eq!(got, want, "the origin decodes the identity back");
        assert_eq!(
            field(&decoded, "first"),
            "http://127.0.0.1:8080/p%C3%A9/a|b{c}?q=%09x&r=\u{e9}&s=a"
        );
        assert_eq!(field(&decoded, "setCookie"), set_cookie);
        assert_eq!(field(&decoded, "cookie"), "=a=caf\u{e9}; b=\u{ff}");
    }
}

#[wasm_bindgen_test]
fn anonymous_and_cookie_actions_decode_as_encoded() {
    for cookie in [None, Some("__Host-remote-user-session=t"), Some("a=1")] {
        for preflight in [false, true] {
            let outcome = Outcome::Forward {
                user: None,
                set_cookie: None,
                gateway_headers: false,
                preflight,
            };
            let reply = Reply::new(
                outcome,
                "https://a.example/",
                cookie,
                &UpstreamHeaders::default(),
                None,
                &http::HeaderMap::new(),
            );
            assert_decodes_to(&reply);
        }
    }
}

#[wasm_bindgen_test]
fn a_response_with_a_multi_line_body_decodes_as_encoded() {
    let logout = Some("__Host-remote-user-session=; Path=/; Max-Age=0; HttpOnly; Secure".into());
    for error in [AuthError::MissingIdentity, AuthError::Rejected] {
        for format in [ErrorFormat::Text, ErrorFormat::Json, ErrorFormat::Html] {
            assert_decodes_to(&Reply::error(&error, logout.clone(), format));
        }
    }
    assert_decodes_to(&Reply::Respond {
        status: 500,
        set_cookie: None,
        headers: vec![("Content-Type", "text/plain".into())],
        body: "line one\n\nx-admin\t1\n\tJos\u{e9}\r\n".into(),
    });
}
