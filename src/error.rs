//! Typed errors: configuration problems (found once, before the first request) and request
//! errors (each mapped to one HTTP status).
//!
//! ```
//! use remote_user_filter::{AuthError, ConfigError, ConfigProblem};
//!
//! let err = ConfigError::filter("PersistentRemoteUserFilter", ConfigProblem::RequiresBefore {
//!     required: "SessionFilter",
//! });
//! assert_eq!(
//!     err.to_string(),
//!     "`PersistentRemoteUserFilter` requires `SessionFilter` to be installed before it"
//! );
//! assert_eq!(AuthError::MissingIdentity.status(), 401);
//! ```

/// Something wrong with the way the filters are configured or ordered.
///
/// Every message names what the user wrote (the concrete filter type, the setting) and what
/// to change. Secret values are never part of a message.
///
/// ```
/// use remote_user_filter::ConfigError;
///
/// let err = ConfigError::UnknownFilter { name: "sesion".into() };
/// assert!(err.to_string().contains("AUTH_FILTERS"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A filter refused its settings or its place in the chain.
    #[error("`{filter}` {problem}")]
    Filter {
        /// The concrete filter type as the user wrote it (a wrapper's own name, never its base).
        filter: String,
        /// What is wrong.
        problem: ConfigProblem,
    },
    /// `AUTH_FILTERS` names a filter this worker does not know.
    #[error(
        "AUTH_FILTERS names an unknown filter `{name}`; known filters are: session, gateway_jwt, \
         gateway_secret, remote_user, persistent_remote_user"
    )]
    UnknownFilter {
        /// The unknown name.
        name: String,
    },
    /// The chain has no filters at all.
    #[error("AUTH_FILTERS is empty; list at least `session,gateway_jwt,remote_user`")]
    EmptyChain,
    /// The chain logs no one in: without a remote-user filter, a session filter would
    /// forward any validly signed cookie and nothing else.
    #[error(
        "AUTH_FILTERS installs no remote-user filter: add `remote_user` (`RemoteUserFilter`) \
         or `persistent_remote_user` (`PersistentRemoteUserFilter`) after `session`, e.g. \
         `session,gateway_jwt,remote_user`"
    )]
    NoRemoteUserFilter,
    /// A setting that belongs to no single filter has a value that cannot be used.
    #[error("{setting} is `{value}`, but it must be {expected}")]
    InvalidSetting {
        /// The setting's name, e.g. `SESSION_TTL_SECS`.
        setting: &'static str,
        /// The value found (never used for secrets).
        value: String,
        /// What would be accepted.
        expected: &'static str,
    },
}

impl ConfigError {
    /// The message without any value the operator configured: the filter type, the setting
    /// and the rule. This is what an anonymous client is shown; the log has the full text.
    ///
    /// ```
    /// use remote_user_filter::{ConfigError, ConfigProblem};
    /// let e = ConfigError::filter("GatewayJwtFilter", ConfigProblem::InvalidValue {
    ///     setting: "JWKS_URL",
    ///     value: "http://internal.example/certs".into(),
    ///     expected: "an https URL",
    /// });
    /// assert_eq!(e.redacted(), "`GatewayJwtFilter` setting JWKS_URL must be an https URL");
    /// assert!(e.to_string().contains("internal.example"));
    /// ```
    pub fn redacted(&self) -> String {
        match self {
            ConfigError::Filter { filter, problem } => format!("`{filter}` {}", problem.redacted()),
            ConfigError::UnknownFilter { .. } => "AUTH_FILTERS names an unknown filter; known \
                 filters are: session, gateway_jwt, gateway_secret, remote_user, \
                 persistent_remote_user"
                .to_owned(),
            ConfigError::InvalidSetting {
                setting, expected, ..
            } => format!("{setting} must be {expected}"),
            ConfigError::EmptyChain | ConfigError::NoRemoteUserFilter => self.to_string(),
        }
    }

    /// A problem found by the filter named `filter`.
    ///
    /// ```
    /// use remote_user_filter::{ConfigError, ConfigProblem};
    /// let e = ConfigError::filter("SessionFilter", ConfigProblem::MissingSecret { setting: "SESSION_SECRET" });
    /// assert!(e.to_string().starts_with("`SessionFilter` "));
    /// ```
    pub fn filter(filter: impl Into<String>, problem: ConfigProblem) -> Self {
        Self::Filter {
            filter: filter.into(),
            problem,
        }
    }
}

/// What a filter found wrong with its own settings or position; the chain adds the filter's
/// name to make a [`ConfigError`].
///
/// ```
/// use remote_user_filter::ConfigProblem;
/// let p = ConfigProblem::ShortSecret { setting: "SESSION_SECRET", len: 5, min: 32 };
/// assert_eq!(p.to_string(), "needs SESSION_SECRET to be at least 32 bytes long, but it is 5 bytes; generate one with `openssl rand -base64 48`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// A filter that must come earlier in the chain is missing or comes later.
    #[error("requires `{required}` to be installed before it")]
    RequiresBefore {
        /// The filter type that must precede it.
        required: &'static str,
    },
    /// The same kind of filter appears twice.
    #[error("is installed more than once; keep one")]
    Duplicate,
    /// A secret is not set.
    #[error(
        "needs the secret {setting}, which is not set; run `wrangler secret put {setting}` \
         (locally: add it to .dev.vars)"
    )]
    MissingSecret {
        /// The secret's setting name.
        setting: &'static str,
    },
    /// A secret is too short to be safe.
    #[error(
        "needs {setting} to be at least {min} bytes long, but it is {len} bytes; generate one \
         with `openssl rand -base64 48`"
    )]
    ShortSecret {
        /// The secret's setting name.
        setting: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The minimum length.
        min: usize,
    },
    /// The user backend needs a Workers KV binding that is not bound.
    #[error(
        "uses `{backend}`, whose Workers KV binding `{binding}` is not bound; add \
         [[kv_namespaces]] with binding = \"{binding}\" to wrangler.toml"
    )]
    MissingBinding {
        /// The backend type.
        backend: String,
        /// The binding name.
        binding: String,
    },
    /// A header-name setting is not a valid HTTP header name.
    #[error("setting {setting} is `{value}`, which is not a valid HTTP header name")]
    InvalidHeaderName {
        /// The setting's name.
        setting: &'static str,
        /// The value found.
        value: String,
    },
    /// A required setting is not set.
    #[error("needs the setting {setting}, which is not set; set it in [vars] (e.g. `{example}`)")]
    MissingSetting {
        /// The setting's name.
        setting: &'static str,
        /// An example value.
        example: &'static str,
    },
    /// The filter must come before another kind of filter.
    #[error("must be installed before `{filter}`, which relies on what it checks")]
    MustPrecede {
        /// The filter type it must precede.
        filter: &'static str,
    },
    /// A remote-user filter trusts a plain header with no proof it came from the gateway.
    #[error(
        "trusts the plain header `{header}` with no proof that the gateway sent it: install \
         `GatewayJwtFilter` (AUTH_FILTERS `gateway_jwt`) or `SharedSecretFilter` \
         (`gateway_secret`) before it, or set TRUST_UNSIGNED_HEADER=true if nothing but the \
         gateway can reach this worker"
    )]
    UnsignedHeader {
        /// The identity header.
        header: String,
    },
    /// A filter that verifies signed assertions was given no way to fetch the gateway's keys.
    #[error(
        "has no source for the gateway's signing keys, so every signed assertion would be \
         answered 503; give the chain builder one with `.jwks(...)` (the worker passes \
         `FetchJwks` for JWKS_URL)"
    )]
    MissingKeySource,
    /// `ACCESS_FETCH_IDENTITY=true`, but the chain was given no way to ask the identity
    /// provider.
    #[error(
        "has ACCESS_FETCH_IDENTITY=true but no source for the identity provider's groups, so \
         no login would get them; give the chain builder one with `.identity(...)` (the \
         worker passes `FetchIdentity` for ACCESS_IDENTITY_URL)"
    )]
    MissingIdentitySource,
    /// A setting has a value the filter cannot use.
    #[error("setting {setting} is `{value}`, but it must be {expected}")]
    InvalidValue {
        /// The setting's name.
        setting: &'static str,
        /// The value found.
        value: String,
        /// What would be accepted.
        expected: &'static str,
    },
    /// A path setting is not in the canonical form requests are matched in, so it would
    /// never match as written.
    #[error(
        "setting {setting} has the path `{value}`, which no request is matched as (paths are \
         read in canonical form: escapes of letters and digits decoded, `//` merged, dot \
         segments removed); write it as `{canonical}`"
    )]
    NotCanonical {
        /// The setting's name.
        setting: &'static str,
        /// The path as written.
        value: String,
        /// The path in canonical form.
        canonical: String,
    },
    /// Two settings claim the same requests, so one of them would never mean what it says.
    #[error("setting {setting} `{value}` conflicts with {other} `{other_value}`: {why}")]
    Conflict {
        /// The setting this filter reads.
        setting: &'static str,
        /// Its entry.
        value: String,
        /// The other setting.
        other: &'static str,
        /// Its entry.
        other_value: String,
        /// Why they cannot both hold, and what to change.
        why: &'static str,
    },
}

impl ConfigProblem {
    /// The message without the values found (a secret's length, a URL, a header name the
    /// operator chose): the setting and the rule.
    ///
    /// ```
    /// use remote_user_filter::ConfigProblem;
    /// let p = ConfigProblem::ShortSecret { setting: "SESSION_SECRET", len: 5, min: 32 };
    /// assert_eq!(p.redacted(), "needs SESSION_SECRET to be at least 32 bytes long");
    /// ```
    pub fn redacted(&self) -> String {
        match self {
            ConfigProblem::ShortSecret { setting, min, .. } => {
                format!("needs {setting} to be at least {min} bytes long")
            }
            ConfigProblem::InvalidHeaderName { setting, .. } => {
                format!("setting {setting} is not a valid HTTP header name")
            }
            ConfigProblem::InvalidValue {
                setting, expected, ..
            } => format!("setting {setting} must be {expected}"),
            ConfigProblem::NotCanonical { setting, .. } => {
                format!("setting {setting} has a path not in canonical form")
            }
            ConfigProblem::Conflict {
                setting,
                other,
                why,
                ..
            } => format!("setting {setting} conflicts with {other}: {why}"),
            ConfigProblem::UnsignedHeader { .. } => "trusts the plain identity header \
                 (REMOTE_USER_HEADER) with no proof that the gateway sent it: install \
                 `GatewayJwtFilter` (AUTH_FILTERS `gateway_jwt`) or `SharedSecretFilter` \
                 (`gateway_secret`) before it, or set TRUST_UNSIGNED_HEADER=true if nothing but \
                 the gateway can reach this worker"
                .to_owned(),
            other => other.to_string(),
        }
    }

    /// A secret of `len` bytes (`None`: not set) for `setting`, which needs `min`.
    ///
    /// ```
    /// use remote_user_filter::ConfigProblem;
    /// assert!(ConfigProblem::check_secret("GATEWAY_SECRET", Some(20), 16).is_ok());
    /// assert_eq!(
    ///     ConfigProblem::check_secret("GATEWAY_SECRET", Some(0), 16),
    ///     Err(ConfigProblem::MissingSecret { setting: "GATEWAY_SECRET" })
    /// );
    /// ```
    pub fn check_secret(setting: &'static str, len: Option<usize>, min: usize) -> Result<(), Self> {
        match len {
            None | Some(0) => Err(Self::MissingSecret { setting }),
            Some(len) if len < min => Err(Self::ShortSecret { setting, len, min }),
            Some(_) => Ok(()),
        }
    }
}

/// Why a request was not let through; each kind maps to one status.
///
/// `Display` is safe to send to the client: it never contains a secret, a token or a
/// stored record.
///
/// ```
/// use remote_user_filter::{AuthError, BackendError};
/// assert_eq!(AuthError::MissingIdentity.status(), 401);
/// assert_eq!(AuthError::Backend(BackendError::Unavailable("timeout".into())).status(), 503);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The identity header is malformed (not text, too long, sent twice).
    #[error("bad identity header `{header}`: {reason}")]
    BadIdentityHeader {
        /// The header's name.
        header: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The request itself is malformed (a URL the http crate cannot read even with its
    /// stray characters percent-encoded).
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The request's path has no reading every origin shares (an encoded `/`, a `..;`, a
    /// control character: [`PathError`](crate::path::PathError)), so no decision made on it
    /// would hold at the origin.
    #[error("bad request: {0}")]
    BadPath(#[from] crate::path::PathError),
    /// No identity was presented and anonymous requests are denied.
    #[error("authentication required: no identity was presented")]
    MissingIdentity,
    /// An identity was presented but the backend did not accept the user (unknown and not
    /// created, inactive, or a name that cleans to nothing).
    #[error("forbidden: this identity may not sign in here")]
    Rejected,
    /// A path rule (`RULES`) admits none of the user's groups. Names the rule's path, never
    /// the user's groups.
    #[error("forbidden: the rule for `{path}` does not admit this user")]
    PathForbidden {
        /// The path of the rule that decided.
        path: String,
    },
    /// The gateway's signed assertion is missing something, forged, stale or foreign.
    #[error("invalid gateway assertion: {0}")]
    InvalidAssertion(#[from] AssertionError),
    /// The plain identity header names someone other than the signed assertion.
    #[error("forbidden: the identity header does not match the signed assertion")]
    IdentityMismatch,
    /// The request does not carry the gateway's shared secret.
    #[error("authentication required: the request did not come through the gateway")]
    NotFromGateway,
    /// No signing keys could be had to verify the assertion.
    #[error("the gateway's signing keys are unavailable, try again later")]
    KeysUnavailable(String),
    /// The user backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The chain is misconfigured.
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
}

impl AuthError {
    /// The HTTP status this error is answered with.
    ///
    /// ```
    /// use remote_user_filter::AuthError;
    /// assert_eq!(AuthError::Rejected.status(), 403);
    /// ```
    pub fn status(&self) -> u16 {
        match self {
            AuthError::BadIdentityHeader { .. } | AuthError::BadRequest(_) => 400,
            AuthError::BadPath(_) => 400,
            AuthError::MissingIdentity | AuthError::InvalidAssertion(_) => 401,
            AuthError::NotFromGateway => 401,
            AuthError::Rejected | AuthError::IdentityMismatch => 403,
            AuthError::PathForbidden { .. } => 403,
            AuthError::KeysUnavailable(_) => 503,
            AuthError::Backend(e) => e.status(),
            AuthError::Config(_) => 500,
        }
    }

    /// What the operator should be told of this failure, if it is theirs to fix (a backend,
    /// key or configuration failure): the refusal event's `detail`. A client's bad request
    /// has none. Never a secret or a token.
    ///
    /// ```
    /// use remote_user_filter::AuthError;
    /// assert!(AuthError::MissingIdentity.detail().is_none());
    /// assert!(AuthError::KeysUnavailable("HTTP 500".into()).detail().unwrap().contains("HTTP 500"));
    /// ```
    pub fn detail(&self) -> Option<String> {
        match self {
            AuthError::Backend(e) => Some(e.log_line()),
            AuthError::KeysUnavailable(why) => Some(format!("gateway keys unavailable: {why}")),
            AuthError::Config(e) => Some(format!("configuration error: {e}")),
            _ => None,
        }
    }

    /// A stable snake_case code for why the request was refused: the `reason` of its
    /// refusal event ([`AuthEvent`](crate::AuthEvent)), one per kind of error (an invalid
    /// assertion's is `assertion_` and [`AssertionError::reason`]).
    ///
    /// ```
    /// use remote_user_filter::{AssertionError, AuthError};
    /// assert_eq!(AuthError::MissingIdentity.reason(), "missing_identity");
    /// assert_eq!(AuthError::InvalidAssertion(AssertionError::BadSignature).reason(), "assertion_bad_signature");
    /// ```
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::BadIdentityHeader { .. } => "bad_identity_header",
            AuthError::BadRequest(_) => "bad_request",
            AuthError::BadPath(_) => "bad_path",
            AuthError::MissingIdentity => "missing_identity",
            AuthError::Rejected => "rejected",
            AuthError::PathForbidden { .. } => "path_forbidden",
            AuthError::InvalidAssertion(e) => e.reason(),
            AuthError::IdentityMismatch => "identity_mismatch",
            AuthError::NotFromGateway => "not_from_gateway",
            AuthError::KeysUnavailable(_) => "keys_unavailable",
            AuthError::Backend(BackendError::Unavailable(_)) => "store_unavailable",
            AuthError::Backend(BackendError::CorruptRecord { .. }) => "corrupt_record",
            AuthError::Backend(BackendError::Other { .. }) => "backend_error",
            AuthError::Config(_) => "config_error",
        }
    }
}

/// A user backend failure. `Unavailable` is the store's fault (503); `CorruptRecord` is one
/// user's bad data (403, and the record is left as it is).
///
/// ```
/// use remote_user_filter::BackendError;
/// let e = BackendError::CorruptRecord { key: "user:ann".into(), reason: "expected value".into() };
/// assert_eq!(e.status(), 403);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The user store could not be reached or failed.
    #[error("user store unavailable, try again later")]
    Unavailable(String),
    /// A stored user record cannot be read.
    #[error("the stored record for this user cannot be read")]
    CorruptRecord {
        /// The store key (logged, never sent to the client).
        key: String,
        /// The parser's message (logged, never sent to the client).
        reason: String,
    },
    /// A custom backend's own failure, with the status it should be answered with.
    #[error("{message}")]
    Other {
        /// HTTP status (e.g. 403 or 503).
        status: u16,
        /// A message safe to show the client.
        message: String,
    },
}

impl BackendError {
    /// The HTTP status this failure is answered with.
    ///
    /// ```
    /// use remote_user_filter::BackendError;
    /// assert_eq!(BackendError::Unavailable("x".into()).status(), 503);
    /// ```
    pub fn status(&self) -> u16 {
        match self {
            BackendError::Unavailable(_) => 503,
            BackendError::CorruptRecord { .. } => 403,
            BackendError::Other { status, .. } => *status,
        }
    }

    /// The line to log for this failure: more detail than `Display`, still no secrets.
    ///
    /// ```
    /// use remote_user_filter::BackendError;
    /// let e = BackendError::CorruptRecord { key: "user:ann".into(), reason: "EOF".into() };
    /// assert!(e.log_line().contains("user:ann"));
    /// ```
    pub fn log_line(&self) -> String {
        match self {
            BackendError::Unavailable(detail) => format!("user store unavailable: {detail}"),
            BackendError::CorruptRecord { key, reason } => format!(
                "KV record `{key}` is not a valid user record ({reason}); it was left unchanged, \
                 fix or delete it with `wrangler kv key put`"
            ),
            BackendError::Other { status, message } => format!("backend error {status}: {message}"),
        }
    }
}

/// A key-value store failure (network, quota, binding gone).
///
/// ```
/// use remote_user_filter::{BackendError, StoreError};
/// let e: BackendError = StoreError("503 from KV".into()).into();
/// assert_eq!(e.status(), 503);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key-value store error: {0}")]
pub struct StoreError(pub String);

impl From<StoreError> for BackendError {
    fn from(e: StoreError) -> Self {
        BackendError::Unavailable(e.0)
    }
}

/// Why an assertion was refused (401). `Display` is safe to send: no token content.
///
/// ```
/// use remote_user_filter::AssertionError;
/// assert_eq!(AssertionError::Expired.to_string(), "the assertion has expired");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssertionError {
    /// Not a compact JWS, or a segment that does not decode.
    #[error("the assertion is malformed: {0}")]
    Malformed(&'static str),
    /// Longer than [`MAX_ASSERTION_LEN`](crate::MAX_ASSERTION_LEN).
    #[error("the assertion is {len} bytes, more than the {max} accepted")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The header names an algorithm this gateway does not use.
    #[error("the assertion's algorithm `{0}` is not the one this gateway signs with")]
    UnsupportedAlgorithm(String),
    /// No key with the assertion's `kid` (after a refetch, where one was allowed).
    #[error("the assertion is signed by an unknown key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the assertion's signature is not valid")]
    BadSignature,
    /// `exp` is past (beyond the leeway), or missing.
    #[error("the assertion has expired")]
    Expired,
    /// `nbf` or `iat` is in the future (beyond the leeway).
    #[error("the assertion is not valid yet")]
    NotYetValid,
    /// `iss` is not the gateway's.
    #[error("the assertion was issued by someone else")]
    WrongIssuer,
    /// `aud` holds none of the configured audiences.
    #[error("the assertion is for another application")]
    WrongAudience,
    /// No identity claim (`email`).
    #[error("the assertion names no user")]
    NoIdentity,
    /// A service token, and service tokens are not allowed.
    #[error("service tokens are not allowed here")]
    ServiceToken,
    /// The assertion header was sent more than once.
    #[error("the assertion was sent more than once")]
    Duplicate,
}

impl AssertionError {
    /// A stable snake_case code for this failure, `assertion_` first (the refusal event's
    /// reason, see [`AuthError::reason`]).
    ///
    /// ```
    /// use remote_user_filter::AssertionError;
    /// assert_eq!(AssertionError::Expired.reason(), "assertion_expired");
    /// ```
    pub fn reason(&self) -> &'static str {
        match self {
            AssertionError::Malformed(_) => "assertion_malformed",
            AssertionError::TooLong { .. } => "assertion_too_long",
            AssertionError::UnsupportedAlgorithm(_) => "assertion_unsupported_algorithm",
            AssertionError::UnknownKey => "assertion_unknown_key",
            AssertionError::BadSignature => "assertion_bad_signature",
            AssertionError::Expired => "assertion_expired",
            AssertionError::NotYetValid => "assertion_not_yet_valid",
            AssertionError::WrongIssuer => "assertion_wrong_issuer",
            AssertionError::WrongAudience => "assertion_wrong_audience",
            AssertionError::NoIdentity => "assertion_no_identity",
            AssertionError::ServiceToken => "assertion_service_token",
            AssertionError::Duplicate => "assertion_duplicate",
        }
    }
}
