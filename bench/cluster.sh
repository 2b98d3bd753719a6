#!/usr/bin/env bash
# bench/cluster.py with the project's .venv: a 3-node Galera cluster, a Redis Cluster, nginx over 3 shop processes,
# 2 workers; the concurrency checks and a mixed load through nginx (docs/scaling.md).
#   bench/cluster.sh [--keep] [--load-seconds 60] [--concurrency 48]      bench/cluster.sh --down
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/bootstrap.sh"
exec "$VENV_PY" bench/cluster.py "$@"
