//! Rules per path (`RULES`): the longest matching path prefix names the groups whose members
//! may open it; anyone else signed in is refused (403) and the origin is not reached.
//!
//! Authorization only: it runs after the remote-user filter, reads the user that filter
//! authenticated, and never changes the session (a login made on a refused request stands,
//! as in Django, whose `PermissionDenied` does not log anyone out).
//!
//! ```
//! use std::rc::Rc;
//! use remote_user_filter::{
//!     FilterChain, KvUserBackend, ManualClock, MemoryStore, Outcome, PathRule, PathRulesFilter,
//!     RemoteUserFilter, SessionFilter,
//! };
//!
//! # futures::executor::block_on(async {
//! let backend = Rc::new(KvUserBackend::new(MemoryStore::new()));
//! let rules = PathRule::parse_setting("/admin/=admins; /api/=*").unwrap();
//! let chain = FilterChain::builder()
//!     .filter(SessionFilter::builder("a-32-byte-or-longer-session-secret!").build())
//!     .filter(RemoteUserFilter::builder(backend).trust_unsigned_header(true).build())
//!     .filter(PathRulesFilter::new(rules))
//!     .clock(ManualClock::new(1_700_000_000))
//!     .build()
//!     .unwrap();
//! let (mut parts, ()) = http::Request::get("/admin/users").body(()).unwrap().into_parts();
//! parts.headers.insert("cf-access-authenticated-user-email", "ann@example.com".parse().unwrap());
//! let Outcome::Respond { error, .. } = chain.handle_parts(parts).await else { panic!() };
//! assert_eq!(error.status(), 403);
//! # });
//! ```

use async_trait::async_trait;

use crate::chain::{AuthRequest, Filter, FilterKind, Position};
use crate::error::{AuthError, ConfigError, ConfigProblem};
use crate::type_name::short_type_name;

/// The setting the stock worker reads rules from.
pub(crate) const RULES_SETTING: &str = "RULES";

/// The group that stands for any signed-in user.
pub const ANY_GROUP: &str = "*";

/// One rule: requests whose path starts with `path` need a user in one of `groups`
/// ([`ANY_GROUP`], `*`: any signed-in user).
///
/// ```
/// use remote_user_filter::PathRule;
/// let rule = PathRule::new("/admin/", ["admins"]);
/// assert_eq!((rule.path.as_str(), rule.groups.len()), ("/admin/", 1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PathRule {
    /// The path prefix, starting with `/` (`/admin/` does not cover `/admin`).
    pub path: String,
    /// The groups allowed; `*` for any signed-in user.
    pub groups: Vec<String>,
}

const EXPECTED_TEXT: &str =
    "`PATH=GROUP,GROUP; PATH=*` rules, e.g. `/admin/=admins; /api/=*`, or a \
     JSON array such as [{\"path\": \"/admin/\", \"groups\": [\"admins\"]}]";

impl PathRule {
    /// A rule for `path` and `groups`.
    pub fn new<G: Into<String>>(
        path: impl Into<String>,
        groups: impl IntoIterator<Item = G>,
    ) -> Self {
        Self {
            path: path.into(),
            groups: groups.into_iter().map(Into::into).collect(),
        }
    }

    /// Read the `RULES` setting: `PATH=GROUP,GROUP; PATH=*` (`;` between rules), or a JSON
    /// array of `{"path", "groups"}` objects (what wrangler passes for a TOML array var).
    /// Empty: no rules. The rules are checked as [`PathRulesFilter`] checks them.
    ///
    /// ```
    /// use remote_user_filter::PathRule;
    /// let text = PathRule::parse_setting("/admin/=admins; /billing/=finance, admins").unwrap();
    /// let json = PathRule::parse_setting(
    ///     r#"[{"path": "/admin/", "groups": ["admins"]}, {"path": "/billing/", "groups": ["finance", "admins"]}]"#,
    /// ).unwrap();
    /// assert_eq!(text, json);
    /// let err = PathRule::parse_setting("/admin/=").unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "`PathRulesFilter` setting RULES is `/admin/`, but it must be a rule with at least one \
    ///      group (`*`: any signed-in user)"
    /// );
    /// ```
    pub fn parse_setting(value: &str) -> Result<Vec<PathRule>, ConfigError> {
        let value = value.trim();
        let bad = |expected: &'static str| {
            config_error(ConfigProblem::InvalidValue {
                setting: RULES_SETTING,
                value: value.to_owned(),
                expected,
            })
        };
        let rules: Vec<PathRule> = if value.starts_with('[') {
            serde_json::from_str(value).map_err(|_| bad(EXPECTED_TEXT))?
        } else {
            value
                .split(';')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(|r| {
                    let (path, groups) = r.split_once('=').ok_or_else(|| bad(EXPECTED_TEXT))?;
                    Ok(PathRule {
                        path: path.trim().to_owned(),
                        groups: groups
                            .split(',')
                            .map(str::trim)
                            .filter(|g| !g.is_empty())
                            .map(str::to_owned)
                            .collect(),
                    })
                })
                .collect::<Result<_, ConfigError>>()?
        };
        check_rules(&rules).map_err(config_error)?;
        Ok(rules)
    }
}

fn config_error(problem: ConfigProblem) -> ConfigError {
    ConfigError::filter(short_type_name::<PathRulesFilter>(), problem)
}

/// Every rule's path starts with `/`, names at least one group, and is named once.
fn check_rules(rules: &[PathRule]) -> Result<(), ConfigProblem> {
    let bad = |path: &str, expected| ConfigProblem::InvalidValue {
        setting: RULES_SETTING,
        value: path.to_owned(),
        expected,
    };
    for (i, rule) in rules.iter().enumerate() {
        if !rule.path.starts_with('/') {
            return Err(bad(&rule.path, "a rule whose path starts with `/`"));
        }
        if rule.groups.iter().all(|g| g.trim().is_empty()) {
            return Err(bad(
                &rule.path,
                "a rule with at least one group (`*`: any signed-in user)",
            ));
        }
        if rules[..i].iter().any(|r| r.path == rule.path) {
            return Err(bad(&rule.path, "a path named by one rule only"));
        }
    }
    Ok(())
}

/// Refuses (403, [`AuthError::PathForbidden`]) a signed-in user outside the groups of the
/// longest rule whose path prefixes the request's; a path no rule matches is open to any
/// signed-in user. A matching request with no user is answered as the chain answers one
/// (401, or 403 for a refused identity), even with `ANONYMOUS=pass`.
///
/// Needs a remote-user filter before it. Rules are checked and sorted once (longest path
/// first), so a request costs one prefix scan and a group look-up; no store call.
///
/// ```
/// use remote_user_filter::{FilterChain, PathRule, PathRulesFilter};
/// let err = FilterChain::builder()
///     .filter(PathRulesFilter::new(vec![PathRule::new("/admin/", ["admins"])]))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.to_string(), "`PathRulesFilter` requires `RemoteUserFilter` to be installed before it");
/// ```
#[derive(Debug, Clone)]
pub struct PathRulesFilter {
    /// Longest path first: the first match is the longest.
    rules: Vec<PathRule>,
}

impl PathRulesFilter {
    /// A filter over `rules` (checked when the chain is built).
    pub fn new(mut rules: Vec<PathRule>) -> Self {
        rules.sort_by_key(|r| std::cmp::Reverse(r.path.len()));
        Self { rules }
    }

    /// The rules, longest path first.
    ///
    /// ```
    /// use remote_user_filter::{PathRule, PathRulesFilter};
    /// let f = PathRulesFilter::new(vec![PathRule::new("/a/", ["x"]), PathRule::new("/a/b/", ["y"])]);
    /// assert_eq!(f.rules()[0].path, "/a/b/");
    /// ```
    pub fn rules(&self) -> &[PathRule] {
        &self.rules
    }

    /// The rule that decides `path`: the longest whose path prefixes it.
    ///
    /// ```
    /// use remote_user_filter::{PathRule, PathRulesFilter};
    /// let f = PathRulesFilter::new(vec![PathRule::new("/a/", ["x"]), PathRule::new("/a/b/", ["y"])]);
    /// assert_eq!(f.rule_for("/a/b/c").unwrap().path, "/a/b/");
    /// assert!(f.rule_for("/b").is_none());
    /// ```
    pub fn rule_for(&self, path: &str) -> Option<&PathRule> {
        self.rules
            .iter()
            .find(|r| path.starts_with(r.path.as_str()))
    }
}

#[async_trait(?Send)]
impl Filter for PathRulesFilter {
    fn check(&self, position: &Position<'_>) -> Result<(), ConfigProblem> {
        check_rules(&self.rules)?;
        if !position.before().contains(&FilterKind::RemoteUser) {
            return Err(ConfigProblem::RequiresBefore {
                required: "RemoteUserFilter",
            });
        }
        Ok(())
    }

    fn headers_read(&self) -> Option<Vec<http::HeaderName>> {
        Some(Vec::new())
    }

    async fn call(&self, req: &mut AuthRequest) -> Result<(), AuthError> {
        let Some(rule) = self.rule_for(req.path()) else {
            return Ok(());
        };
        let Some(user) = req.user() else {
            return Err(req.no_user_error());
        };
        let allowed = rule
            .groups
            .iter()
            .any(|g| g == ANY_GROUP || user.groups.contains(g));
        if allowed {
            Ok(())
        } else {
            Err(AuthError::PathForbidden {
                path: rule.path.clone(),
            })
        }
    }
}
