#!/usr/bin/env bash
# Builds the worker into build/: build/index.js (src/edge/entry.js bundled with the wasm-bindgen
# glue) and build/index_bg.wasm. wrangler.toml's [build] command.
#
# The steps worker-build would take, with our own entry instead of its generic one (whose
# per-request Proxy/class wrapping and `request.cf` read cost more than the filter), and the
# local wasm-bindgen, wasm-opt and esbuild (worker-build would download them):
#   cargo build → wasm-bindgen (module target) → wasm-opt -Os → esbuild.
# WASM_OPT_LEVEL=Oz (or O3, …) changes wasm-opt's level, for size/speed experiments; the
# Rust side follows Cargo.toml's release profile (CARGO_PROFILE_RELEASE_OPT_LEVEL overrides).
# KEEP_NAMES=1 keeps the wasm "name" section, so CPU profiles (bench/profile.mjs) name Rust
# functions. FEATURES="a b" adds cargo features; OUT=DIR writes only the wasm and its glue
# (DIR/index_bg.wasm, DIR/glue/index.js), for a caller that bundles its own entry against
# them (tests/soak/soak.mjs --wasm-memory: OUT=build-soak FEATURES=heap-stats).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

out=${OUT:-build}
features=()
if [ -n "${FEATURES:-}" ]; then features=(--features "$FEATURES"); fi
cargo build --release --target wasm32-unknown-unknown --lib "${features[@]}"
rm -rf "$out"
mkdir -p "$out/glue"
wasm-bindgen target/wasm32-unknown-unknown/release/remote_user_filter.wasm \
  --target module --out-dir "$out/glue" --out-name index --no-typescript \
  --experimental-reset-state-function
# workerd imports a .wasm file as a compiled WebAssembly.Module: a plain import, not the
# source-phase one wasm-bindgen writes.
sed -i 's/^import source /import /' "$out/glue/index.js"

strip=(--strip-debug --strip-producers)
if [ "${KEEP_NAMES:-0}" = 1 ]; then strip=(--debuginfo); fi
node_modules/.bin/wasm-opt "$out/glue/index_bg.wasm" -o "$out/index_bg.wasm" "-${WASM_OPT_LEVEL:-Os}" "${strip[@]}" \
  --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-bulk-memory --enable-multivalue --enable-reference-types
rm "$out/glue/index_bg.wasm"

# The glue imports "./index_bg.wasm": kept external, it resolves beside build/index.js.
if [ "$out" = build ]; then
  node_modules/.bin/esbuild src/edge/entry.js --bundle --format=esm --minify --log-level=warning \
    --external:./index_bg.wasm --external:'cloudflare:*' --outfile=build/index.js
fi
