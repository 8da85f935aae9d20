//! Django's RemoteUser checklist, ported: every behaviour runs against every variant
//! (default, no-create, allow-inactive, custom backend, custom header, persistent).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use futures::executor::block_on;
use remote_user_filter::{AnonymousPolicy, AuthError, Outcome};

const KNOWN: &str = "knownuser@corp.example";
const NEW: &str = "newuser@corp.example";

fn creates(v: Variant) -> bool {
    v != Variant::NoCreate
}

/// No header and an empty header: anonymous, nothing created, no cookie, no store call.
fn no_identity_is_anonymous(v: Variant) {
    block_on(async {
        let h = Harness::new(v);
        for identity in [None, Some(""), Some("   ")] {
            let outcome = h.send(identity, None).await;
            assert_eq!(status(&outcome), 401, "{identity:?}: {outcome:?}");
            assert!(outcome.set_cookie().is_none());
        }
        assert_eq!(h.calls(), (0, 0));
        assert!(h.store.is_empty());

        let pass = Harness::with_policy(v, AnonymousPolicy::Pass);
        let outcome = pass.send(None, None).await;
        assert!(matches!(
            outcome,
            Outcome::Forward {
                user: None,
                set_cookie: None,
                ..
            }
        ));
    })
}

/// An unknown user is created exactly once; the next request with the cookie makes no store
/// call and sends no cookie.
fn unknown_user(v: Variant) {
    block_on(async {
        let h = Harness::new(v);
        let outcome = h.send(Some(NEW), None).await;
        if !creates(v) {
            assert_eq!(status(&outcome), 403, "{outcome:?}");
            assert!(outcome.set_cookie().is_none());
            assert_eq!(h.calls(), (1, 0), "one read, nothing written");
            assert!(h.store.is_empty());
            return;
        }
        assert_eq!(forwarded_user(&outcome).unwrap().username, h.username(NEW));
        assert_eq!(h.calls(), (1, 1), "one read and one write per new user");
        let record = h.record(NEW).expect("created");
        assert_eq!(record["username"], h.username(NEW));
        assert_eq!(record["is_active"], true);
        assert_eq!(record["date_joined"], "2027-01-15T08:00:00Z");
        assert_eq!(record["last_login"], "2027-01-15T08:00:00Z");
        let cookie = pair(outcome.set_cookie().unwrap());

        h.clock.advance(60);
        let again = h.send(Some(NEW), Some(&cookie)).await;
        assert_eq!(forwarded_user(&again).unwrap().username, h.username(NEW));
        assert!(
            again.set_cookie().is_none(),
            "no Set-Cookie in a valid session"
        );
        assert_eq!(h.calls(), (1, 1), "no KV call at all in a valid session");
        assert_eq!(h.store.len(), 1);
    })
}

/// A known user logs in: one read, the login stamped under `login:<name>`, the admin's
/// record byte-identical; later requests in the session touch nothing.
fn known_user(v: Variant) {
    block_on(async {
        let h = Harness::new(v);
        let name = h.username(KNOWN);
        let json = format!(
            r#"{{"username":"{name}","is_active":true,"email":"k@corp.example","groups":["ops","dev"],"team":"blue"}}"#
        );
        h.seed(KNOWN, &json);
        let outcome = h.send(Some(KNOWN), None).await;
        let user = forwarded_user(&outcome).expect("logged in").clone();
        assert_eq!(user.email.as_deref(), Some("k@corp.example"));
        assert_eq!(user.groups, ["ops", "dev"]);
        assert_eq!(h.calls(), (1, 1), "one read, one stamp");
        assert_eq!(
            h.store.peek(&h.key(KNOWN)).unwrap(),
            json,
            "record byte-identical"
        );
        assert_eq!(
            h.store.peek(&format!("login:{name}")).unwrap(),
            r#"{"last_login":"2027-01-15T08:00:00Z"}"#
        );
        let cookie = pair(outcome.set_cookie().unwrap());

        h.clock.advance(200);
        let later = h.send(Some(KNOWN), Some(&cookie)).await;
        assert_eq!(
            forwarded_user(&later),
            Some(&user),
            "email and groups from the session"
        );
        assert!(later.set_cookie().is_none());
        assert_eq!(h.calls(), (1, 1));
        assert_eq!(h.store.peek(&h.key(KNOWN)).unwrap(), json);
    })
}

/// The header switches to another user: old session dropped, new login, new session id.
fn header_switches_user(v: Variant) {
    block_on(async {
        let h = Harness::new(v);
        h.seed_active(NEW);
        h.seed_active(KNOWN);
        let first = h.login(KNOWN).await;
        let outcome = h.send(Some(NEW), Some(&first)).await;
        assert_eq!(forwarded_user(&outcome).unwrap().username, h.username(NEW));
        let second = outcome.set_cookie().expect("new session cookie");
        assert!(
            !second.contains("Max-Age=0"),
            "one Set-Cookie: the new session"
        );
        let (old, new) = (claims(&first), claims(second));
        assert_eq!(new["sub"], h.username(NEW));
        assert_ne!(old["jti"], new["jti"], "a new session id: no fixation");
    })
}

/// The header disappears: the plain filter logs out, the persistent one keeps the session.
fn header_disappears(v: Variant) {
    block_on(async {
        let h = Harness::new(v);
        h.seed_active(KNOWN);
        let cookie = h.login(KNOWN).await;
        let calls = h.calls();
        let outcome = h.send(None, Some(&cookie)).await;
        assert_eq!(h.calls(), calls, "no store call either way");
        if v == Variant::Persistent {
            assert_eq!(
                forwarded_user(&outcome).unwrap().username,
                h.username(KNOWN)
            );
            assert!(outcome.set_cookie().is_none());
        } else {
            assert_eq!(status(&outcome), 401);
            let removal = outcome.set_cookie().expect("logout clears the cookie");
            assert!(removal.starts_with(&format!("{COOKIE}=;")), "{removal}");
            assert!(removal.contains("Max-Age=0"));
            assert!(removal.contains("Path=/") && removal.contains("Secure"));
        }
    })
}

/// An inactive user is refused (403), unless the backend allows all users.
fn inactive_user(v: Variant) {
    block_on(async {
        let h = Harness::new(v);
        let name = h.username(KNOWN);
        let json = format!(r#"{{"username":"{name}","is_active":false}}"#);
        h.seed(KNOWN, &json);
        let outcome = h.send(Some(KNOWN), None).await;
        if v == Variant::AllowInactive {
            assert_eq!(forwarded_user(&outcome).unwrap().username, name);
            assert!(outcome.set_cookie().is_some());
        } else {
            assert_eq!(status(&outcome), 403, "{outcome:?}");
            assert!(outcome.set_cookie().is_none());
            assert_eq!(
                h.store.peek(&h.key(KNOWN)).unwrap(),
                json,
                "record unchanged"
            );
        }
    })
}

/// Tampered, expired and foreign cookies are ignored as if absent, then a normal login.
fn bad_cookies_are_ignored(v: Variant) {
    block_on(async {
        let h = Harness::new(v);
        if !creates(v) {
            h.seed_active(KNOWN);
        }
        let good = h.login(KNOWN).await;
        // Used once, so the filter has verified (and remembered) it: the cases below must
        // not be taken for it, and its expiry must still count.
        let outcome = h.send(Some(KNOWN), Some(&good)).await;
        assert!(
            outcome.set_cookie().is_none(),
            "the good cookie is a valid session"
        );
        // Tampered: flip one signature character.
        let mut tampered = good.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        // Foreign: the same claims, another secret.
        let other = Harness::new(v);
        if !creates(v) {
            other.seed_active(KNOWN);
        }
        let foreign = {
            let s = remote_user_filter::SessionFilter::builder(
                "another-secret-another-secret-0123456789",
            )
            .build();
            let mut req = remote_user_filter::AuthRequest::new(http::HeaderMap::new(), T0);
            use remote_user_filter::Filter;
            s.call(&mut req).await.unwrap();
            let user = remote_user_filter::User::new(h.username(KNOWN));
            let backend =
                remote_user_filter::KvUserBackend::new(remote_user_filter::MemoryStore::new());
            remote_user_filter::login(&mut req, user, &backend)
                .await
                .unwrap();
            pair(req.set_cookie().unwrap())
        };
        for (label, cookie) in [
            ("tampered", tampered),
            ("foreign", foreign),
            ("garbage", format!("{COOKIE}=not.a.jwt")),
        ] {
            let outcome = h.send(Some(KNOWN), Some(&cookie)).await;
            let issued = outcome
                .set_cookie()
                .unwrap_or_else(|| panic!("{label}: a normal login follows"));
            assert_ne!(
                claims(issued)["jti"],
                claims(&good)["jti"],
                "{label}: a new session, as for a new visit"
            );
        }
        // Expired: the good cookie, after its 8 h lifetime.
        h.clock.advance(8 * 3600 + 1);
        let outcome = h.send(Some(KNOWN), Some(&good)).await;
        assert!(
            outcome.set_cookie().is_some(),
            "expired: a normal login follows"
        );
    })
}

/// The store failing: 503, no cookie, nothing written.
fn store_failure_is_503(v: Variant) {
    block_on(async {
        let h = Harness::new(v);
        h.store.set_failing(true);
        let outcome = h.send(Some(KNOWN), None).await;
        match &outcome {
            Outcome::Respond {
                error: AuthError::Backend(_),
                set_cookie: None,
            } => {}
            other => panic!("expected a backend error without cookie, got {other:?}"),
        }
        assert_eq!(status(&outcome), 503);
        // The failing store keeps nothing either way: what proves "nothing written" is
        // that no write was even tried (a failed read is not taken for an unknown user).
        assert_eq!(h.store.writes(), 0, "no write attempted");
        assert!(h.store.reads() >= 1, "the store was asked");
    })
}

/// A malformed identity header is 400 (README): not UTF-8, a control character inside (a tab,
/// C1's NEL), over 320 bytes after trimming; nothing read, written or issued. 320 bytes (with
/// blanks around it) is a known user like any other.
fn identity_not_utf8_control_or_over_320_is_400(v: Variant) {
    block_on(async {
        let h = Harness::new(v);
        let suffix = "@corp.example";
        let at_limit = format!("{}{suffix}", "a".repeat(320 - suffix.len()));
        let over = format!("b{at_limit}");
        let send_raw = |value: Vec<u8>| {
            let mut headers = http::HeaderMap::new();
            headers.insert(
                http::HeaderName::from_bytes(h.header.as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(&value).unwrap(),
            );
            h.chain.handle(headers)
        };
        let cases: [(&str, Vec<u8>); 5] = [
            ("not UTF-8", b"ann\xff@corp.example".to_vec()),
            ("Latin-1 e-acute", b"jos\xe9@corp.example".to_vec()),
            ("a tab inside", b"ann\tx@corp.example".to_vec()),
            (
                "NEL (U+0085)",
                "ann\u{85}x@corp.example".as_bytes().to_vec(),
            ),
            ("321 bytes", over.clone().into_bytes()),
        ];
        for (label, value) in cases {
            let outcome = send_raw(value).await;
            assert!(
                matches!(
                    outcome,
                    Outcome::Respond {
                        error: AuthError::BadIdentityHeader { .. },
                        set_cookie: None
                    }
                ),
                "{label}: {outcome:?}"
            );
            assert_eq!(status(&outcome), 400, "{label}");
        }
        assert_eq!(h.calls(), (0, 0), "nothing read or written");
        h.seed_active(&at_limit);
        let outcome = send_raw(format!("  {at_limit} ").into_bytes()).await;
        assert_eq!(
            forwarded_user(&outcome).map(|u| u.username.clone()),
            Some(h.username(&at_limit)),
            "320 bytes: {outcome:?}"
        );
    })
}

/// A record without `is_active` reads as active (README, Django's default): forwarded.
fn record_without_is_active_is_active(v: Variant) {
    block_on(async {
        let h = Harness::new(v);
        let name = h.username(KNOWN);
        h.seed(
            KNOWN,
            &format!(r#"{{"username":"{name}","groups":["ops"]}}"#),
        );
        let outcome = h.send(Some(KNOWN), None).await;
        let user = forwarded_user(&outcome).unwrap_or_else(|| panic!("{outcome:?}"));
        assert_eq!(
            (user.username.as_str(), user.groups.as_slice()),
            (name.as_str(), &["ops".to_owned()][..])
        );
        assert!(outcome.set_cookie().is_some());
    })
}

/// A record that is not JSON: 403 for that user, record left alone.
fn corrupt_record_is_403_and_kept(v: Variant) {
    block_on(async {
        let h = Harness::new(v);
        h.seed(KNOWN, "{not json");
        let outcome = h.send(Some(KNOWN), None).await;
        assert_eq!(status(&outcome), 403, "{outcome:?}");
        assert!(outcome.set_cookie().is_none());
        assert_eq!(h.store.peek(&h.key(KNOWN)).as_deref(), Some("{not json"));
        assert_eq!(h.calls(), (1, 0));
    })
}

/// A malformed identity (two values, too long): 400, nothing written (the other README 400s:
/// `identity_not_utf8_control_or_over_320_is_400`).
fn malformed_identity_is_400(v: Variant) {
    block_on(async {
        let h = Harness::new(v);
        let long = "a".repeat(400);
        for identity in ["a@corp.example, b@corp.example", long.as_str()] {
            let outcome = h.send(Some(identity), None).await;
            assert_eq!(status(&outcome), 400, "{identity}");
            assert!(outcome.set_cookie().is_none());
        }
        let twice = h
            .send_with(
                None,
                None,
                &[(h.header, "a@corp.example"), (h.header, "b@corp.example")],
            )
            .await;
        assert_eq!(status(&twice), 400);
        assert_eq!(h.calls(), (0, 0));
    })
}

/// A client that keeps no cookie (curl, an uptime checker) logs in on every request; after
/// its first, the isolate's user cache and the stamp interval make that cost no store call.
fn cookieless_repeats_cost_no_kv(v: Variant) {
    block_on(async {
        let h = Harness::new(v);
        if !creates(v) {
            h.seed_active(KNOWN);
        }
        h.login(KNOWN).await;
        let calls = h.calls();
        for _ in 0..5 {
            h.clock.advance(10);
            let outcome = h.send(Some(KNOWN), None).await;
            assert_eq!(
                forwarded_user(&outcome).unwrap().username,
                h.username(KNOWN)
            );
            assert!(outcome.set_cookie().is_some(), "a login: one Set-Cookie");
        }
        assert_eq!(h.calls(), calls, "no store call after the first request");
    })
}

/// The admin's record is never rewritten by logins, however many; the stamp moves at most
/// once per interval, under its own key.
fn record_is_never_rewritten(v: Variant) {
    block_on(async {
        let h = Harness::new(v);
        let name = h.username(KNOWN);
        let json = format!(
            r#"{{"username":"{name}","is_active":true,"groups":["ops"],"last_login":"2020-01-01T00:00:00Z"}}"#
        );
        h.seed(KNOWN, &json);
        let stamp = format!("login:{name}");
        h.login(KNOWN).await;
        let first = h.store.peek(&stamp).expect("stamped");
        h.clock.advance(120);
        h.login(KNOWN).await;
        assert_eq!(
            h.store.peek(&stamp).unwrap(),
            first,
            "not again within 300 s"
        );
        h.clock.advance(300);
        h.login(KNOWN).await;
        assert_ne!(
            h.store.peek(&stamp).unwrap(),
            first,
            "stamped again after 300 s"
        );
        assert_eq!(
            h.store.peek(&h.key(KNOWN)).unwrap(),
            json,
            "record byte-identical"
        );
        assert_eq!(h.store.len(), 2, "the record and the stamp, nothing else");
    })
}

/// A user deactivated after login is logged out and refused at the session's next request
/// once it is older than the re-check interval (allow-inactive keeps them, re-checked).
fn deactivation_ends_the_session(v: Variant) {
    block_on(async {
        let h = Harness::new(v);
        h.seed_active(KNOWN);
        let cookie = h.login(KNOWN).await;
        let name = h.username(KNOWN);
        let inactive = format!(r#"{{"username":"{name}","is_active":false}}"#);
        h.seed(KNOWN, &inactive);
        h.clock.advance(299);
        let before = h.send(Some(KNOWN), Some(&cookie)).await;
        assert!(forwarded_user(&before).is_some(), "not yet due");
        let calls = h.calls();
        h.clock.advance(2);
        let after = h.send(Some(KNOWN), Some(&cookie)).await;
        assert_eq!(h.calls(), (calls.0 + 1, calls.1), "one read, no write");
        if v == Variant::AllowInactive {
            assert_eq!(forwarded_user(&after).unwrap().username, name);
            let renewed = after.set_cookie().expect("re-checked: new check time");
            assert_eq!(
                claims(renewed)["jti"],
                claims(&cookie)["jti"],
                "same session"
            );
        } else {
            assert_eq!(status(&after), 403, "{after:?}");
            let removal = after.set_cookie().expect("logged out");
            assert!(removal.contains("Max-Age=0"), "{removal}");
        }
        assert_eq!(
            h.store.peek(&h.key(KNOWN)).unwrap(),
            inactive,
            "record untouched"
        );
    })
}

/// Groups and email changed by the admin reach the session at its next re-check, in the
/// same session (same id, same expiry), with no write.
fn changed_groups_are_reissued(v: Variant) {
    block_on(async {
        let h = Harness::new(v);
        let name = h.username(KNOWN);
        h.seed(
            KNOWN,
            &format!(r#"{{"username":"{name}","groups":["ops"]}}"#),
        );
        let cookie = h.login(KNOWN).await;
        h.seed(
            KNOWN,
            &format!(r#"{{"username":"{name}","groups":["ops","dev"],"email":"n@corp.example"}}"#),
        );
        h.clock.advance(301);
        let writes = h.calls().1;
        let outcome = h.send(Some(KNOWN), Some(&cookie)).await;
        let user = forwarded_user(&outcome).unwrap();
        assert_eq!(user.groups, ["ops", "dev"]);
        assert_eq!(user.email.as_deref(), Some("n@corp.example"));
        let renewed = claims(outcome.set_cookie().expect("re-issued"));
        let old = claims(&cookie);
        assert_eq!(
            (&renewed["jti"], &renewed["exp"]),
            (&old["jti"], &old["exp"])
        );
        assert_eq!(h.calls().1, writes, "no write");
        // The renewed cookie is good for another interval without a call.
        let pair = format!(
            "{COOKIE}={}",
            outcome
                .set_cookie()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .split_once('=')
                .unwrap()
                .1
        );
        let calls = h.calls();
        h.clock.advance(100);
        let next = h.send(Some(KNOWN), Some(&pair)).await;
        assert!(next.set_cookie().is_none());
        assert_eq!(forwarded_user(&next).unwrap().groups, ["ops", "dev"]);
        assert_eq!(h.calls(), calls);
    })
}

/// A user whose record was deleted: refused at the re-check when creation is off; created
/// again (as a login would) when it is on.
fn deleted_user_at_recheck(v: Variant) {
    block_on(async {
        let h = Harness::new(v);
        h.seed_active(KNOWN);
        let cookie = h.login(KNOWN).await;
        h.store.delete(&h.key(KNOWN));
        h.clock.advance(301);
        let outcome = h.send(Some(KNOWN), Some(&cookie)).await;
        if creates(v) {
            assert!(forwarded_user(&outcome).is_some());
            assert!(h.store.peek(&h.key(KNOWN)).is_some(), "created again");
        } else {
            assert_eq!(status(&outcome), 403, "{outcome:?}");
            assert!(h.store.peek(&h.key(KNOWN)).is_none());
        }
    })
}

macro_rules! checklist {
    ($($variant:ident => $module:ident),* $(,)?) => {$(
        mod $module {
            use super::*;
            #[test] fn no_identity_is_anonymous() { super::no_identity_is_anonymous(Variant::$variant) }
            #[test] fn unknown_user() { super::unknown_user(Variant::$variant) }
            #[test] fn known_user() { super::known_user(Variant::$variant) }
            #[test] fn header_switches_user() { super::header_switches_user(Variant::$variant) }
            #[test] fn header_disappears() { super::header_disappears(Variant::$variant) }
            #[test] fn inactive_user() { super::inactive_user(Variant::$variant) }
            #[test] fn bad_cookies_are_ignored() { super::bad_cookies_are_ignored(Variant::$variant) }
            #[test] fn store_failure_is_503() { super::store_failure_is_503(Variant::$variant) }
            #[test] fn identity_not_utf8_control_or_over_320_is_400() { super::identity_not_utf8_control_or_over_320_is_400(Variant::$variant) }
            #[test] fn record_without_is_active_is_active() { super::record_without_is_active_is_active(Variant::$variant) }
            #[test] fn corrupt_record_is_403_and_kept() { super::corrupt_record_is_403_and_kept(Variant::$variant) }
            #[test] fn malformed_identity_is_400() { super::malformed_identity_is_400(Variant::$variant) }
            #[test] fn cookieless_repeats_cost_no_kv() { super::cookieless_repeats_cost_no_kv(Variant::$variant) }
            #[test] fn record_is_never_rewritten() { super::record_is_never_rewritten(Variant::$variant) }
            #[test] fn deactivation_ends_the_session() { super::deactivation_ends_the_session(Variant::$variant) }
            #[test] fn changed_groups_are_reissued() { super::changed_groups_are_reissued(Variant::$variant) }
            #[test] fn deleted_user_at_recheck() { super::deleted_user_at_recheck(Variant::$variant) }
        }
    )*};
}

checklist! {
    Default => default,
    NoCreate => no_create,
    AllowInactive => allow_inactive,
    CustomBackend => custom_backend,
    CustomHeader => custom_header,
    Persistent => persistent,
}

/// The custom backend on the async path: cleans the name on lookup and, on creation only,
/// takes the email from another header.
#[test]
fn custom_backend_configures_new_users_only() {
    block_on(async {
        let h = Harness::new(Variant::CustomBackend);
        let extra = [("x-corp-email", "ann.new@corp.example")];
        let outcome = h.send_with(Some("ann@corp.example"), None, &extra).await;
        let user = forwarded_user(&outcome).unwrap();
        assert_eq!(user.username, "ann");
        assert_eq!(user.email.as_deref(), Some("ann.new@corp.example"));
        assert_eq!(
            h.store
                .peek("user:ann")
                .map(|r| r.contains("ann.new@corp.example")),
            Some(true)
        );

        h.store.seed(
            "user:bob",
            r#"{"username":"bob","is_active":true,"email":"bob@old.example"}"#,
        );
        let outcome = h.send_with(Some("bob@corp.example"), None, &extra).await;
        let user = forwarded_user(&outcome).unwrap();
        assert_eq!(user.username, "bob");
        assert_eq!(
            user.email.as_deref(),
            Some("bob@old.example"),
            "known users keep theirs"
        );
    })
}

/// Header names are matched as HTTP defines them: `_` is not `-`.
#[test]
fn underscore_is_not_dash() {
    block_on(async {
        let h = Harness::new(Variant::Default);
        let outcome = h
            .send_with(
                None,
                None,
                &[("Cf_Access_Authenticated_User_Email", "ann@corp.example")],
            )
            .await;
        assert_eq!(status(&outcome), 401);
        assert_eq!(h.calls(), (0, 0));
    })
}
