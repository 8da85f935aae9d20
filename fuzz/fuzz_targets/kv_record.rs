//! The KV record parser (`User`'s serde, read by `KvUserBackend::get_user`), on any record
//! stored under `user:ann`, then ann's login through the chain. Invariants: a record that
//! parses writes back to one that parses to the same user; the chain forwards ann with the
//! record's email and groups exactly when the record is ann's and active, else refuses with a
//! 403 (a corrupt record is one user's problem, never a 500 or a panic); the identity
//! headers built from whatever the record holds are valid values that decode back to it.
#![no_main]

use std::rc::Rc;

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use remote_user_filter::edge::wire::Reply;
use remote_user_filter::{ManualClock, MemoryStore, Outcome, UpstreamHeaders, User};
use remote_user_filter_fuzz::{
    assert_status, assert_upstream, remote_user_chain, round_trip, IDENTITY, NOW,
};

fuzz_target!(|record: &str| {
    let parsed = serde_json::from_str::<User>(record);
    if let Ok(user) = &parsed {
        let written = serde_json::to_string(user).expect("a parsed user serialises");
        let again: User = serde_json::from_str(&written).expect("what we write, we read");
        assert_eq!(
            (
                &again.username,
                again.is_active,
                &again.email,
                &again.groups
            ),
            (&user.username, user.is_active, &user.email, &user.groups)
        );
        assert_eq!(
            (again.last_login, again.date_joined),
            (user.last_login, user.date_joined)
        );
        let keys = |u: &User| u.extra.keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&again), keys(user));
    }

    let store = Rc::new(MemoryStore::new());
    store.seed("user:ann", record);
    let chain = remote_user_chain(store, ManualClock::new(NOW));
    let mut headers = HeaderMap::new();
    headers.insert(IDENTITY, HeaderValue::from_static("ann"));
    let outcome = futures::executor::block_on(chain.handle(headers));
    assert_status(&outcome);
    match (&parsed, &outcome) {
        (
            Ok(user),
            Outcome::Forward {
                user: Some(forwarded),
                set_cookie,
                ..
            },
        ) => {
            assert!(user.username == "ann" && user.is_active, "{user:?}");
            assert_eq!(forwarded.username, "ann");
            assert_eq!(
                (&forwarded.email, &forwarded.groups),
                (&user.email, &user.groups)
            );
            assert!(set_cookie.is_some());
            assert_upstream(forwarded);
        }
        (Ok(user), Outcome::Respond { error, .. }) => {
            assert!(
                user.username != "ann" || !user.is_active,
                "{user:?}: {error:?}"
            );
            assert_eq!(error.status(), 403, "{error:?}");
        }
        (Err(_), Outcome::Respond { error, .. }) => {
            assert_eq!(error.status(), 403, "a corrupt record: {error:?}")
        }
        (_, other) => panic!("{parsed:?} -> {other:?}"),
    }
    let reply = Reply::new(
        outcome,
        "https://app.example.com/",
        None,
        &UpstreamHeaders::default(),
        None,
        &http::HeaderMap::new(),
    );
    assert!(round_trip(&reply), "the reply cannot be framed: {reply:?}");
});
