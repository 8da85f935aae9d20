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
