#!/usr/bin/env bash
# The receivers of docs/receiving.md against a real `herald serve`: the page quotes them
# verbatim (snippets.py), each is installed at pinned versions into a throwaway place, and
# check.py sends them a real delivery, a tampered copy and a replay. Needs python3 (venv,
# pip), node, npm and cargo; a missing one fails the run. HERALD_BIN runs a binary
# already built instead of building one.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
receivers=()
cleanup() {
  for p in "${receivers[@]}" "${pid:-}"; do
    kill "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
started=$SECONDS

fail() { echo "FAIL: $*" >&2; exit 1; }
command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null \
  || fail "python3 with venv and pip is needed for the Python receiver"
command -v node >/dev/null && command -v npm >/dev/null || fail "node and npm are needed for the Node receiver"
command -v cargo >/dev/null || fail "cargo is needed for the Rust receiver"

python3 "$here/snippets.py" "$root"

# Python: a virtualenv; Node: a copy of the project with its lock file; Rust: its own
# lock file and a target directory of its own, kept between runs to save rebuilding.
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/python/requirements.txt"
cp "$here/node/package.json" "$here/node/package-lock.json" "$here/node/receiver.mjs" "$work/"
(cd "$work" && npm ci --silent --no-audit --no-fund)
rust_target="${TMPDIR:-/tmp}/herald-receiving-rust-target"
CARGO_TARGET_DIR="$rust_target" cargo build --quiet --locked --manifest-path "$here/rust/Cargo.toml"

# The receivers listen on 127.0.0.1.
export HERALD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8
. "$root/tests/sdk/serve.sh"
start_herald

secret=$(python3 -c 'import base64, os; print("whsec_" + base64.b64encode(os.urandom(24)).decode())')
urls=""
# start_receiver NAME COMMAND...: runs it on a free port, its output in $work/NAME.log.
start_receiver() {
  local name=$1 port=""
  shift
  (PORT=0 WEBHOOK_SECRET="$secret" exec "$@" >"$work/$name.log" 2>"$work/$name.err") &
  receivers+=($!)
  for _ in $(seq 1 100); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/$name.log" | head -1)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$work/$name.log" "$work/$name.err" >&2; fail "the $name receiver did not start"; }
  urls="$urls $name=http://127.0.0.1:$port/webhooks"
}
start_receiver python "$work/venv/bin/python" "$here/python/receiver.py"
start_receiver node node "$work/receiver.mjs"
start_receiver rust "$rust_target/debug/herald-receiving-rust"

HERALD_URL="$base" HERALD_TOKEN="$token" HERALD_BIN="$HERALD_BIN" WEBHOOK_SECRET="$secret" \
  LOGS="$work" RECEIVERS="$urls" python3 "$here/check.py" \
  || {
    for name in python node rust; do
      echo "--- the $name receiver's output" >&2
      tail -n 20 "$work/$name.log" "$work/$name.err" >&2
    done
    echo "--- herald's log" >&2
    tail -n 40 "$work/err" >&2
    exit 1
  }
echo "receivers of docs/receiving.md: python, node and rust passed against herald serve in $((SECONDS - started)) s"
