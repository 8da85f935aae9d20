//! [`SignOutFilter`]: the sign-out endpoint (`LOGOUT_PATH`).

use async_trait::async_trait;
use http::{HeaderName, Method};

use crate::chain::{AuthRequest, Filter, FilterKind, LocalResponse, Position};
use crate::error::{AuthError, ConfigProblem};
use crate::events::{AuthEvent, EventKind};
use crate::routes::valid_entry;
use crate::session::logout;

/// Default `LOGOUT_PATH`.
pub const DEFAULT_LOGOUT_PATH: &str = "/.auth/logout";

/// Cloudflare Access's own sign-out, on the application's host.
pub const ACCESS_SIGN_OUT: &str = "/cdn-cgi/access/logout";

/// Google IAP's sign-out: any URL of the application with this query clears IAP's cookie.
pub const IAP_SIGN_OUT: &str = "/?gcp-iap-mode=CLEAR_LOGIN_COOKIE";

pub(crate) const PATH_EXPECTED: &str = "a path starting with `/`, of visible ASCII without `?` or \
     `#`, e.g. `/.auth/logout` (empty: no endpoint)";

const REDIRECT_EXPECTED: &str = "a path on this host starting with a single `/` (e.g. \
     `/signed-out`) or an https URL (e.g. `https://auth.example.com/.pomerium/sign_out`)";

/// Answers the sign-out path itself: forgets the session (the cookie's removal, one
/// `Set-Cookie`) and redirects (302) to the gateway's own sign-out, so the gateway's
/// session ends too. `GET` and `POST` sign out (a link or a form button); any other method
/// is answered 405. Every other path goes on down the chain.
///
/// Install it right after [`SessionFilter`](crate::SessionFilter) and before the
/// remote-user filter, which would otherwise log the gateway's user in again first.
///
/// ```
/// use std::rc::Rc;
/// use remote_user_filter::{
///     FilterChain, KvUserBackend, MemoryStore, Outcome, RemoteUserFilter, SessionFilter,
///     SignOutFilter,
/// };
///
/// # futures::executor::block_on(async {
/// let backend = Rc::new(KvUserBackend::new(MemoryStore::new()));
/// let chain = FilterChain::builder()
///     .filter(SessionFilter::builder("a-32-byte-or-longer-session-secret!").build())
///     .filter(SignOutFilter::new("/.auth/logout", "/cdn-cgi/access/logout"))
///     .filter(RemoteUserFilter::builder(backend.clone()).trust_unsigned_header(true).build())
///     .build()
///     .unwrap();
/// let (parts, ()) = http::Request::get("https://app.example/.auth/logout")
///     .header("cf-access-authenticated-user-email", "ann@example.com")
///     .body(())
///     .unwrap()
///     .into_parts();
/// let Outcome::Answer { response, set_cookie } = chain.handle_parts(parts).await else { panic!() };
/// assert_eq!(response.status(), 302);
/// assert_eq!(response.header_value("Location"), Some("/cdn-cgi/access/logout"));
/// assert!(set_cookie.unwrap().contains("Max-Age=0"));
/// // Signing out logged no one in.
/// assert_eq!(backend.store().reads(), 0);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct SignOutFilter {
    path: String,
    redirect: String,
}

impl SignOutFilter {
    /// Sign out at `path`, then redirect to `redirect` (a path on this host or an https
    /// URL; the configuration check refuses anything else).
    pub fn new(path: impl Into<String>, redirect: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            redirect: redirect.into(),
        }
    }

    /// The sign-out path.
    ///
    /// ```
    /// let f = remote_user_filter::SignOutFilter::new("/.auth/logout", "/");
    /// assert_eq!(f.path(), "/.auth/logout");
    /// ```
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Where a signed-out browser is sent.
    ///
    /// ```
    /// let f = remote_user_filter::SignOutFilter::new("/.auth/logout", "/bye");
    /// assert_eq!(f.redirect(), "/bye");
    /// ```
    pub fn redirect(&self) -> &str {
        &self.redirect
    }
}

/// A redirect target the browser cannot read as another host's or a script: a path with one
/// leading `/` (`//host` and `/\host` are other hosts to browsers), or an https URL with a
/// host; visible ASCII only.
pub(crate) fn valid_redirect(target: &str) -> bool {
    if target.is_empty() || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return false;
    }
    if let Some(rest) = target.strip_prefix('/') {
        return !rest.starts_with('/') && !rest.starts_with('\\');
    }
    target.len() > "https://".len()
        && target[..8].eq_ignore_ascii_case("https://")
        && !target.contains('\\')
        && target.parse::<http::Uri>().is_ok_and(|uri| {
            uri.scheme_str() == Some("https") && uri.host().is_some_and(|h| !h.is_empty())
        })
}

/// The path setting's check, shared with the who-am-I endpoint.
pub(crate) fn check_path(setting: &'static str, path: &str) -> Result<(), ConfigProblem> {
    if valid_entry(path) {
        Ok(())
    } else {
        Err(ConfigProblem::InvalidValue {
            setting,
            value: path.to_owned(),
            expected: PATH_EXPECTED,
        })
    }
}

#[async_trait(?Send)]
impl Filter for SignOutFilter {
    fn check(&self, position: &Position<'_>) -> Result<(), ConfigProblem> {
        check_path("LOGOUT_PATH", &self.path)?;
        if !valid_redirect(&self.redirect) {
            return Err(ConfigProblem::InvalidValue {
                setting: "LOGOUT_REDIRECT",
                value: self.redirect.clone(),
                expected: REDIRECT_EXPECTED,
            });
        }
        if !position.before().contains(&FilterKind::Session) {
            return Err(ConfigProblem::RequiresBefore {
                required: "SessionFilter",
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
        Some(Vec::new())
    }

    async fn call(&self, req: &mut AuthRequest) -> Result<(), AuthError> {
        if req.path() != self.path {
            return Ok(());
        }
        if req.method() != Method::GET && req.method() != Method::POST {
            req.respond(LocalResponse::method_not_allowed(
                "GET, POST",
                "sign out with GET or POST
",
            ));
            return Ok(());
        }
        // Who is signing out, as the session cookie said (none: no session to end).
        let mut event = AuthEvent::new(EventKind::SignOut);
        if let Some(user) = req.user() {
            event = event.user(user.username.clone());
        }
        req.record_event(event);
        logout(req);
        req.respond(
            LocalResponse::new(302, "")
                .header("Location", self.redirect.clone())
                .header("Cache-Control", "no-store"),
        );
        Ok(())
    }
}
