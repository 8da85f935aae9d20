//! Small building blocks several concerns share: a bounded first-in-first-out map for the
//! per-isolate caches, and the one-flight sharing of a look-up among concurrent requests.
//! Nothing here knows about requests, users or sessions.

pub(crate) mod bounded;
#[cfg(all(feature = "heap-stats", target_arch = "wasm32"))]
pub(crate) mod heap_stats;
pub(crate) mod single_flight;
