//! RS256/ES256 verification with the runtime's WebCrypto (`crypto.subtle`), wasm32 only.
//! Each key is imported once and kept (bounded) beside the key set; claims checks stay in
//! Rust and are shared with the native verifier.
//!
//! ```no_run
//! use std::rc::Rc;
//! use remote_user_filter::gateway::webcrypto::WebCryptoVerifier;
//! let verifier = Rc::new(WebCryptoVerifier::default());
//! # let _ = verifier;
//! ```

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;

use async_trait::async_trait;
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto, WorkerGlobalScope};

use super::verify::b64;
use crate::gateway::Algorithm;
use crate::gateway::{Jwk, PublicKey};
use crate::gateway::{KeyFormatError, SignatureVerifier, MIN_RSA_BITS};

/// Imported keys kept at most (a JWKS holds a handful).
const MAX_IMPORTED_KEYS: usize = 64;

/// Verifies with `crypto.subtle.verify`, importing each JWK once.
///
/// ```no_run
/// let v = remote_user_filter::gateway::webcrypto::WebCryptoVerifier::default();
/// # let _ = v;
/// ```
#[derive(Debug, Default)]
pub struct WebCryptoVerifier {
    /// By `kid`: the JWK key it was imported from, and the imported key. A hit costs a
    /// lookup by `kid` and one comparison of the material, nothing crossing into JS.
    imported: RefCell<HashMap<String, (PublicKey, CryptoKey)>>,
    /// The `verify` algorithm arguments, built once each.
    rs256: OnceCell<Object>,
    es256: OnceCell<Object>,
}

fn object(pairs: &[(&str, JsValue)]) -> Result<Object, KeyFormatError> {
    let obj = Object::new();
    for (k, v) in pairs {
        Reflect::set(&obj, &JsValue::from_str(k), v)
            .map_err(|_| KeyFormatError("cannot build a WebCrypto argument".into()))?;
    }
    Ok(obj)
}

fn subtle() -> Result<SubtleCrypto, KeyFormatError> {
    let global: WorkerGlobalScope = js_sys::global().unchecked_into();
    global
        .crypto()
        .map(|c| c.subtle())
        .map_err(|_| KeyFormatError("WebCrypto is not available".into()))
}

fn algorithm(alg: Algorithm) -> Result<(Object, Object), KeyFormatError> {
    let s = JsValue::from_str;
    Ok(match alg {
        Algorithm::Rs256 => {
            let a = object(&[("name", s("RSASSA-PKCS1-v1_5")), ("hash", s("SHA-256"))])?;
            (a.clone(), a)
        }
        Algorithm::Es256 => (
            object(&[("name", s("ECDSA")), ("namedCurve", s("P-256"))])?,
            object(&[("name", s("ECDSA")), ("hash", s("SHA-256"))])?,
        ),
    })
}

impl WebCryptoVerifier {
    fn cached(&self, key: &Jwk) -> Option<CryptoKey> {
        let imported = self.imported.borrow();
        let (from, crypto_key) = imported.get(&key.kid)?;
        (*from == key.key).then(|| crypto_key.clone())
    }

    async fn import(&self, alg: Algorithm, key: &Jwk) -> Result<CryptoKey, KeyFormatError> {
        if let Some(found) = self.cached(key) {
            return Ok(found);
        }
        let s = JsValue::from_str;
        let jwk = match &key.key {
            PublicKey::Rsa { n, e } => {
                if b64("n", n)?.len() * 8 < MIN_RSA_BITS {
                    return Err(KeyFormatError(format!(
                        "RSA key is fewer than {MIN_RSA_BITS} bits"
                    )));
                }
                object(&[("kty", s("RSA")), ("n", s(n)), ("e", s(e))])?
            }
            PublicKey::P256 { x, y } => object(&[
                ("kty", s("EC")),
                ("crv", s("P-256")),
                ("x", s(x)),
                ("y", s(y)),
            ])?,
        };
        let (import_alg, _) = algorithm(alg)?;
        let usages = Array::of1(&s("verify"));
        let promise = subtle()?
            .import_key_with_object("jwk", &jwk, &import_alg, false, &usages)
            .map_err(|_| KeyFormatError("WebCrypto refused the key".into()))?;
        let imported: CryptoKey = JsFuture::from(promise)
            .await
            .map_err(|_| KeyFormatError("WebCrypto refused the key".into()))?
            .unchecked_into();
        let mut cache = self.imported.borrow_mut();
        if cache.len() >= MAX_IMPORTED_KEYS {
            cache.clear();
        }
        cache.insert(key.kid.clone(), (key.key.clone(), imported.clone()));
        Ok(imported)
    }

    fn verify_algorithm(&self, alg: Algorithm) -> Result<Object, KeyFormatError> {
        let cell = match alg {
            Algorithm::Rs256 => &self.rs256,
            Algorithm::Es256 => &self.es256,
        };
        if let Some(found) = cell.get() {
            return Ok(found.clone());
        }
        let (_, verify_alg) = algorithm(alg)?;
        Ok(cell.get_or_init(|| verify_alg).clone())
    }
}

#[async_trait(?Send)]
impl SignatureVerifier for WebCryptoVerifier {
    async fn verify(
        &self,
        alg: Algorithm,
        key: &Jwk,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, KeyFormatError> {
        if key.algorithm() != alg {
            return Ok(false);
        }
        if alg == Algorithm::Es256 && signature.len() != 64 {
            return Ok(false);
        }
        let crypto_key = self.import(alg, key).await?;
        let verify_alg = self.verify_algorithm(alg)?;
        let promise = subtle()?
            .verify_with_object_and_u8_array_and_u8_array(
                &verify_alg,
                &crypto_key,
                signature,
                message,
            )
            .map_err(|_| KeyFormatError("WebCrypto could not verify".into()))?;
        Ok(JsFuture::from(promise)
            .await
            .map_err(|_| KeyFormatError("WebCrypto could not verify".into()))?
            .as_bool()
            .unwrap_or(false))
    }
}
