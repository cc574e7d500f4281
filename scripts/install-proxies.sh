#!/usr/bin/env bash
# Installs the real proxies the client's proxy tests (tests/test_proxy.py) run:
# Debian's tinyproxy (HTTP CONNECT proxy, Basic authentication) and microsocks
# (SOCKS5 server, username/password authentication).  The tests start their
# own instances on free loopback ports with temporary configurations; the
# packages' system services are not used.
# Idempotent: does nothing when both binaries are already there.
# usage: scripts/install-proxies.sh   (as root, or with sudo available)
set -euo pipefail
packages=()
command -v tinyproxy >/dev/null || [ -x /usr/bin/tinyproxy ] || [ -x /usr/sbin/tinyproxy ] \
    || packages+=(tinyproxy)
command -v microsocks >/dev/null || [ -x /usr/bin/microsocks ] || packages+=(microsocks)
if [ ${#packages[@]} -eq 0 ]; then
    exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "install-proxies: run as root (apt-get)" >&2; exit 1; }
    sudo="sudo"
fi
command -v apt-get >/dev/null || {
    echo "install-proxies: no apt-get here; install ${packages[*]} yourself" >&2
    exit 1
}
echo "install-proxies: installing Debian's ${packages[*]}" >&2
$sudo apt-get update -q
for package in "${packages[@]}"; do
    candidate="$(apt-cache policy "$package" | sed -n 's/^ *Candidate: *//p')"
    if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
        echo "install-proxies: this Debian has no $package package" >&2
        [ "$package" = microsocks ] \
            && echo "install-proxies: (dante-server is another SOCKS5 server; the tests use microsocks)" >&2
        exit 1
    fi
done
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${packages[@]}"
for binary in tinyproxy microsocks; do
    command -v "$binary" >/dev/null || [ -x "/usr/sbin/$binary" ] || {
        echo "install-proxies: $binary still missing after apt-get install" >&2
        exit 1
    }
done
