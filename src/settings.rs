//! The stock worker's settings (`[vars]` in `wrangler.toml`, the `SESSION_SECRET` secret) and
//! the chain they describe. The worker and the offline `config-check` command share this,
//! so both report the same errors.
//!
//! ```
//! use std::collections::HashMap;
//! use remote_user_filter::{ManualClock, MemoryStore, StockSettings};
//!
//! let vars = HashMap::from([("AUTH_FILTERS", "session,persistent_remote_user")]);
//! let settings = StockSettings::from_vars(|k| vars.get(k).map(|v| v.to_string())).unwrap();
//! let chain = settings
//!     .build_chain(Some("a-32-byte-or-longer-session-secret!".into()), MemoryStore::new(), ManualClock::new(0))
//!     .unwrap();
//! assert_eq!(chain.names(), ["SessionFilter", "PersistentRemoteUserFilter"]);
//! ```

use std::rc::Rc;

use crate::backend::{AllowAllUsers, KvUserBackend, UserBackend};
use crate::clock::Clock;
use crate::error::ConfigError;
use crate::filter::{AnonymousPolicy, FilterChain};
use crate::remote_user::{PersistentRemoteUserFilter, RemoteUserFilter, DEFAULT_HEADER};
use crate::session::{SessionFilter, DEFAULT_TTL_SECS};
use crate::store::UserStore;
use crate::upstream::UpstreamHeaders;

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
}

impl std::str::FromStr for FilterName {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "session" => Ok(Self::Session),
            "remote_user" => Ok(Self::RemoteUser),
            "persistent_remote_user" => Ok(Self::PersistentRemoteUser),
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
            None => vec![FilterName::Session, FilterName::RemoteUser],
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
                let ok = (url.starts_with("https://") || url.starts_with("http://"))
                    && !url.contains(['?', '#', ' ']);
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
        Ok(Self {
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

    /// The backend these settings describe, over `store`.
    pub fn backend<S: UserStore + 'static>(&self, store: S) -> Rc<dyn UserBackend> {
        let kv = KvUserBackend::new(store).with_create_unknown_user(self.create_unknown_user);
        if self.allow_inactive_users {
            Rc::new(AllowAllUsers(kv))
        } else {
            Rc::new(kv)
        }
    }

    /// Build and check the chain these settings describe.
    pub fn build_chain<S: UserStore + 'static>(
        &self,
        secret: Option<String>,
        store: S,
        clock: impl Clock + 'static,
    ) -> Result<FilterChain, ConfigError> {
        let backend = self.backend(store);
        let mut builder = FilterChain::builder()
            .anonymous(self.anonymous)
            .clock(clock);
        for name in &self.filters {
            let remote_user = || {
                RemoteUserFilter::builder(Rc::clone(&backend))
                    .header(self.remote_user_header.clone())
                    .build()
            };
            builder = match name {
                FilterName::Session => builder.filter(
                    SessionFilter::builder_from(secret.clone().map(String::into_bytes))
                        .ttl_secs(self.session_ttl_secs)
                        .build(),
                ),
                FilterName::RemoteUser => builder.filter(remote_user()),
                FilterName::PersistentRemoteUser => {
                    builder.filter(PersistentRemoteUserFilter::from(remote_user()))
                }
            };
        }
        builder.build()
    }
}
