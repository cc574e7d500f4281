"""Many websockets, one thread: pollers and the :class:`WebSocketManager`.

The manager polls every registered socket and calls
:meth:`ws4py.websocket.WebSocket.once` on the readable ones.  Sockets it
manages are switched to non-blocking writes: what a peer does not take at
once waits in a bounded per-connection buffer that the manager flushes when
the socket is writable, so one slow or stalled peer never stalls the others
(a peer whose buffer exceeds ``WebSocket.max_write_buffer`` is dropped).

The poller is epoll where it exists (Linux), else kqueue (BSD, macOS), else
select (everywhere, but limited to FD_SETSIZE descriptors).
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from ws4py import format_addresses
from ws4py.exc import ConnectionClosedError
from ws4py.messaging import BinaryMessage, Message, TextMessage
from ws4py.websocket import WebSocket

__all__ = ["EPollPoller", "KQueuePoller", "SelectPoller", "WebSocketManager"]

logger = logging.getLogger("ws4py")

#: (fd, readable, writable): readable also covers errors and hang-ups, which
#: a read then reports.
PollEvent = tuple[int, bool, bool]


class SelectPoller:
    """A poller over ``select()``: available everywhere, fine for few sockets."""

    def __init__(self, timeout: float = 0.1) -> None:
        self.timeout = timeout
        self._fds: set[int] = set()
        self._writers: set[int] = set()

    def release(self) -> None:
        """Forget every descriptor."""
        self._fds.clear()
        self._writers.clear()

    def register(self, fd: int) -> None:
        """Watch ``fd`` for reading."""
        self._fds.add(fd)

    def unregister(self, fd: int) -> None:
        """Stop watching ``fd``."""
        self._fds.discard(fd)
        self._writers.discard(fd)

    def want_write(self, fd: int, flag: bool) -> None:
        """Also watch ``fd`` for writability (while a write is pending)."""
        if flag and fd in self._fds:
            self._writers.add(fd)
        else:
            self._writers.discard(fd)

    def poll_events(self, timeout: float | None = None) -> list[PollEvent]:
        wait = self.timeout if timeout is None else timeout
        if not self._fds:
            time.sleep(wait)
            return []
        try:
            readable, writable, _ = select.select(list(self._fds), list(self._writers), [], wait)
        except (OSError, ValueError):
            # A descriptor closed under us: find it and report it readable,
            # so its websocket's next read sees the error.
            return [(fd, True, False) for fd in list(self._fds) if not _fd_alive(fd)]
        out = {fd: [True, False] for fd in readable}
        for fd in writable:
            out.setdefault(fd, [False, False])[1] = True
        return [(fd, r, w) for fd, (r, w) in out.items()]

    def poll(self) -> list[int]:
        """Poll once; return the descriptors ready to be read."""
        return [fd for fd, readable, _ in self.poll_events() if readable]


def _fd_alive(fd: int) -> bool:
    try:
        select.select([fd], [], [], 0)
    except (OSError, ValueError):
        return False
    return True


class EPollPoller:
    """A poller over Linux's ``epoll``: scales to tens of thousands of sockets."""

    def __init__(self, timeout: float = 0.1) -> None:
        self.timeout = timeout
        self.poller = select.epoll()
        self._mask = select.EPOLLIN | select.EPOLLPRI | select.EPOLLRDHUP

    def release(self) -> None:
        self.poller.close()

    def register(self, fd: int) -> None:
        try:
            self.poller.register(fd, self._mask)
        except FileExistsError:
            self.poller.modify(fd, self._mask)

    def unregister(self, fd: int) -> None:
        try:
            self.poller.unregister(fd)
        except (OSError, ValueError):
            pass  # already closed: the kernel dropped it

    def want_write(self, fd: int, flag: bool) -> None:
        try:
            self.poller.modify(fd, self._mask | (select.EPOLLOUT if flag else 0))
        except (OSError, ValueError):
            pass

    def poll_events(self, timeout: float | None = None) -> list[PollEvent]:
        try:
            events = self.poller.poll(self.timeout if timeout is None else timeout)
        except InterruptedError:
            return []
        readable_mask = ~select.EPOLLOUT
        return [
            (fd, bool(ev & readable_mask), bool(ev & select.EPOLLOUT)) for fd, ev in events
        ]

    def poll(self) -> list[int]:
        """Poll once; return the descriptors ready to be read."""
        return [fd for fd, readable, _ in self.poll_events() if readable]


# kqueue's names exist only on BSD and macOS; typed loosely so mypy passes anywhere.
_kq: Any = select


class KQueuePoller:
    """A poller over BSD/macOS ``kqueue``."""

    def __init__(self, timeout: float = 0.1) -> None:
        if not hasattr(select, "kqueue"):
            raise OSError("kqueue is not available on this platform")
        self.timeout = timeout
        self.poller = _kq.kqueue()
        self._fds: set[int] = set()

    def release(self) -> None:
        self.poller.close()

    def _control(self, fd: int, kind: int, flags: int) -> None:
        try:
            self.poller.control([_kq.kevent(fd, filter=kind, flags=flags)], 0, 0)
        except (OSError, ValueError):
            pass

    def register(self, fd: int) -> None:
        self._fds.add(fd)
        self._control(fd, _kq.KQ_FILTER_READ, _kq.KQ_EV_ADD)

    def unregister(self, fd: int) -> None:
        self._fds.discard(fd)
        self._control(fd, _kq.KQ_FILTER_READ, _kq.KQ_EV_DELETE)
        self._control(fd, _kq.KQ_FILTER_WRITE, _kq.KQ_EV_DELETE)

    def want_write(self, fd: int, flag: bool) -> None:
        flags = _kq.KQ_EV_ADD if flag else _kq.KQ_EV_DELETE
        self._control(fd, _kq.KQ_FILTER_WRITE, flags)

    def poll_events(self, timeout: float | None = None) -> list[PollEvent]:
        try:
            events = self.poller.control(
                None, max(len(self._fds), 1) * 2, self.timeout if timeout is None else timeout
            )
        except InterruptedError:
            return []
        out: dict[int, list[bool]] = {}
        for ev in events:
            entry = out.setdefault(ev.ident, [False, False])
            if ev.filter == _kq.KQ_FILTER_WRITE:
                entry[1] = True
            else:
                entry[0] = True
            if ev.flags & _kq.KQ_EV_EOF:
                entry[0] = True
        return [(fd, r, w) for fd, (r, w) in out.items()]

    def poll(self) -> list[int]:
        """Poll once; return the descriptors ready to be read."""
        return [fd for fd, readable, _ in self.poll_events() if readable]


def default_poller(timeout: float = 0.1) -> SelectPoller | EPollPoller | KQueuePoller:
    """The best poller of this platform."""
    if hasattr(select, "epoll"):
        return EPollPoller(timeout)
    if hasattr(select, "kqueue"):
        return KQueuePoller(timeout)
    return SelectPoller(timeout)


class WebSocketManager(threading.Thread):
    """An event-based manager of websockets, running in its own thread.

    ``add`` a websocket whose handshake is done; the manager reads it when
    its socket is readable and terminates it when its connection ends.
    """

    #: Seconds between sweeps of close and keepalive deadlines.
    sweep_interval = 0.25

    def __init__(self, poller: Any = None) -> None:
        super().__init__(name="WebSocketManager", daemon=True)
        self.lock = threading.Lock()
        self.websockets: dict[int, WebSocket] = {}
        self.poller = poller if poller is not None else default_poller()
        self.running = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.poller.register(self._wake_r.fileno())
        self._pending_writes: set[WebSocket] = set()
        self._next_sweep = 0.0

    # -- classic API -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.websockets)

    def __iter__(self) -> Iterator[WebSocket]:
        with self.lock:
            return iter(list(self.websockets.values()))

    def __contains__(self, ws: object) -> bool:
        sock = getattr(ws, "sock", None)
        if sock is None:
            return False
        try:
            return self.websockets.get(sock.fileno()) is ws
        except (OSError, ValueError):
            return False

    def add(self, websocket: WebSocket) -> None:
        """Manage ``websocket``: call its :meth:`opened`, then read it when readable."""
        logger.info("Managing websocket %s", format_addresses(websocket))
        websocket.fire_opened()
        if not websocket.process_pending() or websocket.sock is None:
            websocket.terminate()
            return
        sock = websocket.sock
        sock.setblocking(False)
        websocket._nonblocking = True
        websocket._on_pending_write = self._want_write
        fd = sock.fileno()
        with self.lock:
            self.websockets[fd] = websocket
            self.poller.register(fd)
        if websocket.pending_write:
            self._want_write(websocket)
        self._wake()

    def remove(self, websocket: WebSocket) -> None:
        """Stop managing ``websocket`` (its :meth:`closed` is not called)."""
        sock = websocket.sock
        with self.lock:
            fd = next((fd for fd, ws in self.websockets.items() if ws is websocket), None)
            if fd is None:
                return
            del self.websockets[fd]
            self.poller.unregister(fd)
            self._pending_writes.discard(websocket)
        websocket._on_pending_write = None
        if sock is not None:
            logger.info("Removing websocket %s", format_addresses(websocket))

    def stop(self) -> None:
        """Stop the loop; the poller is released when the thread ends."""
        self.running = False
        self._wake()

    def run(self) -> None:
        """Poll, read, flush and sweep deadlines until :meth:`stop`."""
        self.running = True
        wake_fd = self._wake_r.fileno()
        try:
            while self.running:
                for fd, readable, writable in self.poller.poll_events():
                    if fd == wake_fd:
                        self._drain_wakeups()
                        continue
                    ws = self.websockets.get(fd)
                    if ws is None:
                        continue
                    if writable and ws.flush():
                        self.poller.want_write(fd, False)
                    if readable and (not ws.once() or ws.terminated):
                        self._finish(ws)
                now = time.monotonic()
                if now >= self._next_sweep:
                    self._next_sweep = now + self.sweep_interval
                    self._sweep(now)
        finally:
            self.running = False
            self.poller.release()
            self._wake_r.close()
            self._wake_w.close()

    def close_all(self, code: int = 1001, message: str = "Server is shutting down") -> None:
        """Start the closing handshake of every websocket; does not wait for it."""
        for ws in self:
            try:
                ws.close(code, message)
            except (OSError, ConnectionClosedError, ValueError) as exc:
                logger.debug("close_all: %s on %s", exc, format_addresses(ws))

    def broadcast(self, message: Any, binary: bool = False) -> None:
        """Send ``message`` to every managed websocket, now; failures are skipped.

        The frame is built once and reused for every connection that takes
        it as is (server side, no extension transforming the payload).
        """
        if isinstance(message, Message):
            msg = message
        elif isinstance(message, str) and not binary:
            msg = TextMessage(message)
        else:
            msg = BinaryMessage(message.encode("utf-8") if isinstance(message, str) else message)
        frame: bytes | None = None
        for ws in self:
            try:
                if ws.core.extensions or ws.stream.always_mask:
                    ws.send(msg)
                    continue
                if frame is None:
                    frame = msg.single()
                ws.send_frame(frame)
            except Exception as exc:
                logger.debug("broadcast: %s on %s", exc, format_addresses(ws))

    # -- internals -------------------------------------------------------------------

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already awake, or shutting down

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
        with self.lock:
            pending, self._pending_writes = self._pending_writes, set()
        for ws in pending:
            if ws.terminated:
                self._finish(ws)
            elif ws.sock is not None:
                try:
                    self.poller.want_write(ws.sock.fileno(), bool(ws.pending_write))
                except (OSError, ValueError):
                    pass

    def _want_write(self, websocket: WebSocket) -> None:
        """A websocket has bytes its socket did not take: poll it for writability."""
        with self.lock:
            self._pending_writes.add(websocket)
        self._wake()

    def _finish(self, ws: WebSocket) -> None:
        self.remove(ws)
        ws.flush()
        ws.terminate()

    def _sweep(self, now: float) -> None:
        for ws in self:
            if ws.terminated or (
                (ws._close_deadline is not None or ws.keepalive_interval)
                and (not ws.check_deadlines(now) or ws.terminated)
            ):
                self._finish(ws)
