#!/usr/bin/env python3
"""Compressed echo throughput: ws4py's server against the `websockets` server.

Both servers run in subprocesses on 127.0.0.1 with permessage-deflate on (their
defaults); the same client (the `websockets` asyncio client, compression on)
sends text messages of a few sizes, sequentially, and waits for each echo.
Rounds alternate between the servers so background load hits both alike.

usage: python bench/bench_compression.py [--seconds 2] [--rounds 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time

SIZES = [1024, 16 * 1024, 256 * 1024]

SERVERS = {
    "ws4py": (
        "import sys\n"
        "from ws4py.server.wsgirefserver import make_server\n"
        "from ws4py.websocket import EchoWebSocket\n"
        "server = make_server('127.0.0.1', int(sys.argv[1]), EchoWebSocket)\n"
        "server.serve_forever()\n"
    ),
    "websockets": (
        "import asyncio, sys\n"
        "from websockets.asyncio.server import serve\n"
        "async def echo(ws):\n"
        "    async for m in ws:\n"
        "        await ws.send(m)\n"
        "async def main():\n"
        "    async with serve(echo, '127.0.0.1', int(sys.argv[1]), max_size=None):\n"
        "        await asyncio.Future()\n"
        "asyncio.run(main())\n"
    ),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def payload(size: int) -> str:
    """JSON-like text: compressible, but not trivially (varying numbers)."""
    parts, n = [], 0
    while sum(map(len, parts)) < size:
        parts.append(json.dumps({"id": n, "user": f"user{n % 97}", "score": (n * 7919) % 10007}))
        n += 1
    return ",".join(parts)[:size]


async def measure(port: int, text: str, seconds: float) -> tuple[float, str]:
    from websockets.asyncio.client import connect

    async with connect(f"ws://127.0.0.1:{port}/", max_size=None) as ws:
        agreed = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        await ws.send(text)
        assert await ws.recv() == text
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            await ws.send(text)
            assert await ws.recv() == text
            count += 1
        return count / (time.perf_counter() - started), agreed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    procs, ports = {}, {}
    try:
        for name, code in SERVERS.items():
            ports[name] = free_port()
            procs[name] = subprocess.Popen([sys.executable, "-c", code, str(ports[name])])
        for port in ports.values():
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        results: dict[str, dict[int, float]] = {name: {} for name in SERVERS}
        agreed: dict[str, str] = {}
        print(f"load average at start: {os.getloadavg()[0]:.1f}")
        for size in SIZES:
            text = payload(size)
            for _ in range(args.rounds):
                for name in SERVERS:
                    rate, agreed[name] = asyncio.run(measure(ports[name], text, args.seconds))
                    results[name][size] = max(results[name].get(size, 0.0), rate)
        for name in SERVERS:
            print(f"{name}: negotiated {agreed[name]!r}")
        header = f"{'text message':>14} {'ws4py':>12} {'websockets':>12} {'ratio':>7}"
        print(f"\n{header}   (echoes/s, MB/s)")
        for size in SIZES:
            ours, theirs = results["ws4py"][size], results["websockets"][size]
            print(
                f"{size:>12} B {ours:>8.0f} {ours * size / 1e6:>5.1f}M "
                f"{theirs:>8.0f} {theirs * size / 1e6:>5.1f}M {ours / theirs:>6.2f}x"
            )
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
        if args.json:
            with open(args.json, "w") as out:
                json.dump({"results": results, "negotiated": agreed}, out, indent=2)
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
