"""Scenarios for ws4py.client: WebSocketBaseClient and the threaded client, beside ws4py 0.6.0.

Run in both interpreters: ``ws4py`` is imported inside each function.  The
network is a :class:`FakeSocket` (what the classic unit tests used: a mocked
socket), installed the same way on both sides by patching ``socket.socket``
and ``socket.getaddrinfo`` for the duration of a scenario, so the client's
own socket calls are what is observed: the address connected to, the bytes
written, the response read, whether the socket was closed.  The handshake key
is set (``ws.key``) so the request and the expected ``Sec-WebSocket-Accept``
are the same on both sides.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from differential.common import exception_name, outcome, plain

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WAIT = 5.0


def accept(key: bytes = KEY) -> str:
    return base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()


def response(
    status: str = "101 Switching Protocols",
    headers: list[tuple[str, str]] | None = None,
    key: bytes = KEY,
) -> bytes:
    """A response head; ``headers`` None: the RFC's three, with the right accept."""
    if headers is None:
        headers = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept(key)),
        ]
    lines = [f"HTTP/1.1 {status}"] + [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class FakeSocket:
    """A duck-typed socket: ``recv`` hands out ``incoming`` chunk by chunk, then EOF.

    Records ``connected`` (addresses), ``sent`` (bytes), ``closed``.
    """

    def __init__(self, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM,
                 proto: int = 0, *_: Any) -> None:  # fmt: skip
        self.family = family
        self.type = kind
        self.proto = proto
        self.incoming: list[bytes] = []
        self.connected: list[Any] = []
        self.sent = bytearray()
        self.closed = False
        self.lock = threading.Lock()

    network: Network | None = None

    def connect(self, address: Any) -> None:
        self.connected.append(address)
        if self.network is not None:
            self.network.connect_hook(self)

    def _next(self, size: int) -> bytes:
        with self.lock:
            if not self.incoming:
                return b""
            chunk = self.incoming[0]
            self.incoming[0] = chunk[size:]
            if not self.incoming[0]:
                self.incoming.pop(0)
            return chunk[:size]

    def recv(self, size: int, *_: Any) -> bytes:
        return self._next(size)

    def recv_into(self, buffer: Any, size: int = 0, *_: Any) -> int:
        data = self._next(size or len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def sendall(self, data: Any, *_: Any) -> None:
        self.sent += bytes(data)

    def send(self, data: Any, *_: Any) -> int:
        self.sent += bytes(data)
        return len(data)

    def close(self) -> None:
        self.closed = True

    def shutdown(self, how: int) -> None:
        pass

    def settimeout(self, timeout: Any) -> None:
        pass

    def gettimeout(self) -> Any:
        return None

    def setblocking(self, flag: bool) -> None:
        pass

    def setsockopt(self, *args: Any) -> None:
        pass

    def getsockopt(self, *args: Any) -> int:
        return 0

    def getpeername(self) -> Any:
        return ("127.0.0.1", 9000)

    def getsockname(self) -> Any:
        return ("127.0.0.1", 50000)

    def fileno(self) -> int:
        return -1


class Network:
    """Every socket the client makes, each fed ``incoming`` (or the next of ``then``)."""

    def __init__(self, incoming: list[bytes], then: list[list[bytes]] | None = None) -> None:
        self.incoming = incoming
        self.then = list(then or [])
        self.sockets: list[FakeSocket] = []

    def socket(self, *args: Any, **kwargs: Any) -> FakeSocket:
        sock = FakeSocket(*args)
        sock.incoming = list(self.incoming)
        sock.network = self
        self.sockets.append(sock)
        return sock

    def connect_hook(self, sock: FakeSocket) -> None:
        """A socket that connects after the first one gets the next scripted answer."""
        if sum(1 for s in self.sockets if s.connected) > 1 and self.then:
            sock.incoming = list(self.then.pop(0))

    @staticmethod
    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        family = socket.AF_INET6 if ":" in str(host) else socket.AF_INET
        address = (host, port, 0, 0) if family == socket.AF_INET6 else (host, port)
        return [(family, socket.SOCK_STREAM, 6, "", address)]

    def connected(self) -> list[Any]:
        return [address for sock in self.sockets for address in sock.connected]

    def sent(self) -> bytes:
        return b"".join(bytes(sock.sent) for sock in self.sockets)

    def used(self) -> FakeSocket:
        """The socket that was connected (the others were made and dropped)."""
        return next(sock for sock in self.sockets if sock.connected)


@contextmanager
def network(incoming: list[bytes], then: list[list[bytes]] | None = None) -> Iterator[Network]:
    net = Network(incoming, then)
    with mock.patch("socket.socket", net.socket), mock.patch("socket.getaddrinfo", net.getaddrinfo):
        yield net


def _client(url: str, cls: Any = None, **kwargs: Any) -> Any:
    from ws4py.client import WebSocketBaseClient

    return (cls or WebSocketBaseClient)(url, **kwargs)


def _wait(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


# ---------------------------------------------------------------------------
# URLs
# ---------------------------------------------------------------------------


def parse_url(url: str) -> Any:
    """What a client made from ``url`` exposes: scheme, host, port, resource, socket path."""

    def make() -> Any:
        ws = _client(url)
        return {
            "scheme": ws.scheme,
            "host": ws.host,
            "port": ws.port,
            "resource": ws.resource,
            "unix_socket_path": ws.unix_socket_path,
            "bind_addr": ws.bind_addr,
            "url": ws.url,
            "is_unix_socket": ws.sock.family == socket.AF_UNIX,
        }

    with network([]):
        return outcome(make)


# ---------------------------------------------------------------------------
# The request
# ---------------------------------------------------------------------------


def handshake_request(url: str, **kwargs: Any) -> Any:
    """The request head of a client made with ``kwargs``, its key set to ``KEY``."""
    with network([]):
        ws = _client(url, **kwargs)
        ws.key = KEY
        return {
            "request": ws.handshake_request,
            "headers": [tuple(pair) for pair in ws.handshake_headers],
        }


def attributes_set_before_connect(url: str, changes: dict[str, Any]) -> Any:
    """Row 14: attributes set between the constructor and connect() are what connect() uses."""
    with network([response(key=bytes(changes.get("key", KEY)))]) as net:
        ws = _client(url, extensions=[])
        ws.key = KEY
        for name, value in changes.items():
            setattr(ws, name, value)
        result = outcome(ws.connect)
        return {"outcome": result, "connected": net.connected(), "sent": net.sent()}


# ---------------------------------------------------------------------------
# connect() and the response
# ---------------------------------------------------------------------------


class _Recording:
    """Mixed into the client: records handler and hook calls."""

    def record(self, *event: Any) -> None:
        self.__dict__.setdefault("events", []).append(event)

    def opened(self) -> None:
        self.record("opened")

    def closed(self, code: int, reason: Any = None) -> None:
        self.record("closed", code)


def _recording_base() -> Any:
    from ws4py.client import WebSocketBaseClient

    class Recording(_Recording, WebSocketBaseClient):
        pass

    return Recording


def connect(incoming: list[bytes], url: str = "ws://127.0.0.1:9000/ws", **kwargs: Any) -> Any:
    """connect() against a peer answering ``incoming``: what was sent, raised, closed, opened."""
    with network(incoming) as net:
        ws = _client(url, cls=_recording_base(), extensions=[], **kwargs)
        ws.key = KEY
        result = outcome(ws.connect)
        sock = net.used()
        return {
            "outcome": result,
            "connected": net.connected(),
            "sent": net.sent(),
            "socket_closed": sock.closed,
            "events": ws.__dict__.get("events", []),
        }


def negotiated(incoming: list[bytes], protocols: list[str]) -> Any:
    """``protocols`` / ``extensions`` after connect(), as text (0.6.0 has lowercased bytes)."""
    with network(incoming):
        ws = _client("ws://127.0.0.1:9000/", protocols=protocols, extensions=[])
        ws.key = KEY
        result = outcome(ws.connect)

        def text(values: Any) -> Any:
            if values is None:
                return None
            return [v.decode() if isinstance(v, bytes) else v for v in values]

        return {
            "outcome": result,
            "protocols": text(ws.protocols),
            "extensions": text(ws.extensions),
            "types": sorted({type(v).__name__ for v in list(ws.protocols or [])}),
        }


def hooks(incoming: list[bytes], call_super: bool) -> Any:
    """Row 15: process_response_line / process_handshake_header are called, with the bytes."""
    from ws4py.client import WebSocketBaseClient

    seen: list[Any] = []

    class Hooked(WebSocketBaseClient):
        def process_response_line(self, response_line: bytes) -> None:
            seen.append(("line", response_line))
            if call_super:
                super().process_response_line(response_line)

        def process_handshake_header(self, headers: bytes) -> Any:
            seen.append(("headers", headers))
            if call_super:
                return super().process_handshake_header(headers)
            return [], []

    with network(incoming):
        ws = Hooked("ws://127.0.0.1:9000/", extensions=[])
        ws.key = KEY
        result = outcome(ws.connect)
        return {"outcome": result, "seen": seen}


def hook_raises(incoming: list[bytes]) -> Any:
    """An override that raises HandshakeError refuses the connection, as in 0.6.0."""
    from ws4py.client import WebSocketBaseClient
    from ws4py.exc import HandshakeError

    class Picky(WebSocketBaseClient):
        def process_handshake_header(self, headers: bytes) -> Any:
            if b"x-required" not in headers.lower():
                raise HandshakeError("no X-Required header")
            return super().process_handshake_header(headers)

    with network(incoming) as net:
        ws = Picky("ws://127.0.0.1:9000/", extensions=[])
        ws.key = KEY
        result = outcome(ws.connect)
        return {"outcome": result, "socket_closed": net.used().closed}


def request_override(extra: list[tuple[str, str]]) -> Any:
    """A subclass overriding the ``handshake_headers`` property changes what is sent."""
    from ws4py.client import WebSocketBaseClient

    class Custom(WebSocketBaseClient):
        @property
        def handshake_headers(self) -> Any:
            return list(super().handshake_headers) + extra

    with network([response()]) as net:
        ws = Custom("ws://127.0.0.1:9000/", extensions=[])
        ws.key = KEY
        result = outcome(ws.connect)
        return {"outcome": result, "sent": net.sent()}


# ---------------------------------------------------------------------------
# The threaded client
# ---------------------------------------------------------------------------


def threaded_connect(incoming: list[bytes]) -> Any:
    """The thread starts once connected, runs the connection, ends at EOF."""
    from ws4py.client.threadedclient import WebSocketClient

    class Recording(_Recording, WebSocketClient):
        def received_message(self, message: Any) -> None:
            self.record("message", plain(message.data))

    with network(incoming):
        ws = Recording("ws://127.0.0.1:9000/", extensions=[])
        ws.key = KEY
        before = ws._th.is_alive() or ws._th.ident is not None
        try:
            ws.connect()
        except Exception as exc:
            return {"raised": exception_name(exc), "started": ws._th.ident is not None}
        started = ws._th.ident is not None
        ended = _wait(lambda: not ws._th.is_alive())
        return {
            "started_before_connect": before,
            "started": started,
            "ended": ended,
            "daemon": ws.daemon,
            "events": ws.__dict__.get("events", []),
            "terminated": ws.terminated,
        }


def tls_connect(port: int, ssl_options: dict[str, Any] | None) -> Any:
    """A threaded client over TLS to a real loopback server: connects, and its thread starts."""
    from ws4py.client.threadedclient import WebSocketClient

    class Recording(_Recording, WebSocketClient):
        def opened(self) -> None:
            super().opened()
            self.send("hi")  # the server answers it: nothing comes with the 101

        def received_message(self, message: Any) -> None:
            self.record("message", plain(message.data))
            self.close()

    kwargs: dict[str, Any] = {"extensions": []}
    if ssl_options is not None:
        kwargs["ssl_options"] = ssl_options
    ws = Recording(f"wss://localhost:{port}/", **kwargs)
    try:
        ws.connect()
    except Exception as exc:
        ws.close_connection()
        return {"raised": exception_name(exc)}
    started = ws._th.ident is not None
    ended = _wait(lambda: not ws._th.is_alive())
    return {"started": started, "ended": ended, "events": ws.__dict__.get("events", [])}


# ---------------------------------------------------------------------------
# Row 16: the names 0.6.0's client and server modules had
# ---------------------------------------------------------------------------


def module_names(module: str) -> list[str]:
    """The public names of ``module`` that are not modules themselves."""
    import importlib
    import types

    namespace = vars(importlib.import_module(module))
    return sorted(
        name
        for name, value in namespace.items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    )


def get_connection_in_a_wsgi_app() -> dict[str, Any]:
    """``wsgirefserver.get_connection(environ['wsgi.input'])`` in an application of the
    classic wsgiref recipe is the connection's socket."""
    from wsgiref.simple_server import make_server

    from ws4py.server.wsgirefserver import (
        WebSocketWSGIRequestHandler,
        WSGIServer,
        get_connection,
    )

    found: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        sock = get_connection(environ["wsgi.input"])
        found["peer"] = sock.getpeername()
        found["is_ws4py_socket"] = sock is environ.get("ws4py.socket", sock)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    server = make_server(
        "127.0.0.1", 0, app, server_class=WSGIServer, handler_class=WebSocketWSGIRequestHandler
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        with socket.create_connection(server.server_address[:2], timeout=WAIT) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b""
            while not answer.endswith(b"ok"):
                chunk = client.recv(4096)
                if not chunk:
                    break
                answer += chunk
            mine = client.getsockname()
    finally:
        server.shutdown()
        thread.join(WAIT)
        server.server_close()
    return {
        "status": answer.split(b"\r\n", 1)[0],
        "peer_is_the_client": found.get("peer") == mine,
        "is_ws4py_socket": found.get("is_ws4py_socket"),
    }


def mocked_socket_module(url: str, answer_key: bool) -> dict[str, Any]:
    """0.6.0's own unit-test style: ``ws4py.client.socket`` patched with a MagicMock.

    The mock's ``getaddrinfo`` answers a 4-tuple address, ``recv`` the same
    response forever; then ``close(code, reason)`` writes a masked close frame.
    """
    import ws4py.client
    from ws4py.client import WebSocketBaseClient
    from ws4py.framing import Frame

    with mock.patch("ws4py.client.socket") as module:
        sock = mock.MagicMock()
        module.socket.return_value = sock
        module.getaddrinfo.return_value = [
            (socket.AF_INET, socket.SOCK_STREAM, 0, "", ("127.0.0.1", 80, 0, 0))
        ]
        ws = WebSocketBaseClient(url, extensions=[])
        key = ws.key if answer_key else b"not the key"
        sock.recv.return_value = response(key=key)
        result = outcome(ws.connect)
        out: dict[str, Any] = {
            "outcome": result,
            "connect_calls": [tuple(call.args) for call in sock.connect.call_args_list],
            "module_patched": ws4py.client.socket is module,
        }
        if result[0] == "ok":
            sock.reset_mock()
            ws.close(code=1000, reason="boom")
            frame = Frame()
            data = sock.sendall.call_args_list[0].args[0]
            frame.parser.send(bytes(data))
            out["close_frame"] = {
                "fin": frame.fin,
                "opcode": frame.opcode,
                "masked": frame.masking_key is not None,
                "body": plain(frame.unmask(frame.body)),
            }
        return out


def refused_over_a_mocked_socket_module(answer: str) -> dict[str, Any]:
    """A refused handshake over 0.6.0's unit-test mocks: how the socket is let go.

    ``answer``: ``"empty"`` (EOF), ``"status-200"``, ``"upgrade"`` or
    ``"connection"`` (a wrong value), ``"accept"`` (a wrong key).  The mocked
    socket's ``shutdown`` and ``close`` calls are recorded: 0.6.0 calls
    ``close_connection()``, which shuts the socket down (``SHUT_RDWR`` of the
    real module) and closes it, once.
    """
    from ws4py.client import WebSocketBaseClient

    with mock.patch("ws4py.client.socket") as module:
        sock = mock.MagicMock()
        module.socket.return_value = sock
        module.getaddrinfo.return_value = [
            (socket.AF_INET, socket.SOCK_STREAM, 0, "", ("127.0.0.1", 80, 0, 0))
        ]
        ws = WebSocketBaseClient("ws://127.0.0.1/", extensions=[])
        right = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept(ws.key)),
        ]
        answers = {
            "empty": b"",
            "status-200": response("200 OK", right),
            "upgrade": response(headers=[("Upgrade", "boom"), *right[1:]]),
            "connection": response(headers=[right[0], ("Connection", "bim"), right[2]]),
            "accept": response(key=b"not the key"),
        }
        sock.recv.return_value = answers[answer]
        result = outcome(ws.connect)
        return {
            "outcome": result,
            "connect_calls": [tuple(call.args) for call in sock.connect.call_args_list],
            "shutdown_calls": [tuple(call.args) for call in sock.shutdown.call_args_list],
            "shut_rdwr": socket.SHUT_RDWR,
            "close_calls": [tuple(call.args) for call in sock.close.call_args_list],
        }


def socket_mocked_at_init_only() -> dict[str, Any]:
    """0.6.0's threaded-client unit tests: ``socket.socket`` mocked while the client is made only.

    connect() then resolves for real but connects the socket made in
    ``__init__`` (a ``MagicMock(spec=socket.socket)``, whose ``family`` is no
    number): 0.6.0 connected that very socket.
    """
    from ws4py.client import WebSocketBaseClient

    sock = mock.MagicMock(spec=socket.socket)
    with mock.patch("ws4py.client.socket") as module:
        module.socket.return_value = sock
        module.getaddrinfo.return_value = [
            (socket.AF_INET, socket.SOCK_STREAM, 0, "", ("127.0.0.1", 80, 0, 0))
        ]
        ws = WebSocketBaseClient("ws://127.0.0.1/", extensions=[])
    sock.recv.return_value = response(key=ws.key)
    result = outcome(ws.connect)
    return {
        "outcome": result,
        "connect_calls": [tuple(call.args) for call in sock.connect.call_args_list],
        "close_calls": len(sock.close.call_args_list),
        "sent_request": bool(sock.sendall.call_args_list or sock.send.call_args_list),
    }


def redirected(status: int, max_redirects: int | None) -> dict[str, Any]:
    """A redirect answered to the upgrade: 0.6.0 refused it; ours follows it (``max_redirects``).

    ``max_redirects`` None leaves the attribute alone (0.6.0 has none).
    """
    first = f"HTTP/1.1 {status} Moved\r\nLocation: ws://127.0.0.1:9001/new\r\n\r\n".encode()
    with network([first], then=[[response()]]) as net:
        ws = _client("ws://127.0.0.1:9000/old", extensions=[])
        ws.key = KEY
        if max_redirects is not None:
            ws.max_redirects = max_redirects
        result = outcome(ws.connect)
        return {
            "outcome": result,
            "connected": net.connected(),
            "requests": [
                bytes(sock.sent).split(b"\r\n", 1)[0] for sock in net.sockets if sock.sent
            ],
        }


def environment_proxy(proxy_false: bool) -> dict[str, Any]:
    """``HTTP_PROXY`` in the environment: 0.6.0 ignored it, ours tunnels through it.

    ``proxy_false`` sets ``ws.proxy = False`` (ours: no proxy; 0.6.0 has no such attribute).
    """
    import os

    answers = [b"HTTP/1.1 200 Connection established\r\n\r\n", response()]
    env = {"HTTP_PROXY": "http://127.0.0.1:3128", "http_proxy": "http://127.0.0.1:3128"}
    drop = ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
    saved = {name: os.environ.pop(name) for name in drop if name in os.environ}
    try:
        with mock.patch.dict(os.environ, env), network(answers) as net:
            ws = _client("ws://127.0.0.1:9000/", extensions=[])
            ws.key = KEY
            if proxy_false:
                ws.proxy = False
            result = outcome(ws.connect)
            return {
                "outcome": result[0],
                "connected": net.connected(),
                "first_line": net.sent().split(b"\r\n", 1)[0],
            }
    finally:
        os.environ.update(saved)
