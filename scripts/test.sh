#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it:
#   1. lint (ruff, mypy --strict) in the main environment;
#   2. the unit and integration tests on every CPython 3.10-3.13 found here;
#   3. the same tests once more with the C speedup disabled (pure-Python twin), then ws4py 0.6.0's
#      own unit tests (from its sdist) against this package;
#   4. each fuzz harness for FUZZ_SECONDS (default 60; 0 skips), coverage-guided (atheris);
#   5. the Autobahn testsuite, server (both modes) and client, strictly.
# Each step's environment is created on first use (scripts/venv.sh).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
pythons="$(scripts/find-pythons.sh)"
main_python="${PYTHON:-$(scripts/find-pythons.sh --main)}"
[ -n "$main_python" ] || { echo "no CPython 3.10-3.13 found" >&2; exit 3; }
failed=()
step() { echo; echo "=== $*"; }

step "environment ($main_python)"
scripts/venv.sh "$main_python" .venv dev || exit 3

step "ruff"
.venv/bin/ruff check src tests bench conformance fuzz || failed+=(ruff)
step "mypy --strict"
.venv/bin/mypy || failed+=(mypy)

step "classic ws4py 0.6.0 for tests/differential (.venv-classic)"
scripts/classic-venv.sh "$main_python" || failed+=(classic-venv)

step "browser for tests/test_browser.py (Debian's chromium)"
scripts/install-browser.sh || failed+=(install-browser)

step "proxies for tests/test_proxy.py (Debian's tinyproxy and microsocks)"
scripts/install-proxies.sh || failed+=(install-proxies)

step "redis for tests/test_broadcast.py and tests/test_cluster.py (Debian's redis-server)"
scripts/install-redis.sh || failed+=(install-redis)

for python in $pythons; do
    version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    venv=".venv"
    [ "$python" = "$main_python" ] || venv=".venv-$version"
    step "pytest on CPython $version"
    if [ "$venv" != ".venv" ]; then
        scripts/venv.sh "$python" "$venv" test || { failed+=("venv-$version"); continue; }
    fi
    WS4PY_REQUIRE_SPEEDUPS=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        || failed+=("pytest-$version")
done

step "pytest without the C speedup (pure-Python masking)"
WS4PY_NO_SPEEDUPS=1 .venv/bin/python -m pytest -q -p no:cacheprovider || failed+=(pytest-pure)

step "ws4py 0.6.0's own unit tests, unchanged, against this package (scripts/classic-suite.sh)"
scripts/classic-suite.sh .venv || failed+=(classic-suite)

if [ "${FUZZ_SECONDS:-60}" != "0" ]; then
    step "coverage-guided fuzzing, ${FUZZ_SECONDS:-60} s per harness (scripts/fuzz.sh)"
    scripts/fuzz.sh "${FUZZ_SECONDS:-60}" || failed+=(fuzz)
fi

if [ "${SKIP_CONFORMANCE:-}" = "" ]; then
    step "Autobahn testsuite"
    conformance/run.sh "$root/.venv/bin/python" || failed+=(autobahn)
fi

echo
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED steps: ${failed[*]}"
    exit 1
fi
echo "all test steps passed"
