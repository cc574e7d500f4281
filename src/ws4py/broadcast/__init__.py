"""Broadcast backends: one message, every subscriber, in one process or across many.

A :class:`ws4py.manager.WebSocketManager` publishes through a *backend* and
delivers what its backend hands back to the websockets it manages:

.. code-block:: python

    from ws4py.broadcast.redis import RedisBackend
    manager = WebSocketManager(backend=RedisBackend("redis://10.0.0.5:6379/0"))
    manager.join_group(ws, "room:42")         # groups (rooms); left on close
    manager.publish("hello, room", group="room:42")   # every member, every process
    manager.publish("hello, everyone")        # every websocket of every manager
    manager.broadcast("hello, here")          # classic: this manager's sockets, now

Backends
    :class:`LocalBackend` (the default) delivers within the process: to the
    managers that share it.  :class:`ws4py.broadcast.redis.RedisBackend`
    delivers through Redis pub/sub to every process subscribed to the same
    Redis (same ``channel_prefix``), on several machines behind a load
    balancer.  :class:`ws4py.broadcast.redis.RedisStreamBackend` does the
    same through Redis Streams and replays what a subscriber missed while
    its connection was down.  All implement :class:`Backend`; channels are
    plain strings (the manager uses ``"all"`` and ``"group:" + name``).
    :class:`ws4py.broadcast.aio.AsyncBroadcaster` brings them to the
    asyncio server.

Semantics (the Redis backend; the local one is the same without a network)
    *At most once.*  Redis pub/sub keeps nothing: a message reaches the
    processes subscribed when Redis handles the PUBLISH, once each, and no
    one else.  Nothing is replayed after a disconnection; a publish is never
    re-sent (a retry could deliver twice).  With ``RedisStreamBackend`` a
    subscriber that reconnects gets what it missed, once, in order, while
    the stream still holds it (the newest ``maxlen`` entries): nothing is
    lost across a dropped connection, nothing delivered twice; a Redis that
    restarts without its data still loses what it held.

    *Per-publisher order.*  Messages published one after the other by one
    thread (each :meth:`Backend.publish` returns once Redis has taken the
    message) reach every receiver in that order; messages of different
    publishers interleave arbitrarily.  A manager delivers in arrival order,
    so a websocket receives them in that order too.

    *While Redis is down*, :meth:`Backend.publish` raises
    :class:`BackendUnavailableError` at once (it does not queue): the
    subscriber connection is known to be lost, or the PUBLISH itself failed.
    The message was not published (after a timeout in the middle of a
    PUBLISH, it may have been: at most once).  The subscriber reconnects
    with exponential back-off (``reconnect_delay`` doubling up to
    ``max_reconnect_delay``); once connected again it subscribes to every
    channel still wanted, and publishing works again.  Messages published
    by others while this process was disconnected are lost to it.

    *Slow websockets never hold up the others.*  The Redis reader thread
    only hands messages to the manager (a bounded queue,
    ``WebSocketManager.max_pending_deliveries``); the manager's thread
    writes them without blocking, each frame built once, and drops a peer
    whose unread output exceeds ``WebSocket.max_write_buffer``.

Wire format (what a non-Python publisher sends to ``<prefix>all`` or
``<prefix>group:<name>``): one byte ``t`` (text, UTF-8) or ``b`` (binary)
then the payload; ``T``/``B`` are followed by a 16-byte origin (the
manager's id and a websocket's token) whose websocket is skipped.
"""

from __future__ import annotations

import logging
import struct
import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from ws4py.exc import WebSocketException
from ws4py.framing import OPCODE_BINARY, OPCODE_TEXT
from ws4py.messaging import BinaryMessage, Message, TextMessage

__all__ = [
    "ALL_CHANNEL",
    "Backend",
    "BackendUnavailableError",
    "BroadcastError",
    "Callback",
    "Groups",
    "LocalBackend",
    "decode_message",
    "encode_message",
    "group_channel",
]

logger = logging.getLogger("ws4py")

#: A subscriber: called with (channel, payload) for each message of its channels.
Callback = Callable[[str, bytes], None]

#: The channel of messages for every websocket of every manager.
ALL_CHANNEL = "all"

_ORIGIN = struct.Struct("!8sQ")  # manager id, websocket token


def group_channel(group: str) -> str:
    """The channel of a group's messages."""
    if not isinstance(group, str) or not group:
        raise ValueError("a group is a non-empty string")
    return "group:" + group


_Member = TypeVar("_Member", bound=Hashable)


class Groups(Generic[_Member]):
    """Who belongs to which group, for one manager or one asyncio broadcaster.

    The membership rules of both, in one place and without I/O or locks (the
    owner serialises calls: the manager under its lock, the broadcaster on
    its loop).  :meth:`join` and :meth:`leave` say when the owner must
    subscribe to a group's channel (its first local member joined) or
    unsubscribe (its last one left), so a process listens only to the groups
    it has members of.
    """

    def __init__(self) -> None:
        self._members: dict[str, set[_Member]] = {}
        self._groups_of: dict[_Member, set[str]] = {}

    def __bool__(self) -> bool:
        return bool(self._groups_of)

    def join(self, member: _Member, group: str) -> bool:
        """Add ``member`` to ``group``; True if it is the group's first member here."""
        members = self._members.setdefault(group, set())
        first = not members
        members.add(member)
        self._groups_of.setdefault(member, set()).add(group)
        return first

    def leave(self, member: _Member, group: str) -> bool:
        """Take ``member`` out of ``group``; True if the group has no member left here."""
        members = self._members.get(group)
        if members is None or member not in members:
            return False
        members.discard(member)
        joined = self._groups_of.get(member)
        if joined is not None:
            joined.discard(group)
            if not joined:
                del self._groups_of[member]
        if members:
            return False
        del self._members[group]
        return True

    def leave_all(self, member: _Member) -> list[str]:
        """Take ``member`` out of every group; the groups left with no member here."""
        joined = list(self._groups_of.get(member, ()))
        return [group for group in joined if self.leave(member, group)]

    def groups_of(self, member: _Member) -> frozenset[str]:
        return frozenset(self._groups_of.get(member, ()))

    def members(self, group: str) -> list[_Member]:
        return list(self._members.get(group, ()))

    def names(self) -> list[str]:
        """The groups with a member here."""
        return list(self._members)

    def clear(self) -> None:
        self._members.clear()
        self._groups_of.clear()


class BroadcastError(WebSocketException):
    """A broadcast backend could not do what was asked (closed, bad configuration)."""


class BackendUnavailableError(BroadcastError):
    """The backend's server is unreachable: the message was not published.

    Raised by :meth:`Backend.publish` while Redis is down or being
    reconnected to; nothing is queued.  Publishing again later is the
    caller's choice.
    """


def encode_message(message: Message, origin: tuple[bytes, int] | None = None) -> bytes:
    """A text or binary message as a backend payload (see the module's wire format)."""
    if message.opcode == OPCODE_TEXT:
        kind = b"t"
    elif message.opcode == OPCODE_BINARY:
        kind = b"b"
    else:
        raise ValueError("only text and binary messages are published")
    if origin is None:
        return kind + bytes(message.data)
    return kind.upper() + _ORIGIN.pack(*origin) + bytes(message.data)


def decode_message(payload: bytes) -> tuple[Message, tuple[bytes, int] | None]:
    """The message and origin of a payload; ValueError when it is not one of ours."""
    if not payload:
        raise ValueError("empty payload")
    kind = payload[:1]
    origin: tuple[bytes, int] | None = None
    data = payload[1:]
    if kind in (b"T", b"B"):
        if len(data) < _ORIGIN.size:
            raise ValueError("truncated origin")
        manager_id, token = _ORIGIN.unpack_from(data)
        origin = (manager_id, token)
        data = data[_ORIGIN.size :]
        kind = kind.lower()
    if kind == b"t":
        data.decode("utf-8")  # a text frame must carry valid UTF-8: refuse it here
        return TextMessage(data), origin
    if kind == b"b":
        return BinaryMessage(data), origin
    raise ValueError(f"unknown payload kind {kind!r}")


class Backend:
    """What a broadcast backend does; :class:`LocalBackend` and ``RedisBackend`` implement it.

    Callbacks run in the backend's delivery thread (or, for the local
    backend, in the publishing thread): they must be quick and must not
    block; a manager's callback only queues the message for its own thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: channel -> callbacks; the tuples are replaced, never changed in place,
        #: so a delivery thread may read them without the lock.
        self._callbacks: dict[str, tuple[Callback, ...]] = {}
        self.closed = False

    # -- the interface ------------------------------------------------------------

    def subscribe(self, channel: str, callback: Callback) -> None:
        """Call ``callback(channel, payload)`` for each message published to ``channel``."""
        with self._lock:
            if self.closed:
                raise BroadcastError(f"{self!r} is closed")
            callbacks = self._callbacks.get(channel, ())
            self._callbacks[channel] = (*callbacks, callback)
            first = not callbacks
        if first:
            self._channel_wanted(channel, True)

    def unsubscribe(self, channel: str, callback: Callback) -> None:
        """Stop calling ``callback`` for ``channel`` (nothing if it was not subscribed)."""
        with self._lock:
            callbacks = list(self._callbacks.get(channel, ()))
            try:
                callbacks.remove(callback)
            except ValueError:
                return
            if callbacks:
                self._callbacks[channel] = tuple(callbacks)
                return
            del self._callbacks[channel]
        self._channel_wanted(channel, False)

    def publish(self, channel: str, payload: bytes) -> None:
        """Publish ``payload`` to every subscriber of ``channel``.

        Raises :class:`BackendUnavailableError` when it cannot (nothing is queued).
        """
        raise NotImplementedError

    def wait_subscribed(self, timeout: float | None = None) -> bool:
        """Wait until every subscription asked for is in effect; False on timeout."""
        return True

    @property
    def connected(self) -> bool:
        """True while publishing can work."""
        return not self.closed

    def close(self) -> None:
        """Stop delivering and release the backend's connections and threads."""
        with self._lock:
            self.closed = True
            self._callbacks.clear()

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- for implementations ------------------------------------------------------

    def channels(self) -> list[str]:
        """The channels with at least one subscriber."""
        with self._lock:
            return list(self._callbacks)

    def _channel_wanted(self, channel: str, wanted: bool) -> None:
        """A channel got its first subscriber (True) or lost its last one (False)."""

    def _dispatch(self, channel: str, payload: bytes) -> None:
        """Hand one message to the channel's callbacks; an error in one spares the others."""
        for callback in self._callbacks.get(channel, ()):
            try:
                callback(channel, payload)
            except Exception:
                logger.exception("Error in a broadcast subscriber of %r", channel)


class LocalBackend(Backend):
    """Delivers within this process, to the subscribers of this backend.

    The default of :class:`ws4py.manager.WebSocketManager`: a manager's
    ``publish()`` reaches its own websockets, or those of every manager
    given the same :class:`LocalBackend`.  Callbacks run in the publishing
    thread, before :meth:`publish` returns.
    """

    def publish(self, channel: str, payload: bytes) -> None:
        if self.closed:
            raise BroadcastError(f"{self!r} is closed")
        self._dispatch(channel, bytes(payload))

    def __repr__(self) -> str:
        return f"<LocalBackend channels={len(self._callbacks)}>"
