#!/usr/bin/env bash
# Stop the background server and worker started by ./start.sh (gracefully, then killed after a timeout).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/bootstrap.sh"
exec "$VENV_PY" -m app.cli stop "$@"
