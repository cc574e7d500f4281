#!/usr/bin/env python3
"""Servers and clients over real sockets: ws4py against its peers, in one run.

Usage::

    python bench/bench_endpoints.py [--quick] [--json out.json] [--no-classic]
                                    [--proto DIR] [--only 1,2,...] [--servers a,b,...]

Every server runs in a subprocess of its own on 127.0.0.1 (a fresh one per
section) and every server is driven by the same load client, written below
on plain sockets and epoll: frames masked once with ``ws4py.masking.mask``
(the server unmasks every byte regardless of the key), headers parsed with
``struct``, payloads counted as they stream through a fixed receive buffer.
It never parses with ws4py, so it costs every server the same.

Servers: ws4py (``make_server(..., EchoWebSocket)``, WebSocketManager mode,
and thread-per-connection mode as an extra column), websockets (asyncio
echo, compression off), picows (echo listener), classic ws4py 0.6.0 (its
wsgiref server and EchoWebSocket, run by the Python of ``bench/.venvs/classic``,
the venv bench_core.py creates) and a bare TCP echo on epoll that only
answers the opening handshake: the ceiling.  ``--proto DIR`` adds a column
for a copy of the ws4py package in DIR (to measure proposed changes).

Sections:

1. sequential echo round trips/s on one connection (64 B, 4 KiB, 256 KiB binary;
   64 B text as an extra row);
2. pipelined 1 MiB echo throughput: N binary messages sent back to back while
   the echoes are read concurrently (MB/s of payload echoed);
3. 5,000 connections x 10 echoes of 64 B: open (at most ``--batch`` handshakes
   in flight), echo (all connections at once), close (close frame, then the
   server's close and TCP end): wall time of each phase;
4. server memory per idle connection: VmRSS of the server before and after
   2,000 and 5,000 idle connections (thread mode: a fifth of the connections in
   3 and 4, as thousands of Python threads convoy on the GIL);
5. broadcast of a 64 B text message to 10,000 peers: ws4py's
   ``WebSocketManager.broadcast()`` (also websockets' ``broadcast()`` and classic
   ws4py's manager, for reference), triggered by a "BROADCAST" message;
   the call's duration (measured in the server) and the time from sending the
   trigger until every peer got the message (peers spread over client processes);
6. clients: ws4py's threaded ``WebSocketClient`` against websocket-client
   (``create_connection``, send/recv loop), round trips/s against the picows echo
   server.

Ratios are "ws4py / peer" on rates (> 1: ws4py is faster) and "peer / ws4py" on
times and memory (> 1: ws4py is better).  Sections 1 and 2 also report the
server's CPU time per round trip (per MiB), from /proc/PID/stat: on a busy
machine it is steadier than the rates.  Only the standard library is imported
at module level: the same file is the classic server, run by the classic venv.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import errno
import gc
import hashlib
import json
import os
import platform
import random
import resource
import select
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
THIS = Path(__file__).resolve()

KiB = 1024
MiB = 1024 * 1024
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
HOST = "127.0.0.1"
BACKLOG = 4096
MAX_MESSAGE = 16 * MiB  # every server accepts messages this large (ws4py's default)

BCAST_TEXT = "broadcast-64B:" + "x" * 50  # the 64-byte text message broadcast
assert len(BCAST_TEXT) == 64

#: The server columns, in order ("proto" is added by --proto).
SERVER_KINDS = ("ws4py", "ws4py-thread", "websockets", "picows", "classic", "tcp-echo")
OURS = "ws4py"


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def raise_nofile() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def make_payload(size: int, opcode: int = OP_BINARY) -> bytes:
    if opcode == OP_TEXT:
        line = b'{"id": 1234567, "user": "alice", "event": "price_update", "bid": 101.25}\n'
        return (line * (size // len(line) + 1))[:size]
    return random.Random(size).randbytes(size)


def size_label(n: int) -> str:
    if n >= MiB and n % MiB == 0:
        return f"{n // MiB} MiB"
    if n >= KiB and n % KiB == 0:
        return f"{n // KiB} KiB"
    return f"{n} B"


def fmt_rate(x: float | None) -> str:
    if x is None:
        return "-"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}"


def fmt_s(t: float | None) -> str:
    if t is None:
        return "-"
    if t < 1e-3:
        return f"{t * 1e6:.0f} us"
    if t < 1:
        return f"{t * 1e3:.1f} ms"
    return f"{t:.2f} s"


def fmt_ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x"


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print()
    print(title)
    print(line)
    def fmt(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(fmt(header))
    print(line)
    for r in rows:
        print(fmt(r))
    print(line)


def read_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (KiB) and Threads of a process, from /proc/PID/status."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                out[key] = int(value.split()[0])
    return out


_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# ---------------------------------------------------------------------------
# Servers (subprocess side).  Each prints {"port": N} once it listens and
# exits when its stdin closes (or on SIGTERM).
# ---------------------------------------------------------------------------


def _ready(port: int) -> None:
    sys.stdout.write(json.dumps({"port": port, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # nothing else may fill the pipe nobody reads


def _exit_on_stdin_eof() -> None:
    def watch() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            os._exit(0)

    threading.Thread(target=watch, daemon=True, name="stdin-watch").start()


def serve_ws4py(mode: str, broadcast: bool) -> None:
    from ws4py.server.wsgirefserver import make_server
    from ws4py.websocket import EchoWebSocket

    handler: Any = EchoWebSocket
    holder: dict[str, Any] = {}
    if broadcast:

        class BroadcastEcho(EchoWebSocket):  # type: ignore[misc]
            def received_message(self, message: Any) -> None:
                if message.opcode == OP_TEXT and message.data == b"BROADCAST":
                    manager = holder["server"].manager
                    t0 = time.perf_counter()
                    manager.broadcast(BCAST_TEXT)
                    dt = time.perf_counter() - t0
                    self.send(f"DONE {dt:.9f} {len(manager)}")
                    return
                super().received_message(message)

        handler = BroadcastEcho
    server = make_server(HOST, 0, handler, websocket_mode=mode)
    holder["server"] = server
    _ready(server.server_address[1])
    server.serve_forever()


def serve_classic(broadcast: bool) -> None:
    from wsgiref.simple_server import make_server

    import ws4py
    from ws4py.server.wsgirefserver import WebSocketWSGIRequestHandler, WSGIServer
    from ws4py.server.wsgiutils import WebSocketWSGIApplication
    from ws4py.websocket import EchoWebSocket

    assert ws4py.__version__ == "0.6.0", ws4py.__file__

    class Server(WSGIServer):  # type: ignore[misc]
        # wsgiref's default listen backlog is 5: a burst of connects would
        # measure SYN retransmits, not ws4py.  Every server here gets 4096.
        request_queue_size = BACKLOG

    holder: dict[str, Any] = {}
    handler: Any = EchoWebSocket
    if broadcast:

        class BroadcastEcho(EchoWebSocket):  # type: ignore[misc]
            def received_message(self, message: Any) -> None:
                if bytes(message.data) == b"BROADCAST":
                    manager = holder["server"].manager
                    t0 = time.perf_counter()
                    manager.broadcast(BCAST_TEXT)
                    dt = time.perf_counter() - t0
                    self.send(f"DONE {dt:.9f} {len(manager.websockets)}")
                    return
                super().received_message(message)

        handler = BroadcastEcho
    server = make_server(
        HOST, 0, server_class=Server, handler_class=WebSocketWSGIRequestHandler,
        app=WebSocketWSGIApplication(handler_cls=handler),
    )
    server.initialize_websockets_manager()
    holder["server"] = server
    _ready(server.server_address[1])
    server.serve_forever()


async def serve_websockets(broadcast_mode: bool) -> None:
    from websockets.asyncio.server import broadcast, serve

    holder: dict[str, Any] = {}

    async def echo(ws: Any) -> None:
        async for msg in ws:
            if broadcast_mode and msg == "BROADCAST":
                server = holder["server"]
                t0 = time.perf_counter()
                broadcast(server.connections, BCAST_TEXT)
                dt = time.perf_counter() - t0
                await ws.send(f"DONE {dt:.9f} {len(server.connections)}")
                continue
            await ws.send(msg)

    async with serve(
        echo, HOST, 0, compression=None, max_size=MAX_MESSAGE, ping_interval=None,
        backlog=BACKLOG,
    ) as server:
        holder["server"] = server
        _ready(server.sockets[0].getsockname()[1])
        await asyncio.Future()


async def serve_picows() -> None:
    from picows import WSListener, WSMsgType, ws_create_server

    close, ping, pong = WSMsgType.CLOSE, WSMsgType.PING, WSMsgType.PONG

    class Echo(WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            kind = frame.msg_type
            if kind == close:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
                return
            if kind in (ping, pong):
                return
            transport.send(kind, frame.get_payload_as_memoryview(), frame.fin)

    server = await ws_create_server(
        lambda _request: Echo(), HOST, 0, max_frame_size=MAX_MESSAGE, backlog=BACKLOG
    )
    _ready(server.sockets[0].getsockname()[1])
    await server.serve_forever()


_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_value(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())


def serve_tcp_echo() -> None:
    """The ceiling: answers the opening handshake, then writes back every byte it reads.

    One thread, non-blocking sockets, level-triggered epoll: about the least work a
    Python server can do per message.
    """
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((HOST, 0))
    lsock.listen(BACKLOG)
    lsock.setblocking(False)
    lfd = lsock.fileno()
    ep = select.epoll()
    ep.register(lfd, select.EPOLLIN)
    socks: dict[int, socket.socket] = {}
    heads: dict[int, bytes] = {}  # connections still in their opening handshake
    pending: dict[int, bytearray] = {}  # bytes the socket did not take yet
    buf = bytearray(256 * KiB)
    view = memoryview(buf)
    rd, wr = select.EPOLLIN, select.EPOLLOUT
    limit = 4 * MiB  # stop reading a peer that does not read its echoes

    def drop(fd: int) -> None:
        ep.unregister(fd)
        socks.pop(fd).close()
        heads.pop(fd, None)
        pending.pop(fd, None)

    def write(fd: int, sock: socket.socket, data: Any) -> None:
        out = pending.get(fd)
        if out is not None:
            out += data
        else:
            try:
                sent = sock.send(data)
            except BlockingIOError:
                sent = 0
            if sent == len(data):
                return
            pending[fd] = out = bytearray(data[sent:])
        ep.modify(fd, wr if len(out) > limit else rd | wr)

    _ready(lsock.getsockname()[1])
    while True:
        for fd, ev in ep.poll():
            if fd == lfd:
                while True:
                    try:
                        conn, _ = lsock.accept()
                    except BlockingIOError:
                        break
                    conn.setblocking(False)
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    cfd = conn.fileno()
                    socks[cfd] = conn
                    heads[cfd] = b""
                    ep.register(cfd, rd)
                continue
            sock = socks.get(fd)
            if sock is None:
                continue
            if ev & wr:
                out = pending[fd]
                try:
                    sent = sock.send(out)
                except BlockingIOError:
                    sent = 0
                except OSError:
                    drop(fd)
                    continue
                del out[:sent]
                if not out:
                    del pending[fd]
                    ep.modify(fd, rd)
                elif len(out) <= limit:
                    ep.modify(fd, rd | wr)
            if ev & ~wr:
                try:
                    k = sock.recv_into(buf)
                except BlockingIOError:
                    continue
                except OSError:
                    k = 0
                if not k:
                    drop(fd)
                    continue
                head = heads.get(fd)
                if head is None:
                    write(fd, sock, view[:k])
                    continue
                head += bytes(view[:k])
                end = head.find(b"\r\n\r\n")
                if end < 0:
                    heads[fd] = head
                    continue
                del heads[fd]
                key = b""
                for line in head[:end].split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"sec-websocket-key":
                        key = value.strip()
                reply = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_value(key)
                         + b"\r\n\r\n")
                write(fd, sock, reply + head[end + 4 :])


def server_main(kind: str, broadcast: bool) -> int:
    raise_nofile()
    _exit_on_stdin_eof()
    level = os.environ.get("BENCH_SERVER_LOG")  # e.g. WARNING: the servers' logs on stderr
    if level:
        import logging

        logging.basicConfig(level=level.upper(), stream=sys.stderr)
    if kind == "ws4py":
        serve_ws4py("manager", broadcast)
    elif kind == "ws4py-thread":
        serve_ws4py("thread", broadcast)
    elif kind == "classic":
        serve_classic(broadcast)
    elif kind == "websockets":
        asyncio.run(serve_websockets(broadcast))
    elif kind == "picows":
        asyncio.run(serve_picows())
    elif kind == "tcp-echo":
        serve_tcp_echo()
    else:
        raise SystemExit(f"unknown server kind {kind}")
    return 0


# ---------------------------------------------------------------------------
# Servers (orchestrator side)
# ---------------------------------------------------------------------------


class ServerSpec:
    """How to start one column's server."""

    def __init__(self, label: str, kind: str, python: str, env: dict[str, str]) -> None:
        self.label = label
        self.kind = kind
        self.python = python
        self.env = env
        #: whether the server closes TCP after the closing handshake (the bare echo never does)
        self.closes_tcp = kind != "tcp-echo"


class ServerProc:
    def __init__(self, spec: ServerSpec, broadcast: bool = False) -> None:
        self.spec = spec
        self.broadcast = broadcast
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.pid = 0
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 - read after stop(), freed with self
        self._profiler: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> ServerProc:
        argv = [self.spec.python, str(THIS), "--serve", self.spec.kind]
        if self.broadcast:
            argv.append("--broadcast")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err,
            env=self.spec.env, cwd=str(HERE),
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            self.stop()
            raise RuntimeError(f"server {self.spec.label} did not start: {self.stderr_tail()}")
        info = json.loads(line)
        self.port = int(info["port"])
        self.pid = self.proc.pid
        return self

    def stderr_tail(self, n: int = 1500) -> str:
        self._err.seek(0)
        return self._err.read().decode(errors="replace")[-n:]

    def status(self) -> dict[str, int]:
        return read_status(self.pid)

    def profile(self, path: str, rate: int = 250) -> None:
        """Attach py-spy to the server until stop() (raw collapsed stacks, all threads)."""
        import shutil

        exe = Path(sys.executable).parent / "py-spy"  # pip install py-spy (in this venv)
        spy = str(exe) if exe.exists() else shutil.which("py-spy") or "py-spy"
        self._profiler = subprocess.Popen(
            [spy, "record", "--pid", str(self.pid), "--format", "raw", "--rate", str(rate), "--gil",
             "--output", path, "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)

    def stop(self) -> None:
        if self._profiler is not None:
            self._profiler.send_signal(2)
            try:
                self._profiler.wait(10)
            except subprocess.TimeoutExpired:
                self._profiler.kill()
            self._profiler = None
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.terminate()
            proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> ServerProc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------
# The load client: raw sockets, frames masked once, headers parsed with struct
# ---------------------------------------------------------------------------

WS_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
WS_ACCEPT = accept_value(WS_KEY)
MASK_KEY = b"\x37\xfa\x21\x3d"
_U16 = struct.Struct("!H").unpack_from
_U64 = struct.Struct("!Q").unpack_from


def upgrade_request(port: int) -> bytes:
    return (
        f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {WS_KEY.decode()}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def check_response(head: bytes) -> None:
    if not head.startswith(b"HTTP/1.1 101") or WS_ACCEPT not in head:
        raise RuntimeError(f"bad handshake response: {head[:200]!r}")


def client_frame(opcode: int, payload: bytes, key: bytes = MASK_KEY) -> bytes:
    """One masked frame, as a client sends it (RFC 6455 5.2, 5.3)."""
    from ws4py.masking import mask

    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 0x10000:
        head = struct.pack("!BBH", 0x80 | opcode, 0xFE, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0xFF, n)
    return head + key + mask(payload, key)


CLOSE_PAYLOAD = struct.pack("!H", 1000)


def _header(buf: Any, pos: int, avail: int) -> tuple[int, int, int, bytes | None] | None:
    """(header length, first byte, payload length, key) or None if incomplete."""
    if avail < 2:
        return None
    b1 = buf[pos + 1]
    length = b1 & 0x7F
    hlen = 2 if length < 126 else 4 if length == 126 else 10
    if b1 & 0x80:
        hlen += 4
    if avail < hlen:
        return None
    if length == 126:
        length = _U16(buf, pos + 2)[0]
    elif length == 127:
        length = _U64(buf, pos + 2)[0]
    key = bytes(buf[pos + hlen - 4 : pos + hlen]) if b1 & 0x80 else None
    return hlen, buf[pos], length, key


class Reader:
    """Counts the frames a server sends; keeps their payloads only when asked.

    The bare TCP echo sends our own masked frames back: they are accepted
    (and unmasked when kept).
    """

    __slots__ = ("_fin", "_head", "_keep", "_key", "_left", "_op", "closed", "data_bytes", "kept")

    def __init__(self, keep: bool = False) -> None:
        self._head = bytearray()
        self._left = 0
        self._op = 0
        self._fin = 0
        self._key: bytes | None = None
        self._keep = bytearray() if keep else None
        self.kept: list[tuple[int, bytes]] = []
        self.closed = False
        self.data_bytes = 0

    def feed(self, data: Any) -> int:
        """Consume ``data``; return how many data messages (final frames) it completed."""
        done = 0
        n = len(data)
        pos = 0
        while pos < n:
            left = self._left
            if left:
                take = n - pos if n - pos < left else left
                if self._keep is not None:
                    self._keep += data[pos : pos + take]
                pos += take
                left -= take
                self._left = left
                if left:
                    break
                done += self._end()
                continue
            head = self._head
            if head:
                old = len(head)
                head += data[pos : pos + 14 - old]
                hdr = _header(head, 0, len(head))
                if hdr is None:
                    pos += len(head) - old
                    continue
                pos += hdr[0] - old
                head.clear()
            else:
                hdr = _header(data, pos, n - pos)
                if hdr is None:
                    head += data[pos:n]
                    break
                pos += hdr[0]
            _, b0, length, self._key = hdr
            self._op = op = b0 & 0x0F
            self._fin = b0 & 0x80
            if not op & 0x8:
                self.data_bytes += length
            if length:
                self._left = length
            else:
                done += self._end()
        return done

    def _end(self) -> int:
        op = self._op
        if self._keep is not None:
            payload = bytes(self._keep)
            self._keep.clear()
            if self._key is not None:
                from ws4py.masking import mask

                payload = mask(payload, self._key)
            self.kept.append((op, payload))
        if op == OP_CLOSE:
            self.closed = True
            return 0
        if op & 0x8:
            return 0
        return 1 if self._fin else 0


def connect_blocking(port: int, timeout: float = 10.0) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection((HOST, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(upgrade_request(port))
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("connection closed during the handshake")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    check_response(head)
    return sock, rest


def close_blocking(sock: socket.socket, reader: Reader, timeout: float = 2.0) -> None:
    """Send a close frame, wait (briefly) for the server's close and its end of TCP."""
    try:
        sock.setblocking(True)
        sock.settimeout(timeout)
        sock.sendall(client_frame(OP_CLOSE, CLOSE_PAYLOAD))
        while True:
            data = sock.recv(65536)
            if not data:
                break
            reader.feed(data)
            if reader.closed:
                sock.settimeout(0.2)  # the bare TCP echo never closes: do not wait long
    except OSError:
        pass
    finally:
        sock.close()


def roundtrip(sock: socket.socket, frame: bytes, reader: Reader, view: memoryview) -> None:
    sock.sendall(frame)
    recv_into = sock.recv_into
    while True:
        k = recv_into(view)
        if not k:
            raise RuntimeError("server closed the connection")
        if reader.feed(view[:k]):
            return


def verify_echo(sock: socket.socket, rest: bytes, opcode: int, payload: bytes,
                view: memoryview) -> None:
    check = Reader(keep=True)
    if rest:
        check.feed(rest)
    roundtrip(sock, client_frame(opcode, payload), check, view)
    if check.kept[-1:] != [(opcode, payload)]:
        got = [(op, len(p)) for op, p in check.kept]
        raise RuntimeError(f"wrong echo: sent ({opcode}, {len(payload)} B), got {got}")


def measure_rtt(port: int, size: int, opcode: int, duration: float, reps: int,
                warmup: float, pid: int | None = None) -> dict[str, Any]:
    """Sequential echo on one connection: best round trips/s over ``reps`` runs.

    With the server's ``pid``, also its CPU time per round trip (lowest of the runs).
    """
    payload = make_payload(size, opcode)
    frame = client_frame(opcode, payload)
    buf = bytearray(max(256 * KiB, 2 * size))
    view = memoryview(buf)
    sock, rest = connect_blocking(port)
    reader = Reader()
    try:
        verify_echo(sock, rest, opcode, payload, view)
        end = time.perf_counter() + warmup
        while time.perf_counter() < end:
            roundtrip(sock, frame, reader, view)
        rates = []
        cpus = []
        total = 0
        for _ in range(reps):
            gc.collect()
            gc.disable()
            try:
                n = 0
                c0 = cpu_seconds(pid) if pid else 0.0
                t0 = time.perf_counter()
                deadline = t0 + duration
                while True:
                    roundtrip(sock, frame, reader, view)
                    n += 1
                    if time.perf_counter() >= deadline:
                        break
                dt = time.perf_counter() - t0
                if pid:
                    cpus.append((cpu_seconds(pid) - c0) / n)
            finally:
                gc.enable()
            rates.append(n / dt)
            total += n
    finally:
        close_blocking(sock, reader)
    return {"rt_per_s": max(rates), "median_rt_per_s": statistics.median(rates),
            "runs": [round(r, 1) for r in rates], "round_trips": total,
            "server_cpu_s_per_rt": min(cpus) if cpus else None}


def measure_pipeline(port: int, size: int, count: int, window: int,
                     timeout: float = 60.0) -> dict[str, Any]:
    """``count`` messages of ``size`` sent back to back (at most ``window`` not yet
    echoed) while the echoes are read: MB/s of payload echoed."""
    payload = make_payload(size)
    frame = client_frame(OP_BINARY, payload)
    buf = bytearray(MiB)
    view = memoryview(buf)
    sock, rest = connect_blocking(port)
    reader = Reader()
    try:
        verify_echo(sock, rest, OP_BINARY, payload, view)
        sock.setblocking(False)
        fd = sock.fileno()
        ep = select.epoll()
        inout = select.EPOLLIN | select.EPOLLOUT
        ep.register(fd, inout)
        out_on = True
        fv = memoryview(frame)
        flen = len(frame)
        sent = off = got = 0
        recv_into = sock.recv_into
        send = sock.send
        gc.collect()
        gc.disable()
        t0 = last = time.perf_counter()
        try:
            while got < count:
                want = sent < count and sent - got < window
                if want != out_on:
                    ep.modify(fd, inout if want else select.EPOLLIN)
                    out_on = want
                events = ep.poll(1.0)
                now = time.perf_counter()
                if not events:
                    if now - last > timeout:
                        raise RuntimeError(f"stalled: {got}/{count} echoed, {sent} sent")
                    continue
                last = now
                ev = events[0][1]
                if ev & ~select.EPOLLOUT:
                    while True:
                        try:
                            k = recv_into(view)
                        except BlockingIOError:
                            break
                        if not k:
                            raise RuntimeError(f"server closed after {got}/{count} echoes")
                        got += reader.feed(view[:k])
                        if k < MiB:
                            break
                if ev & select.EPOLLOUT:
                    while sent < count and sent - got < window:
                        try:
                            k = send(fv[off:])
                        except BlockingIOError:
                            break
                        off += k
                        if off < flen:
                            break
                        sent += 1
                        off = 0
            dt = time.perf_counter() - t0
        finally:
            gc.enable()
        ep.close()
        if reader.data_bytes != count * size:
            raise RuntimeError(f"echoed {reader.data_bytes} bytes, expected {count * size}")
    finally:
        close_blocking(sock, reader)
    return {"seconds": dt, "mb_per_s": count * size / dt / 1e6, "messages": count,
            "window": window}


class Peer:
    __slots__ = ("fd", "head", "left", "reader", "sock", "state")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.head = b""
        self.state = 0  # 0 connecting, 1 handshake, 2 open, 3 closing
        self.reader = Reader()
        self.left = 0


class Swarm:
    """Many connections from one process, on non-blocking sockets and epoll."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ep = select.epoll()
        self.peers: dict[int, Peer] = {}
        self.buf = bytearray(256 * KiB)
        self.view = memoryview(self.buf)
        self.request = upgrade_request(port)
        self.failed: dict[str, int] = {}
        self.unfinished = 0

    def _fail(self, p: Peer, why: str) -> None:
        self.failed[why] = self.failed.get(why, 0) + 1
        try:
            self.ep.unregister(p.fd)
        except OSError:
            pass
        p.sock.close()

    def open(self, count: int, concurrency: int, timeout: float = 120.0) -> float:
        """Open ``count`` more connections, at most ``concurrency`` handshakes in flight."""
        ep = self.ep
        pending: dict[int, Peer] = {}
        started = finished = 0
        t0 = time.perf_counter()
        deadline = t0 + timeout
        while finished < count:
            while started < count and len(pending) < concurrency:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                err = s.connect_ex((HOST, self.port))
                started += 1
                p = Peer(s)
                if err not in (0, errno.EINPROGRESS):
                    self._fail(p, errno.errorcode.get(err, str(err)))
                    finished += 1
                    continue
                ep.register(p.fd, select.EPOLLOUT)
                pending[p.fd] = p
            events = ep.poll(0.5)
            if time.perf_counter() > deadline:
                for p in pending.values():
                    self._fail(p, "open timeout")
                break
            for fd, _ in events:
                p = pending.get(fd)
                if p is None:
                    continue
                if p.state == 0:
                    err = p.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        del pending[fd]
                        finished += 1
                        self._fail(p, errno.errorcode.get(err, str(err)))
                        continue
                    p.sock.send(self.request)
                    p.state = 1
                    ep.modify(fd, select.EPOLLIN)
                    continue
                try:
                    data = p.sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    data = b""
                    why = type(exc).__name__
                else:
                    why = "closed in handshake"
                if not data:
                    del pending[fd]
                    finished += 1
                    self._fail(p, why)
                    continue
                p.head += data
                if b"\r\n\r\n" in p.head:
                    head, _, rest = p.head.partition(b"\r\n\r\n")
                    del pending[fd]
                    finished += 1
                    try:
                        check_response(head)
                    except RuntimeError:
                        self._fail(p, "bad response")
                        continue
                    p.head = b""
                    p.state = 2
                    if rest:
                        p.reader.feed(rest)
                    self.peers[fd] = p
        return time.perf_counter() - t0

    def _send(self, p: Peer, data: bytes) -> None:
        try:
            sent = p.sock.send(data)
        except BlockingIOError:
            sent = 0
        if sent < len(data):  # never seen with small frames; stay correct anyway
            p.sock.setblocking(True)
            p.sock.settimeout(10)
            p.sock.sendall(data[sent:])
            p.sock.setblocking(False)

    def echo(self, rounds: int, frame: bytes, size: int, timeout: float = 120.0) -> float:
        """Every connection sends ``rounds`` messages, one at a time, each after its echo."""
        peers = self.peers
        recv_buf = self.view
        t0 = time.perf_counter()
        deadline = t0 + timeout
        before = sum(p.reader.data_bytes for p in peers.values())
        for p in peers.values():
            p.left = rounds
            self._send(p, frame)
        remaining = len(peers)
        poll = self.ep.poll
        while remaining:
            events = poll(0.5)
            if time.perf_counter() > deadline:
                self.unfinished = remaining
                raise TimeoutError(f"{remaining} of {len(peers)} connections not done "
                                   f"after {timeout:g} s")
            for fd, _ in events:
                p = peers[fd]
                try:
                    k = p.sock.recv_into(recv_buf)
                except BlockingIOError:
                    continue
                except OSError:
                    k = 0
                if not k:
                    if p.left:
                        raise RuntimeError("the server closed a connection during echoes")
                    continue
                m = p.reader.feed(recv_buf[:k])
                if m:
                    p.left -= m
                    if p.left > 0:
                        self._send(p, frame)
                    else:
                        remaining -= 1
        dt = time.perf_counter() - t0
        got = sum(p.reader.data_bytes for p in peers.values()) - before
        if got != rounds * size * len(peers):
            raise RuntimeError(f"echoed {got} bytes, expected {rounds * size * len(peers)}")
        return dt

    def wait_one_each(self, timeout: float = 60.0) -> tuple[float | None, float | None, int]:
        """Wait until every connection got one more message: (first, last) monotonic times."""
        peers = self.peers
        before = {fd: 0 for fd in peers}
        waiting = set(peers)
        first = last = None
        deadline = time.monotonic() + timeout
        view = self.view
        while waiting:
            events = self.ep.poll(0.5)
            if not events:
                if time.monotonic() > deadline:
                    break
                continue
            for fd, _ in events:
                p = peers[fd]
                try:
                    k = p.sock.recv_into(view)
                except BlockingIOError:
                    continue
                except OSError:
                    k = 0
                if not k:
                    waiting.discard(fd)
                    continue
                before[fd] += p.reader.feed(view[:k])
                if before[fd] and fd in waiting:
                    waiting.discard(fd)
            now = time.monotonic()
            if first is None:
                first = now
            last = now
        return first, last, len(peers) - len(waiting)

    def close_all(self, closes_tcp: bool = True, timeout: float = 30.0) -> float:
        """Send close frames, wait for the server's close and the end of TCP."""
        frame = client_frame(OP_CLOSE, CLOSE_PAYLOAD)
        peers = self.peers
        t0 = time.perf_counter()
        deadline = t0 + timeout
        for p in peers.values():
            p.state = 3
            try:
                self._send(p, frame)
            except OSError:
                pass
        view = self.view
        while peers:
            events = self.ep.poll(0.5)
            if not events and time.perf_counter() > deadline:
                for p in list(peers.values()):
                    self._fail(p, "no close from server" if not p.reader.closed else "no TCP end")
                peers.clear()
                break
            for fd, _ in events:
                p = peers[fd]
                try:
                    k = p.sock.recv_into(view)
                except BlockingIOError:
                    continue
                except OSError:
                    k = 0
                if k:
                    p.reader.feed(view[:k])
                    if not (p.reader.closed and not closes_tcp):
                        continue
                elif not p.reader.closed:
                    self.failed["EOF before close frame"] = (
                        self.failed.get("EOF before close frame", 0) + 1)
                del peers[fd]
                self.ep.unregister(fd)
                p.sock.close()
        return time.perf_counter() - t0

    def abort(self) -> None:
        for p in self.peers.values():
            p.sock.close()
        self.peers.clear()
        self.ep.close()


# ---------------------------------------------------------------------------
# Broadcast peers (worker processes driven over stdin/stdout, JSON lines)
# ---------------------------------------------------------------------------


def peer_worker_main() -> int:
    raise_nofile()
    gc.disable()
    swarm: Swarm | None = None
    for line in sys.stdin:
        cmd = json.loads(line)
        out: dict[str, Any] = {}
        if cmd["cmd"] == "open":
            swarm = Swarm(cmd["port"])
            out["seconds"] = swarm.open(cmd["count"], cmd["concurrency"])
            out["opened"] = len(swarm.peers)
            out["failed"] = swarm.failed
        elif cmd["cmd"] == "wait":
            assert swarm is not None
            sys.stdout.write(json.dumps({"armed": True}) + "\n")
            sys.stdout.flush()
            first, last, got = swarm.wait_one_each(cmd.get("timeout", 60.0))
            out.update(first=first, last=last, got=got)
        elif cmd["cmd"] == "close":
            assert swarm is not None
            out["seconds"] = swarm.close_all()
            out["failed"] = swarm.failed
            sys.stdout.write(json.dumps(out) + "\n")
            sys.stdout.flush()
            return 0
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    return 0


class Worker:
    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(THIS), "--peer-worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, env=env, cwd=str(HERE), text=True, bufsize=1,
        )

    def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def recv(self, timeout: float = 180.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError("peer worker died or timed out")
        result: dict[str, Any] = json.loads(line)
        return result

    def stop(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(5)


# ---------------------------------------------------------------------------
# Section 6: clients (run in a subprocess of their own)
# ---------------------------------------------------------------------------


def _loop_rate(step: Callable[[], None], duration: float) -> float:
    """Round trips/s of ``step()`` called in a loop for ``duration`` seconds."""
    gc.collect()
    gc.disable()
    try:
        n = 0
        t0 = time.perf_counter()
        deadline = t0 + duration
        while True:
            step()
            n += 1
            if time.perf_counter() >= deadline:
                break
        return n / (time.perf_counter() - t0)
    finally:
        gc.enable()


class ClientUnderTest:
    """One client connection; ``run(duration)`` returns round trips/s."""

    name = ""

    def run(self, duration: float) -> float:
        raise NotImplementedError

    def close(self) -> None:
        pass


class Ws4pyPingPong(ClientUnderTest):
    """Our client as its API intends: the next message is sent from received_message."""

    name = "ws4py WebSocketClient (callback ping-pong)"

    def __init__(self, url: str, payload: bytes) -> None:
        from ws4py.client.threadedclient import WebSocketClient

        done = threading.Event()
        self.done = done

        class PingPong(WebSocketClient):  # type: ignore[misc]
            stop_at = 0.0
            count = 0
            t_end = 0.0
            bad = False

            def received_message(self, message: Any) -> None:
                if self.count == 0 and message.data != payload:
                    self.bad = True
                self.count += 1
                now = time.perf_counter()
                if now >= self.stop_at:
                    self.t_end = now
                    done.set()
                    return
                self.send(payload, True)

        self.payload = payload
        self.ws = PingPong(url)
        self.ws.connect()

    def run(self, duration: float) -> float:
        ws = self.ws
        self.done.clear()
        ws.count = 0
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            ws.stop_at = t0 + duration
            ws.send(self.payload, True)
            if not self.done.wait(duration + 30):
                raise RuntimeError("ws4py client stalled")
        finally:
            gc.enable()
        if ws.bad:
            raise RuntimeError("ws4py client: wrong echo")
        return float(ws.count / (ws.t_end - t0))

    def close(self) -> None:
        self.ws.close()
        self.ws.join(5)


class Ws4pyRequestReply(ClientUnderTest):
    """Our client used like a blocking one: send, then wait for the reader thread's message."""

    name = "ws4py WebSocketClient (send + wait from main thread)"

    def __init__(self, url: str, payload: bytes) -> None:
        import queue

        from ws4py.client.threadedclient import WebSocketClient

        replies: queue.SimpleQueue[Any] = queue.SimpleQueue()

        class Blocking(WebSocketClient):  # type: ignore[misc]
            def received_message(self, message: Any) -> None:
                replies.put(message)

        self.ws = ws = Blocking(url)
        ws.connect()
        ws.send(payload, True)
        if replies.get(timeout=10).data != payload:
            raise RuntimeError("ws4py client: wrong echo")

        def step() -> None:
            ws.send(payload, True)
            replies.get()

        self.step = step

    def run(self, duration: float) -> float:
        return _loop_rate(self.step, duration)

    def close(self) -> None:
        self.ws.close()
        self.ws.join(5)


class WebsocketClientLib(ClientUnderTest):
    name = "websocket-client (send_binary + recv)"

    def __init__(self, url: str, payload: bytes) -> None:
        import websocket

        self.ws = ws = websocket.create_connection(url)
        ws.send_binary(payload)
        if ws.recv() != payload:
            raise RuntimeError("websocket-client: wrong echo")

        def step() -> None:
            ws.send_binary(payload)
            ws.recv()

        self.step = step

    def run(self, duration: float) -> float:
        return _loop_rate(self.step, duration)

    def close(self) -> None:
        self.ws.close()


class RawClient(ClientUnderTest):
    name = "bench raw socket client (ceiling)"

    def __init__(self, url: str, payload: bytes) -> None:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        self.sock, rest = connect_blocking(port)
        self.reader = Reader()
        view = memoryview(bytearray(256 * KiB))
        verify_echo(self.sock, rest, OP_BINARY, payload, view)
        frame = client_frame(OP_BINARY, payload)
        sock, reader = self.sock, self.reader

        def step() -> None:
            roundtrip(sock, frame, reader, view)

        self.step = step

    def run(self, duration: float) -> float:
        return _loop_rate(self.step, duration)

    def close(self) -> None:
        close_blocking(self.sock, self.reader)


CLIENTS: dict[str, Any] = {
    "ws4py": (Ws4pyPingPong, Ws4pyRequestReply),
    "websocket-client": (WebsocketClientLib,),
    "raw": (RawClient,),
}


def client_bench_main(port: int, sizes: list[int], duration: float, reps: int,
                      warmup: float, libs: list[str]) -> int:
    """Every client of ``libs`` connected at once, measured in interleaved rounds."""
    url = f"ws://{HOST}:{port}/"
    out: list[dict[str, Any]] = []
    for size in sizes:
        payload = make_payload(size)
        clients = [cls(url, payload) for lib in libs for cls in CLIENTS[lib]]
        try:
            for c in clients:
                c.run(warmup)
            rates: dict[str, list[float]] = {c.name: [] for c in clients}
            for r in range(reps):
                k = r % len(clients)
                for c in clients[k:] + clients[:k]:
                    rates[c.name].append(c.run(duration))
        finally:
            for c in clients:
                c.close()
        for name, rs in rates.items():
            out.append({"client": name, "size": size, "rt_per_s": max(rs),
                        "median_rt_per_s": statistics.median(rs),
                        "runs": [round(x, 1) for x in rs]})
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


# ---------------------------------------------------------------------------
# The benchmark (orchestrator)
# ---------------------------------------------------------------------------


def lib_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("ws4py", "websockets", "picows", "websocket-client", "aiofastnet"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _env_with_path(path: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if path:
        env["PYTHONPATH"] = path
    return env


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        quick = args.quick
        self.quick = quick
        self.rtt_duration = 0.15 if quick else 0.5
        self.rtt_reps = 2 if quick else 3
        self.warmup = 0.05 if quick else 0.1
        self.pipe_count = 16 if quick else 64
        self.pipe_reps = 2 if quick else 3
        self.conns = 1000 if quick else 5000
        self.thread_echo_budget = 5.0 if quick else 15.0
        # Thread-per-connection mode falls into a GIL convoy with thousands of
        # threads (opening 5,000 took 47 s): it gets a fifth of the connections
        # in sections 3 and 4, shown in the tables.
        self.thread_scale = 5
        self.echoes = 10
        self.mem_steps = (500, 1000) if quick else (2000, 5000)
        self.bcast_peers = 1000 if quick else 10_000
        self.bcast_rounds = 3 if quick else 5
        self.client_duration = 0.2 if quick else 0.6
        self.client_reps = 2 if quick else 4
        self.specs: dict[str, ServerSpec] = {}
        self.results: dict[str, Any] = {
            "rtt": [], "pipeline": [], "connections": [], "memory": [], "broadcast": [],
            "client": [],
        }
        self.profile_dir: str | None = args.profile
        self.notes: list[str] = []

    # -- servers -----------------------------------------------------------

    def setup_servers(self) -> None:
        wanted = [s for s in self.args.servers.split(",") if s] if self.args.servers else None
        base = _env_with_path(None)
        for kind in SERVER_KINDS:
            if wanted is not None and kind not in wanted:
                continue
            if kind == "classic":
                if self.args.no_classic:
                    continue
                py = self._classic_python()
                if py is None:
                    continue
                env = _env_with_path(None)
                env.pop("VIRTUAL_ENV", None)
                self.specs[kind] = ServerSpec("classic", kind, str(py), env)
                continue
            self.specs[kind] = ServerSpec(kind, kind, sys.executable, base)
        if self.args.proto:
            self.specs["proto"] = ServerSpec(
                "proto", "ws4py", sys.executable, _env_with_path(self.args.proto)
            )

    def _classic_python(self) -> Path | None:
        try:
            sys.path.insert(0, str(HERE))
            from bench_core import ensure_classic_venv  # the venv bench_core.py creates
        except ImportError as exc:
            self.notes.append(f"classic skipped: cannot import bench_core ({exc})")
            return None
        finally:
            sys.path.remove(str(HERE))
        py = ensure_classic_venv()
        if py is None:
            self.notes.append("classic skipped: its venv could not be set up")
        return py

    def labels(self) -> list[str]:
        return list(self.specs)

    @contextmanager
    def server(self, label: str, section: str, broadcast: bool = False) -> Iterator[ServerProc]:
        srv = ServerProc(self.specs[label], broadcast=broadcast).start()
        try:
            if self.profile_dir and self.specs[label].kind.startswith("ws4py"):
                srv.profile(os.path.join(self.profile_dir, f"{section}-{label}.txt"))
            yield srv
        finally:
            srv.stop()

    def _record_error(self, section: str, label: str, exc: BaseException, srv: Any) -> None:
        tail = srv.stderr_tail(600) if srv is not None else ""
        msg = f"{section}/{label}: {type(exc).__name__}: {exc}"
        print(f"  ERROR {msg}\n{tail}", flush=True)
        self.notes.append(msg)

    # -- 1. sequential round trips -----------------------------------------

    ROWS = ((64, OP_BINARY), (4 * KiB, OP_BINARY), (256 * KiB, OP_BINARY), (64, OP_TEXT))

    @contextmanager
    def all_servers(self, section: str) -> Iterator[dict[str, ServerProc]]:
        """Every server of the section, started together (idle ones cost nothing)."""
        servers: dict[str, ServerProc] = {}
        try:
            for label in self.labels():
                srv = ServerProc(self.specs[label])
                try:
                    servers[label] = srv.start()
                    if self.profile_dir and self.specs[label].kind.startswith("ws4py"):
                        srv.profile(os.path.join(self.profile_dir, f"{section}-{label}.txt"))
                except Exception as exc:
                    self._record_error(section, label, exc, srv)
            yield servers
        finally:
            for srv in servers.values():
                srv.stop()

    def rounds(self, servers: dict[str, ServerProc], n: int) -> Iterator[tuple[str, ServerProc]]:
        """n rounds over the servers, the order rotated each round: load from other
        processes on the machine spreads over all of them instead of hitting one."""
        order = list(servers)
        for r in range(n):
            k = r % len(order) if order else 0
            for label in order[k:] + order[:k]:
                yield label, servers[label]

    ROWS = ((64, OP_BINARY), (4 * KiB, OP_BINARY), (256 * KiB, OP_BINARY), (64, OP_TEXT))

    def bench_rtt(self) -> None:
        runs: dict[tuple[str, int, str], list[float]] = {}
        cpus: dict[tuple[str, int, str], list[float]] = {}
        failed: set[str] = set()
        with self.all_servers("rtt") as servers:
            for label, srv in self.rounds(servers, self.rtt_reps):
                if label in failed:
                    continue
                try:
                    for size, opcode in self.ROWS:
                        r = measure_rtt(srv.port, size, opcode, self.rtt_duration, 1,
                                        self.warmup, srv.pid)
                        kind = "text" if opcode == OP_TEXT else "binary"
                        runs.setdefault((label, size, kind), []).append(r["rt_per_s"])
                        if r["server_cpu_s_per_rt"] is not None:
                            cpus.setdefault((label, size, kind), []).append(
                                r["server_cpu_s_per_rt"])
                except Exception as exc:
                    failed.add(label)
                    self._record_error("rtt", label, exc, srv)
                cells = []
                for size, op in self.ROWS:
                    kind = "text" if op == OP_TEXT else "binary"
                    last = runs.get((label, size, kind), [0.0])[-1]
                    cells.append(f"{size_label(size)} {kind} {fmt_rate(last)}")
                print(f"  {label:12} " + ", ".join(cells), flush=True)
        for (label, size, kind), rates in runs.items():
            cpu = cpus.get((label, size, kind))
            self.results["rtt"].append({
                "server": label, "size": size, "kind": kind, "rt_per_s": max(rates),
                "median_rt_per_s": statistics.median(rates), "runs": [round(x) for x in rates],
                "server_cpu_us_per_rt": min(cpu) * 1e6 if cpu else None,
            })

    def rtt(self, label: str, size: int, kind: str = "binary") -> float | None:
        for r in self.results["rtt"]:
            if r["server"] == label and r["size"] == size and r["kind"] == kind:
                return float(r["rt_per_s"])
        return None

    def rtt_cpu(self, label: str, size: int, kind: str = "binary") -> float | None:
        for r in self.results["rtt"]:
            if r["server"] == label and r["size"] == size and r["kind"] == kind:
                return r.get("server_cpu_us_per_rt")
        return None

    def print_rtt(self) -> None:
        labels = self.labels()
        header = ["payload", *labels, "ws4py/websockets", "ws4py/picows"]
        rows = []
        for size, opcode in self.ROWS:
            kind = "text" if opcode == OP_TEXT else "binary"
            ours = self.rtt(OURS, size, kind)
            rows.append([
                f"{size_label(size)} {kind}",
                *[fmt_rate(self.rtt(lb, size, kind)) for lb in labels],
                fmt_ratio(ours, self.rtt("websockets", size, kind)),
                fmt_ratio(ours, self.rtt("picows", size, kind)),
            ])
        print_table("1. Sequential echo on one connection: round trips/s (best of "
                    f"{self.rtt_reps} interleaved runs of {self.rtt_duration:g} s)", header, rows)
        rows = []
        for size, opcode in self.ROWS:
            kind = "text" if opcode == OP_TEXT else "binary"
            cells = [self.rtt_cpu(lb, size, kind) for lb in labels]
            rows.append([f"{size_label(size)} {kind}",
                         *["-" if c is None else f"{c:.1f}" for c in cells]])
        print_table("1b. The same: server CPU time per round trip, microseconds (user + system, "
                    "all threads, from /proc/PID/stat; lowest of the runs; less noisy than "
                    "the rates on a busy machine)", ["payload", *labels], rows)

    # -- 2. pipelined 1 MiB ------------------------------------------------

    def bench_pipeline(self) -> None:
        window = self.args.window or self.pipe_count
        runs: dict[str, list[dict[str, Any]]] = {}
        failed: set[str] = set()
        with self.all_servers("pipeline") as servers:
            for label, srv in self.rounds(servers, self.pipe_reps):
                if label in failed:
                    continue
                # Classic ws4py parses byte by byte: a quarter of the data is plenty.
                count = max(4, self.pipe_count // 4) if label == "classic" else self.pipe_count
                try:
                    c0 = cpu_seconds(srv.pid)
                    r = measure_pipeline(srv.port, MiB, count, min(window, count))
                    r["server_cpu_us_per_mib"] = (cpu_seconds(srv.pid) - c0) / count * 1e6
                except Exception as exc:
                    failed.add(label)
                    self._record_error("pipeline", label, exc, srv)
                    continue
                runs.setdefault(label, []).append(r)
                print(f"  {label:12} {r['mb_per_s']:.0f} MB/s", flush=True)
        for label, rs in runs.items():
            best = dict(max(rs, key=lambda r: r["mb_per_s"]))
            best["runs"] = [round(r["mb_per_s"], 1) for r in rs]
            best["median_mb_per_s"] = statistics.median(r["mb_per_s"] for r in rs)
            best["server_cpu_us_per_mib"] = min(r["server_cpu_us_per_mib"] for r in rs)
            self.results["pipeline"].append({"server": label, "size": MiB, **best})

    def pipe(self, label: str) -> float | None:
        for r in self.results["pipeline"]:
            if r["server"] == label:
                return float(r["mb_per_s"])
        return None

    def print_pipeline(self) -> None:
        rows = []
        for label in self.labels():
            rec = next((r for r in self.results["pipeline"] if r["server"] == label), None)
            if rec is None:
                rows.append([label, "-", "-", "-", "-", "-", "-"])
                continue
            rows.append([label, str(rec["messages"]), f"{rec['mb_per_s']:.0f}",
                         fmt_s(rec["seconds"]), fmt_ratio(self.pipe(OURS), rec["mb_per_s"]),
                         f"{rec['server_cpu_us_per_mib']:.0f}",
                         " ".join(f"{x:.0f}" for x in rec["runs"])])
        window = self.args.window or self.pipe_count
        print_table(
            f"2. Pipelined echo of N x 1 MiB binary (at most {window} in flight): MB/s of "
            f"payload echoed (best of {self.pipe_reps} interleaved rounds)",
            ["server", "N", "MB/s", "time", "ws4py / server", "server CPU us/MiB", "runs MB/s"],
            rows)

    # -- 3. many connections -------------------------------------------------

    def bench_connections(self) -> None:
        size = 64
        frame = client_frame(OP_BINARY, make_payload(size))
        for label in self.labels():
            srv = None
            # Thread-per-connection mode falls into a GIL convoy with thousands of busy
            # threads (see bench/README.md): bounded so the run (and the machine) go on.
            threaded = label == "ws4py-thread"
            budget = self.thread_echo_budget if threaded else 120.0
            conns = self.conns // self.thread_scale if threaded else self.conns
            try:
                with self.server(label, "connections") as srv:
                    swarm = Swarm(srv.port)
                    t_echo = t_close = None
                    try:
                        gc.collect()
                        gc.disable()
                        t_open = swarm.open(conns, self.args.batch)
                        opened = len(swarm.peers)
                        try:
                            t_echo = swarm.echo(self.echoes, frame, size, timeout=budget)
                        except TimeoutError as exc:
                            self.notes.append(f"connections/{label}: echo phase stopped: {exc}")
                        else:
                            t_close = swarm.close_all(srv.spec.closes_tcp)
                    finally:
                        gc.enable()
                        swarm.abort()
                rec = {"server": label, "connections": conns, "opened": opened,
                       "echoes": self.echoes, "open_s": t_open, "echo_s": t_echo,
                       "close_s": t_close,
                       "total_s": None if t_close is None or t_echo is None
                       else t_open + t_echo + t_close,
                       "unfinished": swarm.unfinished, "echo_budget_s": budget,
                       "failed": swarm.failed}
                self.results["connections"].append(rec)
                print(f"  {label:12} open {fmt_s(t_open)}, echo {fmt_s(t_echo)}, close "
                      f"{fmt_s(t_close)}, failed {swarm.failed or 0}"
                      + (f", {swarm.unfinished} unfinished after {budget:g} s"
                         if swarm.unfinished else ""), flush=True)
            except Exception as exc:
                self._record_error("connections", label, exc, srv)

    def conn_total(self, label: str) -> float | None:
        for r in self.results["connections"]:
            if (r["server"] == label and r["total_s"] is not None
                    and r["connections"] == self.conns):
                return float(r["total_s"])
        return None

    def print_connections(self) -> None:
        rows = []
        ours = self.conn_total(OURS)
        for r in self.results["connections"]:
            failed = sum(r["failed"].values()) if r["failed"] else 0
            echo = fmt_s(r["echo_s"])
            if r["unfinished"]:
                echo = f"DNF: {r['unfinished']} left at {r['echo_budget_s']:g} s"
            rows.append([r["server"], f"{r['opened']}", fmt_s(r["open_s"]), echo,
                         fmt_s(r["close_s"]), fmt_s(r["total_s"]),
                         fmt_ratio(r["total_s"], ours), str(failed)])
        print_table(
            f"3. {self.conns} connections x {self.echoes} echoes of 64 B (at most "
            f"{self.args.batch} handshakes in flight; ws4py-thread: a {self.thread_scale}th of "
            "the connections): wall time per phase",
            ["server", "opened", "open", "echo", "close", "total", "server / ws4py time",
             "failures"], rows)

    # -- 4. memory -----------------------------------------------------------

    def _settled_rss(self, srv: ServerProc) -> dict[str, int]:
        time.sleep(0.5)
        prev = srv.status()
        for _ in range(10):
            time.sleep(0.25)
            cur = srv.status()
            if abs(cur["VmRSS"] - prev["VmRSS"]) <= max(64, prev["VmRSS"] // 500):
                return cur
            prev = cur
        return prev

    def bench_memory(self) -> None:
        for label in self.labels():
            srv = None
            try:
                with self.server(label, "memory") as srv:
                    # One connection echoes first: lazy imports and threads are in the base.
                    sock, rest = connect_blocking(srv.port)
                    verify_echo(sock, rest, OP_BINARY, make_payload(64),
                                memoryview(bytearray(65536)))
                    base = self._settled_rss(srv)
                    swarm = Swarm(srv.port)
                    steps = []
                    scale = self.thread_scale if label == "ws4py-thread" else 1
                    try:
                        for total in (n // scale for n in self.mem_steps):
                            swarm.open(total - len(swarm.peers), self.args.batch)
                            st = self._settled_rss(srv)
                            steps.append({"connections": len(swarm.peers), "rss_kib": st["VmRSS"],
                                          "threads": st["Threads"],
                                          "kib_per_conn": (st["VmRSS"] - base["VmRSS"])
                                          / max(1, len(swarm.peers))})
                        swarm.close_all(srv.spec.closes_tcp)
                    finally:
                        swarm.abort()
                        sock.close()
                a, b = steps[0], steps[-1]
                added = max(1, b["connections"] - a["connections"])
                marginal = (b["rss_kib"] - a["rss_kib"]) / added
                rec = {"server": label, "base_rss_kib": base["VmRSS"], "steps": steps,
                       "marginal_kib_per_conn": marginal, "failed": swarm.failed}
                self.results["memory"].append(rec)
                print(f"  {label:12} base {base['VmRSS'] / 1024:.1f} MiB, "
                      + ", ".join(f"{s['connections']}: {s['kib_per_conn']:.2f} KiB/conn"
                                  for s in steps), flush=True)
            except Exception as exc:
                self._record_error("memory", label, exc, srv)

    def mem(self, label: str, idx: int = -1) -> float | None:
        for r in self.results["memory"]:
            if r["server"] == label and len(r["steps"]) > max(idx, -idx - 1):
                return float(r["steps"][idx]["kib_per_conn"])
        return None

    def print_memory(self) -> None:
        rows = []
        for r in self.results["memory"]:
            s1, s2 = r["steps"][0], r["steps"][-1]
            rows.append([
                r["server"], f"{r['base_rss_kib'] / 1024:.1f}",
                str(s1["connections"]), f"{s1['rss_kib'] / 1024:.1f}", f"{s1['kib_per_conn']:.2f}",
                str(s2["connections"]), f"{s2['rss_kib'] / 1024:.1f}", f"{s2['kib_per_conn']:.2f}",
                f"{r['marginal_kib_per_conn']:.2f}", str(s2["threads"]),
                fmt_ratio(s2["kib_per_conn"], self.mem(OURS)),
            ])
        print_table(
            "4. Server memory per idle connection (VmRSS; KiB/conn = (RSS - base) / conns; "
            f"marginal: from the first count to the second; ws4py-thread: a {self.thread_scale}th "
            "of the connections)",
            ["server", "base MiB", "conns", "RSS MiB", "KiB/conn", "conns", "RSS MiB",
             "KiB/conn", "marginal", "threads", "server / ws4py"], rows)

    # -- 5. broadcast --------------------------------------------------------

    def bench_broadcast(self) -> None:
        procs = self.args.peer_procs
        per = [self.bcast_peers // procs + (1 if i < self.bcast_peers % procs else 0)
               for i in range(procs)]
        env = _env_with_path(None)
        for label in self.labels():
            if self.specs[label].kind not in ("ws4py", "websockets", "classic"):
                continue
            srv = None
            workers: list[Worker] = []
            try:
                with self.server(label, "broadcast", broadcast=True) as srv:
                    t0 = time.perf_counter()
                    workers = [Worker(env) for _ in per]
                    for w, n in zip(workers, per, strict=True):
                        w.send(cmd="open", port=srv.port, count=n,
                               concurrency=max(1, self.args.batch // procs))
                    opened = [w.recv() for w in workers]
                    t_open = time.perf_counter() - t0
                    n_open = sum(o["opened"] for o in opened)
                    trigger, rest = connect_blocking(srv.port)
                    reader = Reader(keep=True)
                    if rest:
                        reader.feed(rest)
                    trig = client_frame(OP_TEXT, b"BROADCAST")
                    view = memoryview(bytearray(65536))
                    rounds = []
                    for _ in range(self.bcast_rounds):
                        for w in workers:
                            w.send(cmd="wait", timeout=60.0)
                        for w in workers:
                            assert w.recv().get("armed")
                        time.sleep(0.05)
                        reader.kept.clear()
                        start = time.monotonic()
                        trigger.sendall(trig)
                        done = None
                        while done is None:
                            k = trigger.recv_into(view)
                            if not k:
                                raise RuntimeError("trigger connection closed")
                            reader.feed(view[:k])
                            done = next((p for op, p in reader.kept if p.startswith(b"DONE")),
                                        None)
                        reports = [w.recv() for w in workers]
                        got = sum(r["got"] for r in reports)
                        lasts = [r["last"] for r in reports if r["last"] is not None]
                        firsts = [r["first"] for r in reports if r["first"] is not None]
                        _, call_s, managed = done.split()
                        rounds.append({
                            "call_s": float(call_s), "managed": int(managed),
                            "all_received_s": max(lasts) - start if lasts else None,
                            "first_received_s": min(firsts) - start if firsts else None,
                            "received": got,
                        })
                    for w in workers:
                        w.send(cmd="close")
                    for w in workers:
                        w.recv()
                    close_blocking(trigger, reader)
                ok = [r for r in rounds if r["received"] == n_open and r["all_received_s"]]
                rec: dict[str, Any] = {
                    "server": label, "peers": self.bcast_peers, "opened": n_open,
                    "open_s": t_open, "peer_processes": procs, "rounds": rounds,
                    "complete_rounds": len(ok),
                }
                if ok:
                    rec["call_s_median"] = statistics.median(r["call_s"] for r in ok)
                    rec["call_s_best"] = min(r["call_s"] for r in ok)
                    rec["all_received_s_median"] = statistics.median(
                        r["all_received_s"] for r in ok)
                    rec["all_received_s_best"] = min(r["all_received_s"] for r in ok)
                self.results["broadcast"].append(rec)
                print(f"  {label:12} {n_open} peers (opened in {t_open:.1f} s): call "
                      f"{fmt_s(rec.get('call_s_median'))}, all received "
                      f"{fmt_s(rec.get('all_received_s_median'))} (median of {len(ok)})",
                      flush=True)
            except Exception as exc:
                self._record_error("broadcast", label, exc, srv)
            finally:
                for w in workers:
                    w.stop()

    def print_broadcast(self) -> None:
        rows = []
        for r in self.results["broadcast"]:
            rows.append([r["server"], str(r["opened"]), fmt_s(r["open_s"]),
                         fmt_s(r.get("call_s_median")), fmt_s(r.get("call_s_best")),
                         fmt_s(r.get("all_received_s_median")),
                         fmt_s(r.get("all_received_s_best")),
                         f"{r['complete_rounds']}/{len(r['rounds'])}"])
        print_table(
            f"5. Broadcast of a 64 B text message to {self.bcast_peers} peers "
            f"({self.args.peer_procs} client processes; median and best of "
            f"{self.bcast_rounds} rounds)",
            ["server", "peers", "connect all", "call (median)", "call (best)",
             "all received (median)", "all received (best)", "complete rounds"], rows)

    # -- 6. clients ----------------------------------------------------------

    def bench_client(self) -> None:
        if "picows" not in SERVER_KINDS:
            return
        spec = ServerSpec("picows", "picows", sys.executable, _env_with_path(None))
        variants = [("all", None, ["ws4py", "websocket-client", "raw"])]
        if self.args.proto:
            variants.append(("proto", self.args.proto, ["ws4py"]))
        sizes = [64, 4 * KiB]
        srv = ServerProc(spec)
        try:
            srv.start()
            for tag, path, libs in variants:
                argv = [sys.executable, str(THIS), "--client-bench", str(srv.port),
                        "--client-args", json.dumps({
                            "sizes": sizes, "duration": self.client_duration,
                            "reps": self.client_reps, "warmup": self.warmup, "libs": libs})]
                res = subprocess.run(argv, capture_output=True, text=True,
                                     env=_env_with_path(path), timeout=300, cwd=str(HERE))
                if res.returncode != 0:
                    raise RuntimeError(f"client worker failed:\n{res.stderr[-1500:]}")
                for rec in json.loads(res.stdout.strip().splitlines()[-1]):
                    if tag == "proto":
                        rec["client"] = "proto " + rec["client"]
                    self.results["client"].append(rec)
                    print(f"  {rec['client']:58} {size_label(rec['size']):>6} "
                          f"{fmt_rate(rec['rt_per_s'])} rt/s", flush=True)
        except Exception as exc:
            self._record_error("client", "clients", exc, srv)
        finally:
            srv.stop()

    def client_rate(self, prefix: str, size: int) -> float | None:
        for r in self.results["client"]:
            if r["client"].startswith(prefix) and r["size"] == size:
                return float(r["rt_per_s"])
        return None

    def print_client(self) -> None:
        sizes = sorted({r["size"] for r in self.results["client"]})
        names = list(dict.fromkeys(r["client"] for r in self.results["client"]))
        rows = []
        for name in names:
            row = [name]
            for size in sizes:
                rate = next((r["rt_per_s"] for r in self.results["client"]
                             if r["client"] == name and r["size"] == size), None)
                row += [fmt_rate(rate), fmt_ratio(self.client_rate("ws4py", size), rate)]
            rows.append(row)
        header = ["client (against the picows echo server)"]
        for size in sizes:
            header += [f"{size_label(size)} rt/s", "ws4py cb / it"]
        print_table("6. Clients: sequential binary echo round trips/s (best of "
                    f"{self.client_reps} interleaved runs of {self.client_duration:g} s)",
                    header, rows)

    # -- targets ---------------------------------------------------------------

    def targets(self, ours: str = OURS) -> list[dict[str, Any]]:
        """The project's targets for ``ours`` (ws4py, or the proto column)."""
        out: list[dict[str, Any]] = []
        tag = "" if ours == OURS else f"[{ours}] "

        def add(name: str, a: float | None, b: float | None, ok: Callable[[float, float], bool],
                detail: Callable[[float, float], str]) -> None:
            name = tag + name
            if a is None or b is None:
                out.append({"target": name, "ok": None, "detail": "-"})
            else:
                out.append({"target": name, "ok": ok(a, b), "detail": detail(a, b)})

        def rate_detail(a: float, b: float) -> str:
            return f"{fmt_rate(a)} vs {fmt_rate(b)} ({a / b:.2f}x)"

        for size in (64, 4 * KiB, 256 * KiB):
            rate = self.rtt(ours, size)
            add(f"round trips/s >= websockets ({size_label(size)})", rate,
                self.rtt("websockets", size), lambda a, b: a >= b, rate_detail)
            add(f"round trips/s >= 0.8x picows ({size_label(size)})", rate,
                self.rtt("picows", size), lambda a, b: a >= 0.8 * b, rate_detail)
        add("pipelined 1 MiB MB/s >= websockets", self.pipe(ours), self.pipe("websockets"),
            lambda a, b: a >= b, lambda a, b: f"{a:.0f} vs {b:.0f} MB/s ({a / b:.2f}x)")
        add(f"{self.conns} conns x {self.echoes} echoes no slower than websockets",
            self.conn_total(ours), self.conn_total("websockets"), lambda a, b: a <= b,
            lambda a, b: f"{a:.2f} s vs {b:.2f} s ({b / a:.2f}x as fast)")
        for idx, n in enumerate(self.mem_steps):
            add(f"memory per idle connection <= classic ({n} conns)", self.mem(ours, idx),
                self.mem("classic", idx), lambda a, b: a <= b,
                lambda a, b: f"{a:.2f} vs {b:.2f} KiB/conn")
        client = "ws4py" if ours == OURS else f"{ours} ws4py"
        for size in (64, 4 * KiB):
            add(f"threaded client >= websocket-client ({size_label(size)})",
                self.client_rate(f"{client} WebSocketClient (callback", size),
                self.client_rate("websocket-client", size), lambda a, b: a >= b, rate_detail)
        return out

    def print_targets(self, targets: list[dict[str, Any]]) -> None:
        rows = [[t["target"], {True: "PASS", False: "MISS", None: "n/a"}[t["ok"]], t["detail"]]
                for t in targets]
        print_table("Targets (same run)", ["target", "result", "detail"], rows)


METHODOLOGY = """\
How it is measured:
  Each server runs in a subprocess of its own on 127.0.0.1, started fresh for each section
  (RLIMIT_NOFILE raised to the hard limit, listen backlog 4096 everywhere, keepalive pings
  off, messages up to 16 MiB).  ws4py: make_server(host, 0, EchoWebSocket) in manager mode
  (column ws4py) and websocket_mode="thread" (ws4py-thread).  websockets: asyncio serve(),
  `async for msg in ws: await ws.send(msg)`, compression=None.  picows: a WSListener
  echoing each frame with transport.send (picows does not check UTF-8).  classic: ws4py
  0.6.0's wsgiref WSGIServer + WebSocketWSGIApplication(EchoWebSocket), listen backlog
  raised from wsgiref's 5 to 4096.  tcp-echo: one thread on epoll answering the opening
  handshake, then writing back every byte it reads (our masked frames come back as they
  went: the ceiling of a Python server on this machine and this client).
  The load client is the same for all: blocking (sections 1, 2) or non-blocking + epoll
  (3, 4, 5) sockets; every frame is built once, masked with ws4py.masking.mask and sent as
  is; replies are parsed with struct into counts, payloads are checked on the first echo
  of each run and by total length after.  Times are wall clock (perf_counter; broadcast
  across processes: CLOCK_MONOTONIC); the garbage collector of the client is paused while
  it measures.  Servers keep their defaults otherwise.
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short runs, fewer connections")
    ap.add_argument("--json", metavar="PATH", help="write all results to this JSON file")
    ap.add_argument("--no-classic", action="store_true", help="skip classic ws4py 0.6.0")
    ap.add_argument("--proto", metavar="DIR",
                    help="also run a copy of the ws4py package found in DIR (a column 'proto')")
    ap.add_argument("--only", default="1,2,3,4,5,6", help="sections to run, e.g. 1,3")
    ap.add_argument("--servers", default="", help="subset of servers, e.g. ws4py,websockets")
    ap.add_argument("--batch", type=int, default=500, help="handshakes in flight (3, 4, 5)")
    ap.add_argument("--window", type=int, default=0,
                    help="section 2: messages in flight (default: all of them)")
    ap.add_argument("--peer-procs", type=int, default=2, help="section 5: client processes")
    ap.add_argument("--profile", metavar="DIR",
                    help="attach py-spy to ws4py servers, raw stacks in DIR/<section>-<label>.txt")
    # internal modes
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--broadcast", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--peer-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--client-bench", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--client-args", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        return server_main(args.serve, args.broadcast)
    if args.peer_worker:
        return peer_worker_main()
    if args.client_bench:
        raise_nofile()
        opts = json.loads(args.client_args)
        return client_bench_main(args.client_bench, opts["sizes"], opts["duration"],
                                 opts["reps"], opts["warmup"], opts["libs"])

    import ws4py
    from ws4py import masking

    nofile = raise_nofile()
    sections = {int(s) for s in args.only.split(",") if s}
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
    t_start = time.perf_counter()
    versions = lib_versions()
    load_start = loadavg()
    print(f"Python {platform.python_version()} ({platform.python_implementation()}) "
          f"on {platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, "
          f"load average {load_start}, RLIMIT_NOFILE {nofile}")
    print(f"ws4py from {Path(ws4py.__file__).parent}, C speedups: {masking.HAS_SPEEDUPS}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(METHODOLOGY)

    bench = Bench(args)
    bench.setup_servers()
    print("servers: " + ", ".join(bench.labels()))
    steps = [
        (1, "sequential echo", bench.bench_rtt),
        (2, "pipelined 1 MiB echo", bench.bench_pipeline),
        (3, "many connections", bench.bench_connections),
        (4, "memory per idle connection", bench.bench_memory),
        (5, "broadcast", bench.bench_broadcast),
        (6, "clients", bench.bench_client),
    ]
    section_s: dict[str, float] = {}
    for num, name, fn in steps:
        if num in sections:
            print(f"[{num}/6] {name} ...", flush=True)
            t0 = time.perf_counter()
            fn()
            section_s[name] = time.perf_counter() - t0
            print(f"      ({section_s[name]:.0f} s)", flush=True)

    if 1 in sections:
        bench.print_rtt()
    if 2 in sections:
        bench.print_pipeline()
    if 3 in sections:
        bench.print_connections()
    if 4 in sections:
        bench.print_memory()
    if 5 in sections:
        bench.print_broadcast()
    if 6 in sections:
        bench.print_client()
    targets = bench.targets()
    if args.proto:
        targets += bench.targets("proto")
    bench.print_targets(targets)
    for note in bench.notes:
        print(f"NOTE: {note}")
    elapsed = time.perf_counter() - t_start
    load_end = loadavg()
    print(f"\nTotal time: {elapsed:.0f} s (load average at start {load_start}, "
          f"at end {load_end})")

    if args.json:
        doc = {
            "meta": {
                "python": platform.python_version(),
                "implementation": platform.python_implementation(),
                "machine": platform.machine(),
                "system": platform.system(),
                "cpus": os.cpu_count(),
                "versions": versions,
                "ws4py_speedups": masking.HAS_SPEEDUPS,
                "servers": bench.labels(),
                "quick": args.quick,
                "proto": args.proto,
                "loadavg_start": load_start,
                "loadavg_end": load_end,
                "elapsed_s": elapsed,
                "section_s": section_s,
                "methodology": METHODOLOGY,
                "notes": bench.notes,
            },
            **bench.results,
            "targets": targets,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"Results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
