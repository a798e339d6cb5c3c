#!/usr/bin/env bash
# Starts `herald serve` on a fresh SQLite file and drives it with the official Python
# SDK (installed from PyPI into a throwaway virtualenv). Needs python3 with venv and pip.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "svix==2.9.1"

cargo build --quiet --manifest-path "$root/Cargo.toml" -p herald
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$work" && HERALD_LISTEN="127.0.0.1:$port" exec "$root/target/debug/herald" serve >"$work/out" 2>"$work/err") &
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
HERALD_URL="http://127.0.0.1:$port" HERALD_TOKEN="$token" "$work/venv/bin/python" "$root/tests/sdk/python_smoke.py"
