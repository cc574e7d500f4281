"""Broadcast backends: the in-process one, and Redis pub/sub on a real redis-server.

Managed websockets sit on one end of ``socket.socketpair()``; the other end
is a raw peer that reads the server's frames.  The Redis tests run Debian's
``redis-server`` (``scripts/install-redis.sh``) on a free loopback port with
a temporary directory; without it they fail, saying how to install it.
Every manager, backend and server a test starts is stopped by the fixtures.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
import redis
from websockets.asyncio.client import connect as aio_connect

from ws4py.async_websocket import WebSocket as AsyncWebSocket
from ws4py.async_websocket import serve as aio_serve
from ws4py.broadcast import (
    ALL_CHANNEL,
    Backend,
    BackendUnavailableError,
    BroadcastError,
    LocalBackend,
    decode_message,
    encode_message,
    group_channel,
)
from ws4py.broadcast import testing as redis_testing
from ws4py.broadcast.aio import AsyncBroadcaster
from ws4py.broadcast.redis import RedisBackend, RedisStreamBackend, redact_url
from ws4py.broadcast.testing import RedisServer, RedisServerMissing, free_port
from ws4py.manager import WebSocketManager
from ws4py.messaging import BinaryMessage, PingControlMessage, TextMessage
from ws4py.websocket import WebSocket

pytestmark = pytest.mark.timeout(60)

WAIT = 10.0
TEXT, BINARY = 0x1, 0x2


# -- raw peers and fixtures ----------------------------------------------------------------


class Peer:
    """The client end of a managed websocket: reads the server's (unmasked) frames."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        sock.settimeout(WAIT)

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            data = self.sock.recv(1 << 20)
            if not data:
                raise EOFError("connection closed")
            self.buf += data
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def recv(self) -> tuple[int, bytes]:
        b0, b1 = self._read(2)
        assert b0 & 0x80 and not b1 & 0x80, "whole, unmasked frames from a server"
        length = b1 & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read(8))[0]
        return b0 & 0x0F, self._read(length)

    def recv_text(self) -> str:
        opcode, payload = self.recv()
        assert opcode == TEXT, (opcode, payload[:40])
        return payload.decode()

    def nothing_within(self, seconds: float) -> bool:
        """True when no byte arrives within ``seconds``."""
        if self.buf:
            return False
        self.sock.settimeout(seconds)
        try:
            data = self.sock.recv(1 << 16)
        except (TimeoutError, BlockingIOError):
            return True
        finally:
            self.sock.settimeout(WAIT)
        self.buf += data
        return False


class Harness:
    """Managers, websockets, backends and Redis servers of one test; all closed after."""

    def __init__(self) -> None:
        self.managers: list[WebSocketManager] = []
        self.socks: list[socket.socket] = []
        self.backends: list[Backend] = []
        self.servers: list[RedisServer] = []

    def manager(self, backend: Backend | None = None, start: bool = True) -> WebSocketManager:
        manager = WebSocketManager(backend=backend)
        if start:
            manager.start()
        self.managers.append(manager)
        return manager

    def websocket(
        self,
        manager: WebSocketManager,
        cls: type[WebSocket] = WebSocket,
        bufsize: int | None = None,
        groups: tuple[str, ...] = (),
    ) -> tuple[WebSocket, Peer]:
        a, b = socket.socketpair()
        if bufsize:
            for s in (a, b):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, bufsize)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, bufsize)
        self.socks += [a, b]
        ws = cls(a)
        for group in groups:
            manager.join_group(ws, group)
        manager.add(ws)
        return ws, Peer(b)

    def redis_backend(self, url: str, kind: str = "pubsub", **options: Any) -> RedisBackend:
        options.setdefault("reconnect_delay", 0.05)
        options.setdefault("max_reconnect_delay", 0.5)
        cls = RedisStreamBackend if kind == "streams" else RedisBackend
        backend = cls(url, **options)
        self.backends.append(backend)
        return backend

    def redis_server(self) -> RedisServer:
        server = RedisServer()
        self.servers.append(server)
        return server.start()

    def close(self) -> None:
        for manager in self.managers:
            manager.stop()
        for manager in self.managers:
            if manager.is_alive():
                manager.join(WAIT)
            assert not manager.is_alive(), "a manager thread survived stop()"
        for backend in self.backends:
            backend.close()
        for sock in self.socks:
            sock.close()
        for server in self.servers:
            server.close()


@pytest.fixture
def harness() -> Iterator[Harness]:
    holder = Harness()
    yield holder
    holder.close()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the tests that do not stop it."""
    server = RedisServer()  # RedisServerMissing: "run scripts/install-redis.sh"
    server.start()
    yield server
    server.close()


@pytest.fixture(params=["pubsub", "streams"])
def kind(request: pytest.FixtureRequest) -> str:
    """Both Redis backends: pub/sub (RedisBackend) and Streams (RedisStreamBackend)."""
    value: str = request.param
    return value


@pytest.fixture
def prefix() -> str:
    """A channel prefix of the test's own: tests sharing a Redis do not hear each other."""
    return f"t{os.urandom(4).hex()}:"


def wait_for(predicate: Callable[[], bool], timeout: float = WAIT, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


class Collector:
    """A backend callback that records what arrives."""

    def __init__(self) -> None:
        self.items: list[tuple[str, bytes]] = []
        self.lock = threading.Condition()

    def __call__(self, channel: str, payload: bytes) -> None:
        with self.lock:
            self.items.append((channel, payload))
            self.lock.notify_all()

    def wait(self, count: int, timeout: float = WAIT) -> list[tuple[str, bytes]]:
        with self.lock:
            assert self.lock.wait_for(lambda: len(self.items) >= count, timeout), (
                f"{len(self.items)} of {count} messages arrived"
            )
            return list(self.items)


# -- payloads and the local backend ----------------------------------------------------------


def test_payload_round_trip() -> None:
    for message in (TextMessage("héllo"), BinaryMessage(b"\x00\xff"), TextMessage("")):
        payload = encode_message(message)
        assert payload[:1] in (b"t", b"b")
        decoded, origin = decode_message(payload)
        assert type(decoded) is type(message) and bytes(decoded.data) == bytes(message.data)
        assert origin is None
    origin_in = (b"12345678", 2**40 + 7)
    payload = encode_message(TextMessage("x"), origin_in)
    assert payload[:1] == b"T"
    decoded, origin = decode_message(payload)
    assert type(decoded) is TextMessage and bytes(decoded.data) == b"x" and origin == origin_in
    decoded = decode_message(b"tfrom redis-cli")[0]
    assert type(decoded) is TextMessage and bytes(decoded.data) == b"from redis-cli"
    for bad in (b"", b"x123", b"t\xff\xfe", b"T" + b"short"):
        with pytest.raises(ValueError):
            decode_message(bad)
    with pytest.raises(ValueError):
        encode_message(PingControlMessage(b"no"))
    assert group_channel("room") == "group:room"
    with pytest.raises(ValueError):
        group_channel("")


def test_local_backend_subscribe_publish_unsubscribe() -> None:
    backend = LocalBackend()
    first, second = Collector(), Collector()

    def broken(channel: str, payload: bytes) -> None:
        raise RuntimeError("a subscriber's bug")

    backend.subscribe("a", first)
    backend.subscribe("a", broken)
    backend.subscribe("a", second)
    backend.subscribe("b", second)
    assert sorted(backend.channels()) == ["a", "b"]
    backend.publish("a", b"one")  # the broken callback does not stop the others
    backend.publish("b", b"two")
    backend.publish("nobody", b"lost")
    assert first.items == [("a", b"one")]
    assert second.items == [("a", b"one"), ("b", b"two")]
    backend.unsubscribe("a", second)
    backend.unsubscribe("a", second)  # twice: nothing
    backend.unsubscribe("b", second)
    assert backend.channels() == ["a"]
    backend.publish("a", b"three")
    assert first.items[-1] == ("a", b"three") and len(second.items) == 2
    assert backend.wait_subscribed(0) and backend.connected
    backend.close()
    assert not backend.connected
    with pytest.raises(BroadcastError):
        backend.publish("a", b"closed")
    with pytest.raises(BroadcastError):
        backend.subscribe("a", first)


# -- the manager on the local backend --------------------------------------------------------


def test_publish_reaches_every_local_websocket_but_excluded(harness: Harness) -> None:
    manager = harness.manager()
    pairs = [harness.websocket(manager) for _ in range(3)]
    manager.publish("to all")
    manager.publish(b"\x00\x01", binary=True)
    manager.publish("text as binary", binary=True)
    for _, peer in pairs:
        assert peer.recv() == (TEXT, b"to all")
        assert peer.recv() == (BINARY, b"\x00\x01")
        assert peer.recv() == (BINARY, b"text as binary")
    sender, sender_peer = pairs[0]
    manager.publish("not for the sender", exclude=sender)
    manager.publish("after")
    for _, peer in pairs[1:]:
        assert peer.recv_text() == "not for the sender"
        assert peer.recv_text() == "after"
    assert sender_peer.recv_text() == "after"  # the excluded message never came


def test_groups_join_leave_and_leave_on_close(harness: Harness) -> None:
    backend = LocalBackend()
    manager = harness.manager(backend)
    ann, ann_peer = harness.websocket(manager, groups=("red", "blue"))
    bob, bob_peer = harness.websocket(manager, groups=("red",))
    _, cid_peer = harness.websocket(manager)
    assert manager.groups_of(ann) == {"red", "blue"} and manager.groups_of(bob) == {"red"}
    assert set(manager.members("red")) == {ann, bob} and manager.members("green") == []
    assert sorted(backend.channels()) == sorted([ALL_CHANNEL, "group:red", "group:blue"])

    manager.publish("red news", group="red")
    manager.publish("blue news", group="blue")
    manager.publish("for all")
    assert [ann_peer.recv_text() for _ in range(3)] == ["red news", "blue news", "for all"]
    assert [bob_peer.recv_text() for _ in range(2)] == ["red news", "for all"]
    assert cid_peer.recv_text() == "for all"

    manager.leave_group(ann, "red")
    manager.leave_group(ann, "red")  # twice: nothing
    manager.publish("red again", group="red")
    assert bob_peer.recv_text() == "red again"
    manager.broadcast("local red", group="red")  # the classic broadcast, to a group
    assert bob_peer.recv_text() == "local red"
    assert ann_peer.nothing_within(0.2) and cid_peer.nothing_within(0.0)

    ann.close(1000)  # the peer's close completes it: ann leaves every group
    assert ann_peer.recv()[0] == 0x8
    ann_peer.sock.sendall(struct.pack("!BB", 0x88, 0x80) + b"\0\0\0\0")
    assert wait_for(lambda: ann not in manager)
    assert manager.groups_of(ann) == frozenset()
    assert sorted(backend.channels()) == sorted([ALL_CHANNEL, "group:red"])  # blue: unsubscribed
    manager.stop()
    manager.join(WAIT)
    assert backend.channels() == []  # a stopped manager leaves the backend


def test_managers_sharing_a_local_backend_form_a_cluster(harness: Harness) -> None:
    backend = LocalBackend()
    one, two = harness.manager(backend), harness.manager(backend)
    ws1, peer1 = harness.websocket(one, groups=("g",))
    _, peer2 = harness.websocket(two, groups=("g",))
    _, other2 = harness.websocket(two)
    one.publish("everywhere")
    assert peer1.recv_text() == peer2.recv_text() == other2.recv_text() == "everywhere"
    two.publish("group g", group="g")
    assert peer1.recv_text() == peer2.recv_text() == "group g"
    # exclude= is about the publishing manager's own websocket
    one.publish("not ws1", group="g", exclude=ws1)
    assert peer2.recv_text() == "not ws1"
    one.broadcast("only on one")  # classic broadcast: this manager's websockets only
    assert peer1.recv_text() == "only on one"
    assert peer2.nothing_within(0.2) and other2.nothing_within(0.0)


def test_set_backend_moves_subscriptions(harness: Harness) -> None:
    manager = harness.manager()
    first = manager.backend
    assert isinstance(first, LocalBackend)
    _, peer = harness.websocket(manager, groups=("g",))
    second = LocalBackend()
    manager.set_backend(second)
    assert manager.backend is second
    assert first.channels() == [] and sorted(second.channels()) == [ALL_CHANNEL, "group:g"]
    manager.publish("via the new one", group="g")
    assert peer.recv_text() == "via the new one"
    first.publish(ALL_CHANNEL, b"tfrom the old one")
    second.publish(ALL_CHANNEL, b"tfrom the new one")
    assert peer.recv_text() == "from the new one"


def test_pending_deliveries_are_bounded(harness: Harness) -> None:
    manager = harness.manager(start=False)  # its thread does not run yet
    manager.max_pending_deliveries = 5
    _, peer = harness.websocket(manager)
    for i in range(8):
        manager.publish(f"m{i}")
    assert manager.dropped_deliveries == 3
    manager.start()
    assert [peer.recv_text() for _ in range(5)] == [f"m{i}" for i in range(5)]
    assert peer.nothing_within(0.2)


def test_non_managed_members_are_skipped(harness: Harness) -> None:
    manager = harness.manager()
    a, b = socket.socketpair()
    harness.socks += [a, b]
    outsider = WebSocket(a)  # a member, never added to the manager
    manager.join_group(outsider, "g")
    _, peer = harness.websocket(manager, groups=("g",))
    manager.publish("members only", group="g")
    assert peer.recv_text() == "members only"
    b.settimeout(0.2)
    with pytest.raises(TimeoutError):
        b.recv(10)


# -- one slow peer never delays the others ------------------------------------------------------


class SmallBufferWebSocket(WebSocket):
    max_write_buffer = 256 * 1024


def _slow_peer_run(harness: Harness, manager: WebSocketManager) -> None:
    """200 messages of 16 KiB: a peer that never reads is dropped, the others keep up."""
    count, size = 200, 16 * 1024
    # The readers keep the default bound (4 MiB: more than the whole run, so a
    # reader slowed down by a loaded machine is never dropped); the stalled
    # peer has a small one.
    fast = [harness.websocket(manager, bufsize=64 * 1024) for _ in range(4)]
    stalled, _ = harness.websocket(manager, SmallBufferWebSocket, bufsize=16 * 1024)
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    errors: list[BaseException] = []

    def read(peer: Peer) -> None:
        try:
            for i in range(count):
                opcode, payload = peer.recv()
                assert opcode == BINARY and int.from_bytes(payload[:4], "big") == i
                latencies.append(time.monotonic() - sent_at[i])
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=read, args=(peer,)) for _, peer in fast]
    for thread in readers:
        thread.start()
    start = time.monotonic()
    for i in range(count):
        sent_at[i] = time.monotonic()
        manager.publish(i.to_bytes(4, "big") + bytes(size - 4), binary=True)
        time.sleep(0.002)
    for thread in readers:
        thread.join(30)
    elapsed = time.monotonic() - start
    assert not errors, errors
    assert len(latencies) == 4 * count
    assert wait_for(lambda: stalled not in manager and stalled.terminated, 5)
    # A blocking write to the stalled peer would hold every delivery until the
    # peer is dropped (WebSocket.write_timeout: 60 s); here the others got each
    # message at once (typically within milliseconds; the bound allows for a
    # loaded machine).
    assert max(latencies) < 3.0, (max(latencies), sorted(latencies)[len(latencies) // 2])
    assert elapsed < 20, elapsed


def test_a_stalled_peer_does_not_delay_the_others_local(harness: Harness) -> None:
    _slow_peer_run(harness, harness.manager())


def test_a_stalled_peer_does_not_delay_the_others_redis(
    harness: Harness, redis_server: RedisServer, prefix: str, kind: str
) -> None:
    backend = harness.redis_backend(redis_server.url, kind, channel_prefix=prefix)
    manager = harness.manager(backend)
    assert backend.wait_subscribed(WAIT)
    _slow_peer_run(harness, manager)


# -- Redis ------------------------------------------------------------------------------------


def test_redis_publish_reaches_every_backend_with_the_prefix(
    harness: Harness, redis_server: RedisServer, prefix: str
) -> None:
    one = harness.redis_backend(redis_server.url, channel_prefix=prefix)
    two = harness.redis_backend(redis_server.url, channel_prefix=prefix)
    stranger = harness.redis_backend(redis_server.url, channel_prefix=prefix + "other:")
    got1, got2, got_stranger = Collector(), Collector(), Collector()
    one.subscribe("news", got1)
    two.subscribe("news", got2)
    stranger.subscribe("news", got_stranger)
    for backend in (one, two, stranger):
        assert backend.wait_subscribed(WAIT) and backend.connected
    one.publish("news", b"\x00binary-safe\xff")
    two.publish("news", b"second")
    assert got1.wait(2) == got2.wait(2) == [("news", b"\x00binary-safe\xff"), ("news", b"second")]
    # Redis itself: the channel is prefixed, and has two subscribers.
    client = redis.Redis.from_url(redis_server.url)
    assert client.pubsub_numsub(f"{prefix}news") == [(f"{prefix}news".encode(), 2)]
    client.close()
    time.sleep(0.1)
    assert got_stranger.items == []
    assert one.published == 1 and two.received >= 2


def test_redis_per_publisher_order_exactly_once(
    harness: Harness, redis_server: RedisServer, prefix: str, kind: str
) -> None:
    url = redis_server.url
    publishers = [harness.redis_backend(url, kind, channel_prefix=prefix) for _ in range(2)]
    receivers = [harness.redis_backend(url, kind, channel_prefix=prefix) for _ in range(3)]
    collectors = [Collector() for _ in receivers]
    for backend, collector in zip(receivers, collectors, strict=True):
        backend.subscribe("c", collector)
        assert backend.wait_subscribed(WAIT)
    per_thread = 400

    def publish(backend: RedisBackend, name: str) -> None:
        for i in range(per_thread):
            backend.publish("c", f"{name}:{i}".encode())

    # Two threads on each backend: four publishers, interleaving freely.
    threads = [
        threading.Thread(target=publish, args=(backend, f"p{n}t{t}"))
        for n, backend in enumerate(publishers)
        for t in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    total = per_thread * len(threads)
    for collector in collectors:
        items = collector.wait(total)
        time.sleep(0.05)
        assert len(collector.items) == total  # nothing twice
        seen: dict[str, list[int]] = {}
        for _, payload in items:
            name, _, number = payload.decode().partition(":")
            seen.setdefault(name, []).append(int(number))
        assert sorted(seen) == ["p0t0", "p0t1", "p1t0", "p1t1"]
        for numbers in seen.values():
            assert numbers == list(range(per_thread))  # each once, in its publisher's order


def test_redis_unsubscribe_is_seen_by_redis(
    harness: Harness, redis_server: RedisServer, prefix: str
) -> None:
    backend = harness.redis_backend(redis_server.url, channel_prefix=prefix)
    client = redis.Redis.from_url(redis_server.url)
    collector = Collector()
    backend.subscribe("a", collector)
    backend.subscribe("b", collector)
    assert backend.wait_subscribed(WAIT)
    channels = [f"{prefix}a".encode(), f"{prefix}b".encode()]
    assert sorted(client.pubsub_channels(f"{prefix}*")) == channels
    backend.unsubscribe("a", collector)
    assert wait_for(lambda: client.pubsub_channels(f"{prefix}*") == [f"{prefix}b".encode()])
    backend.publish("a", b"nobody listens")
    backend.publish("b", b"heard")
    assert collector.wait(1) == [("b", b"heard")]
    client.close()


def test_redis_manager_groups_across_processes(
    harness: Harness, redis_server: RedisServer, prefix: str, kind: str
) -> None:
    """Two managers with a backend each: two processes as far as Redis can tell."""
    url = redis_server.url
    one = harness.manager(harness.redis_backend(url, kind, channel_prefix=prefix))
    two = harness.manager(harness.redis_backend(url, kind, channel_prefix=prefix))
    ann, ann_peer = harness.websocket(one, groups=("room",))
    _, bob_peer = harness.websocket(two, groups=("room",))
    _, cid_peer = harness.websocket(two)  # not in the room
    for manager in (one, two):
        assert manager.backend.wait_subscribed(WAIT)
    one.publish("hi room", group="room")
    two.publish("hi all")
    one.publish("not ann", group="room", exclude=ann)
    one.publish(b"\x01\x02", group="room", binary=True)
    assert [ann_peer.recv() for _ in range(3)] == [
        (TEXT, b"hi room"), (TEXT, b"hi all"), (BINARY, b"\x01\x02")
    ]
    assert [bob_peer.recv() for _ in range(4)] == [
        (TEXT, b"hi room"), (TEXT, b"hi all"), (TEXT, b"not ann"), (BINARY, b"\x01\x02")
    ]
    assert cid_peer.recv_text() == "hi all"
    assert cid_peer.nothing_within(0.2)
    # A foreign publisher speaking the documented wire format; garbage is ignored.
    client = redis.Redis.from_url(redis_server.url)
    for payload in (b"\x00garbage", b"tfrom redis-cli"):
        if kind == "streams":
            client.xadd(f"{prefix}group:room", {"d": payload})
        else:
            client.publish(f"{prefix}group:room", payload)
    client.close()
    assert ann_peer.recv_text() == bob_peer.recv_text() == "from redis-cli"


def test_missing_redis_server_fails_saying_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_testing.shutil, "which", lambda name: None)
    monkeypatch.setattr(redis_testing, "_CANDIDATES", ())
    with pytest.raises(RedisServerMissing, match=r"run scripts/install-redis\.sh"):
        RedisServer()


def test_redis_unreachable_and_bad_urls(harness: Harness) -> None:
    port = free_port()  # nobody listens there
    backend = harness.redis_backend(f"redis://127.0.0.1:{port}/0", connect_timeout=0.5)
    assert not backend.wait_connected(0.3)
    assert not backend.connected and not backend.wait_subscribed(0.1)
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError, match=rf"Redis at redis://127\.0\.0\.1:{port}/0"):
        backend.publish("x", b"lost")
    assert time.monotonic() - started < 0.1  # fails at once: no connect timeout per publish
    with pytest.raises(BroadcastError, match="invalid Redis URL"):
        RedisBackend("http://127.0.0.1:1/")
    secret = "redis://user:s3cret@127.0.0.1:1/0"
    assert "s3cret" not in redact_url(secret) and "***" in redact_url(secret)
    backend.close()
    with pytest.raises(BroadcastError, match="closed"):
        backend.publish("x", b"closed")


def test_redis_killed_publish_raises_then_subscriptions_are_restored(
    harness: Harness, kind: str
) -> None:
    server = harness.redis_server()
    publisher = harness.redis_backend(server.url, kind)
    receiver = harness.redis_backend(server.url, kind)
    collector = Collector()
    receiver.subscribe("a", collector)
    receiver.subscribe("group:b", collector)
    assert receiver.wait_subscribed(WAIT) and publisher.wait_connected(WAIT)
    publisher.publish("a", b"before")
    collector.wait(1)

    server.kill()  # SIGKILL: connections reset, nothing saved
    assert wait_for(lambda: not publisher.connected and not receiver.connected, 5)
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError, match=r"unreachable.*not published"):
        publisher.publish("a", b"while down")
    assert time.monotonic() - started < 0.1  # raised at once, nothing queued
    time.sleep(0.3)  # a few reconnection attempts fail meanwhile

    server.start()  # again, on the same port, empty
    assert receiver.wait_subscribed(WAIT) and publisher.wait_connected(WAIT)
    if kind == "pubsub":  # Redis itself has the subscriptions again
        client = redis.Redis.from_url(server.url)
        assert sorted(client.pubsub_channels("ws4py:*")) == [b"ws4py:a", b"ws4py:group:b"]
        client.close()
    publisher.publish("a", b"after")
    publisher.publish("group:b", b"after b")
    items = collector.wait(3)
    time.sleep(0.05)
    assert collector.items == items == [("a", b"before"), ("a", b"after"), ("group:b", b"after b")]
    assert receiver.connections == 2


def test_redis_silent_server_is_detected_by_health_checks(harness: Harness, kind: str) -> None:
    """A server that stops answering (SIGSTOP: the TCP connection stays up) is dropped."""
    server = harness.redis_server()
    backend = harness.redis_backend(server.url, kind, health_check_interval=0.2,
                                    socket_timeout=0.5, connect_timeout=0.5)
    collector = Collector()
    backend.subscribe("a", collector)
    assert backend.wait_subscribed(WAIT)
    assert server.pid is not None
    os.kill(server.pid, signal.SIGSTOP)
    try:
        assert wait_for(lambda: not backend.connected, 5), "the silent server went unnoticed"
        with pytest.raises(BackendUnavailableError):
            backend.publish("a", b"lost")
    finally:
        os.kill(server.pid, signal.SIGCONT)
    assert backend.wait_subscribed(WAIT)
    backend.publish("a", b"back")
    assert collector.wait(1) == [("a", b"back")]


# -- the asyncio server's broadcaster ----------------------------------------------------------


def arun(coro: Any, timeout: float = 30.0) -> Any:
    """``asyncio.run`` bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def member_class(hub: AsyncBroadcaster) -> type[AsyncWebSocket]:
    class Member(AsyncWebSocket):
        async def opened(self) -> None:
            hub.add(self)
            query = parse_qs((self.environ or {}).get("QUERY_STRING", ""))
            for group in query.get("g", []):
                hub.join(self, group)
            if "small" in query:  # a small kernel buffer: the transport's fills up soon
                sock = self.proto.transport.get_extra_info("socket")  # type: ignore[union-attr]
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
            await self.send("welcome")  # the client knows it is a member now

    return Member


async def async_server(hub: AsyncBroadcaster) -> tuple[asyncio.Server, int]:
    server = await aio_serve(member_class(hub), "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def async_member(port: int, query: str = "", **options: Any) -> Any:
    client = await aio_connect(f"ws://127.0.0.1:{port}/ws?{query}", **options)
    assert await asyncio.wait_for(client.recv(), WAIT) == "welcome"
    return client


def server_side(hub: AsyncBroadcaster, client: Any) -> AsyncWebSocket:
    """The hub's websocket of a ``websockets`` client (matched by its address)."""
    local = client.local_address[1]
    return next(ws for ws in hub.members() if ws.peer_address[1] == local)


def test_async_broadcaster_groups_exclude_and_close() -> None:
    async def main() -> None:
        hub = AsyncBroadcaster()
        server, port = await async_server(hub)
        try:
            ann = await async_member(port, "g=red&g=blue")
            bob = await async_member(port, "g=red", compression=None)  # frame built once
            cid = await async_member(port)
            await hub.publish("to all")
            await hub.publish(b"\x00\x01", binary=True)  # bytes are text unless binary
            await hub.publish("red news", group="red")
            await hub.publish("blue news", group="blue")
            await hub.publish("not ann", group="red", exclude=server_side(hub, ann))

            async def received(client: Any, count: int) -> list[Any]:
                return [await asyncio.wait_for(client.recv(), WAIT) for _ in range(count)]

            assert await received(ann, 4) == ["to all", b"\x00\x01", "red news", "blue news"]
            assert await received(bob, 4) == ["to all", b"\x00\x01", "red news", "not ann"]
            assert await received(cid, 2) == ["to all", b"\x00\x01"]
            hub.broadcast("local only", group="blue")
            assert await received(ann, 1) == ["local only"]
            assert sorted(hub.backend.channels()) == [ALL_CHANNEL, "group:blue", "group:red"]
            await ann.close()  # leaves every group: blue has no member left
            for _ in range(200):
                if len(hub.members()) == 2:
                    break
                await asyncio.sleep(0.01)
            assert len(hub.members()) == 2 and hub.members("blue") == []
            assert sorted(hub.backend.channels()) == [ALL_CHANNEL, "group:red"]
            await bob.close()
            await cid.close()
        finally:
            server.close()
            hub.close()
        assert hub.backend.channels() == []

    arun(main())


def test_async_broadcaster_and_manager_share_redis(
    harness: Harness, redis_server: RedisServer, prefix: str
) -> None:
    """Two asyncio servers and a threaded manager, each with its own Redis backend."""
    backends = [harness.redis_backend(redis_server.url, channel_prefix=prefix) for _ in range(3)]
    manager = harness.manager(backends[2])
    _, peer = harness.websocket(manager, groups=("room",))

    async def main() -> None:
        hubs = [AsyncBroadcaster(backends[0]), AsyncBroadcaster(backends[1])]
        servers = [await async_server(hub) for hub in hubs]
        try:
            one = await async_member(servers[0][1], "g=room")
            two = await async_member(servers[1][1], "g=room")
            lone = await async_member(servers[1][1])
            for backend in backends:
                assert await asyncio.to_thread(backend.wait_subscribed, WAIT)
            await hubs[0].publish("room, from asyncio one", group="room")
            await hubs[1].publish("everyone, from asyncio two")
            await asyncio.to_thread(manager.publish, "room, from the manager", "room")
            expect_room = ["room, from asyncio one", "everyone, from asyncio two",
                           "room, from the manager"]
            for client in (one, two):
                got = [await asyncio.wait_for(client.recv(), WAIT) for _ in range(3)]
                assert got == expect_room
            assert await asyncio.wait_for(lone.recv(), WAIT) == "everyone, from asyncio two"
            for client in (one, two, lone):
                await client.close()
        finally:
            for server, _ in servers:
                server.close()
            for hub in hubs:
                hub.close()

    arun(main())
    assert [peer.recv_text() for _ in range(3)] == [
        "room, from asyncio one", "everyone, from asyncio two", "room, from the manager"
    ]


def test_async_stalled_peer_is_dropped_and_others_keep_up() -> None:
    count, size = 200, 16 * 1024

    async def main() -> None:
        hub = AsyncBroadcaster()
        hub.max_write_buffer = 256 * 1024
        server, port = await async_server(hub)
        try:
            fast = [await async_member(port, compression=None) for _ in range(3)]
            # A peer that completes the handshake, then never reads.
            stalled = socket.socket()
            stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
            stalled.connect(("127.0.0.1", port))
            stalled.sendall(
                b"GET /ws?small=1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            for _ in range(200):
                if len(hub.members()) == 4:
                    break
                await asyncio.sleep(0.01)
            assert len(hub.members()) == 4
            sent_at: dict[int, float] = {}
            latencies: list[float] = []

            async def read(client: Any) -> None:
                for i in range(count):
                    data = await asyncio.wait_for(client.recv(), WAIT)
                    assert int.from_bytes(data[:4], "big") == i
                    latencies.append(time.monotonic() - sent_at[i])

            readers = [asyncio.create_task(read(client)) for client in fast]
            for i in range(count):
                sent_at[i] = time.monotonic()
                await hub.publish(i.to_bytes(4, "big") + bytes(size - 4), binary=True)
                await asyncio.sleep(0.002)
            await asyncio.gather(*readers)
            assert len(latencies) == 3 * count and max(latencies) < 3.0, max(latencies)
            for _ in range(200):  # aborted: closed and forgotten
                if len(hub.members()) == 3:
                    break
                await asyncio.sleep(0.01)
            assert len(hub.members()) == 3
            stalled.close()
            for client in fast:
                await client.close()
        finally:
            server.close()
            hub.close()

    arun(main())


# -- Redis Streams: what a disconnected subscriber missed is replayed ---------------------------


def _kill_subscriber_connections(url: str, command: str) -> int:
    """CLIENT KILL the connections whose last command was ``command`` (the subscribers)."""
    client = redis.Redis.from_url(url)
    killed = 0
    for info in client.client_list():
        if info["cmd"] == command:
            client.client_kill_filter(_id=info["id"])
            killed += 1
    client.close()
    return killed


def test_streams_replay_what_a_reconnecting_subscriber_missed(harness: Harness) -> None:
    """The subscriber's connection is cut while 100 messages are published: none is lost.

    The same scenario over pub/sub loses what was published during the gap:
    that is the difference between the two backends.
    """
    server = harness.redis_server()
    results: dict[str, list[bytes]] = {}
    for kind, command in (("streams", "xread"), ("pubsub", "subscribe")):
        publisher = harness.redis_backend(server.url, kind)
        # A slow reconnection: the gap surely holds messages.
        receiver = harness.redis_backend(server.url, kind, reconnect_delay=0.6,
                                         max_reconnect_delay=0.6)
        collector = Collector()
        receiver.subscribe("c", collector)
        assert receiver.wait_subscribed(WAIT) and publisher.wait_connected(WAIT)
        for i in range(100):
            publisher.publish("c", b"%d" % i)
        collector.wait(100)
        assert _kill_subscriber_connections(server.url, command) == 1
        assert wait_for(lambda receiver=receiver: not receiver.connected, 5)  # type: ignore[misc]
        for i in range(100, 200):
            publisher.publish("c", b"%d" % i)  # the publisher's own connection is fine
        assert receiver.wait_subscribed(WAIT) and receiver.connections == 2
        publisher.publish("c", b"200")
        collector.wait(101 if kind == "pubsub" else 201)
        time.sleep(0.1)
        results[kind] = [payload for _, payload in collector.items]
        publisher.close()
        receiver.close()
    assert results["streams"] == [b"%d" % i for i in range(201)]  # each once, in order
    assert results["pubsub"] == [b"%d" % i for i in [*range(100), 200]]  # the gap is lost


def test_streams_start_at_the_newest_entry_and_are_trimmed(
    harness: Harness, redis_server: RedisServer, prefix: str
) -> None:
    publisher = harness.redis_backend(redis_server.url, "streams", channel_prefix=prefix,
                                      maxlen=50)
    assert publisher.wait_connected(WAIT)
    for i in range(500):
        publisher.publish("c", b"old %d" % i)
    client = redis.Redis.from_url(redis_server.url)
    assert client.xlen(f"{prefix}c") < 500  # MAXLEN ~ 50: trimmed (approximately)
    client.close()
    receiver = harness.redis_backend(redis_server.url, "streams", channel_prefix=prefix)
    collector = Collector()
    receiver.subscribe("c", collector)
    assert receiver.wait_subscribed(WAIT)
    publisher.publish("c", b"new")
    assert collector.wait(1) == [("c", b"new")]  # no history on subscription
    receiver.unsubscribe("c", collector)
    assert receiver.wait_subscribed(WAIT)  # the reader has taken the change into account
    publisher.publish("c", b"while unsubscribed")
    receiver.subscribe("c", collector)  # a new subscription starts afresh
    assert receiver.wait_subscribed(WAIT)
    publisher.publish("c", b"newer")
    assert collector.wait(2) == [("c", b"new"), ("c", b"newer")]


def test_groups_registry_says_when_to_subscribe_and_unsubscribe() -> None:
    """The membership rules the manager and the asyncio broadcaster share (sans I/O)."""
    from ws4py.broadcast import Groups

    groups: Groups[str] = Groups()
    assert not groups
    assert groups.join("a", "room") is True  # first member here: subscribe
    assert groups.join("b", "room") is False
    assert groups.join("a", "lobby") is True
    assert groups.join("a", "room") is False  # twice is once
    assert groups and sorted(groups.names()) == ["lobby", "room"]
    assert groups.groups_of("a") == frozenset({"room", "lobby"})
    assert sorted(groups.members("room")) == ["a", "b"] and groups.members("none") == []
    assert groups.leave("c", "room") is False  # not a member: nothing
    assert groups.leave("b", "lobby") is False
    assert groups.leave("b", "room") is False  # "a" is still there
    assert sorted(groups.leave_all("a")) == ["lobby", "room"]  # both emptied: unsubscribe
    assert not groups and groups.names() == [] and groups.groups_of("a") == frozenset()


def test_a_group_whose_channel_cannot_be_subscribed_has_no_member() -> None:
    from ws4py.manager import WebSocketManager

    class Down(LocalBackend):
        def subscribe(self, channel: str, callback: Any) -> None:
            if channel.startswith("group:"):
                raise BackendUnavailableError("down")
            super().subscribe(channel, callback)

    manager = WebSocketManager(backend=Down())
    member = object()
    try:
        with pytest.raises(BackendUnavailableError):
            manager.join_group(member, "room")  # type: ignore[arg-type]
        assert manager.members("room") == [] and manager.groups_of(member) == frozenset()  # type: ignore[arg-type]
    finally:
        manager.stop()

    async def main() -> None:
        hub = AsyncBroadcaster(Down())
        ws = object()
        hub._watch = lambda websocket: None  # type: ignore[method-assign]  # no connection here
        with pytest.raises(BackendUnavailableError):
            hub.join(ws, "room")  # type: ignore[arg-type]
        assert hub.members("room") == [] and hub.groups_of(ws) == frozenset()  # type: ignore[arg-type]
        hub.close()

    asyncio.run(main())
