#!/usr/bin/env bash
# Lint and the whole test suite.
#   ./test.sh                        SQLite, no Redis
#   TEST_DATABASE_URL=mysql+pymysql://root:@127.0.0.1:3306/daoxiang_test \
#   TEST_REDIS_URL=redis://127.0.0.1:6379/15 ./test.sh        MariaDB + Redis
#   ./test.sh tests/users -k login   extra arguments go to pytest
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/bootstrap.sh"

lint_paths=()
for path in app tests alembic bench; do
    [ -e "$path" ] && lint_paths+=("$path")
done
echo "• ruff check ${lint_paths[*]}"
"$VENV_PY" -m ruff check "${lint_paths[@]}"
echo "• ruff format --check ${lint_paths[*]}"
"$VENV_PY" -m ruff format --check "${lint_paths[@]}"
echo "• lint-imports (the layer contracts in pyproject.toml)"
PYTHONPATH="$DAOXIANG_ROOT${PYTHONPATH:+:$PYTHONPATH}" "$(dirname "$VENV_PY")/lint-imports" --no-cache

if [ ! -x /usr/bin/chromium ]; then
    cat >&2 <<'WARN'

################################################################################
##  WARNING: /usr/bin/chromium NOT FOUND - BROWSER TESTS WILL BE SKIPPED        ##
##  (marker "browser").  Install it:  apt-get install -y chromium               ##
################################################################################

WARN
fi

echo "• pytest (database: ${TEST_DATABASE_URL:-SQLite}, redis: ${TEST_REDIS_URL:-disabled})"
exec "$VENV_PY" -m pytest "$@"
