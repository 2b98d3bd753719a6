#!/usr/bin/env bash
# Quick start for development (the original description's `uvicorn app.main:app --reload` loop): the .venv and
# migrations, then the shop in the foreground with auto-reload on code changes. No demo data, no worker, no pid
# file: for the whole demo shop use ./start.sh.
#   ./quick-start.sh                     http://127.0.0.1:8000, reloads when app/ changes
#   ./quick-start.sh --port 8080 --host 0.0.0.0
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/bootstrap.sh"
host=127.0.0.1
port=8000
while [ $# -gt 0 ]; do
    case "$1" in
        --host) host="${2:?}"; shift 2 ;;
        --port) port="${2:?}"; shift 2 ;;
        -h | --help) sed -n '2,7p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
cd "$DAOXIANG_ROOT"
"$VENV_PY" -m app.cli migrate
echo "• http://$host:$port/  (Ctrl+C 停止；修改 app/ 下的代码会自动重载)"
exec "$VENV_PY" -m app.cli serve --reload --host "$host" --port "$port"
