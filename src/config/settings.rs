//! The stock worker's settings (`[vars]` in `wrangler.toml`, the `SESSION_SECRET` secret) and
//! the chain they describe. The worker and the offline `config-check` command share this,
//! so both report the same errors.
//!
//! ```
//! use std::collections::HashMap;
//! use remote_user_filter::{ManualClock, MemoryStore, StockSettings};
//!
//! let vars = HashMap::from([
//!     ("AUTH_FILTERS", "session,gateway_secret,persistent_remote_user"),
//! ]);
//! let settings = StockSettings::from_vars(|k| vars.get(k).map(|v| v.to_string())).unwrap();
//! let chain = settings
//!     .chain(MemoryStore::new())
//!     .session_secret("a-32-byte-or-longer-session-secret!".to_string())
//!     .gateway_secret("a-long-random-gateway-secret".to_string())
//!     .clock(ManualClock::new(0))
//!     .build()
//!     .unwrap();
//! assert_eq!(chain.names(), ["SessionFilter", "SignOutFilter", "SharedSecretFilter", "PersistentRemoteUserFilter", "WhoAmIFilter"]);
//! ```

use std::rc::Rc;

use crate::chain::{AnonymousPolicy, FilterChain};
use crate::clock::{Clock, SystemClock};
use crate::endpoints::{
    SignOutFilter, WhoAmIFilter, ACCESS_SIGN_OUT, DEFAULT_LOGOUT_PATH, DEFAULT_WHOAMI_PATH,
    IAP_SIGN_OUT,
};
use crate::error::{ConfigError, ConfigProblem};
use crate::events::AuthEvent;
#[cfg(not(target_arch = "wasm32"))]
use crate::gateway::RustCryptoVerifier;
use crate::gateway::SignatureVerifier;
use crate::gateway::{access_identity_url, jwks_url_allowed, IdentitySource, JwksSource};
use crate::gateway::{Gateway, GatewayJwtFilter, GatewayPreset, SharedSecretFilter};
use crate::path::{check_setting_path, under, EncodedSlashes};
use crate::path_rules::{PathRule, PathRulesFilter};
use crate::remote_user::{PersistentRemoteUserFilter, RemoteUserFilter, DEFAULT_HEADER};
use crate::routes::{CorsPreflight, PublicRoutesFilter};
use crate::session::{SessionFilter, DEFAULT_TTL_SECS};
use crate::type_name::short_type_name;
use crate::upstream::UpstreamHeaders;
use crate::users::UserStore;
use crate::users::{AllowAllUsers, KvUserBackend, UserBackend};

/// The Workers KV binding the stock worker keeps users in.
pub const KV_BINDING: &str = "USERS";

/// A filter the stock worker can install, by its `AUTH_FILTERS` name.
///
/// ```
/// use remote_user_filter::FilterName;
/// assert_eq!("remote_user".parse::<FilterName>(), Ok(FilterName::RemoteUser));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FilterName {
    /// `session`: [`SessionFilter`].
    Session,
    /// `remote_user`: [`RemoteUserFilter`].
    RemoteUser,
    /// `persistent_remote_user`: [`PersistentRemoteUserFilter`].
    PersistentRemoteUser,
    /// `gateway_jwt`: [`GatewayJwtFilter`] with the `GATEWAY` preset.
    GatewayJwt,
    /// `gateway_secret`: [`SharedSecretFilter`].
    GatewaySecret,
}

impl std::str::FromStr for FilterName {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "session" => Ok(Self::Session),
            "remote_user" => Ok(Self::RemoteUser),
            "persistent_remote_user" => Ok(Self::PersistentRemoteUser),
            "gateway_jwt" => Ok(Self::GatewayJwt),
            "gateway_secret" => Ok(Self::GatewaySecret),
            other => Err(ConfigError::UnknownFilter {
                name: other.to_owned(),
            }),
        }
    }
}

/// The stock worker's settings, parsed and defaulted.
///
/// ```
/// use remote_user_filter::{AnonymousPolicy, StockSettings};
/// let s = StockSettings::from_vars(|_| None).unwrap();
/// assert_eq!(s.remote_user_header, "Cf-Access-Authenticated-User-Email");
/// assert_eq!(s.anonymous, AnonymousPolicy::Deny);
/// assert_eq!(s.session_ttl_secs, 28_800);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StockSettings {
    /// `AUTH_FILTERS` (default `session,remote_user`).
    pub filters: Vec<FilterName>,
    /// `REMOTE_USER_HEADER` (default `Cf-Access-Authenticated-User-Email`).
    pub remote_user_header: String,
    /// `CREATE_UNKNOWN_USER` (default `true`).
    pub create_unknown_user: bool,
    /// `ALLOW_INACTIVE_USERS` (default `false`).
    pub allow_inactive_users: bool,
    /// `ANONYMOUS` (default `deny`).
    pub anonymous: AnonymousPolicy,
    /// `ORIGIN_URL` (default: forward the request as routed).
    pub origin_url: Option<String>,
    /// `UPSTREAM_USER_HEADER` and the email/groups headers beside it.
    pub upstream: UpstreamHeaders,
    /// `SESSION_TTL_SECS` (default 28800).
    pub session_ttl_secs: u64,
    /// `TRUST_UNSIGNED_HEADER` (default `false`).
    pub trust_unsigned_header: bool,
    /// The gateway preset from `GATEWAY` (default `cloudflare_access`), `ACCESS_TEAM_DOMAIN`,
    /// `ACCESS_AUD`, `POMERIUM_HOST`, `JWKS_URL`, `JWT_LEEWAY_SECS` (default 60),
    /// `ALLOW_SERVICE_TOKENS` (default `false`).
    pub gateway: GatewayPreset,
    /// `ACCESS_JWT_COOKIE_FALLBACK` (default `false`): also read Access's `CF_Authorization`.
    pub cookie_fallback: bool,
    /// `GATEWAY_SECRET_HEADER` (default `X-Gateway-Secret`).
    pub gateway_secret_header: String,
    /// `JWKS_CACHE_TTL_SECS` (default 3600): how long fetched keys are trusted.
    pub key_ttl_secs: u64,
    /// `JWKS_REFETCH_INTERVAL_SECS` (default 30): the shortest time between key fetches.
    pub refetch_interval_secs: u64,
    /// `USER_CACHE_SECS` (default 60, `0` off): how long an isolate reuses a looked-up user.
    pub user_cache_secs: u64,
    /// `USER_RECHECK_SECS` (default 300, `0` never): the session age at which its user is
    /// checked against KV again.
    pub recheck_secs: u64,
    /// `LAST_LOGIN_INTERVAL_SECS` (default 300): the shortest time between two `last_login`
    /// stamps of one user.
    pub last_login_interval_secs: u64,
    /// `KV_TIMEOUT_MS` (default 2000): a KV call not answered by then is abandoned (503).
    pub kv_timeout_ms: u64,
    /// `PUBLIC_PATHS` (default none): paths forwarded without authentication, comma-separated;
    /// a trailing `/` makes a prefix (checked by [`PublicRoutesFilter`]).
    pub public_paths: Vec<String>,
    /// `CORS_PREFLIGHT` (default `deny`): `pass` forwards CORS preflights without identity.
    pub cors_preflight: CorsPreflight,
    /// `ENCODED_SLASHES` (default `refuse`): what to do with `%2F` or `%5C` inside a path
    /// segment ([`EncodedSlashes`]): answer 400, or `keep` it (for an app that uses it) and
    /// decide on both readings.
    pub encoded_slashes: EncodedSlashes,
    /// `RULES` (default none): who may open which paths ([`PathRule::parse_setting`]); with
    /// any, a [`PathRulesFilter`] ends the chain.
    pub rules: Vec<PathRule>,
    /// `LOGOUT_PATH` (default `/.auth/logout`, empty: off): the [`SignOutFilter`]'s path.
    pub logout_path: Option<String>,
    /// Where sign-out redirects: `LOGOUT_REDIRECT` when set, else the gateway's own sign-out
    /// (Access `/cdn-cgi/access/logout`, IAP `/?gcp-iap-mode=CLEAR_LOGIN_COOKIE`, Pomerium
    /// `https://<POMERIUM_HOST>/.pomerium/sign_out`), else `/`.
    pub logout_redirect: String,
    /// `WHOAMI_PATH` (default `/.auth/me`, empty: off): the [`WhoAmIFilter`]'s path.
    pub whoami_path: Option<String>,
    /// `ACCESS_FETCH_IDENTITY` (default `false`): at a login or a re-check, add the groups
    /// Cloudflare Access's `get-identity` answers for the request's verified assertion to the
    /// user record's (needs `GATEWAY=cloudflare_access` and `gateway_jwt`).
    pub fetch_identity: bool,
    /// `ACCESS_IDENTITY_URL` (default `https://<ACCESS_TEAM_DOMAIN>/cdn-cgi/access/get-identity`;
    /// empty for other gateways): where `ACCESS_FETCH_IDENTITY` asks.
    pub identity_url: String,
}

/// The gateway's own sign-out for these settings: the `GATEWAY` preset's, except behind a
/// shared-secret proxy (`gateway_secret` without `gateway_jwt`: oauth2-proxy, Authelia, …,
/// whose sign-out this worker cannot know) or with no `POMERIUM_HOST`, where it is `/`.
fn gateway_sign_out(
    gateway: &GatewayPreset,
    pomerium_host: &str,
    filters: &[FilterName],
) -> String {
    let shared_secret_only =
        filters.contains(&FilterName::GatewaySecret) && !filters.contains(&FilterName::GatewayJwt);
    if shared_secret_only {
        return "/".to_owned();
    }
    match gateway.gateway {
        Gateway::CloudflareAccess => ACCESS_SIGN_OUT.to_owned(),
        Gateway::GoogleIap => IAP_SIGN_OUT.to_owned(),
        Gateway::Pomerium => {
            let host = pomerium_host
                .trim()
                .trim_start_matches("https://")
                .trim_end_matches('/');
            if host.is_empty() {
                "/".to_owned()
            } else {
                format!("https://{host}/.pomerium/sign_out")
            }
        }
    }
}

/// Default `KV_TIMEOUT_MS`: two seconds.
pub const DEFAULT_KV_TIMEOUT_MS: u64 = 2000;

fn parse_secs(
    setting: &'static str,
    value: Option<String>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
    expected: &'static str,
) -> Result<u64, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or(ConfigError::InvalidSetting {
                setting,
                value: v,
                expected,
            }),
    }
}

fn parse_bool(
    setting: &'static str,
    value: Option<String>,
    default: bool,
) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(ConfigError::InvalidSetting {
            setting,
            value: other.to_owned(),
            expected: "`true` or `false`",
        }),
    }
}

impl StockSettings {
    /// Read the settings through `var` (a `[vars]` lookup); unset or empty means default.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let filters = match set("AUTH_FILTERS") {
            None => vec![
                FilterName::Session,
                FilterName::GatewayJwt,
                FilterName::RemoteUser,
            ],
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::parse)
                .collect::<Result<_, _>>()?,
        };
        let anonymous = match set("ANONYMOUS") {
            None => AnonymousPolicy::Deny,
            Some(v) => v.trim().parse().map_err(|()| ConfigError::InvalidSetting {
                setting: "ANONYMOUS",
                value: v.clone(),
                expected: "`deny` or `pass`",
            })?,
        };
        let session_ttl_secs = match set("SESSION_TTL_SECS") {
            None => DEFAULT_TTL_SECS,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=31_536_000).contains(n))
                .ok_or(ConfigError::InvalidSetting {
                    setting: "SESSION_TTL_SECS",
                    value: v.clone(),
                    expected: "a whole number of seconds from 1 to 31536000",
                })?,
        };
        let origin_url = match set("ORIGIN_URL") {
            None => None,
            Some(v) => {
                let url = v.trim();
                // Read as `http::Uri` reads it: a scheme, a host, no query (nor a fragment,
                // which it would drop); a path prefix is kept.
                let ok = !url.contains('#')
                    && url.parse::<http::Uri>().is_ok_and(|uri| {
                        matches!(uri.scheme_str(), Some("http" | "https"))
                            && uri.host().is_some_and(|host| !host.is_empty())
                            && uri.query().is_none()
                    });
                if !ok {
                    return Err(ConfigError::InvalidSetting {
                        setting: "ORIGIN_URL",
                        value: v.clone(),
                        expected: "an http(s) URL without query or fragment, e.g. https://app.internal.example",
                    });
                }
                Some(url.trim_end_matches('/').to_owned())
            }
        };
        let upstream = match set("UPSTREAM_USER_HEADER") {
            None => UpstreamHeaders::default(),
            Some(v) => UpstreamHeaders::new(v.trim()).ok_or(ConfigError::InvalidSetting {
                setting: "UPSTREAM_USER_HEADER",
                value: v.clone(),
                expected: "a valid HTTP header name, e.g. X-Remote-User",
            })?,
        };
        let list = |name: &str| -> Vec<String> {
            set(name)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|a| !a.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut gateway = match set("GATEWAY").as_deref().map(str::trim) {
            None | Some("cloudflare_access") => GatewayPreset::cloudflare_access(
                &set("ACCESS_TEAM_DOMAIN").unwrap_or_default(),
                list("ACCESS_AUD"),
            ),
            Some("google_iap") => GatewayPreset::google_iap(list("ACCESS_AUD")),
            Some("pomerium") => GatewayPreset::pomerium(&set("POMERIUM_HOST").unwrap_or_default()),
            Some(other) => {
                return Err(ConfigError::InvalidSetting {
                    setting: "GATEWAY",
                    value: other.to_owned(),
                    expected: "`cloudflare_access`, `google_iap` or `pomerium`",
                })
            }
        };
        if let Some(url) = set("JWKS_URL") {
            gateway.jwks_url = url.trim().to_owned();
        }
        if let Some(v) = set("JWT_LEEWAY_SECS") {
            gateway.policy.leeway_secs =
                v.trim().parse().map_err(|_| ConfigError::InvalidSetting {
                    setting: "JWT_LEEWAY_SECS",
                    value: v.clone(),
                    expected: "a whole number of seconds, at most 300",
                })?;
        }
        gateway.policy.allow_service_tokens =
            parse_bool("ALLOW_SERVICE_TOKENS", set("ALLOW_SERVICE_TOKENS"), false)?;
        let cors_preflight = match set("CORS_PREFLIGHT") {
            None => CorsPreflight::Deny,
            Some(v) => v.trim().parse().map_err(|()| ConfigError::InvalidSetting {
                setting: "CORS_PREFLIGHT",
                value: v.clone(),
                expected: "`deny` or `pass`",
            })?,
        };
        let encoded_slashes = match set("ENCODED_SLASHES") {
            None => EncodedSlashes::Refuse,
            Some(v) => v.trim().parse().map_err(|()| ConfigError::InvalidSetting {
                setting: "ENCODED_SLASHES",
                value: v.clone(),
                expected: "`refuse` or `keep`",
            })?,
        };
        // Unset: the default; set but empty: no endpoint.
        let endpoint = |name: &str, default: &str| match var(name) {
            None => Some(default.to_owned()),
            Some(v) if v.trim().is_empty() => None,
            Some(v) => Some(v.trim().to_owned()),
        };
        let pomerium_host = set("POMERIUM_HOST").unwrap_or_default();
        let logout_redirect = match set("LOGOUT_REDIRECT") {
            Some(v) => v.trim().to_owned(),
            None => gateway_sign_out(&gateway, &pomerium_host, &filters),
        };
        let identity_url = match set("ACCESS_IDENTITY_URL") {
            Some(url) => url.trim().to_owned(),
            None if gateway.gateway == Gateway::CloudflareAccess => {
                access_identity_url(&set("ACCESS_TEAM_DOMAIN").unwrap_or_default())
            }
            None => String::new(),
        };
        let rules = match set("RULES") {
            None => Vec::new(),
            Some(v) => PathRule::parse_setting(&v)?,
        };
        Ok(Self {
            logout_path: endpoint("LOGOUT_PATH", DEFAULT_LOGOUT_PATH),
            whoami_path: endpoint("WHOAMI_PATH", DEFAULT_WHOAMI_PATH),
            logout_redirect,
            fetch_identity: parse_bool(
                "ACCESS_FETCH_IDENTITY",
                set("ACCESS_FETCH_IDENTITY"),
                false,
            )?,
            identity_url,
            public_paths: list("PUBLIC_PATHS"),
            cors_preflight,
            encoded_slashes,
            rules,
            trust_unsigned_header: parse_bool(
                "TRUST_UNSIGNED_HEADER",
                set("TRUST_UNSIGNED_HEADER"),
                false,
            )?,
            gateway,
            cookie_fallback: parse_bool(
                "ACCESS_JWT_COOKIE_FALLBACK",
                set("ACCESS_JWT_COOKIE_FALLBACK"),
                false,
            )?,
            key_ttl_secs: parse_secs(
                "JWKS_CACHE_TTL_SECS",
                set("JWKS_CACHE_TTL_SECS"),
                crate::gateway::DEFAULT_KEY_TTL_SECS,
                1..=86_400,
                "a whole number of seconds from 1 to 86400",
            )?,
            refetch_interval_secs: parse_secs(
                "JWKS_REFETCH_INTERVAL_SECS",
                set("JWKS_REFETCH_INTERVAL_SECS"),
                crate::gateway::MIN_REFETCH_INTERVAL_SECS,
                1..=3_600,
                "a whole number of seconds from 1 to 3600",
            )?,
            user_cache_secs: parse_secs(
                "USER_CACHE_SECS",
                set("USER_CACHE_SECS"),
                crate::remote_user::DEFAULT_USER_CACHE_SECS,
                0..=3_600,
                "a whole number of seconds from 0 (off) to 3600",
            )?,
            recheck_secs: parse_secs(
                "USER_RECHECK_SECS",
                set("USER_RECHECK_SECS"),
                crate::remote_user::DEFAULT_RECHECK_SECS,
                0..=31_536_000,
                "a whole number of seconds (0: never re-check)",
            )?,
            last_login_interval_secs: parse_secs(
                "LAST_LOGIN_INTERVAL_SECS",
                set("LAST_LOGIN_INTERVAL_SECS"),
                crate::users::DEFAULT_LAST_LOGIN_INTERVAL_SECS,
                1..=31_536_000,
                "a whole number of seconds, at least 1 (Workers KV takes one write per second per key)",
            )?,
            kv_timeout_ms: parse_secs(
                "KV_TIMEOUT_MS",
                set("KV_TIMEOUT_MS"),
                DEFAULT_KV_TIMEOUT_MS,
                50..=30_000,
                "a whole number of milliseconds from 50 to 30000",
            )?,
            gateway_secret_header: set("GATEWAY_SECRET_HEADER")
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|| "X-Gateway-Secret".to_owned()),
            filters,
            remote_user_header: set("REMOTE_USER_HEADER")
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|| DEFAULT_HEADER.to_owned()),
            create_unknown_user: parse_bool(
                "CREATE_UNKNOWN_USER",
                set("CREATE_UNKNOWN_USER"),
                true,
            )?,
            allow_inactive_users: parse_bool(
                "ALLOW_INACTIVE_USERS",
                set("ALLOW_INACTIVE_USERS"),
                false,
            )?,
            anonymous,
            origin_url,
            upstream,
            session_ttl_secs,
        })
    }

    /// The gateway that vouches for users, as the who-am-I endpoint names it: the `GATEWAY`
    /// preset's name (`cloudflare_access`, `google_iap`, `pomerium`), or `shared_secret`
    /// behind a shared-secret proxy (`gateway_secret` without `gateway_jwt`).
    ///
    /// ```
    /// use remote_user_filter::StockSettings;
    /// assert_eq!(StockSettings::from_vars(|_| None).unwrap().gateway_name(), "cloudflare_access");
    /// ```
    pub fn gateway_name(&self) -> &'static str {
        if self.filters.contains(&FilterName::GatewaySecret)
            && !self.filters.contains(&FilterName::GatewayJwt)
        {
            "shared_secret"
        } else {
            self.gateway.gateway.name()
        }
    }

    /// `ACCESS_FETCH_IDENTITY=true` only in Cloudflare Access mode (`GATEWAY=cloudflare_access`
    /// and `gateway_jwt` in `AUTH_FILTERS`: the call carries the assertion that filter
    /// verified), and `ACCESS_IDENTITY_URL` only https (plain http to loopback, for tests).
    fn check_fetch_identity(&self) -> Result<(), ConfigError> {
        if !self.fetch_identity {
            return Ok(());
        }
        if self.gateway.gateway != Gateway::CloudflareAccess {
            return Err(ConfigError::InvalidSetting {
                setting: "ACCESS_FETCH_IDENTITY",
                value: format!("true` with GATEWAY `{}", self.gateway.gateway.name()),
                expected: "`false` unless GATEWAY is `cloudflare_access`: only Cloudflare \
                           Access has a get-identity endpoint",
            });
        }
        if !self.filters.contains(&FilterName::GatewayJwt) {
            return Err(ConfigError::InvalidSetting {
                setting: "ACCESS_FETCH_IDENTITY",
                value: "true` without `gateway_jwt` in AUTH_FILTERS".to_owned(),
                expected: "`false` unless AUTH_FILTERS has `gateway_jwt`: the get-identity \
                           call sends the Access assertion that filter verified",
            });
        }
        if !jwks_url_allowed(&self.identity_url) {
            return Err(ConfigError::InvalidSetting {
                setting: "ACCESS_IDENTITY_URL",
                value: self.identity_url.clone(),
                expected: "an https URL, or plain http only to localhost, 127.0.0.0/8 or [::1] \
                           (for tests), with no `user@` before the host",
            });
        }
        Ok(())
    }

    /// The backend these settings describe, over `store`.
    pub fn backend<S: UserStore + 'static>(&self, store: S) -> Rc<dyn UserBackend> {
        let kv = KvUserBackend::new(store)
            .with_create_unknown_user(self.create_unknown_user)
            .with_last_login_interval_secs(self.last_login_interval_secs);
        if self.allow_inactive_users {
            Rc::new(AllowAllUsers(kv))
        } else {
            Rc::new(kv)
        }
    }

    /// Start building the chain these settings describe, over `store`.
    pub fn chain<S: UserStore + 'static>(&self, store: S) -> StockChainBuilder<'_, S> {
        StockChainBuilder {
            settings: self,
            store,
            on_warning: None,
            on_event: None,
            session_secret: None,
            gateway_secret: None,
            clock: Rc::new(SystemClock),
            jwks: None,
            identity: None,
            verifier: default_verifier(),
        }
    }
}

/// What the stock chain needs from its host beyond `[vars]`: the store, the secrets, a
/// clock, and for `gateway_jwt` a way to fetch keys and verify signatures.
///
/// ```
/// use remote_user_filter::{ManualClock, MemoryStore, StockSettings};
/// let settings = StockSettings::from_vars(|k| (k == "TRUST_UNSIGNED_HEADER").then(|| "true".into())
///     .or_else(|| (k == "AUTH_FILTERS").then(|| "session,remote_user".into()))).unwrap();
/// let chain = settings
///     .chain(MemoryStore::new())
///     .session_secret("a-32-byte-or-longer-session-secret!".to_string())
///     .clock(ManualClock::new(0))
///     .build()
///     .unwrap();
/// assert_eq!(chain.names(), ["SessionFilter", "SignOutFilter", "RemoteUserFilter", "WhoAmIFilter"]);
/// ```
pub struct StockChainBuilder<'a, S> {
    settings: &'a StockSettings,
    store: S,
    on_warning: Option<crate::chain::WarningSink>,
    on_event: Option<crate::chain::EventSink>,
    session_secret: Option<String>,
    gateway_secret: Option<String>,
    clock: Rc<dyn Clock>,
    jwks: Option<Rc<dyn JwksSource>>,
    identity: Option<Rc<dyn IdentitySource>>,
    verifier: Rc<dyn SignatureVerifier>,
}

impl<S> std::fmt::Debug for StockChainBuilder<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StockChainBuilder")
            .field("settings", self.settings)
            .finish_non_exhaustive()
    }
}

/// Pure Rust natively; the runtime's WebCrypto on wasm32 (so the worker ships no RSA code).
#[cfg(not(target_arch = "wasm32"))]
fn default_verifier() -> Rc<dyn SignatureVerifier> {
    Rc::new(RustCryptoVerifier)
}

#[cfg(target_arch = "wasm32")]
fn default_verifier() -> Rc<dyn SignatureVerifier> {
    Rc::new(crate::gateway::webcrypto::WebCryptoVerifier::default())
}

/// Stands in when no key source was given, so the settings are still checked; a chain built
/// with it is refused ([`ConfigProblem::MissingKeySource`]), so it never fetches.
struct NoJwksSource;

#[async_trait::async_trait(?Send)]
impl JwksSource for NoJwksSource {
    async fn fetch_jwks(&self) -> Result<String, String> {
        Err("no JWKS source was configured".into())
    }
}

impl<S: UserStore + 'static> StockChainBuilder<'_, S> {
    /// `SESSION_SECRET` (may be missing: the check reports it).
    pub fn session_secret(mut self, secret: impl Into<Option<String>>) -> Self {
        self.session_secret = secret.into();
        self
    }

    /// `GATEWAY_SECRET`, for `gateway_secret`.
    pub fn gateway_secret(mut self, secret: impl Into<Option<String>>) -> Self {
        self.gateway_secret = secret.into();
        self
    }

    /// Where time comes from (default: the system clock).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Rc::new(clock);
        self
    }

    /// Where the chain's warnings go (the worker: `console.warn`).
    pub fn on_warning(mut self, sink: impl Fn(&str) + 'static) -> Self {
        self.on_warning = Some(Rc::new(sink));
        self
    }

    /// Where the chain's events go ([`FilterChainBuilder::on_event`]; the worker: a JSON
    /// line with `console.log`, and a data point in `AUTH_EVENTS` when bound).
    ///
    /// [`FilterChainBuilder::on_event`]: crate::FilterChainBuilder::on_event
    ///
    /// ```
    /// use remote_user_filter::{MemoryStore, StockSettings};
    /// let settings = StockSettings::from_vars(|name| match name {
    ///     "AUTH_FILTERS" => Some("session,gateway_secret,remote_user".into()),
    ///     _ => None,
    /// })
    /// .unwrap();
    /// let chain = settings
    ///     .chain(MemoryStore::new())
    ///     .session_secret(Some("a-32-byte-or-longer-session-secret!".into()))
    ///     .gateway_secret(Some("a-long-random-gateway-secret".into()))
    ///     .on_event(|event| println!("{}", event.to_json_line()))
    ///     .build();
    /// assert!(chain.is_ok());
    /// ```
    pub fn on_event(mut self, sink: impl Fn(&AuthEvent) + 'static) -> Self {
        self.on_event = Some(Rc::new(sink));
        self
    }

    /// Where `gateway_jwt` fetches keys (the worker: `fetch(JWKS URL)`); a chain with
    /// `gateway_jwt` and no key source is refused by [`build`](Self::build).
    pub fn jwks(mut self, source: Rc<dyn JwksSource>) -> Self {
        self.jwks = Some(source);
        self
    }

    /// Where `ACCESS_FETCH_IDENTITY` asks for the identity provider's groups (the worker:
    /// `fetch(ACCESS_IDENTITY_URL)` with the assertion as the `CF_Authorization` cookie);
    /// unused while the setting is off, and a chain with it on and no source is refused by
    /// [`build`](Self::build).
    pub fn identity(mut self, source: Rc<dyn IdentitySource>) -> Self {
        self.identity = Some(source);
        self
    }

    /// How `gateway_jwt` verifies signatures (default: pure Rust natively, WebCrypto on
    /// wasm32).
    pub fn verifier(mut self, verifier: Rc<dyn SignatureVerifier>) -> Self {
        self.verifier = verifier;
        self
    }

    /// Build and check the chain. A chain that logs no one in (no remote-user filter) is
    /// refused: its session filter would forward any validly signed cookie.
    pub fn build(self) -> Result<FilterChain, ConfigError> {
        let settings = self.settings;
        let logs_in = settings
            .filters
            .iter()
            .any(|f| matches!(f, FilterName::RemoteUser | FilterName::PersistentRemoteUser));
        // Checked here, not only by the chain's own build: the filters the settings add
        // (public paths, who-am-I, rules) would make a chain of no `AUTH_FILTERS` non-empty.
        if settings.filters.is_empty() {
            return Err(ConfigError::EmptyChain);
        }
        if !logs_in {
            return Err(ConfigError::NoRemoteUserFilter);
        }
        let identity = self.identity.filter(|_| settings.fetch_identity);
        let backend = settings.backend(self.store);
        let mut builder = FilterChain::builder()
            .anonymous(settings.anonymous)
            .encoded_slashes(settings.encoded_slashes)
            .clock(self.clock);
        if let Some(sink) = self.on_warning {
            builder = builder.on_warning(move |line| sink(line));
        }
        if let Some(sink) = self.on_event {
            builder = builder.on_event(move |event| sink(event));
        }
        // First, and only when it makes something public: otherwise the chain is as before.
        let public =
            PublicRoutesFilter::new(settings.public_paths.clone(), settings.cors_preflight);
        if public.is_active() {
            builder = builder.filter(public.clone());
        }
        let has_key_source = self.jwks.is_some();
        let jwks: Rc<dyn JwksSource> = self.jwks.unwrap_or_else(|| Rc::new(NoJwksSource));
        for name in &settings.filters {
            let remote_user = || {
                let filter = RemoteUserFilter::builder(Rc::clone(&backend))
                    .header(settings.remote_user_header.clone())
                    .trust_unsigned_header(settings.trust_unsigned_header)
                    .user_cache_secs(settings.user_cache_secs)
                    .recheck_secs(settings.recheck_secs);
                match &identity {
                    Some(source) => filter.identity_source(Rc::clone(source)),
                    None => filter,
                }
                .build()
            };
            builder = match name {
                FilterName::Session => {
                    let builder = builder.filter(
                        SessionFilter::builder_from(
                            self.session_secret.clone().map(String::into_bytes),
                        )
                        .ttl_secs(settings.session_ttl_secs)
                        .build(),
                    );
                    // Right after the session it ends, before anyone is logged in again.
                    match &settings.logout_path {
                        Some(path) => builder.filter(SignOutFilter::new(
                            path.clone(),
                            settings.logout_redirect.clone(),
                        )),
                        None => builder,
                    }
                }
                FilterName::RemoteUser => builder.filter(remote_user()),
                FilterName::PersistentRemoteUser => {
                    builder.filter(PersistentRemoteUserFilter::from(remote_user()))
                }
                FilterName::GatewayJwt => {
                    let mut jwt = GatewayJwtFilter::builder(
                        settings.gateway.clone(),
                        Rc::clone(&jwks),
                        Rc::clone(&self.verifier),
                    )
                    .identity_header(settings.remote_user_header.clone())
                    .key_ttl_secs(settings.key_ttl_secs)
                    .min_refetch_secs(settings.refetch_interval_secs);
                    if settings.cookie_fallback {
                        jwt = jwt.cookie_fallback("CF_Authorization");
                    }
                    builder.filter(jwt.build())
                }
                FilterName::GatewaySecret => builder.filter(SharedSecretFilter::new(
                    settings.gateway_secret_header.clone(),
                    self.gateway_secret.clone(),
                )),
            };
        }
        // Before the rules: any signed-in user may see who they are.
        if let (Some(path), true) = (&settings.whoami_path, logs_in) {
            let mut who = WhoAmIFilter::new(path.clone(), settings.gateway_name());
            if let Some(sign_out) = &settings.logout_path {
                who = who.sign_out(sign_out.clone());
            }
            builder = builder.filter(who);
        }
        if !settings.rules.is_empty() {
            builder = builder.filter(PathRulesFilter::new(settings.rules.clone()));
        }
        let chain = builder.build()?;
        // After the filters' own checks: an unset ACCESS_TEAM_DOMAIN is named as such, not as
        // the get-identity URL it leaves without a host.
        settings.check_fetch_identity()?;
        check_path_claims(settings, &public)?;
        // After the settings' own problems, which the deployer can fix; this one is the host's.
        if !has_key_source && settings.filters.contains(&FilterName::GatewayJwt) {
            return Err(ConfigError::filter(
                short_type_name::<GatewayJwtFilter>(),
                ConfigProblem::MissingKeySource,
            ));
        }
        if settings.fetch_identity && identity.is_none() {
            return Err(ConfigError::filter(
                short_type_name::<RemoteUserFilter>(),
                ConfigProblem::MissingIdentitySource,
            ));
        }
        Ok(chain)
    }
}

/// Settings whose paths claim the same requests, where one would never mean what it says:
/// an endpoint that is not canonical, shares its path with the other or lies under a public
/// path or a rule (endpoints answer before either); a rule under a public path (public
/// paths are forwarded before any rule is checked); a public path under a rule. A rule on
/// `/` is the site's default and may cover public paths and the endpoints. Every error
/// names the filter type and both settings.
fn check_path_claims(
    settings: &StockSettings,
    public: &PublicRoutesFilter,
) -> Result<(), ConfigError> {
    let rule_filter = short_type_name::<PathRulesFilter>();
    let conflict = |filter: String,
                    (setting, value): (&'static str, &str),
                    (other, other_value): (&'static str, &str),
                    why: &'static str| {
        ConfigError::filter(
            filter,
            ConfigProblem::Conflict {
                setting,
                value: value.to_owned(),
                other,
                other_value: other_value.to_owned(),
                why,
            },
        )
    };
    let endpoints = [
        (
            "LOGOUT_PATH",
            short_type_name::<SignOutFilter>(),
            &settings.logout_path,
        ),
        (
            "WHOAMI_PATH",
            short_type_name::<WhoAmIFilter>(),
            &settings.whoami_path,
        ),
    ];
    for (setting, filter, path) in &endpoints {
        let Some(path) = path.as_deref() else {
            continue;
        };
        check_setting_path(setting, path).map_err(|p| ConfigError::filter(filter.clone(), p))?;
        if let Some(entry) = public.entries().find(|e| public_covers(e, path)) {
            return Err(conflict(
                filter.clone(),
                (setting, path),
                ("PUBLIC_PATHS", entry),
                "a public path is forwarded without authentication, so the endpoint would \
                 never answer; move the endpoint or narrow PUBLIC_PATHS",
            ));
        }
        if let Some(rule) = settings.rules.iter().find(|r| rule_covers(r, path)) {
            return Err(conflict(
                filter.clone(),
                (setting, path),
                ("RULES", &rule.to_string()),
                "the endpoint answers before any rule is checked, so the rule would not hold \
                 there; move the endpoint or narrow the rule",
            ));
        }
    }
    if let [(_, _, Some(logout)), (_, filter, Some(whoami))] = &endpoints {
        if logout.eq_ignore_ascii_case(whoami) {
            return Err(conflict(
                filter.clone(),
                ("WHOAMI_PATH", whoami),
                ("LOGOUT_PATH", logout),
                "one path cannot both say who is signed in and sign out; give each its own",
            ));
        }
    }
    for rule in &settings.rules {
        for entry in public.entries() {
            let (prefix, listed) = (entry.ends_with('/'), entry.trim_end_matches('/'));
            let rule_path = rule.path.trim_end_matches('/');
            if prefix && under(rule_path, listed) || listed.eq_ignore_ascii_case(rule_path) {
                return Err(conflict(
                    rule_filter.clone(),
                    ("RULES", &rule.to_string()),
                    ("PUBLIC_PATHS", entry),
                    "a public path is forwarded before any rule is checked, so the rule would \
                     never hold there; narrow PUBLIC_PATHS or move the rule",
                ));
            }
            if !rule_path.is_empty() && under(listed, rule_path) {
                return Err(conflict(
                    rule_filter.clone(),
                    ("RULES", &rule.to_string()),
                    ("PUBLIC_PATHS", entry),
                    "a public path is forwarded with no identity, so the rule would not hold \
                     there; narrow the rule or drop the public path (only a rule on `/`, the \
                     site's default, may cover public paths)",
                ));
            }
        }
    }
    Ok(())
}

/// Whether the public entry `entry` (a prefix when it ends in `/`) admits `path`, letters
/// compared without case: a conflict is any overlap, whichever way a request spells it.
fn public_covers(entry: &str, path: &str) -> bool {
    if entry.ends_with('/') {
        path.len() >= entry.len()
            && path.as_bytes()[..entry.len()].eq_ignore_ascii_case(entry.as_bytes())
    } else {
        path.eq_ignore_ascii_case(entry)
    }
}

/// Whether `rule` (other than one on `/`) covers `path`.
fn rule_covers(rule: &PathRule, path: &str) -> bool {
    let prefix = rule.path.trim_end_matches('/');
    !prefix.is_empty() && under(path, prefix)
}
