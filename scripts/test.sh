#!/usr/bin/env bash
# Every test, layer by layer: lint, native (core + doc examples), wasm32 in Node
# (wasm-bindgen-test), then end-to-end against the built workers (the stock one and the
# workers-rs example, examples/hello) in real workerd, and in front of real origins (Django,
# Express, nginx), then the stock worker driven by a real
# browser (Debian's chromium through playwright-core); a smoke-sized hostile soak and a short
# run of every fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false
bash scripts/setup.sh
step() { printf '\n=== %s\n' "$*"; }
step "format and lints (native and wasm32)"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo clippy --all-targets --target wasm32-unknown-unknown -- -D warnings
# A workers-rs worker of your own builds the library without `stock-worker`.
cargo clippy --lib --no-default-features --target wasm32-unknown-unknown -- -D warnings
# The soak's memory probe (tests/soak/soak.mjs --wasm-memory): the counting allocator.
cargo clippy --lib --features heap-stats --target wasm32-unknown-unknown -- -D warnings
cargo fmt --manifest-path examples/hello/Cargo.toml -- --check
cargo clippy --locked --manifest-path examples/hello/Cargo.toml --target wasm32-unknown-unknown \
  --target-dir target/example -- -D warnings
step "layer 1: native cargo test"
cargo test
step "layer 2: wasm-bindgen-test in Node"
cargo test --target wasm32-unknown-unknown
step "layer 3: end-to-end in workerd (Miniflare)"
bash scripts/build.sh
bash scripts/build-example.sh
bash scripts/node.sh --test --test-concurrency=1 tests/e2e/*.test.mjs
step "layer 3b: a hostile soak in workerd, smoke size (tests/soak/soak.mjs; the 100k run: SECURITY.md)"
bash scripts/node.sh tests/soak/soak.mjs --requests 3000 --concurrency 32
step "layer 3c: real origins (Django, Express, nginx on loopback) behind the worker in workerd"
bash scripts/node.sh --test --test-concurrency=1 tests/origins/*.test.mjs
step "layer 4: a real browser (chromium) against the worker in workerd"
bash scripts/node.sh --test --test-concurrency=1 tests/browser/*.test.mjs
step "fuzz smoke: every cargo fuzz target briefly from its kept seeds (nightly; the long runs: scripts/fuzz.sh)"
bash scripts/fuzz.sh --smoke 10
