//! Signed gateway assertions (compact JWS): parsing and the claims checks every gateway
//! shares. Signatures are checked by a [`SignatureVerifier`](crate::SignatureVerifier).
//!
//! ```
//! use remote_user_filter::{parse_assertion, Algorithm, AssertionError};
//!
//! // `alg: none` is refused before anything else is looked at.
//! let none = "eyJhbGciOiJub25lIn0.eyJlbWFpbCI6ImFAYi5jIn0.";
//! assert_eq!(
//!     parse_assertion(none, Algorithm::Rs256).unwrap_err(),
//!     AssertionError::UnsupportedAlgorithm("none".into())
//! );
//! ```

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

pub use crate::error::AssertionError;

/// Longest assertion accepted, before any decoding.
pub const MAX_ASSERTION_LEN: usize = 16 * 1024;
/// Longest `kid` accepted.
const MAX_KID_LEN: usize = 256;

/// The signature algorithms gateways use. Each gateway allows exactly one.
///
/// ```
/// use remote_user_filter::Algorithm;
/// assert_eq!(Algorithm::Es256.name(), "ES256");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (Cloudflare Access).
    Rs256,
    /// ECDSA P-256 with SHA-256 (Google IAP, Pomerium).
    Es256,
}

impl Algorithm {
    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Es256 => "ES256",
        }
    }
}

/// A parsed, not yet verified, assertion.
///
/// ```
/// use remote_user_filter::{parse_assertion, Algorithm};
/// let err = parse_assertion("a.b", Algorithm::Rs256).unwrap_err();
/// assert_eq!(err.to_string(), "the assertion is malformed: it is not three dot-separated segments");
/// ```
#[derive(Debug, Clone)]
pub struct ParsedAssertion {
    /// The key id from the header.
    pub kid: String,
    /// The claims.
    pub claims: Claims,
    /// `header.payload`: what was signed.
    pub signing_input: String,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

/// The claims the checks read. Unknown claims are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct Claims {
    /// Issuer.
    #[serde(default)]
    pub iss: Option<String>,
    /// Audience: one string or an array.
    #[serde(default)]
    pub aud: Audience,
    /// Expiry (seconds since the epoch).
    #[serde(default)]
    pub exp: Option<i64>,
    /// Not before.
    #[serde(default)]
    pub nbf: Option<i64>,
    /// Issued at.
    #[serde(default)]
    pub iat: Option<i64>,
    /// The user's email: the identity.
    #[serde(default)]
    pub email: Option<String>,
    /// A Cloudflare Access service token's client id.
    #[serde(default)]
    pub common_name: Option<String>,
}

/// `aud` as JWT allows it: a string or an array of strings.
///
/// Read by a visitor that takes whichever form comes, rather than `#[serde(untagged)]`,
/// which buffers the value and formats an error message for every form it tries first: that
/// was a tenth of a cache miss's work.
///
/// ```
/// use remote_user_filter::Audience;
/// let one: Audience = serde_json::from_str(r#""aud-1""#).unwrap();
/// let many: Audience = serde_json::from_str(r#"["aud-1","aud-2"]"#).unwrap();
/// let none: Audience = serde_json::from_str("null").unwrap();
/// assert!(matches!(one, Audience::One(a) if a == "aud-1"));
/// assert!(matches!(many, Audience::Many(v) if v.len() == 2));
/// assert!(matches!(none, Audience::None));
/// assert!(serde_json::from_str::<Audience>("[1]").is_err());
/// assert!(serde_json::from_str::<Audience>("{}").is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub enum Audience {
    /// No `aud`.
    #[default]
    None,
    /// One audience.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AudienceVisitor;
        impl<'de> Visitor<'de> for AudienceVisitor {
            type Value = Audience;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience::One(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Audience, E> {
                Ok(Audience::One(v))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Audience, E> {
                Ok(Audience::None)
            }

            fn visit_none<E: de::Error>(self) -> Result<Audience, E> {
                Ok(Audience::None)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut all = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(16));
                while let Some(one) = seq.next_element::<String>()? {
                    all.push(one);
                }
                Ok(Audience::Many(all))
            }
        }
        deserializer.deserialize_any(AudienceVisitor)
    }
}

impl Audience {
    fn contains_any(&self, wanted: &[String]) -> bool {
        match self {
            Audience::None => false,
            Audience::One(a) => wanted.contains(a),
            Audience::Many(list) => list.iter().any(|a| wanted.contains(a)),
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

fn decode(segment: &str, what: &'static str) -> Result<Vec<u8>, AssertionError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AssertionError::Malformed(what))
}

/// Split and decode a compact JWS, refusing any algorithm but `expected` (so `none`, HMAC
/// with a public key, or the other curve never reach a verifier).
pub fn parse_assertion(
    token: &str,
    expected: Algorithm,
) -> Result<ParsedAssertion, AssertionError> {
    if token.len() > MAX_ASSERTION_LEN {
        return Err(AssertionError::TooLong {
            len: token.len(),
            max: MAX_ASSERTION_LEN,
        });
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AssertionError::Malformed(
            "it is not three dot-separated segments",
        ));
    };
    let header: Header = serde_json::from_slice(&decode(header, "the header is not base64url")?)
        .map_err(|_| AssertionError::Malformed("the header is not a JSON object"))?;
    if header.alg != expected.name() {
        return Err(AssertionError::UnsupportedAlgorithm(header.alg));
    }
    if header.crit.is_some() {
        return Err(AssertionError::Malformed(
            "it has critical header parameters",
        ));
    }
    let kid = header
        .kid
        .filter(|k| !k.is_empty() && k.len() <= MAX_KID_LEN)
        .ok_or(AssertionError::Malformed("the header has no usable `kid`"))?;
    let claims: Claims = serde_json::from_slice(&decode(payload, "the payload is not base64url")?)
        .map_err(|_| AssertionError::Malformed("the payload is not a JSON claims object"))?;
    let signature = decode(signature, "the signature is not base64url")?;
    if signature.is_empty() {
        return Err(AssertionError::Malformed("the signature is empty"));
    }
    let signing_input = token[..header_payload_len(token)].to_owned();
    Ok(ParsedAssertion {
        kid,
        claims,
        signing_input,
        signature,
    })
}

fn header_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

/// What the claims must say, per gateway.
///
/// ```
/// use remote_user_filter::ClaimsPolicy;
/// let policy = ClaimsPolicy::new("https://team.cloudflareaccess.com", vec!["aud-tag".into()]);
/// assert_eq!(policy.leeway_secs, 60);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimsPolicy {
    /// The exact `iss`.
    pub issuer: String,
    /// `aud` must contain one of these.
    pub audiences: Vec<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway_secs: u64,
    /// Accept Cloudflare Access service tokens as `service:<common_name>`.
    pub allow_service_tokens: bool,
}

impl ClaimsPolicy {
    /// A policy with 60 s leeway and no service tokens.
    pub fn new(issuer: impl Into<String>, audiences: Vec<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences,
            leeway_secs: 60,
            allow_service_tokens: false,
        }
    }

    /// Check `claims` at `now`; `Ok` is the identity they prove.
    ///
    /// ```
    /// use remote_user_filter::{AssertionError, Claims, ClaimsPolicy};
    /// let policy = ClaimsPolicy::new("iss", vec!["aud".into()]);
    /// let claims: Claims = serde_json::from_str(
    ///     r#"{"iss":"iss","aud":["aud"],"exp":1000,"email":"ann@example.com"}"#).unwrap();
    /// assert_eq!(policy.check(&claims, 900).unwrap(), "ann@example.com");
    /// assert_eq!(policy.check(&claims, 1061).unwrap_err(), AssertionError::Expired);
    /// ```
    pub fn check(&self, claims: &Claims, now: u64) -> Result<String, AssertionError> {
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let leeway = i64::try_from(self.leeway_secs).unwrap_or(0);
        match claims.exp {
            Some(exp) if exp.saturating_add(leeway) > now => {}
            _ => return Err(AssertionError::Expired),
        }
        let future = |t: Option<i64>| t.is_some_and(|t| t.saturating_sub(leeway) > now);
        if future(claims.nbf) || future(claims.iat) {
            return Err(AssertionError::NotYetValid);
        }
        if claims.iss.as_deref() != Some(self.issuer.as_str()) {
            return Err(AssertionError::WrongIssuer);
        }
        if !claims.aud.contains_any(&self.audiences) {
            return Err(AssertionError::WrongAudience);
        }
        if let Some(email) = claims.email.as_deref().filter(|e| !e.trim().is_empty()) {
            return Ok(email.trim().to_owned());
        }
        // As the email: no whitespace at either end, and only whitespace is no name.
        match claims
            .common_name
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            Some(cn) if self.allow_service_tokens => Ok(format!("service:{cn}")),
            Some(_) => Err(AssertionError::ServiceToken),
            None => Err(AssertionError::NoIdentity),
        }
    }
}
