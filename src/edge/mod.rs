//! The Cloudflare Worker: the JS entry (`src/edge/entry.js`) and the [`wire`] format it
//! speaks with the wasm core, and on wasm32 the exports it calls, Workers KV as a
//! [`UserStore`](crate::UserStore) and the JWKS fetch (`worker`), and the same chain in
//! front of your own workers-rs worker (`api`).

#[cfg(target_arch = "wasm32")]
pub mod api;
pub mod wire;
#[cfg(target_arch = "wasm32")]
pub mod worker;
