#!/usr/bin/env bash
# The reference for the differential tests (tests/differential/): classic ws4py 0.6.0 from the
# package index, in a virtual environment of its own (.venv-classic), never copied into the project.
# CherryPy comes along for the classic plugin's differential tests.
# usage: scripts/classic-venv.sh [PYTHON] [VENV_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${1:-$("$root/scripts/find-pythons.sh" --main)}"
venv="${2:-$root/.venv-classic}"
want="ws4py==0.6.0 cherrypy>=18.8"
stamp="$venv/.classic-stamp"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
"$python" -m venv "$venv"
# shellcheck disable=SC2086
"$venv/bin/python" -m pip install -q --disable-pip-version-check $want
"$venv/bin/python" -c "import ws4py; assert ws4py.__version__ == '0.6.0', ws4py.__version__"
echo "$want" > "$stamp"
