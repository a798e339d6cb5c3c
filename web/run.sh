#!/usr/bin/env bash
# Browser tests: builds Herald, starts `herald serve` on a fresh SQLite database in a
# temporary directory, reads the first-run login it prints, and drives Debian's Chromium
# through the dashboard and the portal with playwright-core (tests/*.test.mjs).
# Screenshots of each main page land in web/artifacts/.
#
# HERALD_BIN=path/to/herald skips the build. Everything talks to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")"

fail() { echo "FAIL: $*" >&2; exit 1; }

command -v node >/dev/null || fail "node is needed for the browser tests (Debian: apt-get install -y nodejs npm)"
command -v npm >/dev/null || fail "npm is needed for the browser tests"
if [ ! -x /usr/bin/chromium ]; then
    echo "Chromium is missing; installing Debian's package"
    apt-get install -y chromium >/dev/null || fail "could not install chromium (apt-get install -y chromium)"
fi

npm ci --no-audit --no-fund --loglevel=error

if [ -z "${HERALD_BIN:-}" ]; then
    cargo build --locked -p herald --bin herald
    HERALD_BIN=$(cd .. && pwd)/target/debug/herald
fi

work=$(mktemp -d)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(
    cd "$work"
    export HERALD_DATABASE_URL="sqlite://$work/herald.db" HERALD_LISTEN="127.0.0.1:$port" \
        HERALD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8 HERALD_RETRY_SCHEDULE=1s,1s HERALD_LOG=warn
    exec "$HERALD_BIN" serve >"$work/stdout" 2>"$work/stderr"
) &
server_pid=$!

url="http://127.0.0.1:$port"
for _ in $(seq 1 120); do
    if curl -fsS "$url/api/v1/health" >/dev/null 2>&1 && grep -q "API token:" "$work/stdout"; then
        break
    fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/stderr" >&2; fail "herald serve exited"; }
    sleep 0.25
done
curl -fsS "$url/api/v1/health" >/dev/null || { cat "$work/stderr" >&2; fail "herald serve never answered on $url"; }

banner() { sed -n "s/^ *$1: *//p" "$work/stdout" | head -1; }
export HERALD_URL="$url"
HERALD_EMAIL=$(banner Login)
HERALD_PASSWORD=$(banner Password)
HERALD_TOKEN=$(banner "API token")
export HERALD_EMAIL HERALD_PASSWORD HERALD_TOKEN
[ -n "$HERALD_EMAIL" ] && [ -n "$HERALD_PASSWORD" ] && [ -n "$HERALD_TOKEN" ] \
    || fail "could not read the first-run login from herald serve's output"

rm -rf artifacts && mkdir -p artifacts
node --test --test-concurrency=1 tests/
echo "browser tests passed; screenshots in web/artifacts/"
