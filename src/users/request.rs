//! What a backend is shown of the request it authenticates.

use http::request::Parts;
use http::{HeaderMap, Method, Uri};

/// What a [`UserBackend`](crate::UserBackend) is shown of the request (Django hands its
/// backends the request too): method, URI and headers as the http crate has them, and the
/// time. [`AuthRequest::backend_request`](crate::AuthRequest::backend_request) makes one.
///
/// ```
/// use remote_user_filter::users::BackendRequest;
///
/// let (parts, ()) = http::Request::get("/a").header("x-corp-email", "ann@corp.example")
///     .body(()).unwrap().into_parts();
/// let request = BackendRequest::new(&parts, 1_700_000_000);
/// assert_eq!(request.header_str("x-corp-email"), Some("ann@corp.example"));
/// assert_eq!(request.uri().path(), "/a");
/// assert_eq!(request.now(), 1_700_000_000);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BackendRequest<'a> {
    parts: &'a Parts,
    now: u64,
}

impl<'a> BackendRequest<'a> {
    /// The request `parts`, handled at `now` (seconds since the epoch).
    pub fn new(parts: &'a Parts, now: u64) -> Self {
        Self { parts, now }
    }

    /// The request method.
    pub fn method(&self) -> &'a Method {
        &self.parts.method
    }

    /// The request URI.
    pub fn uri(&self) -> &'a Uri {
        &self.parts.uri
    }

    /// The request headers as sent.
    pub fn headers(&self) -> &'a HeaderMap {
        &self.parts.headers
    }

    /// The value of header `name` (case-insensitive; `_` is not `-`) when valid UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&'a str> {
        self.parts
            .headers
            .get(name)
            .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
    }

    /// The time the request is handled at (seconds since the epoch).
    pub fn now(&self) -> u64 {
        self.now
    }
}
