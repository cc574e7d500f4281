"""Broadcasting for the asyncio server (:mod:`ws4py.async_websocket`): :class:`AsyncBroadcaster`.

The asyncio twin of the manager's ``publish``/``join_group``: the same
backends, the same semantics (:mod:`ws4py.broadcast`), the same wire format,
so asyncio servers and :class:`~ws4py.manager.WebSocketManager` servers can
share one Redis.

.. code-block:: python

    from ws4py.async_websocket import WebSocket, serve
    from ws4py.broadcast.aio import AsyncBroadcaster
    from ws4py.broadcast.redis import RedisBackend

    hub = AsyncBroadcaster(RedisBackend("redis://127.0.0.1:6379/0"))

    class Member(WebSocket):
        async def opened(self):
            hub.add(self)                  # gets publish(...) without a group
            hub.join(self, "room")         # and the room's; both left on close

        async def received_message(self, message):
            await hub.publish(str(message), group="room")

    await serve(Member, "0.0.0.0", 9000)

Methods other than :meth:`AsyncBroadcaster.publish` are plain functions to
call from the event loop.  What the backend delivers is written by the loop,
each frame built once, without waiting for slow peers: a websocket whose
transport holds more than :attr:`AsyncBroadcaster.max_write_buffer` unsent
bytes is aborted (its ``closed()`` sees 1006) instead of slowing the others.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import weakref
from collections.abc import Iterable
from typing import Any

from ws4py import format_addresses
from ws4py.async_websocket import WebSocket
from ws4py.broadcast import (
    ALL_CHANNEL,
    Backend,
    Groups,
    LocalBackend,
    decode_message,
    encode_message,
    group_channel,
)
from ws4py.connection import outgoing_message
from ws4py.exc import ConnectionClosedError
from ws4py.messaging import Message

__all__ = ["AsyncBroadcaster"]

logger = logging.getLogger("ws4py")


class AsyncBroadcaster:
    """Groups and cluster-wide publishing for asyncio websockets, over a backend.

    ``backend`` defaults to a new :class:`~ws4py.broadcast.LocalBackend`
    (this broadcaster only); it is not closed by :meth:`close`.
    """

    #: Unsent bytes a peer may leave in its transport before it is dropped.
    max_write_buffer = 4 * 1024 * 1024
    #: Backend messages waiting for the loop; beyond this, new ones are dropped.
    max_pending_deliveries = 100_000

    def __init__(self, backend: Backend | None = None) -> None:
        self.backend = backend if backend is not None else LocalBackend()
        #: This broadcaster's id in published messages (``exclude=`` works by it).
        self.id = os.urandom(8)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._everyone: set[WebSocket] = set()
        self._groups: Groups[WebSocket] = Groups()
        self._watchers: dict[WebSocket, asyncio.Task[None]] = {}
        self._tokens: weakref.WeakKeyDictionary[WebSocket, int] = weakref.WeakKeyDictionary()
        self._next_token = 1
        self._pending = 0
        self._pending_lock = threading.Lock()
        #: Backend messages dropped because the loop fell too far behind.
        self.dropped_deliveries = 0
        self.closed = False
        self.backend.subscribe(ALL_CHANNEL, self._on_backend_message)

    # -- membership (from the loop) -------------------------------------------------

    def add(self, websocket: WebSocket) -> None:
        """``websocket`` receives what is published without a group (until it closes)."""
        self._watch(websocket)
        self._everyone.add(websocket)

    def discard(self, websocket: WebSocket) -> None:
        """``websocket`` receives nothing more (done by itself when it closes)."""
        self._everyone.discard(websocket)
        for group in self._groups.leave_all(websocket):
            self.backend.unsubscribe(group_channel(group), self._on_backend_message)
        watcher = self._watchers.pop(websocket, None)
        if watcher is not None and watcher is not asyncio.current_task():
            watcher.cancel()

    def join(self, websocket: WebSocket, group: str) -> None:
        """``websocket`` receives what is published to ``group`` (until it leaves or closes)."""
        self._watch(websocket)
        if self._groups.join(websocket, group):
            try:
                self.backend.subscribe(group_channel(group), self._on_backend_message)
            except BaseException:
                self._groups.leave(websocket, group)  # not a member of a group it cannot hear
                raise

    def leave(self, websocket: WebSocket, group: str) -> None:
        """``websocket`` is no longer a member of ``group``."""
        if self._groups.leave(websocket, group):
            self.backend.unsubscribe(group_channel(group), self._on_backend_message)

    def groups_of(self, websocket: WebSocket) -> frozenset[str]:
        return self._groups.groups_of(websocket)

    def members(self, group: str | None = None) -> list[WebSocket]:
        """The local websockets added (``group`` None) or members of ``group``."""
        return list(self._everyone) if group is None else self._groups.members(group)

    # -- sending ------------------------------------------------------------------------

    async def publish(
        self,
        message: Any,
        group: str | None = None,
        binary: bool = False,
        exclude: WebSocket | None = None,
    ) -> None:
        """Publish through the backend: every broadcaster (every process) on it delivers.

        Without ``group``, to every added websocket; with it, to the group's
        members; ``exclude`` (a websocket of this broadcaster) is skipped.
        A blocking backend (Redis) is called in a worker thread, so the loop
        never waits on the network; successive awaited calls keep their order.
        Raises :class:`~ws4py.broadcast.BackendUnavailableError` when the
        backend cannot take the message (nothing is queued).
        """
        origin = None
        if exclude is not None:
            origin = (self.id, self._token(exclude))
        payload = encode_message(outgoing_message(message, binary), origin)
        channel = ALL_CHANNEL if group is None else group_channel(group)
        if isinstance(self.backend, LocalBackend):
            self.backend.publish(channel, payload)
        else:
            await asyncio.get_running_loop().run_in_executor(
                None, self.backend.publish, channel, payload
            )

    def broadcast(self, message: Any, group: str | None = None, binary: bool = False) -> None:
        """Send to this broadcaster's websockets (or a group's members here), now."""
        self._send_to(self.members(group), outgoing_message(message, binary))

    def close(self) -> None:
        """Leave the backend and forget every websocket (the backend stays open)."""
        if self.closed:
            return
        self.closed = True
        for channel in [ALL_CHANNEL, *map(group_channel, self._groups.names())]:
            self.backend.unsubscribe(channel, self._on_backend_message)
        for watcher in self._watchers.values():
            watcher.cancel()
        self._watchers.clear()
        self._everyone.clear()
        self._groups.clear()

    # -- internals ----------------------------------------------------------------------

    def _watch(self, websocket: WebSocket) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if websocket not in self._watchers:
            self._watchers[websocket] = self._loop.create_task(self._forget_when_closed(websocket))

    async def _forget_when_closed(self, websocket: WebSocket) -> None:
        await websocket.wait_closed()
        self._watchers.pop(websocket, None)
        self.discard(websocket)

    def _token(self, websocket: WebSocket) -> int:
        token = self._tokens.get(websocket)
        if token is None:
            token = self._tokens[websocket] = self._next_token
            self._next_token += 1
        return token

    def _on_backend_message(self, channel: str, payload: bytes) -> None:
        """The backend's callback (any thread): hand the message to the loop."""
        loop = self._loop
        if loop is None or self.closed:
            return  # nobody here yet
        with self._pending_lock:
            if self._pending >= self.max_pending_deliveries:
                self.dropped_deliveries += 1
                return
            self._pending += 1
        try:
            loop.call_soon_threadsafe(self._deliver, channel, payload)
        except RuntimeError:  # the loop is closed
            with self._pending_lock:
                self._pending -= 1

    def _deliver(self, channel: str, payload: bytes) -> None:
        with self._pending_lock:
            self._pending -= 1
        try:
            message, origin = decode_message(payload)
        except ValueError as exc:
            logger.debug("Ignoring a broadcast payload on %r: %s", channel, exc)
            return
        if channel == ALL_CHANNEL:
            targets = list(self._everyone)
        else:
            targets = self._groups.members(channel.partition("group:")[2])
        if origin is not None and origin[0] == self.id:
            targets = [ws for ws in targets if self._tokens.get(ws) != origin[1]]
        self._send_to(targets, message)

    def _send_to(self, targets: Iterable[WebSocket], message: Message) -> None:
        frame: bytes | None = None
        for ws in targets:
            transport = ws.proto.transport
            if ws.terminated or transport is None or transport.is_closing():
                continue
            if transport.get_write_buffer_size() > self.max_write_buffer:
                logger.warning(
                    "Dropping %s: its peer does not read (%d bytes pending)",
                    format_addresses(ws),
                    transport.get_write_buffer_size(),
                )
                ws.proto.abort()
                continue
            try:
                if ws.core.extensions or ws.stream.always_mask:
                    ws.proto.write(ws.core.send_message(message))
                    continue
                ws.core.check_open()
                if frame is None:
                    frame = message.single()
                ws.proto.write(frame)
            except (ConnectionClosedError, OSError) as exc:
                logger.debug("broadcast: %s on %s", exc, format_addresses(ws))
