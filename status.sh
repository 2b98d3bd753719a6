#!/usr/bin/env bash
# Server up? Database reachable and migrated to head? Redis? Exit code 1 when something is wrong.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/bootstrap.sh"
exec "$VENV_PY" -m app.cli status "$@"
