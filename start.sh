#!/usr/bin/env bash
# Start the shop: .venv set-up, migrations, demo data, server in the background (pid and log under var/).
#   ./start.sh                 background, http://127.0.0.1:8000
#   ./start.sh --foreground    stay attached
#   ./start.sh --port 8080 --host 0.0.0.0
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/bootstrap.sh"
exec "$VENV_PY" -m app.cli start "$@"
