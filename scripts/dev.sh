#!/usr/bin/env bash
# Runs the worker locally in real workerd (`wrangler dev`, which builds it first) on
# http://127.0.0.1:8787, with a local KV namespace seeded with a demo user, a dev secret in
# .dev.vars, and a loopback echo origin on :8788 (set ORIGIN_URL to use your own).
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false
bash scripts/setup.sh
if [ ! -f .dev.vars ]; then
  echo "SESSION_SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '\n')" > .dev.vars
  echo "[dev] wrote a random dev SESSION_SECRET to .dev.vars"
fi
wrangler() { bash scripts/node.sh node_modules/wrangler/bin/wrangler.js "$@"; }
wrangler kv key put --local --binding USERS "user:demo@example.com" \
  '{"username":"demo@example.com","is_active":true,"email":"demo@example.com","groups":["demo"]}'
wrangler kv key put --local --binding USERS "user:inactive@example.com" \
  '{"username":"inactive@example.com","is_active":false}'
if [ -z "${ORIGIN_URL:-}" ]; then
  node scripts/echo-origin.mjs &
  echo_pid=$!
  trap 'kill $echo_pid 2>/dev/null || true' EXIT
  ORIGIN_URL=http://127.0.0.1:8788
fi
cat <<'MSG'

[dev] worker on http://127.0.0.1:8787 once wrangler says Ready (local KV has demo@example.com).
[dev] log in as the demo user: one Set-Cookie, and the origin sees X-Remote-User:
  curl -i -H 'Cf-Access-Authenticated-User-Email: demo@example.com' http://127.0.0.1:8787/hello
[dev] no identity -> 401; an inactive user -> 403:
  curl -i http://127.0.0.1:8787/
  curl -i -H 'Cf-Access-Authenticated-User-Email: inactive@example.com' http://127.0.0.1:8787/

MSG
# Locally there is no Access in front: trust the plain header (never do this in production).
wrangler dev --ip 127.0.0.1 --port 8787 --var "ORIGIN_URL:$ORIGIN_URL" \
  --var "AUTH_FILTERS:session,remote_user" --var "TRUST_UNSIGNED_HEADER:true" "$@"
