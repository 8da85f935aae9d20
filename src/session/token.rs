//! The session cookie's value: an HS256 JWT that this worker signs and only this worker
//! reads, issued and verified by jwt-simple (`HS256Key`). One algorithm, one issuer, no clock
//! skew: anything else is not ours.
//!
//! jwt-simple never reads the clock here: `iat`/`nbf`/`exp` are set from the caller's `now`
//! (our [`Clock`](crate::Clock)), and verification runs at `now` through
//! `VerificationOptions::artificial_time` (wasm32 has no system clock, and native tests drive
//! time). Its errors are `anyhow::Error`s, dropped unformatted: formatting one links `std`'s
//! backtrace printer and a symbol demangler into the worker.
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

use std::collections::HashSet;

use jwt_simple::prelude::{
    Duration, HS256Key, JWTClaims, MACLike, UnixTimeStamp, VerificationOptions,
};
use serde::{Deserialize, Serialize};

use crate::users::SessionUser;

/// The `iss` of every session token.
pub const ISSUER: &str = "remote-user-filter";
/// Longest token accepted before any decoding (a real one is well under 1 KiB).
pub const MAX_TOKEN_LEN: usize = 4096;
/// Longest header segment accepted: ours, `{"alg":"HS256","typ":"JWT"}`, is 36 characters.
const MAX_HEADER_LEN: usize = 64;

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

/// Our claims beyond the registered ones, as they travel in the token (the registered
/// ones are jwt-simple's `JWTClaims` fields, in the same order as [`SessionClaims`], so a
/// token is byte for byte what earlier releases issued).
#[derive(Serialize, Deserialize)]
struct Private<U> {
    #[serde(rename = "chk", default, skip_serializing_if = "Option::is_none")]
    checked_at: Option<u64>,
    #[serde(rename = "rmt", default, skip_serializing_if = "Option::is_none")]
    remote_user: Option<bool>,
    #[serde(rename = "pd", default, skip_serializing_if = "Option::is_none")]
    profile_digest: Option<String>,
    #[serde(flatten)]
    user: U,
}

/// The HMAC key made from `SESSION_SECRET`, and the verification options every token of
/// ours meets. Its `Debug` never shows the key.
///
/// ```
/// let key = remote_user_filter::session::token::SessionKey::new(b"a-32-byte-or-longer-session-secret!").unwrap();
/// assert_eq!(format!("{key:?}"), "SessionKey([redacted])");
/// ```
#[derive(Clone)]
pub struct SessionKey {
    key: HS256Key,
    options: VerificationOptions,
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey([redacted])")
    }
}

impl SessionKey {
    /// Shortest secret jwt-simple signs with (`JWTError::WeakKey` below it).
    const MIN_KEY_LEN: usize = 12;

    /// A key from the secret's bytes (the session filter insists on at least 32). `None`
    /// for a secret shorter than 12 bytes, which jwt-simple refuses to sign with.
    ///
    /// ```
    /// use remote_user_filter::session::token::SessionKey;
    /// assert!(SessionKey::new(b"short").is_none());
    /// ```
    pub fn new(secret: &[u8]) -> Option<Self> {
        if secret.len() < Self::MIN_KEY_LEN {
            return None;
        }
        let options = VerificationOptions {
            allowed_issuers: Some(HashSet::from([ISSUER.to_owned()])),
            // Only this worker's clock reads these tokens: no skew to allow for.
            time_tolerance: Some(Duration::from_secs(0)),
            max_token_length: Some(MAX_TOKEN_LEN),
            max_header_length: Some(MAX_HEADER_LEN),
            ..VerificationOptions::default()
        };
        Some(Self {
            key: HS256Key::from_bytes(secret),
            options,
        })
    }

    /// The signed token for `claims`.
    pub fn sign(&self, claims: &SessionClaims) -> String {
        let at = UnixTimeStamp::from_secs;
        let claims = JWTClaims {
            issued_at: Some(at(claims.issued_at)),
            expires_at: Some(at(claims.expires)),
            invalid_before: Some(at(claims.not_before)),
            issuer: Some(claims.issuer.clone()),
            subject: Some(claims.subject.clone()),
            audiences: None,
            jwt_id: Some(claims.session_id.clone()),
            nonce: None,
            custom: Private {
                checked_at: claims.checked_at,
                remote_user: claims.remote_user,
                profile_digest: claims.profile_digest.clone(),
                user: &claims.user,
            },
        };
        // Strings, integers and a key longer than the minimum: signing cannot fail.
        self.key.authenticate(claims).unwrap_or_default()
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
        let mut options = self.options.clone();
        options.artificial_time = Some(UnixTimeStamp::from_secs(now));
        // Why it failed is not kept: see the module doc.
        let claims = self
            .key
            .verify_token::<Private<SessionUser>>(token, Some(options))
            .ok()?;
        let claims = SessionClaims {
            issued_at: claims.issued_at?.as_secs(),
            expires: claims.expires_at?.as_secs(),
            not_before: claims.invalid_before?.as_secs(),
            issuer: claims.issuer?,
            subject: claims.subject?,
            session_id: claims.jwt_id?,
            checked_at: claims.custom.checked_at,
            remote_user: claims.custom.remote_user,
            profile_digest: claims.custom.profile_digest,
            user: claims.custom.user,
        };
        // jwt-simple checked the signature, the window and the issuer; the subject is ours.
        claims.hold(now).then_some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    /// `{"alg":"HS256","typ":"JWT"}`: the header of every session token.
    const HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

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

    /// Cookies the hand-framed release (hmac + sha2 + base64, before jwt-simple came back)
    /// issued with `SECRET`: every optional claim, then a digest in place of the profile.
    const HAND_FRAMED: [&str; 2] = [
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAyODgwMCwibmJmIjoxODAwMDAwMDAwLCJpc3MiOiJyZW1vdGUtdXNlci1maWx0ZXIiLCJzdWIiOiJhbm5AZXhhbXBsZS5jb20iLCJqdGkiOiIwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZiIsImNoayI6MTgwMDAwMDMwMCwicm10IjpmYWxzZSwidXNlcm5hbWUiOiJhbm5AZXhhbXBsZS5jb20iLCJlbWFpbCI6ImFubkBleGFtcGxlLmNvbSIsImdyb3VwcyI6WyJvcHMiLCJkZXYiXSwiYmFja2VuZCI6Ikt2VXNlckJhY2tlbmQifQ.pi3_S58nIq-oKJSQIhX_qz-_LZVsOyRQEg9ALAVgi1Q",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE4MDAwMDAwMDAsImV4cCI6MTgwMDAyODgwMCwibmJmIjoxODAwMDAwMDAwLCJpc3MiOiJyZW1vdGUtdXNlci1maWx0ZXIiLCJzdWIiOiJhbm5AZXhhbXBsZS5jb20iLCJqdGkiOiIwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZiIsImNoayI6MTgwMDAwMDMwMCwicm10IjpmYWxzZSwicGQiOiJxMXcyZTNyNHQ1eTZ1N2k4bzlwMGFhIiwidXNlcm5hbWUiOiJhbm5AZXhhbXBsZS5jb20iLCJiYWNrZW5kIjoiS3ZVc2VyQmFja2VuZCJ9.8kHJsRnLP_lbwmaWCazN-Vamqt9A_NYurJK-AqBsvjc",
    ];

    fn hand_framed_claims() -> [SessionClaims; 2] {
        let user = SessionUser {
            groups: vec!["ops".into(), "dev".into()],
            ..user()
        };
        let mut full = SessionClaims::new(
            user,
            "0123456789abcdef0123456789abcdef".into(),
            1_800_000_000,
            28_800,
        );
        full.checked_at = Some(1_800_000_300);
        full.remote_user = Some(false);
        let mut digest = full.clone();
        digest.profile_digest = Some("q1w2e3r4t5y6u7i8o9p0aa".into());
        digest.user.email = None;
        digest.user.groups.clear();
        [full, digest]
    }

    #[test]
    fn reads_cookies_the_hand_framed_release_issued() {
        let key = SessionKey::new(SECRET).unwrap();
        for (token, claims) in HAND_FRAMED.iter().zip(hand_framed_claims()) {
            assert_eq!(key.verify(token, 1_800_000_300), Some(claims));
        }
    }

    #[test]
    fn issues_the_same_bytes_as_the_hand_framed_release() {
        // So a rollback reads today's cookies too.
        let key = SessionKey::new(SECRET).unwrap();
        for (token, claims) in HAND_FRAMED.iter().zip(hand_framed_claims()) {
            assert_eq!(key.sign(&claims), *token);
        }
    }

    #[test]
    fn over_long_tokens_are_refused_even_when_signed() {
        let key = SessionKey::new(SECRET).unwrap();
        let sized = |groups: usize| {
            let user = SessionUser {
                groups: (0..groups).map(|i| format!("group-{i:04}")).collect(),
                ..user()
            };
            key.sign(&SessionClaims::new(user, "s1".into(), 1000, 60))
        };
        let (fits, over) = (sized(150), sized(250));
        assert!(fits.len() <= MAX_TOKEN_LEN && over.len() > MAX_TOKEN_LEN);
        assert!(key.verify(&fits, 1000).is_some());
        assert!(key.verify(&over, 1000).is_none());
    }

    #[test]
    fn every_registered_claim_is_required() {
        // Signed with our key by jwt-simple directly, each lacking one claim ours carry.
        let key = SessionKey::new(SECRET).unwrap();
        let raw = HS256Key::from_bytes(SECRET);
        let at = UnixTimeStamp::from_secs;
        let full = || JWTClaims {
            issued_at: Some(at(1000)),
            expires_at: Some(at(1060)),
            invalid_before: Some(at(1000)),
            issuer: Some(ISSUER.to_owned()),
            subject: Some(user().username),
            audiences: None,
            jwt_id: Some("s1".to_owned()),
            nonce: None,
            custom: Private {
                checked_at: None,
                remote_user: None,
                profile_digest: None,
                user: user(),
            },
        };
        assert!(key
            .verify(&raw.authenticate(full()).unwrap(), 1000)
            .is_some());
        let lacking: [fn(&mut JWTClaims<Private<SessionUser>>); 6] = [
            |c| c.issued_at = None,
            |c| c.expires_at = None,
            |c| c.invalid_before = None,
            |c| c.issuer = None,
            |c| c.subject = None,
            |c| c.jwt_id = None,
        ];
        for (i, strip) in lacking.iter().enumerate() {
            let mut claims = full();
            strip(&mut claims);
            let token = raw.authenticate(claims).unwrap();
            assert!(key.verify(&token, 1000).is_none(), "claim {i}");
        }
    }

    #[test]
    fn reads_tokens_jwt_simple_issued() {
        // A cookie issued by an earlier release (jwt-simple 0.15, same secret): sessions
        // survive the upgrade.
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3OTU1MDY0MzAsImV4cCI6MTc5NTUzNTIzMCwibmJmIjoxNzk1NTA2NDMwLCJpc3MiOiJyZW1vdGUtdXNlci1maWx0ZXIiLCJzdWIiOiJhbm5AZXhhbXBsZS5jb20iLCJqdGkiOiJkM2RkYjczZDk3OTIzZWUyZmM0ZGI0OGIzMzIxODc1ZSIsInVzZXJuYW1lIjoiYW5uQGV4YW1wbGUuY29tIiwiYmFja2VuZCI6Ikt2VXNlckJhY2tlbmQifQ.Z3hnFwBI2_eFQxROBh8xbDbQvN1cIDWeTm2qAT7QS2Y";
        let key = SessionKey::new(b"bench-session-secret-0123456789abcdef0123456789").unwrap();
        let claims = key.verify(token, 1_795_506_430).expect("valid");
        assert_eq!(claims.user.username, "ann@example.com");
        assert_eq!(claims.session_id, "d3ddb73d97923ee2fc4db48b3321875e");
    }
}
