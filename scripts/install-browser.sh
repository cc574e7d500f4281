#!/usr/bin/env bash
# Installs what the browser test (tests/test_browser.py) drives: Debian's
# headless-capable Chromium at /usr/bin/chromium.  Playwright's own browser
# download is never used (the test machine may have no internet access).
# Idempotent: does nothing when /usr/bin/chromium is already there.
# usage: scripts/install-browser.sh   (as root, or with sudo available)
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "install-browser: run as root (apt-get)" >&2; exit 1; }
    sudo="sudo"
fi
command -v apt-get >/dev/null || {
    echo "install-browser: no apt-get here; install Chromium at /usr/bin/chromium yourself" >&2
    exit 1
}
echo "install-browser: installing Debian's chromium package" >&2
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium
[ -x /usr/bin/chromium ] || { echo "install-browser: /usr/bin/chromium still missing" >&2; exit 1; }
