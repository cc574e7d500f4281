#!/usr/bin/env python3
"""Cluster-wide broadcast through Redis: rate and latency at the receivers.

Usage::

    python bench/bench_cluster.py [--servers 2] [--connections 5000] [--rates 2,5,10]
                                  [--duration 10] [--burst 300] [--size 64]
                                  [--backend pubsub|streams] [--json out.json]

What runs (every process on 127.0.0.1, all stopped at the end by PID):

* a throwaway ``redis-server`` (:class:`ws4py.broadcast.testing.RedisServer`);
* ``--servers`` server processes: ws4py's wsgiref server, one
  :class:`~ws4py.manager.WebSocketManager` each on a
  :class:`~ws4py.broadcast.redis.RedisBackend`, plain websockets that read
  nothing (compression off, so a frame is built once per message);
* one load-client process per server opening ``--connections`` websockets
  to it (plain sockets and epoll, frames parsed with ``struct``; at most
  200 handshakes in flight);
* the publisher, this process: a manager with no websockets calling
  ``manager.publish(...)``, i.e. a third process of the cluster.

Each message carries its publication time (``CLOCK_MONOTONIC``, the same for
every process of the machine); a receiver takes the difference when the
frame is parsed.  Phases:

1. for each rate of ``--rates``: ``--duration`` seconds of messages at that
   rate (msg/s published): latency percentiles over every delivery;
2. a burst of ``--burst`` messages published back to back: the time from the
   first publication until every connection has every message gives the
   sustained rate (messages/s, and deliveries/s = messages x connections).

``RLIMIT_NOFILE`` is raised to its hard limit in every process.
"""

from __future__ import annotations

import argparse
import array
import base64
import json
import os
import platform
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def now_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


# -- the server process -------------------------------------------------------------------


def run_server(args: argparse.Namespace) -> int:
    from ws4py.broadcast.redis import RedisBackend, RedisStreamBackend
    from ws4py.server.wsgirefserver import make_server
    from ws4py.websocket import WebSocket

    raise_nofile()
    cls = RedisStreamBackend if args.backend == "streams" else RedisBackend
    backend = cls(args.redis, channel_prefix=args.prefix)
    if not backend.wait_connected(10):
        print(f"error: no Redis at {args.redis}", flush=True)
        return 1
    server = make_server("127.0.0.1", 0, WebSocket, extensions=[])
    assert server.manager is not None
    server.manager.set_backend(backend)
    backend.wait_subscribed(10)
    manager = server.manager
    # Diagnostics: per delivery run of the manager's thread, the wait since
    # the oldest message's publication, how long writing took, how many messages.
    runs: list[tuple[int, int, int]] = []
    deliver = manager._deliver_pending

    def timed_delivery() -> None:
        items = list(manager._inbox)
        started = now_ns()
        deliver()
        if items:
            try:
                published = int(items[0][1][1:].split(b"|")[1])
            except (IndexError, ValueError):
                published = started
            runs.append((started - published, now_ns() - started, len(items)))

    manager._deliver_pending = timed_delivery  # type: ignore[method-assign]

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"port {server.server_address[1]} pid {os.getpid()}", flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        print(
            json.dumps({"dropped_deliveries": manager.dropped_deliveries,
                        "received": backend.received, "websockets": len(manager),
                        "runs": runs}),
            flush=True,
        )
        for ws in list(manager):
            manager.remove(ws)
            ws.close_connection()
        manager.stop()
        server.socket.close()
        backend.close()
    return 0


# -- the load client process ----------------------------------------------------------------


HANDSHAKE = (
    "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class Conn:
    __slots__ = ("buf", "count", "done", "open", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.open = False
        self.done = False
        self.count = 0


def run_client(args: argparse.Namespace) -> int:
    """Open the connections, say "ready", then record latencies until every end marker."""
    raise_nofile()
    ep = select.epoll()
    conns: dict[int, Conn] = {}
    pending = 0
    opened = 0
    to_open = args.connections
    start = time.monotonic()
    while opened < args.connections:
        while to_open and pending < 200:
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", args.port))
            conn = Conn(sock)
            conns[sock.fileno()] = conn
            ep.register(sock.fileno(), select.EPOLLOUT)
            pending += 1
            to_open -= 1
        for fd, ev in ep.poll(1.0):
            conn = conns[fd]
            if ev & select.EPOLLOUT and not conn.buf and not conn.open:
                key = base64.b64encode(os.urandom(16)).decode()
                conn.sock.send(HANDSHAKE.format(port=args.port, key=key).encode())
                conn.buf = b"sent"
                ep.modify(fd, select.EPOLLIN)
                continue
            data = conn.sock.recv(65536)
            if not data:
                raise SystemExit(f"connection closed during the handshake ({opened} open)")
            head = (b"" if conn.buf == b"sent" else conn.buf) + data
            if b"\r\n\r\n" not in head:
                conn.buf = head
                continue
            status, _, rest = head.partition(b"\r\n\r\n")
            if not status.startswith(b"HTTP/1.1 101"):
                raise SystemExit(f"handshake refused: {status[:80]!r}")
            conn.buf = rest
            conn.open = True
            pending -= 1
            opened += 1
        if time.monotonic() - start > 300:
            raise SystemExit(f"only {opened} connections after 300 s")
    print(f"ready {opened} {time.monotonic() - start:.2f}", flush=True)

    # Latencies in microseconds, per phase (the first byte of the payload).
    latencies: dict[str, array.array[float]] = {}
    last_at: dict[str, int] = {}
    counts: dict[str, int] = {}
    unpack_short = struct.Struct("!H").unpack_from
    remaining = len(conns)
    deadline = time.monotonic() + args.timeout
    while remaining and time.monotonic() < deadline:
        for fd, _ in ep.poll(1.0):
            conn = conns[fd]
            try:
                data = conn.sock.recv(262144)
            except BlockingIOError:
                continue
            if not data:
                raise SystemExit("a server closed a connection")
            received = now_ns()
            buf = conn.buf + data if conn.buf else data
            pos, end = 0, len(buf)
            while end - pos >= 2:
                length = buf[pos + 1] & 0x7F
                header = 2
                if length == 126:
                    if end - pos < 4:
                        break
                    length = unpack_short(buf, pos + 2)[0]
                    header = 4
                if end - pos < header + length:
                    break
                payload = buf[pos + header : pos + header + length]
                pos += header + length
                phase, _, rest = payload.partition(b"|")
                name = phase.decode()
                if name == "end":
                    conn.done = True
                    remaining -= 1
                    continue
                sent = int(rest.partition(b"|")[0])
                series = latencies.get(name)
                if series is None:
                    series = latencies[name] = array.array("f")
                    counts[name] = 0
                series.append((received - sent) / 1000.0)
                counts[name] += 1
                last_at[name] = received
            conn.buf = buf[pos:]
    out = Path(args.out)
    summary: dict[str, Any] = {"open": len(conns), "unfinished": remaining, "phases": {}}
    for name, series in latencies.items():
        series.tofile((out.parent / f"{out.name}.{name}.f32").open("wb"))
        summary["phases"][name] = {"count": counts[name], "last_at_ns": last_at[name]}
    out.write_text(json.dumps(summary))
    for conn in conns.values():
        conn.sock.close()
    print("done", flush=True)
    return 0


# -- the orchestrator ---------------------------------------------------------------------------


def percentiles(values: list[float]) -> dict[str, float]:
    values.sort()
    n = len(values)

    def at(q: float) -> float:
        return values[min(n - 1, int(q * n))] / 1000.0  # ms

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": values[-1] / 1000.0}


def readline(proc: subprocess.Popen[str], timeout: float, what: str) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise SystemExit(f"{what}: no answer in {timeout} s")
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"{what}: exited with {proc.wait()}")
    return line.strip()


def run(args: argparse.Namespace) -> int:
    from ws4py.broadcast.redis import RedisBackend, RedisStreamBackend
    from ws4py.broadcast.testing import RedisServer
    from ws4py.manager import WebSocketManager

    cls = RedisStreamBackend if args.backend == "streams" else RedisBackend

    nofile = raise_nofile()
    need = args.connections + 100
    if nofile < need:
        raise SystemExit(f"RLIMIT_NOFILE is {nofile}; {need} needed per process")
    work = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    prefix = f"bench{os.getpid()}:"
    procs: list[subprocess.Popen[str]] = []
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "nofile": nofile,
        },
        "servers": args.servers,
        "backend": args.backend,
        "connections_per_server": args.connections,
        "size": args.size,
        "phases": {},
    }
    redis_server = RedisServer(directory=work / "redis")
    (work / "redis").mkdir()
    redis_server.start()
    publisher = None
    try:
        servers = []
        for _ in range(args.servers):
            proc = subprocess.Popen(
                [sys.executable, str(HERE), "server", "--redis", redis_server.url,
                 "--prefix", prefix, "--backend", args.backend],
                stdout=subprocess.PIPE, stderr=sys.stderr, text=True,
            )
            procs.append(proc)
            line = readline(proc, 30, "server")
            port = int(line.split()[1])
            servers.append((proc, port))
        clients = []
        for index, (_, port) in enumerate(servers):
            proc = subprocess.Popen(
                [sys.executable, str(HERE), "client", "--port", str(port),
                 "--connections", str(args.connections), "--out", str(work / f"client{index}"),
                 "--timeout", str(args.client_timeout)],
                stdout=subprocess.PIPE, stderr=sys.stderr, text=True,
            )
            procs.append(proc)
            clients.append(proc)
        for index, proc in enumerate(clients):
            line = readline(proc, 300, f"client {index}")
            print(f"client {index}: {line}", flush=True)
        total = args.connections * args.servers
        print(f"{total} websockets open on {args.servers} servers", flush=True)

        backend = cls(redis_server.url, channel_prefix=prefix)
        publisher = WebSocketManager(backend=backend)  # no websockets: publishes only
        assert backend.wait_connected(10)
        filler = "x" * max(0, args.size - 32)

        def publish(phase: str) -> None:
            publisher.publish(f"{phase}|{now_ns()}|{filler}")

        time.sleep(1.0)
        for _ in range(3):  # warm-up
            publish("warmup")
            time.sleep(0.2)
        plan = []
        for rate in args.rates:
            phase = f"rate{rate:g}"
            count = max(1, int(rate * args.duration))
            interval = 1.0 / rate
            start = time.monotonic()
            for i in range(count):
                delay = start + i * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                publish(phase)
            plan.append((phase, count, start, time.monotonic()))
            time.sleep(1.0)
        burst_start_ns = now_ns()
        for _ in range(args.burst):
            publish("burst")
        burst_published_ns = now_ns()
        plan.append(("burst", args.burst, 0.0, 0.0))
        publisher.publish("end|0|")
        for index, proc in enumerate(clients):
            line = readline(proc, args.client_timeout + 30, f"client {index}")
            assert line == "done", line
        summaries = [json.loads((work / f"client{i}").read_text()) for i in range(len(clients))]
        for phase, count, _, _ in plan:
            values: list[float] = []
            last = 0
            delivered = 0
            for index, summary in enumerate(summaries):
                info = summary["phases"].get(phase)
                if info is None:
                    continue
                series = array.array("f")
                path = work / f"client{index}.{phase}.f32"
                series.frombytes(path.read_bytes())
                values.extend(series)
                delivered += info["count"]
                last = max(last, info["last_at_ns"])
            expected = count * total
            entry: dict[str, Any] = {
                "messages": count,
                "deliveries": delivered,
                "expected_deliveries": expected,
                "latency_ms": percentiles(values) if values else None,
            }
            if phase == "burst":
                elapsed = (last - burst_start_ns) / 1e9
                entry["publish_s"] = (burst_published_ns - burst_start_ns) / 1e9
                entry["elapsed_s"] = elapsed
                entry["messages_per_s"] = count / elapsed
                entry["deliveries_per_s"] = delivered / elapsed
            else:
                entry["rate"] = float(phase[4:])
                entry["deliveries_per_s"] = delivered / args.duration
            results["phases"][phase] = entry
        results["unfinished_connections"] = sum(s["unfinished"] for s in summaries)
        for proc, _ in servers:
            os.kill(proc.pid, signal.SIGTERM)
        waits: list[float] = []
        writes: list[float] = []
        batch: list[int] = []
        for index, (proc, _) in enumerate(servers):
            info = json.loads(readline(proc, 60, f"server {index}"))
            for waited, wrote, size in info["runs"]:
                waits.append(waited / 1000.0)  # us
                writes.append(wrote / 1000.0)
                batch.append(size)
        if writes:
            results["server_delivery"] = {
                "runs": len(writes),
                "messages_per_run_max": max(batch),
                "wait_before_ms": percentiles(waits),
                "write_ms": percentiles(writes),
            }
    finally:
        if publisher is not None:
            publisher.backend.close()
        for proc in procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        redis_server.close()
        for path in work.glob("client*"):
            path.unlink()
    print_results(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def print_results(results: dict[str, Any]) -> None:
    m = results["machine"]
    total = results["servers"] * results["connections_per_server"]
    print()
    print(f"Python {m['python']} on {m['platform']}, {m['cpus']} CPUs, "
          f"RLIMIT_NOFILE {m['nofile']}")
    print(f"{results['servers']} server processes x {results['connections_per_server']} "
          f"websockets = {total}; {results['size']} B text messages through Redis "
          f"({results['backend']})")
    print()
    print(f"{'phase':<12}{'msg/s':>9}{'deliveries/s':>14}{'delivered':>16}"
          f"{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for phase, entry in results["phases"].items():
        rate = entry.get("rate") or entry.get("messages_per_s", 0.0)
        lat = entry["latency_ms"] or {"p50": 0, "p90": 0, "p99": 0, "max": 0}
        delivered = f"{entry['deliveries']}/{entry['expected_deliveries']}"
        print(f"{phase:<12}{rate:>9.1f}{entry['deliveries_per_s']:>14.0f}{delivered:>16}"
              f"{lat['p50']:>9.1f}{lat['p90']:>9.1f}{lat['p99']:>9.1f}{lat['max']:>9.1f}")
    burst = results["phases"].get("burst")
    if burst:
        print(f"\nburst: {burst['messages']} messages published in {burst['publish_s']:.2f} s, "
              f"all delivered {burst['elapsed_s']:.2f} s after the first publication")
    delivery = results.get("server_delivery")
    if delivery:
        wait, write = delivery["wait_before_ms"], delivery["write_ms"]
        print(f"servers: {delivery['runs']} delivery runs (up to {delivery['messages_per_run_max']}"
              f" messages each); publication to start of run p50 {wait['p50']:.1f} ms, "
              f"max {wait['max']:.1f} ms; writing a run to {results['connections_per_server']}"
              f" websockets p50 {write['p50']:.1f} ms, p99 {write['p99']:.1f} ms, "
              f"max {write['max']:.1f} ms")
    if results.get("unfinished_connections"):
        print(f"{results['unfinished_connections']} connections did not get every message")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="role")
    server = sub.add_parser("server")
    server.add_argument("--redis", required=True)
    server.add_argument("--prefix", required=True)
    server.add_argument("--backend", default="pubsub")
    client = sub.add_parser("client")
    client.add_argument("--port", type=int, required=True)
    client.add_argument("--connections", type=int, required=True)
    client.add_argument("--out", required=True)
    client.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--backend", choices=["pubsub", "streams"], default="pubsub",
                        help="RedisBackend (pub/sub) or RedisStreamBackend (streams)")
    parser.add_argument("--connections", type=int, default=5000, help="per server")
    parser.add_argument("--rates", default="2,5,10", help="msg/s of the latency phases")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per rate")
    parser.add_argument("--burst", type=int, default=300)
    parser.add_argument("--size", type=int, default=64, help="message size in bytes")
    parser.add_argument("--client-timeout", type=float, default=300)
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    if args.role == "server":
        return run_server(args)
    if args.role == "client":
        return run_client(args)
    args.rates = [float(rate) for rate in args.rates.split(",") if rate]
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
