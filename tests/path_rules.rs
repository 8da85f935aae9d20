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
