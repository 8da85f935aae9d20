//! The request the filters share carries the method and URI, not only headers, and typed
//! per-request state a filter keeps for itself: a custom filter can decide by path and
//! method, and pass what it learned to a later filter, through the whole chain.

use std::rc::Rc;

use remote_user_filter::{
    async_trait, AuthError, AuthRequest, Filter, FilterChain, KvUserBackend, ManualClock,
    MemoryStore, Outcome, RemoteUserFilter, SessionFilter,
};

const SECRET: &str = "a-32-byte-or-longer-session-secret!";

/// Refuses anything but GET and HEAD under `/admin/`, and notes the section it saw.
struct ReadOnlyAdmin;

/// What `ReadOnlyAdmin` noted for later filters (a type of its own).
struct Section(&'static str);

#[async_trait(?Send)]
impl Filter for ReadOnlyAdmin {
    async fn call(&self, req: &mut AuthRequest) -> Result<(), AuthError> {
        if req.path().starts_with("/admin/") {
            req.insert_state(Section("admin"));
            if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
                return Err(AuthError::Rejected);
            }
        }
        Ok(())
    }
}

/// Refuses a request `ReadOnlyAdmin` placed in the admin section unless it is `/admin/ok`.
struct AdminAllowList;

#[async_trait(?Send)]
impl Filter for AdminAllowList {
    async fn call(&self, req: &mut AuthRequest) -> Result<(), AuthError> {
        match req.state::<Section>() {
            Some(Section("admin")) if req.uri().path() != "/admin/ok" => Err(AuthError::Rejected),
            _ => Ok(()),
        }
    }
}

fn chain() -> FilterChain {
    let store = Rc::new(MemoryStore::new());
    FilterChain::builder()
        .filter(ReadOnlyAdmin)
        .filter(AdminAllowList)
        .filter(SessionFilter::builder(SECRET).build())
        .filter(
            RemoteUserFilter::builder(Rc::new(KvUserBackend::new(store)))
                .trust_unsigned_header(true)
                .build(),
        )
        .clock(ManualClock::new(1_700_000_000))
        .build()
        .expect("a valid chain")
}

fn parts(method: &str, url: &str) -> http::request::Parts {
    let (parts, ()) = http::Request::builder()
        .method(method)
        .uri(url)
        .header("cf-access-authenticated-user-email", "ann@example.com")
        .body(())
        .expect("a request")
        .into_parts();
    parts
}

fn status(outcome: &Outcome) -> u16 {
    match outcome {
        Outcome::Forward { .. } => 200,
        Outcome::Respond { error, .. } => error.status(),
        Outcome::Answer { response, .. } => response.status(),
    }
}

#[test]
fn filters_decide_by_method_and_path() {
    futures::executor::block_on(async {
        let chain = chain();
        let get = chain
            .handle_parts(parts("GET", "https://app.example/admin/ok"))
            .await;
        assert_eq!(status(&get), 200);
        let post = chain
            .handle_parts(parts("POST", "https://app.example/admin/ok"))
            .await;
        assert_eq!(status(&post), 403, "a POST under /admin/ is refused");
        let elsewhere = chain
            .handle_parts(parts("POST", "https://app.example/api/x"))
            .await;
        assert_eq!(status(&elsewhere), 200, "a POST elsewhere goes on");
    });
}

#[test]
fn a_filter_reads_the_state_an_earlier_one_kept() {
    futures::executor::block_on(async {
        let chain = chain();
        let other = chain
            .handle_parts(parts("GET", "https://app.example/admin/users"))
            .await;
        assert_eq!(
            status(&other),
            403,
            "the second filter saw the first one's note"
        );
        let outside = chain
            .handle_parts(parts("GET", "https://app.example/users"))
            .await;
        assert_eq!(status(&outside), 200);
    });
}

#[test]
fn a_headers_only_request_is_get_root() {
    let req = AuthRequest::new(http::HeaderMap::new(), 0);
    assert_eq!((req.method(), req.path()), (&http::Method::GET, "/"));
}
