//! [`LocalResponse`]: an answer a filter gives itself (a sign-out redirect, a who-am-I
//! page), sent instead of forwarding the request.

/// A response a filter answers with itself, never forwarded to the origin
/// ([`AuthRequest::respond`](crate::AuthRequest::respond)). The chain adds the request's one
/// `Set-Cookie`, if any.
///
/// ```
/// use remote_user_filter::LocalResponse;
/// let response = LocalResponse::new(302, "")
///     .header("Location", "/cdn-cgi/access/logout")
///     .header("Cache-Control", "no-store");
/// assert_eq!(response.status(), 302);
/// assert_eq!(response.header_value("location"), Some("/cdn-cgi/access/logout"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResponse {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl LocalResponse {
    /// A response with `status` and `body`, no headers yet.
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A 405 for a method the endpoint does not answer: `allow` lists the ones it does,
    /// `body` says so; plain text, not sniffed, not cached.
    ///
    /// ```
    /// let r = remote_user_filter::LocalResponse::method_not_allowed("GET, POST", "sign out with GET or POST\n");
    /// assert_eq!((r.status(), r.header_value("allow")), (405, Some("GET, POST")));
    /// assert_eq!(r.header_value("x-content-type-options"), Some("nosniff"));
    /// ```
    pub fn method_not_allowed(allow: &'static str, body: &'static str) -> Self {
        Self::new(405, body)
            .header("Allow", allow)
            .header("Content-Type", "text/plain; charset=utf-8")
            .header("Cache-Control", "no-store")
            .header("X-Content-Type-Options", "nosniff")
    }

    /// Add a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers, in the order added.
    ///
    /// ```
    /// let r = remote_user_filter::LocalResponse::new(200, "{}").header("Content-Type", "application/json");
    /// assert_eq!(r.headers(), [("Content-Type", "application/json".to_string())]);
    /// ```
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// The first value of header `name` (any case).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body.
    ///
    /// ```
    /// assert_eq!(remote_user_filter::LocalResponse::new(200, "ok").body(), "ok");
    /// ```
    pub fn body(&self) -> &str {
        &self.body
    }

    /// Status, headers and body, taken apart.
    pub fn into_parts(self) -> (u16, Vec<(&'static str, String)>, String) {
        (self.status, self.headers, self.body)
    }
}
