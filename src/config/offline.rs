//! The configuration check without the runtime: reads `wrangler.toml` (`--env` aware) and
//! `.dev.vars`, and runs the very check the worker runs before its first request. Native only;
//! the `config-check` command wraps it.
//!
//! ```
//! use remote_user_filter::config::offline::OfflineConfig;
//!
//! let toml = r#"
//! [[kv_namespaces]]
//! binding = "USERS"
//! id = "x"
//! [vars]
//! AUTH_FILTERS = "persistent_remote_user,session"
//! "#;
//! let config = OfflineConfig::parse(toml, "SESSION_SECRET=a-32-byte-or-longer-session-secret!", None).unwrap();
//! assert_eq!(
//!     config.check().unwrap_err().to_string(),
//!     "`PersistentRemoteUserFilter` requires `SessionFilter` to be installed before it"
//! );
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use async_trait::async_trait;

use crate::clock::SystemClock;
use crate::config::{StockSettings, KV_BINDING};
use crate::error::{ConfigError, StoreError};
use crate::gateway::{IdentitySource, JwksSource};
use crate::users::UserStore;

/// Why the files could not be read (as opposed to a configuration they describe being wrong).
///
/// ```
/// use remote_user_filter::config::offline::OfflineConfig;
/// let err = OfflineConfig::parse("not toml [", "", None).unwrap_err();
/// assert!(err.to_string().starts_with("wrangler.toml is not valid TOML"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// `wrangler.toml` is not TOML.
    #[error("wrangler.toml is not valid TOML: {0}")]
    Toml(String),
    /// `--env NAME` names no `[env.NAME]` table.
    #[error("wrangler.toml has no [env.{0}] section")]
    NoSuchEnv(String),
    /// `.dev.vars` is not `KEY=value` lines.
    #[error(".dev.vars cannot be parsed: {0}")]
    DevVars(String),
}

/// The worker's configuration as the files describe it.
///
/// ```
/// use remote_user_filter::config::offline::OfflineConfig;
/// let config = OfflineConfig::parse("", "", None).unwrap();
/// // No KV binding and no secret: the first problem found is reported.
/// assert!(config.check().is_err());
/// ```
#[derive(Debug, Clone)]
pub struct OfflineConfig {
    vars: HashMap<String, String>,
    kv_bindings: Vec<String>,
}

impl OfflineConfig {
    /// Read `wrangler.toml` and `.dev.vars` (or `.dev.vars.<env>` when it exists) in `dir`.
    pub fn load(dir: &Path, env: Option<&str>) -> Result<Self, LoadError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| LoadError::Read {
                path: path.display().to_string(),
                source,
            })
        };
        let toml = read(&dir.join("wrangler.toml"))?;
        let env_vars = env.map(|e| dir.join(format!(".dev.vars.{e}")));
        let dev_vars = match env_vars.filter(|p| p.exists()) {
            Some(path) => read(&path)?,
            None if dir.join(".dev.vars").exists() => read(&dir.join(".dev.vars"))?,
            None => String::new(),
        };
        Self::parse(&toml, &dev_vars, env)
    }

    /// Parse the two files' contents. `[vars]` and `[[kv_namespaces]]` are not inherited by
    /// `[env.NAME]` (as in wrangler); `.dev.vars` overrides `[vars]`.
    pub fn parse(
        wrangler_toml: &str,
        dev_vars: &str,
        env: Option<&str>,
    ) -> Result<Self, LoadError> {
        let doc: toml::Table = wrangler_toml
            .parse()
            .map_err(|e: toml::de::Error| LoadError::Toml(e.message().to_owned()))?;
        let scope = match env {
            None => &doc,
            Some(name) => doc
                .get("env")
                .and_then(|e| e.get(name))
                .and_then(toml::Value::as_table)
                .ok_or_else(|| LoadError::NoSuchEnv(name.to_owned()))?,
        };
        let mut vars: HashMap<String, String> = scope
            .get("vars")
            .and_then(toml::Value::as_table)
            .map(|t| {
                t.iter()
                    .map(|(k, v)| {
                        // An array or table var reaches the worker as a JS value, which
                        // it reads as JSON (`RULES = [{ path = "/admin/", ... }]`).
                        let text = match v {
                            toml::Value::String(s) => s.clone(),
                            toml::Value::Array(_) | toml::Value::Table(_) => {
                                serde_json::to_string(v).unwrap_or_else(|_| v.to_string())
                            }
                            other => other.to_string(),
                        };
                        (k.clone(), text)
                    })
                    .collect()
            })
            .unwrap_or_default();
        for item in dotenvy::from_read_iter(dev_vars.as_bytes()) {
            let (k, v) = item.map_err(|e| LoadError::DevVars(e.to_string()))?;
            vars.insert(k, v);
        }
        let kv_bindings = scope
            .get("kv_namespaces")
            .and_then(toml::Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|ns| ns.get("binding")?.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self { vars, kv_bindings })
    }

    /// Use this secret (`SESSION_SECRET`, `GATEWAY_SECRET`), e.g. from the process
    /// environment, instead of `.dev.vars`'s.
    pub fn with_secret(mut self, name: &str, secret: String) -> Self {
        self.vars.insert(name.to_owned(), secret);
        self
    }

    /// Run the worker's configuration check; `Ok` lists the chain's filters.
    pub fn check(&self) -> Result<Vec<String>, ConfigError> {
        let settings = StockSettings::from_vars(|k| self.vars.get(k).cloned())?;
        let store = BindingOnly {
            binding: KV_BINDING,
            bound: self.kv_bindings.iter().any(|b| b == KV_BINDING),
        };
        Ok(settings
            .chain(store)
            .session_secret(self.vars.get("SESSION_SECRET").cloned())
            .gateway_secret(self.vars.get("GATEWAY_SECRET").cloned())
            .clock(SystemClock)
            .jwks(Rc::new(NoFetch))
            .identity(Rc::new(NoFetch))
            .build()?
            .names())
    }
}

/// Stands in for the worker's key and identity sources (as the worker always has them):
/// the check fetches nothing.
struct NoFetch;

#[async_trait(?Send)]
impl JwksSource for NoFetch {
    async fn fetch_jwks(&self) -> Result<String, String> {
        Err("the offline check fetches no keys".into())
    }
}

#[async_trait(?Send)]
impl IdentitySource for NoFetch {
    async fn fetch_identity(&self, _assertion: &str) -> Result<String, String> {
        Err("the offline check fetches no identity".into())
    }
}

/// Stands in for the KV namespace: knows only whether it is bound.
struct BindingOnly {
    binding: &'static str,
    bound: bool,
}

#[async_trait(?Send)]
impl UserStore for BindingOnly {
    async fn get(&self, _key: &str) -> Result<Option<String>, StoreError> {
        Err(StoreError("the offline check reads no KV".into()))
    }
    async fn put(&self, _key: &str, _value: &str) -> Result<(), StoreError> {
        Err(StoreError("the offline check writes no KV".into()))
    }
    fn missing_binding(&self) -> Option<&str> {
        (!self.bound).then_some(self.binding)
    }
}
