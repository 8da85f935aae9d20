//! Rules per path (`RULES`): the most specific matching rule names the groups whose members
//! may open a path; anyone else signed in is refused (403) and the origin is not reached.
//!
//! Rules are read to deny broadly: a rule's path covers itself and what lies under it at a
//! segment boundary, letters compared without case (`/admin/` covers `/admin`, `/ADMIN/x`,
//! not `/administrator`: Express routes case-insensitively and serves `/admin` and
//! `/admin/` alike), on every reading of the canonical path ([`crate::path`]: the servlet
//! reading without `;params` too), for the request's method and any method it claims to
//! override with (`X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override`), and for a
//! `HEAD` as the `GET` an origin answers it with. Every one of those must be admitted.
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
use http::{HeaderName, Method};

use crate::chain::{AuthRequest, Filter, FilterKind, Position};
use crate::error::{AuthError, ConfigError, ConfigProblem};
use crate::path::{check_setting_path, under, units};
use crate::type_name::short_type_name;

/// The setting the stock worker reads rules from.
pub(crate) const RULES_SETTING: &str = "RULES";

/// The group that stands for any signed-in user.
pub const ANY_GROUP: &str = "*";

/// The headers an origin may take a request's real method from (Rails, Laravel, Spring's
/// `HiddenHttpMethodFilter` variants, Express's `method-override`): a method-specific rule
/// must admit their method too.
pub(crate) const METHOD_OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// One rule: requests whose path is `path` or lies under it (at a segment boundary, letters
/// without case), for one of `methods` (none: any) on `host` (none: any), need a user in one
/// of `groups` ([`ANY_GROUP`], `*`: any signed-in user).
///
/// ```
/// use remote_user_filter::PathRule;
/// let rule = PathRule::new("/reports/", ["viewers"]).methods(["GET", "HEAD"]).host("admin.example.com");
/// assert_eq!(rule.to_string(), "GET,HEAD admin.example.com/reports/");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PathRule {
    /// The path, starting with `/`, in canonical form; `/admin/` and `/admin` both cover
    /// `/admin`, `/admin/` and `/admin/x`.
    pub path: String,
    /// The groups allowed; `*` for any signed-in user.
    pub groups: Vec<String>,
    /// The methods the rule is for, upper-case (empty: any method).
    #[serde(default)]
    pub methods: Vec<String>,
    /// The host name the rule is for, lower-case, no port (none: any host).
    #[serde(default)]
    pub host: Option<String>,
}

impl std::fmt::Display for PathRule {
    /// The rule as `RULES`' text form writes it, without its groups.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.methods.is_empty() {
            write!(f, "{} ", self.methods.join(","))?;
        }
        if let Some(host) = &self.host {
            f.write_str(host)?;
        }
        f.write_str(&self.path)
    }
}

const EXPECTED_TEXT: &str =
    "`[METHODS] [HOST]PATH=GROUP,GROUP` rules separated by `;`, e.g. `/admin/=admins; \
     GET,HEAD /reports/=viewers; admin.example.com/=admins`, or a JSON array such as \
     [{\"path\": \"/admin/\", \"groups\": [\"admins\"], \"methods\": [\"GET\"]}]";

impl PathRule {
    /// A rule for `path` and `groups`, any method, any host.
    pub fn new<G: Into<String>>(
        path: impl Into<String>,
        groups: impl IntoIterator<Item = G>,
    ) -> Self {
        Self {
            path: path.into(),
            groups: groups.into_iter().map(Into::into).collect(),
            methods: Vec::new(),
            host: None,
        }
    }

    /// The same rule, for these methods only (upper-cased).
    pub fn methods<M: AsRef<str>>(mut self, methods: impl IntoIterator<Item = M>) -> Self {
        self.methods = methods
            .into_iter()
            .map(|m| m.as_ref().trim().to_ascii_uppercase())
            .collect();
        self
    }

    /// The same rule, for this host only (lower-cased, without the trailing `.` of a fully
    /// qualified name: `admin.example.com.` is `admin.example.com`).
    pub fn host(mut self, host: impl AsRef<str>) -> Self {
        let host = host.as_ref().trim();
        self.host = Some(host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase());
        self
    }

    /// Read the `RULES` setting: `[METHODS] [HOST]PATH=GROUP,GROUP` rules separated by `;`
    /// (`GET,HEAD /reports/=viewers; admin.example.com/=admins`), or a JSON array of
    /// `{"path", "groups", "methods"?, "host"?}` objects (what wrangler passes for a TOML
    /// array var). Empty: no rules. The rules are checked as [`PathRulesFilter`] checks them.
    ///
    /// ```
    /// use remote_user_filter::PathRule;
    /// let text = PathRule::parse_setting("/admin/=admins; GET,HEAD /reports/=viewers, editors; admin.example.com/=admins").unwrap();
    /// let json = PathRule::parse_setting(
    ///     r#"[{"path": "/admin/", "groups": ["admins"]},
    ///         {"path": "/reports/", "groups": ["viewers", "editors"], "methods": ["GET", "HEAD"]},
    ///         {"path": "/", "host": "admin.example.com", "groups": ["admins"]}]"#,
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
            let rules: Vec<PathRule> =
                serde_json::from_str(value).map_err(|_| bad(EXPECTED_TEXT))?;
            rules
                .into_iter()
                .map(|rule| {
                    let PathRule {
                        path,
                        groups,
                        methods,
                        host,
                    } = rule;
                    let rule = PathRule::new(path, groups).methods(methods);
                    match host {
                        Some(host) => rule.host(host),
                        None => rule,
                    }
                })
                .collect()
        } else {
            value
                .split(';')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(|r| parse_text_rule(r).ok_or_else(|| bad(EXPECTED_TEXT)))
                .collect::<Result<_, ConfigError>>()?
        };
        check_rules(&rules).map_err(config_error)?;
        Ok(rules)
    }
}

/// One rule of the text form: `[METHODS ][HOST]PATH=GROUPS`.
fn parse_text_rule(rule: &str) -> Option<PathRule> {
    let (target, groups) = rule.split_once('=')?;
    let target = target.trim();
    let (methods, target) = match target.split_once(char::is_whitespace) {
        Some((methods, target)) => (Some(methods), target.trim()),
        None => (None, target),
    };
    let (host, path) = match target.find('/') {
        Some(0) => (None, target),
        Some(i) => (Some(&target[..i]), &target[i..]),
        None => (Some(target), ""),
    };
    let mut parsed = PathRule::new(
        path,
        groups.split(',').map(str::trim).filter(|g| !g.is_empty()),
    );
    if let Some(methods) = methods {
        parsed = parsed.methods(methods.split(','));
    }
    if let Some(host) = host {
        parsed = parsed.host(host);
    }
    Some(parsed)
}

fn config_error(problem: ConfigProblem) -> ConfigError {
    ConfigError::filter(short_type_name::<PathRulesFilter>(), problem)
}

/// The prefix a rule's path is matched by: lower-case, without its trailing `/`.
fn prefix_of(path: &str) -> String {
    path.trim_end_matches('/').to_ascii_lowercase()
}

/// Whether two rules' paths are one, as requests are matched ([`under`]): without case or a
/// trailing `/`, escapes as the characters they encode (`/@admin/` is `/%40admin`).
fn same_path(a: &str, b: &str) -> bool {
    units(prefix_of(a).as_bytes()).eq(units(prefix_of(b).as_bytes()))
}

/// A host name as a rule may name it: letters, digits, `-` and `.`, with at least one `.`
/// (so that a path written without its leading `/`, `admin/`, is not read as a host).
fn valid_host(host: &str) -> bool {
    host.contains('.')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Every rule's path is canonical and starts with `/`, names at least one group, valid
/// methods and host, and no two rules decide the same requests.
fn check_rules(rules: &[PathRule]) -> Result<(), ConfigProblem> {
    let bad = |rule: &PathRule, expected| ConfigProblem::InvalidValue {
        setting: RULES_SETTING,
        value: rule.to_string(),
        expected,
    };
    for (i, rule) in rules.iter().enumerate() {
        if !rule.path.starts_with('/') {
            return Err(bad(rule, "a rule whose path starts with `/`"));
        }
        check_setting_path(RULES_SETTING, &rule.path)?;
        if rule.groups.iter().all(|g| g.trim().is_empty()) {
            return Err(bad(
                rule,
                "a rule with at least one group (`*`: any signed-in user)",
            ));
        }
        if rule
            .methods
            .iter()
            .any(|m| m.is_empty() || Method::from_bytes(m.as_bytes()).is_err())
        {
            return Err(bad(
                rule,
                "a rule whose methods are HTTP methods, e.g. `GET,HEAD`",
            ));
        }
        if rule.host.as_deref().is_some_and(|h| !valid_host(h)) {
            return Err(bad(
                rule,
                "a rule whose path starts with `/`, after a host name with no port if any \
                 (e.g. `admin.example.com/`)",
            ));
        }
        let overlaps = |r: &PathRule| {
            same_path(&r.path, &rule.path)
                && r.host == rule.host
                && (r.methods.is_empty() && rule.methods.is_empty()
                    || r.methods.iter().any(|m| rule.methods.contains(m)))
        };
        if rules[..i].iter().any(overlaps) {
            return Err(bad(
                rule,
                "a path named by one rule only for each host and method (paths compared \
                 without case or a trailing `/`)",
            ));
        }
    }
    Ok(())
}

/// A rule ready to match: its prefix lower-case without the trailing `/`, its methods parsed.
#[derive(Debug, Clone)]
struct Compiled {
    prefix: String,
    /// The prefix's length in characters as matched (an escape is one): the longest decides.
    length: usize,
    methods: Vec<Method>,
    rule: PathRule,
}

impl Compiled {
    /// The request's `host` is compared without case and without the trailing `.` of a
    /// fully qualified name, which DNS and the origins that route by host (nginx, Django)
    /// drop: `admin.example.com.` is `admin.example.com`.
    fn matches(&self, method: &Method, host: Option<&str>, path: &str) -> bool {
        under(path, &self.prefix)
            && (self.methods.is_empty() || self.methods.contains(method))
            && self.rule.host.as_deref().is_none_or(|h| {
                host.is_some_and(|host| {
                    host.strip_suffix('.')
                        .unwrap_or(host)
                        .eq_ignore_ascii_case(h)
                })
            })
    }
}

/// Refuses (403, [`AuthError::PathForbidden`]) a signed-in user outside the groups of the
/// rule that decides the request; a request no rule matches is open to any signed-in user.
/// The most specific matching rule decides: the longest path, then a rule for the request's
/// host over one for any host, then a rule for its method over one for any method. A
/// matching request with no user is answered as the chain answers one (401, or 403 for a
/// refused identity), even with `ANONYMOUS=pass`.
///
/// Needs a remote-user filter before it. Rules are checked and sorted once (most specific
/// first), so a request costs a scan per reading of its path and a group look-up; no
/// store call.
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
    /// Most specific first: the first match decides.
    compiled: Vec<Compiled>,
    rules: Vec<PathRule>,
    /// Whether any rule names methods (then the method-override headers are read).
    by_method: bool,
}

impl PathRulesFilter {
    /// A filter over `rules` (checked when the chain is built).
    pub fn new(rules: Vec<PathRule>) -> Self {
        let mut compiled: Vec<Compiled> = rules
            .into_iter()
            .map(|rule| Compiled {
                prefix: prefix_of(&rule.path),
                length: units(prefix_of(&rule.path).as_bytes()).count(),
                methods: rule
                    .methods
                    .iter()
                    .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                    .collect(),
                rule,
            })
            .collect();
        compiled.sort_by_key(|c| {
            (
                std::cmp::Reverse(c.length),
                c.rule.host.is_none(),
                c.rule.methods.is_empty(),
            )
        });
        Self {
            by_method: compiled.iter().any(|c| !c.rule.methods.is_empty()),
            rules: compiled.iter().map(|c| c.rule.clone()).collect(),
            compiled,
        }
    }

    /// The rules, most specific first.
    ///
    /// ```
    /// use remote_user_filter::{PathRule, PathRulesFilter};
    /// let f = PathRulesFilter::new(vec![PathRule::new("/a/", ["x"]), PathRule::new("/a/b/", ["y"])]);
    /// assert_eq!(f.rules()[0].path, "/a/b/");
    /// ```
    pub fn rules(&self) -> &[PathRule] {
        &self.rules
    }

    /// The rule that decides a `method` request for `path` (canonical) on `host`: the most
    /// specific that matches.
    ///
    /// ```
    /// use http::Method;
    /// use remote_user_filter::{PathRule, PathRulesFilter};
    /// let f = PathRulesFilter::new(vec![
    ///     PathRule::new("/a/", ["x"]),
    ///     PathRule::new("/a/b/", ["y"]),
    ///     PathRule::new("/a/b/", ["z"]).methods(["POST"]),
    /// ]);
    /// assert_eq!(f.rule_for(&Method::GET, None, "/A/B/c").unwrap().groups, ["y"]);
    /// assert_eq!(f.rule_for(&Method::POST, None, "/a/b").unwrap().groups, ["z"]);
    /// assert_eq!(f.rule_for(&Method::GET, None, "/a/bc").unwrap().groups, ["x"]);
    /// assert!(f.rule_for(&Method::GET, None, "/b").is_none());
    /// ```
    pub fn rule_for(&self, method: &Method, host: Option<&str>, path: &str) -> Option<&PathRule> {
        self.compiled
            .iter()
            .find(|c| c.matches(method, host, path))
            .map(|c| &c.rule)
    }

    /// The methods a request must be admitted for: its own, `GET` for a `HEAD`, and any
    /// it claims to override with, each of a comma-separated list (when a rule names methods).
    fn methods_of(&self, req: &AuthRequest) -> Vec<Method> {
        let mut methods = vec![req.method().clone()];
        if req.method() == Method::HEAD {
            methods.push(Method::GET);
        }
        if self.by_method {
            // Each of a list too: Express's `method-override` takes the first of `DELETE, POST`
            // (Node joins a repeated header with `, `).
            for name in METHOD_OVERRIDE_HEADERS {
                for value in req.headers().get_all(name) {
                    let Ok(value) = value.to_str() else {
                        continue;
                    };
                    for claimed in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                        let claimed = Method::from_bytes(claimed.to_ascii_uppercase().as_bytes());
                        if let Some(method) = claimed.ok().filter(|m| !methods.contains(m)) {
                            methods.push(method);
                        }
                    }
                }
            }
            // A claimed `HEAD` is answered by the `GET` handler too.
            if methods.contains(&Method::HEAD) && !methods.contains(&Method::GET) {
                methods.push(Method::GET);
            }
        }
        methods
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

    fn headers_read(&self) -> Option<Vec<HeaderName>> {
        Some(if self.by_method {
            METHOD_OVERRIDE_HEADERS
                .iter()
                .map(|name| HeaderName::from_static(name))
                .collect()
        } else {
            Vec::new()
        })
    }

    async fn call(&self, req: &mut AuthRequest) -> Result<(), AuthError> {
        let host = req.uri().host();
        let methods = self.methods_of(req);
        for path in req.path_readings() {
            for method in &methods {
                let Some(rule) = self.rule_for(method, host, path) else {
                    continue;
                };
                let Some(user) = req.user() else {
                    return Err(req.no_user_error());
                };
                let allowed = rule
                    .groups
                    .iter()
                    .any(|g| g == ANY_GROUP || user.groups.contains(g));
                if !allowed {
                    return Err(AuthError::PathForbidden {
                        path: rule.to_string(),
                    });
                }
            }
        }
        Ok(())
    }
}
