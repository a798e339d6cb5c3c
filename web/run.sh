#!/usr/bin/env bash
# Browser tests: builds Herald, starts `herald serve` on a fresh SQLite database in a
# temporary directory, reads the first-run login it prints, and drives Debian's Chromium
# through the dashboard and the portal with playwright-core (tests/*.test.mjs).
# Screenshots of each main page land in web/artifacts/ (and failed-*.png for a step that
# failed).
#
# HERALD_BIN=path/to/herald skips the build. Everything talks to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")"

fail() { echo "FAIL: $*" >&2; exit 1; }

# Node 20 or newer: playwright-core needs it (Debian's own nodejs 18 is too old).
command -v node >/dev/null || fail "node (20 or newer) is needed for the browser tests"
command -v npm >/dev/null || fail "npm is needed for the browser tests"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || fail "node $(node --version) is too old for playwright-core; 20 or newer is needed"
command -v curl >/dev/null || fail "curl is needed to wait for herald serve"
command -v python3 >/dev/null || fail "python3 is needed to pick a free port"

# Debian's Chromium, never a browser that a tool downloads for itself. A fresh machine
# may have no package lists yet, so a failed install is retried once after an update.
if [ ! -x /usr/bin/chromium ]; then
    echo "Chromium is missing; installing Debian's package"
    [ "$(id -u)" = 0 ] || fail "/usr/bin/chromium is missing and only root can install it (apt-get install -y chromium)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y chromium >/dev/null \
        || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; } \
        || fail "could not install Debian's chromium (apt-get install -y chromium)"
    [ -x /usr/bin/chromium ] || fail "apt-get installed chromium but /usr/bin/chromium is still missing"
fi

# playwright-core exactly as package-lock.json pins it; it downloads no browser.
npm ci --no-audit --no-fund --loglevel=error

if [ -z "${HERALD_BIN:-}" ]; then
    cargo build --locked -p herald --bin herald
    HERALD_BIN=$(cd .. && pwd)/target/debug/herald
fi
[ -x "$HERALD_BIN" ] || fail "HERALD_BIN=$HERALD_BIN is not an executable"

# The server runs in a temporary directory with its own database; the trap stops it
# (SIGTERM, then waits for it) and removes the directory whatever way the script ends.
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

# A free port on 127.0.0.1: the kernel picks one for a socket that is closed at once.
# (HERALD_LISTEN=127.0.0.1:0 would work too, but the server would not say which port.)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(
    cd "$work"
    export HERALD_DATABASE_URL="sqlite://$work/herald.db" HERALD_LISTEN="127.0.0.1:$port" \
        HERALD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8 HERALD_RETRY_SCHEDULE=1s,1s HERALD_LOG=warn
    exec "$HERALD_BIN" serve >"$work/stdout" 2>"$work/stderr"
) &
server_pid=$!

server_log() {
    echo "--- herald serve's standard error (last 40 lines) ---" >&2
    tail -n 40 "$work/stderr" >&2 || true
}

# Ready once the health check answers 200 and the first-run banner is complete (its last
# field is the API token). At most 30 s; a server that exits early fails at once.
url="http://127.0.0.1:$port"
for _ in $(seq 1 120); do
    if curl -fsS "$url/api/v1/health" >/dev/null 2>&1 && grep -q "API token:" "$work/stdout"; then
        break
    fi
    kill -0 "$server_pid" 2>/dev/null || { server_log; fail "herald serve exited before it was ready"; }
    sleep 0.25
done
curl -fsS "$url/api/v1/health" >/dev/null || { server_log; fail "herald serve never answered GET $url/api/v1/health"; }

# The banner (crates/herald/src/cli.rs, serve) lines look like "  Login:      admin@…".
banner() { sed -n "s/^ *$1: *//p" "$work/stdout" | head -n 1; }
export HERALD_URL="$url"
HERALD_EMAIL=$(banner Login)
HERALD_PASSWORD=$(banner Password)
HERALD_TOKEN=$(banner "API token")
export HERALD_EMAIL HERALD_PASSWORD HERALD_TOKEN
if [ -z "$HERALD_EMAIL" ] || [ -z "$HERALD_PASSWORD" ] || [ -z "$HERALD_TOKEN" ]; then
    echo "--- herald serve's standard output ---" >&2
    cat "$work/stdout" >&2
    fail "could not read Login, Password and API token from herald serve's first-run banner"
fi

rm -rf artifacts && mkdir -p artifacts
# One test file at a time: they share the server and the 2-core machine.
if ! node --test --test-concurrency=1 tests/; then
    server_log
    fail "browser tests failed (see above; screenshots, failed-*.png included, in web/artifacts/)"
fi
echo "browser tests passed; screenshots in web/artifacts/"
