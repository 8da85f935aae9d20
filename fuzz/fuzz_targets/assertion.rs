//! The gateway assertion parser (`parse_assertion`) and claims checks (`ClaimsPolicy::check`),
//! on any token and on tokens built from fuzzed header and claims, then the stock chain
//! (`session,gateway_jwt,remote_user`, Cloudflare Access) with a stand-in verifier that
//! accepts the signature `valid` under `kid` `k1` only. Invariants: a parsed token re-encodes
//! to itself; an identity the checks return is trimmed and non-empty and the claims allow it;
//! the chain forwards a user only for a verified assertion whose claims check out for that
//! very identity, and only when the identity header, if sent, says the same.
#![no_main]

use std::rc::Rc;

use arbitrary::Arbitrary;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use remote_user_filter::{
    async_trait, parse_assertion, Algorithm, Audience, Jwk, JwksSource, KeyFormatError,
    ManualClock, MemoryStore, Outcome, SignatureVerifier, StockSettings, MAX_IDENTITY_LEN,
};
use remote_user_filter_fuzz::{assert_status, assert_upstream, IDENTITY, NOW, SESSION_SECRET};
use serde_json::{json, Value};

const TEAM: &str = "team.cloudflareaccess.com";
const ISS: &str = "https://team.cloudflareaccess.com";

#[derive(Arbitrary, Debug)]
enum Text {
    Iss,
    Aud1,
    Aud2,
    Email,
    Other(String),
}

impl Text {
    fn get(&self) -> String {
        match self {
            Text::Iss => ISS.into(),
            Text::Aud1 => "aud-1".into(),
            Text::Aud2 => "aud-2".into(),
            Text::Email => "ann@example.com".into(),
            Text::Other(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Aud {
    Absent,
    Null,
    One(Text),
    Many(Vec<Text>),
    Number(i64),
}

#[derive(Arbitrary, Debug)]
enum Header {
    Rs256 { kid: Option<Text> },
    Alg(String, Option<String>),
    Crit,
    Json(String),
}

#[derive(Arbitrary, Debug)]
enum Payload {
    Claims {
        iss: Option<Text>,
        aud: Aud,
        exp: Option<i32>,
        nbf: Option<i32>,
        iat: Option<i32>,
        email: Option<Text>,
        common_name: Option<String>,
        float_exp: bool,
    },
    Json(String),
}

#[derive(Arbitrary, Debug)]
enum Signature {
    Valid,
    Bytes(Vec<u8>),
    Segment(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    raw: Option<String>,
    header: Header,
    payload: Payload,
    signature: Signature,
    now: u16,
    leeway: u16,
    service_tokens: bool,
    identity_header: Option<Vec<u8>>,
}

fn rel(t: i32) -> Value {
    json!(i64::try_from(NOW).unwrap_or(0) + i64::from(t))
}

impl Input {
    fn token(&self) -> String {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        let header = match &self.header {
            Header::Rs256 { kid } => match kid {
                Some(kid) => json!({"alg": "RS256", "kid": kid.get()}).to_string(),
                None => json!({"alg": "RS256"}).to_string(),
            },
            Header::Alg(alg, kid) => json!({"alg": alg, "kid": kid}).to_string(),
            Header::Crit => json!({"alg": "RS256", "kid": "k1", "crit": ["exp"]}).to_string(),
            Header::Json(s) => s.clone(),
        };
        let payload = match &self.payload {
            Payload::Claims {
                iss,
                aud,
                exp,
                nbf,
                iat,
                email,
                common_name,
                float_exp,
            } => {
                let mut claims = serde_json::Map::new();
                if let Some(iss) = iss {
                    claims.insert("iss".into(), json!(iss.get()));
                }
                match aud {
                    Aud::Absent => {}
                    Aud::Null => {
                        claims.insert("aud".into(), Value::Null);
                    }
                    Aud::One(a) => {
                        claims.insert("aud".into(), json!(a.get()));
                    }
                    Aud::Many(list) => {
                        let list: Vec<String> = list.iter().map(Text::get).collect();
                        claims.insert("aud".into(), json!(list));
                    }
                    Aud::Number(n) => {
                        claims.insert("aud".into(), json!(n));
                    }
                }
                if let Some(exp) = exp {
                    let value = if *float_exp {
                        json!(NOW as f64 + f64::from(*exp) + 0.5)
                    } else {
                        rel(*exp)
                    };
                    claims.insert("exp".into(), value);
                }
                if let Some(nbf) = nbf {
                    claims.insert("nbf".into(), rel(*nbf));
                }
                if let Some(iat) = iat {
                    claims.insert("iat".into(), rel(*iat));
                }
                if let Some(email) = email {
                    claims.insert("email".into(), json!(email.get()));
                }
                if let Some(cn) = common_name {
                    claims.insert("common_name".into(), json!(cn));
                }
                Value::Object(claims).to_string()
            }
            Payload::Json(s) => s.clone(),
        };
        let signature = match &self.signature {
            Signature::Valid => URL_SAFE_NO_PAD.encode(b"valid"),
            Signature::Bytes(b) => URL_SAFE_NO_PAD.encode(b),
            Signature::Segment(s) => s.clone(),
        };
        format!(
            "{}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        )
    }
}

struct Keys;

#[async_trait(?Send)]
impl JwksSource for Keys {
    async fn fetch_jwks(&self) -> Result<String, String> {
        Ok(r#"{"keys":[{"kty":"RSA","kid":"k1","n":"AQAB","e":"AQAB"}]}"#.into())
    }
}

/// Accepts the signature `valid` by `k1`, nothing else.
struct Stand;

#[async_trait(?Send)]
impl SignatureVerifier for Stand {
    async fn verify(
        &self,
        alg: Algorithm,
        key: &Jwk,
        _message: &[u8],
        signature: &[u8],
    ) -> Result<bool, KeyFormatError> {
        Ok(alg == Algorithm::Rs256 && key.kid == "k1" && signature == b"valid")
    }
}

fuzz_target!(|input: Input| {
    let token = input.token();
    let now = NOW + u64::from(input.now);
    let leeway = u64::from(input.leeway % 301);
    let settings = StockSettings::from_vars(|name| match name {
        "AUTH_FILTERS" => Some("session,gateway_jwt,remote_user".into()),
        "ACCESS_TEAM_DOMAIN" => Some(TEAM.into()),
        "ACCESS_AUD" => Some("aud-1,aud-2".into()),
        "JWT_LEEWAY_SECS" => Some(leeway.to_string()),
        "ALLOW_SERVICE_TOKENS" => Some(input.service_tokens.to_string()),
        _ => None,
    })
    .expect("valid settings");
    let policy = &settings.gateway.policy;

    // The parser and the checks alone.
    let parsed = parse_assertion(&token, Algorithm::Rs256);
    let mut proven = None;
    if let Ok(parsed) = &parsed {
        assert!(!parsed.kid.is_empty() && parsed.kid.len() <= 256);
        assert!(!parsed.signature.is_empty());
        assert_eq!(
            format!(
                "{}.{}",
                parsed.signing_input,
                URL_SAFE_NO_PAD.encode(&parsed.signature)
            ),
            token,
            "a parsed token is its segments again"
        );
        if let Ok(id) = policy.check(&parsed.claims, now) {
            let c = &parsed.claims;
            assert!(!id.is_empty() && id.trim() == id, "{id:?}");
            assert_eq!(c.iss.as_deref(), Some(ISS));
            let exp = c.exp.expect("an exp");
            assert!(exp.saturating_add(leeway as i64) > now as i64);
            let aud_ok = match &c.aud {
                Audience::One(a) => policy.audiences.contains(a),
                Audience::Many(list) => list.iter().any(|a| policy.audiences.contains(a)),
                _ => false,
            };
            assert!(aud_ok, "{:?}", c.aud);
            if id.starts_with("service:") && c.email.as_deref().is_none_or(|e| e.trim().is_empty())
            {
                assert!(input.service_tokens);
            }
            if parsed.kid == "k1" && parsed.signature == b"valid" {
                proven = Some(id);
            }
        }
    }

    // The stock chain.
    let Ok(value) = HeaderValue::from_str(&token) else {
        return;
    };
    let chain = settings
        .chain(MemoryStore::new())
        .session_secret(SESSION_SECRET.to_string())
        .clock(ManualClock::new(now))
        .jwks(Rc::new(Keys))
        .verifier(Rc::new(Stand))
        .build()
        .expect("a valid chain");
    let mut headers = HeaderMap::new();
    headers.insert("cf-access-jwt-assertion", value);
    let plain = input
        .identity_header
        .as_deref()
        .and_then(|v| HeaderValue::from_bytes(v).ok());
    if let Some(plain) = &plain {
        headers.insert(IDENTITY, plain.clone());
    }
    let outcome = futures::executor::block_on(chain.handle(headers));
    assert_status(&outcome);
    match &outcome {
        Outcome::Forward {
            user: Some(user),
            gateway_headers,
            set_cookie,
            ..
        } => {
            let id = proven
                .as_deref()
                .expect("forwarded without a verified assertion");
            assert_eq!(
                user.username, id,
                "forwarded another identity than the assertion's"
            );
            assert!(user.username.len() <= MAX_IDENTITY_LEN);
            assert!(*gateway_headers);
            assert!(set_cookie.is_some(), "a first request logs in");
            if let Some(plain) = &plain {
                let plain = std::str::from_utf8(plain.as_bytes()).expect("the same identity");
                assert!(plain.trim().eq_ignore_ascii_case(id));
            }
            assert_upstream(user);
        }
        Outcome::Forward { user: None, .. } => panic!("ANONYMOUS=deny forwarded no one"),
        Outcome::Respond { set_cookie, .. } => assert!(set_cookie.is_none()),
        Outcome::Answer { .. } => panic!("no endpoint at /"),
    }
});
