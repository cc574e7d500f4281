#!/usr/bin/env bash
# Creates (or refreshes) a virtual environment with ws4py installed editable
# plus its test and development dependencies, building the C speedup.
# usage: scripts/venv.sh PYTHON VENV_DIR [EXTRAS]   (EXTRAS: test (default) or dev)
set -euo pipefail
python="$1"
venv="$2"
extras="${3:-test}"
root="$(cd "$(dirname "$0")/.." && pwd)"
stamp="$venv/.ws4py-stamp"
want="$extras $(cat "$root/pyproject.toml" "$root/setup.py" "$root/src/ws4py/_speedups.c" | sha1sum | cut -c1-40)"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip setuptools wheel >/dev/null
"$venv/bin/python" -m pip install -q -e "$root[$extras]"
"$venv/bin/python" -c "import ws4py.masking as m; assert m.HAS_SPEEDUPS, 'C speedup not built'"
echo "$want" > "$stamp"
