"""Integration tests for the threaded client (ws4py.client.threadedclient).

The client talks to real servers on 127.0.0.1: the ``websockets`` library's
server (``websockets.sync.server``, in a thread), ws4py's own server
(``make_server``) and, for handshake corner cases, tiny raw socket servers
written here.  Every server, thread and client a test starts is stopped by
its fixture.
"""

from __future__ import annotations

import base64
import hashlib
import os
import queue
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import trustme
from websockets.sync.server import Server, ServerConnection, serve, unix_serve

from ws4py.client import WebSocketBaseClient
from ws4py.client.threadedclient import WebSocketClient
from ws4py.exc import ConnectionClosedError, HandshakeError
from ws4py.messaging import Message, PongControlMessage
from ws4py.server.wsgirefserver import WSGIServer, make_server
from ws4py.websocket import WebSocket

pytestmark = pytest.mark.timeout(60)

WAIT = 10.0
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MiB = 1024 * 1024


# ---------------------------------------------------------------------------
# The client under test
# ---------------------------------------------------------------------------


class Client(WebSocketClient):
    """Records every handler call."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.messages: queue.Queue[Message] = queue.Queue()
        self.pongs: queue.Queue[bytes] = queue.Queue()
        self.order: list[str] = []
        self.opened_count = 0
        self.closed_calls: list[tuple[int, str | None]] = []
        self.closed_event = threading.Event()
        super().__init__(url, **kwargs)

    def opened(self) -> None:
        self.opened_count += 1
        self.order.append("opened")

    def received_message(self, message: Message) -> None:
        self.order.append("message")
        self.messages.put(message)

    def ponged(self, pong: PongControlMessage) -> None:
        self.pongs.put(bytes(pong.data))

    def closed(self, code: int, reason: bytes | str | None = None) -> None:
        self.order.append("closed")
        if isinstance(reason, bytes):  # the peer's reason comes as bytes (0.6.0)
            reason = reason.decode()
        self.closed_calls.append((code, reason))
        self.closed_event.set()

    def recv(self, timeout: float = WAIT) -> Message:
        return self.messages.get(timeout=timeout)

    def wait_closed(self, timeout: float = WAIT) -> tuple[int, str | None]:
        assert self.closed_event.wait(timeout), "closed() was not called in time"
        assert self.join(timeout), "the client's thread did not end"
        return self.closed_calls[-1]


@pytest.fixture
def make_client() -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []

    def make(url: str, **kwargs: Any) -> Client:
        client = Client(url, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        if client.sock is not None and not client.terminated:
            try:
                client.close(1001, "test teardown")
            except Exception:
                pass
        finished = client.join(WAIT)
        client.close_connection()
        assert finished, "a client thread was still running at teardown"


# ---------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------


class EchoServer:
    """A running echo server: ``url``, what the server saw (``closes``, ``requests``)."""

    kind = ""
    url = ""
    closes: queue.Queue[tuple[int | None, str | None]]
    requests: queue.Queue[dict[str, str]]


def websockets_echo(ws: ServerConnection, closes: queue.Queue[Any]) -> None:
    """Echo; ``close:<code>:<reason>`` makes the server close."""
    try:
        for message in ws:
            if isinstance(message, str) and message.startswith("close:"):
                _, code, reason = message.split(":", 2)
                ws.close(int(code), reason)
                break
            ws.send(message)
    except Exception:
        pass
    finally:
        closes.put((ws.close_code, ws.close_reason))


class WebsocketsServer(EchoServer):
    kind = "websockets"

    def __init__(self, host: str = "127.0.0.1", unix_path: str | None = None, **kw: Any) -> None:
        self.closes = queue.Queue()
        self.requests = queue.Queue()
        kw.setdefault("max_size", 32 * MiB)
        kw.setdefault("process_request", self._record)
        kw.setdefault("compression", None)
        handler = self._handle
        self.server: Server
        if unix_path is not None:
            self.server = unix_serve(handler, unix_path, **kw)
            self.url = f"ws+unix://{unix_path}"
        else:
            if ":" in host:
                kw.setdefault("family", socket.AF_INET6)
            self.server = serve(handler, host, 0, **kw)
            port = self.server.socket.getsockname()[1]
            scheme = "wss" if kw.get("ssl") else "ws"
            name = f"[{host}]" if ":" in host else host
            self.url = f"{scheme}://{name}:{port}/path?q=1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _record(self, connection: ServerConnection, request: Any) -> None:
        self.requests.put({k.lower(): v for k, v in request.headers.raw_items()})
        return None

    def _handle(self, ws: ServerConnection) -> None:
        websockets_echo(ws, self.closes)

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(WAIT)
        assert not self.thread.is_alive()


class Ws4pyServer(EchoServer):
    kind = "ws4py"

    def __init__(self, **options: Any) -> None:
        closes: queue.Queue[tuple[int | None, str | None]] = queue.Queue()
        requests: queue.Queue[dict[str, str]] = queue.Queue()
        self.closes, self.requests = closes, requests

        class Echo(WebSocket):
            def opened(self) -> None:
                environ = self.environ or {}
                requests.put(
                    {
                        k[5:].lower().replace("_", "-"): v
                        for k, v in environ.items()
                        if k.startswith("HTTP_")
                    }
                )

            def received_message(self, message: Message) -> None:
                if message.is_text and bytes(message.data).startswith(b"close:"):
                    _, code, reason = str(message).split(":", 2)
                    self.close(int(code), reason)
                    return
                self.send(message.data, message.is_binary)

            def closed(self, code: int, reason: bytes | str | None = None) -> None:
                closes.put((code, reason.decode() if isinstance(reason, bytes) else reason))

        self.server: WSGIServer = make_server("127.0.0.1", 0, Echo, **options)
        port = self.server.server_address[1]
        self.url = f"ws://127.0.0.1:{port}/path?q=1"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT)
        assert not self.thread.is_alive()


@pytest.fixture
def start_server() -> Iterator[Callable[..., Any]]:
    servers: list[Any] = []

    def start(kind: str = "websockets", **kw: Any) -> Any:
        server = WebsocketsServer(**kw) if kind == "websockets" else Ws4pyServer(**kw)
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        server.stop()


@pytest.fixture(params=["websockets", "ws4py"])
def echo_server(request: pytest.FixtureRequest, start_server: Callable[..., Any]) -> Any:
    return start_server(request.param)


# -- raw servers for handshake corner cases ---------------------------------------------


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def read_head(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def request_key(head: bytes) -> str:
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "sec-websocket-key":
            return value.strip()
    raise AssertionError(f"no key in {head!r}")


class RawServer:
    """Accepts connections and hands each to ``respond(conn, request_head)`` in a thread."""

    def __init__(self, respond: Callable[[socket.socket, bytes], None]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/"
        self.respond = respond
        self.heads: queue.Queue[bytes] = queue.Queue()
        self.errors: list[BaseException] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(WAIT)
                try:
                    head = read_head(conn)
                    self.heads.put(head)
                    self.respond(conn, head)
                except Exception as exc:
                    self.errors.append(exc)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(WAIT)
        self.listener.close()
        assert not self.thread.is_alive()


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket, bytes], None]], RawServer]]:
    servers: list[RawServer] = []

    def start(respond: Callable[[socket.socket, bytes], None]) -> RawServer:
        server = RawServer(respond)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
    for server in servers:
        assert not server.errors, server.errors


def response_101(key: str, accept: str | None = None, extra: str = "") -> bytes:
    return (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept or accept_for(key)}\r\n{extra}\r\n"
    ).encode()


def server_frame(opcode: int, payload: bytes) -> bytes:
    assert len(payload) < 126
    return struct.pack("!BB", 0x80 | opcode, len(payload)) + payload


def finish_close(conn: socket.socket) -> None:
    """Read frames until the client's close, answer it and return."""
    buf = b""
    while True:
        chunk = conn.recv(4096)
        if not chunk:
            return
        buf += chunk
        while len(buf) >= 2:
            length = buf[1] & 0x7F
            if len(buf) < 6 + length:
                break
            opcode = buf[0] & 0x0F
            key, payload = buf[2:6], buf[6 : 6 + length]
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            buf = buf[6 + length :]
            if opcode == 0x8:
                conn.sendall(server_frame(0x8, payload[:2]))
                return


# ---------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------


def test_text_binary_empty(echo_server: EchoServer, make_client: Callable[..., Client]) -> None:
    client = make_client(echo_server.url)
    client.connect()
    client.send("héllo wörld")
    message = client.recv()
    assert message.is_text and str(message) == "héllo wörld"
    client.send(b"\x00\x01\xfe\xff", True)  # bytes are text unless binary (0.6.0)
    message = client.recv()
    assert message.is_binary and message.data == b"\x00\x01\xfe\xff"
    client.send(b"", True)
    message = client.recv()
    assert message.is_binary and message.data == b""
    client.send("")
    message = client.recv()
    assert message.is_text and message.data == b""
    client.send(b"bytes as text", False)
    message = client.recv()
    assert message.is_text and str(message) == "bytes as text"
    assert client.order[0] == "opened" and client.opened_count == 1
    client.close()
    assert client.wait_closed()[0] == 1000


def test_16_mib_messages(echo_server: EchoServer, make_client: Callable[..., Client]) -> None:
    client = make_client(echo_server.url)
    client.connect()
    big = os.urandom(16 * MiB)
    client.send(big, True)
    message = client.recv(30)
    assert message.is_binary and len(message.data) == len(big) and message.data == big
    text = "ü" * (8 * MiB)  # 16 MiB of UTF-8
    client.send(text)
    message = client.recv(30)
    assert message.is_text and str(message) == text
    client.close()
    assert client.wait_closed()[0] == 1000


def test_fragmented_sends(echo_server: EchoServer, make_client: Callable[..., Client]) -> None:
    client = make_client(echo_server.url)
    client.connect()
    client.send(iter(["frag", "mé", "nted"]))
    message = client.recv()
    assert message.is_text and str(message) == "fragménted"
    chunks = [os.urandom(70_000) for _ in range(5)]
    client.send(iter(chunks), True)
    message = client.recv()
    assert message.is_binary and message.data == b"".join(chunks)
    client.send(iter([]))
    message = client.recv()
    assert message.is_text and message.data == b""
    client.close()
    assert client.wait_closed()[0] == 1000


def test_many_messages_in_order(
    echo_server: EchoServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(echo_server.url)
    client.connect()
    for i in range(500):
        client.send(f"message {i}")
    for i in range(500):
        assert str(client.recv()) == f"message {i}"
    client.close()
    client.wait_closed()


def test_ping_pong(echo_server: EchoServer, make_client: Callable[..., Client]) -> None:
    client = make_client(echo_server.url)
    client.connect()
    client.ping(b"are you there")
    assert client.pongs.get(timeout=WAIT) == b"are you there"
    client.ping("ünï")
    assert client.pongs.get(timeout=WAIT) == "ünï".encode()
    client.close()
    client.wait_closed()


def test_close_from_client(echo_server: EchoServer, make_client: Callable[..., Client]) -> None:
    client = make_client(echo_server.url)
    client.connect()
    client.send("hi")
    client.recv()
    client.close(4001, "client says bye")
    code, reason = client.wait_closed()
    assert code == 4001
    if echo_server.kind == "websockets":
        assert reason == "client says bye"  # websockets echoes the reason too
    assert echo_server.closes.get(timeout=WAIT) == (4001, "client says bye")
    assert client.terminated and client.sock is None
    with pytest.raises(ConnectionClosedError):
        client.send("after close")


def test_close_from_server(echo_server: EchoServer, make_client: Callable[..., Client]) -> None:
    client = make_client(echo_server.url)
    client.connect()
    client.send("close:4002:server says bye")
    assert client.wait_closed() == (4002, "server says bye")
    assert echo_server.closes.get(timeout=WAIT)[0] == 4002
    assert client.order == ["opened", "closed"]


def test_run_forever_and_join(echo_server: EchoServer, make_client: Callable[..., Client]) -> None:
    client = make_client(echo_server.url)
    assert client.daemon is True
    client.daemon = False
    assert client.daemon is False
    client.connect()
    assert client.join(0.05) is False  # still connected
    client.send("close:1000:done")
    done = threading.Event()

    def forever() -> None:
        client.run_forever()
        done.set()

    runner = threading.Thread(target=forever, daemon=True)
    runner.start()
    assert done.wait(WAIT), "run_forever() did not return once the connection ended"
    runner.join(WAIT)
    assert client.join(0) is True
    assert client.closed_calls == [(1000, "done")]


def test_reconnect_on_the_same_object(
    echo_server: EchoServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(echo_server.url)
    keys = []
    for round_ in range(3):
        client.connect()
        keys.append(client.key)
        client.send(f"round {round_}")
        assert str(client.recv()) == f"round {round_}"
        client.close(1000, f"end of round {round_}")
        assert client.wait_closed()[0] == 1000
        assert echo_server.closes.get(timeout=WAIT) == (1000, f"end of round {round_}")
    assert client.opened_count == 3 and len(client.closed_calls) == 3
    assert len(set(keys)) == 3  # a fresh key for every connection
    # dropped by the server this time, then connected again
    client.connect()
    client.send("close:1001:go away")
    assert client.wait_closed() == (1001, "go away")
    client.connect()
    client.send("again")
    assert str(client.recv()) == "again"


# ---------------------------------------------------------------------------
# Subprotocols and headers
# ---------------------------------------------------------------------------


def test_subprotocol_selected(
    start_server: Callable[..., Any], make_client: Callable[..., Client]
) -> None:
    server = start_server("websockets", subprotocols=["chat", "v2.chat"])
    client = make_client(server.url, protocols=["x-unknown", "v2.chat"])
    client.connect()
    assert client.subprotocol == "v2.chat"
    assert (
        server.requests.get(timeout=WAIT)["sec-websocket-protocol"] == "x-unknown,v2.chat"
    )  # as ws4py 0.6.0
    client.close()
    client.wait_closed()


def test_no_subprotocol_when_server_supports_none(
    start_server: Callable[..., Any], make_client: Callable[..., Client]
) -> None:
    server = start_server("ws4py", protocols=["chat"])
    client = make_client(server.url, protocols=["other"])
    client.connect()
    assert client.subprotocol is None
    client.close()
    client.wait_closed()


def test_server_selecting_unoffered_subprotocol_fails(
    start_server: Callable[..., Any], make_client: Callable[..., Client]
) -> None:
    server = start_server("websockets", select_subprotocol=lambda conn, offered: "evil")
    client = make_client(server.url, protocols=["chat"])
    with pytest.raises(HandshakeError) as info:
        client.connect()
    assert "evil" in str(info.value)
    assert client.opened_count == 0
    assert not client._th.is_alive()


def test_headers_and_exclude_headers(
    echo_server: EchoServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(
        echo_server.url,
        headers=[("X-Custom", "value-1"), ("Authorization", "Bearer t0ken")],
        exclude_headers=["Origin"],
    )
    client.connect()
    seen = echo_server.requests.get(timeout=WAIT)
    assert seen["x-custom"] == "value-1"
    assert seen["authorization"] == "Bearer t0ken"
    assert "origin" not in seen
    port = echo_server.url.split(":")[2].split("/")[0]
    assert seen["host"] == f"127.0.0.1:{port}"
    client.close()
    client.wait_closed()

    plain = make_client(echo_server.url)
    plain.connect()
    seen = echo_server.requests.get(timeout=WAIT)
    assert seen["origin"] == f"http://127.0.0.1:{port}"
    assert "x-custom" not in seen
    plain.close()
    plain.wait_closed()

    custom_origin = make_client(echo_server.url, headers=[("Origin", "https://app.example")])
    custom_origin.connect()
    assert echo_server.requests.get(timeout=WAIT)["origin"] == "https://app.example"


# ---------------------------------------------------------------------------
# Handshake failures
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [403, 404])
def test_non_101_status(
    start_server: Callable[..., Any], make_client: Callable[..., Client], status: int
) -> None:
    def refuse(connection: ServerConnection, request: Any) -> Any:
        return connection.respond(status, "not here\n")

    server = start_server("websockets", process_request=refuse)
    client = make_client(server.url)
    with pytest.raises(HandshakeError) as info:
        client.connect()
    assert info.value.status == status
    assert str(status) in str(info.value) and "101" in str(info.value)
    assert client.opened_count == 0


def test_bad_accept_header(
    raw_server: Callable[..., RawServer], make_client: Callable[..., Client]
) -> None:
    def wrong_accept(conn: socket.socket, head: bytes) -> None:
        conn.sendall(response_101("", accept=base64.b64encode(b"x" * 20).decode()))

    server = raw_server(wrong_accept)
    client = make_client(server.url)
    with pytest.raises(HandshakeError) as info:
        client.connect()
    assert "Sec-WebSocket-Accept" in str(info.value)
    assert client.opened_count == 0


@pytest.mark.parametrize(
    ("response", "words"),
    [
        (b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n", "upgrade"),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
            "accept",
        ),
        (b"SSH-2.0-OpenSSH_9.0\r\n", "http"),
    ],
    ids=["no-upgrade", "no-accept", "not-http"],
)
def test_malformed_responses(
    raw_server: Callable[..., RawServer],
    make_client: Callable[..., Client],
    response: bytes,
    words: str,
) -> None:
    server = raw_server(lambda conn, head: conn.sendall(response + b"\r\n"))
    client = make_client(server.url)
    with pytest.raises(HandshakeError) as info:
        client.connect()
    assert words in str(info.value).lower()


def test_server_closing_during_handshake(
    raw_server: Callable[..., RawServer], make_client: Callable[..., Client]
) -> None:
    server = raw_server(lambda conn, head: conn.sendall(b"HTTP/1.1 101 Swi"))
    client = make_client(server.url)
    with pytest.raises(HandshakeError) as info:
        client.connect()
    assert "closed" in str(info.value)


class ClosingRecorded(Client):
    """Records the socket close_connection() let go, and whether it was still open then."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.let_go: list[tuple[socket.socket, bool]] = []
        super().__init__(url, **kwargs)

    def close_connection(self) -> None:
        sock = self.sock
        if sock is not None:
            self.let_go.append((sock, sock.fileno() != -1))
        super().close_connection()


@pytest.mark.parametrize(
    "answer",
    [b"", b"HTTP/1.1 200 OK\r\n\r\n", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: boom\r\n\r\n"],
    ids=["eof", "status-200", "bad-upgrade"],
)
def test_a_refused_handshake_lets_the_socket_go_through_close_connection(
    raw_server: Callable[..., RawServer], answer: bytes
) -> None:
    """As ws4py 0.6.0 (whose own tests check shutdown and close): an override sees it."""
    peer_saw_eof = queue.Queue[bytes]()

    def respond(conn: socket.socket, head: bytes) -> None:
        conn.sendall(answer)
        if not answer:
            conn.shutdown(socket.SHUT_WR)
        peer_saw_eof.put(conn.recv(1))  # b"": the client shut down/closed its end

    server = raw_server(respond)
    client = ClosingRecorded(server.url)
    with pytest.raises(HandshakeError):
        client.connect()
    assert peer_saw_eof.get(timeout=WAIT) == b""
    assert len(client.let_go) == 1
    sock, was_open = client.let_go[0]
    assert was_open and sock.fileno() == -1
    assert client.sock is None and client.opened_count == 0


def test_a_socket_that_does_not_say_its_family_is_connected_as_given(
    raw_server: Callable[..., RawServer],
) -> None:
    """A duck-typed socket set before connect() is the one connected (0.6.0's mocked tests)."""

    def answer(conn: socket.socket, head: bytes) -> None:
        conn.sendall(response_101(request_key(head)))
        finish_close(conn)

    server = raw_server(answer)
    client = Client(server.url, extensions=[])
    real = socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    class NoFamily:
        """Delegates to a real socket but, like a mock, gives no number for its family."""

        family = None

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    given = cast(socket.socket, NoFamily())
    client.sock = given
    try:
        client.connect()
        assert client.sock is given and real.getpeername() == ("127.0.0.1", server.port)
        client.close()
        assert client.wait_closed()[0] == 1000
    finally:
        client.join(WAIT)
        real.close()


def test_connection_refused(make_client: Callable[..., Client]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))  # bound, never listening: connect is refused
        port = probe.getsockname()[1]
        client = make_client(f"ws://127.0.0.1:{port}/")
        with pytest.raises(ConnectionRefusedError):
            client.connect()
    assert client.opened_count == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/",
        "ftp://127.0.0.1/",
        "127.0.0.1:9000",
        "ws://",
        "ws:///path",
        "ws://127.0.0.1:notaport/",
        "ws://127.0.0.1:70000/",
        "ws+unix://",
    ],
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(ValueError):
        WebSocketClient(url)


def test_url_parsing() -> None:
    client = WebSocketBaseClient("wss://Example.org/chat?room=1")
    try:
        assert (client.scheme, client.host, client.port) == ("wss", "example.org", 443)
        assert client.resource == "/chat?room=1" and client.secure
        assert client.bind_addr == ("example.org", 443)
        request = client.handshake_request.decode()
        assert request.startswith("GET /chat?room=1 HTTP/1.1\r\n")
        assert "Host: example.org:443\r\n" in request  # host:port, as ws4py 0.6.0
        assert "Origin: https://example.org\r\n" in request
    finally:
        client.close_connection()


def test_unresolvable_host_fails_in_connect(make_client: Callable[..., Client]) -> None:
    client = make_client("ws://no-such-host.invalid:9000/")  # constructing does not raise
    with pytest.raises(OSError):
        client.connect()
    assert client.opened_count == 0


# ---------------------------------------------------------------------------
# The classic race: frames sent right behind the 101 response
# ---------------------------------------------------------------------------


def test_frames_sent_with_the_101_are_not_lost(
    raw_server: Callable[..., RawServer], make_client: Callable[..., Client]
) -> None:
    def eager(conn: socket.socket, head: bytes) -> None:
        key = request_key(head)
        conn.sendall(
            response_101(key)
            + server_frame(0x1, b"early bird")
            + server_frame(0x2, b"\x00second")
            + server_frame(0x9, b"ping!")
        )
        finish_close(conn)

    server = raw_server(eager)
    for _ in range(5):  # the race is timing-dependent: try it a few times
        client = make_client(server.url)
        client.connect()
        first, second = client.recv(), client.recv()
        assert first.is_text and str(first) == "early bird"
        assert second.is_binary and second.data == b"\x00second"
        assert client.order[:3] == ["opened", "message", "message"]
        client.close()
        assert client.wait_closed()[0] == 1000


# ---------------------------------------------------------------------------
# ws4py 0.6.0's attributes and hooks (issue #21, rows 14 and 15)
# ---------------------------------------------------------------------------


def test_key_set_before_connect_is_sent_and_checked(
    echo_server: EchoServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(echo_server.url)
    client.key = "x3JJHMbDL1EzLkh9GBhXDw=="  # str or bytes
    assert client.key == b"x3JJHMbDL1EzLkh9GBhXDw=="
    assert b"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n" in client.handshake_request
    client.connect()  # the server's accept is checked against this key
    client.send("keyed")
    assert str(client.recv()) == "keyed"


def test_a_fresh_key_per_connection_unless_one_was_set(
    echo_server: EchoServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(echo_server.url)
    keys = []
    first = client.key
    for _ in range(2):
        client.connect()
        keys.append(client.key)  # the one this connection sent
        client.close()
        client.wait_closed()
    assert keys[0] == first and keys[1] != keys[0]  # a new one drawn by the second connect()
    client.key = keys[0]
    for _ in range(2):
        client.connect()
        assert client.key == keys[0]
        client.close()
        client.wait_closed()


def test_the_unix_socket_recipe_with_a_resource(
    tmp_path: Path, make_client: Callable[..., Client]
) -> None:
    """0.6.0's recipe: ``ws+unix://`` then ``ws.resource = '/ws'`` before connect()."""
    paths: queue.Queue[str] = queue.Queue()

    def record(connection: ServerConnection, request: Any) -> None:
        paths.put(request.path)

    path = str(tmp_path / "app.sock")
    server = WebsocketsServer(unix_path=path, process_request=record)
    try:
        client = make_client(f"ws+unix://{path}")
        assert client.resource == "/" and client.port is None
        client.resource = "/ws?room=1"
        client.connect()
        assert paths.get(timeout=WAIT) == "/ws?room=1"
        client.send("to /ws")
        assert str(client.recv()) == "to /ws"
        client.close()
        client.wait_closed()
    finally:
        server.stop()


def test_host_port_and_url_set_before_connect(
    start_server: Callable[..., Any], make_client: Callable[..., Client]
) -> None:
    first, second = start_server(), start_server()
    client = make_client(first.url)
    client.port = int(second.url.split(":")[2].split("/")[0])  # as 0.6.0: host and port
    client.connect()
    assert second.requests.get(timeout=WAIT)["host"] == f"127.0.0.1:{client.port}"
    assert first.requests.empty()
    client.close()
    client.wait_closed()
    client.url = first.url  # re-parsed: the next connect() goes there
    assert client.port != int(second.url.split(":")[2].split("/")[0])
    client.connect()
    assert first.requests.get(timeout=WAIT)["host"].startswith("127.0.0.1:")
    client.close()
    client.wait_closed()


def test_protocols_after_connect_and_offered_again(
    start_server: Callable[..., Any], make_client: Callable[..., Client]
) -> None:
    server = start_server("websockets", subprotocols=["v2", "v1"])
    client = make_client(server.url, protocols=["v1", "v2"])
    client.connect()
    assert client.subprotocol in ("v1", "v2")
    assert client.protocols == [client.subprotocol]  # as 0.6.0: the server's choice
    assert client.extensions == []
    assert server.requests.get(timeout=WAIT)["sec-websocket-protocol"] == "v1,v2"
    client.close()
    client.wait_closed()
    client.connect()  # reconnecting offers the original list again
    assert server.requests.get(timeout=WAIT)["sec-websocket-protocol"] == "v1,v2"
    client.close()
    client.wait_closed()
    client.protocols = ["v2"]  # a list set by the user is what is offered
    client.connect()
    assert server.requests.get(timeout=WAIT)["sec-websocket-protocol"] == "v2"
    assert client.subprotocol == "v2"


class Hooked(Client):
    """Overrides 0.6.0's hooks: records what they are given, requires a header."""

    def __init__(self, url: str, call_super: bool = True, **kwargs: Any) -> None:
        self.lines: list[bytes] = []
        self.header_blocks: list[bytes] = []
        self.call_super = call_super
        super().__init__(url, **kwargs)

    def process_response_line(self, response_line: bytes) -> None:
        self.lines.append(response_line)
        if self.call_super:
            super().process_response_line(response_line)

    def process_handshake_header(self, headers: bytes) -> tuple[list[str], list[str]]:
        self.header_blocks.append(headers)
        if b"x-session" not in headers.lower():
            raise HandshakeError("the server did not give a session")
        if self.call_super:
            return super().process_handshake_header(headers)
        return [], []


def test_response_hooks(raw_server: Callable[..., RawServer]) -> None:
    def answer(conn: socket.socket, head: bytes) -> None:
        extra = "X-Session: 42\r\n" if b"/with-session" in head else ""
        conn.sendall(response_101(request_key(head), extra=extra))
        finish_close(conn)

    server = raw_server(answer)
    client = Hooked(server.url + "with-session")
    try:
        client.connect()
        assert client.lines == [b"HTTP/1.1 101 Switching Protocols"]
        assert b"X-Session: 42" in client.header_blocks[0]
        deadline = time.monotonic() + WAIT
        while client.opened_count != 1 and time.monotonic() < deadline:
            time.sleep(0.01)  # opened() runs in the thread connect() started
        assert client.opened_count == 1
        client.close()
        client.wait_closed()
    finally:
        client.close_connection()
    refused = Hooked(server.url + "without")
    with pytest.raises(HandshakeError, match="session"):
        refused.connect()
    assert refused.opened_count == 0 and not refused._th.is_alive()


def test_hooks_overridden_without_super_still_check_the_response(
    raw_server: Callable[..., RawServer],
) -> None:
    def answer(conn: socket.socket, head: bytes) -> None:
        wrong = base64.b64encode(b"y" * 20).decode()
        if b"/bad-accept" in head:
            conn.sendall(response_101("", accept=wrong, extra="X-Session: 1\r\n"))
        else:
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nX-Session: 1\r\n\r\n")

    server = raw_server(answer)
    for path, words in (("bad-accept", "Sec-WebSocket-Accept"), ("forbidden", "403")):
        client = Hooked(server.url + path, call_super=False)
        with pytest.raises(HandshakeError, match=words):
            client.connect()
        assert client.lines and client.opened_count == 0


# ---------------------------------------------------------------------------
# Transports: unix sockets, IPv6, TLS
# ---------------------------------------------------------------------------


def test_unix_socket(
    tmp_path: Path, start_server: Callable[..., Any], make_client: Callable[..., Client]
) -> None:
    path = str(tmp_path / "ws.sock")
    server = start_server("websockets", unix_path=path)
    client = make_client(server.url)
    assert client.unix_socket_path == path and client.bind_addr == path
    client.connect()
    assert client.sock is not None and client.sock.family == socket.AF_UNIX
    client.send("over unix")
    assert str(client.recv()) == "over unix"
    assert server.requests.get(timeout=WAIT)["host"] == "localhost"
    client.close(1000, "unix bye")
    assert client.wait_closed()[0] == 1000
    assert server.closes.get(timeout=WAIT) == (1000, "unix bye")


def ipv6_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_ipv6(start_server: Callable[..., Any], make_client: Callable[..., Client]) -> None:
    if not ipv6_available():
        # No ::1 here: then the client must fail with an OSError, not hang or misparse.
        client = make_client("ws://[::1]:9/")
        assert client.host == "::1"
        with pytest.raises(OSError):
            client.connect()
        return
    server = start_server("websockets", host="::1")
    client = make_client(server.url)
    assert client.host == "::1"
    client.connect()
    assert client.sock is not None and client.sock.family == socket.AF_INET6
    client.send("over ipv6")
    assert str(client.recv()) == "over ipv6"
    port = server.url.rsplit(":", 1)[1].split("/")[0]
    assert server.requests.get(timeout=WAIT)["host"] == f"[::1]:{port}"
    client.close()
    assert client.wait_closed()[0] == 1000


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def tls_server(ca: trustme.CA, start_server: Callable[..., Any]) -> Any:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(context)
    server = start_server("websockets", ssl=context)
    server.port = int(server.url.split(":")[2].split("/")[0])
    return server


def test_wss_verifies_by_default(tls_server: Any, make_client: Callable[..., Client]) -> None:
    client = make_client(f"wss://localhost:{tls_server.port}/")
    with pytest.raises((ssl.SSLCertVerificationError, HandshakeError)) as info:
        client.connect()
    error = info.value
    if isinstance(error, HandshakeError):
        assert isinstance(error.__cause__, ssl.SSLCertVerificationError)
    assert client.opened_count == 0


def test_wss_with_ca_certs(
    tls_server: Any, ca_file: str, make_client: Callable[..., Client]
) -> None:
    client = make_client(f"wss://localhost:{tls_server.port}/", ssl_options={"ca_certs": ca_file})
    client.connect()
    assert isinstance(client.sock, ssl.SSLSocket)
    client.send("secure hello")
    assert str(client.recv()) == "secure hello"
    big = os.urandom(3 * MiB)
    client.send(big, True)
    assert client.recv().data == big
    client.close(1000, "tls bye")
    assert client.wait_closed()[0] == 1000
    assert tls_server.closes.get(timeout=WAIT) == (1000, "tls bye")


def test_ssl_options_set_before_connect(
    tls_server: Any, ca_file: str, make_client: Callable[..., Client]
) -> None:
    """As 0.6.0 read them in connect(): set after the constructor, they count."""
    client = make_client(f"wss://localhost:{tls_server.port}/")
    with pytest.raises(ssl.SSLCertVerificationError):
        client.connect()  # verified by default: an unknown CA
    client.ssl_options = {"ca_certs": ca_file}
    client.connect()
    assert isinstance(client.sock, ssl.SSLSocket)
    client.send("trusted now")
    assert str(client.recv()) == "trusted now"
    client.close()
    assert client.wait_closed()[0] == 1000


def test_wss_with_ssl_context(
    tls_server: Any, ca: trustme.CA, make_client: Callable[..., Client]
) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    client = make_client(f"wss://localhost:{tls_server.port}/", ssl_options=context)
    client.connect()
    client.send(b"context")
    assert client.recv().data == b"context"
    client.close()
    client.wait_closed()


def test_wss_host_name_is_checked(
    tls_server: Any, ca_file: str, make_client: Callable[..., Client]
) -> None:
    # The certificate names "localhost", not 127.0.0.1: refused even with a trusted CA...
    client = make_client(f"wss://127.0.0.1:{tls_server.port}/", ssl_options={"ca_certs": ca_file})
    with pytest.raises((ssl.SSLCertVerificationError, HandshakeError)):
        client.connect()
    # ...unless verification is turned off explicitly.
    lax = make_client(
        f"wss://127.0.0.1:{tls_server.port}/", ssl_options={"cert_reqs": ssl.CERT_NONE}
    )
    lax.connect()
    lax.send("unverified")
    assert str(lax.recv()) == "unverified"
    lax.close()
    lax.wait_closed()


def test_wss_against_a_plain_server(
    start_server: Callable[..., Any], make_client: Callable[..., Client]
) -> None:
    server = start_server("ws4py")
    client = make_client(
        server.url.replace("ws://", "wss://"), ssl_options={"cert_reqs": ssl.CERT_NONE}
    )
    started = time.monotonic()
    with pytest.raises((OSError, HandshakeError)):
        client.connect()
    assert time.monotonic() - started < WAIT
