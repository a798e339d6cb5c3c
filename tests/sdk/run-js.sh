#!/usr/bin/env bash
# Starts `herald serve` on a fresh SQLite file and drives it with the official JavaScript
# SDK (`svix` from npm, pinned in tests/sdk/js/package-lock.json), receiving its deliveries
# on a local server. Needs node and npm. HERALD_BIN runs a binary already built instead.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

(cd "$root/tests/sdk/js" && npm ci --silent --no-audit --no-fund)

if [ -z "${HERALD_BIN:-}" ]; then
  cargo build --quiet --manifest-path "$root/Cargo.toml" -p herald
  HERALD_BIN="$root/target/debug/herald"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The SDK's deliveries go to a receiver on this machine.
(cd "$work" && HERALD_LISTEN="127.0.0.1:$port" HERALD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8 \
  exec "$HERALD_BIN" serve >"$work/out" 2>"$work/err") &
pid=$!
for _ in $(seq 1 100); do
  grep -q 'API token:' "$work/out" 2>/dev/null && break
  sleep 0.2
done
token=$(sed -n 's/^ *API token: *//p' "$work/out" | head -1)
if [ -z "$token" ]; then
  echo "herald serve printed no token" >&2
  cat "$work/out" "$work/err" >&2
  exit 1
fi
HERALD_URL="http://127.0.0.1:$port" HERALD_TOKEN="$token" node "$root/tests/sdk/js/smoke.mjs" \
  || { echo "--- herald's log" >&2; tail -40 "$work/err" >&2; exit 1; }
