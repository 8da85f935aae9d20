//! Events people can see: every login, sign-out, refusal, revocation, configuration error
//! and key fetch as one [`AuthEvent`], logged as one JSON line ([`AuthEvent::to_json_line`])
//! and, in the worker, counted in Workers Analytics Engine (`AUTH_EVENTS`).
//!
//! An event holds codes, a status, the user's name, the request's `cf-ray` and, for the
//! operator, a `detail` (a URL, the configuration error's text): never a token, a cookie,
//! a secret or an assertion.
//!
//! ```
//! use remote_user_filter::{AuthEvent, EventKind};
//!
//! let event = AuthEvent::new(EventKind::Refusal).reason("missing_identity").status(401);
//! assert_eq!(
//!     event.to_json_line(),
//!     r#"{"event":"refusal","reason":"missing_identity","status":401}"#
//! );
//! ```

use std::borrow::Cow;

use serde::Serialize;

/// What happened.
///
/// ```
/// use remote_user_filter::EventKind;
/// assert_eq!(EventKind::SignOut.name(), "sign_out");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A new session started for a user.
    Login,
    /// A user signed out (the sign-out endpoint records it).
    SignOut,
    /// A request was answered here instead of forwarded (`reason`, `status`).
    Refusal,
    /// A session's re-check found its user gone or inactive: the session was ended.
    Revocation,
    /// The settings cannot be used: every request is answered 500 until they are fixed.
    ConfigError,
    /// The gateway's signing keys were fetched (`keys`: how many), or the fetch failed
    /// (`reason`, `detail`).
    KeyFetch,
}

impl EventKind {
    /// The stable snake_case name the logs and Analytics Engine use.
    ///
    /// ```
    /// use remote_user_filter::EventKind;
    /// assert_eq!(EventKind::KeyFetch.name(), "key_fetch");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Login => "login",
            EventKind::SignOut => "sign_out",
            EventKind::Refusal => "refusal",
            EventKind::Revocation => "revocation",
            EventKind::ConfigError => "config_error",
            EventKind::KeyFetch => "key_fetch",
        }
    }
}

/// One event: what happened, and what is known of it. Absent fields are left out of the
/// JSON line.
///
/// ```
/// use remote_user_filter::{AuthEvent, EventKind};
///
/// let login = AuthEvent::new(EventKind::Login).user("ann@example.com").ray("8f1c2d3e4f5a6b7c-LHR");
/// assert_eq!(login.user.as_deref(), Some("ann@example.com"));
/// assert!(login.to_json_line().contains(r#""ray":"8f1c2d3e4f5a6b7c-LHR""#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AuthEvent {
    /// What happened.
    pub event: EventKind,
    /// Why, as a stable snake_case code (a refusal's [`AuthError::reason`], a key fetch's
    /// failure).
    ///
    /// [`AuthError::reason`]: crate::AuthError::reason
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Cow<'static, str>>,
    /// The HTTP status the request was answered with, when the event answered it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The user's name, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The request's `cf-ray` header, when it had one (filled in by
    /// [`AuthRequest::record_event`](crate::AuthRequest::record_event)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ray: Option<String>,
    /// How many signing keys a key fetch found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<usize>,
    /// For the operator, on failures that are theirs to fix (5xx, a configuration error, a
    /// failed key fetch): what went wrong. Never a secret or a token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl AuthEvent {
    /// An event of `kind` with nothing else known yet.
    ///
    /// ```
    /// use remote_user_filter::{AuthEvent, EventKind};
    /// assert_eq!(AuthEvent::new(EventKind::SignOut).to_json_line(), r#"{"event":"sign_out"}"#);
    /// ```
    pub fn new(kind: EventKind) -> Self {
        Self {
            event: kind,
            reason: None,
            status: None,
            user: None,
            ray: None,
            keys: None,
            detail: None,
        }
    }

    /// With a reason code (stable, snake_case).
    ///
    /// ```
    /// use remote_user_filter::{AuthEvent, EventKind};
    /// let event = AuthEvent::new(EventKind::Revocation).reason("user_rejected");
    /// assert_eq!(event.reason.as_deref(), Some("user_rejected"));
    /// ```
    pub fn reason(mut self, reason: impl Into<Cow<'static, str>>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// With the HTTP status.
    ///
    /// ```
    /// use remote_user_filter::{AuthEvent, EventKind};
    /// assert_eq!(AuthEvent::new(EventKind::Refusal).status(403).status, Some(403));
    /// ```
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// With the user's name.
    ///
    /// ```
    /// use remote_user_filter::{AuthEvent, EventKind};
    /// let event = AuthEvent::new(EventKind::Login).user("ann@example.com");
    /// assert_eq!(event.user.as_deref(), Some("ann@example.com"));
    /// ```
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// With the request's `cf-ray` (which [`AuthRequest::record_event`] fills in itself).
    ///
    /// [`AuthRequest::record_event`]: crate::AuthRequest::record_event
    ///
    /// ```
    /// use remote_user_filter::{AuthEvent, EventKind};
    /// let event = AuthEvent::new(EventKind::Login).ray("8f1c2d3e4f5a6b7c-LHR");
    /// assert_eq!(event.ray.as_deref(), Some("8f1c2d3e4f5a6b7c-LHR"));
    /// ```
    pub fn ray(mut self, ray: impl Into<String>) -> Self {
        self.ray = Some(ray.into());
        self
    }

    /// With the number of keys a key fetch found.
    ///
    /// ```
    /// use remote_user_filter::{AuthEvent, EventKind};
    /// assert_eq!(AuthEvent::new(EventKind::KeyFetch).keys(2).keys, Some(2));
    /// ```
    pub fn keys(mut self, keys: usize) -> Self {
        self.keys = Some(keys);
        self
    }

    /// With operator-facing detail (never a secret or a token).
    ///
    /// ```
    /// use remote_user_filter::{AuthEvent, EventKind};
    /// let event = AuthEvent::new(EventKind::KeyFetch).reason("fetch_failed").detail("HTTP 503");
    /// assert_eq!(event.detail.as_deref(), Some("HTTP 503"));
    /// ```
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The event as one line of JSON: `event` first, absent fields left out.
    ///
    /// ```
    /// use remote_user_filter::{AuthEvent, EventKind};
    /// let line = AuthEvent::new(EventKind::KeyFetch).keys(2).to_json_line();
    /// assert_eq!(line, r#"{"event":"key_fetch","keys":2}"#);
    /// ```
    pub fn to_json_line(&self) -> String {
        // Serializing plain strings and numbers cannot fail; the fallback names the event.
        serde_json::to_string(self)
            .unwrap_or_else(|_| format!(r#"{{"event":"{}"}}"#, self.event.name()))
    }
}
