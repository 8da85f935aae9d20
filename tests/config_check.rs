//! The configuration check: each failure's full message names the concrete filter type and
//! the exact setting; the worker (StockSettings), the library builder and the offline
//! command all say the same.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashMap;
use std::process::Command;
use std::rc::Rc;

use remote_user_filter::config::offline::OfflineConfig;
use remote_user_filter::{
    async_trait, AuthError, AuthRequest, ConfigError, ConfigProblem, Filter, FilterChain,
    FilterKind, JwksSource, KvUserBackend, ManualClock, MemoryStore, PersistentRemoteUserFilter,
    Position, RemoteUserFilter, SessionFilter, StockSettings, StoreError, UserStore,
};

const SECRET: &str = "config-test-session-secret-0123456789abcdef";

/// A key source for chains that are only checked, never run.
struct NoKeys;
#[async_trait(?Send)]
impl JwksSource for NoKeys {
    async fn fetch_jwks(&self) -> Result<String, String> {
        Err("these tests fetch no keys".into())
    }
}

struct Unbound;
#[async_trait(?Send)]
impl UserStore for Unbound {
    async fn get(&self, _: &str) -> Result<Option<String>, StoreError> {
        Err(StoreError("unbound".into()))
    }
    async fn put(&self, _: &str, _: &str) -> Result<(), StoreError> {
        Err(StoreError("unbound".into()))
    }
    fn missing_binding(&self) -> Option<&str> {
        Some("USERS")
    }
}

fn stock(vars: &[(&str, &str)], secret: Option<&str>) -> Result<Vec<String>, ConfigError> {
    stock_with(vars, secret, MemoryStore::new())
}

fn stock_with(
    vars: &[(&str, &str)],
    secret: Option<&str>,
    store: impl UserStore + 'static,
) -> Result<Vec<String>, ConfigError> {
    // Header mode by default here; each test overrides what it checks.
    let mut all: HashMap<&str, &str> = HashMap::from([
        ("AUTH_FILTERS", "session,remote_user"),
        ("TRUST_UNSIGNED_HEADER", "true"),
    ]);
    all.extend(vars.iter().copied());
    let settings = StockSettings::from_vars(|k| all.get(k).map(|v| v.to_string()))?;
    Ok(settings
        .chain(store)
        .session_secret(secret.map(str::to_owned))
        .gateway_secret(all.get("GATEWAY_SECRET").map(|s| s.to_string()))
        .clock(ManualClock::new(0))
        .jwks(Rc::new(NoKeys))
        .build()?
        .names())
}

fn message(result: Result<Vec<String>, ConfigError>) -> String {
    result
        .expect_err("configuration should be refused")
        .to_string()
}

#[test]
fn default_configuration_is_accepted() {
    assert_eq!(
        stock(&[], Some(SECRET)).unwrap(),
        [
            "SessionFilter",
            "SignOutFilter",
            "RemoteUserFilter",
            "WhoAmIFilter"
        ]
    );
}

#[test]
fn remote_user_filter_without_session_filter_before_it() {
    assert_eq!(
        message(stock(
            &[("AUTH_FILTERS", "persistent_remote_user,session")],
            Some(SECRET)
        )),
        "`PersistentRemoteUserFilter` requires `SessionFilter` to be installed before it"
    );
    assert_eq!(
        message(stock(&[("AUTH_FILTERS", "remote_user")], Some(SECRET))),
        "`RemoteUserFilter` requires `SessionFilter` to be installed before it"
    );
}

#[test]
fn missing_secret_names_session_filter() {
    let expected = "`SessionFilter` needs the secret SESSION_SECRET, which is not set; run \
                    `wrangler secret put SESSION_SECRET` (locally: add it to .dev.vars)";
    assert_eq!(message(stock(&[], None)), expected);
    assert_eq!(message(stock(&[], Some(""))), expected);
}

#[test]
fn short_secret_names_session_filter_and_never_the_value() {
    let text = message(stock(&[], Some("tiny-secret-xyz")));
    assert_eq!(
        text,
        "`SessionFilter` needs SESSION_SECRET to be at least 32 bytes long, but it is 15 bytes; \
         generate one with `openssl rand -base64 48`"
    );
    assert!(!text.contains("tiny-secret-xyz"));
}

#[test]
fn missing_kv_binding_names_backend_and_filter() {
    assert_eq!(
        message(stock_with(&[], Some(SECRET), Unbound)),
        "`RemoteUserFilter` uses `KvUserBackend`, whose Workers KV binding `USERS` is not bound; \
         add [[kv_namespaces]] with binding = \"USERS\" to wrangler.toml"
    );
    assert_eq!(
        message(stock_with(
            &[
                ("ALLOW_INACTIVE_USERS", "true"),
                ("AUTH_FILTERS", "session,persistent_remote_user")
            ],
            Some(SECRET),
            Unbound
        )),
        "`PersistentRemoteUserFilter` uses `AllowAllUsers<KvUserBackend>`, whose Workers KV \
         binding `USERS` is not bound; add [[kv_namespaces]] with binding = \"USERS\" to \
         wrangler.toml"
    );
}

#[test]
fn invalid_header_name() {
    assert_eq!(
        message(stock(&[("REMOTE_USER_HEADER", "Bad Header")], Some(SECRET))),
        "`RemoteUserFilter` setting REMOTE_USER_HEADER is `Bad Header`, which is not a valid \
         HTTP header name"
    );
    assert_eq!(
        message(stock(&[("UPSTREAM_USER_HEADER", "X:User")], Some(SECRET))),
        "UPSTREAM_USER_HEADER is `X:User`, but it must be a valid HTTP header name, e.g. X-Remote-User"
    );
}

#[test]
fn unknown_filter_name() {
    assert_eq!(
        message(stock(
            &[("AUTH_FILTERS", "session,remote-user")],
            Some(SECRET)
        )),
        "AUTH_FILTERS names an unknown filter `remote-user`; known filters are: session, \
         gateway_jwt, gateway_secret, remote_user, persistent_remote_user"
    );
    assert_eq!(
        message(stock(&[("AUTH_FILTERS", " , ")], Some(SECRET))),
        "AUTH_FILTERS is empty; list at least `session,gateway_jwt,remote_user`"
    );
    // Public paths add a filter of their own: still no filter from AUTH_FILTERS (found by
    // fuzzing: the chain built, and REMOTE_USER_HEADER, never checked, broke the wire plan).
    assert_eq!(
        message(stock(
            &[
                ("AUTH_FILTERS", "\n,"),
                ("PUBLIC_PATHS", "/healthz"),
                ("REMOTE_USER_HEADER", "x\ny")
            ],
            Some(SECRET)
        )),
        "AUTH_FILTERS is empty; list at least `session,gateway_jwt,remote_user`"
    );
}

#[test]
fn duplicate_session_filter() {
    assert_eq!(
        message(stock(
            &[("AUTH_FILTERS", "session,session,remote_user")],
            Some(SECRET)
        )),
        "`SessionFilter` is installed more than once; keep one"
    );
}

#[test]
fn invalid_values() {
    for (var, value, expected) in [
        ("CREATE_UNKNOWN_USER", "yes", "CREATE_UNKNOWN_USER is `yes`, but it must be `true` or `false`"),
        ("ALLOW_INACTIVE_USERS", "1", "ALLOW_INACTIVE_USERS is `1`, but it must be `true` or `false`"),
        ("ANONYMOUS", "allow", "ANONYMOUS is `allow`, but it must be `deny` or `pass`"),
        ("SESSION_TTL_SECS", "8h", "SESSION_TTL_SECS is `8h`, but it must be a whole number of seconds from 1 to 31536000"),
        ("ORIGIN_URL", "ftp://x", "ORIGIN_URL is `ftp://x`, but it must be an http(s) URL without query or fragment, e.g. https://app.internal.example"),
    ] {
        assert_eq!(message(stock(&[(var, value)], Some(SECRET))), expected, "{var}");
    }
}

/// ORIGIN_URL is read with `http::Uri`: what the check by prefix let through (no host, a
/// control character) is refused now, a path prefix and a port still pass.
#[test]
fn origin_url_is_read_as_a_uri() {
    let refused: Vec<&str> = [
        "http://",
        "https:///app",
        "http://app\t.example",
        "https://app.example/a\nb",
        "https://app.example?",
        "https://app.example/#x",
        "https://app.example /x",
        "ftp://app.example",
        "app.example",
    ]
    .into_iter()
    .filter(|url| stock(&[("ORIGIN_URL", url)], Some(SECRET)).is_ok())
    .collect();
    assert!(refused.is_empty(), "accepted: {refused:?}");
    for url in [
        "https://app.internal.example",
        "http://127.0.0.1:8080/",
        "https://app.internal.example/prefix",
        "HTTPS://app.internal.example",
    ] {
        assert!(stock(&[("ORIGIN_URL", url)], Some(SECRET)).is_ok(), "{url}");
    }
}

/// A user's own wrapper is named as itself, even when it hands `check` to the filter it wraps.
struct CorpRemoteUser(RemoteUserFilter);

#[async_trait(?Send)]
impl Filter for CorpRemoteUser {
    fn kind(&self) -> FilterKind {
        self.0.kind()
    }
    fn check(&self, position: &Position<'_>) -> Result<(), ConfigProblem> {
        self.0.check(position)
    }
    async fn call(&self, req: &mut AuthRequest) -> Result<(), AuthError> {
        self.0.call(req).await
    }
}

#[test]
fn custom_wrapper_is_named_as_itself() {
    let backend = Rc::new(KvUserBackend::new(MemoryStore::new()));
    let wrapped = || {
        RemoteUserFilter::builder(backend.clone())
            .header("X-Corp-User")
            .trust_unsigned_header(true)
            .build()
    };
    let err = FilterChain::builder()
        .filter(CorpRemoteUser(wrapped()))
        .filter(SessionFilter::builder(SECRET).build())
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`CorpRemoteUser` requires `SessionFilter` to be installed before it"
    );
    let err = FilterChain::builder()
        .filter(SessionFilter::builder(SECRET).build())
        .filter(CorpRemoteUser(
            RemoteUserFilter::builder(backend.clone())
                .header("X Corp")
                .build(),
        ))
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`CorpRemoteUser` setting REMOTE_USER_HEADER is `X Corp`, which is not a valid HTTP header name"
    );
    let ok = FilterChain::builder()
        .filter(SessionFilter::builder(SECRET).build())
        .filter(CorpRemoteUser(wrapped()))
        .filter(PersistentRemoteUserFilter::from(wrapped()))
        .build()
        .unwrap();
    assert_eq!(
        ok.names(),
        [
            "SessionFilter",
            "CorpRemoteUser",
            "PersistentRemoteUserFilter"
        ]
    );
}

const TOML: &str = r#"
name = "app"
main = "build/index.js"

[[kv_namespaces]]
binding = "USERS"
id = "abc"

[vars]
AUTH_FILTERS = "session,remote_user"
TRUST_UNSIGNED_HEADER = "true"

[env.staging]
kv_namespaces = [{ binding = "USERS", id = "def" }]
vars = { AUTH_FILTERS = "remote_user,session", TRUST_UNSIGNED_HEADER = "true" }

[env.nokv]
vars = { AUTH_FILTERS = "session,remote_user", TRUST_UNSIGNED_HEADER = "true" }

[env.access]
kv_namespaces = [{ binding = "USERS", id = "ghi" }]
vars = { ACCESS_TEAM_DOMAIN = "myteam.cloudflareaccess.com", ACCESS_AUD = "aud-tag" }
"#;

#[test]
fn offline_check_reads_wrangler_toml_env_and_dev_vars() {
    let dev = format!("SESSION_SECRET={SECRET}\n");
    assert_eq!(
        OfflineConfig::parse(TOML, &dev, None)
            .unwrap()
            .check()
            .unwrap(),
        [
            "SessionFilter",
            "SignOutFilter",
            "RemoteUserFilter",
            "WhoAmIFilter"
        ]
    );
    assert_eq!(
        OfflineConfig::parse(TOML, &dev, Some("staging"))
            .unwrap()
            .check()
            .unwrap_err()
            .to_string(),
        "`RemoteUserFilter` requires `SessionFilter` to be installed before it"
    );
    // A gateway_jwt chain: the offline check gives the chain a key source (it fetches none).
    assert_eq!(
        OfflineConfig::parse(TOML, &dev, Some("access"))
            .unwrap()
            .check()
            .unwrap(),
        [
            "SessionFilter",
            "SignOutFilter",
            "GatewayJwtFilter",
            "RemoteUserFilter",
            "WhoAmIFilter"
        ]
    );
    assert!(OfflineConfig::parse(TOML, &dev, Some("nokv"))
        .unwrap()
        .check()
        .unwrap_err()
        .to_string()
        .contains("Workers KV binding `USERS` is not bound"));
    assert_eq!(
        OfflineConfig::parse(TOML, "", None)
            .unwrap()
            .check()
            .unwrap_err()
            .to_string(),
        message(stock(&[], None)),
        "the offline check says what the worker says"
    );
    assert_eq!(
        OfflineConfig::parse(TOML, &dev, Some("prod"))
            .unwrap_err()
            .to_string(),
        "wrangler.toml has no [env.prod] section"
    );
}

#[test]
fn config_check_command_exits_non_zero_with_the_message() {
    let dir = std::env::temp_dir().join(format!("rufcheck-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("wrangler.toml"), TOML).unwrap();
    std::fs::write(dir.join(".dev.vars"), format!("SESSION_SECRET={SECRET}\n")).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_config-check"))
            .arg("--dir")
            .arg(&dir)
            .args(args)
            .env_remove("SESSION_SECRET")
            .env_remove("GATEWAY_SECRET")
            .output()
            .unwrap()
    };
    let ok = run(&[]);
    assert!(ok.status.success());
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout),
        "configuration ok: SessionFilter -> SignOutFilter -> RemoteUserFilter -> WhoAmIFilter\n"
    );
    let access = run(&["--env", "access"]);
    assert_eq!(
        String::from_utf8_lossy(&access.stdout),
        "configuration ok: SessionFilter -> SignOutFilter -> GatewayJwtFilter -> RemoteUserFilter -> WhoAmIFilter\n"
    );
    assert!(access.status.success());
    let bad = run(&["--env", "staging"]);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr),
        "configuration error: `RemoteUserFilter` requires `SessionFilter` to be installed before it\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 3: the header alone is not proof.
#[test]
fn plain_header_without_gateway_proof_is_refused() {
    let expected =
        "`RemoteUserFilter` trusts the plain header `Cf-Access-Authenticated-User-Email` \
                    with no proof that the gateway sent it: install `GatewayJwtFilter` \
                    (AUTH_FILTERS `gateway_jwt`) or `SharedSecretFilter` (`gateway_secret`) \
                    before it, or set TRUST_UNSIGNED_HEADER=true if nothing but the gateway can \
                    reach this worker";
    assert_eq!(
        message(stock(&[("TRUST_UNSIGNED_HEADER", "false")], Some(SECRET))),
        expected
    );
    // The gateway filter after the remote-user filter proves nothing for it.
    assert_eq!(
        message(stock(
            &[
                ("TRUST_UNSIGNED_HEADER", "false"),
                ("AUTH_FILTERS", "session,remote_user,gateway_secret"),
                ("GATEWAY_SECRET", "a-long-random-gateway-secret"),
            ],
            Some(SECRET)
        )),
        expected
    );
    assert_eq!(
        stock(
            &[
                ("TRUST_UNSIGNED_HEADER", "false"),
                ("AUTH_FILTERS", "session,gateway_secret,remote_user"),
                ("GATEWAY_SECRET", "a-long-random-gateway-secret"),
            ],
            Some(SECRET)
        )
        .unwrap(),
        [
            "SessionFilter",
            "SignOutFilter",
            "SharedSecretFilter",
            "RemoteUserFilter",
            "WhoAmIFilter"
        ]
    );
}

#[test]
fn stock_default_is_cloudflare_access_and_names_what_is_missing() {
    let defaults = |vars: &[(&str, &str)]| {
        let vars: HashMap<&str, &str> = vars.iter().copied().collect();
        StockSettings::from_vars(|k| vars.get(k).map(|v| v.to_string())).and_then(|s| {
            s.chain(MemoryStore::new())
                .session_secret(SECRET.to_string())
                .jwks(Rc::new(NoKeys))
                .build()
                .map(|c| c.names())
        })
    };
    assert_eq!(
        message(defaults(&[])),
        "`GatewayJwtFilter` needs the setting ACCESS_TEAM_DOMAIN, which is not set; set it in \
         [vars] (e.g. `myteam.cloudflareaccess.com`)"
    );
    assert_eq!(
        defaults(&[
            ("ACCESS_TEAM_DOMAIN", "myteam.cloudflareaccess.com"),
            ("ACCESS_AUD", "a,b")
        ])
        .unwrap(),
        [
            "SessionFilter",
            "SignOutFilter",
            "GatewayJwtFilter",
            "RemoteUserFilter",
            "WhoAmIFilter"
        ]
    );
    assert_eq!(
        message(defaults(&[("GATEWAY", "pomerium")])),
        "`GatewayJwtFilter` needs the setting POMERIUM_HOST, which is not set; set it in [vars] \
         (e.g. `auth.example.com`)"
    );
    assert_eq!(
        message(defaults(&[("GATEWAY", "google_iap")])),
        "`GatewayJwtFilter` needs the setting ACCESS_AUD, which is not set; set it in [vars] \
         (e.g. `the application's AUD tag (comma-separate several)`)"
    );
    assert_eq!(
        message(defaults(&[("GATEWAY", "okta")])),
        "GATEWAY is `okta`, but it must be `cloudflare_access`, `google_iap` or `pomerium`"
    );
    let access = [
        ("ACCESS_TEAM_DOMAIN", "t.cloudflareaccess.com"),
        ("ACCESS_AUD", "a"),
    ];
    let with = |extra: (&'static str, &'static str)| {
        let mut v = access.to_vec();
        v.push(extra);
        message(defaults(&v))
    };
    assert_eq!(
        with(("JWT_LEEWAY_SECS", "301")),
        "`GatewayJwtFilter` setting JWT_LEEWAY_SECS is `301`, but it must be at most 300 seconds"
    );
    assert_eq!(
        with(("JWKS_URL", "http://keys.example.com/certs")),
        "`GatewayJwtFilter` setting JWKS_URL is `http://keys.example.com/certs`, but it must be \
         an https URL, or plain http only to localhost, 127.0.0.0/8 or [::1] (for tests), with \
         no `user@` before the host"
    );
    assert!(with(("AUTH_FILTERS", "session,remote_user,gateway_jwt"))
        .starts_with("`RemoteUserFilter` trusts the plain header"));
    let mut trusting = access.to_vec();
    trusting.extend([
        ("AUTH_FILTERS", "session,remote_user,gateway_jwt"),
        ("TRUST_UNSIGNED_HEADER", "true"),
    ]);
    assert_eq!(
        message(defaults(&trusting)),
        "`GatewayJwtFilter` must be installed before `RemoteUserFilter`, which relies on what it \
         checks"
    );
}

/// Issue 9: JWKS_URL's plain-http exception is for a loopback host, parsed, not a prefix.
#[test]
fn jwks_url_plain_http_only_to_a_loopback_host_and_never_with_user_info() {
    let with_url = |url: &str| {
        stock(
            &[
                ("AUTH_FILTERS", "session,gateway_jwt,remote_user"),
                ("ACCESS_TEAM_DOMAIN", "t.cloudflareaccess.com"),
                ("ACCESS_AUD", "a"),
                ("JWKS_URL", url),
            ],
            Some(SECRET),
        )
    };
    // Every refused URL's answer, so one run shows each that slips through.
    let refused: Vec<(&str, Result<Vec<String>, String>)> = [
        "http://localhost@evil.example/certs",
        "http://127.0.0.1@evil.example/certs",
        "http://127.0.0.1:80@evil.example/certs",
        "http://[::1]@evil.example/certs",
        "http://127.0.0.1:/certs",
        "https://keys example.com/certs",
        "http://127.0.0.256/certs",
        "http://127.0.0.1.evil.example/",
        "http://localhost.evil.example/certs",
        "http://[::2]/certs",
        "https://user:password@keys.example.com/certs",
        "http://keys.example.com/certs",
        "ftp://127.0.0.1/certs",
        "https:///certs",
        "keys.example.com/certs",
    ]
    .into_iter()
    .map(|url| (url, with_url(url).map_err(|e| e.to_string())))
    .collect();
    let expected: Vec<(&str, Result<Vec<String>, String>)> = refused
        .iter()
        .map(|(url, _)| {
            let text = format!(
                "`GatewayJwtFilter` setting JWKS_URL is `{url}`, but it must be an https URL, \
                 or plain http only to localhost, 127.0.0.0/8 or [::1] (for tests), with no \
                 `user@` before the host"
            );
            (*url, Err(text))
        })
        .collect();
    assert_eq!(refused, expected);
    for url in [
        "http://127.0.0.1:8787/certs",
        "http://127.9.8.7/certs",
        "http://[::1]:1/x",
        "http://localhost:9/x",
        "https://keys.example.com/certs",
        "https://keys.example.com:8443/cdn-cgi/access/certs",
    ] {
        assert_eq!(
            with_url(url).map_err(|e| e.to_string()),
            Ok(vec![
                "SessionFilter".to_owned(),
                "SignOutFilter".to_owned(),
                "GatewayJwtFilter".to_owned(),
                "RemoteUserFilter".to_owned(),
                "WhoAmIFilter".to_owned()
            ]),
            "{url}"
        );
    }
}

/// Issue 9: a gateway-assertion filter with no key source would answer 503 for ever; the
/// configuration check says so instead, naming the filter and what to do.
#[test]
fn gateway_jwt_without_a_key_source_is_refused() {
    let vars = HashMap::from([
        ("ACCESS_TEAM_DOMAIN", "t.cloudflareaccess.com"),
        ("ACCESS_AUD", "a"),
    ]);
    let settings = StockSettings::from_vars(|k| vars.get(k).map(|v| v.to_string())).unwrap();
    let chain = || {
        settings
            .chain(MemoryStore::new())
            .session_secret(SECRET.to_string())
            .clock(ManualClock::new(0))
    };
    assert_eq!(
        message(chain().build().map(|c| c.names())),
        "`GatewayJwtFilter` has no source for the gateway's signing keys, so every signed \
         assertion would be answered 503; give the chain builder one with `.jwks(...)` (the \
         worker passes `FetchJwks` for JWKS_URL)"
    );
    assert_eq!(
        chain().jwks(Rc::new(NoKeys)).build().unwrap().names(),
        [
            "SessionFilter",
            "SignOutFilter",
            "GatewayJwtFilter",
            "RemoteUserFilter",
            "WhoAmIFilter"
        ]
    );
}

#[test]
fn gateway_secret_settings() {
    let filters = ("AUTH_FILTERS", "session,gateway_secret,remote_user");
    assert_eq!(
        message(stock(&[filters], Some(SECRET))),
        "`SharedSecretFilter` needs the secret GATEWAY_SECRET, which is not set; run \
         `wrangler secret put GATEWAY_SECRET` (locally: add it to .dev.vars)"
    );
    let text = message(stock(
        &[filters, ("GATEWAY_SECRET", "short-gw")],
        Some(SECRET),
    ));
    assert_eq!(
        text,
        "`SharedSecretFilter` needs GATEWAY_SECRET to be at least 16 bytes long, but it is 8 \
         bytes; generate one with `openssl rand -base64 48`"
    );
    assert!(!text.contains("short-gw"));
}

/// The worker hands the chain only the headers its filters read: each filter says which.
#[test]
fn stock_chains_declare_the_headers_they_read() {
    let names = |vars: &[(&str, &str)]| -> Option<Vec<String>> {
        let vars: HashMap<&str, &str> = vars.iter().copied().collect();
        let settings = StockSettings::from_vars(|k| vars.get(k).map(|v| v.to_string())).unwrap();
        let chain = settings
            .chain(MemoryStore::new())
            .session_secret(SECRET.to_string())
            .gateway_secret("a-long-random-gateway-secret".to_string())
            .jwks(Rc::new(NoKeys))
            .build()
            .unwrap();
        chain
            .headers_read()
            .map(|h| h.iter().map(|n| n.as_str().to_owned()).collect())
    };
    assert_eq!(
        names(&[
            ("ACCESS_TEAM_DOMAIN", "t.cloudflareaccess.com"),
            ("ACCESS_AUD", "a")
        ])
        .unwrap(),
        [
            "cookie",
            "cf-access-jwt-assertion",
            "cf-access-authenticated-user-email",
            "accept"
        ]
    );
    assert_eq!(
        names(&[
            ("ACCESS_TEAM_DOMAIN", "t.cloudflareaccess.com"),
            ("ACCESS_AUD", "a"),
            ("ACCESS_JWT_COOKIE_FALLBACK", "true"),
        ])
        .unwrap(),
        [
            "cookie",
            "cf-access-jwt-assertion",
            "cf-access-authenticated-user-email",
            "accept"
        ]
    );
    assert_eq!(
        names(&[
            ("AUTH_FILTERS", "session,gateway_secret,remote_user"),
            ("REMOTE_USER_HEADER", "X-Auth-Request-Email"),
        ])
        .unwrap(),
        [
            "cookie",
            "x-gateway-secret",
            "x-auth-request-email",
            "accept"
        ]
    );
    // A backend that may read any header (the default for custom ones) turns it off.
    let backend = Rc::new(AnyHeaders(KvUserBackend::new(MemoryStore::new())));
    let chain = FilterChain::builder()
        .filter(SessionFilter::builder(SECRET).build())
        .filter(
            RemoteUserFilter::builder(backend)
                .trust_unsigned_header(true)
                .build(),
        )
        .build()
        .unwrap();
    assert!(chain.headers_read().is_none());
}

/// A custom backend that does not say which headers it reads.
struct AnyHeaders(KvUserBackend<MemoryStore>);

#[async_trait(?Send)]
impl remote_user_filter::UserBackend for AnyHeaders {
    async fn get_user(
        &self,
        username: &str,
    ) -> Result<Option<remote_user_filter::User>, remote_user_filter::BackendError> {
        self.0.get_user(username).await
    }
    async fn save_user(
        &self,
        user: &remote_user_filter::User,
    ) -> Result<(), remote_user_filter::BackendError> {
        self.0.save_user(user).await
    }
}

#[test]
fn a_chain_that_logs_no_one_in_is_refused() {
    for filters in ["session", "session,gateway_secret", "gateway_secret"] {
        let vars = [
            ("AUTH_FILTERS", filters),
            ("GATEWAY_SECRET", "a-long-random-gateway-secret"),
        ];
        assert_eq!(
            message(stock(&vars, Some(SECRET))),
            "AUTH_FILTERS installs no remote-user filter: add `remote_user` (`RemoteUserFilter`) \
             or `persistent_remote_user` (`PersistentRemoteUserFilter`) after `session`, e.g. \
             `session,gateway_jwt,remote_user`",
            "{filters}"
        );
    }
}

#[test]
fn traffic_settings_are_checked() {
    for (setting, value, expected) in [
        (
            "USER_CACHE_SECS",
            "3601",
            "a whole number of seconds from 0 (off) to 3600",
        ),
        (
            "USER_RECHECK_SECS",
            "-1",
            "a whole number of seconds (0: never re-check)",
        ),
        (
            "LAST_LOGIN_INTERVAL_SECS",
            "0",
            "a whole number of seconds, at least 1 (Workers KV takes one write per second per key)",
        ),
        (
            "KV_TIMEOUT_MS",
            "10",
            "a whole number of milliseconds from 50 to 30000",
        ),
    ] {
        assert_eq!(
            message(stock(&[(setting, value)], Some(SECRET))),
            format!("{setting} is `{value}`, but it must be {expected}")
        );
    }
    let settings = StockSettings::from_vars(|_| None).unwrap();
    assert_eq!(
        (
            settings.user_cache_secs,
            settings.recheck_secs,
            settings.last_login_interval_secs,
            settings.kv_timeout_ms
        ),
        (60, 300, 300, 2000)
    );
}

#[test]
fn what_a_client_is_shown_holds_no_configured_value() {
    let cases = [
        (
            vec![("JWKS_URL", "http://internal.example/certs")],
            "JWKS_URL",
            "internal.example",
        ),
        (
            vec![("REMOTE_USER_HEADER", "Bad Header")],
            "REMOTE_USER_HEADER",
            "Bad Header",
        ),
        (
            vec![("AUTH_FILTERS", "session,bogus")],
            "AUTH_FILTERS",
            "bogus",
        ),
        (
            vec![("SESSION_TTL_SECS", "99999999999")],
            "SESSION_TTL_SECS",
            "99999999999",
        ),
    ];
    for (vars, setting, value) in cases {
        let mut all = vars.clone();
        if setting == "JWKS_URL" {
            all.extend([
                ("AUTH_FILTERS", "session,gateway_jwt,remote_user"),
                ("ACCESS_TEAM_DOMAIN", "team.cloudflareaccess.com"),
                ("ACCESS_AUD", "aud"),
            ]);
        }
        let err = stock(&all, Some(SECRET)).expect_err("refused");
        assert!(err.to_string().contains(value), "the log keeps it: {err}");
        let shown = err.redacted();
        assert!(shown.contains(setting), "{shown}");
        assert!(!shown.contains(value), "{shown}");
    }
    let short = stock(&[], Some("xq7zk")).expect_err("refused");
    assert_eq!(
        short.redacted(),
        "`SessionFilter` needs SESSION_SECRET to be at least 32 bytes long"
    );
}
