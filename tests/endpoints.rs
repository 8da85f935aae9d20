//! The endpoints the worker answers itself: sign-out (`LOGOUT_PATH`, `LOGOUT_REDIRECT`) and
//! who-am-I (`WHOAMI_PATH`), through the stock chain: never forwarded, no store call on a
//! steady session, the right cookie, and configuration errors naming the filter and setting.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashMap;
use std::rc::Rc;

use remote_user_filter::{
    ConfigError, FilterChain, ManualClock, MemoryStore, Outcome, StockSettings,
};

const SECRET: &str = "endpoint-test-session-secret-0123456789abcdef";
const HEADER: &str = "cf-access-authenticated-user-email";
const T0: u64 = 1_800_000_000;

fn settings(vars: &[(&str, &str)]) -> Result<StockSettings, ConfigError> {
    let mut all: HashMap<&str, &str> = HashMap::from([
        ("AUTH_FILTERS", "session,remote_user"),
        ("TRUST_UNSIGNED_HEADER", "true"),
    ]);
    all.extend(vars.iter().copied());
    StockSettings::from_vars(|k| all.get(k).map(|v| v.to_string()))
}

fn chain_with(vars: &[(&str, &str)]) -> Result<(FilterChain, Rc<MemoryStore>), ConfigError> {
    let store = Rc::new(MemoryStore::new());
    store.seed(
        "user:ann@example.com",
        r#"{"username":"ann@example.com","email":"ann@example.com","is_active":true,"groups":["staff","<b>ops</b>"]}"#,
    );
    let chain = settings(vars)?
        .chain(Rc::clone(&store))
        .session_secret(SECRET.to_string())
        .clock(ManualClock::new(T0))
        .build()?;
    Ok((chain, store))
}

fn stock(vars: &[(&str, &str)]) -> (FilterChain, Rc<MemoryStore>) {
    chain_with(vars).expect("a valid chain")
}

async fn send(chain: &FilterChain, method: &str, uri: &str, headers: &[(&str, &str)]) -> Outcome {
    let mut req = http::Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    chain
        .handle_parts(req.body(()).unwrap().into_parts().0)
        .await
}

/// The cookie pair (`name=value`) a `Set-Cookie` sets.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

/// Log Ann in on `/` and return her cookie pair.
async fn signed_in(chain: &FilterChain) -> String {
    match send(
        chain,
        "GET",
        "https://app.example/",
        &[(HEADER, "ann@example.com")],
    )
    .await
    {
        Outcome::Forward {
            set_cookie: Some(c),
            ..
        } => pair(&c),
        other => panic!("expected a login, got {other:?}"),
    }
}

#[test]
fn sign_out_clears_the_cookie_and_redirects_to_access_sign_out_without_a_login() {
    futures::executor::block_on(async {
        let (chain, store) = stock(&[]);
        let cookie = signed_in(&chain).await;
        let (reads, writes) = (store.reads(), store.writes());
        for method in ["GET", "POST"] {
            // The gateway still sends the identity: sign-out must not log Ann in again first.
            let outcome = send(
                &chain,
                method,
                "https://app.example/.auth/logout",
                &[(HEADER, "ann@example.com"), ("cookie", &cookie)],
            )
            .await;
            let Outcome::Answer {
                response,
                set_cookie,
            } = outcome
            else {
                panic!("{method}: expected an answer, got {outcome:?}");
            };
            assert_eq!(response.status(), 302, "{method}");
            assert_eq!(
                response.header_value("location"),
                Some("/cdn-cgi/access/logout")
            );
            assert_eq!(response.header_value("cache-control"), Some("no-store"));
            let set_cookie = set_cookie.expect("the cookie's removal");
            assert!(
                set_cookie.starts_with("__Host-remote-user-session=;")
                    && set_cookie.contains("Max-Age=0"),
                "{set_cookie}"
            );
        }
        assert_eq!(
            (store.reads(), store.writes()),
            (reads, writes),
            "no store call"
        );
        // Other methods are not a sign-out.
        let outcome = send(
            &chain,
            "DELETE",
            "https://app.example/.auth/logout",
            &[("cookie", &cookie)],
        )
        .await;
        assert!(
            matches!(&outcome, Outcome::Answer { response, set_cookie: None } if response.status() == 405),
            "{outcome:?}"
        );
    });
}

#[test]
fn sign_out_goes_to_each_gateways_own_sign_out_or_the_override() {
    let target = |vars: &[(&str, &str)]| settings(vars).unwrap().logout_redirect;
    assert_eq!(target(&[]), "/cdn-cgi/access/logout");
    assert_eq!(
        target(&[("GATEWAY", "google_iap")]),
        "/?gcp-iap-mode=CLEAR_LOGIN_COOKIE"
    );
    assert_eq!(
        target(&[
            ("GATEWAY", "pomerium"),
            ("POMERIUM_HOST", "authenticate.example.com")
        ]),
        "https://authenticate.example.com/.pomerium/sign_out"
    );
    // Behind a shared-secret proxy, whose sign-out is unknown: the site's root.
    assert_eq!(
        target(&[("AUTH_FILTERS", "session,gateway_secret,remote_user")]),
        "/"
    );
    // LOGOUT_REDIRECT overrides every gateway's.
    for gateway in ["cloudflare_access", "google_iap", "pomerium"] {
        assert_eq!(
            target(&[
                ("GATEWAY", gateway),
                ("POMERIUM_HOST", "p.example.com"),
                ("LOGOUT_REDIRECT", "https://idp.example.com/logout")
            ]),
            "https://idp.example.com/logout"
        );
    }
    futures::executor::block_on(async {
        let (chain, _) = stock(&[("LOGOUT_REDIRECT", "/signed-out"), ("LOGOUT_PATH", "/bye")]);
        let outcome = send(&chain, "GET", "https://app.example/bye", &[]).await;
        let Outcome::Answer { response, .. } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(response.header_value("location"), Some("/signed-out"));
        // The default path is an ordinary path now.
        let outcome = send(&chain, "GET", "https://app.example/.auth/logout", &[]).await;
        assert!(matches!(outcome, Outcome::Respond { .. }), "{outcome:?}");
    });
}

#[test]
fn who_am_i_answers_json_for_the_signed_in_user_with_no_store_call() {
    futures::executor::block_on(async {
        let (chain, store) = stock(&[]);
        let cookie = signed_in(&chain).await;
        let (reads, writes) = (store.reads(), store.writes());
        let outcome = send(
            &chain,
            "GET",
            "https://app.example/.auth/me",
            &[
                (HEADER, "ann@example.com"),
                ("cookie", &cookie),
                ("accept", "*/*"),
            ],
        )
        .await;
        let Outcome::Answer {
            response,
            set_cookie,
        } = outcome
        else {
            panic!("{outcome:?}")
        };
        assert_eq!(response.status(), 200);
        assert!(set_cookie.is_none(), "a steady session sends no cookie");
        assert_eq!(
            response.header_value("content-type"),
            Some("application/json")
        );
        assert_eq!(response.header_value("cache-control"), Some("no-store"));
        let json: serde_json::Value = serde_json::from_str(response.body()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "username": "ann@example.com",
                "email": "ann@example.com",
                "groups": ["staff", "<b>ops</b>"],
                // Logged in at T0 with the default 8-hour session.
                "session_expires_at": "2027-01-15T16:00:00Z",
                "gateway": "cloudflare_access",
            })
        );
        assert!(!response.body().contains(cookie.split('=').nth(1).unwrap()));
        assert_eq!((store.reads(), store.writes()), (reads, writes));
    });
}

#[test]
fn who_am_i_logs_in_on_a_first_visit_and_refuses_when_no_one_is_signed_in() {
    futures::executor::block_on(async {
        let (chain, _) = stock(&[]);
        // The first request of a visit: the login's one Set-Cookie goes with the answer.
        let outcome = send(
            &chain,
            "GET",
            "https://app.example/.auth/me",
            &[(HEADER, "ann@example.com")],
        )
        .await;
        assert!(
            matches!(&outcome, Outcome::Answer { response, set_cookie: Some(_) } if response.status() == 200),
            "{outcome:?}"
        );
        // No identity, no cookie: 401, even when anonymous requests pass.
        for anonymous in ["deny", "pass"] {
            let (chain, _) = stock(&[("ANONYMOUS", anonymous)]);
            let outcome = send(&chain, "GET", "https://app.example/.auth/me", &[]).await;
            assert!(
                matches!(&outcome, Outcome::Respond { error, .. } if error.status() == 401),
                "{anonymous}: {outcome:?}"
            );
        }
        // An inactive user: 403.
        let (chain, store) = stock(&[]);
        store.seed(
            "user:off@example.com",
            r#"{"username":"off@example.com","is_active":false}"#,
        );
        let outcome = send(
            &chain,
            "GET",
            "https://app.example/.auth/me",
            &[(HEADER, "off@example.com")],
        )
        .await;
        assert!(
            matches!(&outcome, Outcome::Respond { error, .. } if error.status() == 403),
            "{outcome:?}"
        );
    });
}

#[test]
fn who_am_i_page_for_browsers_escapes_what_it_shows_and_offers_sign_out() {
    futures::executor::block_on(async {
        let (chain, _) = stock(&[]);
        let outcome = send(
            &chain,
            "GET",
            "https://app.example/.auth/me",
            &[
                (HEADER, "ann@example.com"),
                ("accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"),
            ],
        )
        .await;
        let Outcome::Answer { response, .. } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(
            response.header_value("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert!(response
            .header_value("content-security-policy")
            .is_some_and(|p| p.contains("default-src 'none'")));
        let page = response.body();
        assert!(page.contains("Signed in as <span id=\"username\">ann@example.com</span>"));
        assert!(page.contains("staff, &lt;b&gt;ops&lt;/b&gt;"), "{page}");
        assert!(!page.contains("<b>ops"), "markup from a group is escaped");
        assert!(page.contains("<form method=\"post\" action=\"/.auth/logout\">"));
        // With sign-out off, no button.
        let (chain, _) = stock(&[("LOGOUT_PATH", "")]);
        let outcome = send(
            &chain,
            "GET",
            "https://app.example/.auth/me",
            &[(HEADER, "ann@example.com"), ("accept", "text/html")],
        )
        .await;
        let Outcome::Answer { response, .. } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(!response.body().contains("<form"));
    });
}

#[test]
fn who_am_i_is_open_to_any_signed_in_user_whatever_the_rules() {
    futures::executor::block_on(async {
        let (chain, _) = stock(&[("RULES", "/=admins")]);
        let me = send(
            &chain,
            "GET",
            "https://app.example/.auth/me",
            &[(HEADER, "ann@example.com")],
        )
        .await;
        assert!(
            matches!(&me, Outcome::Answer { response, .. } if response.status() == 200),
            "{me:?}"
        );
        let app = send(
            &chain,
            "GET",
            "https://app.example/",
            &[(HEADER, "ann@example.com")],
        )
        .await;
        assert!(
            matches!(&app, Outcome::Respond { error, .. } if error.status() == 403),
            "{app:?}"
        );
    });
}

#[test]
fn empty_paths_turn_the_endpoints_off() {
    futures::executor::block_on(async {
        let (chain, _) = stock(&[("LOGOUT_PATH", ""), ("WHOAMI_PATH", " ")]);
        assert_eq!(chain.names(), ["SessionFilter", "RemoteUserFilter"]);
        // Forwarded to the origin like any other path.
        let outcome = send(
            &chain,
            "GET",
            "https://app.example/.auth/me",
            &[(HEADER, "ann@example.com")],
        )
        .await;
        assert!(matches!(outcome, Outcome::Forward { user: Some(_), .. }));
    });
}

#[test]
fn configuration_errors_name_the_filter_and_the_setting() {
    let error = |vars: &[(&str, &str)]| chain_with(vars).err().map(|e| e.to_string());
    for bad in [
        "//evil.example",
        "/\\evil.example",
        "http://idp.example.com/logout",
        "javascript:alert(1)",
        "idp.example.com/logout",
        "https://",
        "/a b",
    ] {
        let message = error(&[("LOGOUT_REDIRECT", bad)]).unwrap_or_default();
        assert!(
            message.starts_with(&format!(
                "`SignOutFilter` setting LOGOUT_REDIRECT is `{bad}`, but it must be a path on this host"
            )),
            "{bad}: {message}"
        );
    }
    for good in [
        "/",
        "/signed-out?x=1",
        "https://idp.example.com/logout?next=/",
    ] {
        assert_eq!(error(&[("LOGOUT_REDIRECT", good)]), None, "{good}");
    }
    let message = error(&[("LOGOUT_PATH", "logout")]).unwrap_or_default();
    assert!(
        message.starts_with("`SignOutFilter` setting LOGOUT_PATH is `logout`"),
        "{message}"
    );
    let message = error(&[("WHOAMI_PATH", "/me?x")]).unwrap_or_default();
    assert!(
        message.starts_with("`WhoAmIFilter` setting WHOAMI_PATH is `/me?x`"),
        "{message}"
    );
    // An endpoint under a public path would never answer.
    let message = error(&[("PUBLIC_PATHS", "/.auth/")]).unwrap_or_default();
    assert!(
        message.starts_with(
            "`SignOutFilter` setting LOGOUT_PATH `/.auth/logout` conflicts with PUBLIC_PATHS `/.auth/`: a public path is forwarded without authentication"
        ),
        "{message}"
    );
    let message = error(&[("PUBLIC_PATHS", "/.auth/me")]).unwrap_or_default();
    assert!(
        message.starts_with("`WhoAmIFilter` setting WHOAMI_PATH"),
        "{message}"
    );
}

#[test]
fn each_endpoint_checks_its_place_in_a_hand_built_chain() {
    use remote_user_filter::{
        KvUserBackend, RemoteUserFilter, SessionFilter, SignOutFilter, WhoAmIFilter,
    };
    let session = || SessionFilter::builder(SECRET).build();
    let remote_user = || {
        RemoteUserFilter::builder(Rc::new(KvUserBackend::new(MemoryStore::new())))
            .trust_unsigned_header(true)
            .build()
    };
    // After the remote-user filter, sign-out would come after a new login.
    let err = FilterChain::builder()
        .filter(session())
        .filter(remote_user())
        .filter(SignOutFilter::new("/.auth/logout", "/"))
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`SignOutFilter` must be installed before `RemoteUserFilter`, which relies on what it checks"
    );
    let err = FilterChain::builder()
        .filter(SignOutFilter::new("/.auth/logout", "/"))
        .filter(session())
        .filter(remote_user())
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`SignOutFilter` requires `SessionFilter` to be installed before it"
    );
    // Before the remote-user filter, who-am-I would know no one.
    let err = FilterChain::builder()
        .filter(session())
        .filter(WhoAmIFilter::new("/.auth/me", "cloudflare_access"))
        .filter(remote_user())
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`WhoAmIFilter` requires `RemoteUserFilter` to be installed before it"
    );
}

#[test]
fn sign_out_is_one_event_naming_who_signed_out_and_never_the_cookie() {
    use remote_user_filter::{AuthEvent, EventKind};
    use std::cell::RefCell;
    futures::executor::block_on(async {
        let seen: Rc<RefCell<Vec<AuthEvent>>> = Rc::default();
        let sink = Rc::clone(&seen);
        let store = Rc::new(MemoryStore::new());
        let chain = settings(&[])
            .unwrap()
            .chain(Rc::clone(&store))
            .session_secret(SECRET.to_string())
            .clock(ManualClock::new(T0))
            .on_event(move |e| sink.borrow_mut().push(e.clone()))
            .build()
            .unwrap();
        let cookie = signed_in(&chain).await;
        seen.borrow_mut().clear();
        send(
            &chain,
            "POST",
            "https://app.example/.auth/logout",
            &[("cookie", &cookie), ("cf-ray", "8f00-LHR")],
        )
        .await;
        let events = seen.borrow().clone();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].event, EventKind::SignOut);
        let line = events[0].to_json_line();
        assert_eq!(
            line,
            r#"{"event":"sign_out","user":"ann@example.com","ray":"8f00-LHR"}"#
        );
        assert!(!line.contains(cookie.split('=').nth(1).unwrap()));
        // No session: still one sign-out event, with no user.
        seen.borrow_mut().clear();
        send(&chain, "GET", "https://app.example/.auth/logout", &[]).await;
        assert_eq!(seen.borrow()[0].to_json_line(), r#"{"event":"sign_out"}"#);
    });
}
