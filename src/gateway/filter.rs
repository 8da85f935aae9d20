//! Proof that a request came through the gateway: [`GatewayJwtFilter`] verifies the signed
//! assertion (Cloudflare Access, Google IAP, Pomerium) and hands the verified identity to
//! the remote-user filters; [`SharedSecretFilter`] checks a shared secret header for gateways
//! that sign nothing (oauth2-proxy, Authelia, Tailscale, nginx).
//!
//! ```
//! use std::rc::Rc;
//! use remote_user_filter::{async_trait, GatewayJwtFilter, GatewayPreset, JwksSource, RustCryptoVerifier};
//!
//! struct Loopback;
//! #[async_trait(?Send)]
//! impl JwksSource for Loopback {
//!     async fn fetch_jwks(&self) -> Result<String, String> { Ok(r#"{"keys":[]}"#.into()) }
//! }
//!
//! let preset = GatewayPreset::cloudflare_access("myteam.cloudflareaccess.com", vec!["aud-tag".into()]);
//! assert_eq!(preset.jwks_url, "https://myteam.cloudflareaccess.com/cdn-cgi/access/certs");
//! let filter = GatewayJwtFilter::builder(preset, Rc::new(Loopback), Rc::new(RustCryptoVerifier)).build();
//! # let _ = filter;
//! ```

use std::cell::RefCell;
use std::rc::Rc;

use async_trait::async_trait;
use cookie::Cookie;
use http::HeaderName;
use subtle::ConstantTimeEq;

use super::assertion::{parse_assertion, Algorithm, AssertionError, ClaimsPolicy};
use super::jwks::{JwksSource, KeyCache, KeyError, KeyFetch};
use super::verify::SignatureVerifier;
use crate::chain::{AuthRequest, Filter, FilterKind, GatewayAssertion, Position};
use crate::error::{AuthError, ConfigProblem};
use crate::support::bounded::BoundedMap;

/// The most leeway a configuration may ask for.
pub const MAX_LEEWAY_SECS: u64 = 300;
/// How many verified tokens are remembered per isolate.
pub const TOKEN_CACHE_ENTRIES: usize = 1024;
/// Longer tokens are verified on every request, never remembered (real assertions are about
/// 1 KiB): the cache keeps whole tokens, so this bounds its memory (4 MiB at most).
const CACHED_TOKEN_MAX_LEN: usize = 4096;

/// Which gateway signs the assertions: the preset's behaviour (its settings' names, its
/// sign-out) is chosen by this, never by a name string.
///
/// ```
/// use remote_user_filter::{Gateway, GatewayPreset};
/// assert_eq!(GatewayPreset::pomerium("auth.example.com").gateway, Gateway::Pomerium);
/// assert_eq!(Gateway::GoogleIap.name(), "google_iap");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Gateway {
    /// Cloudflare Access.
    CloudflareAccess,
    /// Google Cloud Identity-Aware Proxy.
    GoogleIap,
    /// Pomerium.
    Pomerium,
}

impl Gateway {
    /// The name the `GATEWAY` setting uses for it.
    pub fn name(self) -> &'static str {
        match self {
            Gateway::CloudflareAccess => "cloudflare_access",
            Gateway::GoogleIap => "google_iap",
            Gateway::Pomerium => "pomerium",
        }
    }

    /// The settings that name its issuer and its audiences, for configuration errors.
    fn settings(self) -> (&'static str, &'static str) {
        match self {
            Gateway::CloudflareAccess => ("ACCESS_TEAM_DOMAIN", "ACCESS_AUD"),
            Gateway::GoogleIap => ("ACCESS_AUD", "ACCESS_AUD"),
            Gateway::Pomerium => ("POMERIUM_HOST", "POMERIUM_HOST"),
        }
    }

    /// An example issuer setting, for configuration errors.
    fn example_issuer(self) -> &'static str {
        match self {
            Gateway::Pomerium => "auth.example.com",
            Gateway::CloudflareAccess | Gateway::GoogleIap => "myteam.cloudflareaccess.com",
        }
    }
}

/// Which gateway, and so which header, algorithm, issuer and key set.
///
/// ```
/// use remote_user_filter::{Algorithm, GatewayPreset};
/// let iap = GatewayPreset::google_iap(vec!["/projects/1/global/backendServices/2".into()]);
/// assert_eq!(iap.algorithm, Algorithm::Es256);
/// assert_eq!(iap.policy.issuer, "https://cloud.google.com/iap");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GatewayPreset {
    /// The gateway it is for.
    pub gateway: Gateway,
    /// The header carrying the assertion.
    pub header: String,
    /// The one algorithm accepted.
    pub algorithm: Algorithm,
    /// Where the keys are.
    pub jwks_url: String,
    /// Issuer, audiences, leeway, service tokens.
    pub policy: ClaimsPolicy,
}

impl GatewayPreset {
    /// Cloudflare Access: `Cf-Access-Jwt-Assertion`, RS256, keys from
    /// `https://<team>/cdn-cgi/access/certs`, `iss` = `https://<team>`, `aud` one of the
    /// application AUD tags.
    pub fn cloudflare_access(team_domain: &str, audiences: Vec<String>) -> Self {
        let team = team_domain
            .trim()
            .trim_start_matches("https://")
            .trim_end_matches('/');
        Self {
            gateway: Gateway::CloudflareAccess,
            header: "Cf-Access-Jwt-Assertion".into(),
            algorithm: Algorithm::Rs256,
            jwks_url: format!("https://{team}/cdn-cgi/access/certs"),
            policy: ClaimsPolicy::new(format!("https://{team}"), audiences),
        }
    }

    /// Google IAP: `x-goog-iap-jwt-assertion`, ES256, `iss` `https://cloud.google.com/iap`.
    pub fn google_iap(audiences: Vec<String>) -> Self {
        Self {
            gateway: Gateway::GoogleIap,
            header: "x-goog-iap-jwt-assertion".into(),
            algorithm: Algorithm::Es256,
            jwks_url: "https://www.gstatic.com/iap/verify/public_key-jwk".into(),
            policy: ClaimsPolicy::new("https://cloud.google.com/iap", audiences),
        }
    }

    /// Pomerium: `X-Pomerium-Jwt-Assertion`, ES256, keys from
    /// `https://<host>/.well-known/pomerium/jwks.json`, `iss` and `aud` = the host.
    pub fn pomerium(host: &str) -> Self {
        let host = host
            .trim()
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .to_owned();
        Self {
            gateway: Gateway::Pomerium,
            header: "X-Pomerium-Jwt-Assertion".into(),
            algorithm: Algorithm::Es256,
            jwks_url: format!("https://{host}/.well-known/pomerium/jwks.json"),
            policy: ClaimsPolicy::new(host.clone(), vec![host]),
        }
    }
}

/// What a verified token proved, and what each hit re-checks (expiry, its key still live).
struct CachedToken {
    identity: Rc<str>,
    kid: String,
    generation: u64,
    exp: i64,
}

/// Verifies the gateway's signed assertion; the remote-user filters after it use the
/// verified identity instead of the raw header. A request with no assertion carries no
/// identity; a bad one is refused (401); no keys at all is a 503, never a pass.
///
/// ```
/// use std::rc::Rc;
/// use remote_user_filter::{async_trait, GatewayJwtFilter, GatewayPreset, JwksSource, RustCryptoVerifier};
/// # struct S;
/// # #[async_trait(?Send)]
/// # impl JwksSource for S { async fn fetch_jwks(&self) -> Result<String, String> { Err("x".into()) } }
/// let filter = GatewayJwtFilter::builder(
///     GatewayPreset::pomerium("auth.example.com"), Rc::new(S), Rc::new(RustCryptoVerifier))
///     .leeway_secs(30)
///     .build();
/// # let _ = filter;
/// ```
pub struct GatewayJwtFilter {
    preset: GatewayPreset,
    header: Option<HeaderName>,
    cookie_fallback: Option<String>,
    identity_header: Option<HeaderName>,
    keys: KeyCache,
    verifier: Rc<dyn SignatureVerifier>,
    cache: RefCell<BoundedMap<CachedToken>>,
}

impl std::fmt::Debug for GatewayJwtFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayJwtFilter")
            .field("preset", &self.preset)
            .field("cookie_fallback", &self.cookie_fallback)
            .field("keys", &self.keys)
            .finish()
    }
}

/// Builds a [`GatewayJwtFilter`].
///
/// ```
/// use std::rc::Rc;
/// use remote_user_filter::{async_trait, GatewayJwtFilter, GatewayPreset, JwksSource, RustCryptoVerifier};
/// # struct S;
/// # #[async_trait(?Send)]
/// # impl JwksSource for S { async fn fetch_jwks(&self) -> Result<String, String> { Err("x".into()) } }
/// let filter = GatewayJwtFilter::builder(
///     GatewayPreset::cloudflare_access("t.cloudflareaccess.com", vec!["aud".into()]),
///     Rc::new(S), Rc::new(RustCryptoVerifier))
///     .cookie_fallback("CF_Authorization")
///     .identity_header("Cf-Access-Authenticated-User-Email")
///     .build();
/// # let _ = filter;
/// ```
pub struct GatewayJwtFilterBuilder {
    preset: GatewayPreset,
    source: Rc<dyn JwksSource>,
    verifier: Rc<dyn SignatureVerifier>,
    cookie_fallback: Option<String>,
    identity_header: Option<String>,
    key_ttl_secs: u64,
    min_refetch_secs: u64,
}

impl std::fmt::Debug for GatewayJwtFilterBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayJwtFilterBuilder")
            .field("preset", &self.preset)
            .finish()
    }
}

impl GatewayJwtFilterBuilder {
    /// Clock skew tolerated on `exp`/`nbf`/`iat` (default 60 s, at most 300).
    pub fn leeway_secs(mut self, secs: u64) -> Self {
        self.preset.policy.leeway_secs = secs;
        self
    }

    /// Accept Cloudflare Access service tokens as `service:<common_name>`.
    pub fn allow_service_tokens(mut self, allow: bool) -> Self {
        self.preset.policy.allow_service_tokens = allow;
        self
    }

    /// Read the assertion from this cookie when the header is absent (Access's
    /// `CF_Authorization`). Off by default.
    pub fn cookie_fallback(mut self, name: impl Into<String>) -> Self {
        self.cookie_fallback = Some(name.into());
        self
    }

    /// A plain identity header the gateway also sends; if present and different from the
    /// verified identity, the request is refused (403).
    pub fn identity_header(mut self, name: impl Into<String>) -> Self {
        self.identity_header = Some(name.into());
        self
    }

    /// How long fetched keys are trusted (default one hour).
    pub fn key_ttl_secs(mut self, secs: u64) -> Self {
        self.key_ttl_secs = secs;
        self
    }

    /// Fetch keys at most once per `secs` (default 30), however many unknown `kid`s arrive.
    pub fn min_refetch_secs(mut self, secs: u64) -> Self {
        self.min_refetch_secs = secs;
        self
    }

    /// The filter. Settings are checked when the chain is built.
    pub fn build(self) -> GatewayJwtFilter {
        GatewayJwtFilter {
            header: HeaderName::from_bytes(self.preset.header.as_bytes()).ok(),
            identity_header: self
                .identity_header
                .and_then(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
            preset: self.preset,
            cookie_fallback: self.cookie_fallback,
            keys: KeyCache::new(self.source)
                .with_ttl(self.key_ttl_secs)
                .with_min_refetch_interval(self.min_refetch_secs),
            verifier: self.verifier,
            cache: RefCell::new(BoundedMap::new(TOKEN_CACHE_ENTRIES, CACHED_TOKEN_MAX_LEN)),
        }
    }
}

impl GatewayJwtFilter {
    /// A builder for `preset`, fetching keys from `source`, verifying with `verifier`.
    pub fn builder(
        preset: GatewayPreset,
        source: Rc<dyn JwksSource>,
        verifier: Rc<dyn SignatureVerifier>,
    ) -> GatewayJwtFilterBuilder {
        GatewayJwtFilterBuilder {
            preset,
            source,
            verifier,
            cookie_fallback: None,
            identity_header: None,
            key_ttl_secs: crate::gateway::DEFAULT_KEY_TTL_SECS,
            min_refetch_secs: crate::gateway::MIN_REFETCH_INTERVAL_SECS,
        }
    }

    /// The preset in use.
    pub fn preset(&self) -> &GatewayPreset {
        &self.preset
    }

    /// The assertion from the header (or the fallback cookie), if any.
    fn assertion(&self, req: &AuthRequest) -> Result<Option<String>, AuthError> {
        let invalid = AuthError::InvalidAssertion;
        if let Some(name) = &self.header {
            let mut values = req.headers().get_all(name).iter();
            if let Some(value) = values.next() {
                if values.next().is_some() {
                    return Err(invalid(AssertionError::Duplicate));
                }
                let text = std::str::from_utf8(value.as_bytes())
                    .map_err(|_| invalid(AssertionError::Malformed("it is not text")))?
                    .trim();
                // Two headers joined by a proxy arrive as `a, b`; a JWS has no comma.
                if text.contains(',') {
                    return Err(invalid(AssertionError::Duplicate));
                }
                return Ok((!text.is_empty()).then(|| text.to_owned()));
            }
        }
        let Some(cookie_name) = &self.cookie_fallback else {
            return Ok(None);
        };
        Ok(req
            .headers()
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == cookie_name)
            .map(|c| c.value().to_owned())
            .filter(|v| !v.is_empty()))
    }

    /// Verify `token` at `now`: the identity it proves.
    pub async fn verify(&self, token: &str, now: u64) -> Result<Rc<str>, AuthError> {
        self.verify_reporting(token, now, &mut None).await
    }

    /// [`verify`](GatewayJwtFilter::verify), telling `fetched` of the key fetch this call
    /// made, if it made one ([`KeyCache::key_reporting`](crate::KeyCache::key_reporting)).
    async fn verify_reporting(
        &self,
        token: &str,
        now: u64,
        fetched: &mut Option<KeyFetch>,
    ) -> Result<Rc<str>, AuthError> {
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        let leeway = i64::try_from(self.preset.policy.leeway_secs).unwrap_or(0);
        {
            let mut cache = self.cache.borrow_mut();
            if let Some(hit) = cache.get(token) {
                // Valid while unexpired and signed by a key still in a fresh key set; a stale
                // set sends the token down the full path, which refetches (throttled).
                let key_live = self.keys.is_fresh(now)
                    && (hit.generation == self.keys.generation() || self.keys.has(&hit.kid));
                if hit.exp.saturating_add(leeway) > now_i && key_live {
                    return Ok(Rc::clone(&hit.identity));
                }
                cache.remove(token);
            }
        }
        let parsed = parse_assertion(token, self.preset.algorithm)?;
        // Claims first: a stale or foreign token costs no key fetch and no signature check.
        let identity = self.preset.policy.check(&parsed.claims, now)?;
        let key = self
            .keys
            .key_reporting(&parsed.kid, now, fetched)
            .await
            .map_err(|e| match e {
                KeyError::Unknown => AuthError::InvalidAssertion(AssertionError::UnknownKey),
                KeyError::Unavailable(why) => AuthError::KeysUnavailable(why),
            })?;
        if key.algorithm() != self.preset.algorithm {
            return Err(AuthError::InvalidAssertion(
                AssertionError::UnsupportedAlgorithm(self.preset.algorithm.name().to_owned()),
            ));
        }
        let valid = self
            .verifier
            .verify(
                self.preset.algorithm,
                &key,
                parsed.signing_input.as_bytes(),
                &parsed.signature,
            )
            .await
            .map_err(|e| AuthError::KeysUnavailable(e.to_string()))?;
        if !valid {
            return Err(AuthError::InvalidAssertion(AssertionError::BadSignature));
        }
        let identity: Rc<str> = identity.into();
        self.cache.borrow_mut().insert(
            token,
            CachedToken {
                identity: Rc::clone(&identity),
                kid: parsed.kid,
                generation: self.keys.generation(),
                exp: parsed.claims.exp.unwrap_or(0),
            },
        );
        Ok(identity)
    }
}

/// Whether keys may be fetched from `url`: https to any host, or plain http to a loopback host
/// (`localhost`, 127.0.0.0/8, `[::1]`), parsed rather than matched by prefix
/// (`http://localhost@evil.example` goes to evil.example); never with userinfo.
///
/// `http::Uri` splits the URL (scheme, authority, host, port), `Ipv4Addr` reads a loopback
/// address. What is accepted of the host stays narrow, checked here: letters, digits, `.`
/// and `-`, or `[::1]` spelled so.
pub(crate) fn jwks_url_allowed(url: &str) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return false,
    };
    let Some(authority) = uri.authority() else {
        return false;
    };
    let host = authority.host();
    // After the host only a port, a number that fits (userinfo would come before it).
    let port_ok = match authority.as_str().strip_prefix(host) {
        Some("") => true,
        Some(_) => authority.port_u16().is_some(),
        None => false,
    };
    if !port_ok {
        return false;
    }
    let name_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if https {
        return name_ok || host == "[::1]";
    }
    let loopback_v4 = host
        .parse::<std::net::Ipv4Addr>()
        .is_ok_and(|ip| ip.is_loopback());
    host.eq_ignore_ascii_case("localhost") || host == "[::1]" || loopback_v4
}

#[async_trait(?Send)]
impl Filter for GatewayJwtFilter {
    fn kind(&self) -> FilterKind {
        FilterKind::Gateway
    }

    fn check(&self, position: &Position<'_>) -> Result<(), ConfigProblem> {
        let policy = &self.preset.policy;
        let (issuer_setting, aud_setting) = self.preset.gateway.settings();
        let blank_issuer = policy.issuer.is_empty()
            || policy.issuer == "https://"
            || !policy.issuer.trim_start_matches("https://").contains('.');
        if blank_issuer {
            return Err(ConfigProblem::MissingSetting {
                setting: issuer_setting,
                example: self.preset.gateway.example_issuer(),
            });
        }
        if policy.audiences.iter().all(|a| a.trim().is_empty()) {
            return Err(ConfigProblem::MissingSetting {
                setting: aud_setting,
                example: "the application's AUD tag (comma-separate several)",
            });
        }
        if policy.leeway_secs > MAX_LEEWAY_SECS {
            return Err(ConfigProblem::InvalidValue {
                setting: "JWT_LEEWAY_SECS",
                value: policy.leeway_secs.to_string(),
                expected: "at most 300 seconds",
            });
        }
        if !jwks_url_allowed(&self.preset.jwks_url) {
            return Err(ConfigProblem::InvalidValue {
                setting: "JWKS_URL",
                value: self.preset.jwks_url.clone(),
                expected: "an https URL, or plain http only to localhost, 127.0.0.0/8 or [::1] \
                           (for tests), with no `user@` before the host",
            });
        }
        if position.before().contains(&FilterKind::RemoteUser) {
            return Err(ConfigProblem::MustPrecede {
                filter: "RemoteUserFilter",
            });
        }
        Ok(())
    }

    fn headers_read(&self) -> Option<Vec<HeaderName>> {
        let mut names: Vec<HeaderName> = self
            .header
            .iter()
            .chain(&self.identity_header)
            .cloned()
            .collect();
        if self.cookie_fallback.is_some() {
            names.push(http::header::COOKIE);
        }
        Some(names)
    }

    async fn call(&self, req: &mut AuthRequest) -> Result<(), AuthError> {
        let Some(token) = self.assertion(req)? else {
            req.set_gateway_assertion(GatewayAssertion::Absent);
            return Ok(());
        };
        let mut fetched = None;
        let verified = self.verify_reporting(&token, req.now(), &mut fetched).await;
        if let Some(fetch) = fetched {
            req.record_event(fetch.event());
        }
        let identity = verified?;
        if let Some(name) = &self.identity_header {
            if let Some(plain) = req.headers().get(name) {
                let same = std::str::from_utf8(plain.as_bytes())
                    .is_ok_and(|p| p.trim().eq_ignore_ascii_case(&identity));
                if !same {
                    return Err(AuthError::IdentityMismatch);
                }
            }
        }
        req.set_gateway_assertion(GatewayAssertion::Verified(identity.to_string()));
        // Kept for the identity provider's groups (`ACCESS_FETCH_IDENTITY`): never logged,
        // never forwarded.
        req.set_verified_assertion(token.into());
        Ok(())
    }
}

/// For gateways that sign nothing: the gateway adds a header with a shared secret; requests
/// without it (or with another value) get 401 and nothing else runs. Compared in constant
/// time, length included: the SHA-256 digests of the header and of the secret are compared,
/// so a value of another length takes the same path as a wrong one of the same length.
///
/// ```
/// use remote_user_filter::{AuthRequest, Filter, SharedSecretFilter};
/// # futures::executor::block_on(async {
/// let filter = SharedSecretFilter::new("X-Gateway-Secret", Some("a-long-random-gateway-secret".into()));
/// let mut req = AuthRequest::new(http::HeaderMap::new(), 0);
/// assert_eq!(filter.call(&mut req).await.unwrap_err().status(), 401);
/// # });
/// ```
pub struct SharedSecretFilter {
    header: String,
    header_name: Option<HeaderName>,
    secret: Option<Vec<u8>>,
    /// SHA-256 of `secret`: what a header's digest is compared with.
    secret_digest: Option<[u8; 32]>,
}

impl std::fmt::Debug for SharedSecretFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSecretFilter")
            .field("header", &self.header)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// The shortest gateway secret accepted, in bytes.
pub const MIN_GATEWAY_SECRET_LEN: usize = 16;

impl SharedSecretFilter {
    /// Expect `secret` in header `header`.
    pub fn new(header: impl Into<String>, secret: Option<String>) -> Self {
        let header = header.into();
        let secret = secret.map(String::into_bytes);
        Self {
            header_name: HeaderName::from_bytes(header.as_bytes()).ok(),
            header,
            secret_digest: secret.as_deref().map(sha256),
            secret,
        }
    }
}

#[async_trait(?Send)]
impl Filter for SharedSecretFilter {
    fn kind(&self) -> FilterKind {
        FilterKind::Gateway
    }

    fn check(&self, position: &Position<'_>) -> Result<(), ConfigProblem> {
        if self.header_name.is_none() {
            return Err(ConfigProblem::InvalidHeaderName {
                setting: "GATEWAY_SECRET_HEADER",
                value: self.header.clone(),
            });
        }
        ConfigProblem::check_secret(
            "GATEWAY_SECRET",
            self.secret.as_ref().map(Vec::len),
            MIN_GATEWAY_SECRET_LEN,
        )?;
        if position.before().contains(&FilterKind::RemoteUser) {
            return Err(ConfigProblem::MustPrecede {
                filter: "RemoteUserFilter",
            });
        }
        Ok(())
    }

    fn headers_read(&self) -> Option<Vec<HeaderName>> {
        Some(self.header_name.iter().cloned().collect())
    }

    async fn call(&self, req: &mut AuthRequest) -> Result<(), AuthError> {
        let (Some(name), Some(secret)) = (&self.header_name, &self.secret_digest) else {
            return Err(AuthError::NotFromGateway);
        };
        let mut values = req.headers().get_all(name).iter();
        // Fixed-size digests: a slice `ct_eq` returns early when the lengths differ, which
        // would tell a prober the secret's length.
        let ok = match (values.next(), values.next()) {
            (Some(value), None) => bool::from(sha256(value.as_bytes()).ct_eq(secret)),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(AuthError::NotFromGateway)
        }
    }
}

/// SHA-256 of `bytes`, for [`SharedSecretFilter`]'s comparison.
fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::jwks_url_allowed;

    /// Where `http::Uri` reads a URL differently from the split by hand it replaced (the
    /// cases both read alike are in tests/config_check.rs).
    #[test]
    fn jwks_urls_the_uri_parser_reads_differently() {
        let cases = [
            // The scheme is case-insensitive (before: refused).
            ("HTTPS://keys.example.com/certs", true),
            ("Http://localhost:8787/certs", true),
            // A port must fit in 16 bits (before: any five digits).
            ("http://127.0.0.1:99999/certs", false),
            // An IPv4 address in the four decimal parts `Ipv4Addr` reads, with no leading zero
            // (before: `127.0.0.01` passed).
            ("http://127.0.0.01/certs", false),
            ("http://127.255.255.254/certs", true),
            // The path and query must be a URI's (before: not looked at).
            ("https://keys.example.com/a b", false),
            ("https://keys.example.com/?<x>", false),
            // As before.
            ("http://127.0.0.1:65535/certs", true),
            ("https://@keys.example.com/certs", false),
            ("https://keys.example.com:/certs", false),
            ("https://keys_example.com/certs", false),
            ("https://keys.example.com?x#y", true),
            ("https://keys.example.com", true),
        ];
        let wrong: Vec<_> = cases
            .iter()
            .filter(|(url, allowed)| jwks_url_allowed(url) != *allowed)
            .collect();
        assert!(wrong.is_empty(), "{wrong:?}");
    }
}
