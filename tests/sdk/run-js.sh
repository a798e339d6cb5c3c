#!/usr/bin/env bash
# Starts `herald serve` on a fresh SQLite file and drives it with the official JavaScript
# SDK (`svix` from npm, pinned in tests/sdk/js/package-lock.json), receiving its deliveries
# on a local server. Needs node and npm. HERALD_BIN runs a binary already built instead.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

(cd "$root/tests/sdk/js" && npm ci --silent --no-audit --no-fund)

# The SDK's deliveries go to a receiver on this machine.
export HERALD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8
. "$root/tests/sdk/serve.sh"
start_herald
HERALD_URL="$base" HERALD_TOKEN="$token" node "$root/tests/sdk/js/smoke.mjs" \
  || { echo "--- herald's log" >&2; tail -40 "$work/err" >&2; exit 1; }
