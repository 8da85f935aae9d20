#!/usr/bin/env bash
# Installs what building and testing the worker needs, skipping whatever is already there:
# the wasm32 target, wasm-bindgen-cli at exactly the version in Cargo.lock, the pinned
# npm packages (wrangler/workerd, miniflare, esbuild, binaryen's wasm-opt, playwright-core),
# and Debian's chromium for the browser tests. Nothing is downloaded from outside crates.io and npm.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

lock_version() { # the version of crate $1 in Cargo.lock
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

wb_version=$(lock_version wasm-bindgen)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wb_version" ]; then
  log "installing wasm-bindgen-cli $wb_version (about 6 minutes)"
  cargo install wasm-bindgen-cli --version "=$wb_version" --force
fi

if [ ! -x node_modules/.bin/wrangler ] || [ ! -x node_modules/.bin/wasm-opt ] \
  || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages from package-lock.json"
  npm ci --no-audit --no-fund
fi

# The browser tests drive Debian's chromium through playwright-core (Playwright's own browser
# download is not used). CHROMIUM_PATH points them at another build.
if [ -z "${CHROMIUM_PATH:-}" ] && [ ! -x /usr/bin/chromium ]; then
  log "installing Debian's chromium (browser tests)"
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get install -y chromium \
    || { $sudo apt-get update && $sudo apt-get install -y chromium; }
fi

# The real origins of tests/origins: Debian's nginx-light, and Django + uvicorn in a venv
# (.venv-origins, from tests/origins/requirements.txt); Express comes with the npm packages.
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  log "installing Debian's nginx-light (real-origin tests)"
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get install -y nginx-light \
    || { $sudo apt-get update && $sudo apt-get install -y nginx-light; }
  # The package starts the default site on port 80; the tests run their own, on loopback.
  $sudo service nginx stop >/dev/null 2>&1 || true
fi
venv=.venv-origins
if [ ! -x "$venv/bin/uvicorn" ] || [ tests/origins/requirements.txt -nt "$venv/.installed" ]; then
  log "installing Django and uvicorn into $venv (real-origin tests)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/origins/requirements.txt
  touch "$venv/.installed"
fi
