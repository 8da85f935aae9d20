//! Rules per path (`RULES`) through the stock chain: the longest matching prefix decides, `*`
//! admits any signed-in user, an unmatched path any signed-in user; a refusal is 403 naming
//! the rule's path, and leaves the session (and a login made on the request) as it is.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashMap;
use std::rc::Rc;

use remote_user_filter::config::offline::OfflineConfig;
use remote_user_filter::{
    FilterChain, ManualClock, MemoryStore, Outcome, PathRule, PathRulesFilter, StockSettings,
};

const SECRET: &str = "a-32-byte-or-longer-session-secret!";
const HEADER: &str = "cf-access-authenticated-user-email";
const RULES: &str = "/admin/=admins; /admin/billing/=finance; /billing/=finance,admins; /api/=*";

fn settings(rules: &str) -> Result<StockSettings, remote_user_filter::ConfigError> {
    let vars = HashMap::from([
        ("AUTH_FILTERS", "session,remote_user"),
        ("TRUST_UNSIGNED_HEADER", "true"),
        ("RULES", rules),
    ]);
    StockSettings::from_vars(|k| vars.get(k).map(|v| v.to_string()))
}

fn chain(rules: &str) -> (FilterChain, Rc<MemoryStore>) {
    let store = Rc::new(MemoryStore::new());
    for (name, groups) in [
        ("root@example.com", r#"["admins"]"#),
        ("fin@example.com", r#"["finance"]"#),
        ("ann@example.com", r#"["staff"]"#),
        ("nog@example.com", "[]"),
        ("view@example.com", r#"["viewers"]"#),
        ("edit@example.com", r#"["editors"]"#),
    ] {
        store.seed(
            &format!("user:{name}"),
            &format!(r#"{{"username":"{name}","is_active":true,"groups":{groups}}}"#),
        );
    }
    let chain = settings(rules)
        .expect("valid settings")
        .chain(Rc::clone(&store))
        .session_secret(SECRET.to_owned())
        .clock(ManualClock::new(1_700_000_000))
        .build()
        .expect("a valid chain");
    (chain, store)
}

async fn send(chain: &FilterChain, path: &str, user: &str, cookie: Option<&str>) -> Outcome {
    let mut req = http::Request::get(format!("https://app.example{path}"))
        .header(HEADER, user)
        .body(())
        .unwrap();
    if let Some(cookie) = cookie {
        req.headers_mut().insert("cookie", cookie.parse().unwrap());
    }
    chain.handle_parts(req.into_parts().0).await
}

/// The status, and the refusal's text if any.
fn verdict(outcome: &Outcome) -> (u16, String) {
    match outcome {
        Outcome::Forward { .. } => (200, String::new()),
        Outcome::Respond { error, .. } => (error.status(), error.to_string()),
        Outcome::Answer { response, .. } => (response.status(), response.body().to_owned()),
    }
}

#[test]
fn longest_prefix_wins_and_star_and_no_match_admit_any_signed_in_user() {
    futures::executor::block_on(async {
        let (chain, _) = chain(RULES);
        assert_eq!(chain.names().last().unwrap(), "PathRulesFilter");
        let cases = [
            ("/admin/x", "root@example.com", 200),
            ("/admin/x", "ann@example.com", 403),
            ("/admin/x", "fin@example.com", 403),
            // `/admin/billing/` is longer than `/admin/`: finance only, admins refused.
            ("/admin/billing/q", "fin@example.com", 200),
            ("/admin/billing/q", "root@example.com", 403),
            ("/billing/", "root@example.com", 200),
            ("/billing/", "fin@example.com", 200),
            ("/billing/", "ann@example.com", 403),
            ("/api/v1", "ann@example.com", 200),
            ("/api/v1", "nog@example.com", 200),
            // No rule: any signed-in user. A rule covers its path with and without the
            // trailing `/` (Express serves both), and nothing past a segment boundary.
            ("/", "nog@example.com", 200),
            ("/admin", "ann@example.com", 403),
            ("/admin", "root@example.com", 200),
            ("/administrator", "ann@example.com", 200),
            ("/other/admin/x", "ann@example.com", 200),
            // A user without groups is in none of a rule's groups.
            ("/admin/x", "nog@example.com", 403),
        ];
        for (path, user, status) in cases {
            let outcome = send(&chain, path, user, None).await;
            assert_eq!(verdict(&outcome).0, status, "{user} {path}");
        }
    });
}

#[test]
fn the_refusal_names_the_rule_not_the_groups_and_keeps_the_login() {
    futures::executor::block_on(async {
        let (chain, store) = chain(RULES);
        // A login on the refused request stands: its one cookie goes out with the 403.
        let first = send(&chain, "/admin/x", "ann@example.com", None).await;
        assert_eq!(
            verdict(&first),
            (
                403,
                "forbidden: the rule for `/admin/` does not admit this user".to_owned()
            )
        );
        assert!(!verdict(&first).1.contains("staff"));
        let cookie = first.set_cookie().expect("the login's cookie").to_owned();
        assert!(!cookie.contains("Max-Age=0"), "not a removal: {cookie}");
        let pair = cookie.split(';').next().unwrap().to_owned();
        // With the session: refused again, no cookie (no logout), no store call.
        let (reads, writes) = (store.reads(), store.writes());
        let again = send(&chain, "/admin/y", "ann@example.com", Some(&pair)).await;
        assert_eq!(verdict(&again).0, 403);
        assert!(again.set_cookie().is_none());
        // The session still opens the paths the user may open.
        let open = send(&chain, "/api/z", "ann@example.com", Some(&pair)).await;
        assert_eq!(verdict(&open).0, 200);
        assert!(open.set_cookie().is_none());
        assert_eq!((store.reads(), store.writes()), (reads, writes));
    });
}

#[test]
fn no_rules_no_filter() {
    let (chain, _) = chain("");
    assert_eq!(
        chain.names(),
        [
            "SessionFilter",
            "SignOutFilter",
            "RemoteUserFilter",
            "WhoAmIFilter"
        ]
    );
    assert!(settings("[]").unwrap().rules.is_empty());
}

#[test]
fn both_syntaxes_read_the_same_rules() {
    let text = settings(RULES).unwrap().rules;
    let json = settings(
        r#"[{"path": "/admin/", "groups": ["admins"]},
            {"path": "/admin/billing/", "groups": ["finance"]},
            {"path": "/billing/", "groups": ["finance", "admins"]},
            {"path": "/api/", "groups": ["*"]}]"#,
    )
    .unwrap()
    .rules;
    assert_eq!(text, json);
    assert_eq!(text[1], PathRule::new("/admin/billing/", ["finance"]));
    // Sorted once, longest first.
    let filter = PathRulesFilter::new(text);
    assert_eq!(filter.rules()[0].path, "/admin/billing/");
}

#[test]
fn wrangler_toml_array_var_is_read_as_json() {
    let toml = r#"
[[kv_namespaces]]
binding = "USERS"
id = "x"
[vars]
AUTH_FILTERS = "session,remote_user"
TRUST_UNSIGNED_HEADER = true
RULES = [{ path = "/admin/", groups = ["admins"] }, { path = "/api/", groups = ["*"] }]
"#;
    let config = OfflineConfig::parse(toml, &format!("SESSION_SECRET={SECRET}"), None).unwrap();
    assert_eq!(
        config.check().unwrap(),
        [
            "SessionFilter",
            "SignOutFilter",
            "RemoteUserFilter",
            "WhoAmIFilter",
            "PathRulesFilter"
        ]
    );
    let bad = toml.replace(r#"groups = ["admins"]"#, "groups = []");
    let config = OfflineConfig::parse(&bad, &format!("SESSION_SECRET={SECRET}"), None).unwrap();
    assert_eq!(
        config.check().unwrap_err().to_string(),
        "`PathRulesFilter` setting RULES is `/admin/`, but it must be a rule with at least one \
         group (`*`: any signed-in user)"
    );
}

#[test]
fn configuration_errors_name_the_filter_and_the_setting() {
    let expected_syntax = "`[METHODS] [HOST]PATH=GROUP,GROUP` rules separated by `;`, e.g. \
                           `/admin/=admins; GET,HEAD /reports/=viewers; admin.example.com/=admins`, \
                           or a JSON array such as [{\"path\": \"/admin/\", \"groups\": [\"admins\"], \
                           \"methods\": [\"GET\"]}]";
    let cases = [
        (
            "admin/=admins",
            "`PathRulesFilter` setting RULES is `admin/`, but it must be a rule whose path \
             starts with `/`, after a host name with no port if any (e.g. `admin.example.com/`)"
                .to_owned(),
        ),
        (
            "/admin/= , ",
            "`PathRulesFilter` setting RULES is `/admin/`, but it must be a rule with at least \
             one group (`*`: any signed-in user)"
                .to_owned(),
        ),
        (
            "/admin/=admins; /api/=*; /admin/=staff",
            "`PathRulesFilter` setting RULES is `/admin/`, but it must be a path named by one \
             rule only for each host and method (paths compared without case or a trailing `/`)"
                .to_owned(),
        ),
        (
            "/admin/",
            format!(
                "`PathRulesFilter` setting RULES is `/admin/`, but it must be {expected_syntax}"
            ),
        ),
        (
            r#"[{"path": "/admin/", "groups": "admins"}]"#,
            format!(
                "`PathRulesFilter` setting RULES is `[{{\"path\": \"/admin/\", \"groups\": \
                 \"admins\"}}]`, but it must be {expected_syntax}"
            ),
        ),
        (
            r#"[{"path": "/admin/", "groups": ["admins"]"#,
            format!(
                "`PathRulesFilter` setting RULES is `[{{\"path\": \"/admin/\", \"groups\": \
                 [\"admins\"]`, but it must be {expected_syntax}"
            ),
        ),
        (
            r#"[{"path": "/a/", "groups": ["x"]}, {"path": "/a/", "groups": ["y"]}]"#,
            "`PathRulesFilter` setting RULES is `/a/`, but it must be a path named by one rule \
             only for each host and method (paths compared without case or a trailing `/`)"
                .to_owned(),
        ),
    ];
    for (rules, message) in cases {
        let err = settings(rules).unwrap_err();
        assert_eq!(err.to_string(), message, "{rules}");
    }
    // Built by hand, the chain's check finds the same problems, and the filter's place.
    let err = FilterChain::builder()
        .filter(remote_user_filter::SessionFilter::builder(SECRET).build())
        .filter(PathRulesFilter::new(vec![PathRule::new(
            "/a/",
            Vec::<String>::new(),
        )]))
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`PathRulesFilter` setting RULES is `/a/`, but it must be a rule with at least one group \
         (`*`: any signed-in user)"
    );
    // The client sees the rule, not the value.
    assert_eq!(
        err.redacted(),
        "`PathRulesFilter` setting RULES must be a rule with at least one group (`*`: any \
         signed-in user)"
    );
}

#[test]
fn anonymous_pass_still_needs_a_user_on_a_ruled_path() {
    futures::executor::block_on(async {
        let vars = HashMap::from([
            ("AUTH_FILTERS", "session,remote_user"),
            ("TRUST_UNSIGNED_HEADER", "true"),
            ("ANONYMOUS", "pass"),
            ("RULES", "/admin/=admins"),
        ]);
        let chain = StockSettings::from_vars(|k| vars.get(k).map(|v| v.to_string()))
            .unwrap()
            .chain(MemoryStore::new())
            .session_secret(SECRET.to_owned())
            .clock(ManualClock::new(1_700_000_000))
            .build()
            .unwrap();
        let parts = |path: &str| {
            http::Request::get(format!("https://app.example{path}"))
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        assert_eq!(verdict(&chain.handle_parts(parts("/admin/x")).await).0, 401);
        assert_eq!(verdict(&chain.handle_parts(parts("/open")).await).0, 200);
    });
}

/// The chain of the stock settings `vars` (session, trusted header, the users of [`chain`]).
fn chain_of(vars: &[(&str, &str)]) -> Result<FilterChain, remote_user_filter::ConfigError> {
    let mut all = HashMap::from([
        ("AUTH_FILTERS", "session,remote_user"),
        ("TRUST_UNSIGNED_HEADER", "true"),
    ]);
    all.extend(vars.iter().copied());
    let (_, store) = chain("");
    StockSettings::from_vars(|k| all.get(k).map(|v| v.to_string()))?
        .chain(store)
        .session_secret(SECRET.to_owned())
        .clock(ManualClock::new(1_700_000_000))
        .build()
}

/// The status of `method url` as `user` (none: no identity) with `headers`, and the path
/// that would be forwarded.
async fn request(
    chain: &FilterChain,
    method: &str,
    url: &str,
    user: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let url = if url.starts_with('/') {
        format!("https://app.example.com{url}")
    } else {
        url.to_owned()
    };
    let mut req = http::Request::builder().method(method).uri(url);
    if let Some(user) = user {
        req = req.header(HEADER, user);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let mut req = chain.request(req.body(()).unwrap().into_parts().0);
    let status = verdict(&chain.run(&mut req).await).0;
    (status, req.path().to_owned())
}

/// The status of each `(method, url, user)` case, checked against the expected one.
async fn expect(chain: &FilterChain, cases: &[(&str, &str, &str, u16)]) {
    for &(method, url, user, status) in cases {
        assert_eq!(
            request(chain, method, url, Some(user), &[]).await.0,
            status,
            "{user} {method} {url}"
        );
    }
}

const REPORTS: &str = "GET,HEAD /reports/=viewers,editors; /reports/=editors";

#[test]
fn a_rule_may_name_methods_and_the_most_specific_decides() {
    futures::executor::block_on(async {
        let chain = chain_of(&[("RULES", REPORTS)]).unwrap();
        expect(
            &chain,
            &[
                ("GET", "/reports/q1", "view@example.com", 200),
                ("HEAD", "/reports/q1", "view@example.com", 200),
                ("POST", "/reports/q1", "view@example.com", 403),
                ("PUT", "/reports/q1", "view@example.com", 403),
                ("DELETE", "/reports", "view@example.com", 403),
                ("GET", "/reports/q1", "edit@example.com", 200),
                ("HEAD", "/reports/q1", "edit@example.com", 200),
                ("POST", "/reports/q1", "edit@example.com", 200),
                ("DELETE", "/reports/q1", "edit@example.com", 200),
                ("GET", "/reports/q1", "ann@example.com", 403),
                ("POST", "/reports/q1", "ann@example.com", 403),
                // Outside the rules: any signed-in user.
                ("POST", "/reportsx", "view@example.com", 200),
            ],
        )
        .await;
        let refusal = send(&chain, "/reports/q1", "ann@example.com", None).await;
        assert_eq!(
            verdict(&refusal).1,
            "forbidden: the rule for `GET,HEAD /reports/` does not admit this user"
        );
    });
}

/// An origin answers `HEAD` as the `GET` it would have served: a `HEAD` must be admitted
/// by the rule for `GET` too.
#[test]
fn head_is_decided_as_get_too() {
    futures::executor::block_on(async {
        let chain = chain_of(&[("RULES", "GET /x/=admins; /x/=*")]).unwrap();
        expect(
            &chain,
            &[
                ("GET", "/x/a", "ann@example.com", 403),
                ("HEAD", "/x/a", "ann@example.com", 403),
                ("POST", "/x/a", "ann@example.com", 200),
                ("OPTIONS", "/x/a", "ann@example.com", 200),
                ("GET", "/x/a", "root@example.com", 200),
                ("HEAD", "/x/a", "root@example.com", 200),
            ],
        )
        .await;
    });
}

/// Rails, Laravel, Spring and Express's `method-override` take the method from a header: a
/// `GET` that claims to be a `DELETE` must be admitted as a `DELETE` too.
#[test]
fn a_method_override_header_is_decided_as_its_method_too() {
    futures::executor::block_on(async {
        let chain = chain_of(&[("RULES", REPORTS)]).unwrap();
        for name in [
            "X-HTTP-Method-Override",
            "X-HTTP-Method",
            "X-Method-Override",
        ] {
            for value in ["DELETE", "delete", " Delete ", "POST"] {
                for method in ["GET", "HEAD", "POST"] {
                    let headers = [(name, value)];
                    let view = request(
                        &chain,
                        method,
                        "/reports/q1",
                        Some("view@example.com"),
                        &headers,
                    )
                    .await;
                    assert_eq!(view.0, 403, "viewer {method} {name}: {value}");
                    let edit = request(
                        &chain,
                        method,
                        "/reports/q1",
                        Some("edit@example.com"),
                        &headers,
                    )
                    .await;
                    assert_eq!(edit.0, 200, "editor {method} {name}: {value}");
                }
            }
            // Claiming a method the viewer may use changes nothing.
            for value in ["GET", "head"] {
                let headers = [(name, value)];
                let view = request(
                    &chain,
                    "GET",
                    "/reports/q1",
                    Some("view@example.com"),
                    &headers,
                )
                .await;
                assert_eq!(view.0, 200, "viewer GET {name}: {value}");
            }
        }
        // Sent twice, the second claim counts too.
        let mut req = http::Request::get("https://app.example.com/reports/q1")
            .header(HEADER, "view@example.com")
            .header("x-http-method-override", "GET")
            .header("x-http-method-override", "PUT")
            .body(())
            .unwrap();
        req.headers_mut()
            .append("x-method-override", "GET".parse().unwrap());
        let outcome = chain.handle_parts(req.into_parts().0).await;
        assert_eq!(verdict(&outcome).0, 403);
    });
}

#[test]
fn a_rule_may_name_a_host() {
    futures::executor::block_on(async {
        let chain = chain_of(&[("RULES", "admin.example.com/=admins; /api/=*")]).unwrap();
        expect(
            &chain,
            &[
                ("GET", "https://admin.example.com/", "ann@example.com", 403),
                ("GET", "https://admin.example.com/x", "ann@example.com", 403),
                ("GET", "https://ADMIN.Example.com/x", "ann@example.com", 403),
                (
                    "GET",
                    "https://admin.example.com:8443/x",
                    "ann@example.com",
                    403,
                ),
                (
                    "GET",
                    "https://admin.example.com/x",
                    "root@example.com",
                    200,
                ),
                ("GET", "https://app.example.com/x", "ann@example.com", 200),
                ("GET", "https://admin.example.org/x", "ann@example.com", 200),
                (
                    "GET",
                    "https://admin.example.com.evil.example/x",
                    "ann@example.com",
                    200,
                ),
                // The longer path decides, whatever the host.
                (
                    "GET",
                    "https://admin.example.com/api/x",
                    "nog@example.com",
                    200,
                ),
            ],
        )
        .await;
    });
}

#[test]
fn a_host_specific_rule_beats_any_host_at_the_same_path_and_the_longer_path_beats_both() {
    futures::executor::block_on(async {
        let rules = "/reports/=viewers; admin.example.com/reports/=admins; \
                     admin.example.com/=admins; /reports/public/=*";
        let chain = chain_of(&[("RULES", rules)]).unwrap();
        let admin = "https://admin.example.com";
        let app = "https://app.example.com";
        expect(
            &chain,
            &[
                // Same path: the host's rule decides on its host, the other elsewhere.
                (
                    "GET",
                    &format!("{admin}/reports/q"),
                    "view@example.com",
                    403,
                ),
                (
                    "GET",
                    &format!("{admin}/reports/q"),
                    "root@example.com",
                    200,
                ),
                ("GET", &format!("{app}/reports/q"), "view@example.com", 200),
                ("GET", &format!("{app}/reports/q"), "root@example.com", 403),
                // A longer path for any host beats the host's rules.
                (
                    "GET",
                    &format!("{admin}/reports/public/x"),
                    "nog@example.com",
                    200,
                ),
                ("GET", &format!("{admin}/other"), "view@example.com", 403),
                ("GET", &format!("{app}/other"), "view@example.com", 200),
            ],
        )
        .await;
        // The order the rules are written in does not matter.
        let reversed: Vec<&str> = rules.split(';').rev().collect();
        let chain = chain_of(&[("RULES", &reversed.join(";"))]).unwrap();
        expect(
            &chain,
            &[
                (
                    "GET",
                    &format!("{admin}/reports/q"),
                    "view@example.com",
                    403,
                ),
                ("GET", &format!("{app}/reports/q"), "view@example.com", 200),
            ],
        )
        .await;
    });
}

/// Express routes without case and an escape of a letter is the letter: a rule that refuses
/// covers every spelling.
#[test]
fn rules_match_without_case_and_on_the_decoded_path() {
    futures::executor::block_on(async {
        for rules in ["/admin/=admins", "/ADMIN/=admins", "/Admin=admins"] {
            let chain = chain_of(&[("RULES", rules)]).unwrap();
            for path in [
                "/admin/x",
                "/ADMIN/x",
                "/Admin",
                "/aDmIn/",
                "/%61dmin/x",
                "/%41DMIN/x",
                "//admin/x",
                "/x/../admin/x",
                "/./admin",
            ] {
                let eng = request(&chain, "GET", path, Some("ann@example.com"), &[]).await;
                assert_eq!(eng.0, 403, "{rules}: {path}");
                let root = request(&chain, "GET", path, Some("root@example.com"), &[]).await;
                assert_eq!(root.0, 200, "{rules}: {path}");
            }
            // The origin receives the canonical form, its letters as sent.
            let root = request(
                &chain,
                "GET",
                "//%41dmin/./x",
                Some("root@example.com"),
                &[],
            )
            .await;
            assert_eq!(root, (200, "/Admin/x".to_owned()));
        }
    });
}

#[test]
fn a_rule_covers_its_path_at_segment_boundaries() {
    futures::executor::block_on(async {
        let chain = chain_of(&[("RULES", "/app/admin=admins; /admin/=admins")]).unwrap();
        for (path, status) in [
            ("/app/admin", 403),
            ("/app/admin/", 403),
            ("/app/admin/x", 403),
            ("/app/admin;x", 403),
            ("/app/administrator", 200),
            ("/app/admin-old", 200),
            ("/app/admin.html", 200),
            ("/app/adminx/y", 200),
            ("/app", 200),
            ("/admin", 403),
            ("/admin/", 403),
            ("/administrator", 200),
        ] {
            let eng = request(&chain, "GET", path, Some("ann@example.com"), &[]).await;
            assert_eq!(eng.0, status, "{path}");
        }
    });
}

#[test]
fn both_syntaxes_read_the_same_method_and_host_rules() {
    let text = settings(
        "GET,HEAD /reports/=viewers,editors; /reports/=editors; Admin.Example.com/=admins; \
         post,delete admin.example.com/api/=ops",
    )
    .unwrap()
    .rules;
    let json = settings(
        r#"[{"path": "/reports/", "groups": ["viewers", "editors"], "methods": ["GET", "HEAD"]},
            {"path": "/reports/", "groups": ["editors"]},
            {"path": "/", "host": "admin.example.com", "groups": ["admins"]},
            {"path": "/api/", "host": "ADMIN.example.com", "groups": ["ops"], "methods": ["post", "Delete"]}]"#,
    )
    .unwrap()
    .rules;
    assert_eq!(text, json);
    assert_eq!(
        text,
        [
            PathRule::new("/reports/", ["viewers", "editors"]).methods(["GET", "HEAD"]),
            PathRule::new("/reports/", ["editors"]),
            PathRule::new("/", ["admins"]).host("admin.example.com"),
            PathRule::new("/api/", ["ops"])
                .methods(["POST", "DELETE"])
                .host("admin.example.com"),
        ]
    );
    assert_eq!(
        text.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "GET,HEAD /reports/",
            "/reports/",
            "admin.example.com/",
            "POST,DELETE admin.example.com/api/"
        ]
    );
}

/// Settings whose paths claim the same requests are refused when the chain is built, naming
/// the filter type and both settings.
#[test]
fn conflicting_path_settings_are_refused_at_start() {
    let public_first = "a public path is forwarded before any rule is checked, so the rule \
                        would never hold there; narrow PUBLIC_PATHS or move the rule";
    let public_under = "a public path is forwarded with no identity, so the rule would not \
                        hold there; narrow the rule or drop the public path (only a rule on \
                        `/`, the site's default, may cover public paths)";
    let endpoint_public = "a public path is forwarded without authentication, so the \
                           endpoint would never answer; move the endpoint or narrow \
                           PUBLIC_PATHS";
    let endpoint_rule = "the endpoint answers before any rule is checked, so the rule would \
                         not hold there; move the endpoint or narrow the rule";
    let cases: Vec<(Vec<(&str, &str)>, String)> = vec![
        (
            vec![
                ("PUBLIC_PATHS", "/static/"),
                ("RULES", "/static/private/=admins"),
            ],
            format!(
                "`PathRulesFilter` setting RULES `/static/private/` conflicts with \
                 PUBLIC_PATHS `/static/`: {public_first}"
            ),
        ),
        (
            // Compared without case, as a rule matches.
            vec![
                ("PUBLIC_PATHS", "/healthz,/static/"),
                ("RULES", "/api/=*; GET /STATIC/Private=admins"),
            ],
            format!(
                "`PathRulesFilter` setting RULES `GET /STATIC/Private` conflicts with \
                 PUBLIC_PATHS `/static/`: {public_first}"
            ),
        ),
        (
            vec![("PUBLIC_PATHS", "/healthz"), ("RULES", "/healthz=admins")],
            format!(
                "`PathRulesFilter` setting RULES `/healthz` conflicts with PUBLIC_PATHS \
                 `/healthz`: {public_first}"
            ),
        ),
        (
            vec![("PUBLIC_PATHS", "/app/health"), ("RULES", "/app/=staff")],
            format!(
                "`PathRulesFilter` setting RULES `/app/` conflicts with PUBLIC_PATHS \
                 `/app/health`: {public_under}"
            ),
        ),
        (
            vec![
                ("PUBLIC_PATHS", "/app/static/"),
                ("RULES", "admin.example.com/app=admins"),
            ],
            format!(
                "`PathRulesFilter` setting RULES `admin.example.com/app` conflicts with \
                 PUBLIC_PATHS `/app/static/`: {public_under}"
            ),
        ),
        (
            vec![("WHOAMI_PATH", "/.auth/x"), ("LOGOUT_PATH", "/.auth/x")],
            "`WhoAmIFilter` setting WHOAMI_PATH `/.auth/x` conflicts with LOGOUT_PATH \
             `/.auth/x`: one path cannot both say who is signed in and sign out; give each \
             its own"
                .to_owned(),
        ),
        (
            vec![("WHOAMI_PATH", "/.auth/Me"), ("LOGOUT_PATH", "/.auth/me")],
            "`WhoAmIFilter` setting WHOAMI_PATH `/.auth/Me` conflicts with LOGOUT_PATH \
             `/.auth/me`: one path cannot both say who is signed in and sign out; give each \
             its own"
                .to_owned(),
        ),
        (
            vec![("RULES", "/.auth/=admins")],
            format!(
                "`SignOutFilter` setting LOGOUT_PATH `/.auth/logout` conflicts with RULES \
                 `/.auth/`: {endpoint_rule}"
            ),
        ),
        (
            vec![("LOGOUT_PATH", ""), ("RULES", "/.AUTH/ME=admins")],
            format!(
                "`WhoAmIFilter` setting WHOAMI_PATH `/.auth/me` conflicts with RULES \
                 `/.AUTH/ME`: {endpoint_rule}"
            ),
        ),
        (
            vec![("PUBLIC_PATHS", "/.auth/")],
            format!(
                "`SignOutFilter` setting LOGOUT_PATH `/.auth/logout` conflicts with \
                 PUBLIC_PATHS `/.auth/`: {endpoint_public}"
            ),
        ),
        (
            vec![("PUBLIC_PATHS", "/healthz,/.auth/me")],
            format!(
                "`WhoAmIFilter` setting WHOAMI_PATH `/.auth/me` conflicts with PUBLIC_PATHS \
                 `/.auth/me`: {endpoint_public}"
            ),
        ),
        (
            vec![("WHOAMI_PATH", "/api/me"), ("RULES", "/api/=staff")],
            format!(
                "`WhoAmIFilter` setting WHOAMI_PATH `/api/me` conflicts with RULES `/api/`: \
                 {endpoint_rule}"
            ),
        ),
    ];
    for (vars, message) in cases {
        let err = chain_of(&vars).expect_err("refused");
        assert_eq!(err.to_string(), message, "{vars:?}");
    }
}

#[test]
fn a_rule_on_the_root_may_cover_public_paths_and_the_endpoints() {
    futures::executor::block_on(async {
        let chain = chain_of(&[
            ("PUBLIC_PATHS", "/static/,/healthz"),
            ("RULES", "/=staff; /admin/=admins"),
        ])
        .unwrap();
        for (path, user, status) in [
            ("/static/app.js", None, 200),
            ("/healthz", None, 200),
            ("/app", Some("ann@example.com"), 200),
            ("/app", Some("nog@example.com"), 403),
            ("/app", None, 401),
            ("/admin/x", Some("ann@example.com"), 403),
            ("/admin/x", Some("root@example.com"), 200),
            // The endpoints answer before the rules, for any signed-in user.
            ("/.auth/me", Some("nog@example.com"), 200),
        ] {
            assert_eq!(
                request(&chain, "GET", path, user, &[]).await.0,
                status,
                "{user:?} {path}"
            );
        }
    });
}

/// A path setting that is not in canonical form would never match as written: refused,
/// naming the form to write.
#[test]
fn a_non_canonical_path_setting_is_refused_naming_its_canonical_form() {
    let not_canonical = |filter: &str, setting: &str, value: &str, canonical: &str| {
        format!(
            "`{filter}` setting {setting} has the path `{value}`, which no request is matched \
             as (paths are read in canonical form: escapes of letters and digits decoded, `//` \
             merged, dot segments removed); write it as `{canonical}`"
        )
    };
    for (vars, message) in [
        (
            [("RULES", "/a//b/=admins")],
            not_canonical("PathRulesFilter", "RULES", "/a//b/", "/a/b/"),
        ),
        (
            [("RULES", "/%61dmin/=admins")],
            not_canonical("PathRulesFilter", "RULES", "/%61dmin/", "/admin/"),
        ),
        (
            [("RULES", "GET /a/./b/../c=admins")],
            not_canonical("PathRulesFilter", "RULES", "/a/./b/../c", "/a/c"),
        ),
        (
            [("PUBLIC_PATHS", "/a//b/")],
            not_canonical("PublicRoutesFilter", "PUBLIC_PATHS", "/a//b/", "/a/b/"),
        ),
        (
            [("PUBLIC_PATHS", "/healthz,/static/%7e/")],
            not_canonical(
                "PublicRoutesFilter",
                "PUBLIC_PATHS",
                "/static/%7e/",
                "/static/~/",
            ),
        ),
        (
            [("WHOAMI_PATH", "/.auth//me")],
            not_canonical("WhoAmIFilter", "WHOAMI_PATH", "/.auth//me", "/.auth/me"),
        ),
    ] {
        let err = chain_of(&vars).expect_err("refused");
        assert_eq!(err.to_string(), message, "{vars:?}");
    }
}

/// `ENCODED_SLASHES=keep` forwards `%2F` as sent, and decides on the path with it read as
/// `/` too: no spelling with it reaches a route a rule refuses.
#[test]
fn encoded_slashes_kept_are_forwarded_and_decided_both_ways() {
    futures::executor::block_on(async {
        let keep = chain_of(&[("ENCODED_SLASHES", "keep"), ("RULES", "/admin/=admins")]).unwrap();
        let refuse = chain_of(&[("RULES", "/admin/=admins")]).unwrap();
        let eng = Some("ann@example.com");
        assert_eq!(
            request(&keep, "GET", "/files/a%2Fb", eng, &[]).await,
            (200, "/files/a%2Fb".to_owned())
        );
        assert_eq!(
            request(&keep, "GET", "/files/a%2fb%5c", eng, &[]).await,
            (200, "/files/a%2Fb%5C".to_owned())
        );
        assert_eq!(
            request(&refuse, "GET", "/files/a%2Fb", eng, &[]).await.0,
            400
        );
        for path in [
            "/%2Fadmin/x",
            "/x/..%2Fadmin/x",
            "/x/..%2fadmin/x",
            "/x/..%5Cadmin/x",
            "/admin%2Fx",
            "/x%2F..%2F%61dmin/x",
        ] {
            assert_eq!(request(&keep, "GET", path, eng, &[]).await.0, 403, "{path}");
            assert_eq!(
                request(&keep, "GET", path, Some("root@example.com"), &[])
                    .await
                    .0,
                200,
                "{path}"
            );
            assert_eq!(
                request(&refuse, "GET", path, eng, &[]).await.0,
                400,
                "{path}"
            );
        }
        // A hidden `..;` that a decoded slash reveals: no reading.
        assert_eq!(
            request(&keep, "GET", "/x/a%2F..;/admin/x", eng, &[])
                .await
                .0,
            400
        );
    });
}

/// A host name with its trailing dot (the fully qualified spelling) is the same host to DNS
/// and to the origins that route by it (nginx and Django drop the dot): a host rule holds
/// there too, and a rule written with the dot is the rule without it.
#[test]
fn a_host_rule_holds_for_the_host_spelled_with_a_trailing_dot() {
    futures::executor::block_on(async {
        let chain = chain_of(&[("RULES", "admin.example.com/=admins")]).unwrap();
        for url in [
            "https://admin.example.com./x",
            "https://ADMIN.example.com./x",
            "https://admin.example.com.:8443/x",
        ] {
            assert_eq!(
                request(&chain, "GET", url, Some("ann@example.com"), &[])
                    .await
                    .0,
                403,
                "{url}"
            );
            assert_eq!(
                request(&chain, "GET", url, Some("root@example.com"), &[])
                    .await
                    .0,
                200,
                "{url}"
            );
        }
        let dotted = chain_of(&[("RULES", "admin.example.com./=admins")]).unwrap();
        assert_eq!(
            request(
                &dotted,
                "GET",
                "https://admin.example.com/x",
                Some("ann@example.com"),
                &[]
            )
            .await
            .0,
            403
        );
    });
    assert_eq!(
        settings("admin.example.com./=admins").unwrap().rules,
        settings("admin.example.com/=admins").unwrap().rules
    );
    assert_eq!(
        settings("admin.example.com./=admins; admin.example.com/=staff")
            .unwrap_err()
            .to_string(),
        "`PathRulesFilter` setting RULES is `admin.example.com/`, but it must be a path named \
         by one rule only for each host and method (paths compared without case or a \
         trailing `/`)"
    );
}

/// An escape of a character that is not unreserved stays in the canonical form (RFC 3986:
/// `%40` is not `@` to every origin), but nginx and Django decode it before they route:
/// `/%40admin/x` is their `/@admin/x`, and `/caf%C3%A9/` is `/café/`. A rule covers its
/// path however its characters are escaped, the rule's as the request's.
#[test]
fn a_rule_covers_its_path_with_reserved_and_non_ascii_characters_escaped_or_not() {
    futures::executor::block_on(async {
        for (rules, paths) in [
            (
                "/@admin/=admins",
                &["/@admin/x", "/%40admin/x", "/%40ADMIN", "/%40admin/%2Cx"][..],
            ),
            ("/%40admin/=admins", &["/@admin/x", "/%40admin/x"][..]),
            (
                "/caf\u{e9}/=admins",
                &["/caf%C3%A9/x", "/caf%c3%a9/x", "/CAF%C3%A9"][..],
            ),
            ("/caf%C3%A9/=admins", &["/caf%C3%A9/x", "/caf%c3%a9"][..]),
            ("/a:b/=admins", &["/a:b/x", "/a%3Ab/x", "/a%3ab"][..]),
            ("/a%7Cb/=admins", &["/a%7Cb/x", "/A%7cB"][..]),
            ("/api/v1,2/=admins", &["/api/v1%2C2/x", "/api/v1,2"][..]),
        ] {
            let chain = chain_of(&[("RULES", rules)]).unwrap();
            for path in paths {
                let eng = request(&chain, "GET", path, Some("ann@example.com"), &[]).await;
                assert_eq!(eng.0, 403, "{rules}: {path}");
                let root = request(&chain, "GET", path, Some("root@example.com"), &[]).await;
                assert_eq!(root.0, 200, "{rules}: {path}");
            }
        }
        // One path, however written: two rules for it are refused, and the longer path as
        // matched decides.
        assert_eq!(
            settings("/@admin/=admins; /%40ADMIN=staff")
                .unwrap_err()
                .to_string(),
            "`PathRulesFilter` setting RULES is `/%40ADMIN`, but it must be a path named by \
             one rule only for each host and method (paths compared without case or a \
             trailing `/`)"
        );
        let chain = chain_of(&[("RULES", "/%40a/=admins; /@a/b/=staff")]).unwrap();
        for (path, user, status) in [
            ("/@a/b/c", "ann@example.com", 200),
            ("/@a/b/c", "root@example.com", 403),
            ("/@a/c", "root@example.com", 200),
            ("/@a/c", "ann@example.com", 403),
        ] {
            let seen = request(&chain, "GET", path, Some(user), &[]).await;
            assert_eq!(seen.0, status, "{user} {path}");
        }
        // Still at segment boundaries, and an escaped `/` is not one (`ENCODED_SLASHES=keep`
        // decides on its decoded reading).
        let chain = chain_of(&[("RULES", "/@admin/=admins")]).unwrap();
        for path in ["/%40administrator/x", "/@admin%3Bx/y", "/x%40admin/y"] {
            let eng = request(&chain, "GET", path, Some("ann@example.com"), &[]).await;
            assert_eq!(eng.0, 200, "{path}");
        }
    });
}

/// Express's `method-override` reads the first of comma-separated values (Node joins a
/// repeated header with `, `): every value a method-override header lists must be admitted.
#[test]
fn every_method_a_method_override_header_lists_is_decided() {
    futures::executor::block_on(async {
        let chain =
            chain_of(&[("RULES", "POST /reports/=viewers,editors; /reports/=editors")]).unwrap();
        for value in ["DELETE, POST", "delete,post", "DELETE,", " PUT ,POST"] {
            let headers = [("X-HTTP-Method-Override", value)];
            let view = request(
                &chain,
                "POST",
                "/reports/q1",
                Some("view@example.com"),
                &headers,
            )
            .await;
            assert_eq!(view.0, 403, "viewer: {value}");
            let edit = request(
                &chain,
                "POST",
                "/reports/q1",
                Some("edit@example.com"),
                &headers,
            )
            .await;
            assert_eq!(edit.0, 200, "editor: {value}");
        }
        let headers = [("X-HTTP-Method-Override", "POST, post")];
        let view = request(
            &chain,
            "POST",
            "/reports/q1",
            Some("view@example.com"),
            &headers,
        )
        .await;
        assert_eq!(view.0, 200);
    });
}

/// A method-override header that claims `HEAD` is answered by the origin's `GET` handler
/// (Express routes a `HEAD` to it): decided as a `GET` too.
#[test]
fn a_claimed_head_is_decided_as_get_too() {
    futures::executor::block_on(async {
        let chain = chain_of(&[("RULES", "GET /x/=admins; /x/=*")]).unwrap();
        for (user, status) in [("ann@example.com", 403), ("root@example.com", 200)] {
            for name in [
                "X-HTTP-Method-Override",
                "X-HTTP-Method",
                "X-Method-Override",
            ] {
                let headers = [(name, "HEAD")];
                let seen = request(&chain, "POST", "/x/a", Some(user), &headers).await;
                assert_eq!(seen.0, status, "{user} {name}");
            }
        }
    });
}
