"""Tests for ws4py.server.geventserver and ws4py.client.geventclient.

gevent's monkey patching would change the test process for every other test,
so each scenario below runs in a subprocess of the same interpreter: once
with ``monkey.patch_all()`` first (the classic way of using gevent), once
without (gevent's own sockets, no patching).  A scenario asserts inside the
subprocess; the test checks its exit code and its closing line.  Servers,
greenlets and threads a scenario starts are stopped by it, and the whole of
it runs under a ``gevent.Timeout``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)

HOST = "127.0.0.1"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA

LAUNCHER = """
import sys
mode, path, name = sys.argv[1:4]
if mode == "patched":
    from gevent import monkey
    monkey.patch_all()
import importlib.util
import gevent
spec = importlib.util.spec_from_file_location("gevent_scenarios", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
with gevent.Timeout(40):
    getattr(module, name)()
print("SCENARIO OK", name, mode)
"""


def run_scenario(name: str, mode: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", LAUNCHER, mode, __file__, name],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, f"{name} ({mode}) failed:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip().endswith(f"SCENARIO OK {name} {mode}"), result.stdout


SCENARIOS = [
    "echo_with_the_gevent_client",
    "frames_sent_with_the_handshake",
    "the_101_head_is_the_same_bytes",
    "close_codes_both_ways",
    "pool_closes_websockets_on_stop",
    "pool_broadcast_as_send",
    "other_clients_in_threads",
    "bad_requests_are_refused",
    "plain_http_on_the_same_port",
    "tls",
    "heartbeat",
]


@pytest.mark.parametrize("mode", ["patched", "unpatched"])
@pytest.mark.parametrize("name", SCENARIOS)
def test_gevent(name: str, mode: str) -> None:
    run_scenario(name, mode)


# ---------------------------------------------------------------------------
# Everything below runs in the subprocess, after (or without) monkey patching.
# ---------------------------------------------------------------------------


CLOSED: list[tuple[int, str | None]] = []
PONGS: list[bytes] = []


def _recorder_class() -> type[Any]:
    from ws4py.messaging import Message, PongControlMessage
    from ws4py.websocket import EchoWebSocket

    class Recorder(EchoWebSocket):
        def received_message(self, message: Message) -> None:
            if str(message) == "close please":
                self.close(4002, "server says bye")
                return
            super().received_message(message)

        def ponged(self, pong: PongControlMessage) -> None:
            PONGS.append(bytes(pong.data))

        def closed(self, code: int, reason: str | None = None) -> None:
            CLOSED.append((code, reason))

    return Recorder


@contextmanager
def gevent_server(**kwargs: Any) -> Iterator[Any]:
    from ws4py.server.geventserver import WSGIServer
    from ws4py.server.wsgiutils import WebSocketWSGIApplication

    app = kwargs.pop("app", None) or WebSocketWSGIApplication(handler_cls=_recorder_class())
    server = WSGIServer((HOST, 0), app, log=None, **kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop(timeout=5)


def url_of(server: Any, scheme: str = "ws") -> str:
    return f"{scheme}://{HOST}:{server.server_port}/"


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    import gevent

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        gevent.sleep(0.01)


def gsocket() -> Any:
    """A cooperative client socket (gevent's; the stdlib one is patched anyway)."""
    from gevent import socket as gevent_socket

    return gevent_socket


def mask_frame(opcode: int, payload: bytes) -> bytes:
    key = os.urandom(4)
    n = len(payload)
    head = struct.pack("!BB", 0x80 | opcode, 0x80 | n) if n < 126 else (
        struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    )
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def read_frame(sock: Any) -> tuple[int, bytes]:
    def exact(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            assert chunk, "EOF in a frame"
            data += chunk
        return data

    b0, b1 = exact(2)
    length = b1 & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", exact(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", exact(8))
    assert not b1 & 0x80, "server frames are not masked"
    return b0 & 0x0F, exact(length)


def handshake(port: int, key: bytes | None = None, version: str = "13") -> bytes:
    key = key or base64.b64encode(os.urandom(16))
    return (
        b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: %s\r\n\r\n"
        % (port, key, version.encode())
    )


def read_head(sock: Any) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, f"EOF in the response head: {head!r}"
        head += chunk
    return head


# -- scenarios ---------------------------------------------------------------------


def echo_with_the_gevent_client() -> None:
    from ws4py.client.geventclient import WebSocketClient

    big = os.urandom(1024 * 1024)
    with gevent_server() as server:
        ws = WebSocketClient(url_of(server), protocols=["chat"])
        ws.connect()
        payloads: list[Any] = ["hello", "", "ünïcödé", b"\x00\xff", b"", big]
        for payload in payloads:
            ws.send(payload, binary=isinstance(payload, bytes))  # bytes are text unless binary
        for payload in payloads:
            message = ws.receive()
            assert message is not None
            assert message.is_binary is isinstance(payload, bytes)
            expected = payload.encode() if isinstance(payload, str) else payload
            assert bytes(message.data) == expected
        assert len(server.pool.websockets) == 1
        ws.close(1000, "done")
        assert ws.receive() is None
        assert ws.receive() is None
        assert ws.join(5)
        assert ws.terminated
        wait_for(lambda: CLOSED == [(1000, b"done")])
        wait_for(lambda: not server.pool.websockets)


def frames_sent_with_the_handshake() -> None:
    """Frames in the same packet as the request head (pywsgi's buffer) are not lost."""
    with gevent_server() as server:
        sock = gsocket().create_connection((HOST, server.server_port), timeout=5)
        key = base64.b64encode(os.urandom(16))
        first = mask_frame(TEXT, b"early bird") + mask_frame(BINARY, b"\x01\x02")
        sock.sendall(handshake(server.server_port, key) + first)
        head = read_head(sock)
        assert head.startswith(b"HTTP/1.1 101 "), head
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        assert b"Sec-WebSocket-Accept: " + accept in head
        assert b"Transfer-Encoding" not in head
        assert read_frame(sock) == (TEXT, b"early bird")
        assert read_frame(sock) == (BINARY, b"\x01\x02")
        sock.sendall(mask_frame(CLOSE, struct.pack("!H", 1000)))
        assert read_frame(sock) == (CLOSE, struct.pack("!H", 1000))
        assert sock.recv(10) == b""  # the server closes TCP
        sock.close()


def the_101_head_is_the_same_bytes() -> None:
    """The 101 (http11.render_response since issue #19) is what the handler wrote by hand."""
    with gevent_server() as server:
        sock = gsocket().create_connection((HOST, server.server_port), timeout=5)
        sock.sendall(handshake(server.server_port, b"dGhlIHNhbXBsZSBub25jZQ=="))
        assert read_head(sock) == (
            b"HTTP/1.1 101 Switching Protocols\r\n"
            b"Upgrade: websocket\r\n"
            b"Connection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            b"\r\n"
        )
        sock.sendall(mask_frame(CLOSE, struct.pack("!H", 1000)))
        assert read_frame(sock) == (CLOSE, struct.pack("!H", 1000))
        sock.close()


def close_codes_both_ways() -> None:
    from ws4py.client.geventclient import WebSocketClient

    client_closed: list[tuple[int, str | None]] = []

    class Client(WebSocketClient):
        def closed(self, code: int, reason: str | None = None) -> None:
            client_closed.append((code, reason))

    with gevent_server() as server:
        ws = Client(url_of(server))
        ws.connect()
        ws.send("close please")  # the server closes with 4002
        assert ws.receive() is None
        assert client_closed == [(4002, b"server says bye")]  # bytes, as 0.6.0
        wait_for(lambda: len(CLOSED) == 1)
        assert CLOSED[0][0] == 4002

        ws = Client(url_of(server))
        ws.connect()
        ws.close(4003, "client says bye")
        assert ws.receive() is None
        wait_for(lambda: len(CLOSED) == 2)
        assert CLOSED[1] == (4003, b"client says bye")
        assert client_closed[1][0] == 4003


def pool_closes_websockets_on_stop() -> None:
    from ws4py.client.geventclient import WebSocketClient

    closed: list[tuple[int, str | None]] = []

    class Client(WebSocketClient):
        def closed(self, code: int, reason: str | None = None) -> None:
            closed.append((code, reason))

    with gevent_server() as server:
        clients = [Client(url_of(server)) for _ in range(3)]
        for client in clients:
            client.connect()
        wait_for(lambda: len(server.pool.websockets) == 3)
        started = time.monotonic()
        server.stop(timeout=5)
        assert time.monotonic() - started < 3
        for client in clients:
            assert client.receive() is None
            assert client.join(5)
        assert closed == [(1001, b"Server is shutting down")] * 3
        assert not server.pool.websockets
        assert len(server.pool) == 0  # every handler greenlet is over
        assert sorted(CLOSED) == [(1001, b"Server is shutting down")] * 3  # echoed by the clients


def pool_broadcast_as_send() -> None:
    """The pool's broadcast(payload, binary=False) follows send(): bytes are text unless binary."""
    from ws4py.client.geventclient import WebSocketClient

    with gevent_server() as server:
        clients = [WebSocketClient(url_of(server)) for _ in range(2)]
        for client in clients:
            client.connect()
        wait_for(lambda: len(server.pool.websockets) == 2)
        server.pool.broadcast(b'{"as": "text"}')
        server.pool.broadcast(b"\x00\xff", binary=True)
        server.pool.broadcast("text")
        try:
            server.pool.broadcast(b"\xff not text")
        except ValueError:
            pass
        else:
            raise AssertionError("invalid UTF-8 went out as text")
        for client in clients:
            got = [client.receive() for _ in range(3)]
            assert [(m.is_binary, bytes(m.data)) for m in got if m is not None] == [
                (False, b'{"as": "text"}'),
                (True, b"\x00\xff"),
                (False, b"text"),
            ]
            client.close()
            assert client.receive() is None


def other_clients_in_threads() -> None:
    """websocket-client and ws4py's threaded client, each in a thread of its own."""
    import gevent
    import websocket as websocket_client

    from ws4py.client.threadedclient import WebSocketClient as ThreadedClient
    from ws4py.messaging import Message

    results: dict[str, Any] = {}

    def with_websocket_client(url: str) -> None:
        conn = websocket_client.create_connection(url, timeout=5)
        conn.send("from websocket-client")
        results["wsc-text"] = conn.recv()
        conn.send_binary(b"\x00\x01\x02")
        results["wsc-binary"] = conn.recv()
        conn.close(status=4004)

    def with_threaded_client(url: str) -> None:
        got: list[str] = []

        class Client(ThreadedClient):
            def opened(self) -> None:
                self.send("from the threaded client")

            def received_message(self, message: Message) -> None:
                got.append(str(message))
                self.close(1000)

        client = Client(url)
        client.connect()
        client.join(5)
        results["threaded"] = got

    with gevent_server() as server:
        threads = [
            threading.Thread(target=target, args=(url_of(server),))
            for target in (with_websocket_client, with_threaded_client)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:  # joined cooperatively: the server runs in this thread's hub
            wait_for(lambda thread=thread: not thread.is_alive(), timeout=10)
            thread.join()
        gevent.sleep(0.05)
    assert results == {
        "wsc-text": "from websocket-client",
        "wsc-binary": b"\x00\x01\x02",
        "threaded": ["from the threaded client"],
    }
    assert sorted(code for code, _ in CLOSED) == [1000, 4004]


def bad_requests_are_refused() -> None:
    with gevent_server() as server:
        port = server.server_port
        cases = [
            (handshake(port, key=b"not-a-key"), b"400"),
            (handshake(port, version="8"), b"426"),
            (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n", b"400"),
        ]
        for request, status in cases:
            sock = gsocket().create_connection((HOST, port), timeout=5)
            sock.sendall(request)
            head = read_head(sock)
            assert head.startswith(b"HTTP/1.1 " + status + b" "), head
            if status == b"426":
                assert b"Sec-WebSocket-Version: 13" in head
            sock.close()
        assert not server.pool.websockets
        assert not CLOSED


def plain_http_on_the_same_port() -> None:
    from ws4py.server.wsgiutils import WebSocketWSGIApplication

    ws_app = WebSocketWSGIApplication(handler_cls=_recorder_class())

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/ws":
            return ws_app(environ, start_response)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"page!"]

    with gevent_server(app=app) as server:
        sock = gsocket().create_connection((HOST, server.server_port), timeout=5)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        head = read_head(sock)
        assert head.startswith(b"HTTP/1.1 200 "), head
        body = b""
        while len(body) < 5:
            body += sock.recv(5 - len(body))
        assert body == b"page!"
        # The same keep-alive connection, upgraded now.
        sock.sendall(handshake(server.server_port).replace(b"/chat", b"/ws"))
        assert read_head(sock).startswith(b"HTTP/1.1 101 ")
        sock.sendall(mask_frame(TEXT, b"after a page"))
        assert read_frame(sock) == (TEXT, b"after a page")
        sock.sendall(mask_frame(CLOSE, struct.pack("!H", 1000)))
        assert read_frame(sock)[0] == CLOSE
        sock.close()


def tls() -> None:
    import tempfile

    import trustme

    from ws4py.client.geventclient import WebSocketClient

    ca = trustme.CA()
    cert = ca.issue_cert(HOST)
    with tempfile.TemporaryDirectory() as tmp:
        ca_path = os.path.join(tmp, "ca.pem")
        ca.cert_pem.write_to_path(ca_path)
        import gevent.ssl

        # gevent's server wraps with the context it is given: it must be gevent's
        # (which ssl.SSLContext is, once patched).
        context = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(context)
        with gevent_server(ssl_context=context) as server:
            ws = WebSocketClient(url_of(server, "wss"), ssl_options={"ca_certs": ca_path})
            ws.connect()
            ws.send("secret")
            message = ws.receive()
            assert message is not None and str(message) == "secret"
            ws.send(b"x" * 200000)
            message = ws.receive()
            assert message is not None and bytes(message.data) == b"x" * 200000
            ws.close()
            assert ws.receive() is None
            untrusting = WebSocketClient(url_of(server, "wss"))
            try:
                untrusting.connect()
            except ssl.SSLError:
                pass
            else:
                raise AssertionError("an untrusted certificate was accepted")


def heartbeat() -> None:
    """heartbeat_freq sends unsolicited pongs (a greenlet when threading is not patched)."""
    from ws4py.client.geventclient import WebSocketClient

    with gevent_server() as server:
        ws = WebSocketClient(url_of(server), heartbeat_freq=0.1)
        ws.connect()
        wait_for(lambda: len(PONGS) >= 2, timeout=3)
        ws.send("still fine")
        message = ws.receive()
        assert message is not None and str(message) == "still fine"
        ws.close()
        assert ws.receive() is None
