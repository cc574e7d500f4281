#!/usr/bin/env bash
# Runs the Autobahn testsuite against ws4py and checks that every case is
# strictly OK, storing the summaries in conformance/results/.
#
#   phase 1, groups 1-10 (RFC 6455): every server -- wsgiref with a manager,
#            wsgiref with a thread per connection, asyncio, gevent, CherryPy
#            (the classic usage, from the shared tool) -- and both clients
#            (threaded, asyncio);
#   phase 2, groups 12-13 (permessage-deflate, 10-15 minutes each): the
#            manager server and the threaded client, side by side.
#
# usage: conformance/run.sh [PYTHON]     (PYTHON: an interpreter with ws4py installed)
# env:   PHASES (default "1 2"), OUT (default out/conformance)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
tools="$root/../shared/tools/autobahn"
py="${1:-$root/.venv/bin/python}"
phases="${PHASES:-1 2}"
out="${OUT:-$root/out/conformance}"
results="$here/results"
mkdir -p "$out" "$results"

[ -d "$tools" ] || { echo "conformance: $tools not found" >&2; exit 3; }
"$tools/install.sh" >/dev/null

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_open() { "$py" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" 2>/dev/null; }

status=0
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

# summarize NAME: keep the summary, check strictness, print its verdict line.
summarize() {
    local name=$1
    {
        grep -v '^\[autobahn\]' "$out/$name.txt" || true
        "$py" "$here/check.py" "$out/$name"
    } >"$results/$name.txt" || status=1
    tail -n 1 "$results/$name.txt" | sed "s/^/$name: /"
}

# server MODE CASES EXCLUDE NAME: start our echo server, run the fuzzing client.
server() {
    local mode=$1 cases=$2 exclude=$3 name=$4 port pid
    port=$(free_port)
    if [ "$mode" = cherrypy ]; then
        "$py" "$tools/echo_server_ws4py.py" --impl cherrypy --port "$port" >"$out/$name.log" 2>&1 &
    else
        "$py" "$here/echo_server.py" --port "$port" --mode "$mode" >"$out/$name.log" 2>&1 &
    fi
    pid=$!
    pids+=("$pid")
    for _ in $(seq 100); do port_open "$port" && break; sleep 0.1; done
    EXCLUDE="$exclude" PYTHON3="$py" AGENT="ws4py-$name" \
        "$tools/test-server.sh" "127.0.0.1:$port" "$cases" "$out/$name" >"$out/$name.txt" 2>&1 || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# client KIND CASES EXCLUDE NAME: run our echo client against the fuzzing server.
client() {
    local kind=$1 cases=$2 exclude=$3 name=$4 script="$here/echo_client.py"
    [ "$kind" = async ] && script="$here/echo_client_async.py"
    EXCLUDE="$exclude" PYTHON3="$py" AGENT="ws4py-$name" PORT="$(free_port)" \
        "$tools/test-client.sh" "$py $script" "$cases" "$out/$name" >"$out/$name.txt" 2>&1 || true
}

if [[ " $phases " == *" 1 "* ]]; then
    for mode in manager thread asyncio gevent cherrypy; do
        server "$mode" '*' '12.*,13.*' "server-$mode"
        summarize "server-$mode"
    done
    for kind in threaded async; do
        client "$kind" '*' '12.*,13.*' "client-$kind"
        summarize "client-$kind"
    done
fi

if [[ " $phases " == *" 2 "* ]]; then
    server manager '12.*,13.*' '' server-manager-deflate &
    server_job=$!
    client threaded '12.*,13.*' '' client-threaded-deflate
    wait "$server_job" || true
    summarize server-manager-deflate
    summarize client-threaded-deflate
fi
exit $status
