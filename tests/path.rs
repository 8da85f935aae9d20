//! Servlet semantics on the canonical path (`;params`, `..;`, `.;`): Tomcat and Jetty strip
//! each segment's `;params` before they route, so `/admin;x/y` is their `/admin/y`. Every
//! decision is made on that reading too: a rule on `/admin/` refuses `/admin;x/y`, a public
//! prefix `/static/` does not admit `/static;x/a.js`, and a `;` that hides a dot or empty
//! segment (`..;`, `.;`, `/;x/..`) has no reading every origin shares (400). A session id on
//! the last segment (`;jsessionid=`) is an ordinary request.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashMap;
use std::rc::Rc;

use remote_user_filter::path::{canonicalize, EncodedSlashes, PathError};
use remote_user_filter::{
    ConfigError, FilterChain, ManualClock, MemoryStore, Outcome, StockSettings,
};

const SECRET: &str = "path-test-session-secret-0123456789abcdef";
const HEADER: &str = "cf-access-authenticated-user-email";

fn readings(raw: &str) -> Result<Vec<String>, PathError> {
    canonicalize(raw, EncodedSlashes::Refuse).map(|p| p.readings().map(str::to_owned).collect())
}

fn chain(vars: &[(&str, &str)]) -> Result<FilterChain, ConfigError> {
    let mut all: HashMap<&str, &str> = HashMap::from([
        ("AUTH_FILTERS", "session,remote_user"),
        ("TRUST_UNSIGNED_HEADER", "true"),
    ]);
    all.extend(vars.iter().copied());
    let store = Rc::new(MemoryStore::new());
    for (name, groups) in [
        ("root@example.com", r#"["admins"]"#),
        ("eng@example.com", r#"["engineers"]"#),
    ] {
        store.seed(
            &format!("user:{name}"),
            &format!(r#"{{"username":"{name}","is_active":true,"groups":{groups}}}"#),
        );
    }
    StockSettings::from_vars(|k| all.get(k).map(|v| v.to_string()))?
        .chain(store)
        .session_secret(SECRET.to_owned())
        .clock(ManualClock::new(1_800_000_000))
        .build()
}

/// The status of `GET path` (as `user`, or with no identity), and the path forwarded.
async fn get(chain: &FilterChain, path: &str, user: Option<&str>) -> (u16, String) {
    let mut req = http::Request::get(format!("https://app.example{path}"));
    if let Some(user) = user {
        req = req.header(HEADER, user);
    }
    let mut req = chain.request(req.body(()).unwrap().into_parts().0);
    let status = match chain.run(&mut req).await {
        Outcome::Forward { .. } => 200,
        Outcome::Respond { error, .. } => error.status(),
        Outcome::Answer { response, .. } => response.status(),
    };
    (status, req.path().to_owned())
}

#[test]
fn a_segments_params_are_kept_and_also_read_without() {
    assert_eq!(readings("/admin;x/y").unwrap(), ["/admin;x/y", "/admin/y"]);
    assert_eq!(
        readings("/admin;x=1;y=2/y;z").unwrap(),
        ["/admin;x=1;y=2/y;z", "/admin/y"]
    );
    // Decoded and upper-cased in the segment, before the params are read.
    assert_eq!(
        readings("/%61dmin;%6a=%e2%9c%93/y").unwrap(),
        ["/admin;j=%E2%9C%93/y", "/admin/y"]
    );
    // `;` that is not a servlet separator: an escape of it stays one.
    assert_eq!(readings("/admin%3Bx/y").unwrap(), ["/admin%3Bx/y"]);
}

#[test]
fn a_semicolon_that_hides_a_dot_or_empty_segment_has_no_reading() {
    for raw in [
        "/x/..;/admin/y",
        "/x/..;x=1/admin/y",
        "/static/..;/admin/x",
        "/x/.;/admin",
        "/x/.;x/admin",
        "/;x/../admin",
        "/a/;x/../admin",
        "/a/;/b",
        "/x/%2e%2e;/admin",
        "/x/.%2E;/admin",
        "/x/%2E;/admin",
        // On the last segment too: Tomcat reads `/x/..;` as `/`.
        "/admin/x/..;",
        "/admin/.;",
    ] {
        assert_eq!(readings(raw), Err(PathError::HiddenDotSegment), "{raw}");
    }
    // A `;` on a segment that a `..` then removes hides nothing.
    assert_eq!(readings("/a;x/../admin").unwrap(), ["/admin"]);
}

#[test]
fn a_session_id_on_the_last_segment_is_an_ordinary_request() {
    assert_eq!(
        readings("/app/index.jsp;jsessionid=0A1B2C").unwrap(),
        ["/app/index.jsp;jsessionid=0A1B2C", "/app/index.jsp"]
    );
    assert_eq!(
        readings("/app/;jsessionid=0A1B2C").unwrap(),
        ["/app/;jsessionid=0A1B2C", "/app/"]
    );
    assert_eq!(
        readings("/;jsessionid=0A1B2C").unwrap(),
        ["/;jsessionid=0A1B2C", "/"]
    );
    futures::executor::block_on(async {
        let chain = chain(&[("RULES", "/admin/=admins")]).unwrap();
        for path in [
            "/app/index.jsp;jsessionid=0A1B2C",
            "/app/;jsessionid=0A1B2C",
        ] {
            assert_eq!(
                get(&chain, path, Some("eng@example.com")).await,
                (200, path.to_owned()),
                "{path}"
            );
        }
        assert_eq!(
            get(&chain, "/admin/;jsessionid=1", Some("root@example.com")).await,
            (200, "/admin/;jsessionid=1".to_owned())
        );
        assert_eq!(
            get(&chain, "/admin/;jsessionid=1", Some("eng@example.com"))
                .await
                .0,
            403
        );
    });
}

#[test]
fn a_rule_refuses_the_servlet_reading_of_its_path() {
    futures::executor::block_on(async {
        let chain = chain(&[("RULES", "/admin/=admins")]).unwrap();
        for path in [
            "/admin/y",
            "/admin;x/y",
            "/admin;jsessionid=1/y",
            "/ADMIN;x/y",
            "/%61dmin;x/y",
            "/admin;x",
            "/a;b/../admin;x/y",
        ] {
            assert_eq!(
                get(&chain, path, Some("eng@example.com")).await.0,
                403,
                "eng {path}"
            );
            assert_eq!(
                get(&chain, path, Some("root@example.com")).await.0,
                200,
                "root {path}"
            );
        }
        // Hidden dot segments: 400 for everyone, whatever the rules.
        for path in ["/x/..;/admin/y", "/x/.;/admin/y", "/;x/../admin/y"] {
            for user in ["eng@example.com", "root@example.com"] {
                assert_eq!(get(&chain, path, Some(user)).await.0, 400, "{user} {path}");
            }
        }
        // A path that only looks like the rule's under `;`: not covered.
        assert_eq!(
            get(&chain, "/administrator;x/y", Some("eng@example.com"))
                .await
                .0,
            200
        );
    });
}

#[test]
fn a_public_prefix_does_not_admit_a_servlet_spelling_of_it() {
    futures::executor::block_on(async {
        let chain = chain(&[("PUBLIC_PATHS", "/static/")]).unwrap();
        assert_eq!(
            get(&chain, "/static/a.js", None).await,
            (200, "/static/a.js".to_owned())
        );
        // Tomcat reads it as `/static/a.js`, Django as the segment `static;x`: not public.
        for path in [
            "/static;x/a.js",
            "/static;/a.js",
            "/static;jsessionid=1/a.js",
        ] {
            assert_eq!(get(&chain, path, None).await.0, 401, "{path}");
        }
        // A `;` under the prefix: both readings are under it, so public.
        assert_eq!(
            get(&chain, "/static/a.js;v=1", None).await,
            (200, "/static/a.js;v=1".to_owned())
        );
        // Out of the prefix by a hidden `..`: 400.
        for path in ["/static/..;/admin/x", "/static/.;/../admin/x"] {
            assert_eq!(get(&chain, path, None).await.0, 400, "{path}");
        }
    });
}
