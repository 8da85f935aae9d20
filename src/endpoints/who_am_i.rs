//! [`WhoAmIFilter`]: the who-am-I endpoint (`WHOAMI_PATH`).

use async_trait::async_trait;
use http::{HeaderName, Method};
use serde::Serialize;

use crate::chain::{AuthRequest, Filter, FilterKind, LocalResponse, Position};
use crate::endpoints::sign_out::check_path;
use crate::error::{AuthError, ConfigProblem};
use crate::negotiate::{escape_html as escape, preferred};
use crate::users::SessionUser;

/// Default `WHOAMI_PATH`.
pub const DEFAULT_WHOAMI_PATH: &str = "/.auth/me";

/// The page's own policy: no script, no outside resource, not framed.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

/// What the who-am-I endpoint says about the signed-in user, as JSON.
#[derive(Debug, Serialize)]
struct Identity<'a> {
    username: &'a str,
    email: Option<&'a str>,
    groups: &'a [String],
    session_expires_at: Option<String>,
    gateway: &'a str,
}

/// Answers the who-am-I path itself for whoever the chain signed in by then: `200` JSON
/// `{"username", "email", "groups", "session_expires_at", "gateway"}`, or a small HTML page
/// (signed in as …, the groups, a sign-out button) when `Accept` prefers `text/html` (JSON
/// on a tie, and with no `Accept`); 406 when `Accept` refuses both (`q=0`, or neither
/// listed nor covered by a range); all `no-store` and `nosniff`. 401 when no one is signed
/// in (403 for an identity the backend refused). It never shows a token or a cookie. Every
/// other path goes on down the chain.
///
/// Install it after the remote-user filter (it answers for the user that filter logged
/// in) and before [`PathRulesFilter`](crate::PathRulesFilter), so any signed-in user can
/// see who they are.
///
/// ```
/// use std::rc::Rc;
/// use remote_user_filter::{
///     FilterChain, KvUserBackend, ManualClock, MemoryStore, Outcome, RemoteUserFilter,
///     SessionFilter, WhoAmIFilter,
/// };
///
/// # futures::executor::block_on(async {
/// let backend = Rc::new(KvUserBackend::new(MemoryStore::new()));
/// let chain = FilterChain::builder()
///     .filter(SessionFilter::builder("a-32-byte-or-longer-session-secret!").build())
///     .filter(RemoteUserFilter::builder(backend).trust_unsigned_header(true).build())
///     .filter(WhoAmIFilter::new("/.auth/me", "cloudflare_access"))
///     .clock(ManualClock::new(1_700_000_000))
///     .build()
///     .unwrap();
/// let (parts, ()) = http::Request::get("https://app.example/.auth/me")
///     .header("cf-access-authenticated-user-email", "ann@example.com")
///     .body(())
///     .unwrap()
///     .into_parts();
/// let Outcome::Answer { response, set_cookie } = chain.handle_parts(parts).await else { panic!() };
/// assert_eq!(response.status(), 200);
/// assert!(response.body().starts_with(r#"{"username":"ann@example.com""#));
/// // This request logged Ann in: its one Set-Cookie goes with the answer.
/// assert!(set_cookie.is_some());
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct WhoAmIFilter {
    path: String,
    gateway: String,
    sign_out: Option<String>,
}

impl WhoAmIFilter {
    /// Answer at `path`, naming `gateway` (e.g. `cloudflare_access`) as the one that
    /// vouched for the user.
    pub fn new(path: impl Into<String>, gateway: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            gateway: gateway.into(),
            sign_out: None,
        }
    }

    /// Put a sign-out button on the HTML page, posting to `path` (the
    /// [`SignOutFilter`](crate::SignOutFilter)'s).
    ///
    /// ```
    /// let f = remote_user_filter::WhoAmIFilter::new("/.auth/me", "pomerium").sign_out("/.auth/logout");
    /// assert_eq!(f.path(), "/.auth/me");
    /// ```
    pub fn sign_out(mut self, path: impl Into<String>) -> Self {
        self.sign_out = Some(path.into());
        self
    }

    /// The who-am-I path.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn json(&self, user: &SessionUser, expires_at: Option<u64>) -> String {
        let identity = Identity {
            username: &user.username,
            email: user.email.as_deref(),
            groups: &user.groups,
            session_expires_at: expires_at.and_then(rfc3339),
            gateway: &self.gateway,
        };
        // Strings and a list of strings: serializing cannot fail.
        serde_json::to_string(&identity).unwrap_or_default()
    }

    fn page(&self, user: &SessionUser, expires_at: Option<u64>) -> String {
        let mut page = String::from(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width\">\
             <title>Signed in</title>\
             <style>body{font:16px/1.5 system-ui,sans-serif;margin:3em auto;max-width:36em;padding:0 1em}\
             dt{font-weight:600}</style></head><body>\n",
        );
        page.push_str(&format!(
            "<h1>Signed in as <span id=\"username\">{}</span></h1>\n<dl>\n",
            escape(&user.username)
        ));
        if let Some(email) = &user.email {
            page.push_str(&format!(
                "<dt>Email</dt><dd id=\"email\">{}</dd>\n",
                escape(email)
            ));
        }
        let groups = if user.groups.is_empty() {
            "(none)".to_owned()
        } else {
            user.groups
                .iter()
                .map(|g| escape(g))
                .collect::<Vec<_>>()
                .join(", ")
        };
        page.push_str(&format!("<dt>Groups</dt><dd id=\"groups\">{groups}</dd>\n"));
        if let Some(expires) = expires_at.and_then(rfc3339) {
            page.push_str(&format!(
                "<dt>Session ends</dt><dd id=\"expires\">{expires}</dd>\n"
            ));
        }
        page.push_str(&format!(
            "<dt>Gateway</dt><dd id=\"gateway\">{}</dd>\n</dl>\n",
            escape(&self.gateway)
        ));
        if let Some(sign_out) = &self.sign_out {
            page.push_str(&format!(
                "<form method=\"post\" action=\"{}\"><button type=\"submit\" id=\"sign-out\">Sign out</button></form>\n",
                escape(sign_out)
            ));
        }
        page.push_str("</body></html>\n");
        page
    }
}

/// The two forms who-am-I answers in, JSON first (a tie, or no `Accept`, gets JSON).
const FORMS: [&str; 2] = ["application/json", "text/html"];

/// Seconds since the epoch as an RFC 3339 UTC time.
fn rfc3339(secs: u64) -> Option<String> {
    let at = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).ok()?).ok()?;
    at.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

#[async_trait(?Send)]
impl Filter for WhoAmIFilter {
    fn check(&self, position: &Position<'_>) -> Result<(), ConfigProblem> {
        check_path("WHOAMI_PATH", &self.path)?;
        if let Some(sign_out) = &self.sign_out {
            check_path("LOGOUT_PATH", sign_out)?;
        }
        if !position.before().contains(&FilterKind::RemoteUser) {
            return Err(ConfigProblem::RequiresBefore {
                required: "RemoteUserFilter",
            });
        }
        Ok(())
    }

    fn headers_read(&self) -> Option<Vec<HeaderName>> {
        Some(vec![http::header::ACCEPT])
    }

    async fn call(&self, req: &mut AuthRequest) -> Result<(), AuthError> {
        if req.path() != self.path {
            return Ok(());
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            req.respond(LocalResponse::method_not_allowed(
                "GET, HEAD",
                "who-am-I answers GET
",
            ));
            return Ok(());
        }
        let Some(user) = req.user() else {
            return Err(req.no_user_error());
        };
        let expires_at = req.session_expires_at();
        let response = match preferred(req.headers(), &FORMS) {
            Some("text/html") => LocalResponse::new(200, self.page(user, expires_at))
                .header("Content-Type", "text/html; charset=utf-8")
                .header("Content-Security-Policy", PAGE_POLICY),
            Some(_) => LocalResponse::new(200, self.json(user, expires_at))
                .header("Content-Type", "application/json"),
            None => LocalResponse::new(
                406,
                "who-am-I answers application/json or text/html, and Accept refuses both\n",
            )
            .header("Content-Type", "text/plain; charset=utf-8"),
        };
        req.respond(
            response
                .header("Cache-Control", "no-store")
                .header("X-Content-Type-Options", "nosniff")
                .header("Vary", "Accept, Cookie"),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_utc() {
        assert_eq!(rfc3339(0).as_deref(), Some("1970-01-01T00:00:00Z"));
    }
}
