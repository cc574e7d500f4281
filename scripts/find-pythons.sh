#!/usr/bin/env bash
# Prints one interpreter per supported CPython minor version found here
# (pyenv's 3.10-3.13 first, then whatever python3.1x is on PATH).
set -u
for minor in 10 11 12 13; do
    found=""
    for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3."$minor".*/bin/python3 \
                     "$(command -v python3."$minor" 2>/dev/null)"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then found="$candidate"; break; fi
    done
    [ -n "$found" ] && echo "$found"
done
