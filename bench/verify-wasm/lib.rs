//! The crate's two signature verifiers as wasm exports, for bench/verify.mjs: `setup` once
//! with a key, a signed message and its signature, then `rust(n)` (pure Rust) or
//! `webcrypto(n)` (crypto.subtle, awaited one call at a time as the worker's cache misses are)
//! check that signature `n` times and return how many verified.

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use remote_user_filter::gateway::webcrypto::WebCryptoVerifier;
use remote_user_filter::{Algorithm, Jwk, PublicKey, RustCryptoVerifier, SignatureVerifier};
use wasm_bindgen::prelude::*;

struct Input {
    alg: Algorithm,
    key: Jwk,
    message: Vec<u8>,
    signature: Vec<u8>,
}

thread_local! {
    static INPUT: RefCell<Option<std::rc::Rc<Input>>> = const { RefCell::new(None) };
    static WEB: std::rc::Rc<WebCryptoVerifier> = std::rc::Rc::new(WebCryptoVerifier::default());
}

fn input() -> std::rc::Rc<Input> {
    INPUT.with(|i| i.borrow().clone()).expect("setup() first")
}

/// `alg` is "RS256" (`a`, `b` = n, e) or "ES256" (`a`, `b` = x, y); base64url as in a JWK.
#[wasm_bindgen]
pub fn setup(alg: &str, a: String, b: String, message: Vec<u8>, signature: Vec<u8>) {
    let (alg, key) = match alg {
        "RS256" => (Algorithm::Rs256, PublicKey::Rsa { n: a, e: b }),
        "ES256" => (Algorithm::Es256, PublicKey::P256 { x: a, y: b }),
        other => panic!("unknown algorithm {other}"),
    };
    let key = Jwk {
        kid: "bench".into(),
        key,
    };
    INPUT.with(|i| {
        *i.borrow_mut() = Some(std::rc::Rc::new(Input {
            alg,
            key,
            message,
            signature,
        }))
    });
}

/// The pure-Rust verifier `n` times; its future is ready at once (no I/O), polled once here.
#[wasm_bindgen]
pub fn rust(n: u32) -> u32 {
    let input = input();
    let mut cx = Context::from_waker(Waker::noop());
    let mut ok = 0;
    for _ in 0..n {
        let fut =
            RustCryptoVerifier.verify(input.alg, &input.key, &input.message, &input.signature);
        match pin!(fut).poll(&mut cx) {
            Poll::Ready(Ok(true)) => ok += 1,
            Poll::Ready(_) => {}
            Poll::Pending => panic!("the pure-Rust verifier is never pending"),
        }
    }
    ok
}

/// WebCrypto `n` times, one awaited call after another (the key imported on the first).
#[wasm_bindgen]
pub fn webcrypto(n: u32) -> js_sys::Promise {
    let input = input();
    let verifier = WEB.with(|w| w.clone());
    wasm_bindgen_futures::future_to_promise(async move {
        let mut ok = 0u32;
        for _ in 0..n {
            if let Ok(true) = verifier
                .verify(input.alg, &input.key, &input.message, &input.signature)
                .await
            {
                ok += 1;
            }
        }
        Ok(JsValue::from(ok))
    })
}
