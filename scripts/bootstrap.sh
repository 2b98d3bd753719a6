# Shared by start.sh, stop.sh, status.sh, test.sh and scripts/smoke_test.sh: source it, do not run it.
# Makes sure .venv exists with the locked dependencies and the project installed, then sets
# DAOXIANG_ROOT and VENV_PY. Reinstalls only when requirements.lock, requirements-dev.lock or pyproject.toml changed
# (their checksum is kept in .venv/.daoxiang-lock-stamp).

DAOXIANG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DAOXIANG_ROOT
cd "$DAOXIANG_ROOT" || exit 1

_daoxiang_find_python() {
    local candidate
    for candidate in ${PYTHON:-} python3.11 python3.12 python3.13 python3.14 python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

_daoxiang_checksum() {
    "$1" - <<'PY'
import hashlib
digest = hashlib.sha256()
for name in ("requirements.lock", "requirements-dev.lock", "pyproject.toml"):
    with open(name, "rb") as handle:
        digest.update(handle.read())
print(digest.hexdigest())
PY
}

daoxiang_bootstrap() {
    local venv="$DAOXIANG_ROOT/.venv" python stamp wanted
    if [ -x "$venv/bin/python" ]; then
        VENV_PY="$venv/bin/python"
    elif [ -x "$venv/Scripts/python.exe" ]; then  # Git Bash on Windows
        VENV_PY="$venv/Scripts/python.exe"
    else
        if ! python="$(_daoxiang_find_python)"; then
            echo "需要 Python 3.11 或更高版本 (试过 python3.11, python3, python)。请先安装 Python 3.11+，或设置 PYTHON=/path/to/python3.11" >&2
            return 1
        fi
        echo "• 创建虚拟环境 .venv ($("$python" --version 2>&1))"
        "$python" -m venv "$venv" || return 1
        if [ -x "$venv/bin/python" ]; then VENV_PY="$venv/bin/python"; else VENV_PY="$venv/Scripts/python.exe"; fi
    fi
    export VENV_PY
    stamp="$venv/.daoxiang-lock-stamp"
    wanted="$(_daoxiang_checksum "$VENV_PY")" || return 1
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
        echo "• 安装锁定的依赖 (requirements-dev.lock) …"
        "$VENV_PY" -m pip install --disable-pip-version-check -q -r requirements-dev.lock || return 1
        "$VENV_PY" -m pip install --disable-pip-version-check -q --no-deps -e ".[dev]" || return 1
        echo "$wanted" > "$stamp"
    fi
}

daoxiang_bootstrap || exit 1
