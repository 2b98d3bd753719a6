#!/usr/bin/env bash
# Smoke test a running server: registers a temporary user, logs in, reads it back, checks health.
#   scripts/smoke_test.sh                                  against http://127.0.0.1:8000
#   scripts/smoke_test.sh --base-url http://host:port      (or a bare URL as the first argument)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
if [ $# -ge 1 ] && [[ "$1" == http* ]]; then
    url="$1"; shift
    set -- --base-url "$url" "$@"
fi
exec "$VENV_PY" -m app.cli smoke "$@"
