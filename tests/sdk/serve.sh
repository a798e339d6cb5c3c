# Sourced by the scripts beside it: starts `herald serve` in "$work" (which the caller
# made and removes) on HERALD_DATABASE_URL, or a fresh SQLite file there, and sets `pid`,
# `token` and `base`. HERALD_BIN runs a binary already built instead of building one.
start_herald() {
  if [ -z "${HERALD_BIN:-}" ]; then
    cargo build --quiet --manifest-path "$root/Cargo.toml" -p herald
    HERALD_BIN="$root/target/debug/herald"
  fi
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  (cd "$work" && HERALD_LISTEN="127.0.0.1:$port" exec "$HERALD_BIN" serve >"$work/out" 2>"$work/err") &
  pid=$!
  for _ in $(seq 1 150); do
    grep -q 'API token:' "$work/out" 2>/dev/null && break
    sleep 0.2
  done
  token=$(sed -n 's/^ *API token: *//p' "$work/out" | head -1)
  if [ -z "$token" ]; then
    echo "herald serve printed no token" >&2
    cat "$work/out" "$work/err" >&2
    exit 1
  fi
  base="http://127.0.0.1:$port"
}
