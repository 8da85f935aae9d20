#!/usr/bin/env bash
# Builds examples/hello (a workers-rs worker with the library in front) into
# examples/hello/build/: index.js (its shim.mjs bundled with the wasm-bindgen glue) and
# index_bg.wasm. The example's wrangler.toml [build] command.
#
# The steps worker-build 0.8.7 takes, with the local wasm-bindgen (the version in the
# example's Cargo.lock), wasm-opt and esbuild instead of its downloads:
#   cargo build → wasm-bindgen (module target, reset-state function, abort handler)
#   → wasm-opt → esbuild of the shim worker-build would write.
# wasm-opt gets worker-build's feature list (exception handling: the abort handler's catch
# wrappers) at the stock build's level, -Os, where worker-build uses -O.
# The example has a target directory of its own, target/example: on wasm32 cargo names the
# library's rlib without a hash (the lib is also a cdylib), so a build of the stock worker in
# target/ would overwrite the one the example links (built without `stock-worker`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
example="$root/examples/hello"

lock_version() { # the version of crate $1 in the example's Cargo.lock
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' \
    "$example/Cargo.lock"
}
wb_version=$(lock_version wasm-bindgen)
if [ "$(wasm-bindgen --version | awk '{print $2}')" != "$wb_version" ]; then
  echo "examples/hello/Cargo.lock has wasm-bindgen $wb_version, the CLI is $(wasm-bindgen --version)" >&2
  exit 1
fi

cargo build --release --locked --target wasm32-unknown-unknown \
  --manifest-path "$example/Cargo.toml" --target-dir "$root/target/example"
out="$example/build"
rm -rf "$out"
mkdir -p "$out/glue"
wasm-bindgen target/example/wasm32-unknown-unknown/release/hello_remote_user.wasm \
  --target module --out-dir "$out/glue" --out-name index --no-typescript \
  --experimental-reset-state-function --force-enable-abort-handler
# workerd imports a .wasm file as a compiled WebAssembly.Module: a plain import.
sed -i 's/^import source /import /' "$out/glue/index.js"

# The library's stock exports are behind its `stock-worker` feature, which the example turns
# off: its wasm exports fetch and the runtime's helpers, nothing a caller could configure.
exported=$(grep -oE '^export function [A-Za-z_0-9]+' "$out/glue/index.js" | awk '{print $3}' | sort | tr '\n' ' ')
if [ "$exported" != "__wbg_reset_state __worker_init_state fetch " ]; then
  echo "examples/hello exports: $exported(expected fetch and the runtime's helpers only)" >&2
  exit 1
fi

node_modules/.bin/wasm-opt "$out/glue/index_bg.wasm" -o "$out/index_bg.wasm" -Os \
  --strip-debug --strip-producers \
  --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-bulk-memory --enable-multivalue --enable-reference-types \
  --enable-exception-handling
rm "$out/glue/index_bg.wasm"

node_modules/.bin/esbuild "$example/shim.mjs" --bundle --format=esm --minify --log-level=warning \
  --external:./index_bg.wasm --external:'cloudflare:*' --outfile="$out/index.js"
