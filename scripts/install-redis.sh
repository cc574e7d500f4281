#!/usr/bin/env bash
# Installs the real Redis server the cluster tests (tests/test_broadcast.py,
# tests/test_cluster.py) and bench/bench_cluster.py run: Debian's redis-server.
# The tests start their own instances on free loopback ports with temporary
# directories and configurations (no persistence); the package's system
# service is not used (it is stopped and disabled if apt started it).
# Idempotent: does nothing when redis-server is already there.
# usage: scripts/install-redis.sh   (as root, or with sudo available)
set -euo pipefail
if command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ]; then
    exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "install-redis: run as root (apt-get)" >&2; exit 1; }
    sudo="sudo"
fi
command -v apt-get >/dev/null || {
    echo "install-redis: no apt-get here; install redis-server yourself" >&2
    exit 1
}
echo "install-redis: installing Debian's redis-server" >&2
$sudo apt-get update -q
# No service start during the install (policy-rc.d 101 = "action forbidden"):
# the tests run their own instances, and the default port must stay free.
policy=/usr/sbin/policy-rc.d
created_policy=""
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    created_policy=1
fi
status=0
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends redis-server \
    || status=$?
[ -z "$created_policy" ] || $sudo rm -f "$policy"
[ "$status" = 0 ] || { echo "install-redis: apt-get install failed ($status)" >&2; exit 1; }
command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || {
    echo "install-redis: redis-server still missing after apt-get install" >&2
    exit 1
}
