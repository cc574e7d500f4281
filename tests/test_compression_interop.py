"""permessage-deflate between ws4py and the ``websockets`` library over real loopback sockets.

* our server (``make_server``, both websocket modes) with the ``websockets``
  sync client, compression on by default on both sides;
* our threaded client (:class:`ws4py.client.threadedclient.WebSocketClient`)
  with a ``websockets`` sync server.

Each direction is checked with large compressible text, incompressible bytes
(``os.urandom``), small messages and fragmented messages, byte for byte, and
with the ``*_no_context_takeover`` variants.  The extension objects on our
side count the compressed frames they saw, so a test fails if compression
silently did not happen.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.sync.client import connect
from websockets.sync.server import ServerConnection, serve

from ws4py.client.threadedclient import WebSocketClient
from ws4py.extensions import ExtensionParams
from ws4py.extensions.permessage_deflate import (
    ClientPerMessageDeflate,
    PerMessageDeflate,
    ServerPerMessageDeflate,
)
from ws4py.messaging import Message
from ws4py.server.wsgirefserver import make_server
from ws4py.websocket import EchoWebSocket

pytestmark = pytest.mark.timeout(120)

WAIT = 30.0
MiB = 1024 * 1024
BIG_TEXT = ("All work and no play makes Jack a dull boy. " * 130000)[: 5 * MiB]


def payloads() -> list[str | bytes]:
    return [
        "hello",
        BIG_TEXT,
        os.urandom(2 * MiB),
        b"\x00" * (3 * MiB),
        '{"small": "json", "n": 1}' * 4,
        os.urandom(100),
        "ünïcödé ✓ " * 5000,
        b"",
    ]


class Counted:
    """Counts what a :class:`PerMessageDeflate` really compressed and inflated."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent_compressed = 0
        self.received_compressed = 0
        self.extensions: list[PerMessageDeflate] = []

    def wrap(self, ext: PerMessageDeflate) -> PerMessageDeflate:
        encode, decode = ext.encode_message, ext.decode_frame

        def encode_message(opcode: int, payload: bytes) -> tuple[int, bytes]:
            rsv, data = encode(opcode, payload)
            if rsv:
                with self.lock:
                    self.sent_compressed += 1
            return rsv, data

        def decode_frame(
            opcode: int, rsv: int, payload: bytes, fin: bool, max_size: int | None
        ) -> bytes:
            if rsv & 0x40:
                with self.lock:
                    self.received_compressed += 1
            return decode(opcode, rsv, payload, fin, max_size)

        ext.encode_message = encode_message  # type: ignore[method-assign]
        ext.decode_frame = decode_frame  # type: ignore[method-assign]
        with self.lock:
            self.extensions.append(ext)
        return ext


class CountedServerFactory(ServerPerMessageDeflate):
    def __init__(self, counted: Counted, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.counted = counted

    def accept(
        self, offers: list[ExtensionParams]
    ) -> tuple[ExtensionParams, PerMessageDeflate] | None:
        outcome = super().accept(offers)
        if outcome is None:
            return None
        response, ext = outcome
        return response, self.counted.wrap(ext)


class CountedClientFactory(ClientPerMessageDeflate):
    def __init__(self, counted: Counted, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.counted = counted

    def accept(self, params: ExtensionParams) -> PerMessageDeflate:
        return self.counted.wrap(super().accept(params))


# ---------------------------------------------------------------------------
# Our server, the websockets client
# ---------------------------------------------------------------------------


class BigEcho(EchoWebSocket):
    max_message_size = 64 * MiB
    max_write_buffer = 64 * MiB


@pytest.fixture
def ws4py_server() -> Iterator[Callable[..., int]]:
    servers: list[Any] = []

    def start(mode: str = "manager", **app_options: Any) -> int:
        server = make_server("127.0.0.1", 0, BigEcho, websocket_mode=mode, **app_options)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return int(server.server_address[1])

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)


def echo_through_websockets_client(port: int, **client_options: Any) -> str:
    """Echo every payload through our server; return the negotiated extension header."""
    with connect(
        f"ws://127.0.0.1:{port}/", max_size=None, open_timeout=WAIT, **client_options
    ) as ws:
        header = ws.response.headers.get("Sec-WebSocket-Extensions")
        for payload in payloads():
            ws.send(payload)
            assert ws.recv(timeout=WAIT) == payload
        # A fragmented message: websockets compresses it as one message, RSV1
        # on its first frame only.
        ws.send(["fragment one ✓ " * 1000, "fragment two " * 1000, "three"])
        assert ws.recv(timeout=WAIT) == "fragment one ✓ " * 1000 + "fragment two " * 1000 + "three"
        ws.send([b"\x01" * 70000, os.urandom(70000)[:10], b"\x02" * 5])
        echoed = ws.recv(timeout=WAIT)
        assert isinstance(echoed, bytes) and len(echoed) == 70015
    return str(header)


@pytest.mark.parametrize("mode", ["manager", "thread"])
def test_our_server_compresses_by_default_with_websockets(
    ws4py_server: Callable[..., int], mode: str
) -> None:
    counted = Counted()
    port = ws4py_server(mode, extensions=[CountedServerFactory(counted)])
    header = echo_through_websockets_client(port)
    assert header.startswith("permessage-deflate")
    assert "server_max_window_bits=12" in header
    assert len(counted.extensions) == 1
    assert counted.received_compressed >= 6 and counted.sent_compressed >= 5


def test_our_server_default_app_negotiates(ws4py_server: Callable[..., int]) -> None:
    port = ws4py_server()  # no extensions argument: the default
    header = echo_through_websockets_client(port)
    assert header == "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"


def test_our_server_with_compression_off(ws4py_server: Callable[..., int]) -> None:
    port = ws4py_server(extensions=[])
    assert echo_through_websockets_client(port) == "None"


@pytest.mark.parametrize(
    ("server_options", "client_options", "expected"),
    [
        (
            {"server_no_context_takeover": True},
            {},
            "server_no_context_takeover",
        ),
        (
            {"client_no_context_takeover": True},
            {},
            "client_no_context_takeover",
        ),
        (
            {},
            {"server_no_context_takeover": True, "client_no_context_takeover": True},
            "server_no_context_takeover; client_no_context_takeover",
        ),
        (
            {"server_max_window_bits": None, "client_max_window_bits": None},
            {"server_max_window_bits": 10, "client_max_window_bits": 9},
            "server_max_window_bits=10; client_max_window_bits=9",
        ),
    ],
)
def test_our_server_context_takeover_variants(
    ws4py_server: Callable[..., int],
    server_options: dict[str, Any],
    client_options: dict[str, Any],
    expected: str,
) -> None:
    counted = Counted()
    port = ws4py_server(extensions=[CountedServerFactory(counted, **server_options)])
    factory = ClientPerMessageDeflateFactory(**client_options)
    header = echo_through_websockets_client(port, compression=None, extensions=[factory])
    assert expected in header
    (ext,) = counted.extensions
    if "server_no_context_takeover" in expected:
        assert ext.server_no_context_takeover
    if "client_no_context_takeover" in expected:
        assert ext.client_no_context_takeover
    assert counted.received_compressed >= 6 and counted.sent_compressed >= 5


# ---------------------------------------------------------------------------
# Our threaded client, the websockets server
# ---------------------------------------------------------------------------


class QueueClient(WebSocketClient):
    max_message_size = 64 * MiB

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.messages: queue.Queue[Message] = queue.Queue()
        self.done = threading.Event()

    def received_message(self, message: Message) -> None:
        self.messages.put(message)

    def closed(self, code: int, reason: str | None = None) -> None:
        self.done.set()


@pytest.fixture
def websockets_server() -> Iterator[Callable[..., tuple[int, list[Any]]]]:
    servers: list[Any] = []

    def start(**options: Any) -> tuple[int, list[Any]]:
        seen: list[Any] = []

        def handler(ws: ServerConnection) -> None:
            assert ws.response is not None
            seen.append(ws.response.headers.get("Sec-WebSocket-Extensions"))
            for message in ws:
                ws.send(message)

        server = serve(handler, "127.0.0.1", 0, max_size=None, **options)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return int(server.socket.getsockname()[1]), seen

    yield start
    for server, thread in servers:
        server.shutdown()
        thread.join(WAIT)


def echo_through_our_client(port: int, **client_options: Any) -> QueueClient:
    ws = QueueClient(f"ws://127.0.0.1:{port}/", **client_options)
    ws.connect()
    try:
        for payload in payloads():
            ws.send(payload, not isinstance(payload, str))
            message = ws.messages.get(timeout=WAIT)
            if isinstance(payload, str):
                assert message.is_text and message.data == payload.encode()  # type: ignore[attr-defined]
            else:
                assert message.is_binary and message.data == payload  # type: ignore[attr-defined]
        ws.send(iter(["our fragments ", "are sent ", "uncompressed"]))
        assert ws.messages.get(timeout=WAIT).data == b"our fragments are sent uncompressed"
    finally:
        ws.close()
        assert ws.done.wait(WAIT)
    return ws


def test_our_client_compresses_by_default_with_websockets(
    websockets_server: Callable[..., tuple[int, list[Any]]],
) -> None:
    port, seen = websockets_server()  # websockets: compression="deflate" by default
    ws = echo_through_our_client(port)
    assert seen[0] is not None and seen[0].startswith("permessage-deflate")
    assert ws.response_headers is not None
    (ext,) = [e for e in ws.extension_objects if isinstance(e, PerMessageDeflate)]
    assert ext.server_max_window_bits == 12 and ext.client_max_window_bits == 12
    # The classic attribute: the negotiated extension as its header string.
    assert ws.extensions == [str(ext)] and ws.extensions[0].startswith("permessage-deflate")


def test_our_client_counts_compressed_frames(
    websockets_server: Callable[..., tuple[int, list[Any]]],
) -> None:
    port, _ = websockets_server()
    counted = Counted()
    echo_through_our_client(port, extensions=[CountedClientFactory(counted)])
    assert len(counted.extensions) == 1
    assert counted.sent_compressed >= 4 and counted.received_compressed >= 5


def test_our_client_with_compression_off(
    websockets_server: Callable[..., tuple[int, list[Any]]],
) -> None:
    port, seen = websockets_server()
    echo_through_our_client(port, extensions=[])
    assert seen == [None]


@pytest.mark.parametrize(
    ("server_options", "client_options", "expected"),
    [
        ({"server_no_context_takeover": True}, {}, "server_no_context_takeover"),
        ({"client_no_context_takeover": True}, {}, "client_no_context_takeover"),
        (
            {},
            {"server_no_context_takeover": True, "client_no_context_takeover": True},
            "server_no_context_takeover; client_no_context_takeover",
        ),
        (
            {"server_max_window_bits": 9, "client_max_window_bits": 10},
            {},
            "server_max_window_bits=9; client_max_window_bits=10",
        ),
        (
            {},
            {"server_max_window_bits": 11, "client_max_window_bits": 9},
            "server_max_window_bits=11; client_max_window_bits=9",
        ),
    ],
)
def test_our_client_context_takeover_variants(
    websockets_server: Callable[..., tuple[int, list[Any]]],
    server_options: dict[str, Any],
    client_options: dict[str, Any],
    expected: str,
) -> None:
    factory = ServerPerMessageDeflateFactory(**server_options)
    port, seen = websockets_server(compression=None, extensions=[factory])
    counted = Counted()
    echo_through_our_client(port, extensions=[CountedClientFactory(counted, **client_options)])
    assert expected in seen[0]
    (ext,) = counted.extensions
    assert ext.server_no_context_takeover == ("server_no_context_takeover" in expected)
    if "client_no_context_takeover" in expected:
        assert ext.client_no_context_takeover
    assert counted.sent_compressed >= 4 and counted.received_compressed >= 5
