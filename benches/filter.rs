//! Native micro-benchmarks: the steady-state decision, a login with an in-memory backend,
//! session cookie issue and verify, RS256/ES256 assertion verify (cold and cached), JWKS parse.
//! `cargo bench --bench filter`; results and machine in BENCHMARKS.md.

#[cfg(not(target_arch = "wasm32"))]
#[path = "../tests/common/keys.rs"]
mod keys;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::cell::Cell;
    use std::rc::Rc;

    use criterion::{criterion_group, BatchSize, Criterion};
    use futures::executor::block_on;
    use http::HeaderMap;
    use remote_user_filter::session::token::SessionKey;
    use remote_user_filter::{
        async_trait, login, parse_jwks, AuthRequest, Filter, FilterChain, GatewayJwtFilter,
        GatewayPreset, JwksSource, KvUserBackend, ManualClock, MemoryStore, Outcome,
        RemoteUserFilter, RustCryptoVerifier, SessionFilter, SharedSecretFilter, User,
    };

    use super::keys::*;

    const SECRET: &str = "bench-session-secret-0123456789abcdef0123";
    const GW: &str = "a-long-random-gateway-secret";

    struct Static(String);
    #[async_trait(?Send)]
    impl JwksSource for Static {
        async fn fetch_jwks(&self) -> Result<String, String> {
            Ok(self.0.clone())
        }
    }

    fn header_chain(store: Rc<MemoryStore>) -> FilterChain {
        FilterChain::builder()
            .filter(SessionFilter::builder(SECRET).build())
            .filter(SharedSecretFilter::new("X-Gateway-Secret", Some(GW.into())))
            .filter(RemoteUserFilter::new(Rc::new(KvUserBackend::new(store))))
            .clock(ManualClock::new(NOW))
            .build()
            .unwrap()
    }

    fn headers(identity: &str, cookie: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "cf-access-authenticated-user-email",
            identity.parse().unwrap(),
        );
        h.insert("x-gateway-secret", GW.parse().unwrap());
        if let Some(c) = cookie {
            h.insert("cookie", c.parse().unwrap());
        }
        h
    }

    fn decisions(c: &mut Criterion) {
        let store = Rc::new(MemoryStore::new());
        let chain = header_chain(store.clone());
        let Outcome::Forward {
            set_cookie: Some(cookie),
            ..
        } = block_on(chain.handle(headers("ann@example.com", None)))
        else {
            panic!("login expected")
        };
        let pair = cookie.split(';').next().unwrap().to_owned();
        let steady = headers("ann@example.com", Some(&pair));
        c.bench_function("decision/steady_state_header_mode", |b| {
            b.iter(|| {
                let outcome = block_on(chain.handle(steady.clone()));
                assert!(outcome.set_cookie().is_none());
            })
        });
        let n = Cell::new(0u64);
        c.bench_function("decision/login_new_user_in_memory", |b| {
            b.iter_batched(
                || {
                    n.set(n.get() + 1);
                    headers(&format!("user{}@example.com", n.get()), None)
                },
                |h| {
                    let outcome = block_on(chain.handle(h));
                    assert!(outcome.set_cookie().is_some());
                },
                BatchSize::SmallInput,
            )
        });
    }

    fn sessions(c: &mut Criterion) {
        let sessions = SessionFilter::builder(SECRET).build();
        let backend = KvUserBackend::new(MemoryStore::new());
        c.bench_function("session/issue_cookie_at_login", |b| {
            b.iter(|| {
                let mut req = AuthRequest::new(HeaderMap::new(), NOW);
                block_on(sessions.call(&mut req)).unwrap();
                block_on(login(&mut req, User::new("ann@example.com"), &backend)).unwrap();
                assert!(req.set_cookie().is_some());
            })
        });
        let mut req = AuthRequest::new(HeaderMap::new(), NOW);
        block_on(sessions.call(&mut req)).unwrap();
        block_on(login(&mut req, User::new("ann@example.com"), &backend)).unwrap();
        let pair = req
            .set_cookie()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let mut with_cookie = HeaderMap::new();
        with_cookie.insert("cookie", pair.parse().unwrap());
        // The same cookie again: the verified-cookie cache answers.
        c.bench_function("session/verify_cookie_cached", |b| {
            b.iter(|| {
                let mut req = AuthRequest::new(with_cookie.clone(), NOW);
                block_on(sessions.call(&mut req)).unwrap();
                assert!(req.is_authenticated());
            })
        });
        // First sight of a cookie: HMAC check, base64 and JSON, as on a cache miss.
        let key = SessionKey::new(SECRET.as_bytes()).unwrap();
        let token = pair.split_once('=').unwrap().1.to_owned();
        c.bench_function("session/verify_cookie_first_sight", |b| {
            b.iter(|| assert!(key.verify(&token, NOW).is_some()))
        });
    }

    fn filter_for(preset: GatewayPreset, doc: String) -> GatewayJwtFilter {
        GatewayJwtFilter::builder(preset, Rc::new(Static(doc)), Rc::new(RustCryptoVerifier)).build()
    }

    fn assertions(c: &mut Criterion) {
        let rs_doc = jwks(&[rsa_key(0).jwk()]);
        let rs_token = rs256(rsa_key(0), &claims("ann@example.com"));
        let access = || GatewayPreset::cloudflare_access(TEAM, vec![AUD.into()]);
        let warm = filter_for(access(), rs_doc.clone());
        block_on(warm.verify(&rs_token, NOW)).unwrap();
        c.bench_function("assertion/rs256_cached", |b| {
            b.iter(|| block_on(warm.verify(&rs_token, NOW)).unwrap())
        });
        // Cold: a new token each time (keys already fetched): parse, claims, RSA verify.
        let n = Cell::new(0u64);
        c.bench_function("assertion/rs256_cold_pure_rust", |b| {
            b.iter_batched(
                || {
                    n.set(n.get() + 1);
                    rs256(rsa_key(0), &claims(&format!("u{}@example.com", n.get())))
                },
                |token| block_on(warm.verify(&token, NOW)).unwrap(),
                BatchSize::SmallInput,
            )
        });
        let iap_aud = "/projects/1/global/backendServices/2";
        let mut es_claims = claims("ann@example.com");
        es_claims["iss"] = "https://cloud.google.com/iap".into();
        es_claims["aud"] = iap_aud.into();
        let es = filter_for(
            GatewayPreset::google_iap(vec![iap_aud.into()]),
            jwks(&[ec_jwk("ec-1")]),
        );
        let es_token = es256("ec-1", &es_claims);
        block_on(es.verify(&es_token, NOW)).unwrap();
        c.bench_function("assertion/es256_cached", |b| {
            b.iter(|| block_on(es.verify(&es_token, NOW)).unwrap())
        });
        c.bench_function("assertion/es256_cold_pure_rust", |b| {
            b.iter_batched(
                || {
                    n.set(n.get() + 1);
                    let mut c = es_claims.clone();
                    c["email"] = format!("u{}@example.com", n.get()).into();
                    es256("ec-1", &c)
                },
                |token| block_on(es.verify(&token, NOW)).unwrap(),
                BatchSize::SmallInput,
            )
        });
        let doc = jwks(&[rsa_key(0).jwk(), rsa_key(1).jwk(), ec_jwk("ec-1")]);
        c.bench_function("jwks/parse_3_keys", |b| {
            b.iter(|| parse_jwks(&doc).unwrap())
        });
    }

    criterion_group!(benches, decisions, sessions, assertions);
}

#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_main!(native::benches);

#[cfg(target_arch = "wasm32")]
fn main() {}
