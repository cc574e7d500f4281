#!/usr/bin/env bash
# ws4py 0.6.0's own unit tests, run unchanged against this package: the drop-in promise, tested.
# The tests come from 0.6.0's source distribution on the package index (fetched by pip into
# .classic-suite/, never copied into this repository); only its test/ folder is extracted, so
# `import ws4py` is ours.  Tests that cannot apply (the classic behaviour is forbidden by RFC 6455 or
# is a security hole) are listed, each with its reason, in tests/classic-suite-deselect.txt.
# usage: scripts/classic-suite.sh [VENV]   (default .venv)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$(cd "${1:-$root/.venv}" && pwd)"  # absolute: the suite runs from its own folder
cache="$root/.classic-suite"
suite="$cache/test"
if [ ! -f "$suite/test_frame.py" ]; then
    rm -rf "$cache" && mkdir -p "$cache"
    "$venv/bin/python" -m pip download -q --disable-pip-version-check --no-deps \
        --no-binary :all: -d "$cache" "ws4py==0.6.0"
    "$venv/bin/python" - "$cache" <<'PY'
import pathlib, sys, tarfile
cache = pathlib.Path(sys.argv[1])
(sdist,) = cache.glob("ws4py-0.6.0.tar.gz")
with tarfile.open(sdist) as tar:
    for member in tar.getmembers():
        parts = pathlib.PurePosixPath(member.name).parts
        if len(parts) == 3 and parts[1] == "test" and member.isfile() and parts[2].endswith(".py"):
            (cache / "test").mkdir(exist_ok=True)
            (cache / "test" / parts[2]).write_bytes(tar.extractfile(member).read())
PY
fi
deselect=()
while read -r line; do
    line="${line%%#*}"
    line="$(echo "$line" | xargs)"
    [ -n "$line" ] && deselect+=(--deselect "test/$line")
done < "$root/tests/classic-suite-deselect.txt"
cd "$cache"
"$venv/bin/python" -c "import ws4py, sys; assert ws4py.__version__ != '0.6.0', ws4py.__file__"
exec "$venv/bin/python" -m pytest -p no:cacheprovider -q -o timeout=60 --rootdir "$cache" \
    "${deselect[@]}" test
