"""Connection churn on the wsgiref server with its manager (issue #20), over loopback.

The classic setup: ``make_server(..., server_class=WSGIServer,
handler_class=WebSocketWSGIRequestHandler, app=WebSocketWSGIApplication(
handler_cls=EchoWebSocket))`` and ``initialize_websockets_manager()``.  Cycles of
N connections are opened and then all closed at once, in every way a load test
ends them (a close frame, a plain TCP close, a reset, and a reset while the server
still holds output the peer never read), while witness clients keep connecting:
each sends a payload no other client sends and must get exactly that back, then
close with 1000 and get 1000 back.  The kernel hands the closed connections'
descriptor numbers to the witnesses at once, which is the point.

Before the fix, one reset peer with output waiting ended the manager's thread
(``flush()`` raised ConnectionResetError out of its loop): from then on every new
client was answered 1001 "Going away" by ``add()``.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ws4py.server.wsgirefserver import WebSocketWSGIRequestHandler, WSGIServer, make_server
from ws4py.server.wsgiutils import WebSocketWSGIApplication
from ws4py.websocket import EchoWebSocket

pytestmark = pytest.mark.timeout(60)

TEXT, BINARY, CLOSE = 0x1, 0x2, 0x8
WAIT = 10.0


def masked_frame(opcode: int, payload: bytes) -> bytes:
    key = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 0x10000:
        head = struct.pack("!BBH", 0x80 | opcode, 0xFE, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0xFF, n)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_frame(code: int) -> bytes:
    return masked_frame(CLOSE, struct.pack("!H", code))


class Client:
    """A raw websocket client: handshake, frames in and out, bounded by a timeout."""

    def __init__(self, port: int, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(WAIT)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.buf = bytearray()
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        self.buf = bytearray(rest)

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buf += data

    def read_frame(self) -> tuple[int, bytes]:
        while len(self.buf) < 2:
            self._more()
        n, offset = self.buf[1] & 0x7F, 2
        if n == 126:
            while len(self.buf) < 4:
                self._more()
            n, offset = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            while len(self.buf) < 10:
                self._more()
            n, offset = struct.unpack("!Q", self.buf[2:10])[0], 10
        while len(self.buf) < offset + n:
            self._more()
        opcode, payload = self.buf[0] & 0x0F, bytes(self.buf[offset : offset + n])
        del self.buf[: offset + n]
        return opcode, payload

    def send(self, opcode: int, payload: bytes) -> None:
        self.sock.sendall(masked_frame(opcode, payload))

    def reset(self) -> None:
        """Close with a TCP reset (SO_LINGER 0): what an abort or a killed client does."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


@pytest.fixture
def server() -> Iterator[WSGIServer]:
    srv = make_server(
        "127.0.0.1",
        0,
        server_class=WSGIServer,
        handler_class=WebSocketWSGIRequestHandler,
        app=WebSocketWSGIApplication(handler_cls=EchoWebSocket),
    )
    assert isinstance(srv, WSGIServer)
    srv.initialize_websockets_manager()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(WAIT)


class Witnesses:
    """Threads that keep connecting, echoing a unique payload and closing with 1000."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.stop = threading.Event()
        self.served = 0
        self.failures: list[Any] = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(count)
        ]

    def __enter__(self) -> Witnesses:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(WAIT + 5)

    def _run(self, index: int) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            payload = f"witness {index} message {n} {os.urandom(6).hex()}".encode()
            try:
                client = Client(self.port)
                try:
                    client.send(TEXT, payload)
                    got = client.read_frame()
                    client.send(CLOSE, struct.pack("!H", 1000))
                    closing = client.read_frame()
                finally:
                    client.sock.close()
            except Exception as exc:  # recorded, the test fails on it
                with self._lock:
                    self.failures.append((payload, repr(exc)))
                continue
            with self._lock:
                if got != (TEXT, payload):
                    self.failures.append((payload, "echo", got))
                elif closing[0] != CLOSE or closing[1][:2] != struct.pack("!H", 1000):
                    self.failures.append((payload, "close", closing))
                else:
                    self.served += 1


def wait_until(condition: Any, timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_churn_never_confuses_a_new_connection_with_a_closing_one(server: WSGIServer) -> None:
    port = server.server_address[1]
    manager = server.manager
    assert manager is not None
    cycles, per_cycle = 4, 120
    with Witnesses(port, 4) as witnesses:
        for cycle in range(cycles):
            clients = [Client(port, rcvbuf=4096 if i % 4 == 3 else None) for i in range(per_cycle)]
            # Every one of them is served: a unique message each, echoed to it alone.
            for i, client in enumerate(clients):
                client.send(BINARY, f"cycle {cycle} client {i}".encode())
            for i, client in enumerate(clients):
                assert client.read_frame() == (BINARY, f"cycle {cycle} client {i}".encode())
            # A quarter flood the server without reading: output waits on its side.
            floods = clients[3::4]
            chunk = masked_frame(BINARY, os.urandom(60_000))
            for client in floods:
                client.sock.setblocking(False)
                try:
                    for _ in range(200):
                        if client.sock.send(chunk) < len(chunk):
                            # A frame cut short: another one after it would be garbage
                            # (the server would rightly fail the connection with 1002).
                            break
                except BlockingIOError:
                    pass
            assert wait_until(lambda: sum(1 for ws in manager if ws.pending_write) >= 10)
            # All closed at once, every way a load test ends connections.
            for i, client in enumerate(clients):
                way = i % 4
                if way == 0:
                    client.send(CLOSE, struct.pack("!H", 4000 + i))
                    client.sock.close()
                elif way == 1:
                    client.sock.close()
                else:
                    client.reset()
            assert wait_until(lambda: len(manager) <= 8), len(manager)  # the witnesses
    assert manager.is_alive()
    assert witnesses.failures == []
    assert witnesses.served >= 20
    # Nothing of the closed connections is left behind, and the manager still serves.
    assert wait_until(lambda: len(manager) == 0 and server.connection_count == 0)
    client = Client(port)
    client.send(TEXT, b"alive")
    assert client.read_frame() == (TEXT, b"alive")
    client.sock.close()
