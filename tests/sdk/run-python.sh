#!/usr/bin/env bash
# Starts `herald serve` on a fresh SQLite file and drives it with the official Python
# SDK (installed from PyPI into a throwaway virtualenv). Needs python3 with venv and pip.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "svix==2.9.1"

. "$root/tests/sdk/serve.sh"
start_herald
HERALD_URL="$base" HERALD_TOKEN="$token" "$work/venv/bin/python" "$root/tests/sdk/python_smoke.py"
