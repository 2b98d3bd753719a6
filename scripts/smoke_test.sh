#!/usr/bin/env bash
# Smoke test: registers a temporary user, logs in, reads it back, checks health.
#   scripts/smoke_test.sh                                  a running server at http://127.0.0.1:8000
#   scripts/smoke_test.sh --base-url http://host:port      (or a bare URL as the first argument)
#   scripts/smoke_test.sh --serve                          a fresh server of this checkout: migrated temporary
#                                                          SQLite database, a free port, stopped afterwards (what
#                                                          scripts/feature_finish.sh and release_to_main.sh run)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
if [ $# -ge 1 ] && [[ "$1" == http* ]]; then
    url="$1"; shift
    set -- --base-url "$url" "$@"
fi
if [ "${1:-}" != "--serve" ]; then
    exec "$VENV_PY" -m app.cli smoke "$@"
fi
shift

tmp="$(mktemp -d)"
port="$("$VENV_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export DATABASE_URL="sqlite+aiosqlite:///$tmp/smoke.db" VAR_DIR="$tmp/var" APP_ENV=dev
unset REDIS_URL
server=""
cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

"$VENV_PY" -m app.cli migrate >"$tmp/migrate.log" 2>&1 || { cat "$tmp/migrate.log" >&2; exit 1; }
"$VENV_PY" -m app.cli serve --host 127.0.0.1 --port "$port" >"$tmp/server.log" 2>&1 &
server=$!
if ! "$VENV_PY" - "$port" <<'PY'; then
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/api/health"
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            sys.exit(0 if answer.status == 200 else 1)
    except OSError:
        time.sleep(0.2)
sys.exit(1)
PY
    echo "the server of this checkout did not answer /api/health within 60 s; its log:" >&2
    tail -n 40 "$tmp/server.log" >&2
    exit 1
fi
"$VENV_PY" -m app.cli smoke --base-url "http://127.0.0.1:$port" "$@"
