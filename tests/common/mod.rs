//! Shared native test harness: a chain over an in-memory store that counts calls, driven by a
//! manual clock.
#![allow(dead_code)]

#[cfg(not(target_arch = "wasm32"))]
pub mod keys;
pub mod reference;

use std::rc::Rc;

use http::HeaderMap;
use remote_user_filter::{
    async_trait, AllowAllUsers, AnonymousPolicy, BackendError, BackendRequest, ConfigProblem,
    FilterChain, KvUserBackend, ManualClock, MemoryStore, Outcome, PersistentRemoteUserFilter,
    RemoteUserFilter, SessionFilter, SessionUser, User, UserBackend, UserStore,
};

pub const SECRET: &str = "native-test-session-secret-0123456789abcdef";
pub const T0: u64 = 1_800_000_000;
pub const COOKIE: &str = "__Host-remote-user-session";

/// Strips `@corp.example`; on creation takes the email from `X-Corp-Email`.
pub struct CorpBackend<S>(pub KvUserBackend<S>);

#[async_trait(?Send)]
impl<S: UserStore> UserBackend for CorpBackend<S> {
    async fn get_user(&self, username: &str) -> Result<Option<User>, BackendError> {
        self.0.get_user(username).await
    }
    async fn save_user(&self, user: &User) -> Result<(), BackendError> {
        self.0.save_user(user).await
    }
    fn check(&self) -> Result<(), ConfigProblem> {
        self.0.check()
    }
    async fn record_login(&self, user: &User, now: u64) -> Result<(), BackendError> {
        self.0.record_login(user, now).await
    }
    fn clean_username(&self, username: &str) -> String {
        username.split('@').next().unwrap_or(username).to_owned()
    }
    async fn configure_user(
        &self,
        request: &BackendRequest<'_>,
        mut user: User,
        created: bool,
    ) -> Result<User, BackendError> {
        if created {
            user.email = request.header_str("x-corp-email").map(str::to_owned);
        }
        Ok(user)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Default,
    NoCreate,
    AllowInactive,
    CustomBackend,
    CustomHeader,
    Persistent,
}

pub struct Harness {
    pub variant: Variant,
    pub store: Rc<MemoryStore>,
    pub clock: Rc<ManualClock>,
    pub chain: FilterChain,
    pub header: &'static str,
}

impl Harness {
    pub fn new(variant: Variant) -> Self {
        Self::with_policy(variant, AnonymousPolicy::Deny)
    }

    pub fn with_policy(variant: Variant, anonymous: AnonymousPolicy) -> Self {
        let store = Rc::new(MemoryStore::new());
        let clock = Rc::new(ManualClock::new(T0));
        let kv = KvUserBackend::new(Rc::clone(&store));
        let backend: Rc<dyn UserBackend> = match variant {
            Variant::NoCreate => Rc::new(kv.with_create_unknown_user(false)),
            Variant::AllowInactive => Rc::new(AllowAllUsers(kv)),
            Variant::CustomBackend => Rc::new(CorpBackend(kv)),
            _ => Rc::new(kv),
        };
        let header = match variant {
            Variant::CustomHeader => "X-Auth-Request-Email",
            _ => "Cf-Access-Authenticated-User-Email",
        };
        let remote = RemoteUserFilter::builder(backend)
            .header(header)
            .trust_unsigned_header(true)
            .build();
        let builder = FilterChain::builder()
            .filter(SessionFilter::builder(SECRET).build())
            .anonymous(anonymous)
            .clock(Rc::clone(&clock));
        let chain = match variant {
            Variant::Persistent => builder.filter(PersistentRemoteUserFilter::from(remote)),
            _ => builder.filter(remote),
        }
        .build()
        .expect("test chain is valid");
        Self {
            variant,
            store,
            clock,
            chain,
            header,
        }
    }

    /// The username the variant's backend stores for `identity`.
    pub fn username(&self, identity: &str) -> String {
        match self.variant {
            Variant::CustomBackend => identity.split('@').next().unwrap_or(identity).to_owned(),
            _ => identity.to_owned(),
        }
    }

    pub fn key(&self, identity: &str) -> String {
        format!("user:{}", self.username(identity))
    }

    pub fn seed(&self, identity: &str, json: &str) {
        self.store.seed(&self.key(identity), json);
    }

    /// Store `identity` as an active user with nothing else set.
    pub fn seed_active(&self, identity: &str) {
        let name = self.username(identity);
        self.seed(
            identity,
            &format!(r#"{{"username":"{name}","is_active":true}}"#),
        );
    }

    pub fn record(&self, identity: &str) -> Option<serde_json::Value> {
        self.store
            .peek(&self.key(identity))
            .map(|raw| serde_json::from_str(&raw).expect("stored record is JSON"))
    }

    pub fn calls(&self) -> (usize, usize) {
        (self.store.reads(), self.store.writes())
    }

    pub async fn send(&self, identity: Option<&str>, cookie: Option<&str>) -> Outcome {
        self.send_with(identity, cookie, &[]).await
    }

    pub async fn send_with(
        &self,
        identity: Option<&str>,
        cookie: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Outcome {
        let mut headers = HeaderMap::new();
        if let Some(identity) = identity {
            headers.insert(
                http::HeaderName::from_bytes(self.header.as_bytes()).unwrap(),
                identity.parse().unwrap(),
            );
        }
        if let Some(cookie) = cookie {
            headers.insert(http::header::COOKIE, cookie.parse().unwrap());
        }
        for (name, value) in extra {
            headers.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        self.chain.handle(headers).await
    }

    /// Log `identity` in and return the `name=value` cookie pair.
    pub async fn login(&self, identity: &str) -> String {
        let outcome = self.send(Some(identity), None).await;
        let cookie = outcome
            .set_cookie()
            .expect("login sets a cookie")
            .to_owned();
        assert!(
            matches!(outcome, Outcome::Forward { user: Some(_), .. }),
            "{outcome:?}"
        );
        pair(&cookie)
    }
}

/// `name=value` of a `Set-Cookie` line.
pub fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

/// The JSON payload of the JWT in a cookie pair or `Set-Cookie` line.
pub fn claims(cookie: &str) -> serde_json::Value {
    use base64::Engine as _;
    let token = pair(cookie).split_once('=').unwrap().1.to_owned();
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub fn forwarded_user(outcome: &Outcome) -> Option<&SessionUser> {
    match outcome {
        Outcome::Forward { user, .. } => user.as_ref(),
        Outcome::Respond { .. } | Outcome::Answer { .. } => None,
    }
}

pub fn status(outcome: &Outcome) -> u16 {
    match outcome {
        Outcome::Forward { .. } => 200,
        Outcome::Respond { error, .. } => error.status(),
        Outcome::Answer { response, .. } => response.status(),
    }
}
