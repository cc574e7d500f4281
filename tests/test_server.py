"""Integration tests for ws4py's server: make_server() in both websocket modes.

Clients are the ``websockets`` library (sync client, and its asyncio client
for the 1,000-connection test), ``websocket-client`` (the ``websocket``
module) and raw sockets for handshake rejections and misbehaving peers.
Every server a test starts is shut down (``shutdown()`` + ``server_close()``)
by the ``start_server`` fixture.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import queue
import resource
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme
import websocket as wsclient  # websocket-client
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from ws4py.messaging import Message
from ws4py.server.wsgirefserver import WebSocketWSGIRequestHandler, WSGIServer, make_server
from ws4py.server.wsgiutils import WebSocketWSGIApplication
from ws4py.websocket import EchoWebSocket, WebSocket

pytestmark = pytest.mark.timeout(60)

WAIT = 10.0
MiB = 1024 * 1024
MODES = ["manager", "thread"]


# ---------------------------------------------------------------------------
# The server under test
# ---------------------------------------------------------------------------


class Ws4pyServer:
    """make_server() running serve_forever() in a thread; what its websockets saw."""

    def __init__(
        self,
        mode: str,
        ssl_context: ssl.SSLContext | None = None,
        app: Any = None,
        host: str = "127.0.0.1",
        **options: Any,
    ) -> None:
        self.mode = mode
        self.opened: queue.Queue[dict[str, Any]] = queue.Queue()
        self.closed: queue.Queue[tuple[int, str | None]] = queue.Queue()
        opened, closed = self.opened, self.closed

        class Handler(EchoWebSocket):
            def opened(self) -> None:
                environ = self.environ or {}
                opened.put(
                    {
                        "protocols": self.protocols,
                        "path": environ.get("PATH_INFO"),
                        "query": environ.get("QUERY_STRING"),
                        "scheme": environ.get("wsgi.url_scheme"),
                        "origin": environ.get("HTTP_ORIGIN"),
                        "websocket": self,
                        "environ": dict(environ),
                    }
                )

            def received_message(self, message: Message) -> None:
                data = bytes(message.data)
                if message.is_text and data.startswith(b"close:"):
                    _, code, reason = data.decode().split(":", 2)
                    self.close(int(code), reason)
                elif message.is_text and data == b"boom":
                    raise RuntimeError("handler failure")
                else:
                    super().received_message(message)

            def closed(self, code: int, reason: bytes | str | None = None) -> None:
                if isinstance(reason, bytes):  # the peer's reason comes as bytes (0.6.0)
                    reason = reason.decode()
                closed.put((code, reason))

        self.handler = Handler
        self.server: WSGIServer = make_server(
            host,
            0,
            Handler if app is None else None,
            app=app,
            ssl_context=ssl_context,
            websocket_mode=mode,
            **options,
        )
        self.port = self.server.server_address[1]
        scheme = "wss" if ssl_context else "ws"
        name = f"[{host}]" if ":" in host else host
        self.url = f"{scheme}://{name}:{self.port}/"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self._stopped = False

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT)
        assert not self.thread.is_alive()
        manager = self.server.manager
        if manager is not None:
            assert not manager.is_alive(), "the manager thread survived server_close()"

    def next_closed(self, timeout: float = WAIT) -> tuple[int, str | None]:
        return self.closed.get(timeout=timeout)


@pytest.fixture
def start_server() -> Iterator[Callable[..., Ws4pyServer]]:
    servers: list[Ws4pyServer] = []

    def start(mode: str = "manager", **kw: Any) -> Ws4pyServer:
        server = Ws4pyServer(mode, **kw)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(params=MODES)
def server(request: pytest.FixtureRequest, start_server: Callable[..., Ws4pyServer]) -> Ws4pyServer:
    return start_server(request.param)


@pytest.fixture
def clients() -> Iterator[contextlib.ExitStack]:
    """Client connections, closed at teardown."""
    with contextlib.ExitStack() as stack:
        yield stack


def ws_connect(url: str, clients: contextlib.ExitStack, **kw: Any) -> ClientConnection:
    kw.setdefault("open_timeout", WAIT)
    kw.setdefault("close_timeout", WAIT)
    kw.setdefault("max_size", 32 * MiB)
    kw.setdefault("compression", None)
    return clients.enter_context(connect(url, **kw))


def wc_connect(url: str, clients: contextlib.ExitStack, **kw: Any) -> wsclient.WebSocket:
    conn = wsclient.create_connection(url, timeout=WAIT, **kw)
    clients.callback(conn.shutdown)  # close() does nothing once a close was answered
    clients.callback(conn.close)
    return conn


# ---------------------------------------------------------------------------
# Raw HTTP
# ---------------------------------------------------------------------------


def upgrade_request(
    method: str = "GET",
    version: str = "HTTP/1.1",
    key: str | None = None,
    extra: str = "",
    skip: tuple[str, ...] = (),
) -> bytes:
    headers = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key or base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
    }
    lines = [f"{method} / {version}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k not in skip]
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode("latin-1")


class RawResponse:
    def __init__(self, data: bytes, elapsed: float) -> None:
        self.raw = data
        self.elapsed = elapsed
        head, _, self.body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        assert parts[0].startswith("HTTP/1."), f"not an HTTP response: {data[:80]!r}"
        self.status = int(parts[1])
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()


def raw_exchange(port: int, data: bytes, timeout: float = WAIT) -> RawResponse:
    """Send ``data``, read until the server closes; the server must answer and close."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        response = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            response += chunk
    return RawResponse(response, time.monotonic() - started)


def masked_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    key = os.urandom(4)
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    if n < 126:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n < 0x10000:
        head = struct.pack("!BBH", b0, 0xFE, n)
    else:
        head = struct.pack("!BBQ", b0, 0xFF, n)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def read_frame(sock: socket.socket, buf: bytearray) -> tuple[int, bytes]:
    """(opcode, payload) of the next server frame (unmasked, small)."""

    def need(n: int) -> None:
        while len(buf) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            buf.extend(chunk)

    need(2)
    length = buf[1] & 0x7F
    start = 2
    if length == 126:
        need(4)
        length = struct.unpack_from("!H", buf, 2)[0]
        start = 4
    assert not buf[1] & 0x80, "server frames are never masked"
    need(start + length)
    opcode, payload = buf[0] & 0x0F, bytes(buf[start : start + length])
    del buf[: start + length]
    return opcode, payload


def raw_upgrade(port: int, extra_bytes: bytes = b"") -> tuple[socket.socket, bytearray]:
    """A raw client past the handshake; ``extra_bytes`` go in the same write."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    sock.sendall(upgrade_request() + extra_bytes)
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, "server closed during the handshake"
        buf.extend(chunk)
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    return sock, bytearray(rest)


# ---------------------------------------------------------------------------
# Echo
# ---------------------------------------------------------------------------


def test_echo_with_websockets_client(server: Ws4pyServer, clients: contextlib.ExitStack) -> None:
    ws = ws_connect(server.url + "chat?room=1", clients)
    ws.send("héllo")
    assert ws.recv(WAIT) == "héllo"
    ws.send(b"\x00\xff binary")
    assert ws.recv(WAIT) == b"\x00\xff binary"
    ws.send("")
    assert ws.recv(WAIT) == ""
    ws.send(b"")
    assert ws.recv(WAIT) == b""
    ws.send(["frag", "mé", "nted"])  # a fragmented message
    assert ws.recv(WAIT) == "fragménted"
    ws.send([b"\x01" * 70_000, b"\x02" * 70_000])
    assert ws.recv(WAIT) == b"\x01" * 70_000 + b"\x02" * 70_000
    info = server.opened.get(timeout=WAIT)
    assert info["path"] == "/chat" and info["query"] == "room=1" and info["scheme"] == "http"


def test_echo_16_mib(server: Ws4pyServer, clients: contextlib.ExitStack) -> None:
    ws = ws_connect(server.url, clients)
    big = os.urandom(16 * MiB)
    ws.send(big)
    assert ws.recv(30) == big
    text = "é" * (8 * MiB)
    ws.send(text)
    assert ws.recv(30) == text


def test_over_16_mib_is_refused_with_1009(
    server: Ws4pyServer, clients: contextlib.ExitStack
) -> None:
    # On the wire: the header announcing 16 MiB + 1 is enough for the 1009.
    sock, buf = raw_upgrade(server.port)
    with sock:
        sock.sendall(struct.pack("!BBQ", 0x82, 0xFF, 16 * MiB + 1) + os.urandom(4) + b"x" * 1000)
        opcode, payload = read_frame(sock, buf)
        assert opcode == 0x8 and struct.unpack("!H", payload[:2])[0] == 1009
        assert sock.recv(10) == b""
    assert server.next_closed()[0] == 1006  # failed by the server with 1009: no close back
    # With a real client sending it all: the server refuses it the same way.  (The
    # client may fail in send() before it has parsed the close frame: its own race.)
    ws = ws_connect(server.url, clients)
    with pytest.raises(ConnectionClosed):
        ws.send(b"x" * (16 * MiB + 1))
        ws.recv(WAIT)
    assert server.next_closed()[0] == 1006  # failed by the server with 1009: no close back


def test_echo_with_websocket_client(server: Ws4pyServer, clients: contextlib.ExitStack) -> None:
    ws = wc_connect(server.url, clients)
    ws.send("héllo")
    assert ws.recv() == "héllo"
    ws.send_binary(b"\x00\x01\x02")
    assert ws.recv() == b"\x00\x01\x02"
    ws.send("")
    assert ws.recv() == ""
    ws.send_binary(b"")
    assert ws.recv() == b""
    abnf = wsclient.ABNF
    ws.send_frame(abnf.create_frame("frag", abnf.OPCODE_TEXT, fin=0))
    ws.ping(b"in between")
    ws.send_frame(abnf.create_frame("ment", abnf.OPCODE_CONT, fin=0))
    ws.send_frame(abnf.create_frame("ed", abnf.OPCODE_CONT, fin=1))
    opcode, data = ws.recv_data(control_frame=True)
    assert (opcode, data) == (abnf.OPCODE_PONG, b"in between")
    assert ws.recv() == "fragmented"
    big = os.urandom(16 * MiB)
    ws.send_binary(big)
    assert ws.recv() == big


# ---------------------------------------------------------------------------
# Closing
# ---------------------------------------------------------------------------


def test_close_from_websockets_client(server: Ws4pyServer, clients: contextlib.ExitStack) -> None:
    ws = ws_connect(server.url, clients)
    ws.send("hi")
    ws.recv(WAIT)
    ws.close(4001, "client bye")
    assert server.next_closed() == (4001, "client bye")
    assert ws.close_code == 4001  # the server echoed the code


def test_close_from_websocket_client(server: Ws4pyServer, clients: contextlib.ExitStack) -> None:
    ws = wc_connect(server.url, clients)
    ws.close(status=4003, reason=b"wc bye")
    assert server.next_closed() == (4003, "wc bye")


def test_close_from_server(server: Ws4pyServer, clients: contextlib.ExitStack) -> None:
    ws = ws_connect(server.url, clients)
    ws.send("close:4002:server bye")
    with pytest.raises(ConnectionClosed) as info:
        ws.recv(WAIT)
    rcvd = info.value.rcvd
    assert rcvd is not None and (rcvd.code, rcvd.reason) == (4002, "server bye")
    assert server.next_closed()[0] == 4002


def test_close_from_server_with_websocket_client(
    server: Ws4pyServer, clients: contextlib.ExitStack
) -> None:
    ws = wc_connect(server.url, clients)
    ws.send("close:4004:bye wc")
    opcode, data = ws.recv_data(control_frame=True)
    assert opcode == wsclient.ABNF.OPCODE_CLOSE
    assert struct.unpack("!H", data[:2])[0] == 4004 and data[2:] == b"bye wc"
    # websocket-client answers any close with its own 1000: that is what the server reports
    assert server.next_closed() == (1000, "")


def test_server_close_closes_websockets_with_1001(
    server: Ws4pyServer, clients: contextlib.ExitStack
) -> None:
    conns = [ws_connect(server.url, clients) for _ in range(3)]
    for i, ws in enumerate(conns):
        ws.send(f"ready {i}")
        assert ws.recv(WAIT) == f"ready {i}"
    started = time.monotonic()
    server.stop()
    for ws in conns:
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(WAIT)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
    # the connections are really closed (TCP too) well before the client's close_timeout
    assert time.monotonic() - started < 5.0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_abrupt_disconnect_reports_1006_and_server_keeps_serving(
    server: Ws4pyServer, clients: contextlib.ExitStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="ws4py")
    sock, _ = raw_upgrade(server.port)
    server.opened.get(timeout=WAIT)
    sock.sendall(b"\x81\x85\x01\x02")  # half a frame: header, half the mask, no payload
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # RST
    assert server.next_closed() == (1006, "Going away")
    ws = ws_connect(server.url, clients)
    ws.send("still here")
    assert ws.recv(WAIT) == "still here"
    # a plain EOF in the middle of a frame: the same
    sock, _ = raw_upgrade(server.port)
    sock.sendall(b"\x82\xfe\x01\x00abcd" + b"x" * 10)
    sock.close()
    assert server.next_closed() == (1006, "Going away")
    ws.send("and still")
    assert ws.recv(WAIT) == "and still"


def test_handler_exception_closes_with_1011(
    server: Ws4pyServer, clients: contextlib.ExitStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="ws4py")
    bad = ws_connect(server.url, clients)
    good = ws_connect(server.url, clients)
    bad.send("boom")
    with pytest.raises(ConnectionClosed) as info:
        bad.recv(WAIT)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1011
    assert server.next_closed()[0] == 1011
    good.send("unaffected")
    assert good.recv(WAIT) == "unaffected"


# ---------------------------------------------------------------------------
# Frames right behind the handshake request
# ---------------------------------------------------------------------------


def test_frames_sent_with_the_request_are_not_lost(server: Ws4pyServer) -> None:
    early = masked_frame(0x1, b"right behind the head") + masked_frame(0x9, b"ping?")
    early += masked_frame(0x2, b"\x00\x01", fin=False) + masked_frame(0x0, b"\x02")
    sock, buf = raw_upgrade(server.port, early)
    with sock:
        # The pong goes out as the ping is parsed, before any handler runs
        # (issue #19): ahead of the echo of the message that preceded the ping.
        assert read_frame(sock, buf) == (0xA, b"ping?")
        assert read_frame(sock, buf) == (0x1, b"right behind the head")
        assert read_frame(sock, buf) == (0x2, b"\x00\x01\x02")
        sock.sendall(masked_frame(0x8, struct.pack("!H", 1000)))
        assert read_frame(sock, buf) == (0x8, struct.pack("!H", 1000))
        assert sock.recv(10) == b""
    assert server.next_closed() == (1000, "")


#: The 101 the server wrote by hand before http11.render_response was shared (issue #19).
RFC_101 = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"\r\n"
)


def test_the_101_head_is_the_same_bytes(server: Ws4pyServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
        sock.sendall(upgrade_request(key="dGhlIHNhbXBsZSBub25jZQ=="))
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            chunk = sock.recv(1)  # byte by byte: nothing past the head is read
            assert chunk, head
            head += chunk
        assert head == RFC_101
        sock.sendall(masked_frame(0x8, struct.pack("!H", 1000)))
        assert read_frame(sock, bytearray()) == (0x8, struct.pack("!H", 1000))
    assert server.next_closed() == (1000, "")


def test_a_101_header_with_cr_lf_is_refused(start_server: Callable[..., Ws4pyServer]) -> None:
    """An application adding a header to the 101 cannot inject lines (wsgiref's checks skip 101)."""
    inner = WebSocketWSGIApplication(handler_cls=EchoWebSocket)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        def evil_start_response(status: str, headers: list[tuple[str, str]]) -> Any:
            return start_response(status, [*headers, ("X-Evil", "a\r\nSet-Cookie: s=stolen")])

        return inner(environ, evil_start_response)

    server = start_server(app=app)
    response = raw_exchange(server.port, upgrade_request())
    assert response.status == 500, response.raw[:200]
    assert b"Set-Cookie" not in response.raw and b"X-Evil" not in response.raw


# ---------------------------------------------------------------------------
# Handshake rejections
# ---------------------------------------------------------------------------


REJECTIONS = {
    "post": (upgrade_request(method="POST"), 405, {"allow": "GET"}),
    "http-1.0": (upgrade_request(version="HTTP/1.0"), 400, {}),
    "no-upgrade": (upgrade_request(skip=("Upgrade",)), 400, {}),
    "no-connection": (upgrade_request(skip=("Connection",)), 400, {}),
    "no-key": (upgrade_request(skip=("Sec-WebSocket-Key",)), 400, {}),
    "bad-key": (upgrade_request(key="not-a-valid-key"), 400, {}),
    "short-key": (upgrade_request(key=base64.b64encode(b"x" * 15).decode()), 400, {}),
    "version-8": (
        upgrade_request(skip=("Sec-WebSocket-Version",), extra="Sec-WebSocket-Version: 8\r\n"),
        426,
        {"sec-websocket-version": "13"},
    ),
    "no-host": (upgrade_request(skip=("Host",)), 400, {}),
    "oversized-header": (upgrade_request(extra="X-Big: " + "a" * 9000 + "\r\n"), 431, {}),
    "too-many-headers": (
        upgrade_request(extra="".join(f"X-H{i}: v\r\n" for i in range(150))),
        431,
        {},
    ),
    "bare-lf": (b"GET / HTTP/1.1\nHost: x\n\n", 400, {}),
    "plain-get": (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, {}),
}


@pytest.mark.parametrize("case", list(REJECTIONS))
def test_handshake_rejections(server: Ws4pyServer, case: str) -> None:
    request, status, headers = REJECTIONS[case]
    response = raw_exchange(server.port, request)
    assert response.status == status, response.raw[:300]
    for name, value in headers.items():
        assert response.headers.get(name) == value
    assert response.body, "a rejection says why"
    assert server.opened.empty() and server.closed.empty()


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\x01\x02\x03garbage\r\n\r\n",
        # the start of a TLS ClientHello on the plain-text port
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(32),
    ],
    ids=["garbage", "tls-client-hello"],
)
def test_garbage_is_answered_400_quickly(server: Ws4pyServer, garbage: bytes) -> None:
    response = raw_exchange(server.port, garbage)
    assert response.status == 400
    assert response.elapsed < 1.0  # not after the handshake timeout


def test_disallowed_origin(
    start_server: Callable[..., Ws4pyServer], clients: contextlib.ExitStack
) -> None:
    server = start_server(allowed_origins=["https://good.example"])
    bad = raw_exchange(server.port, upgrade_request(extra="Origin: https://evil.example\r\n"))
    assert bad.status == 403
    missing = raw_exchange(server.port, upgrade_request())
    assert missing.status == 403
    ws = ws_connect(server.url, clients, origin="https://GOOD.example")
    ws.send("welcome")
    assert ws.recv(WAIT) == "welcome"
    assert server.opened.get(timeout=WAIT)["origin"] == "https://GOOD.example"


def test_plain_http_get_to_the_application_is_4xx(
    start_server: Callable[..., Ws4pyServer],
) -> None:
    app = WebSocketWSGIApplication(handler_cls=EchoWebSocket)
    server = start_server(app=app)
    for request in (
        b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n",
        b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello",
    ):
        response = raw_exchange(server.port, request)
        assert 400 <= response.status < 500, response.raw[:200]


def test_slowloris_is_cut_while_others_are_served(
    start_server: Callable[..., Ws4pyServer],
    clients: contextlib.ExitStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(WebSocketWSGIRequestHandler, "handshake_timeout", 1.0)
    server = start_server()
    request = upgrade_request()
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def dribble() -> None:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
            sock.settimeout(0.2)  # one byte per 0.2 s: waiting for the server is the pacing
            for i in range(len(request)):
                try:
                    sock.sendall(request[i : i + 1])
                    data = sock.recv(4096)
                except TimeoutError:
                    continue
                except OSError as exc:
                    outcome["error"] = exc
                    break
                outcome["data"] = data
                break
            outcome["elapsed"] = time.monotonic() - started
            outcome["sent"] = i + 1
        done.set()

    slow = threading.Thread(target=dribble, daemon=True)
    slow.start()
    try:
        # meanwhile, another client is served normally
        ws = ws_connect(server.url, clients)
        ws.send("not blocked")
        assert ws.recv(WAIT) == "not blocked"
        assert done.wait(6.0), "the slow client was not cut"
    finally:
        slow.join(WAIT)
    assert outcome.get("data", b"") == b"" or outcome["data"].startswith(b"HTTP/1.1 408")
    assert outcome["sent"] < len(request)
    assert 0.8 <= outcome["elapsed"] < 3.0, outcome
    ws.send("still fine")
    assert ws.recv(WAIT) == "still fine"


# ---------------------------------------------------------------------------
# Subprotocols, TLS
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_subprotocol_follows_client_preference(
    start_server: Callable[..., Ws4pyServer], clients: contextlib.ExitStack, mode: str
) -> None:
    server = start_server(mode, protocols=["chat", "superchat"])
    ws = ws_connect(server.url, clients, subprotocols=["superchat", "chat"])
    assert ws.subprotocol == "superchat"
    assert server.opened.get(timeout=WAIT)["protocols"] == ["superchat"]
    other = ws_connect(server.url, clients, subprotocols=["unknown"])
    assert other.subprotocol is None
    assert server.opened.get(timeout=WAIT)["protocols"] == []


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.mark.parametrize("mode", MODES)
def test_tls_server(
    start_server: Callable[..., Ws4pyServer],
    clients: contextlib.ExitStack,
    ca: trustme.CA,
    mode: str,
) -> None:
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(server_context)
    server = start_server(mode, ssl_context=server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    ws = ws_connect(f"wss://localhost:{server.port}/secure", clients, ssl=client_context)
    ws.send("over tls")
    assert ws.recv(WAIT) == "over tls"
    big = os.urandom(4 * MiB)
    ws.send(big)
    assert ws.recv(WAIT) == big
    info = server.opened.get(timeout=WAIT)
    assert info["scheme"] == "https" and info["path"] == "/secure"
    ws.close(1000, "tls done")
    assert server.next_closed() == (1000, "tls done")
    # a plain-text request to the TLS port is dropped quickly, and the server goes on
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
        sock.sendall(upgrade_request())
        try:
            data = sock.recv(4096)
        except ConnectionResetError:
            data = b""
        assert not data.startswith(b"HTTP/1.1 101")
    again = ws_connect(f"wss://localhost:{server.port}/", clients, ssl=client_context)
    again.send("again")
    assert again.recv(WAIT) == "again"


# ---------------------------------------------------------------------------
# Many connections
# ---------------------------------------------------------------------------


def test_1000_concurrent_connections(start_server: Callable[..., Ws4pyServer]) -> None:
    count = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 4 * count + 256  # client + server side of each, plus slack
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= needed, "raise the fd limit"
    server = start_server("manager")
    peak: list[int] = []

    async def main() -> list[Any]:
        all_open = asyncio.Event()
        ready = 0

        async def one(i: int) -> bool:
            nonlocal ready
            async with async_connect(
                server.url, open_timeout=50, close_timeout=20, compression=None
            ) as ws:
                await ws.send(f"{i}-a")
                await ws.send(f"{i}-b".encode())
                first, second = await ws.recv(), await ws.recv()
                assert (first, second) == (f"{i}-a", f"{i}-b".encode())
                ready += 1
                if ready == count:
                    assert server.server.manager is not None
                    peak.append(len(server.server.manager))
                    all_open.set()
                await asyncio.wait_for(all_open.wait(), 50)
            return True

        return await asyncio.wait_for(
            asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True), 55
        )

    started = time.monotonic()
    results = asyncio.run(main())
    errors = [r for r in results if r is not True]
    assert not errors, f"{len(errors)} failures, e.g. {errors[:3]!r}"
    assert peak == [count]  # all were open at the same time
    closes = [server.next_closed() for _ in range(count)]
    assert {code for code, _ in closes} == {1000}
    assert time.monotonic() - started < 60
    assert len(server.server.manager or []) == 0  # removed before closed() is called


def test_manager_mode_uses_one_manager_thread(
    start_server: Callable[..., Ws4pyServer], clients: contextlib.ExitStack
) -> None:
    server = start_server("manager")
    conns = [ws_connect(server.url, clients) for _ in range(5)]
    for ws in conns:
        ws.send("x")
        assert ws.recv(WAIT) == "x"
    manager = server.server.manager
    assert manager is not None and manager.is_alive() and len(manager) == 5
    websockets = [server.opened.get(timeout=WAIT)["websocket"] for _ in conns]
    assert all(isinstance(w, WebSocket) and w in manager for w in websockets)


def test_thread_mode_has_no_manager(
    start_server: Callable[..., Ws4pyServer], clients: contextlib.ExitStack
) -> None:
    server = start_server("thread")
    ws = ws_connect(server.url, clients)
    ws.send("x")
    assert ws.recv(WAIT) == "x"
    assert server.server.manager is None
    with pytest.raises(ValueError):
        make_server("127.0.0.1", 0, EchoWebSocket, websocket_mode="bogus")


def test_ipv6_server(
    start_server: Callable[..., Ws4pyServer], clients: contextlib.ExitStack
) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        # No ::1 on this machine: make_server must then fail loudly, not bind elsewhere.
        with pytest.raises(OSError):
            make_server("::1", 0, EchoWebSocket)
        return
    server = start_server("manager", host="::1")
    assert server.server.socket.family == socket.AF_INET6
    ws = ws_connect(server.url, clients)
    ws.send("over ipv6")
    assert ws.recv(WAIT) == "over ipv6"


def test_environ_does_not_copy_the_process_environment(
    server: Ws4pyServer, clients: contextlib.ExitStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A websocket keeps its environ for life: wsgiref's copy of os.environ is left out."""
    monkeypatch.setenv("WS4PY_TEST_SECRET", "not for the websocket")
    ws = ws_connect(server.url + "path?q=1", clients, additional_headers={"X-Extra": "yes"})
    ws.send("x")
    assert ws.recv(WAIT) == "x"
    environ = server.opened.get(timeout=WAIT)["environ"]
    assert "WS4PY_TEST_SECRET" not in environ and "PATH" not in environ
    assert environ["REQUEST_METHOD"] == "GET" and environ["PATH_INFO"] == "/path"
    assert environ["QUERY_STRING"] == "q=1" and environ["HTTP_X_EXTRA"] == "yes"
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1" and environ["wsgi.version"] == (1, 0)
    assert "REMOTE_ADDR" in environ and "SERVER_PORT" in environ


def _handshake_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "ws4py-handshake"}


def test_handshake_threads_are_reused_and_released(
    start_server: Callable[..., Ws4pyServer], clients: contextlib.ExitStack
) -> None:
    before = _handshake_threads()
    server = start_server("manager")
    for i in range(30):  # one after the other: one idle thread serves them all
        with connect(server.url, open_timeout=WAIT, compression=None) as ws:
            ws.send(str(i))
            assert ws.recv(WAIT) == str(i)
    assert len(_handshake_threads() - before) <= 2

    async def burst() -> None:
        async def one(i: int) -> None:
            async with async_connect(server.url, open_timeout=WAIT, compression=None) as ws:
                await ws.send(str(i))
                assert await ws.recv() == str(i)

        await asyncio.gather(*(one(i) for i in range(60)))

    asyncio.run(burst())
    pool = server.server._handshake_threads
    assert pool is not None
    deadline = time.monotonic() + WAIT
    while len(_handshake_threads() - before) > pool.max_idle:
        assert time.monotonic() < deadline, "more idle handshake threads than max_idle"
        time.sleep(0.02)
    server.stop()
    deadline = time.monotonic() + WAIT
    while _handshake_threads() - before:
        assert time.monotonic() < deadline, "idle handshake threads outlived server_close()"
        time.sleep(0.02)
