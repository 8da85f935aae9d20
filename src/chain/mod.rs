//! The [`Filter`] trait, the [`FilterChain`] that runs filters in order (checking their
//! configuration and places once, when it is built), and the per-request [`AuthRequest`]
//! they share: the request as the http crate sees it, the time, the user, and typed state
//! each filter keeps for itself.

mod filter;
mod request;
mod response;

pub(crate) use filter::WarningSink;
pub use filter::{
    AnonymousPolicy, Filter, FilterChain, FilterChainBuilder, FilterKind, Outcome, Position,
};
pub use request::{AuthRequest, GatewayAssertion};
pub use response::LocalResponse;
