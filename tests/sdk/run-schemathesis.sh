#!/usr/bin/env bash
# Fuzzes a real `herald serve` against its own OpenAPI document with Schemathesis (pinned,
# from PyPI, in a throwaway virtualenv): no answer may be a server error, and every answer
# must be one the document lists for that operation, with the documented body, content
# type and headers; data the document calls invalid must be refused. Runs on a fresh SQLite
# file, or on a fresh PostgreSQL database when given its server's URL:
#   tests/sdk/run-schemathesis.sh [postgres://USER@HOST:PORT]
# Left out: `auth/logout` (it revokes the token the run uses) and the two JavaScript
# transformation routes, which answer 501 by design. Strings are drawn without the NUL
# character, which Herald refuses anywhere in a body (PostgreSQL text cannot hold it; the
# document says so in its description, and tests/it prove the refusal). Refusals for what a
# field means rather than its shape (a jq program that does not compile, say) are dropped by
# schemathesis_hooks.py, each named there with its reason.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
pg_server="${1:-}"
database=""
cleanup() {
  kill "${pid:-0}" 2>/dev/null || true
  if [ -n "$database" ]; then psql -q "$pg_server/postgres" -c "DROP DATABASE IF EXISTS $database" >/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==4.32.5"

url="sqlite://$work/herald.db"
if [ -n "$pg_server" ]; then
  database="herald_fuzz_$$"
  psql -q "$pg_server/postgres" -c "CREATE DATABASE $database" >/dev/null
  url="$pg_server/$database"
  # Processes on a shared database take their keys from the environment.
  HERALD_JWT_SECRET=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
  HERALD_MAIN_KEY=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
  export HERALD_JWT_SECRET HERALD_MAIN_KEY
fi
export HERALD_DATABASE_URL="$url" HERALD_API_RATE_LIMIT=0
. "$root/tests/sdk/serve.sh"
start_herald
# From the scratch directory, so that its cache is thrown away with it.
(cd "$work" && PYTHONPATH="$root/tests/sdk" SCHEMATHESIS_HOOKS=schemathesis_hooks "$work/venv/bin/schemathesis" run "$base/api/v1/openapi.json" --url "$base" \
  -H "Authorization: Bearer $token" \
  --checks all --generation-allow-x00 false \
  --max-examples 25 --workers 1 --seed 1 \
  --exclude-path /api/v1/auth/logout --exclude-path-regex '/transformation$') \
  || { echo "--- herald's log (last lines)" >&2; tail -30 "$work/err" >&2; exit 1; }
