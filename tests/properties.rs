//! Property tests (proptest, 256 cases each): a session issued then verified round-trips; a
//! single flipped bit in a session cookie or in a gateway assertion (RS256 and ES256, the
//! native verifier) is refused; the identity headers the origin is sent are valid header
//! values that percent-decode back to the identity.
#![cfg(not(target_arch = "wasm32"))]

use std::rc::Rc;

use futures::executor::block_on;
use http::{HeaderMap, HeaderValue};
use percent_encoding::percent_decode_str;
use proptest::prelude::*;
use remote_user_filter::session::token::{SessionClaims, SessionKey};
use remote_user_filter::{
    async_trait, AuthRequest, Filter, GatewayJwtFilter, GatewayPreset, JwksSource,
    RustCryptoVerifier, SessionUser, UpstreamHeaders, MAX_IDENTITY_LEN,
};

mod common;
use common::keys::*;

const SESSION_SECRET: &[u8] = b"property-test-session-secret-0123456789";

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any text of at most `max` bytes: every Unicode scalar, controls and `%` included.
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..=max).prop_map(move |chars| {
        let mut s = String::new();
        for c in chars {
            if s.len() + c.len_utf8() > max {
                break;
            }
            s.push(c);
        }
        s
    })
}

/// A user within the limits: a non-empty username and an email of at most 320 bytes, up to
/// eight groups (group names never hold a comma: those are skipped before a session).
fn user() -> impl Strategy<Value = SessionUser> {
    (
        text(MAX_IDENTITY_LEN).prop_filter("a username is never empty", |u| !u.is_empty()),
        proptest::option::of(text(MAX_IDENTITY_LEN)),
        proptest::collection::vec(
            text(64).prop_filter("no comma, not empty", |g| !g.is_empty() && !g.contains(',')),
            0..8,
        ),
    )
        .prop_map(|(username, email, groups)| SessionUser {
            username,
            email,
            groups,
            backend: "KvUserBackend".into(),
        })
}

/// `token` with bit `bit` (0..=6, so it stays ASCII) of byte `index % len` flipped.
fn flip(token: &str, index: usize, bit: u8) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let i = index % bytes.len();
    bytes[i] ^= 1 << bit;
    String::from_utf8(bytes).expect("ASCII stays ASCII")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_session_issued_then_verified_round_trips(user in user(), sid in "[A-Za-z0-9_-]{22}", ttl in 1u64..=86_400) {
        let key = SessionKey::new(SESSION_SECRET).unwrap();
        let claims = SessionClaims::new(user, sid, NOW, ttl);
        let token = key.sign(&claims);
        prop_assert_eq!(key.verify(&token, NOW), Some(claims.clone()));
        prop_assert_eq!(key.verify(&token, NOW + ttl), Some(claims));
    }

    #[test]
    fn a_session_cookie_with_one_bit_flipped_is_refused(user in user(), index in any::<usize>(), bit in 0u8..7) {
        let key = SessionKey::new(SESSION_SECRET).unwrap();
        let token = key.sign(&SessionClaims::new(user, "sid".into(), NOW, 3600));
        let flipped = flip(&token, index, bit);
        prop_assert!(key.verify(&flipped, NOW).is_none(), "accepted: {}", flipped);
    }

    #[test]
    fn an_assertion_with_one_bit_flipped_is_refused(rsa in any::<bool>(), email in "[a-z0-9.]{1,40}@example\\.com", index in any::<usize>(), bit in 0u8..7) {
        // Cloudflare Access signs RS256; Google IAP ES256.
        let (preset, doc, token) = if rsa {
            let preset = GatewayPreset::cloudflare_access(TEAM, vec![AUD.into()]);
            (preset, jwks(&[rsa_key(0).jwk()]), rs256(rsa_key(0), &claims(&email)))
        } else {
            let mut claims = claims(&email);
            claims["iss"] = "https://cloud.google.com/iap".into();
            let preset = GatewayPreset::google_iap(vec![AUD.into()]);
            (preset, jwks(&[ec_jwk("ec-1")]), es256("ec-1", &claims))
        };
        let header = preset.header.clone();
        let filter = gateway(preset, doc);
        prop_assert!(admits(&filter, &header, &token), "the untouched assertion passes");
        let flipped = flip(&token, index, bit);
        prop_assert!(!admits(&filter, &header, &flipped), "accepted: {}", flipped);
    }

    #[test]
    fn identity_headers_are_valid_and_decode_back(user in user()) {
        let upstream = UpstreamHeaders::default();
        let headers = upstream.identity_headers(&user);
        for (_, value) in &headers {
            prop_assert!(HeaderValue::from_str(value).is_ok(), "not a header value: {:?}", value);
            // The runtime's `Headers` trims spaces and tabs at either end: none may be there.
            prop_assert_eq!(value.trim_matches([' ', '\t']), value.as_str());
        }
        let decode = |v: &str| percent_decode_str(v).decode_utf8().map(|s| s.into_owned());
        prop_assert_eq!(headers[0].0, "x-remote-user");
        prop_assert_eq!(decode(&headers[0].1).ok(), Some(user.username.clone()));
        let mut rest = headers[1..].iter();
        if let Some(email) = &user.email {
            let (name, value) = rest.next().unwrap();
            prop_assert_eq!(*name, "x-remote-user-email");
            prop_assert_eq!(decode(value).ok(), Some(email.clone()));
        }
        if !user.groups.is_empty() {
            let (name, value) = rest.next().unwrap();
            prop_assert_eq!(*name, "x-remote-user-groups");
            // Commas separate the groups (a group never holds one), then each decodes.
            let groups: Vec<String> = value.split(',').map(|g| decode(g).unwrap()).collect();
            prop_assert_eq!(&groups, &user.groups);
        }
        prop_assert!(rest.next().is_none());
    }
}

/// Serves one JWKS document.
struct Fixed(String);

#[async_trait(?Send)]
impl JwksSource for Fixed {
    async fn fetch_jwks(&self) -> Result<String, String> {
        Ok(self.0.clone())
    }
}

fn gateway(preset: GatewayPreset, doc: String) -> GatewayJwtFilter {
    GatewayJwtFilter::builder(preset, Rc::new(Fixed(doc)), Rc::new(RustCryptoVerifier)).build()
}

/// Whether the filter lets a request with `token` in its `header` through.
fn admits(filter: &GatewayJwtFilter, header: &str, token: &str) -> bool {
    let Ok(value) = HeaderValue::from_str(token) else {
        return false;
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        http::HeaderName::from_bytes(header.as_bytes()).unwrap(),
        value,
    );
    let mut req = AuthRequest::new(headers, NOW);
    block_on(filter.call(&mut req)).is_ok()
}

/// Every bit (0..=6) of every byte of one session cookie, and of the bytes at either end of
/// each segment of one RS256 and one ES256 assertion (and the dots), flipped in turn: all
/// refused. The random cases above rarely land on the last character of a segment, whose
/// low bits base64url may leave unused.
#[test]
fn every_single_bit_flip_is_refused() {
    let key = SessionKey::new(SESSION_SECRET).unwrap();
    let user = SessionUser {
        username: "ann".into(),
        email: Some("ann@example.com".into()),
        groups: vec!["ops".into()],
        backend: "KvUserBackend".into(),
    };
    let token = key.sign(&SessionClaims::new(user, "sid".into(), NOW, 3600));
    let mut iap_claims = claims("ann@example.com");
    iap_claims["iss"] = "https://cloud.google.com/iap".into();
    let access = GatewayPreset::cloudflare_access(TEAM, vec![AUD.into()]);
    let iap = GatewayPreset::google_iap(vec![AUD.into()]);
    let assertions = [
        (
            access.header.clone(),
            gateway(access, jwks(&[rsa_key(0).jwk()])),
            rs256(rsa_key(0), &claims("ann@example.com")),
        ),
        (
            iap.header.clone(),
            gateway(iap, jwks(&[ec_jwk("ec-1")])),
            es256("ec-1", &iap_claims),
        ),
    ];
    let mut accepted = Vec::new();
    for index in 0..token.len() {
        for bit in 0..7 {
            let flipped = flip(&token, index, bit);
            if key.verify(&flipped, NOW).is_some() {
                accepted.push(format!("cookie byte {index} bit {bit}"));
            }
        }
    }
    for (header, filter, token) in &assertions {
        assert!(admits(filter, header, token));
        let mut ends = Vec::new();
        let mut start = 0;
        for segment in token.split('.') {
            let end = start + segment.len();
            ends.extend((start..end).take(2).chain((start..end).rev().take(4)));
            ends.push(end); // the dot after it (or, for the last, nothing: skipped below)
            start = end + 1;
        }
        for index in ends.into_iter().filter(|&i| i < token.len()) {
            for bit in 0..7 {
                if admits(filter, header, &flip(token, index, bit)) {
                    accepted.push(format!("{header} byte {index} bit {bit}"));
                }
            }
        }
    }
    assert!(accepted.is_empty(), "{accepted:?}");
}
