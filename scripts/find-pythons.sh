#!/usr/bin/env bash
# Prints one interpreter per supported CPython minor version found here
# (pyenv's 3.10-3.13 first, then whatever python3.1x is on PATH).
# With --main: only the main interpreter (3.11 if present, else the first).
set -u
found_all=()
for minor in 10 11 12 13; do
    found=""
    for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3."$minor".*/bin/python3 \
                     "$(command -v python3."$minor" 2>/dev/null)"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then found="$candidate"; break; fi
    done
    [ -n "$found" ] && found_all+=("$found")
done
if [ "${1:-}" = "--main" ]; then
    for candidate in "${found_all[@]}"; do
        case "$candidate" in */3.11.*|*python3.11) echo "$candidate"; exit 0 ;; esac
    done
    [ ${#found_all[@]} -gt 0 ] && echo "${found_all[0]}"
    exit 0
fi
for candidate in "${found_all[@]}"; do echo "$candidate"; done
