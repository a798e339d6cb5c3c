#!/usr/bin/env bash
# Times `herald keys rotate` over N endpoint secrets made through the API.
# Build first: cargo build --release -p herald. Then: DB=sqlite|postgres N=20000 bash tests/bench/keys-rotate.sh
# (postgres uses a database herald_rekey on 127.0.0.1:5432, dropped and made again).
set -euo pipefail
BIN=${HERALD_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/target/release/herald}
N=${N:-2000}
work=$(mktemp -d)
K1=$($BIN keys generate); K2=$($BIN keys generate)
export HERALD_JWT_SECRET=bench-jwt-secret-0123456789abcdef0123 HERALD_LOG=warn HERALD_SERVE_WORKER=false HERALD_API_RATE_LIMIT=0
if [ "${DB:-sqlite}" = postgres ]; then
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS herald_rekey" -c "CREATE DATABASE herald_rekey"
  export HERALD_DATABASE_URL=postgres://postgres@127.0.0.1:5432/herald_rekey
else
  export HERALD_DATABASE_URL=sqlite://$work/herald.db
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
HERALD_MAIN_KEY=$K1 HERALD_LISTEN=127.0.0.1:$port $BIN serve > $work/out 2>$work/err &
pid=$!
for _ in $(seq 1 100); do grep -q "API token:" $work/out 2>/dev/null && break; sleep 0.2; done
TOKEN=$(sed -n 's/^ *API token: *//p' $work/out | head -1)
python3 - "$port" "$TOKEN" "$N" <<'PY'
import json, sys, urllib.request, concurrent.futures
port, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def call(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1{path}", json.dumps(body).encode(),
        {"authorization": f"Bearer {token}", "content-type": "application/json"})
    return json.load(urllib.request.urlopen(req))
call("/app", {"name": "bench", "uid": "bench"})
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    list(pool.map(lambda i: call("/app/bench/endpoint", {"url": f"https://example.com/{i}"}), range(n)))
PY
kill $pid; wait $pid || true
{
  start=$(date +%s.%N)
  HERALD_MAIN_KEY=$K2 HERALD_MAIN_KEY_FALLBACKS=$K1 $BIN keys rotate | head -1
  end=$(date +%s.%N)
  echo "DB=${DB:-sqlite} N=$N rotate: $(python3 -c "print(round($end-$start,2))") s"
}
start=$(date +%s.%N)
HERALD_MAIN_KEY=$K2 $BIN keys status | tail -1
end=$(date +%s.%N)
echo "status (open all): $(python3 -c "print(round($end-$start,2))") s"
rm -rf $work
