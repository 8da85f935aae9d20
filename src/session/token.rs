//! The session cookie's value: a compact JWS (an HS256 JWT) that this worker signs and only
//! this worker reads. One header, one algorithm, one issuer: anything else is not ours.
//!
//! The primitives are crates (`hmac` + `sha2` for HMAC-SHA256 with a constant-time check,
//! `base64`, `serde_json`); only the three-part framing is written here. A general JWT
//! library would add nothing for a token we alone issue, and the one that builds for wasm
//! (jwt-simple) brought `anyhow` and a backtrace demangler, a fifth of the worker's size.
//!
//! ```
//! use remote_user_filter::SessionUser;
//! use remote_user_filter::session::token::{SessionClaims, SessionKey};
//!
//! let key = SessionKey::new(b"a-32-byte-or-longer-session-secret!").unwrap();
//! let user = SessionUser { username: "ann".into(), email: None, groups: vec![], backend: "KvUserBackend".into() };
//! let token = key.sign(&SessionClaims::new(user.clone(), "sid-1".into(), 1_700_000_000, 3600));
//! let claims = key.verify(&token, 1_700_000_100).unwrap();
//! assert_eq!((claims.user, claims.session_id.as_str()), (user, "sid-1"));
//! assert!(key.verify(&token, 1_700_003_601).is_none(), "expired");
//! ```

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::users::SessionUser;

/// The only header we issue or accept: `{"alg":"HS256","typ":"JWT"}`, base64url.
const HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
/// The `iss` of every session token.
pub const ISSUER: &str = "remote-user-filter";
/// Longest token accepted before any decoding (a real one is well under 1 KiB).
pub const MAX_TOKEN_LEN: usize = 4096;

/// What a session token says.
///
/// ```
/// use remote_user_filter::session::token::SessionClaims;
/// use remote_user_filter::SessionUser;
/// let user = SessionUser { username: "ann".into(), email: None, groups: vec![], backend: "B".into() };
/// let claims = SessionClaims::new(user, "sid".into(), 100, 60);
/// assert_eq!((claims.issued_at, claims.not_before, claims.expires), (100, 100, 160));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    /// `iat`.
    #[serde(rename = "iat")]
    pub issued_at: u64,
    /// `exp`: valid up to and including this second.
    #[serde(rename = "exp")]
    pub expires: u64,
    /// `nbf`.
    #[serde(rename = "nbf")]
    pub not_before: u64,
    /// `iss`, always [`ISSUER`].
    #[serde(rename = "iss")]
    pub issuer: String,
    /// `sub`, the username again (checked against the user's).
    #[serde(rename = "sub")]
    pub subject: String,
    /// `jti`: the session id, new at every login.
    #[serde(rename = "jti")]
    pub session_id: String,
    /// `chk`: when the user was last checked against the backend (a login, or a re-check
    /// of an older session). Absent in cookies of earlier releases: `iat` then.
    #[serde(rename = "chk", default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<u64>,
    /// `rmt`: a remote-user login made this session, so losing the header ends it. Absent
    /// in cookies of earlier releases, which only remote-user logins made: read as `true`.
    #[serde(rename = "rmt", default, skip_serializing_if = "Option::is_none")]
    pub remote_user: Option<bool>,
    /// `pd`: a digest of the email and groups, in place of them, when they would have made
    /// the cookie too long for browsers to keep.
    #[serde(rename = "pd", default, skip_serializing_if = "Option::is_none")]
    pub profile_digest: Option<String>,
    /// Who is logged in.
    #[serde(flatten)]
    pub user: SessionUser,
}

impl SessionClaims {
    /// Claims for `user`'s session `session_id`, issued at `now` for `ttl_secs`.
    pub fn new(user: SessionUser, session_id: String, now: u64, ttl_secs: u64) -> Self {
        Self {
            issued_at: now,
            expires: now.saturating_add(ttl_secs),
            not_before: now,
            issuer: ISSUER.to_owned(),
            subject: user.username.clone(),
            session_id,
            checked_at: Some(now),
            remote_user: Some(true),
            profile_digest: None,
            user,
        }
    }

    /// When the user was last checked against the backend.
    ///
    /// ```
    /// use remote_user_filter::session::token::SessionClaims;
    /// use remote_user_filter::SessionUser;
    /// let user = SessionUser { username: "ann".into(), email: None, groups: vec![], backend: "B".into() };
    /// let mut claims = SessionClaims::new(user, "sid".into(), 100, 60);
    /// assert_eq!(claims.checked(), 100);
    /// claims.checked_at = None; // a cookie of an earlier release
    /// assert_eq!(claims.checked(), 100);
    /// ```
    pub fn checked(&self) -> u64 {
        self.checked_at.unwrap_or(self.issued_at)
    }

    /// Whether these claims hold at `now`: ours, for a named user, inside their window.
    ///
    /// ```
    /// use remote_user_filter::session::token::SessionClaims;
    /// use remote_user_filter::SessionUser;
    /// let user = SessionUser { username: "ann".into(), email: None, groups: vec![], backend: "B".into() };
    /// let claims = SessionClaims::new(user, "sid".into(), 100, 60);
    /// assert!(claims.hold(100) && claims.hold(160));
    /// assert!(!claims.hold(99) && !claims.hold(161));
    /// ```
    pub fn hold(&self, now: u64) -> bool {
        self.issuer == ISSUER
            && !self.user.username.is_empty()
            && self.subject == self.user.username
            && self.not_before <= now
            && now <= self.expires
    }
}

/// The HMAC key made from `SESSION_SECRET`. Its `Debug` never shows the key.
///
/// ```
/// let key = remote_user_filter::session::token::SessionKey::new(b"a-32-byte-or-longer-session-secret!").unwrap();
/// assert_eq!(format!("{key:?}"), "SessionKey([redacted])");
/// ```
#[derive(Clone)]
pub struct SessionKey(Hmac<Sha256>);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey([redacted])")
    }
}

impl SessionKey {
    /// A key from the secret's bytes (the session filter insists on at least 32). HMAC
    /// takes keys of any length, so this is `None` only if the `hmac` crate changed that.
    pub fn new(secret: &[u8]) -> Option<Self> {
        <Hmac<Sha256> as Mac>::new_from_slice(secret).ok().map(Self)
    }

    /// The signed token for `claims`.
    pub fn sign(&self, claims: &SessionClaims) -> String {
        // Plain strings and integers: serialising them cannot fail.
        let json = serde_json::to_vec(claims).unwrap_or_default();
        let mut token = String::with_capacity(HEADER.len() + json.len() * 4 / 3 + 48);
        token.push_str(HEADER);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&json, &mut token);
        let mut mac = self.0.clone();
        mac.update(token.as_bytes());
        let tag = mac.finalize().into_bytes();
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut token);
        token
    }

    /// The claims of `token` if we signed it and it holds at `now`; `None` for anything
    /// else (tampered, foreign, expired, not yet valid, malformed, over-long).
    ///
    /// ```
    /// use remote_user_filter::session::token::SessionKey;
    /// let key = SessionKey::new(b"a-32-byte-or-longer-session-secret!").unwrap();
    /// assert!(key.verify("not.a.jwt", 0).is_none());
    /// ```
    pub fn verify(&self, token: &str, now: u64) -> Option<SessionClaims> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let (signed, signature) = token.rsplit_once('.')?;
        let (header, payload) = signed.split_once('.')?;
        if header != HEADER {
            return None;
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = self.0.clone();
        mac.update(signed.as_bytes());
        // Constant time: a forger learns nothing from how long a refusal takes.
        mac.verify_slice(&signature).ok()?;
        let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let claims: SessionClaims = serde_json::from_slice(&json).ok()?;
        claims.hold(now).then_some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> SessionUser {
        SessionUser {
            username: "ann@example.com".into(),
            email: Some("ann@example.com".into()),
            groups: vec!["ops".into()],
            backend: "KvUserBackend".into(),
        }
    }

    const SECRET: &[u8] = b"a-32-byte-or-longer-session-secret!";

    #[test]
    fn round_trip_and_window() {
        let key = SessionKey::new(SECRET).unwrap();
        let token = key.sign(&SessionClaims::new(user(), "s1".into(), 1000, 60));
        assert!(token.starts_with(HEADER));
        assert_eq!(key.verify(&token, 1000).map(|c| c.user), Some(user()));
        assert!(key.verify(&token, 1060).is_some(), "exp is inclusive");
        assert!(key.verify(&token, 1061).is_none(), "expired");
        assert!(key.verify(&token, 999).is_none(), "not yet valid");
    }

    #[test]
    fn refuses_what_we_did_not_sign() {
        let key = SessionKey::new(SECRET).unwrap();
        let token = key.sign(&SessionClaims::new(user(), "s1".into(), 1000, 60));
        let other = SessionKey::new(b"another-secret-another-secret-0123456789").unwrap();
        assert!(other.verify(&token, 1000).is_none(), "foreign key");

        let (signed, _) = token.rsplit_once('.').unwrap();
        let (_, payload) = signed.split_once('.').unwrap();
        // Another header (alg none, or HS512) with the same payload and signature.
        for header in [
            "eyJhbGciOiJub25lIn0",
            "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9",
        ] {
            let forged = format!("{header}.{payload}.{}", token.rsplit_once('.').unwrap().1);
            assert!(key.verify(&forged, 1000).is_none(), "{header}");
        }
        // Another payload under the original signature.
        let mut claims = SessionClaims::new(user(), "s1".into(), 1000, 60);
        claims.user.username = "root".into();
        claims.subject = "root".into();
        let json = serde_json::to_vec(&claims).unwrap();
        let forged = format!(
            "{HEADER}.{}.{}",
            URL_SAFE_NO_PAD.encode(json),
            token.rsplit_once('.').unwrap().1
        );
        assert!(key.verify(&forged, 1000).is_none(), "swapped payload");
        // Unsigned, truncated, over-long.
        assert!(key.verify(&format!("{signed}."), 1000).is_none());
        assert!(key.verify(signed, 1000).is_none());
        assert!(key.verify(&"a".repeat(MAX_TOKEN_LEN + 1), 1000).is_none());
    }

    #[test]
    fn claims_must_name_the_user_and_come_from_us() {
        let key = SessionKey::new(SECRET).unwrap();
        let mut claims = SessionClaims::new(user(), "s1".into(), 1000, 60);
        claims.subject = "someone-else".into();
        assert!(
            key.verify(&key.sign(&claims), 1000).is_none(),
            "sub mismatch"
        );
        let mut claims = SessionClaims::new(user(), "s1".into(), 1000, 60);
        claims.issuer = "elsewhere".into();
        assert!(key.verify(&key.sign(&claims), 1000).is_none(), "issuer");
    }

    #[test]
    fn reads_tokens_jwt_simple_issued() {
        // A cookie issued by the previous release (jwt-simple 0.15, same secret): sessions
        // survive the upgrade.
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3OTU1MDY0MzAsImV4cCI6MTc5NTUzNTIzMCwibmJmIjoxNzk1NTA2NDMwLCJpc3MiOiJyZW1vdGUtdXNlci1maWx0ZXIiLCJzdWIiOiJhbm5AZXhhbXBsZS5jb20iLCJqdGkiOiJkM2RkYjczZDk3OTIzZWUyZmM0ZGI0OGIzMzIxODc1ZSIsInVzZXJuYW1lIjoiYW5uQGV4YW1wbGUuY29tIiwiYmFja2VuZCI6Ikt2VXNlckJhY2tlbmQifQ.Z3hnFwBI2_eFQxROBh8xbDbQvN1cIDWeTm2qAT7QS2Y";
        let key = SessionKey::new(b"bench-session-secret-0123456789abcdef0123456789").unwrap();
        let claims = key.verify(token, 1_795_506_430).expect("valid");
        assert_eq!(claims.user.username, "ann@example.com");
        assert_eq!(claims.session_id, "d3ddb73d97923ee2fc4db48b3321875e");
    }
}
