"""Integration tests for ws4py.websocket: a WebSocket over a real socket.

The server-side :class:`WebSocket` runs on one end of a ``socket.socketpair()``
(a TCP pair on 127.0.0.1 where addresses matter); the other end is either a
raw peer speaking frames built and parsed here, independently of the code
under test, or a client-side WebSocket (``is_client=True``).  Every thread
and socket a test starts is stopped by the ``endpoints`` fixture.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest

import ws4py.websocket as websocket_module
from ws4py.exc import ConnectionClosedError, StreamClosed
from ws4py.messaging import (
    BinaryMessage,
    CloseControlMessage,
    Message,
    PingControlMessage,
    PongControlMessage,
    TextMessage,
)
from ws4py.streaming import Stream
from ws4py.websocket import EchoWebSocket, Heartbeat, WebSocket

pytestmark = pytest.mark.timeout(30)

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
WAIT = 5.0  # seconds any single expected event may take


# ---------------------------------------------------------------------------
# A raw peer: frames built and parsed here, not by ws4py
# ---------------------------------------------------------------------------


def xor_mask(data: bytes, key: bytes) -> bytes:
    n = len(data)
    if not n:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def frame_bytes(
    opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0, mask: bool = True
) -> bytes:
    b0 = (0x80 if fin else 0) | rsv | opcode
    mbit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 0x10000:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = os.urandom(4)
        return head + key + xor_mask(payload, key)
    return head + payload


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode("utf-8")


class RawFrame(NamedTuple):
    fin: bool
    rsv: int
    opcode: int
    masked: bool
    payload: bytes

    @property
    def close_code(self) -> int:
        assert self.opcode == CLOSE
        return int(struct.unpack("!H", self.payload[:2])[0]) if self.payload else 1005

    @property
    def close_reason(self) -> str:
        return self.payload[2:].decode("utf-8")


class RawPeer:
    """The far end of a connection, speaking frames by hand."""

    def __init__(self, sock: socket.socket, mask: bool = True) -> None:
        self.sock = sock
        self.mask = mask
        self.buf = bytearray()
        sock.settimeout(WAIT)

    def send(self, opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0) -> None:
        self.sock.sendall(frame_bytes(opcode, payload, fin, rsv, self.mask))

    def send_close(self, code: int, reason: str = "") -> None:
        self.send(CLOSE, close_payload(code, reason))

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            data = self.sock.recv(1 << 20)
            if not data:
                raise EOFError(f"EOF after {len(self.buf)} of {n} bytes")
            self.buf += data
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def recv_frame(self) -> RawFrame:
        b0, b1 = self._read(2)
        length = b1 & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read(8))[0]
        key = self._read(4) if b1 & 0x80 else None
        payload = self._read(length)
        if key:
            payload = xor_mask(payload, key)
        return RawFrame(bool(b0 & 0x80), b0 & 0x70, b0 & 0x0F, key is not None, payload)

    def recv_message(self) -> tuple[int, bytes]:
        """A whole data message (control frames in between are skipped)."""
        first = self.recv_frame()
        while first.opcode & 0x8:
            first = self.recv_frame()
        assert first.opcode in (TEXT, BINARY), first
        parts = [first.payload]
        fin = first.fin
        while not fin:
            frame = self.recv_frame()
            if frame.opcode & 0x8:
                continue
            assert frame.opcode == CONT, f"interleaved message: {frame}"
            parts.append(frame.payload)
            fin = frame.fin
        return first.opcode, b"".join(parts)

    def expect_eof(self, timeout: float = WAIT) -> None:
        """The other side closes TCP (nothing else arrives before)."""
        self.sock.settimeout(timeout)
        assert not self.buf, f"unexpected bytes before EOF: {bytes(self.buf)!r}"
        data = self.sock.recv(4096)
        assert data == b"", f"unexpected bytes instead of EOF: {data!r}"


# ---------------------------------------------------------------------------
# Recording handlers
# ---------------------------------------------------------------------------


class Recorder(WebSocket):
    """Puts every handler call in a queue, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.closed_calls: list[tuple[int, str | None]] = []
        self.closed_event = threading.Event()
        self.handler_threads: set[str] = set()
        super().__init__(*args, **kwargs)

    def opened(self) -> None:
        self.events.put(("opened",))

    def received_message(self, message: Message) -> None:
        self.events.put(("message", message.opcode, bytes(message.data), type(message)))

    def ponged(self, pong: PongControlMessage) -> None:
        assert isinstance(pong, PongControlMessage)
        self.events.put(("pong", bytes(pong.data)))

    def closed(self, code: int, reason: str | None = None) -> None:
        self.closed_calls.append((code, reason))
        self.events.put(("closed", code, reason))
        self.closed_event.set()

    def next_event(self, timeout: float = WAIT) -> tuple[Any, ...]:
        return self.events.get(timeout=timeout)

    def wait_closed(self, timeout: float = WAIT) -> tuple[int, str | None]:
        assert self.closed_event.wait(timeout), "closed() was not called in time"
        return self.closed_calls[0]


class ClientRecorder(Recorder):
    is_client = True


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=WAIT)
        server, _ = listener.accept()
    return server, client


class Endpoints:
    """Creates websockets on socket pairs; the fixture stops every one of them."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        self.websockets: list[WebSocket] = []

    def socketpair(self, tcp: bool = False) -> tuple[socket.socket, socket.socket]:
        a, b = tcp_pair() if tcp else socket.socketpair()
        self.sockets += [a, b]
        return a, b

    def run(self, ws: WebSocket) -> threading.Thread:
        thread = threading.Thread(target=ws.run, name="test-ws", daemon=True)
        self.websockets.append(ws)
        self.threads.append(thread)
        thread.start()
        return thread

    def server(
        self, cls: type[WebSocket] = Recorder, run: bool = True, tcp: bool = False, **kw: Any
    ) -> tuple[Any, RawPeer]:
        """A server-side websocket and the raw peer on the other end."""
        a, b = self.socketpair(tcp)
        ws = cls(a, **kw)
        self.websockets.append(ws)
        if run:
            self.run(ws)
        return ws, RawPeer(b)

    def close(self) -> None:
        for sock in self.sockets:  # the peers' EOF ends every run() loop
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self.threads:
            thread.join(WAIT)
        alive = [t for t in self.threads if t.is_alive()]
        for sock in self.sockets:
            sock.close()
        assert not alive, f"threads still running at teardown: {alive}"


@pytest.fixture
def endpoints() -> Iterator[Endpoints]:
    eps = Endpoints()
    try:
        yield eps
    finally:
        eps.close()


# ---------------------------------------------------------------------------
# Handlers, in order
# ---------------------------------------------------------------------------


def test_handlers_called_as_documented(endpoints: Endpoints) -> None:
    ws, peer = endpoints.server()
    assert ws.next_event() == ("opened",)
    peer.send(TEXT, "héllo".encode())
    peer.send(BINARY, b"\x00\x01\xff")
    peer.send(PONG, b"unsolicited")
    peer.send(TEXT, b"frag-", fin=False)
    peer.send(PING, b"in-between")  # a control frame inside a fragmented message
    peer.send(CONT, b"mented")
    assert ws.next_event() == ("message", TEXT, "héllo".encode(), TextMessage)
    assert ws.next_event() == ("message", BINARY, b"\x00\x01\xff", BinaryMessage)
    assert ws.next_event() == ("pong", b"unsolicited")
    assert ws.next_event() == ("message", TEXT, b"frag-mented", TextMessage)
    pong = peer.recv_frame()
    assert (pong.opcode, pong.payload, pong.fin, pong.masked) == (PONG, b"in-between", True, False)

    peer.send_close(1000, "done")
    echo = peer.recv_frame()
    assert echo.opcode == CLOSE and echo.close_code == 1000
    assert ws.next_event() == ("closed", 1000, b"done")  # the reason as bytes (0.6.0)
    peer.expect_eof()
    endpoints.threads[-1].join(WAIT)
    ws.terminate()  # again: closed() is not called twice
    assert ws.closed_calls == [(1000, b"done")]
    assert ws.events.empty()


def test_text_message_str_and_data(endpoints: Endpoints) -> None:
    got: queue.Queue[Message] = queue.Queue()

    class Keep(WebSocket):
        def received_message(self, message: Message) -> None:
            got.put(message)

    _ws, peer = endpoints.server(Keep)
    peer.send(TEXT, "ünïcode ✓".encode())
    peer.send(BINARY, b"")
    text = got.get(timeout=WAIT)
    assert str(text) == "ünïcode ✓"
    assert text.is_text and not text.is_binary and text.completed
    empty = got.get(timeout=WAIT)
    assert empty.is_binary and empty.data == b""


def test_auto_pong_echoes_ping_payload(endpoints: Endpoints) -> None:
    ws, peer = endpoints.server()
    for payload in (b"", b"ping-1", os.urandom(125)):
        peer.send(PING, payload)
        frame = peer.recv_frame()
        assert (frame.opcode, frame.payload, frame.fin) == (PONG, payload, True)
    assert ws.next_event() == ("opened",)
    assert ws.events.empty()  # pings are not handed to the application


def test_ping_and_ponged(endpoints: Endpoints) -> None:
    ws, peer = endpoints.server()
    ws.ping("héllo")
    frame = peer.recv_frame()
    assert (frame.opcode, frame.payload) == (PING, "héllo".encode())
    peer.send(PONG, frame.payload)
    assert ws.next_event() == ("opened",)
    assert ws.next_event() == ("pong", "héllo".encode())
    ws.ping(b"\x00bytes")
    frame = peer.recv_frame()
    assert (frame.opcode, frame.payload) == (PING, b"\x00bytes")


# ---------------------------------------------------------------------------
# Closing handshake
# ---------------------------------------------------------------------------


def test_close_initiated_by_websocket(endpoints: Endpoints) -> None:
    ws, peer = endpoints.server()
    ws.close(1001, "going away")
    ws.close(1000, "second call sends nothing")
    frame = peer.recv_frame()
    assert frame.opcode == CLOSE and frame.fin and not frame.masked
    assert (frame.close_code, frame.close_reason) == (1001, "going away")
    assert ws.server_terminated and not ws.client_terminated and not ws.terminated
    peer.send_close(1001, "ok, bye")
    assert ws.wait_closed() == (1001, b"ok, bye")
    peer.expect_eof()  # the server closes TCP; the second close() sent nothing
    endpoints.threads[-1].join(WAIT)
    assert ws.closed_calls == [(1001, b"ok, bye")]
    assert ws.terminated and ws.client_terminated and ws.server_terminated


def test_close_initiated_by_peer(endpoints: Endpoints) -> None:
    ws, peer = endpoints.server()
    peer.send_close(4000, "peer leaves")
    echo = peer.recv_frame()
    assert echo.opcode == CLOSE and echo.close_code == 4000  # the code is echoed (5.5.1)
    assert ws.wait_closed() == (4000, b"peer leaves")
    peer.expect_eof()
    endpoints.threads[-1].join(WAIT)
    assert ws.closed_calls == [(4000, b"peer leaves")]
    with pytest.raises(ConnectionClosedError):
        ws.send("too late")


def test_empty_close_is_answered_with_empty_close(endpoints: Endpoints) -> None:
    ws, peer = endpoints.server()
    peer.send(CLOSE, b"")
    echo = peer.recv_frame()
    assert echo.opcode == CLOSE and echo.payload == b""
    assert ws.wait_closed() == (1005, b"")


@pytest.mark.parametrize("initiator", ["server", "client"])
def test_close_between_two_websockets(endpoints: Endpoints, initiator: str) -> None:
    """A server-side and a client-side WebSocket: each sees the code; the receiver the reason."""
    a, b = endpoints.socketpair()
    server, client = Recorder(a), ClientRecorder(b)
    assert client.stream.always_mask and not client.stream.expect_masking
    assert not server.stream.always_mask and server.stream.expect_masking
    endpoints.run(server)
    endpoints.run(client)
    assert server.next_event() == ("opened",)
    assert client.next_event() == ("opened",)
    client.send("from client")
    server.send(b"from server", binary=True)
    assert server.next_event() == ("message", TEXT, b"from client", TextMessage)
    assert client.next_event() == ("message", BINARY, b"from server", BinaryMessage)

    closer, other = (server, client) if initiator == "server" else (client, server)
    closer.close(3001, f"{initiator} says bye")
    assert other.wait_closed() == (3001, f"{initiator} says bye".encode())
    assert closer.wait_closed()[0] == 3001
    for thread in endpoints.threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    assert len(server.closed_calls) == len(client.closed_calls) == 1


def test_close_timeout_drops_silent_peer(endpoints: Endpoints) -> None:
    class Impatient(Recorder):
        close_timeout = 0.3

    ws, peer = endpoints.server(Impatient)
    started = time.monotonic()
    ws.close(1000, "answer me")
    frame = peer.recv_frame()
    assert (frame.opcode, frame.close_code) == (CLOSE, 1000)
    # The peer never answers: the websocket gives up after close_timeout.
    assert ws.wait_closed() == (1006, "Going away")
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 3.0, elapsed
    peer.expect_eof()
    assert ws.closed_calls == [(1006, "Going away")]


def test_keepalive_closes_peer_that_never_pongs(endpoints: Endpoints) -> None:
    class KeepAlive(Recorder):
        keepalive_interval = 0.2
        keepalive_timeout = 0.3

    ws, peer = endpoints.server(KeepAlive)
    started = time.monotonic()
    ping = peer.recv_frame()
    assert ping.opcode == PING and len(ping.payload) <= 125
    assert time.monotonic() - started >= 0.15
    # No pong: the next frame is the close, with 1011.
    close = peer.recv_frame()
    assert close.opcode == CLOSE
    assert close.close_code == 1011
    assert time.monotonic() - started >= 0.45
    peer.send_close(1011)
    assert ws.wait_closed()[0] == 1011
    peer.expect_eof()


def test_keepalive_keeps_a_ponging_peer(endpoints: Endpoints) -> None:
    class KeepAlive(Recorder):
        keepalive_interval = 0.1
        keepalive_timeout = 0.5

    a, b = endpoints.socketpair()
    server, client = KeepAlive(a), ClientRecorder(b)  # the client answers pings itself
    endpoints.run(server)
    endpoints.run(client)
    assert server.next_event() == ("opened",)
    for _ in range(4):  # four round trips: well past interval + timeout
        event = server.next_event()
        assert event[0] == "pong" and len(event[1]) == 4
    assert not server.terminated and not client.terminated
    client.close(1000)
    assert server.wait_closed()[0] == 1000
    assert client.wait_closed()[0] == 1000


def test_exception_in_received_message_closes_with_1011(
    endpoints: Endpoints, caplog: pytest.LogCaptureFixture
) -> None:
    class Faulty(Recorder):
        def received_message(self, message: Message) -> None:
            raise RuntimeError("application bug")

    caplog.set_level(logging.ERROR, logger="ws4py")
    ws, peer = endpoints.server(Faulty, run=False)
    raised = run_catching(ws)
    peer.send(TEXT, b"trigger")
    peer.send(TEXT, b"not delivered: the connection is failing")
    close = peer.recv_frame()
    assert close.opcode == CLOSE and close.close_code == 1011
    peer.send_close(1011)
    assert ws.wait_closed() == (1011, b"")  # the peer's close: its code, no reason
    records = [r for r in caplog.records if r.exc_info and "1011" in r.getMessage()]
    assert records, caplog.text
    assert isinstance(records[0].exc_info[1], RuntimeError)  # type: ignore[index]
    assert "application bug" in caplog.text
    # run() raises it once the connection is over, as ws4py 0.6.0's run() let it out
    (error,) = raised.get(timeout=WAIT)
    assert isinstance(error, RuntimeError) and str(error) == "application bug"
    assert ws.handler_error is None
    assert [e[0] for e in drain(ws)] == ["opened", "closed"]  # the second message not delivered


def test_exception_in_opened_closes_with_1011(
    endpoints: Endpoints, caplog: pytest.LogCaptureFixture
) -> None:
    class Faulty(Recorder):
        def opened(self) -> None:
            raise ValueError("cannot open")

    caplog.set_level(logging.ERROR, logger="ws4py")
    ws, peer = endpoints.server(Faulty, run=False)
    raised = run_catching(ws)
    close = peer.recv_frame()
    assert close.opcode == CLOSE and close.close_code == 1011
    peer.send(TEXT, b"not delivered")
    peer.send_close(1011)
    assert ws.wait_closed()[0] == 1011
    assert "cannot open" in caplog.text
    (error,) = raised.get(timeout=WAIT)
    assert isinstance(error, ValueError)
    assert [e[0] for e in drain(ws)] == ["closed"]  # no message reached the failed handler


def drain(ws: Recorder) -> list[tuple[Any, ...]]:
    events = []
    while not ws.events.empty():
        events.append(ws.events.get_nowait())
    return events


def run_catching(ws: WebSocket) -> queue.Queue[list[BaseException]]:
    """Run ``ws.run()`` in a thread; the queue gets what it raised ([] if nothing)."""
    raised: queue.Queue[list[BaseException]] = queue.Queue()

    def target() -> None:
        try:
            ws.run()
        except BaseException as exc:  # handed to the test thread
            raised.put([exc])
        else:
            raised.put([])

    threading.Thread(target=target, daemon=True).start()
    return raised


# ---------------------------------------------------------------------------
# send()
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "binary", "opcode", "wire"),
    [
        ("héllo", None, TEXT, "héllo".encode()),
        # bytes are text unless binary=True, as the reference's send(payload, binary=False)
        (b"\x00bytes", None, TEXT, b"\x00bytes"),
        (bytearray(b"array"), None, TEXT, b"array"),
        (memoryview(b"xxview")[2:], None, TEXT, b"view"),
        ("h\u00e9".encode(), None, TEXT, "h\u00e9".encode()),
        (b"\xff\x00", True, BINARY, b"\xff\x00"),
        (b"echo idiom", False, TEXT, b"echo idiom"),  # send(message.data, message.is_binary)
        (b"explicit", True, BINARY, b"explicit"),
        ("text as binary", True, BINARY, b"text as binary"),
        ("", None, TEXT, b""),
        (b"", None, TEXT, b""),
        (b"", True, BINARY, b""),
        (TextMessage("a message"), None, TEXT, b"a message"),
        (BinaryMessage(b"\x01\x02"), None, BINARY, b"\x01\x02"),
        (b"x" * 70_000, True, BINARY, b"x" * 70_000),  # 64-bit length form
        (b"y" * 300, None, TEXT, b"y" * 300),  # 16-bit length form
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, (int, type(None))) else repr(v),
)
def test_send_types(
    endpoints: Endpoints, payload: Any, binary: bool | None, opcode: int, wire: bytes
) -> None:
    ws, peer = endpoints.server(run=False)
    if binary is None:
        ws.send(payload)
    else:
        ws.send(payload, binary)
    frame = peer.recv_frame()
    assert frame == RawFrame(True, 0, opcode, False, wire)


def test_send_control_messages(endpoints: Endpoints) -> None:
    ws, peer = endpoints.server(run=False)
    ws.send(PingControlMessage(b"p"))
    ws.send(PongControlMessage(b"q"))
    assert peer.recv_frame() == RawFrame(True, 0, PING, False, b"p")
    assert peer.recv_frame() == RawFrame(True, 0, PONG, False, b"q")
    with pytest.raises(ValueError, match=r"close\(\)"):
        ws.send(CloseControlMessage(1000))
    with pytest.raises(ValueError):
        ws.send(12345)
    # The refused close left the connection open (issue #19: the core's one rule).
    assert not ws.terminated and ws.core.close_sent is None
    ws.send("still open")
    assert peer.recv_frame() == RawFrame(True, 0, TEXT, False, b"still open")
    ws.close(1000)
    assert peer.recv_frame().opcode == CLOSE
    with pytest.raises(ConnectionClosedError):
        ws.send(PongControlMessage(b"after close"))


def test_send_generator_is_fragmented(endpoints: Endpoints) -> None:
    ws, peer = endpoints.server(run=False)

    def chunks() -> Iterator[str]:
        yield "frag"
        yield "mé"
        yield "nted"

    ws.send(chunks())
    frames = [peer.recv_frame() for _ in range(3)]
    assert frames == [
        RawFrame(False, 0, TEXT, False, b"frag"),
        RawFrame(False, 0, CONT, False, "mé".encode()),
        RawFrame(True, 0, CONT, False, b"nted"),
    ]
    ws.send((bytes([i]) * 3 for i in range(2)), True)
    assert peer.recv_frame() == RawFrame(False, 0, BINARY, False, b"\x00\x00\x00")
    assert peer.recv_frame() == RawFrame(True, 0, CONT, False, b"\x01\x01\x01")
    ws.send(iter([]))  # no chunk: one empty final frame
    assert peer.recv_frame() == RawFrame(True, 0, TEXT, False, b"")
    ws.send(iter([b"only"]), True)
    assert peer.recv_frame() == RawFrame(True, 0, BINARY, False, b"only")


def test_client_side_frames_are_masked(endpoints: Endpoints) -> None:
    a, b = endpoints.socketpair()
    client = ClientRecorder(a)
    endpoints.websockets.append(client)
    peer = RawPeer(b, mask=False)
    client.send("masked text")
    client.send(iter([b"ab", b"cd"]), True)
    client.ping(b"pp")
    frame = peer.recv_frame()
    assert frame.masked and frame.payload == b"masked text" and frame.opcode == TEXT
    assert peer.recv_frame() == RawFrame(False, 0, BINARY, True, b"ab")
    assert peer.recv_frame() == RawFrame(True, 0, CONT, True, b"cd")
    assert peer.recv_frame() == RawFrame(True, 0, PING, True, b"pp")
    # and it answers pings with masked pongs, reading unmasked frames
    endpoints.run(client)
    peer.send(PING, b"hi")
    assert peer.recv_frame() == RawFrame(True, 0, PONG, True, b"hi")
    peer.send(TEXT, b"to client")
    assert client.next_event() == ("opened",)
    assert client.next_event() == ("message", TEXT, b"to client", TextMessage)
    peer.sock.sendall(frame_bytes(TEXT, b"masked from server", mask=True))  # 1002 for a client
    close = peer.recv_frame()
    assert close.opcode == CLOSE and close.close_code == 1002 and close.masked
    assert client.wait_closed() == (1006, "Going away")  # failed by us: no close came back


def test_concurrent_senders_never_interleave(endpoints: Endpoints) -> None:
    ws, peer = endpoints.server(run=False)
    threads_n, per_thread = 8, 200
    sizes = (10, 1000, 70_000)
    received: list[tuple[int, bytes]] = []
    reader_error: list[BaseException] = []

    def expected(tid: int, i: int) -> bytes:
        return f"{tid}:{i}:".encode() + bytes([65 + tid]) * sizes[i % 3]

    def reader() -> None:
        try:
            for _ in range(threads_n * per_thread):
                received.append(peer.recv_message())
        except BaseException as exc:  # reported by the test thread
            reader_error.append(exc)

    def sender(tid: int) -> None:
        for i in range(per_thread):
            data = expected(tid, i)
            if i % 4 == 3:  # some as fragmented messages: three frames each
                third = len(data) // 3 + 1
                ws.send((data[k : k + third] for k in range(0, len(data), third)), tid % 2 == 0)
            elif tid % 2:
                ws.send(data.decode())
            else:
                ws.send(data, True)

    reading = threading.Thread(target=reader, daemon=True)
    reading.start()
    senders = [threading.Thread(target=sender, args=(t,), daemon=True) for t in range(threads_n)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join(20)
        assert not thread.is_alive()
    reading.join(20)
    assert not reading.is_alive()
    assert not reader_error, reader_error
    assert len(received) == threads_n * per_thread
    next_index = [0] * threads_n
    for opcode, data in received:
        tid, i, _ = data.split(b":", 2)
        t, n = int(tid), int(i)
        assert n == next_index[t], "messages of one thread arrived out of order"
        next_index[t] += 1
        assert data == expected(t, n)
        assert opcode == (BINARY if t % 2 == 0 else TEXT)
    assert next_index == [per_thread] * threads_n


def test_send_waits_for_a_slow_reader_while_run_is_reading(endpoints: Endpoints) -> None:
    """run() bounds its reads with a socket timeout; a concurrent send() must not inherit it.

    A large send() to a peer that reads late used to fail with TimeoutError
    after run()'s read timeout (0.5 s), leaving half a frame on the wire.
    """
    ws, peer = endpoints.server()
    assert ws.next_event() == ("opened",)  # run() is in its read loop, timeout set
    big = os.urandom(8 * 1024 * 1024)
    errors: list[BaseException] = []
    sent = threading.Event()

    def send() -> None:
        try:
            ws.send(big, True)
        except BaseException as exc:
            errors.append(exc)
        sent.set()

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    # The peer reads nothing for 1.5 s: the send must still be waiting, not failed.
    assert not sent.wait(1.5), f"send() returned while nothing was read: {errors!r}"
    frame = peer.recv_frame()
    sender.join(WAIT)
    assert not errors, errors
    assert frame == RawFrame(True, 0, BINARY, False, big)
    ws.send("after")
    assert peer.recv_frame().payload == b"after"


class Impatient(Recorder):
    write_timeout = 1.0


def test_write_timeout_drops_a_peer_that_never_reads(endpoints: Endpoints) -> None:
    """Blocking mode: a write waits for a slow reader, but not for ever."""
    ws, _peer = endpoints.server(Impatient)
    assert ws.next_event() == ("opened",)
    started = time.monotonic()
    with pytest.raises(ConnectionClosedError, match="not reading"):
        ws.send(os.urandom(32 * 1024 * 1024), True)  # far more than the socket buffers hold
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < WAIT, elapsed
    assert ws.terminated
    assert ws.wait_closed() == (1006, "Going away")


def test_send_invalid_utf8_as_text_is_refused(endpoints: Endpoints) -> None:
    """Bytes are text unless binary=True; RFC 6455 forbids a text message that is not UTF-8."""
    ws, peer = endpoints.server(run=False)
    with pytest.raises(ValueError, match="binary=True"):
        ws.send(b"\xff\xfe")
    with pytest.raises(ValueError, match="binary=True"):
        ws.send(iter([b"\xe2\x82"]))  # a character cut at the end of the message
    ws.send(b"\xff\xfe", binary=True)
    ws.send(iter([b"\xe2\x82", b"\xac"]))  # a character split across fragments is fine
    assert peer.recv_frame() == RawFrame(True, 0, BINARY, False, b"\xff\xfe")
    assert peer.recv_frame() == RawFrame(False, 0, TEXT, False, b"\xe2\x82")
    assert peer.recv_frame() == RawFrame(True, 0, CONT, False, b"\xac")


def test_generator_turning_invalid_midway_fails_the_connection(endpoints: Endpoints) -> None:
    """A fragment already out cannot be taken back: the peer gets a 1011 close."""
    ws, peer = endpoints.server(run=False)
    with pytest.raises(ValueError):
        ws.send(iter(["fine ", "still fine ", b"\xff"]))
    assert peer.recv_frame() == RawFrame(False, 0, TEXT, False, b"fine ")
    close = peer.recv_frame()
    assert close.opcode == CLOSE and close.close_code == 1011
    assert ws.server_terminated
    with pytest.raises(RuntimeError):  # ConnectionClosedError: nothing more to send
        ws.send("after")


def test_send_after_close_raises(endpoints: Endpoints) -> None:
    ws, peer = endpoints.server(run=False)
    ws.close(1000, "bye")
    assert peer.recv_frame().opcode == CLOSE
    for call in (
        lambda: ws.send("text"),
        lambda: ws.send(b"bytes"),
        lambda: ws.send(iter(["a", "b"])),
        lambda: ws.ping(b"p"),
    ):
        with pytest.raises(ConnectionClosedError) as info:
            call()
        assert isinstance(info.value, StreamClosed)
    ws.terminate()  # socket gone now
    assert ws.sock is None
    with pytest.raises(StreamClosed):
        ws.send("after terminate")


# ---------------------------------------------------------------------------
# Classic attributes, once() and process() without a thread
# ---------------------------------------------------------------------------


def test_classic_attributes_and_manual_driving(endpoints: Endpoints) -> None:
    environ = {"PATH_INFO": "/chat"}
    ws, peer = endpoints.server(
        run=False,
        tcp=True,
        protocols=["chat"],
        extensions=["x-ext"],
        environ=environ,
        heartbeat_freq=None,
    )
    sock = endpoints.sockets[-2]
    assert ws.sock is sock and ws.connection is sock
    assert ws.local_address == sock.getsockname()
    assert ws.peer_address == sock.getpeername()
    assert ws.local_address[0] == "127.0.0.1"
    assert ws.protocols == ["chat"] and ws.extensions == ["x-ext"]
    assert ws.environ is environ and ws.heartbeat_freq is None
    assert isinstance(ws.reading_buffer_size, int) and ws.reading_buffer_size > 0
    assert isinstance(ws.stream, Stream)
    assert not ws.stream.always_mask and ws.stream.expect_masking
    assert (ws.client_terminated, ws.server_terminated, ws.terminated) == (False, False, False)
    assert "127.0.0.1" in repr(ws)

    peer.send(TEXT, b"one")
    peer.send(PING, b"two")
    assert ws.once() is True  # may need more than one read on a slow machine
    while ws.events.qsize() < 1:
        assert ws.once() is True
    assert ws.next_event() == ("message", TEXT, b"one", TextMessage)
    assert peer.recv_frame() == RawFrame(True, 0, PONG, False, b"two")

    assert ws.process(frame_bytes(BINARY, b"direct")) is True
    assert ws.next_event() == ("message", BINARY, b"direct", BinaryMessage)

    ws.close(1000, "closing")
    assert ws.server_terminated and not ws.client_terminated and not ws.terminated
    assert peer.recv_frame().close_code == 1000
    assert ws.process(frame_bytes(CLOSE, close_payload(1000, "ack"))) is False
    assert ws.client_terminated and ws.terminated
    assert ws.once() is False
    ws.terminate()
    assert ws.closed_calls == [(1000, b"ack")]
    assert ws.sock is None and ws.environ is None
    assert ws.stream is None  # released, as in ws4py 0.6.0
    peer.expect_eof()
    with pytest.raises(ConnectionClosedError):
        ws.send("late")  # a RuntimeError, not an AttributeError on the gone stream
    assert ws.process(frame_bytes(TEXT, b"later")) is False


class Bracketed(Stream):
    """A stream with message builders of its own (the classic extension point)."""

    def text_message(self, text: str | bytes) -> TextMessage:
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        return TextMessage(b"[" + data + b"]")

    def binary_message(self, bytes: bytes | bytearray) -> BinaryMessage:
        return BinaryMessage(b"<" + bytes + b">")


def test_a_stream_with_its_own_builders_builds_what_send_sends(endpoints: Endpoints) -> None:
    """send(str/bytes) goes through the stream's text/binary_message(), as 0.6.0's did."""
    ws, peer = endpoints.server(run=False)
    assert not ws._stream_builders  # the library's stream: the direct path
    ws.stream = Bracketed(always_mask=False, expect_masking=True)
    assert ws._stream_builders
    ws.send("héllo")
    ws.send(b"raw", binary=True)
    ws.send(TextMessage("as is"))  # a Message is sent as itself
    assert peer.recv_frame() == RawFrame(True, 0, TEXT, False, "[héllo]".encode())
    assert peer.recv_frame() == RawFrame(True, 0, BINARY, False, b"<raw>")
    assert peer.recv_frame() == RawFrame(True, 0, TEXT, False, b"as is")
    with pytest.raises(ValueError):
        ws.send(b"\xff")  # text must still be UTF-8: checked before the builder
    ws.close()
    assert peer.recv_frame().close_code == 1000
    with pytest.raises(ConnectionClosedError):
        ws.send("after close")  # nothing after our close, whoever builds it
    ws.stream = Stream()
    assert not ws._stream_builders


def test_a_close_only_the_stream_shows_is_answered_with_close(endpoints: Endpoints) -> None:
    """The peer's close parsed by the stream's classic parser: process() answers it.

    0.6.0's process() looked at ``stream.closing`` and called ``close(code,
    reason)``; the bulk path hands the close over as an event instead.
    """
    calls: list[tuple[int, Any]] = []

    class Closing(Recorder):
        def close(self, code: int = 1000, reason: str | bytes = "") -> None:
            calls.append((code, reason))
            super().close(code, reason)

    ws, peer = endpoints.server(Closing, run=False)
    assert ws.stream is not None
    for byte in frame_bytes(CLOSE, close_payload(1001, "away")):
        ws.stream.parser.send(bytes([byte]))
    assert ws.process(frame_bytes(TEXT, b"after the close")) is False
    assert calls == [(1001, b"away")]
    assert peer.recv_frame() == RawFrame(True, 0, CLOSE, False, close_payload(1001, "away"))
    assert ws.terminated
    ws.terminate()
    assert ws.closed_calls == [(1001, b"away")]
    assert ws.events.get_nowait() == ("closed", 1001, b"away")  # the late text was not read
    peer.expect_eof()


class FailingClose:
    """A duck-typed socket whose close() fails (a test double, a broken TLS wrapper)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.calls: list[str] = []

    def shutdown(self, how: int) -> None:
        self.calls.append("shutdown")

    def close(self) -> None:
        self.calls.append("close")
        raise self.error


@pytest.mark.parametrize("error", [OSError("gone"), RuntimeError("mock")])
def test_a_failing_socket_close_is_forgotten_all_the_same(error: BaseException) -> None:
    sock = FailingClose(error)
    ws = Recorder(sock)  # type: ignore[arg-type]
    ws.close_connection()
    assert ws.connection is None and sock.calls == ["shutdown", "close"]
    ws.close_connection()  # once only
    assert sock.calls == ["shutdown", "close"]
    ws2 = Recorder(FailingClose(error))  # type: ignore[arg-type]
    ws2.terminate()  # closed() is called, terminate() completes
    assert ws2.closed_calls == [(1006, "Going away")] and ws2.connection is None
    assert ws2.stream is None


def test_process_empty_bytes_means_eof(endpoints: Endpoints) -> None:
    ws, _peer = endpoints.server(run=False)
    assert ws.process(b"") is False
    assert ws.terminated
    ws.terminate()
    assert ws.closed_calls == [(1006, "Going away")]


def test_peer_disappearing_reports_1006(endpoints: Endpoints) -> None:
    ws, peer = endpoints.server()
    assert ws.next_event() == ("opened",)
    peer.send(TEXT, b"half a frame", fin=True)
    peer.sock.sendall(b"\x81\x85ab")  # a header, part of the key, then nothing
    peer.sock.close()
    assert ws.next_event()[0] == "message"
    assert ws.wait_closed() == (1006, "Going away")


# ---------------------------------------------------------------------------
# Heartbeat and EchoWebSocket
# ---------------------------------------------------------------------------


def test_heartbeat_frequency_sends_pongs(endpoints: Endpoints) -> None:
    ws, peer = endpoints.server(heartbeat_freq=0.1)
    assert ws.heartbeat_freq == 0.1
    for _ in range(3):
        frame = peer.recv_frame()
        assert frame.opcode == PONG and frame.fin and not frame.masked
        assert frame.payload.isdigit()  # a timestamp, as classic ws4py sent
    peer.send_close(1000)
    assert ws.wait_closed()[0] == 1000


def test_heartbeat_thread_start_stop(endpoints: Endpoints) -> None:
    ws, peer = endpoints.server(run=False)
    beat = Heartbeat(ws, frequency=0.05)
    with beat:
        assert beat.is_alive() and beat.daemon
        assert peer.recv_frame().opcode == PONG
        assert peer.recv_frame().opcode == PONG
    beat.join(WAIT)
    assert not beat.is_alive()
    idle = Heartbeat(ws, frequency=0)
    with idle:
        assert not idle.is_alive()  # frequency 0: no thread


def test_heartbeat_closes_connection_when_write_fails(endpoints: Endpoints) -> None:
    ws, peer = endpoints.server(run=False)
    peer.sock.close()
    beat = Heartbeat(ws, frequency=0.05)
    beat.start()
    beat.join(WAIT)
    assert not beat.is_alive()
    assert ws.sock is None  # close_connection() was called


def test_close_racing_the_peers_close_writes_one_close_frame() -> None:
    """Another thread's close() and the reader taking the peer's close: one close frame.

    Both would answer the closing handshake (our close, or the echo); the
    reader takes the peer's close under the lock close() holds.  Repeated,
    close() a little later each time, with a tiny switch interval so the
    two threads interleave finely.
    """
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for attempt in range(300):
            a, b = socket.socketpair()
            try:
                ws = WebSocket(a)
                peer = RawPeer(b)
                peer.send_close(1000, "peer")
                barrier = threading.Barrier(2)
                errors: list[BaseException] = []

                def read(ws: WebSocket = ws, barrier: threading.Barrier = barrier) -> None:
                    barrier.wait(WAIT)
                    ws.once()

                def close(
                    ws: WebSocket = ws, barrier: threading.Barrier = barrier, lag: int = attempt
                ) -> None:
                    barrier.wait(WAIT)
                    for _ in range(lag % 30 * 20):  # a lag sweeping the reader's parse
                        pass
                    ws.close(1001, "local")

                def recording(
                    work: Callable[[], None], errors: list[BaseException] = errors
                ) -> Callable[[], None]:
                    def run() -> None:
                        try:
                            work()
                        except BaseException as exc:  # e.g. a state change the race broke
                            errors.append(exc)

                    return run

                threads = [
                    threading.Thread(target=recording(read)),
                    threading.Thread(target=recording(close)),
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(WAIT)
                assert not any(thread.is_alive() for thread in threads)
                a.shutdown(socket.SHUT_WR)  # all written: EOF after it
                opcodes = []
                while True:
                    try:
                        opcodes.append(peer.recv_frame().opcode)
                    except EOFError:
                        break
                assert (errors, opcodes) == ([], [CLOSE])
            finally:
                a.close()
                b.close()
    finally:
        sys.setswitchinterval(interval)


def test_heartbeat_one_beat_and_the_loop_on_a_given_wait(endpoints: Endpoints) -> None:
    # The one home of the unsolicited-pong rule: a thread's stop event or a
    # gevent greenlet's sleep is the wait, the beat and its stopping are shared.
    ws, peer = endpoints.server(run=False)
    assert Heartbeat.beat(ws) is True
    frame = peer.recv_frame()
    assert frame.opcode == PONG and frame.payload.isdigit()
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return len(waits) == 3  # asked to stop on the third wait

    Heartbeat.beat_every(ws, 7.0, wait)
    assert waits == [7.0, 7.0, 7.0]
    assert [peer.recv_frame().opcode for _ in range(2)] == [PONG, PONG]
    ws.server_terminated = ws.client_terminated = True  # classic flags: terminated
    assert Heartbeat.beat(ws) is False
    waits.clear()
    Heartbeat.beat_every(ws, 7.0, wait)
    assert waits == [7.0]  # the loop ends with the first beat refused


def test_echo_websocket(endpoints: Endpoints) -> None:
    _ws, peer = endpoints.server(EchoWebSocket)
    peer.send(TEXT, "écho".encode())
    assert peer.recv_message() == (TEXT, "écho".encode())
    peer.send(BINARY, b"\x00\xff")
    assert peer.recv_message() == (BINARY, b"\x00\xff")
    peer.send(BINARY, b"")
    assert peer.recv_message() == (BINARY, b"")
    peer.send(TEXT, b"fr", fin=False)
    peer.send(CONT, b"ag", fin=False)
    peer.send(CONT, b"ment", fin=True)
    assert peer.recv_message() == (TEXT, b"fragment")
    big = os.urandom(200_000)
    peer.send(BINARY, big)
    assert peer.recv_message() == (BINARY, big)
    peer.send(PING, b"p")
    assert peer.recv_frame() == RawFrame(True, 0, PONG, False, b"p")
    peer.send_close(1000, "bye")
    assert peer.recv_frame().close_code == 1000
    peer.expect_eof()


# ---------------------------------------------------------------------------
# Protocol errors from the peer: the right close code on the wire and in closed()
# ---------------------------------------------------------------------------


class Small(Recorder):
    max_message_size = 1024


ProtocolCase = Callable[[RawPeer], None]


@pytest.mark.parametrize(
    ("send", "code"),
    [
        (lambda p: p.send(0x3, b"reserved opcode"), 1002),
        (lambda p: p.send(0xB, b""), 1002),
        (lambda p: p.send(TEXT, b"rsv1", rsv=0x40), 1002),
        (lambda p: p.send(CONT, b"nothing to continue"), 1002),
        (lambda p: (p.send(TEXT, b"a", fin=False), p.send(TEXT, b"b")), 1002),
        (lambda p: p.send(PING, b"x" * 126), 1002),
        (lambda p: p.send(PING, b"frag", fin=False), 1002),
        (lambda p: p.sock.sendall(frame_bytes(TEXT, b"unmasked", mask=False)), 1002),
        (lambda p: p.send(CLOSE, b"\x03"), 1002),
        (lambda p: p.send(CLOSE, close_payload(1006)), 1002),
        (lambda p: p.send(TEXT, b"bad \xff\xfe utf-8"), 1007),
        (lambda p: p.send(TEXT, b"\xed\xa0\x80"), 1007),  # an encoded surrogate
        (lambda p: (p.send(TEXT, b"\xc3", fin=False), p.send(CONT, b"(")), 1007),
        (lambda p: p.send(CLOSE, b"\x03\xe8\xff"), 1007),
        (lambda p: p.send(BINARY, b"z" * 1025), 1009),
        (lambda p: (p.send(BINARY, b"z" * 600, fin=False), p.send(CONT, b"z" * 600)), 1009),
    ],
    ids=[
        "opcode-3",
        "opcode-B",
        "rsv1",
        "orphan-cont",
        "new-msg-in-fragmented",
        "long-ping",
        "fragmented-ping",
        "unmasked",
        "close-1-byte",
        "close-1006",
        "bad-utf8",
        "surrogate",
        "bad-utf8-across-frames",
        "bad-utf8-close-reason",
        "too-big",
        "too-big-fragmented",
    ],
)
def test_protocol_error_close_codes(endpoints: Endpoints, send: ProtocolCase, code: int) -> None:
    ws, peer = endpoints.server(Small)
    assert ws.next_event() == ("opened",)
    send(peer)
    close = peer.recv_frame()
    assert close.opcode == CLOSE, close
    assert close.close_code == code
    # We failed the connection: no close frame came back, hence 1006 (reference)
    assert ws.wait_closed() == (1006, "Going away")
    assert ws.core.failure is not None and ws.core.failure.code == code
    peer.expect_eof()  # a failed connection is dropped at once (7.1.7)
    assert ws.events.get(timeout=WAIT)[0] == "closed"
    assert ws.events.empty()  # the bad message never reached received_message


def test_too_big_is_detected_from_the_header(endpoints: Endpoints) -> None:
    """1009 comes before the payload: a 1 GiB announcement is refused at once."""
    ws, peer = endpoints.server(Small)
    peer.sock.sendall(struct.pack("!BBQ", 0x82, 0xFF, 1 << 30) + b"abcd")
    close = peer.recv_frame()
    assert close.close_code == 1009
    assert ws.wait_closed() == (1006, "Going away")
    assert ws.core.failure is not None and ws.core.failure.code == 1009


# ---------------------------------------------------------------------------
# pending_input
# ---------------------------------------------------------------------------


def test_pending_input_processed_after_opened(endpoints: Endpoints) -> None:
    a, b = endpoints.socketpair()
    ws = Recorder(a)
    ws.pending_input = frame_bytes(TEXT, b"early") + frame_bytes(PING, b"p")
    peer = RawPeer(b)
    endpoints.run(ws)
    assert ws.next_event() == ("opened",)
    assert ws.next_event() == ("message", TEXT, b"early", TextMessage)
    assert peer.recv_frame() == RawFrame(True, 0, PONG, False, b"p")
    peer.send(TEXT, b"later")
    assert ws.next_event() == ("message", TEXT, b"later", TextMessage)
    assert ws.pending_input == b""


def test_pending_input_with_a_partial_frame(endpoints: Endpoints) -> None:
    a, b = endpoints.socketpair()
    ws = Recorder(a)
    whole = frame_bytes(BINARY, b"split across handshake and socket")
    ws.pending_input = whole[:7]
    peer = RawPeer(b)
    endpoints.run(ws)
    assert ws.next_event() == ("opened",)
    peer.sock.sendall(whole[7:])
    assert ws.next_event() == (
        "message",
        BINARY,
        b"split across handshake and socket",
        BinaryMessage,
    )


def test_pending_input_close_ends_connection(endpoints: Endpoints) -> None:
    a, b = endpoints.socketpair()
    ws = Recorder(a)
    ws.pending_input = frame_bytes(CLOSE, close_payload(1000, "already"))
    peer = RawPeer(b)
    endpoints.run(ws)
    assert ws.next_event() == ("opened",)
    assert peer.recv_frame().close_code == 1000
    assert ws.wait_closed() == (1000, b"already")


# ---------------------------------------------------------------------------
# The reused receive buffer (plain sockets read into one buffer per thread)
# ---------------------------------------------------------------------------


class Keeper(WebSocket):
    """Keeps the Message objects themselves, as applications may."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.kept: list[Message] = []
        super().__init__(*args, **kwargs)

    def received_message(self, message: Message) -> None:
        self.kept.append(message)


def as_managed(ws: WebSocket) -> WebSocket:
    """Non-blocking, as WebSocketManager.add() makes it: reads go to the reused buffer."""
    assert ws.sock is not None
    ws.sock.setblocking(False)
    ws._nonblocking = True
    return ws


def test_messages_kept_across_reads_stay_intact(endpoints: Endpoints) -> None:
    """Every later read reuses the buffer: nothing kept may point into it."""
    ws, peer = endpoints.server(Keeper, run=False)
    as_managed(ws)
    rng = random.Random(7)
    expected: list[tuple[int, bytes]] = []
    wire = bytearray()
    for i in range(300):
        size = rng.choice([0, 1, 125, 126, 1000, 65535, 65536, 200_000])
        if i % 3 == 0:
            payload = (f"{i}:" + "é" * (size // 2)).encode()
            opcode = TEXT
        else:
            payload = rng.randbytes(size)
            opcode = BINARY
        expected.append((opcode, payload))
        if i % 5 == 0 and len(payload) > 2:  # fragmented, a ping in between
            third = len(payload) // 3
            wire += frame_bytes(opcode, payload[:third], fin=False)
            wire += frame_bytes(PING, b"between")
            wire += frame_bytes(CONT, payload[third:], fin=True)
        else:
            wire += frame_bytes(opcode, payload)

    def send() -> None:
        view = memoryview(wire)
        while view:  # odd-sized writes: frames split anywhere across reads
            step = rng.choice([1, 7, 4096, 70_001])
            peer.sock.sendall(view[:step])
            view = view[step:]

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    deadline = time.monotonic() + 20
    while len(ws.kept) < len(expected):
        assert time.monotonic() < deadline, f"{len(ws.kept)} of {len(expected)} messages"
        assert ws.once()
    sender.join(WAIT)
    assert [(m.opcode, bytes(m.data)) for m in ws.kept] == expected
    assert not any(isinstance(m.data, memoryview) for m in ws.kept)


def test_overridden_process_is_given_bytes(endpoints: Endpoints) -> None:
    """A subclass's process() may keep what it is given: it gets bytes, not a view."""
    seen: list[Any] = []

    class Overrides(Recorder):
        def process(self, bytes: bytes) -> bool:
            seen.append(bytes)
            return super().process(bytes)

    ws, peer = endpoints.server(Overrides, run=False)
    as_managed(ws)
    for text in (b"one", b"two"):
        peer.send(TEXT, text)
        deadline = time.monotonic() + WAIT
        while sum(map(len, seen)) < len(frame_bytes(TEXT, text)) * (1 + (text == b"two")):
            assert time.monotonic() < deadline
            assert ws.once()
    assert all(type(chunk) is bytes for chunk in seen)
    assert len(b"".join(seen)) == 2 * len(frame_bytes(TEXT, b"one"))
    assert [ws.next_event()[2] for _ in range(2)] == [b"one", b"two"]


def test_a_handler_reading_another_websocket_does_not_clobber_the_buffer(
    endpoints: Endpoints,
) -> None:
    """A read in the same thread, from inside a handler, gets a buffer of its own."""
    other, other_peer = endpoints.server(Keeper, run=False)
    as_managed(other)
    other_peer.send(BINARY, b"\xee" * 100_000)

    class ReadsOther(Keeper):
        def received_message(self, message: Message) -> None:
            super().received_message(message)
            if len(self.kept) == 1:
                while not other.kept:
                    assert other.once()

    ws, peer = endpoints.server(ReadsOther, run=False)
    as_managed(ws)
    # Both messages arrive in one read: the second is parsed after the handler ran.
    second = b"\x11" * 50_000
    peer.sock.sendall(frame_bytes(TEXT, b"first") + frame_bytes(BINARY, second))
    deadline = time.monotonic() + WAIT
    while len(ws.kept) < 2:
        assert time.monotonic() < deadline
        assert ws.once()
    assert [bytes(m.data) for m in ws.kept] == [b"first", second]
    assert bytes(other.kept[0].data) == b"\xee" * 100_000


def test_thread_mode_reads_keep_no_buffer(endpoints: Endpoints) -> None:
    """A blocking websocket (thread mode) does not hold a reused buffer in its thread."""
    ws, peer = endpoints.server(Keeper, run=False)
    held: list[bool] = []

    def read() -> None:
        assert ws.once()
        held.append("buf" in websocket_module._buffers.__dict__)

    peer.send(BINARY, b"x" * 1000)
    thread = threading.Thread(target=read)
    thread.start()
    thread.join(WAIT)
    assert held == [False] and bytes(ws.kept[0].data) == b"x" * 1000
