//! Public paths (`PUBLIC_PATHS`) and CORS preflights (`CORS_PREFLIGHT`): forwarded with no
//! authentication, no store call, no user, no cookie; everything else as before.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashMap;
use std::rc::Rc;

use remote_user_filter::{
    ConfigError, FilterChain, ManualClock, MemoryStore, Outcome, StockSettings,
};

const SECRET: &str = "public-test-session-secret-0123456789abcdef";
const HEADER: &str = "cf-access-authenticated-user-email";

fn settings(vars: &[(&str, &str)]) -> Result<StockSettings, ConfigError> {
    let mut all: HashMap<&str, &str> = HashMap::from([
        ("AUTH_FILTERS", "session,remote_user"),
        ("TRUST_UNSIGNED_HEADER", "true"),
    ]);
    all.extend(vars.iter().copied());
    StockSettings::from_vars(|k| all.get(k).map(|v| v.to_string()))
}

fn chain(vars: &[(&str, &str)], store: Rc<MemoryStore>) -> Result<FilterChain, ConfigError> {
    settings(vars)?
        .chain(store)
        .session_secret(SECRET.to_string())
        .clock(ManualClock::new(1_800_000_000))
        .build()
}

async fn send(chain: &FilterChain, method: &str, uri: &str, headers: &[(&str, &str)]) -> Outcome {
    let mut req = http::Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let (parts, ()) = req.body(()).unwrap().into_parts();
    chain.handle_parts(parts).await
}

fn is_public(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Forward {
            user: None,
            set_cookie: None,
            gateway_headers: false,
            ..
        }
    )
}

/// Whether `outcome` forwards a preflight bare (no credentials, body or method override).
fn is_bare(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Forward {
            preflight: true,
            ..
        }
    )
}

fn status(outcome: &Outcome) -> u16 {
    match outcome {
        Outcome::Forward { .. } => 200,
        Outcome::Respond { error, .. } => error.status(),
        Outcome::Answer { response, .. } => response.status(),
    }
}

const PATHS: (&str, &str) = ("PUBLIC_PATHS", "/healthz, /robots.txt,/static/");

#[test]
fn a_public_path_never_calls_the_store_and_carries_no_identity() {
    futures::executor::block_on(async {
        let store = Rc::new(MemoryStore::new());
        let chain = chain(&[PATHS], store.clone()).unwrap();
        assert_eq!(
            chain.names(),
            [
                "PublicRoutesFilter",
                "SessionFilter",
                "SignOutFilter",
                "RemoteUserFilter",
                "WhoAmIFilter"
            ]
        );
        // With an identity and a failing store: still no call, no user, no cookie.
        store.set_failing(true);
        for path in ["/healthz", "/static/app.css", "/robots.txt?x=1"] {
            let outcome = send(&chain, "GET", path, &[(HEADER, "ann@example.com")]).await;
            assert!(is_public(&outcome), "{path}: {outcome:?}");
        }
        assert_eq!((store.reads(), store.writes()), (0, 0));
        // Any other path is authenticated as before: one read, one write.
        store.set_failing(false);
        let outcome = send(&chain, "GET", "/app", &[(HEADER, "ann@example.com")]).await;
        assert!(matches!(
            &outcome,
            Outcome::Forward { user: Some(u), set_cookie: Some(_), .. } if u.username == "ann@example.com"
        ));
        assert_eq!((store.reads(), store.writes()), (1, 1));
    });
}

#[test]
fn exact_entries_match_exactly_and_a_trailing_slash_makes_a_prefix() {
    futures::executor::block_on(async {
        let store = Rc::new(MemoryStore::new());
        let chain = chain(&[PATHS], store.clone()).unwrap();
        for (path, public) in [
            ("/healthz", true),
            ("https://app.example/healthz?probe=1", true),
            ("/healthz/", false),
            ("/healthz/x", false),
            ("/healthzx", false),
            ("/robots.txt", true),
            ("/robots.txtx", false),
            ("/static/", true),
            ("/static/a/b.js", true),
            ("/static", false),
            ("/staticx/a", false),
            ("/static/../admin", false),
            // No canonical form (an encoded `/`): 400 for everyone, public or not.
            ("/static/..%2Fadmin", false),
            ("/static/..;/admin", false),
            ("/static/%2e%2e/admin", false),
            // Admitted narrowly: the letter case as listed, and every reading public.
            ("/Static/a.js", false),
            ("/STATIC/a.js", false),
            ("/static;x/a.js", false),
            ("/static/a.js;v=1", true),
            ("//static/a.js", true),
            ("/%73tatic/a.js", true),
            ("/", false),
        ] {
            let outcome = send(&chain, "GET", path, &[]).await;
            assert_eq!(is_public(&outcome), public, "{path}: {outcome:?}");
            if !public {
                let expected = if path.contains("..%2F") || path.contains("..;") {
                    400
                } else {
                    401
                };
                assert_eq!(status(&outcome), expected, "{path}");
            }
        }
        assert_eq!((store.reads(), store.writes()), (0, 0));
    });
}

#[test]
fn a_preflight_passes_only_with_both_headers_and_cors_preflight_pass() {
    futures::executor::block_on(async {
        let origin = ("origin", "https://other.example");
        let acrm = ("access-control-request-method", "POST");
        let store = Rc::new(MemoryStore::new());
        let pass = chain(&[("CORS_PREFLIGHT", "pass")], store.clone()).unwrap();
        assert_eq!(pass.names()[0], "PublicRoutesFilter");
        assert!(is_public(
            &send(&pass, "OPTIONS", "/api/x", &[origin, acrm]).await
        ));
        for (method, headers) in [
            ("OPTIONS", &[origin][..]),
            ("OPTIONS", &[acrm][..]),
            ("OPTIONS", &[][..]),
            ("GET", &[origin, acrm][..]),
        ] {
            let outcome = send(&pass, method, "/api/x", headers).await;
            assert_eq!(status(&outcome), 401, "{method} {headers:?}");
        }
        // `deny` (the default): a preflight is like any other request.
        for vars in [&[("CORS_PREFLIGHT", "deny")][..], &[][..]] {
            let deny = chain(vars, store.clone()).unwrap();
            assert_eq!(
                deny.names(),
                [
                    "SessionFilter",
                    "SignOutFilter",
                    "RemoteUserFilter",
                    "WhoAmIFilter"
                ]
            );
            let outcome = send(&deny, "OPTIONS", "/api/x", &[origin, acrm]).await;
            assert_eq!(status(&outcome), 401, "{vars:?}");
        }
        assert_eq!((store.reads(), store.writes()), (0, 0));
    });
}

#[test]
fn a_preflight_goes_on_bare_and_nothing_else_does() {
    futures::executor::block_on(async {
        let origin = ("origin", "https://other.example");
        let acrm = ("access-control-request-method", "POST");
        let creds = [
            ("cookie", "sessionid=abc"),
            ("authorization", "Basic YTpi"),
            ("x-http-method-override", "DELETE"),
        ];
        let store = Rc::new(MemoryStore::new());
        let pass = chain(&[("CORS_PREFLIGHT", "pass"), PATHS], store.clone()).unwrap();
        let preflight = [origin, acrm, creds[0], creds[1], creds[2]];
        for path in ["/api/x", "/static/app.css"] {
            let outcome = send(&pass, "OPTIONS", path, &preflight).await;
            assert!(
                is_public(&outcome) && is_bare(&outcome),
                "{path}: {outcome:?}"
            );
        }
        // A public path, or a signed-in user's request: forwarded as it came.
        let outcome = send(&pass, "GET", "/static/app.css", &[origin, acrm]).await;
        assert!(is_public(&outcome) && !is_bare(&outcome), "{outcome:?}");
        let outcome = send(&pass, "OPTIONS", "/static/app.css", &[origin]).await;
        assert!(is_public(&outcome) && !is_bare(&outcome), "{outcome:?}");
        let signed_in = [origin, (HEADER, "ann@example.com")];
        let outcome = send(&pass, "OPTIONS", "/api/x", &signed_in).await;
        assert!(
            matches!(
                outcome,
                Outcome::Forward {
                    user: Some(_),
                    preflight: false,
                    ..
                }
            ),
            "{outcome:?}"
        );
    });
}

#[test]
fn the_chain_reads_the_preflight_headers_only_when_preflights_pass() {
    let headers = |vars: &[(&str, &str)]| -> Vec<String> {
        chain(vars, Rc::new(MemoryStore::new()))
            .unwrap()
            .headers_read()
            .unwrap()
            .iter()
            .map(|h| h.as_str().to_owned())
            .collect()
    };
    let plain = ["cookie", HEADER, "accept"];
    assert_eq!(headers(&[]), plain);
    assert_eq!(headers(&[PATHS]), plain);
    assert_eq!(
        headers(&[("CORS_PREFLIGHT", "pass")]),
        [
            "origin",
            "access-control-request-method",
            "cookie",
            HEADER,
            "accept"
        ]
    );
}

#[test]
fn configuration_errors_name_the_filter_and_the_setting() {
    let rule = "a comma-separated list of paths, each starting with `/`, of visible ASCII \
                without whitespace, control characters, `?` or `#` (a trailing `/` makes a \
                prefix), e.g. `/healthz,/static/`";
    for (value, entry) in [
        ("healthz", "healthz"),
        ("/ok,static/", "static/"),
        ("/a b", "/a b"),
        ("/a\tb", "/a\tb"),
        ("/a\u{1}", "/a\u{1}"),
        ("/x?y=1", "/x?y=1"),
        ("/x#y", "/x#y"),
        ("/caf\u{e9}", "/caf\u{e9}"),
    ] {
        let err = chain(&[("PUBLIC_PATHS", value)], Rc::new(MemoryStore::new())).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "`PublicRoutesFilter` setting PUBLIC_PATHS is `{entry}`, but it must be {rule}"
            ),
            "{value:?}"
        );
        assert_eq!(
            err.redacted(),
            format!("`PublicRoutesFilter` setting PUBLIC_PATHS must be {rule}")
        );
    }
    for value in ["allow", "PASS", "true"] {
        let err = settings(&[("CORS_PREFLIGHT", value)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("CORS_PREFLIGHT is `{value}`, but it must be `deny` or `pass`")
        );
    }
}
