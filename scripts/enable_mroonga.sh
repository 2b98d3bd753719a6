#!/usr/bin/env bash
# Installs and enables Mroonga, the MariaDB engine behind product search (issue 18), on a MariaDB listening
# on 127.0.0.1:3306 with a password-less root (as .ci/run sets up). Idempotent: does nothing when the engine
# is already there. Without it the app still works and searches with LIKE (a full scan; it says so in its
# log). A database migrated before Mroonga was enabled gets its index with `daoxiang search-index`.
set -uo pipefail

sql() { mariadb --protocol=tcp -h 127.0.0.1 -P 3306 -uroot -N -B -e "$1"; }
have_engine() { [ "$(sql "SELECT COUNT(*) FROM information_schema.ENGINES WHERE ENGINE = 'Mroonga' AND SUPPORT IN ('YES', 'DEFAULT')" 2>/dev/null)" = 1 ]; }

if have_engine; then
    echo "Mroonga: enabled"
    exit 0
fi
plugin_dir="$(sql 'SELECT @@plugin_dir' 2>/dev/null)"
if [ ! -f "${plugin_dir:-/usr/lib/mysql/plugin/}/ha_mroonga.so" ]; then
    echo "Mroonga: installing mariadb-plugin-mroonga"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends mariadb-plugin-mroonga >/dev/null ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends mariadb-plugin-mroonga >/dev/null; } ||
        { echo "Mroonga: could not install mariadb-plugin-mroonga" >&2; exit 1; }
fi
have_engine || sql "INSTALL SONAME 'ha_mroonga'" || { echo "Mroonga: INSTALL SONAME 'ha_mroonga' failed" >&2; exit 1; }
have_engine || { echo "Mroonga: still not enabled" >&2; exit 1; }
echo "Mroonga: enabled"
