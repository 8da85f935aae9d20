//! Behaviour under real traffic, natively: concurrent first logins, sessions issued under
//! another backend, users with many groups, a failing login stamp.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use common::*;
use futures::executor::block_on;
use http::HeaderMap;
use remote_user_filter::{
    async_trait, AllowAllUsers, FilterChain, KvUserBackend, ManualClock, MemoryStore, Outcome,
    RemoteUserFilter, SessionFilter, StoreError, UserBackend, UserStore, MAX_SET_COOKIE_LEN,
};

/// Pending once, then ready: a store call that does not answer at once, as KV's do.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// A memory store whose calls each wait once, and whose `login:` writes can be made to fail.
#[derive(Default)]
struct SlowStore {
    inner: MemoryStore,
    fail_stamps: Cell<bool>,
}

#[async_trait(?Send)]
impl UserStore for SlowStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        YieldOnce(false).await;
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: &str) -> Result<(), StoreError> {
        YieldOnce(false).await;
        if self.fail_stamps.get() && key.starts_with("login:") {
            return Err(StoreError("429 Too Many Requests".into()));
        }
        self.inner.put(key, value).await
    }
}

fn chain_over(backend: Rc<dyn UserBackend>, clock: &Rc<ManualClock>) -> FilterChain {
    FilterChain::builder()
        .filter(SessionFilter::builder(SECRET).build())
        .filter(
            RemoteUserFilter::builder(backend)
                .trust_unsigned_header(true)
                .build(),
        )
        .clock(Rc::clone(clock))
        .build()
        .expect("valid chain")
}

fn request(identity: Option<&str>, cookie: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(identity) = identity {
        headers.insert(
            "cf-access-authenticated-user-email",
            identity.parse().unwrap(),
        );
    }
    if let Some(cookie) = cookie {
        headers.insert(http::header::COOKIE, cookie.parse().unwrap());
    }
    headers
}

#[test]
fn concurrent_first_logins_share_one_read_and_one_write() {
    block_on(async {
        let store = Rc::new(SlowStore::default());
        let clock = Rc::new(ManualClock::new(T0));
        let chain = chain_over(Rc::new(KvUserBackend::new(Rc::clone(&store))), &clock);
        let logins = (0..8).map(|_| chain.handle(request(Some("ann@example.com"), None)));
        let outcomes = futures::future::join_all(logins).await;
        for outcome in &outcomes {
            assert_eq!(forwarded_user(outcome).unwrap().username, "ann@example.com");
            assert!(outcome.set_cookie().is_some(), "each request logs in");
        }
        assert_eq!(
            (store.inner.reads(), store.inner.writes()),
            (1, 1),
            "one read and one creation for eight concurrent first logins"
        );
    })
}

#[test]
fn header_loss_ends_a_session_whatever_backend_made_it() {
    block_on(async {
        // Two workers with one secret: one allows inactive users, one does not. A cookie
        // the first issued is a remote-user session to the second too.
        let store = Rc::new(MemoryStore::new());
        let clock = Rc::new(ManualClock::new(T0));
        let allow_all: Rc<dyn UserBackend> =
            Rc::new(AllowAllUsers(KvUserBackend::new(Rc::clone(&store))));
        let first = chain_over(allow_all, &clock);
        let second = chain_over(Rc::new(KvUserBackend::new(Rc::clone(&store))), &clock);
        let login = first.handle(request(Some("ann@example.com"), None)).await;
        let cookie = pair(login.set_cookie().unwrap());
        let outcome = second.handle(request(None, Some(&cookie))).await;
        assert_eq!(status(&outcome), 401, "{outcome:?}");
        assert!(outcome.set_cookie().unwrap().contains("Max-Age=0"));
    })
}

#[test]
fn many_groups_fit_a_cookie_browsers_keep() {
    block_on(async {
        let store = Rc::new(MemoryStore::new());
        let groups: Vec<String> = (0..300).map(|i| format!("group-number-{i:07}")).collect();
        let email = format!("{}@example.com", "e".repeat(300));
        let record = serde_json::json!({
            "username": "ann@example.com", "email": email, "groups": groups,
        });
        store.seed("user:ann@example.com", &record.to_string());
        let clock = Rc::new(ManualClock::new(T0));
        let warm = chain_over(Rc::new(KvUserBackend::new(Rc::clone(&store))), &clock);
        let login = warm.handle(request(Some("ann@example.com"), None)).await;
        let set_cookie = login.set_cookie().unwrap().to_owned();
        assert!(
            set_cookie.len() <= MAX_SET_COOKIE_LEN,
            "Set-Cookie is {} bytes",
            set_cookie.len()
        );
        assert_eq!(forwarded_user(&login).unwrap().groups, groups);
        let cookie = pair(&set_cookie);

        // The same isolate: groups from memory, no store call.
        let calls = (store.reads(), store.writes());
        clock.advance(5);
        let next = warm
            .handle(request(Some("ann@example.com"), Some(&cookie)))
            .await;
        assert_eq!(forwarded_user(&next).unwrap().groups, groups);
        assert_eq!(
            forwarded_user(&next).unwrap().email.as_deref(),
            Some(&*email)
        );
        assert!(next.set_cookie().is_none());
        assert_eq!((store.reads(), store.writes()), calls);

        // A cold isolate (same secret, same KV): one read, then memory.
        let cold = chain_over(Rc::new(KvUserBackend::new(Rc::clone(&store))), &clock);
        let first = cold
            .handle(request(Some("ann@example.com"), Some(&cookie)))
            .await;
        assert_eq!(forwarded_user(&first).unwrap().groups, groups);
        assert!(
            first.set_cookie().is_none(),
            "the same groups: nothing to re-issue"
        );
        assert_eq!((store.reads(), store.writes()), (calls.0 + 1, calls.1));
        clock.advance(61);
        let again = cold
            .handle(request(Some("ann@example.com"), Some(&cookie)))
            .await;
        assert_eq!(forwarded_user(&again).unwrap().groups, groups);
        assert_eq!((store.reads(), store.writes()), (calls.0 + 1, calls.1));
    })
}

#[test]
fn a_failed_login_stamp_is_logged_and_the_login_stands() {
    block_on(async {
        let store = Rc::new(SlowStore::default());
        store
            .inner
            .seed("user:ann@example.com", r#"{"username":"ann@example.com"}"#);
        store.fail_stamps.set(true);
        let seen = Rc::new(RefCell::new(Vec::<String>::new()));
        let sink = Rc::clone(&seen);
        let chain = FilterChain::builder()
            .filter(SessionFilter::builder(SECRET).build())
            .filter(
                RemoteUserFilter::builder(Rc::new(KvUserBackend::new(Rc::clone(&store))))
                    .trust_unsigned_header(true)
                    .build(),
            )
            .clock(ManualClock::new(T0))
            .on_warning(move |line| sink.borrow_mut().push(line.to_owned()))
            .build()
            .unwrap();
        let outcome = chain.handle(request(Some("ann@example.com"), None)).await;
        assert!(matches!(
            outcome,
            Outcome::Forward {
                user: Some(_),
                set_cookie: Some(_),
                ..
            }
        ));
        let seen = seen.borrow();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(
            seen[0].contains("ann@example.com") && seen[0].contains("429"),
            "{seen:?}"
        );
        assert_eq!(
            store.inner.peek("user:ann@example.com").as_deref(),
            Some(r#"{"username":"ann@example.com"}"#)
        );
    })
}

#[test]
fn session_ids_are_128_random_bits_in_hex() {
    block_on(async {
        let store = Rc::new(MemoryStore::new());
        let clock = Rc::new(ManualClock::new(T0));
        let chain = chain_over(Rc::new(KvUserBackend::new(Rc::clone(&store))), &clock);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            let outcome = chain.handle(request(Some("ann@example.com"), None)).await;
            let jti = claims(outcome.set_cookie().unwrap())["jti"]
                .as_str()
                .unwrap()
                .to_owned();
            assert_eq!(jti.len(), 32, "{jti}");
            assert!(
                jti.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{jti}"
            );
            assert!(seen.insert(jti), "a new id at every login");
        }
    })
}
