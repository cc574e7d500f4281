"""Tests for ws4py.server.cherrypyserver: WebSocketPlugin and WebSocketTool on CherryPy.

A real CherryPy engine serves, in this process, two cheroot servers on free
ports of 127.0.0.1 (plain and TLS), configured the classic way:
``WebSocketPlugin(cherrypy.engine).subscribe()``, ``cherrypy.tools.websocket =
WebSocketTool()``, ``tools.websocket.on`` / ``tools.websocket.handler_cls``.
Clients are the ``websockets`` library (sync API) and raw sockets.  The
engine is stopped (``exit``) when the module's tests are done.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import cherrypy
import pytest
import trustme
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from ws4py.messaging import Message
from ws4py.server.cherrypyserver import WebSocketPlugin, WebSocketTool
from ws4py.websocket import EchoWebSocket

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE = 0x1, 0x2, 0x8

CLOSED: list[tuple[int, str | None]] = []
HANDLERS: list[Any] = []


class Echo(EchoWebSocket):
    def received_message(self, message: Message) -> None:
        if str(message) == "close please":
            self.close(4002, "server says bye")
            return
        super().received_message(message)

    def closed(self, code: int, reason: bytes | str | None = None) -> None:
        if isinstance(reason, bytes):  # the peer's reason comes as bytes (0.6.0)
            reason = reason.decode()
        CLOSED.append((code, reason))


class Root:
    @cherrypy.expose
    def index(self) -> str:
        return "the page"

    @cherrypy.expose
    def ws(self) -> str:
        HANDLERS.append(cherrypy.request.ws_handler)
        return "ignored: a 101 has no body"

    @cherrypy.expose
    def chat(self) -> None:
        pass

    @cherrypy.expose
    def guarded(self) -> None:
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Site:
    def __init__(self, port: int, tls_port: int, ca: trustme.CA, plugin: WebSocketPlugin) -> None:
        self.url = f"ws://{HOST}:{port}"
        self.port = port
        self.tls_url = f"wss://{HOST}:{tls_port}"
        self.ca = ca
        self.plugin = plugin

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    port, tls_port = free_port(), free_port()
    ca = trustme.CA()
    cert = ca.issue_cert(HOST)
    tmp = tmp_path_factory.mktemp("cherrypy-tls")
    certfile, keyfile = tmp / "cert.pem", tmp / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))

    cherrypy.config.update(
        {
            "server.socket_host": HOST,
            "server.socket_port": port,
            "engine.autoreload.on": False,
            "checker.on": False,
            "log.screen": False,
        }
    )
    tls_server = cherrypy._cpserver.Server()
    tls_server.socket_host = HOST
    tls_server.socket_port = tls_port
    tls_server.ssl_module = "builtin"
    tls_server.ssl_certificate = str(certfile)
    tls_server.ssl_private_key = str(keyfile)
    tls_server.subscribe()

    plugin = WebSocketPlugin(cherrypy.engine)
    plugin.subscribe()
    cherrypy.tools.websocket = WebSocketTool()
    ws_config = {"tools.websocket.on": True, "tools.websocket.handler_cls": Echo}
    cherrypy.tree.mount(
        Root(),
        "/",
        config={
            "/ws": ws_config,
            "/chat": {**ws_config, "tools.websocket.protocols": ["chat.v2", "chat.v1"]},
            "/guarded": {**ws_config, "tools.websocket.allowed_origins": ["http://good.example"]},
        },
    )
    cherrypy.engine.start()
    cherrypy.engine.wait(cherrypy.engine.states.STARTED)
    try:
        yield Site(port, tls_port, ca, plugin)
    finally:
        cherrypy.engine.exit()
        tls_server.unsubscribe()
        plugin.unsubscribe()
        cherrypy.tree.apps.clear()


@pytest.fixture(autouse=True)
def _reset() -> None:
    CLOSED.clear()
    HANDLERS.clear()


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def mask_frame(opcode: int, payload: bytes) -> bytes:
    key = os.urandom(4)
    assert len(payload) < 126
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x80 | opcode, 0x80 | len(payload)) + key + masked


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
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
    return b0 & 0x0F, exact(length)


def read_head(sock: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, f"EOF in the response head: {head!r}"
        head += chunk
    return head


def handshake(port: int, path: str = "/ws", key: bytes | None = None, **extra: str) -> bytes:
    headers = {
        "Host": f"{HOST}:{port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": (key or base64.b64encode(os.urandom(16))).decode(),
        "Sec-WebSocket-Version": "13",
        **extra,
    }
    lines = [f"GET {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# ---------------------------------------------------------------------------


def test_echo_with_the_classic_configuration(site: Site) -> None:
    big = os.urandom(1024 * 1024)
    with connect(site.url + "/ws", max_size=None) as client:
        for payload in ["hello", "", "ünïcödé", b"\x00\xff", b"", big]:
            client.send(payload)
            assert client.recv(timeout=5) == payload
        client.close(4001, "client says bye")
    wait_for(lambda: CLOSED == [(4001, "client says bye")])
    assert len(HANDLERS) == 1
    assert isinstance(HANDLERS[0], Echo)  # cherrypy.request.ws_handler, in the page handler


def test_server_close_code_reaches_the_client(site: Site) -> None:
    with connect(site.url + "/ws") as client:
        client.send("close please")
        with pytest.raises(ConnectionClosed):
            client.recv(timeout=5)
        assert client.close_code == 4002
        assert client.close_reason == "server says bye"


def test_subprotocol_and_compression_are_negotiated(site: Site) -> None:
    offer: Any = ["chat.v1", "chat.v2"]
    with connect(site.url + "/chat", subprotocols=offer, compression="deflate") as client:
        assert client.subprotocol == "chat.v1"
        response = client.response
        assert response is not None
        assert "permessage-deflate" in response.headers.get("Sec-WebSocket-Extensions", "")
        assert "Content-Type" not in response.headers
        client.send("z" * 50000)
        assert client.recv(timeout=5) == "z" * 50000


def test_frames_sent_with_the_handshake_and_no_reuse_by_cheroot(site: Site) -> None:
    """Bytes cheroot buffered past the head reach the websocket; cheroot lets go of the socket."""
    sock = socket.create_connection((HOST, site.port), timeout=5)
    try:
        key = base64.b64encode(os.urandom(16))
        sock.sendall(handshake(site.port, key=key) + mask_frame(TEXT, b"early bird"))
        head = read_head(sock)
        assert head.startswith(b"HTTP/1.1 101 "), head
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        assert accept in head
        assert b"transfer-encoding" not in head.lower()
        assert read_frame(sock) == (TEXT, b"early bird")
        # Something that looks like HTTP is a frame now: cheroot is not reading.
        sock.sendall(mask_frame(TEXT, b"GET / HTTP/1.1\r\n\r\n"))
        assert read_frame(sock) == (TEXT, b"GET / HTTP/1.1\r\n\r\n")
        sock.sendall(mask_frame(CLOSE, struct.pack("!H", 1000)))
        assert read_frame(sock) == (CLOSE, struct.pack("!H", 1000))
        assert sock.recv(10) == b""  # the websocket closed TCP, nobody else wrote
    finally:
        sock.close()
    wait_for(lambda: CLOSED == [(1000, "")])


def test_more_websockets_than_worker_threads(site: Site) -> None:
    """Upgraded connections leave cheroot's worker threads (10 by default) free."""
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(connect(site.url + "/ws")) for _ in range(25)]
        for i, client in enumerate(clients):
            client.send(f"client {i}")
        for i, client in enumerate(clients):
            assert client.recv(timeout=5) == f"client {i}"
        with socket.create_connection((HOST, site.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"the page")
    wait_for(lambda: len(CLOSED) == 25)


def test_broadcast_over_the_bus_reaches_every_client(site: Site) -> None:
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(connect(site.url + "/ws")) for _ in range(3)]
        wait_for(lambda: len(site.plugin.manager) == 3)
        cherrypy.engine.publish("websocket-broadcast", "news for everyone")
        cherrypy.engine.publish("websocket-broadcast", b"\x01\x02", True)
        for client in clients:
            assert client.recv(timeout=5) == "news for everyone"
            assert client.recv(timeout=5) == b"\x01\x02"


def test_upgraded_websockets_are_published_on_handle_websocket(site: Site) -> None:
    """As 0.6.0: ``'handle-websocket'`` carries the websocket and the peer's address."""
    seen: list[tuple[Any, Any]] = []

    def listener(websocket: Any, peer: Any) -> None:
        seen.append((websocket, peer))

    cherrypy.engine.subscribe("handle-websocket", listener)
    try:
        with socket.create_connection((HOST, site.port), timeout=5) as sock:
            sock.sendall(handshake(site.port))
            assert read_head(sock).startswith(b"HTTP/1.1 101")
            wait_for(lambda: len(seen) == 1)
            websocket, peer = seen[0]
            assert peer == sock.getsockname()
            assert websocket in site.plugin.manager  # the plugin got it too
            sock.sendall(mask_frame(TEXT, b"still served"))
            assert read_frame(sock) == (TEXT, b"still served")
    finally:
        cherrypy.engine.unsubscribe("handle-websocket", listener)


@pytest.mark.parametrize(
    ("request_bytes", "status", "header"),
    [
        (b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", b"400", None),
        (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Key: bad\r\nSec-WebSocket-Version: 13\r\n\r\n", b"400", None),
        (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
         b"426", b"sec-websocket-version: 13"),
        (b"POST /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
         b"Content-Length: 0\r\n\r\n", b"405", b"allow: get"),
    ],
    ids=["plain-get", "bad-key", "bad-version", "post"],
)  # fmt: skip
def test_bad_upgrade_requests_are_refused(
    site: Site, request_bytes: bytes, status: bytes, header: bytes | None
) -> None:
    with socket.create_connection((HOST, site.port), timeout=5) as sock:
        sock.sendall(request_bytes)
        head = read_head(sock)
    assert head.startswith(b"HTTP/1.1 " + status + b" "), head
    if header is not None:
        assert header in head.lower()
    assert not HANDLERS
    assert len(site.plugin.manager) == 0


def test_pages_without_the_tool_still_work(site: Site) -> None:
    with socket.create_connection((HOST, site.port), timeout=5) as sock:
        for _ in range(2):  # keep-alive is untouched for plain requests
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            head = read_head(sock)
            assert head.startswith(b"HTTP/1.1 200 ")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            body = b""
            while len(body) < length:
                body += sock.recv(length - len(body))
            assert body == b"the page"


def test_tls_server(site: Site) -> None:
    with connect(site.tls_url + "/ws", ssl=site.client_context(), max_size=None) as client:
        client.send("secret")
        assert client.recv(timeout=5) == "secret"
        client.send(b"y" * 300000)
        assert client.recv(timeout=5) == b"y" * 300000


def test_threaded_ws4py_client(site: Site) -> None:
    from ws4py.client.threadedclient import WebSocketClient

    got: list[str] = []

    class Client(WebSocketClient):
        def opened(self) -> None:
            self.send("from ws4py")

        def received_message(self, message: Message) -> None:
            got.append(str(message))
            self.close(1000)

    client = Client(site.url + "/ws")
    client.connect()
    assert client.join(5)
    assert got == ["from ws4py"]


def test_engine_stop_closes_websockets_with_1001_and_restart_works(site: Site) -> None:
    stack = contextlib.ExitStack()
    clients = [stack.enter_context(connect(site.url + "/ws")) for _ in range(2)]
    wait_for(lambda: len(site.plugin.manager) == 2)
    old_manager = site.plugin.manager
    stopper = threading.Thread(target=cherrypy.engine.stop)
    stopper.start()
    for client in clients:
        with pytest.raises(ConnectionClosed):
            client.recv(timeout=5)
        assert client.close_code == 1001
        assert client.close_reason == "Server is shutting down"
    stopper.join(10)
    stack.close()
    assert not stopper.is_alive()
    assert not old_manager.is_alive()
    # websockets echoes the code and the reason of a close.
    assert CLOSED == [(1001, "Server is shutting down")] * 2
    cherrypy.engine.start()
    cherrypy.engine.wait(cherrypy.engine.states.STARTED)
    assert site.plugin.manager is not old_manager
    with connect(site.url + "/ws") as client:
        client.send("after a restart")
        assert client.recv(timeout=5) == "after a restart"


def test_tool_settings_allowed_origins(site: Site) -> None:
    with socket.create_connection((HOST, site.port), timeout=5) as sock:
        sock.sendall(handshake(site.port, path="/guarded", Origin="http://evil.example"))
        head = read_head(sock)
    assert head.startswith(b"HTTP/1.1 403 "), head
    with connect(site.url + "/guarded", origin="http://good.example") as client:  # type: ignore[arg-type]
        client.send("welcome")
        assert client.recv(timeout=5) == "welcome"


def test_a_websocket_failing_to_end_does_not_fail_the_engine_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An error in a 'stop' listener makes CherryPy's exit() end the process (code 70).

    The plugin's cleanup ends each websocket the peer left unanswered; one
    whose ``close_connection`` (a user's override) raises is logged, and the
    others are still ended.  A bus of its own, real socketpairs.
    """
    from cherrypy.process import wspbus

    class Failing(EchoWebSocket):
        def close_connection(self) -> None:
            super().close_connection()
            raise RuntimeError("boom in close_connection")

    class Recording(EchoWebSocket):
        def closed(self, code: int, reason: Any = None) -> None:
            ended.append(code)

    ended: list[int] = []
    bus = wspbus.Bus()
    plugin = WebSocketPlugin(bus)
    plugin.stop_timeout = 0.2  # the peers never answer the close
    plugin.subscribe()
    bus.start()
    pairs = [socket.socketpair() for _ in range(2)]
    try:
        failing = Failing(pairs[0][0], [], [])
        recording = Recording(pairs[1][0], [], [])
        bus.publish("handle-websocket", failing, (HOST, 1))
        bus.publish("handle-websocket", recording, (HOST, 2))
        wait_for(lambda: len(plugin.manager) == 2)
        bus.stop()  # raised ChannelFailures before: exit() would have ended the process
        assert bus.state == bus.states.STOPPED
        assert ended == [1006]  # no close answered: abnormal closure
        assert failing.terminated and recording.terminated
        assert pairs[0][0].fileno() == -1 and pairs[1][0].fileno() == -1
        assert "boom in close_connection" in caplog.text
    finally:
        bus.exit()
        for server, peer in pairs:
            server.close()
            peer.close()
