#!/usr/bin/env bash
# Coverage-guided fuzzing of every byte parser with atheris (libFuzzer), one harness after
# the other (fuzz/run.py; the harnesses are fuzz/fuzz_*.py, their seeds fuzz/corpus/*/).
#
#   scripts/fuzz.sh              # 60 s per harness (what scripts/test.sh runs)
#   scripts/fuzz.sh 3600         # the long run: one hour per harness
#   scripts/fuzz.sh 600 stream   # only some harnesses
#
# The corpus grown by a run is kept in out/fuzz/corpus/<harness>/ (seeds stay untouched), and
# the next run starts from it; a crashing input is saved as out/fuzz/artifacts/<harness>-*,
# replayable without atheris: .venv/bin/python fuzz/fuzz_<harness>.py out/fuzz/artifacts/<file>.
# Exit status: 0 when no harness found anything, 1 otherwise.
#
# atheris ships wheels for CPython 3.11+ only (3.10 would need Clang with libFuzzer), so the
# interpreter is FUZZ_PYTHON if set, else .venv's when atheris imports there, else a venv of
# its own (.venv-fuzz, ws4py editable + the `fuzz` extra) made with the first CPython >= 3.11.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seconds="${1:-60}"
[ $# -gt 0 ] && shift
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(stream server_handshake client_handshake extensions)

python="${FUZZ_PYTHON:-}"
if [ -z "$python" ]; then
    if [ -x .venv/bin/python ] && .venv/bin/python -c "import atheris" 2>/dev/null; then
        python=.venv/bin/python
    else
        base=""
        for candidate in $(scripts/find-pythons.sh); do
            if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
                base="$candidate"; break
            fi
        done
        [ -n "$base" ] || { echo "fuzz.sh: no CPython >= 3.11 found for atheris" >&2; exit 3; }
        scripts/venv.sh "$base" .venv-fuzz fuzz || exit 3
        python=.venv-fuzz/bin/python
    fi
fi

max_len() {
    case "$1" in
        stream) echo 16384 ;;
        server_handshake|client_handshake) echo 12288 ;;
        *) echo 2048 ;;
    esac
}

mkdir -p out/fuzz/artifacts
failed=()
summary=()
for harness in "${harnesses[@]}"; do
    [ -d "fuzz/corpus/$harness" ] || { echo "fuzz.sh: unknown harness $harness" >&2; exit 2; }
    mkdir -p "out/fuzz/corpus/$harness"
    log="out/fuzz/$harness.log"
    echo "=== fuzz $harness for ${seconds}s ($python; log: $log)"
    "$python" fuzz/run.py "$harness" \
        -max_total_time="$seconds" -timeout=60 -rss_limit_mb=4096 \
        -max_len="$(max_len "$harness")" -print_final_stats=1 \
        -artifact_prefix="out/fuzz/artifacts/$harness-" \
        "out/fuzz/corpus/$harness" "fuzz/corpus/$harness" >"$log" 2>&1
    status=$?
    runs="$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' | tail -n1)"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | grep -o '[0-9]*$')"
    corpus="$(find "out/fuzz/corpus/$harness" -type f | wc -l)"
    line="$harness: ${runs:-?} runs in ${seconds}s, coverage ${cov:-?} edges, corpus $corpus"
    if [ $status -ne 0 ]; then
        failed+=("$harness")
        line="$line: FOUND A BUG (exit $status)"
        grep -E -A30 "Uncaught Python exception|ERROR: libFuzzer|==ERROR" "$log" | head -n 60
    fi
    echo "$line"
    summary+=("$line")
done
echo
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found bugs in: ${failed[*]} (inputs in out/fuzz/artifacts/)"
    exit 1
fi
echo "fuzzing found nothing"
