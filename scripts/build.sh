#!/usr/bin/env bash
# Builds the worker into build/ with worker-build, using local wasm-bindgen, esbuild and
# wasm-opt (worker-build would otherwise download them). wrangler.toml's [build] command.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
export WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
worker-build --release
# worker-build keeps the wasm "name" section (~140 KB of function names, ~40 KB gzip): strip
# it, with the same feature set worker-build gives wasm-opt, and no other change.
"$WASM_OPT_BIN" build/index_bg.wasm -o build/index_bg.wasm --strip-debug --strip-producers \
  --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling
