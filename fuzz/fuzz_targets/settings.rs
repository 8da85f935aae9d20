//! The settings parsers: `StockSettings::from_vars` with any values (`AUTH_FILTERS`,
//! `RULES` and `PUBLIC_PATHS` given their own fields, every other setting by index), then
//! the stock chain built from what parsed, its wire `Plan`, and one request through it.
//! Invariants: parsing and building end in a value or a typed `ConfigError`; `RULES` parsed
//! as a setting is `PathRule::parse_setting` of it, every rule with a `/` path, a group, a
//! path of its own; every public path is a trimmed, non-empty entry; the plan's five lines frame;
//! a request is answered 400/401/403/500/503 or forwarded, anonymously only on a public path
//! or with `ANONYMOUS=pass`, and the reply frames.
#![no_main]

use std::collections::HashMap;
use std::rc::Rc;

use arbitrary::Arbitrary;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use remote_user_filter::edge::wire::{request_parts, Plan, Reply};
use remote_user_filter::gateway::IdentitySource;
use remote_user_filter::path::canonicalize;
use remote_user_filter::{
    async_trait, AnonymousPolicy, JwksSource, ManualClock, MemoryStore, Outcome, PathRule,
    StockSettings,
};
use remote_user_filter_fuzz::{assert_status, round_trip, NOW, SESSION_SECRET};

const VARS: [&str; 29] = [
    "REMOTE_USER_HEADER",
    "CREATE_UNKNOWN_USER",
    "ALLOW_INACTIVE_USERS",
    "ANONYMOUS",
    "ORIGIN_URL",
    "UPSTREAM_USER_HEADER",
    "SESSION_TTL_SECS",
    "TRUST_UNSIGNED_HEADER",
    "GATEWAY",
    "ACCESS_TEAM_DOMAIN",
    "ACCESS_AUD",
    "POMERIUM_HOST",
    "JWKS_URL",
    "JWT_LEEWAY_SECS",
    "ALLOW_SERVICE_TOKENS",
    "ACCESS_JWT_COOKIE_FALLBACK",
    "GATEWAY_SECRET_HEADER",
    "JWKS_CACHE_TTL_SECS",
    "JWKS_REFETCH_INTERVAL_SECS",
    "USER_CACHE_SECS",
    "USER_RECHECK_SECS",
    "LAST_LOGIN_INTERVAL_SECS",
    "KV_TIMEOUT_MS",
    "CORS_PREFLIGHT",
    "LOGOUT_PATH",
    "LOGOUT_REDIRECT",
    "WHOAMI_PATH",
    "ACCESS_FETCH_IDENTITY",
    "ACCESS_IDENTITY_URL",
];

const FILTERS: [&str; 5] = [
    "session",
    "remote_user",
    "persistent_remote_user",
    "gateway_jwt",
    "gateway_secret",
];

#[derive(Arbitrary, Debug)]
enum Filters {
    Unset,
    Names(Vec<u8>),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    filters: Filters,
    rules: Option<String>,
    public_paths: Option<String>,
    others: Vec<(u8, String)>,
    path: String,
    identity: Option<String>,
    secret: bool,
}

struct NoKeys;

#[async_trait(?Send)]
impl JwksSource for NoKeys {
    async fn fetch_jwks(&self) -> Result<String, String> {
        Ok(r#"{"keys":[]}"#.into())
    }
}

struct NoIdentity;

#[async_trait(?Send)]
impl IdentitySource for NoIdentity {
    async fn fetch_identity(&self, _assertion: &str) -> Result<String, String> {
        Err("none".into())
    }
}

fuzz_target!(|input: Input| {
    let mut vars: HashMap<&str, String> = HashMap::new();
    match &input.filters {
        Filters::Unset => {}
        Filters::Names(picks) => {
            let names: Vec<&str> = picks.iter().map(|i| FILTERS[usize::from(*i) % 5]).collect();
            vars.insert("AUTH_FILTERS", names.join(","));
        }
        Filters::Raw(s) => {
            vars.insert("AUTH_FILTERS", s.clone());
        }
    }
    if let Some(rules) = &input.rules {
        vars.insert("RULES", rules.clone());
    }
    if let Some(paths) = &input.public_paths {
        vars.insert("PUBLIC_PATHS", paths.clone());
    }
    for (i, value) in &input.others {
        vars.insert(VARS[usize::from(*i) % VARS.len()], value.clone());
    }
    let Ok(settings) = StockSettings::from_vars(|name| vars.get(name).cloned()) else {
        return;
    };

    if let Some(rules) = vars.get("RULES").filter(|r| !r.trim().is_empty()) {
        assert_eq!(PathRule::parse_setting(rules).as_ref(), Ok(&settings.rules));
    }
    for (i, rule) in settings.rules.iter().enumerate() {
        assert!(rule.path.starts_with('/'), "{rule:?}");
        assert!(rule.groups.iter().any(|g| !g.trim().is_empty()), "{rule:?}");
        // No two rules for the same path (without case or trailing `/`), host and method.
        let key = |r: &PathRule| r.path.trim_end_matches('/').to_ascii_lowercase();
        assert!(settings.rules[..i].iter().all(|r| key(r) != key(rule)
            || r.host != rule.host
            || !r.methods.is_empty() && !rule.methods.is_empty() && r.methods.iter().all(|m| !rule.methods.contains(m))));
    }
    for path in &settings.public_paths {
        assert!(
            !path.is_empty() && path.trim() == path && !path.contains(','),
            "{path:?}"
        );
    }

    let Ok(chain) = settings
        .chain(MemoryStore::new())
        .session_secret(SESSION_SECRET.to_string())
        .gateway_secret("fuzz-gateway-secret-0123456789abcdef".to_string())
        .clock(ManualClock::new(NOW))
        .jwks(Rc::new(NoKeys))
        .identity(Rc::new(NoIdentity))
        .build()
    else {
        return;
    };
    let plan = Plan::stock(chain.headers_read(), &settings);
    // Five lines: read, strip, guard, the preflight's dropped headers, the negotiation
    // headers (no setting may add a line break to any of them).
    assert_eq!(plan.encode().matches('\n').count(), 4, "{plan:?}");

    let mut headers = HeaderMap::new();
    if let Some(id) = input
        .identity
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        if let Ok(name) = http::HeaderName::from_bytes(settings.remote_user_header.as_bytes()) {
            headers.insert(name, id);
        }
    }
    if input.secret {
        if let Ok(name) = http::HeaderName::from_bytes(settings.gateway_secret_header.as_bytes()) {
            headers.insert(
                name,
                HeaderValue::from_static("fuzz-gateway-secret-0123456789abcdef"),
            );
        }
    }
    let url = format!("https://app.example.com{}", input.path);
    let Ok(parts) = request_parts("GET", &url, headers) else {
        return;
    };
    let path = parts.uri.path().to_owned();
    let outcome = futures::executor::block_on(chain.handle_parts(parts));
    assert_status(&outcome);
    if let Outcome::Forward { user: None, .. } = &outcome {
        // Decided on every reading of the canonical path, as the chain decides it
        // (`/x/../static/a` is `/static/a`).
        let listed = |r: &str| {
            settings
                .public_paths
                .iter()
                .any(|p| p == r || (p.ends_with('/') && r.starts_with(p.as_str())))
        };
        let public = canonicalize(&path, settings.encoded_slashes)
            .is_ok_and(|canonical| canonical.readings().all(listed));
        assert!(
            public || settings.anonymous == AnonymousPolicy::Pass,
            "{path:?} forwarded anonymously: {settings:?}"
        );
    }
    let reply = Reply::new(
        outcome,
        &url,
        None,
        &settings.upstream,
        settings.origin_url.as_deref(),
        &http::HeaderMap::new(),
    );
    if !url.chars().any(|c| c.is_ascii_control()) {
        assert!(round_trip(&reply), "the reply cannot be framed: {reply:?}");
    }
});
