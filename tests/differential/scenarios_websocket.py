"""Scenarios for ws4py.websocket.WebSocket and the WSGI application, ours beside ws4py 0.6.0.

Run in both interpreters: ``ws4py`` is imported inside each function.  The
websocket is driven over :class:`MockSocket`, a duck-typed socket with the
methods the classic unit tests mock (``sendall``, ``recv``, ``close``,
``shutdown``, ``settimeout``, ``setblocking``, ``getpeername``,
``getsockname``) that records what is written and hands out scripted input,
``recv(n)`` giving at most ``n`` bytes as a real socket does.  What was written
is parsed back into frames and unmasked here (:func:`frames`), so masked
output, random by nature, compares equal on both sides.
"""

from __future__ import annotations

import struct
from typing import Any

from differential.common import outcome, plain


class MockSocket:
    """A duck-typed socket: records writes and calls, serves scripted reads (then EOF)."""

    def __init__(
        self,
        incoming: bytes = b"",
        local: tuple[Any, ...] = ("127.0.0.1", 9000),
        peer: tuple[Any, ...] = ("127.0.0.1", 50000),
    ) -> None:
        self.written = bytearray()
        self.incoming = bytearray(incoming)
        self.calls: list[str] = []
        self.local = local
        self.peer = peer

    def sendall(self, data: Any) -> None:
        self.written += bytes(data)

    def recv(self, size: int) -> bytes:
        chunk = bytes(self.incoming[:size])
        del self.incoming[:size]
        return chunk

    def close(self) -> None:
        self.calls.append("close")

    def shutdown(self, how: int) -> None:
        self.calls.append("shutdown")

    def settimeout(self, timeout: float | None) -> None:
        pass

    def setblocking(self, flag: bool) -> None:
        pass

    def getpeername(self) -> tuple[Any, ...]:
        return self.peer

    def getsockname(self) -> tuple[Any, ...]:
        return self.local


def frames(data: bytes) -> list[tuple[int, int, int, bool, bytes]]:
    """Parse written bytes into ``(fin, rsv, opcode, masked, unmasked payload)`` frames."""
    out = []
    i = 0
    while i < len(data):
        b0, b1 = data[i], data[i + 1]
        i += 2
        length = b1 & 0x7F
        if length == 126:
            length = int.from_bytes(data[i : i + 2], "big")
            i += 2
        elif length == 127:
            length = int.from_bytes(data[i : i + 8], "big")
            i += 8
        key = b""
        if b1 & 0x80:
            key = data[i : i + 4]
            i += 4
        payload = data[i : i + length]
        i += length
        if key:
            payload = bytes(b ^ key[j % 4] for j, b in enumerate(payload))
        out.append((b0 >> 7, (b0 >> 4) & 7, b0 & 0x0F, bool(b1 & 0x80), bytes(payload)))
    return out


def peer_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A frame as a client peer sends it to a server: masked (fixed key)."""
    key = b"\x37\xfa\x21\x3d"
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


def _recorder(base: Any = None) -> Any:
    """A WebSocket subclass recording its handler calls in ``events``."""
    from ws4py.websocket import WebSocket

    class Recorder(base or WebSocket):  # type: ignore[misc]
        def opened(self) -> None:
            self.events.append(("opened",))

        def received_message(self, message: Any) -> None:
            self.events.append(("message", message.is_binary, bytes(message.data)))

        def ponged(self, pong: Any) -> None:
            self.events.append(("pong", bytes(pong.data)))

        def closed(self, code: int, reason: Any = None) -> None:
            self.events.append(("closed", code, plain(reason), type(reason).__name__))

    Recorder.events = []
    return Recorder


def _payload(kind: str, data: Any) -> Any:
    if kind == "str":
        return data
    if kind == "bytes":
        return bytes(data)
    if kind == "bytearray":
        return bytearray(data)
    if kind == "gen":
        return (chunk for chunk in data)
    raise AssertionError(kind)


# -- send(), ping(), close() over a mocked socket -------------------------------------


def send(kind: str, data: Any, binary: bool | None, mask: bool) -> dict[str, Any]:
    """``send(payload[, binary])`` of a fresh websocket: the outcome and the frames written."""
    from ws4py.websocket import WebSocket

    sock = MockSocket()
    ws = WebSocket(sock)
    ws.stream.always_mask = mask
    payload = _payload(kind, data)
    args = (payload,) if binary is None else (payload, binary)
    result = outcome(ws.send, *args)
    return {"outcome": result, "frames": frames(bytes(sock.written))}


def send_message_object(text: bool, data: bytes, mask: bool) -> list[Any]:
    """``send(TextMessage(...))`` / ``send(BinaryMessage(...))``: the message as is."""
    from ws4py.messaging import BinaryMessage, TextMessage
    from ws4py.websocket import WebSocket

    sock = MockSocket()
    ws = WebSocket(sock)
    ws.stream.always_mask = mask
    ws.send(TextMessage(data) if text else BinaryMessage(data))
    return frames(bytes(sock.written))


def ping(message: Any, mask: bool) -> dict[str, Any]:
    from ws4py.websocket import WebSocket

    sock = MockSocket()
    ws = WebSocket(sock)
    ws.stream.always_mask = mask
    return {"outcome": outcome(ws.ping, message), "frames": frames(bytes(sock.written))}


def stream_control_builders(action: str) -> dict[str, Any]:
    """A stream whose ``ping()``/``pong()`` tag their frames: who builds what ``action`` writes.

    0.6.0 answered a ping with the stream's ``pong()`` and sent ``ping()``
    as a ``PingControlMessage`` (not through the stream's ``ping()``).
    """
    from ws4py.streaming import Stream
    from ws4py.websocket import WebSocket

    class Tagged(Stream):  # type: ignore[misc]
        def ping(self, data: Any = "") -> Any:
            return super().ping(b"stream ping")

        def pong(self, data: Any = "") -> Any:
            data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
            return super().pong(b"stream pong: " + data)

    sock = MockSocket()
    ws = WebSocket(sock)
    ws.stream = Tagged()
    if action == "ping":
        result = outcome(ws.ping, "hello")
    else:
        result = outcome(ws.process, peer_frame(0x9, b"hello"))
    return {"outcome": result, "frames": frames(bytes(sock.written))}


def close_then_process(
    code: int, reason: str, peer_code: int, peer_reason: bytes
) -> dict[str, Any]:
    """``close()``, the flags, the peer's close through ``process()``, then ``terminate()``."""
    sock = MockSocket()
    ws = _recorder()(sock)
    out: dict[str, Any] = {}
    out["close"] = outcome(ws.close, code, reason)
    out["again"] = outcome(ws.close, 1001, "twice")  # safe: sent once
    out["after_close"] = (ws.server_terminated, ws.client_terminated, ws.terminated)
    out["process"] = outcome(ws.process, peer_frame(0x8, close_payload(peer_code, peer_reason)))
    out["after_peer"] = (ws.server_terminated, ws.client_terminated, ws.terminated)
    out["once"] = outcome(ws.once)
    ws.terminate()
    out["frames"] = frames(bytes(sock.written))
    out["events"] = ws.events
    out["sock"] = sock.calls
    out["sock_gone"] = ws.sock is None
    return out


def close_code(code: int) -> dict[str, Any]:
    """``close(code)`` with any code: sent or refused."""
    from ws4py.websocket import WebSocket

    sock = MockSocket()
    ws = WebSocket(sock)
    result = outcome(ws.close, code, "r")
    return {
        "outcome": result,
        "frames": frames(bytes(sock.written)),
        "server_terminated": ws.server_terminated,
    }


def terminate(close_first: bool) -> dict[str, Any]:
    """``terminate()`` with and without a close sent: the ``closed()`` call and the socket."""
    sock = MockSocket()
    ws = _recorder()(sock)
    if close_first:
        ws.close(1000, "bye")
    ws.terminate()
    return {
        "events": ws.events,
        "flags": (ws.server_terminated, ws.client_terminated, ws.terminated),
        "sock": sock.calls,
        "sock_gone": ws.sock is None,
        "environ": ws.environ,
        "stream_gone": ws.stream is None,
        "frames": frames(bytes(sock.written)),
    }


def close_connection_failing(error: str, then: str) -> dict[str, Any]:
    """The socket's ``close()`` raises: ``close_connection()`` or ``terminate()`` still end.

    ``error`` names the exception raised (a test double's ``RuntimeError``, as
    0.6.0's own test, or an ``OSError``); ``then`` is the call made.
    """

    class FailingClose(MockSocket):
        def close(self) -> None:
            super().close()
            raise {"RuntimeError": RuntimeError, "OSError": OSError}[error]("close failed")

    sock = FailingClose()
    ws = _recorder()(sock)
    result = outcome(ws.close_connection if then == "close_connection" else ws.terminate)
    return {
        "outcome": result,
        "connection_gone": ws.connection is None,
        "sock": sock.calls,
        "events": ws.events,
    }


def stream_closing_answered(
    code: int, reason: bytes, how: str, flags: bool = False
) -> dict[str, Any]:
    """A close that only ``stream.closing`` shows is answered by ``close(code, reason)``.

    ``how``: "mock" is 0.6.0's own test (a ``MagicMock`` stream, ``close()``
    recorded only); "parser" feeds the peer's close through the real stream's
    classic ``parser`` before ``process()`` is given more bytes (``close()``
    recorded, then done).  Then ``terminate()``: ``closed()`` gets the close.
    ``flags``: also the classic flags right after ``process()``.
    """
    from unittest.mock import MagicMock

    from ws4py.messaging import CloseControlMessage

    base = _recorder()
    closes: list[Any] = []

    class Handler(base):  # type: ignore[misc,valid-type]
        def close(self, code: int = 1000, reason: Any = "") -> None:
            closes.append((code, plain(reason), type(reason).__name__))
            if how != "mock":
                super().close(code, reason)

    sock = MockSocket()
    ws = Handler(sock)
    if how == "mock":
        ws.stream = MagicMock()
        ws.stream.closing = CloseControlMessage(code=code, reason=reason)
    else:
        wire = peer_frame(0x8, close_payload(code, reason))
        for i in range(len(wire)):  # one byte at a time: 0.6.0's parser asks for no more
            ws.stream.parser.send(wire[i : i + 1])
    result = outcome(ws.process, peer_frame(0x1, b"late"))
    out: dict[str, Any] = {"process": result, "closes": closes}
    if flags:
        out["flags"] = (ws.server_terminated, ws.client_terminated, ws.terminated)
    if how != "mock":
        ws.terminate()
        out["events"] = ws.events
    out["frames"] = frames(bytes(sock.written))
    return out


def send_with_stream_builders(text: str, binary: bool, mask: bool, how: str) -> dict[str, Any]:
    """``send(str/bytes)`` builds the frame with the stream's ``text_message``/``binary_message``.

    ``how``: "subclass" (a Stream whose builders add brackets) or "mock"
    (0.6.0's own test: a ``MagicMock`` stream whose builder returns a frame).
    """
    from unittest.mock import MagicMock

    from ws4py.messaging import BinaryMessage, TextMessage
    from ws4py.streaming import Stream
    from ws4py.websocket import WebSocket

    class Bracketed(Stream):  # type: ignore[misc]
        def text_message(self, text: Any) -> Any:
            data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
            return TextMessage(b"[" + data + b"]")

        def binary_message(self, data: Any) -> Any:
            data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
            return BinaryMessage(b"<" + data + b">")

    sock = MockSocket()
    ws = WebSocket(sock)
    if how == "mock":
        ws.stream = MagicMock()
        ws.stream.always_mask = mask
        built = TextMessage(b"built " + text.encode("utf-8")).single(mask=mask)
        ws.stream.text_message.return_value.single.return_value = built
        ws.stream.binary_message.return_value.single.return_value = built
    else:
        ws.stream = Bracketed(always_mask=mask, expect_masking=True)
    sent = [outcome(ws.send, text, binary), outcome(ws.send, text.encode("utf-8"), binary)]
    return {"outcome": sent, "frames": frames(bytes(sock.written))}


def process_once_terminated(how: str) -> dict[str, Any]:
    """``once()``/``process()`` once the close handshake is over (before ``terminate()``)."""
    sock = MockSocket(incoming=peer_frame(0x1, b"late"))
    ws = _recorder()(sock)
    if how == "handshake":
        ws.close(1000, "")
        ws.process(peer_frame(0x8, close_payload(1000)))
    else:  # the classic flags set by hand
        ws.client_terminated = ws.server_terminated = True
    return {
        "terminated": ws.terminated,
        "once": outcome(ws.once),
        "process": outcome(ws.process, peer_frame(0x1, b"later")),
        "events": ws.events,
    }


def process_after_terminate() -> Any:
    """``process()`` once ``terminate()`` ran."""
    ws = _recorder()(MockSocket())
    ws.terminate()
    return {"process": outcome(ws.process, peer_frame(0x1, b"late")), "events": ws.events}


def send_when(state: str) -> dict[str, Any]:
    """``send()`` after ``close()``, after the flags were set, after ``terminate()``."""
    from ws4py.websocket import WebSocket

    sock = MockSocket()
    ws = WebSocket(sock)
    if state == "closing":
        ws.close()
    elif state == "flags":
        ws.client_terminated = True
        ws.server_terminated = True
    elif state == "terminated":
        ws.terminate()
    before = len(sock.written)
    try:
        ws.send("late")
        result: Any = ("ok", None)
    except RuntimeError:  # what a classic application catches
        result = ("raise", "RuntimeError")
    except Exception as exc:
        result = ("raise", type(exc).__name__)
    return {"outcome": result, "frames": frames(bytes(sock.written[before:]))}


def flags(set_client: bool | None, set_server: bool | None) -> tuple[bool, bool, bool]:
    """The classic flags are settable; ``terminated`` is both of them."""
    from ws4py.websocket import WebSocket

    ws = WebSocket(MockSocket())
    if set_client is not None:
        ws.client_terminated = set_client
    if set_server is not None:
        ws.server_terminated = set_server
    return (ws.client_terminated, ws.server_terminated, ws.terminated)


# -- run(): messages, close, errors -----------------------------------------------------


def run(incoming: list[tuple[int, bytes]], fail_in: str | None = None) -> dict[str, Any]:
    """``run()`` over scripted peer frames (then EOF): handler calls, outcome, writes.

    ``fail_in`` names a handler that raises ``ValueError``.
    """
    data = b"".join(peer_frame(opcode, payload) for opcode, payload in incoming)
    sock = MockSocket(incoming=data)
    base = _recorder()

    class Handler(base):  # type: ignore[misc,valid-type]
        def opened(self) -> None:
            super().opened()
            if fail_in == "opened":
                raise ValueError("opened failed")

        def received_message(self, message: Any) -> None:
            super().received_message(message)
            if fail_in == "received_message":
                raise ValueError("received_message failed")

    ws = Handler(sock)
    result = outcome(ws.run)
    return {
        "outcome": result,
        "events": ws.events,
        "frames": frames(bytes(sock.written)),
        "sock": sock.calls,
    }


# -- attributes ---------------------------------------------------------------------------


def addresses(family: int) -> dict[str, Any]:
    from ws4py.websocket import WebSocket

    if family == 6:
        sock = MockSocket(local=("::1", 9000, 0, 0), peer=("fe80::1", 50000, 0, 3))
    else:
        sock = MockSocket()
    ws = WebSocket(sock)
    return {"local": ws.local_address, "peer": ws.peer_address}


def ws_key() -> Any:
    import ws4py
    from ws4py.websocket import WS_KEY

    return (WS_KEY, WS_KEY == ws4py.WS_KEY)


def constructor(protocols: Any, extensions: Any) -> dict[str, Any]:
    """What the classic constructor keeps of ``protocols`` and ``extensions``."""
    ws = _recorder()(MockSocket(), protocols, extensions, {"PATH_INFO": "/"}, None)
    out = {
        "protocols": ws.protocols,
        "extensions": ws.extensions,
        "environ": ws.environ,
        "heartbeat_freq": ws.heartbeat_freq,
        "flags": (ws.client_terminated, ws.server_terminated, ws.terminated),
    }
    ws.terminate()
    out["closed"] = ws.events
    return out


# -- the WSGI application: negotiated protocols and extensions ---------------------------


def _environ(protocols: str | None, extensions: str | None) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/ws",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost",
        "HTTP_UPGRADE": "websocket",
        "HTTP_CONNECTION": "Upgrade",
        "HTTP_SEC_WEBSOCKET_KEY": "dGhlIHNhbXBsZSBub25jZQ==",
        "HTTP_SEC_WEBSOCKET_VERSION": "13",
        "ws4py.socket": MockSocket(),
    }
    if protocols is not None:
        environ["HTTP_SEC_WEBSOCKET_PROTOCOL"] = protocols
    if extensions is not None:
        environ["HTTP_SEC_WEBSOCKET_EXTENSIONS"] = extensions
    return environ


def wsgi_negotiation(
    app_protocols: Any,
    app_extensions: Any,
    offer_protocols: str | None,
    offer_extensions: str | None,
) -> dict[str, Any]:
    """A classic handler subclass (classic ``__init__`` override) behind the WSGI application.

    What its constructor is given, what it reads in ``opened()`` treating
    ``self.extensions`` as text (the classic idiom), and the 101 headers.
    """
    from ws4py.server.wsgiutils import WebSocketWSGIApplication
    from ws4py.websocket import WebSocket

    seen: dict[str, Any] = {}

    class Handler(WebSocket):
        def __init__(
            self,
            sock: Any,
            protocols: Any = None,
            extensions: Any = None,
            environ: Any = None,
            heartbeat_freq: Any = None,
        ) -> None:
            seen["args"] = (plain(protocols), plain(extensions))
            WebSocket.__init__(self, sock, protocols, extensions, environ, heartbeat_freq)

        def opened(self) -> None:
            seen["opened"] = [
                ("permessage-deflate" in ext, ext.split(";")[0].strip())
                for ext in self.extensions or []
            ]

    app = WebSocketWSGIApplication(
        protocols=app_protocols, extensions=app_extensions, handler_cls=Handler
    )
    statuses: list[Any] = []
    environ = _environ(offer_protocols, offer_extensions)
    body = app(environ, lambda status, headers: statuses.append((status, headers)))
    ws = environ["ws4py.websocket"]
    ws.opened()
    status, headers = statuses[0]
    found = {name.lower(): value for name, value in headers}
    return {
        "status": status,
        "body": list(body),
        "args": seen["args"],
        "protocols": plain(ws.protocols),
        "extensions": plain(ws.extensions),
        "opened": seen["opened"],
        "protocol_header": found.get("sec-websocket-protocol"),
        "extension_header": found.get("sec-websocket-extensions"),
    }


# -- the client: what the server answered ------------------------------------------------


def client_negotiation(protocol: str | None, extension: str | None) -> dict[str, Any]:
    """A client's ``protocols``/``extensions`` once connected to a server answering them.

    The server is a real loopback socket speaking just enough HTTP: it
    answers the upgrade with the given ``Sec-WebSocket-Protocol`` and
    ``Sec-WebSocket-Extensions`` values, then waits for the client to go.
    """
    import base64
    import hashlib
    import socket
    import threading

    from ws4py.client import WebSocketBaseClient

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            key = b""
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"sec-websocket-key":
                    key = value.strip()
            accept = base64.b64encode(
                hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
            )
            response = (
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n"
            )
            if protocol is not None:
                response += b"Sec-WebSocket-Protocol: " + protocol.encode() + b"\r\n"
            if extension is not None:
                response += b"Sec-WebSocket-Extensions: " + extension.encode() + b"\r\n"
            conn.sendall(response + b"\r\n")
            while conn.recv(4096):
                pass

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    ws = WebSocketBaseClient(f"ws://127.0.0.1:{port}/", protocols=["chat"])
    try:
        ws.connect()
        return {"protocols": plain(ws.protocols), "extensions": plain(ws.extensions)}
    finally:
        ws.close_connection()
        server.join(10)
        listener.close()


def magicmock_socket(kind: str, data: Any, binary: bool | None) -> list[Any]:
    """The classic unit tests' way: ``WebSocket(sock=MagicMock())``, then every socket call.

    ``send``, ``close()`` and ``terminate()``; the calls made on the mock, in
    order, written bytes parsed into frames.
    """
    from unittest.mock import MagicMock

    from ws4py.websocket import WebSocket

    sock = MagicMock()
    ws = WebSocket(sock=sock)
    payload = _payload(kind, data)
    ws.send(payload) if binary is None else ws.send(payload, binary)
    ws.close(1001, "bye")
    ws.terminate()
    calls = []
    for name, args, _ in sock.method_calls:
        if name == "sendall":
            calls.append((name, frames(bytes(args[0]))))
        else:
            calls.append((name, plain(list(args))))
    return calls


def send_with_fixed_key(text: str, key: bytes) -> dict[str, Any]:
    """``mock.patch("os.urandom")`` fixes the masking key: the raw bytes, as written.

    ws4py 0.6.0 drew each key with ``os.urandom(4)``; tests fixing it got
    deterministic frames (here compared raw, not unmasked).
    """
    from unittest.mock import patch

    from ws4py.messaging import TextMessage
    from ws4py.websocket import WebSocket

    sock = MockSocket()
    ws = WebSocket(sock)
    ws.stream.always_mask = True
    TextMessage("before the patch").single(mask=True)  # keys may be drawn ahead
    with patch("os.urandom", return_value=key):
        single = TextMessage(text).single(mask=True)
        ws.send(text)
        ws.send(text.encode("utf-8"), True)
    return {"single": single, "written": bytes(sock.written)}
