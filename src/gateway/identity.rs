//! Groups from the identity provider: Cloudflare Access's `get-identity` endpoint, asked
//! with the request's verified assertion at a login or a re-check (`ACCESS_FETCH_IDENTITY`),
//! and its `groups` merged after the user record's.
//!
//! ```
//! use remote_user_filter::gateway::{merge_groups, parse_identity_groups};
//!
//! let doc = r#"{"email":"ann@example.com","groups":["ops",{"id":"g1","name":"dev"},7]}"#;
//! let fetched = parse_identity_groups(doc).unwrap();
//! assert_eq!(fetched, ["ops", "dev"]);
//! assert_eq!(merge_groups(&["dev".into(), "admin".into()], fetched), ["dev", "admin", "ops"]);
//! ```

use std::collections::HashSet;

use async_trait::async_trait;

/// The longest identity document read, in bytes (a larger one is refused, not parsed).
pub const MAX_IDENTITY_DOC_LEN: usize = 256 * 1024;
/// The longest group name taken from an identity document, in bytes (longer ones are skipped).
pub const MAX_GROUP_NAME_LEN: usize = 256;
/// Default time a `get-identity` call may take before it is abandoned (and the user keeps
/// the record's groups): two seconds.
pub const DEFAULT_IDENTITY_TIMEOUT_MS: u64 = 2000;
/// The cookie Cloudflare Access's endpoints read the assertion from.
pub const ACCESS_ASSERTION_COOKIE: &str = "CF_Authorization";
/// Where Cloudflare Access answers who the assertion's bearer is, under the team domain.
pub const ACCESS_IDENTITY_PATH: &str = "/cdn-cgi/access/get-identity";

/// Where the identity document comes from: the Workers `fetch` of `get-identity` in the
/// worker (`FetchIdentity`), anything in tests. Called with the request's verified assertion,
/// which it must send only to the identity provider (and never log); `Err` says why there is
/// no document, without the assertion.
///
/// ```
/// use remote_user_filter::{async_trait, gateway::IdentitySource};
/// struct Inline(&'static str);
/// #[async_trait(?Send)]
/// impl IdentitySource for Inline {
///     async fn fetch_identity(&self, _assertion: &str) -> Result<String, String> {
///         Ok(self.0.to_owned())
///     }
/// }
/// ```
#[async_trait(?Send)]
pub trait IdentitySource {
    /// The identity document (JSON) for the bearer of `assertion`, or why it could not be had.
    async fn fetch_identity(&self, assertion: &str) -> Result<String, String>;
}

/// The `get-identity` URL of a Cloudflare Access team domain (with or without `https://`).
///
/// ```
/// use remote_user_filter::gateway::access_identity_url;
/// assert_eq!(
///     access_identity_url("myteam.cloudflareaccess.com"),
///     "https://myteam.cloudflareaccess.com/cdn-cgi/access/get-identity"
/// );
/// ```
pub fn access_identity_url(team_domain: &str) -> String {
    let team = team_domain
        .trim()
        .trim_start_matches("https://")
        .trim_end_matches('/');
    format!("https://{team}{ACCESS_IDENTITY_PATH}")
}

/// An identity document that cannot be used.
///
/// ```
/// use remote_user_filter::gateway::{parse_identity_groups, IdentityError};
/// assert!(matches!(parse_identity_groups("[]"), Err(IdentityError::NotAnIdentity(_))));
/// assert_eq!(parse_identity_groups(r#"{"err":"bad token"}"#), Err(IdentityError::Refused));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Larger than [`MAX_IDENTITY_DOC_LEN`].
    #[error("the identity document is {0} bytes, more than the {MAX_IDENTITY_DOC_LEN} read")]
    TooLarge(usize),
    /// Not a JSON object.
    #[error("the identity document is not a JSON object: {0}")]
    NotAnIdentity(String),
    /// The provider answered an error (`{"err": …}`) instead of an identity.
    #[error("the identity provider answered an error instead of an identity")]
    Refused,
}

/// A group name as the document gave it, if it is one this crate forwards: not empty, at
/// most [`MAX_GROUP_NAME_LEN`] bytes, no control character, and no comma (the groups go to
/// the origin comma-joined, so `a,b` would read as two groups).
fn group_name(value: &serde_json::Value) -> Option<String> {
    let name = match value {
        serde_json::Value::String(name) => name,
        serde_json::Value::Object(object) => object.get("name")?.as_str()?,
        _ => return None,
    };
    let name = name.trim();
    let usable = !name.is_empty()
        && name.len() <= MAX_GROUP_NAME_LEN
        && !name.contains(',')
        && !name.chars().any(char::is_control);
    usable.then(|| name.to_owned())
}

/// The group names in an identity document (`{"groups": [...]}`): each a string, or an
/// object whose `name` is one (Access's shape for most identity providers). Anything else in
/// the list is skipped, as are names [`merge_groups`] would not forward (empty, over
/// [`MAX_GROUP_NAME_LEN`] bytes, with a comma or a control character); a document without a
/// `groups` list has none. Refused: a document over [`MAX_IDENTITY_DOC_LEN`] bytes, one that
/// is not a JSON object, or one that holds an `err` and no `groups`.
///
/// ```
/// use remote_user_filter::gateway::parse_identity_groups;
/// assert_eq!(parse_identity_groups(r#"{"groups":[{"name":"ops"},{"id":"x"},"a,b",""]}"#).unwrap(), ["ops"]);
/// assert_eq!(parse_identity_groups(r#"{"email":"ann@example.com"}"#).unwrap(), Vec::<String>::new());
/// ```
pub fn parse_identity_groups(doc: &str) -> Result<Vec<String>, IdentityError> {
    if doc.len() > MAX_IDENTITY_DOC_LEN {
        return Err(IdentityError::TooLarge(doc.len()));
    }
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(doc).map_err(|e| IdentityError::NotAnIdentity(e.to_string()))?;
    match object.get("groups") {
        Some(serde_json::Value::Array(list)) => Ok(list.iter().filter_map(group_name).collect()),
        None if object.contains_key("err") => Err(IdentityError::Refused),
        _ => Ok(Vec::new()),
    }
}

/// The user record's groups (`kv`) followed by the `fetched` ones, each once, in the order
/// first seen.
///
/// ```
/// use remote_user_filter::gateway::merge_groups;
/// let kv = vec!["ops".to_string(), "ops".to_string()];
/// assert_eq!(merge_groups(&kv, vec!["dev".into(), "ops".into()]), ["ops", "dev"]);
/// ```
pub fn merge_groups(kv: &[String], fetched: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::with_capacity(kv.len() + fetched.len());
    let mut merged = Vec::with_capacity(kv.len() + fetched.len());
    for group in kv.iter().cloned().chain(fetched) {
        if seen.insert(group.clone()) {
            merged.push(group);
        }
    }
    merged
}
