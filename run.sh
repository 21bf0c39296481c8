#!/usr/bin/env bash
# Start liaison-crm on this machine: ./run.sh [crm serve options, e.g. --port 8123]
#
# Creates .venv (Python 3.11+) the first time, installs the project with the versions pinned in
# constraints.txt (again whenever pyproject.toml or constraints.txt change), then runs
# `crm serve`: SQLite at var/crm.db migrated automatically, demo data on the first start,
# the scheduler and the local mail sink in-process. `./run.sh --setup-only` stops after the set-up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

VENV=.venv
STAMP="$VENV/.crm-installed"

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "liaison-crm needs Python 3.11 or newer with pip and venv (set PYTHON=/path/to/python3.11)." >&2
    return 1
}

wanted_stamp() {
    "$VENV/bin/python" -c 'import hashlib, sys
digest = hashlib.sha256(b"".join(open(name, "rb").read() for name in ("pyproject.toml", "constraints.txt")))
print(digest.hexdigest(), sys.version.split()[0])'
}

setup() {
    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
        local python
        python=$(find_python)
        echo "Creating $VENV with $("$python" --version 2>&1)…"
        rm -rf "$VENV"
        if ! "$python" -m venv "$VENV"; then
            echo "Could not create a virtual environment; on Debian/Ubuntu install python3-venv." >&2
            exit 1
        fi
    fi
    if [ "$(cat "$STAMP" 2>/dev/null)" != "$(wanted_stamp)" ]; then
        echo "Installing liaison-crm and its pinned dependencies into $VENV (the first time takes a minute)…"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            -c constraints.txt -e '.[test]'
        wanted_stamp > "$STAMP"
    fi
}

setup
if [ "${1:-}" = "--setup-only" ]; then
    exit 0
fi
exec "$VENV/bin/crm" serve "$@"
