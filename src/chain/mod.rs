//! The [`Filter`] trait, the [`FilterChain`] that runs filters in order (checking their
//! configuration and places once, when it is built), and the per-request [`AuthRequest`]
//! they share: the request as the http crate sees it, the time, the user, and typed state
//! each filter keeps for itself.

mod filter;
mod request;
mod response;

pub use filter::{
    refusal, AnonymousPolicy, Filter, FilterChain, FilterChainBuilder, FilterKind, Outcome,
    Position,
};
pub(crate) use filter::{EventSink, WarningSink};
pub use request::{AuthRequest, GatewayAssertion, CF_RAY};
pub use response::LocalResponse;
