//! Endpoints the worker answers itself, never forwarded: sign-out ([`SignOutFilter`],
//! `LOGOUT_PATH`) and who-am-I ([`WhoAmIFilter`], `WHOAMI_PATH`). Each is a filter that
//! answers its own path ([`AuthRequest::respond`](crate::AuthRequest::respond)) and lets
//! every other request go on down the chain.

mod sign_out;
mod who_am_i;

pub use sign_out::{SignOutFilter, ACCESS_SIGN_OUT, DEFAULT_LOGOUT_PATH, IAP_SIGN_OUT};
pub use who_am_i::{WhoAmIFilter, DEFAULT_WHOAMI_PATH};
