#!/usr/bin/env bash
# Runs the Autobahn testsuite against ws4py: every server (wsgiref with a
# manager, wsgiref with a thread per connection, asyncio, gevent, CherryPy)
# and both clients (threaded, asyncio), then checks
# that every case is strictly OK and stores the summaries in conformance/results/.
#
# usage: conformance/run.sh [PYTHON]     (PYTHON: an interpreter with ws4py installed)
# env:   CASES (default '*'), EXCLUDE (default: '12.*,13.*' until compression lands)
#        ALLOW_UNIMPLEMENTED (default '12,13'), OUT (default out/conformance)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
tools="$root/../shared/tools/autobahn"
py="${1:-$root/.venv/bin/python}"
cases="${CASES:-*}"
export EXCLUDE="${EXCLUDE-12.*,13.*}"
allow="${ALLOW_UNIMPLEMENTED-12,13}"
out="${OUT:-$root/out/conformance}"
results="$here/results"
mkdir -p "$out" "$results"

[ -d "$tools" ] || { echo "conformance: $tools not found" >&2; exit 3; }
"$tools/install.sh" >/dev/null

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

status=0
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT

port_open() { "$py" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" 2>/dev/null; }

for mode in manager thread asyncio gevent cherrypy; do
    port=$(free_port)
    if [ "$mode" = cherrypy ]; then
        # The classic CherryPy usage, verbatim, from the shared tool.
        "$py" "$tools/echo_server_ws4py.py" --impl cherrypy --port "$port" >"$out/server-$mode.log" 2>&1 &
    else
        "$py" "$here/echo_server.py" --port "$port" --mode "$mode" >"$out/server-$mode.log" 2>&1 &
    fi
    server_pid=$!
    for _ in $(seq 100); do port_open "$port" && break; sleep 0.1; done
    PYTHON3="$py" AGENT="ws4py-server-$mode" "$tools/test-server.sh" "127.0.0.1:$port" "$cases" \
        "$out/server-$mode" >"$out/server-$mode.txt" 2>&1 || true
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
    {
        grep -v '^\[autobahn\]' "$out/server-$mode.txt" || true
        "$py" "$here/check.py" "$out/server-$mode" --allow-unimplemented "$allow"
    } >"$results/server-$mode.txt" || status=1
    tail -n 1 "$results/server-$mode.txt" | sed "s/^/server ($mode): /"
done

for client in threaded async; do
    script="$here/echo_client.py"
    [ "$client" = async ] && script="$here/echo_client_async.py"
    PYTHON3="$py" AGENT="ws4py-client-$client" PORT="$(free_port)" "$tools/test-client.sh" \
        "$py $script" "$cases" "$out/client-$client" >"$out/client-$client.txt" 2>&1 || true
    {
        grep -v '^\[autobahn\]' "$out/client-$client.txt" || true
        "$py" "$here/check.py" "$out/client-$client" --allow-unimplemented "$allow"
    } >"$results/client-$client.txt" || status=1
    tail -n 1 "$results/client-$client.txt" | sed "s/^/client ($client): /"
done
exit $status
