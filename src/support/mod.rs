//! Small building blocks several concerns share: a bounded first-in-first-out map for the
//! per-isolate caches, and the one-flight sharing of a look-up among concurrent requests.
//! Nothing here knows about requests, users or sessions.

pub(crate) mod bounded;
pub(crate) mod single_flight;
