"""Integration tests for ws4py.manager: the pollers and WebSocketManager on real sockets.

Server-side websockets sit on one end of ``socket.socketpair()``; the other
end is a raw peer speaking frames built and parsed here.  Every manager a
test starts is stopped and joined, and every socket closed, by the fixtures.
"""

from __future__ import annotations

import logging
import os
import queue
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ws4py.exc import ConnectionClosedError
from ws4py.manager import (
    EPollPoller,
    KQueuePoller,
    SelectPoller,
    WebSocketManager,
    default_poller,
)
from ws4py.messaging import BinaryMessage, Message, TextMessage
from ws4py.websocket import WebSocket

pytestmark = pytest.mark.timeout(30)

WAIT = 5.0
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

POLLERS: list[Any] = [SelectPoller]
if hasattr(select, "epoll"):
    POLLERS.append(EPollPoller)
if hasattr(select, "kqueue"):
    POLLERS.append(KQueuePoller)


# ---------------------------------------------------------------------------
# Raw peer
# ---------------------------------------------------------------------------


def masked(opcode: int, payload: bytes = b"", fin: bool = True) -> bytes:
    key = os.urandom(4)
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    if n < 126:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n < 0x10000:
        head = struct.pack("!BBH", b0, 0xFE, n)
    else:
        head = struct.pack("!BBQ", b0, 0xFF, n)
    if not n:
        return head + key
    stream = (key * (n // 4 + 1))[:n]
    body = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
    return head + key + body


class Peer:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        sock.settimeout(WAIT)

    def send(self, opcode: int, payload: bytes = b"", fin: bool = True) -> None:
        self.sock.sendall(masked(opcode, payload, fin))

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            data = self.sock.recv(1 << 20)
            if not data:
                raise EOFError("connection closed")
            self.buf += data
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def recv_frame(self) -> tuple[int, bytes]:
        b0, b1 = self._read(2)
        assert b0 & 0x80 and not b1 & 0x80, "whole, unmasked frames from a server"
        length = b1 & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read(8))[0]
        return b0 & 0x0F, self._read(length)

    def recv_close(self) -> tuple[int, str]:
        opcode, payload = self.recv_frame()
        assert opcode == CLOSE, (opcode, payload[:50])
        return struct.unpack("!H", payload[:2])[0], payload[2:].decode()

    def expect_eof(self) -> None:
        assert not self.buf
        assert self.sock.recv(100) == b""


class Recorder(WebSocket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.closed_calls: list[tuple[int, bytes | str | None]] = []
        self.closed_event = threading.Event()
        self.opened_in: str | None = None
        super().__init__(*args, **kwargs)

    def opened(self) -> None:
        self.opened_in = threading.current_thread().name
        self.events.put(("opened",))

    def received_message(self, message: Message) -> None:
        self.events.put(("message", message.opcode, bytes(message.data)))

    def closed(self, code: int, reason: bytes | str | None = None) -> None:
        self.closed_calls.append((code, reason))
        self.closed_event.set()

    def wait_closed(self, timeout: float = WAIT) -> tuple[int, bytes | str | None]:
        assert self.closed_event.wait(timeout), "closed() was not called in time"
        return self.closed_calls[0]


class Echo(Recorder):
    def received_message(self, message: Message) -> None:
        super().received_message(message)
        self.send(message.data, message.is_binary)


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


class Sockets:
    def __init__(self) -> None:
        self.all: list[socket.socket] = []

    def pair(self, bufsize: int | None = None) -> tuple[socket.socket, socket.socket]:
        a, b = socket.socketpair()
        if bufsize:
            for s in (a, b):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, bufsize)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, bufsize)
        self.all += [a, b]
        return a, b


@pytest.fixture
def sockets() -> Iterator[Sockets]:
    holder = Sockets()
    yield holder
    for sock in holder.all:
        sock.close()


@pytest.fixture
def start_manager() -> Iterator[Callable[..., WebSocketManager]]:
    managers: list[WebSocketManager] = []

    def start(poller: Any = None) -> WebSocketManager:
        manager = WebSocketManager(poller=poller)
        manager.start()
        managers.append(manager)
        return manager

    yield start
    for manager in managers:
        manager.stop()
    for manager in managers:
        manager.join(WAIT)
        assert not manager.is_alive(), "a manager thread survived stop()"


@pytest.fixture(params=POLLERS, ids=lambda cls: cls.__name__)
def manager(
    request: pytest.FixtureRequest, start_manager: Callable[..., WebSocketManager]
) -> WebSocketManager:
    return start_manager(request.param(timeout=0.05))


def managed(
    manager: WebSocketManager, sockets: Sockets, cls: type[Recorder] = Echo, **kw: Any
) -> tuple[Any, Peer]:
    a, b = sockets.pair(**kw)
    ws = cls(a)
    manager.add(ws)
    return ws, Peer(b)


# ---------------------------------------------------------------------------
# Pollers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("poller_cls", POLLERS, ids=lambda cls: cls.__name__)
def test_poller_register_poll_unregister(poller_cls: Any, sockets: Sockets) -> None:
    poller = poller_cls(timeout=0.05)
    try:
        a1, b1 = sockets.pair()
        a2, b2 = sockets.pair()
        poller.register(a1.fileno())
        poller.register(a2.fileno())
        poller.register(a2.fileno())  # twice is harmless
        assert list(poller.poll()) == []  # nothing to read: the timeout elapses
        b1.send(b"x")
        assert list(poller.poll()) == [a1.fileno()]
        b2.send(b"y")
        assert sorted(poller.poll()) == sorted([a1.fileno(), a2.fileno()])
        assert a1.recv(10) == b"x"
        assert list(poller.poll()) == [a2.fileno()]
        poller.unregister(a2.fileno())
        assert list(poller.poll()) == []  # a2 still has data, but is not watched
        poller.unregister(a2.fileno())  # twice is harmless
        b1.close()  # a hang-up is reported as readable (the read then sees EOF)
        assert list(poller.poll()) == [a1.fileno()]
        assert a1.recv(10) == b""
    finally:
        poller.release()


@pytest.mark.parametrize("poller_cls", POLLERS, ids=lambda cls: cls.__name__)
def test_poller_write_interest(poller_cls: Any, sockets: Sockets) -> None:
    poller = poller_cls(timeout=0.05)
    try:
        a, b = sockets.pair()
        fd = a.fileno()
        poller.register(fd)
        assert poller.poll_events() == []
        poller.want_write(fd, True)
        assert poller.poll_events() == [(fd, False, True)]
        b.send(b"data")
        assert poller.poll_events() == [(fd, True, True)]
        poller.want_write(fd, False)
        assert poller.poll_events() == [(fd, True, False)]
        assert poller.poll_events(timeout=0) == [(fd, True, False)]
    finally:
        poller.release()


def test_select_poller_reports_a_closed_descriptor(sockets: Sockets) -> None:
    poller = SelectPoller(timeout=0.05)
    a, _ = sockets.pair()
    fd = a.fileno()
    poller.register(fd)
    a.close()
    assert poller.poll() == [fd]  # reported, so that its websocket's read fails
    poller.release()


def test_epoll_poller_forgets_a_closed_descriptor(sockets: Sockets) -> None:
    poller = EPollPoller(timeout=0.05)
    a, _ = sockets.pair()
    fd = a.fileno()
    poller.register(fd)
    a.close()
    assert list(poller.poll()) == []
    poller.unregister(fd)  # no error
    poller.release()


def test_kqueue_poller_availability(sockets: Sockets) -> None:
    # Constructible everywhere, as in the reference; without kqueue it polls with
    # the platform's best poller (epoll here).
    poller = KQueuePoller(timeout=0.01)
    try:
        a, b = sockets.pair()
        assert list(poller.poll()) == []
        poller.register(a.fileno())
        b.send(b"x")
        assert list(poller.poll()) == [a.fileno()]
        if not hasattr(select, "kqueue"):
            fallback = EPollPoller if hasattr(select, "epoll") else SelectPoller
            assert isinstance(poller._fallback, fallback)
    finally:
        poller.release()


def test_default_poller() -> None:
    poller = default_poller(0.01)
    try:
        expected = EPollPoller if hasattr(select, "epoll") else KQueuePoller
        if not hasattr(select, "epoll") and not hasattr(select, "kqueue"):
            expected = SelectPoller
        assert isinstance(poller, expected) and poller.timeout == 0.01
    finally:
        poller.release()


# ---------------------------------------------------------------------------
# WebSocketManager
# ---------------------------------------------------------------------------


def test_add_calls_opened_then_reads(manager: WebSocketManager, sockets: Sockets) -> None:
    assert manager.is_alive() and manager.daemon
    ws, peer = managed(manager, sockets)
    # opened() ran in add(), in the caller's thread, before add() returned
    assert ws.events.get_nowait() == ("opened",)
    assert ws.opened_in == threading.current_thread().name
    assert len(manager) == 1 and ws in manager and list(manager) == [ws]
    assert ws.sock is not None and ws.sock.gettimeout() == 0.0  # non-blocking now
    peer.send(TEXT, "héllo".encode())
    assert ws.events.get(timeout=WAIT) == ("message", TEXT, "héllo".encode())
    assert peer.recv_frame() == (TEXT, "héllo".encode())
    peer.send(PING, b"p")
    assert peer.recv_frame() == (PONG, b"p")
    big = os.urandom(1_000_000)
    peer.send(BINARY, big)
    assert peer.recv_frame() == (BINARY, big)


def test_several_websockets_len_iter_in(manager: WebSocketManager, sockets: Sockets) -> None:
    pairs = [managed(manager, sockets) for _ in range(5)]
    assert len(manager) == 5
    assert {id(ws) for ws in manager} == {id(ws) for ws, _ in pairs}
    assert all(ws in manager for ws, _ in pairs)
    assert object() not in manager
    for i, (_, peer) in enumerate(pairs):
        peer.send(TEXT, f"to {i}".encode())
    for i, (_, peer) in enumerate(pairs):
        assert peer.recv_frame() == (TEXT, f"to {i}".encode())


def test_remove_does_not_call_closed(manager: WebSocketManager, sockets: Sockets) -> None:
    ws, peer = managed(manager, sockets)
    other, other_peer = managed(manager, sockets)
    manager.remove(ws)
    manager.remove(ws)  # twice is harmless
    assert ws not in manager and len(manager) == 1 and list(manager) == [other]
    assert not ws.closed_event.is_set() and ws.sock is not None
    peer.send(TEXT, b"not read by the manager")
    other_peer.send(TEXT, b"still managed")
    assert other_peer.recv_frame() == (TEXT, b"still managed")
    assert ws.events.get_nowait() == ("opened",)
    assert ws.events.empty()  # the removed one's data was not read
    ws.sock.setblocking(True)
    ws._nonblocking = False
    assert ws.once() is True  # the application drives it now
    assert ws.events.get(timeout=WAIT) == ("message", TEXT, b"not read by the manager")
    assert not ws.closed_calls


def test_peer_close_and_eof_end_websockets(manager: WebSocketManager, sockets: Sockets) -> None:
    ws1, peer1 = managed(manager, sockets)
    ws2, peer2 = managed(manager, sockets)
    peer1.send(CLOSE, struct.pack("!H", 4000) + b"bye")
    assert peer1.recv_close() == (4000, "bye")  # echoed with its reason, as 0.6.0
    assert ws1.wait_closed() == (4000, b"bye")
    peer1.expect_eof()
    peer2.sock.close()
    assert ws2.wait_closed() == (1006, "Going away")
    for ws in (ws1, ws2):
        assert ws.sock is None and ws.terminated
    assert len(manager) == 0


def test_broadcast(manager: WebSocketManager, sockets: Sockets) -> None:
    pairs = [managed(manager, sockets, Recorder) for _ in range(6)]
    client_a, client_b = sockets.pair()

    class ClientSide(Recorder):
        is_client = True

    client = ClientSide(client_a)  # a client-side websocket gets masked frames
    manager.add(client)
    client_peer = client_b
    client_peer.settimeout(WAIT)

    manager.broadcast("text for all")
    manager.broadcast(b"\x00binary for all", binary=True)
    manager.broadcast("text sent as binary", binary=True)
    manager.broadcast(TextMessage("a message"))
    manager.broadcast(BinaryMessage(b"a binary message"))
    expected = [
        (TEXT, b"text for all"),
        (BINARY, b"\x00binary for all"),
        (BINARY, b"text sent as binary"),
        (TEXT, b"a message"),
        (BINARY, b"a binary message"),
    ]
    for _, peer in pairs:
        assert [peer.recv_frame() for _ in expected] == expected
    data = b""
    while len(data) < 6:
        data += client_peer.recv(100)
    assert data[0] == 0x81 and data[1] & 0x80  # masked, as a client must


def test_broadcast_during_another_opened_is_not_missed(
    manager: WebSocketManager, sockets: Sockets
) -> None:
    """A websocket being added receives broadcasts made while its opened() runs.

    Here A's opened() is still running (in the thread adding it) when B is
    added from another thread and broadcasts from its own opened(): A must
    get B's broadcast (it used to be left out until its opened() returned).
    """
    a_opened, b_broadcast = threading.Event(), threading.Event()

    class Slow(Recorder):
        def opened(self) -> None:
            a_opened.set()
            assert b_broadcast.wait(WAIT)

    class Announcer(Recorder):
        def opened(self) -> None:
            manager.broadcast("B joined")
            b_broadcast.set()

    a_sock, a_peer_sock = sockets.pair()
    b_sock, _ = sockets.pair()
    slow = Slow(a_sock)
    adding_a = threading.Thread(target=manager.add, args=(slow,), daemon=True)
    adding_a.start()
    assert a_opened.wait(WAIT)
    manager.add(Announcer(b_sock))
    adding_a.join(WAIT)
    assert Peer(a_peer_sock).recv_frame() == (TEXT, b"B joined")
    assert slow in manager


def test_broadcast_skips_failing_websockets(manager: WebSocketManager, sockets: Sockets) -> None:
    ws1, peer1 = managed(manager, sockets, Recorder)
    _, peer2 = managed(manager, sockets, Recorder)
    ws1.close(1000)  # closing: sending on it raises, broadcast goes on
    assert peer1.recv_close() == (1000, "")
    manager.broadcast("after")
    assert peer2.recv_frame() == (TEXT, b"after")


def test_close_all(manager: WebSocketManager, sockets: Sockets) -> None:
    pairs = [managed(manager, sockets) for _ in range(4)]
    manager.close_all()
    for ws, peer in pairs:
        assert peer.recv_close() == (1001, "Server is shutting down")
        peer.send(CLOSE, struct.pack("!H", 1001))
        assert ws.wait_closed() == (1001, b"")
        peer.expect_eof()
    more = [managed(manager, sockets) for _ in range(2)]
    manager.close_all(1012, "restarting")
    for _, peer in more:
        assert peer.recv_close() == (1012, "restarting")
    manager.close_all()  # again: nothing more is sent
    for ws, peer in more:
        peer.send(CLOSE, struct.pack("!H", 1012))
        assert ws.wait_closed()[0] == 1012
        peer.expect_eof()


def test_stop_and_join(start_manager: Callable[..., WebSocketManager], sockets: Sockets) -> None:
    manager = start_manager()
    ws, peer = managed(manager, sockets)
    peer.send(TEXT, b"before stop")
    assert peer.recv_frame() == (TEXT, b"before stop")
    manager.stop()
    manager.join(WAIT)
    assert not manager.is_alive() and not manager.running
    assert not ws.closed_calls  # stop() is not a close


def test_manager_enforces_close_timeout(manager: WebSocketManager, sockets: Sockets) -> None:
    class Impatient(Echo):
        close_timeout = 0.3

    ws, peer = managed(manager, sockets, Impatient)
    ws.close(1000, "answer please")
    assert peer.recv_close() == (1000, "answer please")
    assert ws.wait_closed() == (1006, "Going away")  # the peer never answered
    peer.expect_eof()
    assert ws not in manager


def test_manager_keepalive(manager: WebSocketManager, sockets: Sockets) -> None:
    class KeepAlive(Echo):
        keepalive_interval = 0.2
        keepalive_timeout = 0.3

    ws, peer = managed(manager, sockets, KeepAlive)
    opcode, payload = peer.recv_frame()
    assert opcode == PING
    peer.send(PONG, payload)  # answered once...
    assert peer.recv_frame()[0] == PING  # ...then silent
    assert peer.recv_close()[0] == 1011
    peer.send(CLOSE, struct.pack("!H", 1011))
    assert ws.wait_closed()[0] == 1011


def test_pending_input_is_processed_by_add(manager: WebSocketManager, sockets: Sockets) -> None:
    a, b = sockets.pair()
    ws = Echo(a)
    ws.pending_input = masked(TEXT, b"came with the handshake")
    manager.add(ws)
    assert ws.events.get_nowait() == ("opened",)
    assert ws.events.get_nowait() == ("message", TEXT, b"came with the handshake")
    peer = Peer(b)
    assert peer.recv_frame() == (TEXT, b"came with the handshake")


def test_add_a_websocket_already_closed_by_pending_input(
    manager: WebSocketManager, sockets: Sockets
) -> None:
    a, b = sockets.pair()
    ws = Echo(a)
    ws.pending_input = masked(CLOSE, struct.pack("!H", 1000))
    manager.add(ws)
    assert ws.wait_closed() == (1000, b"")
    assert ws not in manager and len(manager) == 0
    peer = Peer(b)
    assert peer.recv_close() == (1000, "")
    peer.expect_eof()


def test_peer_that_never_reads_is_dropped(
    manager: WebSocketManager, sockets: Sockets, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ws4py")

    class Bounded(Recorder):
        max_write_buffer = 64 * 1024

    readers = [managed(manager, sockets, Bounded, bufsize=16 * 1024) for _ in range(3)]
    stalled, stalled_peer = managed(manager, sockets, Bounded, bufsize=16 * 1024)
    inboxes: list[queue.Queue[bytes]] = [queue.Queue() for _ in readers]
    stop = threading.Event()

    def read(peer: Peer, inbox: queue.Queue[bytes]) -> None:
        while not stop.is_set():
            try:
                _, payload = peer.recv_frame()
            except (EOFError, OSError):
                return
            inbox.put(payload)

    threads = [
        threading.Thread(target=read, args=(peer, inbox), daemon=True)
        for (_, peer), inbox in zip(readers, inboxes, strict=True)
    ]
    for thread in threads:
        thread.start()
    try:
        chunk = os.urandom(16 * 1024)
        for i in range(40):
            message = struct.pack("!I", i) + chunk
            manager.broadcast(message, binary=True)
            for inbox in inboxes:  # every reading peer gets every broadcast, intact
                assert inbox.get(timeout=WAIT) == message
        assert stalled.wait_closed() == (1006, "Going away")
        assert stalled not in manager
        assert all(ws in manager and not ws.terminated for ws, _ in readers)
        assert "does not read" in caplog.text
    finally:
        stop.set()
        for ws, _ in readers:
            ws.close(1000)
        for thread in threads:
            thread.join(WAIT)
    # What reached the stalled peer's socket before the drop: broadcasts in order, then EOF
    # (possibly in the middle of a frame: the rest was discarded).
    got = []
    with pytest.raises(EOFError):
        while True:
            opcode, payload = stalled_peer.recv_frame()
            assert opcode == BINARY and payload[4:] == chunk
            got.append(struct.unpack("!I", payload[:4])[0])
    assert got == list(range(len(got))) and len(got) < 40


def test_handler_exception_does_not_stop_the_manager(
    manager: WebSocketManager, sockets: Sockets, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="ws4py")

    class Faulty(Echo):
        def received_message(self, message: Message) -> None:
            if message.data == b"boom":
                raise RuntimeError("handler bug")
            super().received_message(message)

    faulty, faulty_peer = managed(manager, sockets, Faulty)
    others = [managed(manager, sockets) for _ in range(3)]
    faulty_peer.send(TEXT, b"boom")
    assert faulty_peer.recv_close() == (1011, "Internal error")
    faulty_peer.send(CLOSE, struct.pack("!H", 1011))
    assert faulty.wait_closed()[0] == 1011
    for i, (_, peer) in enumerate(others):
        peer.send(TEXT, f"after the error {i}".encode())
        assert peer.recv_frame() == (TEXT, f"after the error {i}".encode())
    assert manager.is_alive()

    class BrokenClosed(Echo):
        def closed(self, code: int, reason: bytes | str | None = None) -> None:
            raise RuntimeError("closed() bug")

    _, broken_peer = managed(manager, sockets, BrokenClosed)
    broken_peer.sock.close()
    _, peer = others[0]
    peer.send(TEXT, b"manager still alive")
    assert peer.recv_frame() == (TEXT, b"manager still alive")
    assert manager.is_alive()


def test_shutdown_closes_websockets_added_afterwards(
    start_manager: Callable[..., WebSocketManager], sockets: Sockets
) -> None:
    """A server going down: websockets whose handshake ends during shutdown()
    get the 1001 too, and one added after stop() is closed, not left unread."""
    manager = start_manager()
    _before, before_peer = managed(manager, sockets, Recorder)
    manager.shutdown(1001, "bye")
    assert before_peer.recv_close() == (1001, "bye")

    late, late_peer = managed(manager, sockets, Recorder)  # added during shutdown
    assert late_peer.recv_close() == (1001, "bye")
    late_peer.send(CLOSE, struct.pack("!H", 1001))
    assert late.wait_closed() == (1001, b"")

    manager.stop()
    manager.join(WAIT)
    after, after_peer = managed(manager, sockets, Recorder)  # the poller is gone
    assert after_peer.recv_close() == (1001, "bye")
    assert after.wait_closed()[0] in (1001, 1006)
    assert after.terminated


# ---------------------------------------------------------------------------
# Large writes and backpressure
# ---------------------------------------------------------------------------


def test_large_echoes_through_small_socket_buffers_are_intact(
    manager: WebSocketManager, sockets: Sockets
) -> None:
    """Big payloads go out as header + payload in one sendmsg(); partial writes resume right."""
    ws, peer = managed(manager, sockets, bufsize=8 * 1024)
    payloads = [os.urandom(n) for n in (16 * 1024, 1024 * 1024 + 3, 70_000, 2 * 1024 * 1024)]
    payloads.append("ß".encode() * 300_000)

    def send() -> None:
        for i, payload in enumerate(payloads):
            peer.send(TEXT if i == len(payloads) - 1 else BINARY, payload)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    for i, payload in enumerate(payloads):
        opcode, echoed = peer.recv_frame()
        assert (opcode, len(echoed)) == (TEXT if i == len(payloads) - 1 else BINARY, len(payload))
        assert echoed == payload, f"echo {i} differs"
    sender.join(WAIT)
    assert not ws.terminated


def test_a_peer_that_reads_late_is_throttled_not_dropped(
    manager: WebSocketManager, sockets: Sockets
) -> None:
    """Requests whose answers pile up beyond pause_reading_above stop being read.

    The peer sends 24 MiB of echo requests before reading anything: six times
    the websocket's max_write_buffer.  The manager stops reading it instead of
    buffering (and dropping it), other peers are served meanwhile, and once the
    peer reads, every echo arrives, in order.
    """
    ws, peer = managed(manager, sockets)
    others = [managed(manager, sockets) for _ in range(2)]
    chunk = os.urandom(256 * 1024)
    count = 96
    sent = threading.Event()

    def send() -> None:
        for i in range(count):
            peer.send(BINARY, struct.pack("!I", i) + chunk)
        sent.set()

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    # The sender soon blocks: its requests are not read while their answers wait.
    peak = 0
    for _ in range(40):
        peak = max(peak, ws.pending_write)
        for j, (_, other_peer) in enumerate(others):
            other_peer.send(TEXT, f"other {j}".encode())
            assert other_peer.recv_frame() == (TEXT, f"other {j}".encode())
        threading.Event().wait(0.02)
    assert not sent.is_set(), "all requests were read although no answer was"
    assert ws.pending_write <= ws.max_write_buffer and not ws.terminated
    assert peak > manager.pause_reading_above
    for i in range(count):
        opcode, payload = peer.recv_frame()
        assert opcode == BINARY and payload[4:] == chunk
        assert struct.unpack("!I", payload[:4])[0] == i
    assert sent.wait(WAIT)
    sender.join(WAIT)
    assert not ws.terminated and ws in manager


def test_remove_a_websocket_whose_socket_is_closed(
    manager: WebSocketManager, sockets: Sockets
) -> None:
    ws, _ = managed(manager, sockets)
    kept, kept_peer = managed(manager, sockets)
    assert ws.events.get(timeout=WAIT) == ("opened",)
    assert ws.sock is not None
    ws.sock.close()
    manager.remove(ws)
    assert ws not in manager and kept in manager and len(manager) == 1
    manager.remove(ws)  # twice: nothing happens
    never_added = Echo(sockets.pair()[0])
    manager.remove(never_added)
    kept_peer.send(TEXT, b"still served")
    assert kept_peer.recv_frame() == (TEXT, b"still served")


def test_large_sends_to_a_peer_that_never_reads_drop_it(
    manager: WebSocketManager, sockets: Sockets, caplog: pytest.LogCaptureFixture
) -> None:
    """The sendmsg path keeps the write-buffer bound: past it the peer is dropped (1006)."""
    caplog.set_level(logging.WARNING, logger="ws4py")

    class Bounded(Recorder):
        max_write_buffer = 64 * 1024

    ws, peer = managed(manager, sockets, Bounded, bufsize=16 * 1024)
    assert ws.events.get(timeout=WAIT) == ("opened",)
    chunk = os.urandom(32 * 1024)  # above VECTOR_WRITE_MIN: header + payload by sendmsg
    sent = 0
    with pytest.raises(ConnectionClosedError, match="write buffer overflow"):
        for i in range(1000):
            ws.send(struct.pack("!I", i) + chunk, binary=True)
            sent += 1
    assert ws.wait_closed() == (1006, "Going away")
    assert ws not in manager and "does not read" in caplog.text
    # What reached the peer before the drop: whole messages in order, then EOF.
    got = []
    with pytest.raises(EOFError):
        while True:
            opcode, payload = peer.recv_frame()
            assert opcode == BINARY and payload[4:] == chunk
            got.append(struct.unpack("!I", payload[:4])[0])
    assert got == list(range(len(got))) and len(got) <= sent + 1


# ---------------------------------------------------------------------------
# Connections told apart by object, never by descriptor number (issue #20)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("poller_cls", POLLERS, ids=lambda cls: cls.__name__)
def test_register_starts_afresh(poller_cls: Any, sockets: Sockets) -> None:
    # What was asked for a descriptor number that is not registered (a connection
    # already gone) must not stick to the next connection given that number.
    poller = poller_cls(timeout=0.05)
    try:
        a, b = sockets.pair()
        fd = a.fileno()
        poller.pause_reading(fd, True)
        poller.want_write(fd, True)
        poller.register(fd)
        b.send(b"x")
        assert poller.poll_events() == [(fd, True, False)]  # not paused
        poller.pause_reading(fd, False)  # resuming what was never paused changes nothing
        assert poller.poll_events() == [(fd, True, False)]  # no write interest either
        assert list(poller.poll()) == [fd]
    finally:
        poller.release()


@pytest.mark.parametrize("poller_cls", POLLERS, ids=lambda cls: cls.__name__)
def test_register_twice_keeps_what_was_asked(poller_cls: Any, sockets: Sockets) -> None:
    # Registering a watched descriptor again is the same registration: write
    # interest asked for meanwhile stays (epoll says "exists"; it is not reset).
    poller = poller_cls(timeout=0.05)
    try:
        a, _ = sockets.pair()
        fd = a.fileno()
        poller.register(fd)
        poller.want_write(fd, True)
        poller.register(fd)
        assert poller.poll_events() == [(fd, False, True)]
        assert list(poller.poll()) == []  # poll(): readability only
    finally:
        poller.release()


class StalePoller(SelectPoller):
    """A select poller that also reports events given in ``stale`` (a poll's leftovers)."""

    def __init__(self) -> None:
        super().__init__(timeout=0.01)
        self.stale: list[int] = []
        self.rounds = 0

    def poll_events(self, timeout: float | None = None) -> list[tuple[int, bool, bool]]:
        events = super().poll_events(timeout)
        self.rounds += 1
        return events + [(fd, True, False) for fd in self.stale]


def test_no_event_reaches_a_websocket_before_add_finished(
    start_manager: Callable[..., WebSocketManager], sockets: Sockets
) -> None:
    # A stale event for the descriptor number a new connection just got (its
    # predecessor's) must not make the manager read the new one while add() still
    # runs opened() in another thread: that would handle its bytes twice at once.
    poller = StalePoller()
    manager = start_manager(poller)
    a, b = sockets.pair()
    in_opened, release = threading.Event(), threading.Event()
    calls: list[str] = []

    class Slow(Echo):
        def opened(self) -> None:
            in_opened.set()
            assert release.wait(WAIT)
            calls.append("opened returns")

        def once(self) -> bool:
            calls.append("once")
            return super().once()

    ws = Slow(a)
    peer = Peer(b)
    peer.send(TEXT, b"early")
    adder = threading.Thread(target=manager.add, args=(ws,))
    adder.start()
    try:
        assert in_opened.wait(WAIT)
        poller.stale = [a.fileno()]
        start, deadline = poller.rounds, time.monotonic() + WAIT
        while poller.rounds < start + 10:  # ten polls, each reporting the stale event
            assert adder.is_alive() and time.monotonic() < deadline
            time.sleep(0.01)
        assert calls == []
    finally:
        release.set()
        adder.join(WAIT)
    poller.stale = []
    assert peer.recv_frame() == (TEXT, b"early")  # then read as usual, once
    assert calls[0] == "opened returns" and "once" in calls
    assert manager.is_alive()


def test_a_peer_gone_with_output_waiting_does_not_end_the_manager(
    manager: WebSocketManager, sockets: Sockets
) -> None:
    # The peer resets while the server still holds output for it: the last flush
    # fails (EPIPE/ECONNRESET).  Only that connection ends (1006); the manager, and
    # every other connection, go on.  (Before: the manager's thread died, and every
    # later add() answered 1001 "Going away".)
    ws, peer = managed(manager, sockets, bufsize=4096)
    _, other_peer = managed(manager, sockets)
    for _ in range(8):
        ws.send(os.urandom(64 * 1024), binary=True)
    assert ws.pending_write > 0
    peer.sock.close()
    assert ws.wait_closed()[0] == 1006
    assert manager.is_alive()
    other_peer.send(TEXT, b"still here")
    assert other_peer.recv_frame() == (TEXT, b"still here")
    _, late_peer = managed(manager, sockets)
    late_peer.send(TEXT, b"late")
    assert late_peer.recv_frame() == (TEXT, b"late")


def test_remove_after_the_descriptor_was_reused(
    manager: WebSocketManager, sockets: Sockets
) -> None:
    # A websocket whose socket was closed behind the manager's back, then its
    # number given to a new connection: removing (or sweeping) the old one must
    # leave the new one registered and served.
    old, _ = managed(manager, sockets)
    fd = old.sock.fileno()
    old.sock.close()  # behind the manager's back; the number is free again
    a, b = socket.socketpair()
    try:
        if a.fileno() != fd:  # the kernel gives the lowest free number: make sure
            os.dup2(a.fileno(), fd)
            a.close()
            a = socket.socket(fileno=fd)
        new = Echo(a)
        manager.add(new)
        new_peer = Peer(b)
        manager.remove(old)
        old.terminate()
        assert old not in manager and new in manager
        new_peer.send(TEXT, b"mine")
        assert new_peer.recv_frame() == (TEXT, b"mine")
    finally:
        manager.remove(new)
        a.close()
        b.close()


class ReferencePoller:
    """A user's poller with the reference's interface only; records what it is given."""

    def __init__(self) -> None:
        self.fds: list[int] = []
        self.registered: list[int] = []

    def register(self, fd: int) -> None:
        self.registered.append(fd)
        if fd not in self.fds:
            self.fds.append(fd)

    def unregister(self, fd: int) -> None:
        if fd in self.fds:
            self.fds.remove(fd)

    def poll(self) -> list[int]:
        if not self.fds:
            time.sleep(0.01)
            return []
        readable, _, _ = select.select(self.fds, [], [], 0.01)
        return readable

    def release(self) -> None:
        self.fds = []


def test_a_reference_poller_serves_our_websockets(
    start_manager: Callable[..., WebSocketManager], sockets: Sockets
) -> None:
    # A poller with only register/unregister/poll/release is handed the
    # websockets' descriptors only (never the manager's wake-up socket, as
    # with 0.6.0), yet what other threads queue (publish) is still written.
    poller = ReferencePoller()
    manager = start_manager(poller)
    a, b = sockets.pair()
    ws, peer = Echo(a), Peer(b)
    manager.add(ws)
    assert poller.registered == [a.fileno()]
    peer.send(TEXT, b"ping")
    assert peer.recv_frame() == (TEXT, b"ping")
    manager.publish("to all")
    assert peer.recv_frame() == (TEXT, b"to all")
    manager.remove(ws)
    assert poller.fds == []
    assert manager.is_alive()


def test_replacing_the_poller_keeps_serving(
    start_manager: Callable[..., WebSocketManager], sockets: Sockets
) -> None:
    # manager.poller = ... (0.6.0's CherryPy test did so): what is polled moves
    # to the new poller, the running loop polls with it from its next round.
    manager = start_manager(SelectPoller(timeout=0.05))
    a, b = sockets.pair()
    ws, peer = Echo(a), Peer(b)
    manager.add(ws)
    peer.send(TEXT, b"before")
    assert peer.recv_frame() == (TEXT, b"before")
    poller = ReferencePoller()
    manager.poller = poller
    assert manager.poller is poller and poller.registered == [a.fileno()]
    peer.send(TEXT, b"after")
    assert peer.recv_frame() == (TEXT, b"after")
    manager.publish("to all")
    assert peer.recv_frame() == (TEXT, b"to all")
    manager.poller = POLLERS[-1](timeout=0.05)  # and back to one of ours
    peer.send(TEXT, b"again")
    assert peer.recv_frame() == (TEXT, b"again")
    assert poller.fds == [a.fileno()]  # the previous one, in use when replaced, is left as is


def test_each_poller_says_whether_a_running_poll_sees_a_new_registration() -> None:
    """The manager wakes a running poll after a registration only where it must (select)."""
    from ws4py.manager import EPollPoller, KQueuePoller, SelectPoller, WebSocketManager

    pollers = [SelectPoller(), EPollPoller(), KQueuePoller()]
    try:
        assert [p.live_registration for p in pollers] == [False, True, True]
    finally:
        for p in pollers:
            p.release()

    class Classic:  # the reference's interface only
        def register(self, fd: int) -> None: ...
        def unregister(self, fd: int) -> None: ...
        def poll(self) -> list[int]:
            return []
        def release(self) -> None: ...

    for poller, woken in ((SelectPoller(), True), (EPollPoller(), False), (Classic(), True)):
        manager = WebSocketManager(poller=poller)
        try:
            assert manager._wake_on_register is woken
        finally:
            manager.stop()
