//! Gateway assertions, natively: the rejection matrix, keys fetched/cached/rotated, the
//! verified-token cache, the presets, and the shared-secret filter. Keys are generated here.
#![cfg(not(target_arch = "wasm32"))]

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures::channel::oneshot;
use futures::executor::block_on;
use futures::future::{join_all, FutureExt, Shared};
use http::HeaderMap;
use remote_user_filter::{
    async_trait, Algorithm, AssertionError, AuthError, FilterChain, Gateway, GatewayJwtFilter,
    GatewayPreset, Jwk, JwksSource, KeyCache, KeyError, KeyFormatError, KvUserBackend, ManualClock,
    MemoryStore, Outcome, RemoteUserFilter, RustCryptoVerifier, SessionFilter, SharedSecretFilter,
    SignatureVerifier,
};
use sha2::{Digest, Sha256};

mod common;
use common::keys::*;

const SECRET: &str = "gateway-test-session-secret-0123456789abcdef";
const EMAIL_HEADER: &str = "cf-access-authenticated-user-email";

/// A key set that can change, fail, and counts fetches.
struct TestJwks {
    doc: RefCell<Result<String, String>>,
    fetches: Cell<usize>,
}

impl TestJwks {
    fn new(doc: String) -> Rc<Self> {
        Rc::new(Self {
            doc: RefCell::new(Ok(doc)),
            fetches: Cell::new(0),
        })
    }
    fn set(&self, doc: Result<String, String>) {
        *self.doc.borrow_mut() = doc;
    }
}

#[async_trait(?Send)]
impl JwksSource for TestJwks {
    async fn fetch_jwks(&self) -> Result<String, String> {
        self.fetches.set(self.fetches.get() + 1);
        self.doc.borrow().clone()
    }
}

/// Counts signature checks (so cached tokens can be seen to skip them).
struct Counting {
    calls: Cell<usize>,
}

#[async_trait(?Send)]
impl SignatureVerifier for Counting {
    async fn verify(
        &self,
        alg: Algorithm,
        key: &Jwk,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, KeyFormatError> {
        self.calls.set(self.calls.get() + 1);
        RustCryptoVerifier
            .verify(alg, key, message, signature)
            .await
    }
}

struct Gate {
    chain: FilterChain,
    clock: Rc<ManualClock>,
    jwks: Rc<TestJwks>,
    verifier: Rc<Counting>,
    store: Rc<MemoryStore>,
    header: &'static str,
}

fn gate_with(
    preset: GatewayPreset,
    doc: String,
    tweak: impl FnOnce(
        remote_user_filter::GatewayJwtFilterBuilder,
    ) -> remote_user_filter::GatewayJwtFilterBuilder,
) -> Gate {
    let clock = Rc::new(ManualClock::new(NOW));
    let jwks = TestJwks::new(doc);
    let verifier = Rc::new(Counting {
        calls: Cell::new(0),
    });
    let store = Rc::new(MemoryStore::new());
    let header: &'static str = match preset.gateway {
        Gateway::GoogleIap => "x-goog-iap-jwt-assertion",
        Gateway::Pomerium => "x-pomerium-jwt-assertion",
        _ => "cf-access-jwt-assertion",
    };
    let jwt = tweak(
        GatewayJwtFilter::builder(preset, jwks.clone(), verifier.clone())
            .identity_header(EMAIL_HEADER),
    )
    .build();
    let chain = FilterChain::builder()
        .filter(SessionFilter::builder(SECRET).build())
        .filter(jwt)
        .filter(RemoteUserFilter::new(Rc::new(KvUserBackend::new(
            store.clone(),
        ))))
        .clock(clock.clone())
        .build()
        .expect("valid gateway chain");
    Gate {
        chain,
        clock,
        jwks,
        verifier,
        store,
        header,
    }
}

fn access_gate() -> Gate {
    gate_with(
        GatewayPreset::cloudflare_access(TEAM, vec![AUD.into(), "other-app".into()]),
        jwks(&[rsa_key(0).jwk()]),
        |b| b,
    )
}

impl Gate {
    async fn send(&self, token: Option<&str>, extra: &[(&str, &str)]) -> Outcome {
        let mut headers = HeaderMap::new();
        if let Some(token) = token {
            headers.insert(
                http::HeaderName::from_static(self.header),
                token.parse().unwrap(),
            );
        }
        for (k, v) in extra {
            headers.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        self.chain.handle(headers).await
    }
}

fn user_of(outcome: &Outcome) -> Option<&str> {
    match outcome {
        Outcome::Forward { user, .. } => user.as_ref().map(|u| u.username.as_str()),
        Outcome::Respond { .. } | Outcome::Answer { .. } => None,
    }
}

fn refused(outcome: Outcome) -> (u16, String) {
    match outcome {
        Outcome::Respond { error, set_cookie } => {
            assert!(set_cookie.is_none(), "no session on a refused assertion");
            (error.status(), error.to_string())
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn assertion_error(outcome: Outcome) -> AssertionError {
    match outcome {
        Outcome::Respond {
            error: AuthError::InvalidAssertion(e),
            set_cookie: None,
        } => e,
        other => panic!("expected an invalid assertion, got {other:?}"),
    }
}

#[test]
fn valid_access_jwt_logs_in_once_and_is_cached() {
    block_on(async {
        let g = access_gate();
        let token = rs256(rsa_key(0), &claims("ann@example.com"));
        let first = g
            .send(Some(&token), &[(EMAIL_HEADER, "ann@example.com")])
            .await;
        assert_eq!(user_of(&first), Some("ann@example.com"));
        let cookie = first.set_cookie().expect("one session at login").to_owned();
        assert_eq!((g.jwks.fetches.get(), g.verifier.calls.get()), (1, 1));
        assert_eq!((g.store.reads(), g.store.writes()), (1, 1));

        let pair = cookie.split(';').next().unwrap();
        let again = g.send(Some(&token), &[("cookie", pair)]).await;
        assert_eq!(user_of(&again), Some("ann@example.com"));
        assert!(again.set_cookie().is_none());
        assert_eq!(
            g.verifier.calls.get(),
            1,
            "a repeat token costs a hash, not a verify"
        );
        assert_eq!(g.jwks.fetches.get(), 1);
        assert_eq!((g.store.reads(), g.store.writes()), (1, 1));
    })
}

#[test]
fn plain_header_without_jwt_is_not_trusted() {
    block_on(async {
        let g = access_gate();
        let outcome = g.send(None, &[(EMAIL_HEADER, "ann@example.com")]).await;
        assert_eq!(refused(outcome).0, 401);
        assert_eq!(g.store.reads(), 0);
    })
}

#[test]
fn plain_header_differing_from_the_verified_email_is_403() {
    block_on(async {
        let g = access_gate();
        let token = rs256(rsa_key(0), &claims("ann@example.com"));
        let outcome = g
            .send(Some(&token), &[(EMAIL_HEADER, "mallory@example.com")])
            .await;
        assert!(matches!(
            outcome,
            Outcome::Respond {
                error: AuthError::IdentityMismatch,
                set_cookie: None
            }
        ));
    })
}

#[test]
fn expired() {
    block_on(async {
        let g = access_gate();
        let mut c = claims("ann@example.com");
        c["exp"] = (NOW - 61).into();
        assert_eq!(
            assertion_error(g.send(Some(&rs256(rsa_key(0), &c)), &[]).await),
            AssertionError::Expired
        );
        c["exp"] = (NOW - 59).into();
        assert!(
            user_of(&g.send(Some(&rs256(rsa_key(0), &c)), &[]).await).is_some(),
            "within the 60 s leeway"
        );
        let mut no_exp = claims("ann@example.com");
        no_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(
            assertion_error(g.send(Some(&rs256(rsa_key(0), &no_exp)), &[]).await),
            AssertionError::Expired
        );
    })
}

#[test]
fn not_yet_valid() {
    block_on(async {
        let g = access_gate();
        let mut c = claims("ann@example.com");
        c["nbf"] = (NOW + 120).into();
        assert_eq!(
            assertion_error(g.send(Some(&rs256(rsa_key(0), &c)), &[]).await),
            AssertionError::NotYetValid
        );
    })
}

#[test]
fn beyond_leeway_skew() {
    block_on(async {
        let g = access_gate();
        let mut c = claims("ann@example.com");
        c["iat"] = (NOW + 61).into();
        c["nbf"] = (NOW - 10).into();
        assert_eq!(
            assertion_error(g.send(Some(&rs256(rsa_key(0), &c)), &[]).await),
            AssertionError::NotYetValid
        );
        c["iat"] = (NOW + 59).into();
        assert!(
            user_of(&g.send(Some(&rs256(rsa_key(0), &c)), &[]).await).is_some(),
            "skew within leeway"
        );
    })
}

#[test]
fn wrong_audience() {
    block_on(async {
        let g = access_gate();
        let mut c = claims("ann@example.com");
        c["aud"] = serde_json::json!(["someone-else"]);
        assert_eq!(
            assertion_error(g.send(Some(&rs256(rsa_key(0), &c)), &[]).await),
            AssertionError::WrongAudience
        );
        c["aud"] = serde_json::json!("other-app");
        assert!(
            user_of(&g.send(Some(&rs256(rsa_key(0), &c)), &[]).await).is_some(),
            "a string aud is one of ours"
        );
    })
}

#[test]
fn wrong_issuer() {
    block_on(async {
        let g = access_gate();
        let mut c = claims("ann@example.com");
        c["iss"] = "https://evil.cloudflareaccess.com".into();
        assert_eq!(
            assertion_error(g.send(Some(&rs256(rsa_key(0), &c)), &[]).await),
            AssertionError::WrongIssuer
        );
    })
}

#[test]
fn alg_none() {
    block_on(async {
        let g = access_gate();
        let token = format!(
            "{}.",
            unsigned(
                &serde_json::json!({"alg": "none", "kid": "rsa-1"}),
                &claims("ann@example.com")
            )
        );
        assert_eq!(
            assertion_error(g.send(Some(&token), &[]).await),
            AssertionError::UnsupportedAlgorithm("none".into())
        );
        assert_eq!(g.verifier.calls.get(), 0);
    })
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_refused() {
    block_on(async {
        let g = access_gate();
        let public_pem = rsa_key(0).jwk().to_string();
        let input = unsigned(
            &serde_json::json!({"alg": "HS256", "kid": "rsa-1"}),
            &claims("ann@example.com"),
        );
        let sig = hmac_sha256(public_pem.as_bytes(), input.as_bytes());
        let token = format!("{input}.{}", b64(&sig));
        assert_eq!(
            assertion_error(g.send(Some(&token), &[]).await),
            AssertionError::UnsupportedAlgorithm("HS256".into())
        );
        assert_eq!(g.verifier.calls.get(), 0);
    })
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x36)
        .chain(message.iter().copied())
        .collect();
    let inner = Sha256::digest(&inner);
    let outer: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x5c)
        .chain(inner.iter().copied())
        .collect();
    Sha256::digest(&outer).to_vec()
}

#[test]
fn es256_token_where_rs256_is_required() {
    block_on(async {
        let g = gate_with(
            GatewayPreset::cloudflare_access(TEAM, vec![AUD.into()]),
            jwks(&[rsa_key(0).jwk(), ec_jwk("ec-1")]),
            |b| b,
        );
        let token = es256("ec-1", &claims("ann@example.com"));
        assert_eq!(
            assertion_error(g.send(Some(&token), &[]).await),
            AssertionError::UnsupportedAlgorithm("ES256".into())
        );
        // An RS256 header naming the EC key: the key's type does not match the algorithm.
        let input = unsigned(
            &serde_json::json!({"alg": "RS256", "kid": "ec-1"}),
            &claims("ann@example.com"),
        );
        let token = format!("{input}.{}", b64(&[1u8; 64]));
        assert_eq!(refused(g.send(Some(&token), &[]).await).0, 401);
    })
}

#[test]
fn bad_signature() {
    block_on(async {
        let g = access_gate();
        let good = rs256(rsa_key(0), &claims("ann@example.com"));
        // Same header and claims, signed by another key that claims to be rsa-1.
        let other = RsaKey::claiming(&rsa_key(1).private, "rsa-1");
        let forged = rs256(&other, &claims("ann@example.com"));
        assert_eq!(
            assertion_error(g.send(Some(&forged), &[]).await),
            AssertionError::BadSignature
        );
        // The claims changed after signing.
        let mut parts: Vec<&str> = good.split('.').collect();
        let evil = b64(claims("mallory@example.com").to_string().as_bytes());
        parts[1] = &evil;
        assert_eq!(
            assertion_error(g.send(Some(&parts.join(".")), &[]).await),
            AssertionError::BadSignature
        );
    })
}

fn assert_malformed(cases: &[(String, &'static str)]) {
    block_on(async {
        let g = access_gate();
        for (token, expected) in cases {
            assert_eq!(
                assertion_error(g.send(Some(token), &[]).await),
                AssertionError::Malformed(expected),
                "{token}"
            );
        }
        assert_eq!(
            g.verifier.calls.get(),
            0,
            "refused before any signature check"
        );
    })
}

fn segments() -> (String, String) {
    (
        b64(br#"{"alg":"RS256","kid":"rsa-1"}"#),
        b64(claims("a@b.c").to_string().as_bytes()),
    )
}

#[test]
fn malformed_segments() {
    let (header, claims_b64) = segments();
    let three = "it is not three dot-separated segments";
    assert_malformed(&[
        ("abc".to_string(), three),
        (format!("{header}.{claims_b64}"), three),
        (format!("{header}.{claims_b64}.c2ln.extra"), three),
        (
            format!("{}.{claims_b64}.c2ln", b64(br#"{"alg":"RS256"}"#)),
            "the header has no usable `kid`",
        ),
        (format!("{header}.{claims_b64}."), "the signature is empty"),
    ]);
}

#[test]
fn bad_base64() {
    let (header, claims_b64) = segments();
    assert_malformed(&[
        (
            format!("{header}!.{claims_b64}.c2ln"),
            "the header is not base64url",
        ),
        (
            format!("{header}.{claims_b64}*.c2ln"),
            "the payload is not base64url",
        ),
        (
            format!("{header}.{claims_b64}.c2ln="),
            "the signature is not base64url",
        ),
    ]);
}

#[test]
fn non_json_claims() {
    let (header, claims_b64) = segments();
    let payload = "the payload is not a JSON claims object";
    assert_malformed(&[
        (
            format!("{}.{claims_b64}.c2ln", b64(b"not json")),
            "the header is not a JSON object",
        ),
        (format!("{header}.{}.c2ln", b64(b"not json")), payload),
        (format!("{header}.{}.c2ln", b64(b"[1,2]")), payload),
        (
            format!("{header}.{}.c2ln", b64(br#"{"exp":"soon"}"#)),
            payload,
        ),
    ]);
}

#[test]
fn token_over_16_kib() {
    block_on(async {
        let g = access_gate();
        let mut c = claims("ann@example.com");
        c["pad"] = "x".repeat(16 * 1024).into();
        let token = rs256(rsa_key(0), &c);
        assert!(matches!(
            assertion_error(g.send(Some(&token), &[]).await),
            AssertionError::TooLong { max: 16384, .. }
        ));
    })
}

#[test]
fn empty_header_is_no_identity() {
    block_on(async {
        let g = access_gate();
        let outcome = g.send(Some(""), &[]).await;
        assert!(matches!(
            outcome,
            Outcome::Respond {
                error: AuthError::MissingIdentity,
                ..
            }
        ));
        assert_eq!(g.jwks.fetches.get(), 0);
    })
}

#[test]
fn two_assertion_headers() {
    block_on(async {
        let g = access_gate();
        let token = rs256(rsa_key(0), &claims("ann@example.com"));
        let outcome = g
            .send(Some(&token), &[("cf-access-jwt-assertion", &token)])
            .await;
        assert_eq!(assertion_error(outcome), AssertionError::Duplicate);
        let joined = format!("{token}, {token}");
        assert_eq!(
            assertion_error(g.send(Some(&joined), &[]).await),
            AssertionError::Duplicate
        );
    })
}

#[test]
fn unknown_kid_then_rotation() {
    block_on(async {
        let g = access_gate();
        let old = rs256(rsa_key(0), &claims("ann@example.com"));
        assert!(user_of(&g.send(Some(&old), &[]).await).is_some());
        assert_eq!(g.jwks.fetches.get(), 1);

        // The gateway rotates: rsa-2 is published beside rsa-1. Its first token refetches once.
        g.jwks.set(Ok(jwks(&[rsa_key(0).jwk(), rsa_key(1).jwk()])));
        g.clock.advance(31);
        let new = rs256(rsa_key(1), &claims("bob@example.com"));
        assert_eq!(
            user_of(&g.send(Some(&new), &[]).await),
            Some("bob@example.com")
        );
        assert_eq!(g.jwks.fetches.get(), 2);

        // rsa-1 is withdrawn. Once the key set no longer has it, its cached token is refused.
        g.jwks.set(Ok(jwks(&[rsa_key(1).jwk()])));
        g.clock.advance(3600);
        assert!(
            user_of(&g.send(Some(&new), &[]).await).is_some(),
            "stale set refetched"
        );
        assert_eq!(g.jwks.fetches.get(), 3);
        assert_eq!(
            assertion_error(g.send(Some(&old), &[]).await),
            AssertionError::UnknownKey
        );
    })
}

#[test]
fn forged_kids_cannot_cause_a_fetch_storm() {
    block_on(async {
        let g = access_gate();
        assert!(user_of(
            &g.send(Some(&rs256(rsa_key(0), &claims("a@b.c"))), &[])
                .await
        )
        .is_some());
        for i in 0..50 {
            let forged = RsaKey::claiming(
                &rsa_key(0).private,
                Box::leak(format!("forged-{i}").into_boxed_str()),
            );
            let token = rs256(&forged, &claims("a@b.c"));
            assert_eq!(
                assertion_error(g.send(Some(&token), &[]).await),
                AssertionError::UnknownKey
            );
            g.clock.advance(1);
        }
        // 50 s of forged kids: the first refetch at +30 s, no more.
        assert_eq!(g.jwks.fetches.get(), 2);
    })
}

#[test]
fn jwks_down_warm_cache_serves_cold_cache_is_503() {
    block_on(async {
        let g = access_gate();
        let token = rs256(rsa_key(0), &claims("ann@example.com"));
        assert!(user_of(&g.send(Some(&token), &[]).await).is_some());
        g.jwks.set(Err("connection refused".into()));
        g.clock.advance(7200); // keys stale: a refetch is tried, fails, the cached keys serve
        let fresh = rs256(rsa_key(0), &{
            let mut c = claims("bob@example.com");
            c["exp"] = (NOW + 9000).into();
            c
        });
        assert_eq!(
            user_of(&g.send(Some(&fresh), &[]).await),
            Some("bob@example.com")
        );
        assert_eq!(g.jwks.fetches.get(), 2);

        let cold = access_gate();
        cold.jwks.set(Err("connection refused".into()));
        let outcome = cold.send(Some(&token), &[]).await;
        assert!(matches!(
            outcome,
            Outcome::Respond {
                error: AuthError::KeysUnavailable(_),
                set_cookie: None
            }
        ));
        assert_eq!(refused(cold.send(Some(&token), &[]).await).0, 503);
        assert_eq!(cold.store.reads(), 0);
    })
}

#[test]
fn service_tokens() {
    block_on(async {
        let mut c = claims("");
        c.as_object_mut().unwrap().remove("email");
        c["common_name"] = "client-id.access".into();
        let deny = access_gate();
        assert_eq!(
            assertion_error(deny.send(Some(&rs256(rsa_key(0), &c)), &[]).await),
            AssertionError::ServiceToken
        );
        let allow = gate_with(
            GatewayPreset::cloudflare_access(TEAM, vec![AUD.into()]),
            jwks(&[rsa_key(0).jwk()]),
            |b| b.allow_service_tokens(true),
        );
        let outcome = allow.send(Some(&rs256(rsa_key(0), &c)), &[]).await;
        assert_eq!(user_of(&outcome), Some("service:client-id.access"));
        // Trimmed as the email is (found by fuzzing: `service:*\t\u{b}`); only whitespace is
        // no name.
        let mut padded = c.clone();
        padded["common_name"] = " client-id.access\t\u{b}".into();
        let outcome = allow.send(Some(&rs256(rsa_key(0), &padded)), &[]).await;
        assert_eq!(user_of(&outcome), Some("service:client-id.access"));
        padded["common_name"] = " \t\u{b}".into();
        assert_eq!(
            assertion_error(allow.send(Some(&rs256(rsa_key(0), &padded)), &[]).await),
            AssertionError::NoIdentity
        );
        let mut nobody = c.clone();
        nobody.as_object_mut().unwrap().remove("common_name");
        assert_eq!(
            assertion_error(allow.send(Some(&rs256(rsa_key(0), &nobody)), &[]).await),
            AssertionError::NoIdentity
        );
    })
}

#[test]
fn cookie_fallback_only_when_configured() {
    block_on(async {
        let token = rs256(rsa_key(0), &claims("ann@example.com"));
        let cookie = format!("other=1; CF_Authorization={token}");
        let off = access_gate();
        assert_eq!(refused(off.send(None, &[("cookie", &cookie)]).await).0, 401);
        let on = gate_with(
            GatewayPreset::cloudflare_access(TEAM, vec![AUD.into()]),
            jwks(&[rsa_key(0).jwk()]),
            |b| b.cookie_fallback("CF_Authorization"),
        );
        assert_eq!(
            user_of(&on.send(None, &[("cookie", &cookie)]).await),
            Some("ann@example.com")
        );
    })
}

#[test]
fn google_iap_and_pomerium_presets_verify_es256() {
    block_on(async {
        let iap_aud = "/projects/123/global/backendServices/456";
        let iap = gate_with(
            GatewayPreset::google_iap(vec![iap_aud.into()]),
            jwks(&[ec_jwk("iap-1")]),
            |b| b,
        );
        let mut c = claims("ann@example.com");
        c["iss"] = "https://cloud.google.com/iap".into();
        c["aud"] = iap_aud.into();
        assert_eq!(
            user_of(&iap.send(Some(&es256("iap-1", &c)), &[]).await),
            Some("ann@example.com")
        );
        // An RS256 token is refused by the ES256 preset.
        assert_eq!(
            assertion_error(iap.send(Some(&rs256(rsa_key(0), &c)), &[]).await),
            AssertionError::UnsupportedAlgorithm("RS256".into())
        );

        let pom = gate_with(
            GatewayPreset::pomerium("auth.example.com"),
            jwks(&[ec_jwk("pom-1")]),
            |b| b,
        );
        let mut c = claims("bob@example.com");
        c["iss"] = "auth.example.com".into();
        c["aud"] = "auth.example.com".into();
        assert_eq!(
            user_of(&pom.send(Some(&es256("pom-1", &c)), &[]).await),
            Some("bob@example.com")
        );
        c["aud"] = "other.example.com".into();
        assert_eq!(
            assertion_error(pom.send(Some(&es256("pom-1", &c)), &[]).await),
            AssertionError::WrongAudience
        );
    })
}

/// The native twin of `tests/wasm_verify.rs`'s matrix: jwt-simple's full verification (the
/// reference) and the filter over [`RustCryptoVerifier`] give the same verdict on every token,
/// for RS256 (Cloudflare Access) and ES256 (Pomerium). Two of the wasm matrix's tokens are not
/// here: a `crit` header and a padded payload need a signature over a header or a segment
/// jwt-simple does not write (WebCrypto signs them there).
#[test]
fn jwt_simple_and_the_filter_agree_on_the_rejection_matrix() {
    use jwt_simple::prelude::ES256KeyPair;
    use remote_user_filter::parse_jwks;

    const HOST: &str = "auth.example.com";
    let other_ec = ES256KeyPair::generate();
    type Signer<'a> = Box<dyn Fn(&str, &serde_json::Value) -> String + 'a>;
    let sets: [(GatewayPreset, serde_json::Value, Signer, Signer); 2] = [
        (
            GatewayPreset::cloudflare_access(TEAM, vec![AUD.into()]),
            rsa_key(0).jwk(),
            Box::new(|kid, c| rs256(&RsaKey::claiming(&rsa_key(0).private, leak(kid)), c)),
            Box::new(|kid, c| rs256(&RsaKey::claiming(&rsa_key(1).private, leak(kid)), c)),
        ),
        (
            GatewayPreset::pomerium(HOST),
            ec_jwk("ec-1"),
            Box::new(es256),
            Box::new(|kid, c| es256_by(&other_ec, kid, c)),
        ),
    ];
    let mut seen = (0, 0);
    for (preset, jwk, sign, sign_other) in sets {
        let doc = jwks(std::slice::from_ref(&jwk));
        let key = parse_jwks(&doc).unwrap().remove(0);
        let kid = key.kid.as_str();
        let alg = preset.algorithm.name();
        let mut base = claims("ann@example.com");
        base["iss"] = preset.policy.issuer.clone().into();
        base["aud"] = serde_json::json!([preset.policy.audiences[0]]);
        let with = |edit: &dyn Fn(&mut serde_json::Value)| {
            let mut c = base.clone();
            edit(&mut c);
            c
        };
        let valid = sign(kid, &base);
        let parts: Vec<&str> = valid.split('.').collect();
        let header = serde_json::json!({"alg": alg, "kid": kid, "typ": "JWT"});
        let hs_input = unsigned(&serde_json::json!({"alg": "HS256", "kid": kid}), &base);
        let hs_sig = hmac_sha256(jwk.to_string().as_bytes(), hs_input.as_bytes());
        let padded = {
            use base64::Engine as _;
            let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[2])
                .unwrap();
            base64::engine::general_purpose::URL_SAFE.encode(sig)
        };
        assert!(padded.ends_with('='));
        let tampered = b64(with(&|c| c["email"] = "mallory@example.com".into())
            .to_string()
            .as_bytes());
        let cases = [
            ("valid", valid.clone(), true),
            (
                "valid, 10 KiB of claims",
                sign(kid, &with(&|c| c["pad"] = "x".repeat(10 * 1024).into())),
                true,
            ),
            (
                "alg none",
                format!(
                    "{}.",
                    unsigned(&serde_json::json!({"alg": "none", "kid": kid}), &base)
                ),
                false,
            ),
            (
                "HS256 keyed with the public key",
                format!("{hs_input}.{}", b64(&hs_sig)),
                false,
            ),
            ("signed by another key", sign_other(kid, &base), false),
            ("wrong kid", sign("other", &base), false),
            (
                "wrong iss",
                sign(
                    kid,
                    &with(&|c| c["iss"] = "https://evil.example.com".into()),
                ),
                false,
            ),
            (
                "wrong aud",
                sign(
                    kid,
                    &with(&|c| c["aud"] = serde_json::json!(["another-app"])),
                ),
                false,
            ),
            (
                "expired",
                sign(
                    kid,
                    &with(&|c| {
                        c["iat"] = (NOW - 7200).into();
                        c["nbf"] = (NOW - 7200).into();
                        c["exp"] = (NOW - 3600).into();
                    }),
                ),
                false,
            ),
            (
                "future nbf",
                sign(kid, &with(&|c| c["nbf"] = (NOW + 3600).into())),
                false,
            ),
            (
                "tampered payload",
                format!("{}.{tampered}.{}", parts[0], parts[2]),
                false,
            ),
            (
                "padded signature",
                format!("{}.{}.{padded}", parts[0], parts[1]),
                false,
            ),
            (
                "over 16 KiB",
                sign(kid, &with(&|c| c["pad"] = "x".repeat(17 * 1024).into())),
                false,
            ),
        ];
        assert_eq!(parts[0], b64(header.to_string().as_bytes()));
        let filter = GatewayJwtFilter::builder(
            preset.clone(),
            TestJwks::new(doc.clone()),
            Rc::new(RustCryptoVerifier),
        )
        .build();
        for (name, token, valid) in cases {
            let by_reference = common::reference::jwt_simple_verdict(&preset, &key, &token, NOW);
            let by_filter = block_on(filter.verify(&token, NOW));
            assert_eq!(by_reference, valid, "{alg} {name}: jwt-simple");
            assert_eq!(
                by_filter.is_ok(),
                by_reference,
                "{alg} {name}: the filter ({by_filter:?}) and jwt-simple disagree"
            );
            seen.0 += 1;
            seen.1 += usize::from(valid);
        }
    }
    assert_eq!(seen, (2 * 13, 2 * 2), "(tokens, accepted)");
}

/// A `'static` kid for [`RsaKey`].
fn leak(kid: &str) -> &'static str {
    Box::leak(kid.to_owned().into_boxed_str())
}

#[test]
fn key_cache_refetch_rules() {
    block_on(async {
        let source = TestJwks::new(jwks(&[rsa_key(0).jwk()]));
        let cache = KeyCache::new(source.clone());
        assert!(cache.key("rsa-1", NOW).await.is_ok());
        assert!(cache.key("rsa-1", NOW + 3599).await.is_ok());
        assert_eq!(source.fetches.get(), 1, "fresh for an hour");
        assert!(cache.key("rsa-1", NOW + 3600).await.is_ok());
        assert_eq!(source.fetches.get(), 2, "refetched after the TTL");
        source.set(Ok(r#"{"keys":[{"kty":"oct","kid":"h","k":"AAAA"}]}"#.into()));
        assert!(
            cache.key("rsa-1", NOW + 7300).await.is_ok(),
            "a useless set keeps the old keys"
        );
    })
}

/// The e2e rotation scenario (JWKS_REFETCH_INTERVAL_SECS=3, JWKS_CACHE_TTL_SECS=4) with the
/// clock driven, second by second: an unknown kid fetches from exactly the interval on, keys
/// are fresh up to one second short of the TTL, and a fetch attempted while the server is
/// down keeps the cached keys.
#[test]
fn refetch_interval_and_ttl_boundaries() {
    block_on(async {
        let source = TestJwks::new(jwks(&[rsa_key(0).jwk()]));
        let cache = KeyCache::new(source.clone())
            .with_ttl(4)
            .with_min_refetch_interval(3);
        let unknown = |r: Result<_, KeyError>| matches!(r, Err(KeyError::Unknown));
        assert!(cache.key("rsa-1", NOW).await.is_ok());
        assert_eq!(source.fetches.get(), 1);

        // rsa-2 is published: not fetched one second short of the interval, fetched at it.
        source.set(Ok(jwks(&[rsa_key(0).jwk(), rsa_key(1).jwk()])));
        assert!(unknown(cache.key("rsa-2", NOW + 2).await));
        assert_eq!(source.fetches.get(), 1, "within the interval");
        assert!(cache.key("rsa-2", NOW + 3).await.is_ok());
        assert_eq!(source.fetches.get(), 2, "at the interval");

        // rsa-1 is withdrawn: the set fetched at NOW + 3 serves it up to NOW + 6, not at + 7.
        source.set(Ok(jwks(&[rsa_key(1).jwk()])));
        assert!(cache.key("rsa-1", NOW + 6).await.is_ok());
        assert_eq!(source.fetches.get(), 2, "fresh one second short of the TTL");
        assert!(unknown(cache.key("rsa-1", NOW + 7).await));
        assert_eq!(source.fetches.get(), 3, "stale at the TTL: refetched");

        // The server goes down. An unknown kid within the interval: no attempt; at it: one,
        // which fails, and the keys fetched before still serve.
        source.set(Err("connection refused".into()));
        assert!(unknown(cache.key("forged", NOW + 9).await));
        assert_eq!(source.fetches.get(), 3);
        assert!(unknown(cache.key("forged", NOW + 10).await));
        assert_eq!(source.fetches.get(), 4, "attempted while down");
        assert!(
            cache.key("rsa-2", NOW + 10).await.is_ok(),
            "cached keys kept"
        );
        assert_eq!(source.fetches.get(), 4, "no second attempt in the interval");
    })
}

/// A key server whose fetches can be held in flight until the test releases them; serves
/// `doc` and counts fetches.
struct HeldJwks {
    doc: RefCell<Result<String, String>>,
    gate: RefCell<Option<Shared<oneshot::Receiver<()>>>>,
    fetches: Cell<usize>,
}

impl HeldJwks {
    fn new(doc: Result<String, String>) -> Rc<Self> {
        Rc::new(Self {
            doc: RefCell::new(doc),
            gate: RefCell::new(None),
            fetches: Cell::new(0),
        })
    }

    /// Hold every fetch from now on until the returned sender is used.
    fn hold(&self) -> oneshot::Sender<()> {
        let (release, held) = oneshot::channel();
        *self.gate.borrow_mut() = Some(held.shared());
        release
    }
}

#[async_trait(?Send)]
impl JwksSource for HeldJwks {
    async fn fetch_jwks(&self) -> Result<String, String> {
        self.fetches.set(self.fetches.get() + 1);
        let gate = self.gate.borrow().clone();
        if let Some(gate) = gate {
            gate.await
                .map_err(|_| "the test dropped the release".to_owned())?;
        }
        self.doc.borrow().clone()
    }
}

/// Issue 9: a cold isolate gets 8 requests while its first key fetch is in flight. All wait
/// for that one fetch; none is turned away by the refetch throttle.
#[test]
fn concurrent_verifies_share_the_one_key_fetch_in_flight() {
    block_on(async {
        let source = HeldJwks::new(Ok(jwks(&[rsa_key(0).jwk()])));
        let release = source.hold();
        let filter = GatewayJwtFilter::builder(
            GatewayPreset::cloudflare_access(TEAM, vec![AUD.into()]),
            source.clone(),
            Rc::new(RustCryptoVerifier),
        )
        .build();
        let expected: Vec<String> = (0..8).map(|i| format!("user{i}@example.com")).collect();
        let tokens: Vec<String> = expected
            .iter()
            .map(|email| rs256(rsa_key(0), &claims(email)))
            .collect();
        let mut all = join_all(tokens.iter().map(|t| filter.verify(t, NOW))).boxed_local();
        assert!(
            (&mut all).now_or_never().is_none(),
            "the fetch is held, so the verifies wait"
        );
        assert_eq!(source.fetches.get(), 1, "one fetch started");
        release.send(()).unwrap();
        let identities: Result<Vec<String>, String> = all
            .await
            .into_iter()
            .map(|r| r.map(|id| id.to_string()).map_err(|e| e.to_string()))
            .collect();
        assert_eq!(identities, Ok(expected));
        assert_eq!(source.fetches.get(), 1, "exactly one fetch for all 8");
    })
}

/// The shared fetch keeps the old rules: its failure is every waiter's 503 with the reason,
/// callers within the refetch interval after it do not fetch again (and get that reason), a
/// known kid in a fresh set never waits, and kids the fetched set lacks are unknown (one
/// fetch for any number of them).
#[test]
fn waiters_share_a_failed_fetch_and_a_refetch_for_unknown_kids() {
    block_on(async {
        let source = HeldJwks::new(Err("connection refused".into()));
        let release = source.hold();
        let cache = KeyCache::new(source.clone());
        let mut all = join_all((0..4).map(|_| cache.key("rsa-1", NOW))).boxed_local();
        assert!((&mut all).now_or_never().is_none());
        release.send(()).unwrap();
        for result in all.await {
            assert_eq!(
                result.unwrap_err().to_string(),
                "the gateway's signing keys are unavailable: connection refused"
            );
        }
        assert_eq!(
            cache.key("rsa-1", NOW + 29).await.unwrap_err().to_string(),
            "the gateway's signing keys are unavailable: connection refused",
            "within the refetch interval: no fetch, the last failure's reason"
        );
        assert_eq!(source.fetches.get(), 1, "throttled after the failure");

        *source.doc.borrow_mut() = Ok(jwks(&[rsa_key(0).jwk()]));
        assert_eq!(cache.key("rsa-1", NOW + 30).await.unwrap().kid, "rsa-1");
        assert_eq!((source.fetches.get(), cache.generation()), (2, 1));

        let release = source.hold();
        let mut forged =
            join_all(["forged-1", "forged-2"].map(|kid| cache.key(kid, NOW + 60))).boxed_local();
        assert!((&mut forged).now_or_never().is_none());
        assert_eq!(
            cache
                .key("rsa-1", NOW + 60)
                .now_or_never()
                .map(|k| k.map(|k| k.kid.clone())),
            Some(Ok("rsa-1".to_owned())),
            "a known kid in a fresh set does not wait for the refetch"
        );
        release.send(()).unwrap();
        for result in forged.await {
            assert_eq!(result.unwrap_err(), KeyError::Unknown);
        }
        assert_eq!((source.fetches.get(), cache.generation()), (3, 2));
    })
}

/// A caller that gives up while its fetch is in flight (its future dropped) does not leave
/// the others waiting for ever: they are released and, within the refetch interval, get
/// what is cached (nothing: 503) without a second fetch.
#[test]
fn waiters_are_released_when_the_fetching_caller_is_dropped() {
    block_on(async {
        let source = HeldJwks::new(Ok(jwks(&[rsa_key(0).jwk()])));
        let _release = source.hold();
        let cache = KeyCache::new(source.clone());
        let mut fetching = cache.key("rsa-1", NOW).boxed_local();
        let mut waiting = cache.key("rsa-1", NOW).boxed_local();
        assert!((&mut fetching).now_or_never().is_none());
        assert!(
            (&mut waiting).now_or_never().is_none(),
            "the second caller waits for the fetch in flight"
        );
        drop(fetching);
        assert_eq!(
            waiting.await.unwrap_err().to_string(),
            "the gateway's signing keys are unavailable: not fetched yet; retrying shortly"
        );
        assert_eq!(source.fetches.get(), 1);
    })
}

/// A fetch still in flight after the whole refetch interval is presumed lost (in workerd a
/// request cancelled mid-fetch never resumes): callers within the interval wait for it, the
/// first caller after it starts another, and every caller gets the key.
#[test]
fn a_fetch_in_flight_for_the_whole_refetch_interval_is_replaced() {
    block_on(async {
        let source = HeldJwks::new(Ok(jwks(&[rsa_key(0).jwk()])));
        let release = source.hold();
        let cache = KeyCache::new(source.clone());
        let mut first = cache.key("rsa-1", NOW).boxed_local();
        let mut waiting = cache.key("rsa-1", NOW + 29).boxed_local();
        assert!((&mut first).now_or_never().is_none());
        assert!(
            (&mut waiting).now_or_never().is_none(),
            "within the interval: waits for the fetch in flight"
        );
        assert_eq!(source.fetches.get(), 1);
        let mut later = cache.key("rsa-1", NOW + 30).boxed_local();
        assert!((&mut later).now_or_never().is_none());
        assert_eq!(source.fetches.get(), 2, "after it: a new fetch");
        release.send(()).unwrap();
        let kids: Vec<Result<String, KeyError>> = join_all([first, waiting, later])
            .await
            .into_iter()
            .map(|k| k.map(|k| k.kid.clone()))
            .collect();
        assert_eq!(kids, vec![Ok("rsa-1".to_owned()); 3]);
        assert_eq!(source.fetches.get(), 2);
    })
}

#[test]
fn shared_secret_filter_gates_everything_after_it() {
    block_on(async {
        let store = Rc::new(MemoryStore::new());
        let chain = FilterChain::builder()
            .filter(SessionFilter::builder(SECRET).build())
            .filter(SharedSecretFilter::new(
                "X-Gateway-Secret",
                Some("a-long-random-gateway-secret".into()),
            ))
            .filter(
                RemoteUserFilter::builder(Rc::new(KvUserBackend::new(store.clone())))
                    .header("X-Auth-Request-Email")
                    .build(),
            )
            .clock(ManualClock::new(NOW))
            .build()
            .unwrap();
        let send = |secret: Option<&'static str>| {
            let mut h = HeaderMap::new();
            h.insert("x-auth-request-email", "ann@example.com".parse().unwrap());
            if let Some(s) = secret {
                h.insert("x-gateway-secret", s.parse().unwrap());
            }
            chain.handle(h)
        };
        for bad in [
            None,
            Some("wrong"),
            Some("a-long-random-gateway-secreT"),
            Some(""),
        ] {
            let outcome = send(bad).await;
            assert!(
                matches!(
                    outcome,
                    Outcome::Respond {
                        error: AuthError::NotFromGateway,
                        set_cookie: None
                    }
                ),
                "{bad:?}: {outcome:?}"
            );
        }
        assert_eq!(store.reads(), 0, "nothing else ran");
        assert_eq!(
            user_of(&send(Some("a-long-random-gateway-secret")).await),
            Some("ann@example.com")
        );
    })
}

/// The secret is compared as SHA-256 digests (fixed size, constant time): a value of another
/// length (a prefix, the secret and more, the secret twice) is refused like any wrong one.
#[test]
fn shared_secret_of_another_length_is_refused() {
    {
        const GATEWAY_SECRET: &str = "a-long-random-gateway-secret";
        let filter = SharedSecretFilter::new("X-Gateway-Secret", Some(GATEWAY_SECRET.into()));
        let admits = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert("x-gateway-secret", value.parse().unwrap());
            let mut req = remote_user_filter::AuthRequest::new(h, NOW);
            block_on(remote_user_filter::Filter::call(&filter, &mut req)).is_ok()
        };
        assert!(admits(GATEWAY_SECRET));
        let longer = format!("{GATEWAY_SECRET}x");
        let twice = GATEWAY_SECRET.repeat(2);
        for bad in [
            &GATEWAY_SECRET[..GATEWAY_SECRET.len() - 1],
            &GATEWAY_SECRET[..1],
            longer.as_str(),
            twice.as_str(),
        ] {
            assert!(!admits(bad), "{} bytes: admitted", bad.len());
        }
    }
}
