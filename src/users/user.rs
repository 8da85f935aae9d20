//! The user record kept in the store, and the signed-in user a request carries.
//!
//! ```
//! use remote_user_filter::User;
//!
//! let user: User = serde_json::from_str(r#"{"username":"ann","is_active":true,"team":"ops"}"#).unwrap();
//! assert_eq!(user.username, "ann");
//! // Fields this crate does not know are kept when the record is written back.
//! assert!(serde_json::to_string(&user).unwrap().contains(r#""team":"ops""#));
//! ```

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Longest identity accepted, in bytes after cleaning (an email address is at most 254).
pub const MAX_IDENTITY_LEN: usize = 320;

/// A user as stored in KV under `user:<username>`.
///
/// JSON: `{"username", "is_active", "email"?, "groups"?, "last_login"?, "date_joined"?}`, times in
/// RFC 3339. A missing `is_active` reads as `true` (Django's default). Unknown fields are kept.
///
/// ```
/// use remote_user_filter::User;
/// let u = User::new("bob");
/// assert!(u.is_active);
/// assert!(u.last_login.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// The (cleaned) username; also the store key's suffix.
    pub username: String,
    /// Inactive users cannot log in (unless the backend allows all users).
    #[serde(default = "active_by_default")]
    pub is_active: bool,
    /// The user's email, forwarded as `X-Remote-User-Email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Group names, forwarded comma-joined as `X-Remote-User-Groups`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// When the user last logged in, as of the record's creation (later logins are stamped
    /// under `login:<username>`, not here; records of earlier releases hold it too).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub last_login: Option<OffsetDateTime>,
    /// When the record was created by this filter.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub date_joined: Option<OffsetDateTime>,
    /// Fields this crate does not know, kept as they were.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn active_by_default() -> bool {
    true
}

impl User {
    /// A new, active user with nothing else set.
    ///
    /// ```
    /// let u = remote_user_filter::User::new("ann");
    /// assert_eq!(u.username, "ann");
    /// ```
    pub fn new(username: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            is_active: true,
            email: None,
            groups: Vec::new(),
            last_login: None,
            date_joined: None,
            extra: serde_json::Map::new(),
        }
    }
}

/// The user a request is authenticated as: what the session cookie (or a fresh login) says.
/// Building one costs no store call.
///
/// ```
/// use remote_user_filter::{SessionUser, User};
/// let mut u = User::new("ann");
/// u.email = Some("ann@example.com".into());
/// let s = SessionUser::from_user(&u, "KvUserBackend");
/// assert_eq!(s.email.as_deref(), Some("ann@example.com"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUser {
    /// The username.
    pub username: String,
    /// The email, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The groups, when known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// The backend that logged the user in (its type name).
    pub backend: String,
}

impl SessionUser {
    /// The session view of a stored user, logged in by `backend`.
    pub fn from_user(user: &User, backend: &str) -> Self {
        Self {
            username: user.username.clone(),
            email: user.email.clone(),
            groups: user.groups.clone(),
            backend: backend.to_owned(),
        }
    }
}

/// Turn the clock's seconds into a timestamp for a record (saturating to the epoch).
pub(crate) fn timestamp(secs: u64) -> OffsetDateTime {
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
