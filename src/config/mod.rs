//! The stock worker's settings, read from wrangler vars and secrets ([`StockSettings`]), the
//! chain they build ([`StockChainBuilder`]), and, natively, the offline check of a
//! `wrangler.toml` and `.dev.vars` ([`offline`]).

#[cfg(not(target_arch = "wasm32"))]
pub mod offline;
mod settings;

pub use settings::{
    FilterName, StockChainBuilder, StockSettings, DEFAULT_KV_TIMEOUT_MS, KV_BINDING,
};
