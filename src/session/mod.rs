//! The session cookie: the [`SessionFilter`] that reads it, [`login`] (which issues the one
//! `Set-Cookie` and stamps the login) and [`logout`], and the signed [`token`] format.

mod filter;
pub mod token;

pub(crate) use filter::renew;
pub use filter::{
    login, logout, SessionFilter, SessionFilterBuilder, DEFAULT_COOKIE_NAME, DEFAULT_TTL_SECS,
    MAX_SET_COOKIE_LEN, MIN_SECRET_LEN, SESSION_CACHE_ENTRIES,
};
