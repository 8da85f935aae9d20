//! The JS/wasm wire format. Mode 0: any `Reply` that `encode` accepts is read back field for
//! field by the JS decoder (`decode` in src/edge/reply.js, ported line for line). Mode 1: the
//! request side on any input, `method\0url\0lines`: `read_request` on the lines,
//! `request_parts`, the stock chain (`session,gateway_secret,remote_user`, with and without
//! `ORIGIN_URL`), the `Reply` for its outcome. Invariants: no panic; a user is forwarded only
//! with the gateway secret and a valid identity header naming them; a request the runtime
//! could have sent (header values as any text workerd decodes a header to, an ASCII URL)
//! gets a reply that frames and decodes back.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use remote_user_filter::edge::wire::{read_request, request_parts, CookieAction, Reply};
use remote_user_filter::{ManualClock, MemoryStore, Outcome, StockSettings};
use remote_user_filter_fuzz::{
    assert_status, assert_upstream, identity, round_trip, Identity, IDENTITY, NOW, SESSION_SECRET,
};

const SECRET: &str = "fuzz-gateway-secret-0123456789abcdef";
const NAMES: [&str; 6] = [
    "Content-Type",
    "Cache-Control",
    "WWW-Authenticate",
    "Location",
    "Set-Cookie",
    "X-Odd\tName",
];

#[derive(Arbitrary, Debug)]
enum Action {
    Keep,
    Delete,
    Set(String),
}

#[derive(Arbitrary, Debug)]
enum AnyReply {
    Forward {
        target: String,
        set_cookie: Option<String>,
        cookie: Action,
        headers: Vec<(String, String)>,
        gateway_headers: bool,
        preflight: bool,
    },
    Respond {
        status: u16,
        set_cookie: Option<String>,
        headers: Vec<(u8, String)>,
        body: String,
    },
}

impl From<AnyReply> for Reply {
    fn from(reply: AnyReply) -> Self {
        match reply {
            AnyReply::Forward {
                target,
                set_cookie,
                cookie,
                headers,
                gateway_headers,
                preflight,
            } => Reply::Forward {
                target,
                set_cookie,
                cookie: match cookie {
                    Action::Keep => CookieAction::Keep,
                    Action::Delete => CookieAction::Delete,
                    Action::Set(v) => CookieAction::Set(v),
                },
                headers,
                gateway_headers,
                preflight,
            },
            AnyReply::Respond {
                status,
                set_cookie,
                headers,
                body,
            } => Reply::Respond {
                status,
                set_cookie,
                headers: headers
                    .into_iter()
                    .map(|(i, v)| (NAMES[usize::from(i) % NAMES.len()], v))
                    .collect(),
                body,
            },
        }
    }
}

/// A header value the JS entry can hand in: workerd decodes a header's bytes as UTF-8 (a
/// byte that is not UTF-8 as U+FFFD), so any text without NUL or line breaks, and nothing
/// `Headers` would have trimmed. (This model once said "a byte string, chars up to U+00FF",
/// the entry's own wrong assumption, and so could not find what it caused: a client's own
/// non-Latin-1 cookie beside the session cookie answered 500.)
fn js_value(value: &str) -> bool {
    !value.contains(['\0', '\r', '\n'])
        && !value.starts_with([' ', '\t'])
        && !value.ends_with([' ', '\t'])
}

fn request(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.splitn(3, '\0');
    let (Some(method), Some(url), Some(lines)) = (fields.next(), fields.next(), fields.next())
    else {
        return;
    };
    let request = read_request(lines);
    // Only lines with a tab become headers, each at most once.
    let tabbed = lines.split('\n').filter(|l| l.contains('\t')).count();
    assert!(request.headers.len() <= tabbed);
    let runtime_could_send = url.is_ascii()
        && !url.chars().any(|c| c.is_ascii_control() || c == ' ')
        && lines.split('\n').all(|l| match l.split_once('\t') {
            None => l.is_empty(),
            Some((name, value)) => {
                http::HeaderName::from_bytes(name.as_bytes()).is_ok() && js_value(value)
            }
        });
    let said = identity(&request.headers, IDENTITY);
    let secret_sent = request
        .headers
        .get_all("x-gateway-secret")
        .iter()
        .any(|v| v.as_bytes() == SECRET.as_bytes());
    let cookie = request.cookie.clone();
    let Ok(parts) = request_parts(method, url, request.headers) else {
        return;
    };
    for origin in [None, Some("http://origin.internal/app")] {
        let settings = StockSettings::from_vars(|name| match name {
            "AUTH_FILTERS" => Some("session,gateway_secret,remote_user".into()),
            "ORIGIN_URL" => origin.map(str::to_owned),
            _ => None,
        })
        .expect("valid settings");
        let chain = settings
            .chain(MemoryStore::new())
            .session_secret(SESSION_SECRET.to_string())
            .gateway_secret(SECRET.to_string())
            .clock(ManualClock::new(NOW))
            .build()
            .expect("a valid chain");
        let outcome = futures::executor::block_on(chain.handle_parts(parts.clone()));
        assert_status(&outcome);
        if let Outcome::Forward { user, .. } = &outcome {
            let user = user.as_ref().expect("ANONYMOUS=deny forwarded no one");
            assert!(secret_sent, "forwarded without the gateway secret");
            assert_eq!(said, Identity::Valid(user.username.clone()));
            assert_upstream(user);
        }
        // The request's own headers: a refusal is negotiated on whatever Accept it sent.
        let reply = Reply::new(
            outcome,
            url,
            cookie.as_deref(),
            &settings.upstream,
            origin,
            &parts.headers,
        );
        let framed = round_trip(&reply);
        if runtime_could_send {
            assert!(framed, "the reply cannot be framed: {reply:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(reply) = AnyReply::arbitrary_take_rest(Unstructured::new(rest)) {
            round_trip(&Reply::from(reply));
        }
    } else {
        request(rest);
    }
});
