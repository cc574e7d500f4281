"""Many websockets, one thread: pollers and the :class:`WebSocketManager`.

The manager polls every registered socket and calls
:meth:`ws4py.websocket.WebSocket.once` on the readable ones.  Sockets it
manages are switched to non-blocking writes: what a peer does not take at
once waits in a bounded per-connection buffer that the manager flushes when
the socket is writable, so one slow or stalled peer never stalls the others
(a peer whose buffer exceeds ``WebSocket.max_write_buffer`` is dropped).

Broadcasting: :meth:`WebSocketManager.broadcast` sends to this manager's
websockets, now (classic).  :meth:`WebSocketManager.publish` goes through the
manager's broadcast *backend* (:mod:`ws4py.broadcast`): in-process by default
(:class:`ws4py.broadcast.LocalBackend`), or every process of a cluster with
:class:`ws4py.broadcast.redis.RedisBackend`; with ``group=`` it reaches only
the members of a group (:meth:`~WebSocketManager.join_group`,
:meth:`~WebSocketManager.leave_group`; a websocket leaves its groups when it
is removed).  What the backend delivers is queued for the manager's thread,
which writes it to its websockets (each frame built once).

The poller is epoll where it exists (Linux), else kqueue (BSD, macOS), else
select (everywhere, but limited to FD_SETSIZE descriptors).
"""

from __future__ import annotations

import itertools
import logging
import os
import select
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from ws4py import format_addresses
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
from ws4py.framing import OPCODE_BINARY, CloseCode
from ws4py.messaging import Message
from ws4py.websocket import WebSocket

__all__ = [
    "ClassicPoller",
    "EPollPoller",
    "KQueuePoller",
    "PollEvent",
    "Poller",
    "SelectPoller",
    "WebSocketManager",
    "default_poller",
]

logger = logging.getLogger("ws4py")

#: (fd, readable, writable): readable also covers errors and hang-ups, which
#: a read then reports.
PollEvent = tuple[int, bool, bool]


class Poller(Protocol):
    """What the manager drives: our pollers, and a classic one through an adapter.

    Level-triggered: a descriptor still readable (or writable, while write
    interest is on) is reported again on the next poll.  ``live_registration``
    says whether a registration made by another thread is seen by a poll
    already running (epoll, kqueue) or only by the next one (select): then
    the manager wakes the poll up after each registration.
    """

    @property
    def timeout(self) -> Any: ...
    @property
    def live_registration(self) -> bool: ...

    def register(self, fd: int) -> None: ...
    def unregister(self, fd: int) -> None: ...
    def want_write(self, fd: int, flag: bool) -> None: ...
    def pause_reading(self, fd: int, flag: bool) -> None: ...
    def poll_events(self, timeout: float | None = None) -> list[PollEvent]: ...
    def release(self) -> None: ...


class ClassicPoller(Protocol):
    """A poller as ws4py 0.6.0's manager accepts it (any object with these methods)."""

    def register(self, fd: int) -> None: ...
    def unregister(self, fd: int) -> None: ...
    def poll(self) -> list[int]: ...
    def release(self) -> None: ...


class SelectPoller:
    """A poller over ``select()``: available everywhere, fine for few sockets."""

    #: select() copies its sets when called: a registration waits for the next poll.
    live_registration = False

    def __init__(self, timeout: float = 0.1) -> None:
        self.timeout = timeout
        self._fds: set[int] = set()
        self._writers: set[int] = set()
        self._paused: set[int] = set()

    def release(self) -> None:
        """Forget every descriptor."""
        self._fds.clear()
        self._writers.clear()
        self._paused.clear()

    def register(self, fd: int) -> None:
        """Watch ``fd`` for reading (twice is once).

        What an earlier connection on the same descriptor number asked for
        (write interest, paused reading) is forgotten: it is a new connection.
        """
        if fd not in self._fds:
            self._writers.discard(fd)
            self._paused.discard(fd)
        self._fds.add(fd)

    def unregister(self, fd: int) -> None:
        """Stop watching ``fd``."""
        self._fds.discard(fd)
        self._writers.discard(fd)
        self._paused.discard(fd)

    def pause_reading(self, fd: int, flag: bool) -> None:
        """Stop (or resume) watching ``fd`` for reading; writability is still watched."""
        if flag and fd in self._fds:
            self._paused.add(fd)
        else:
            self._paused.discard(fd)

    def want_write(self, fd: int, flag: bool) -> None:
        """Also watch ``fd`` for writability (while a write is pending)."""
        if flag and fd in self._fds:
            self._writers.add(fd)
        else:
            self._writers.discard(fd)

    def _select(self, writers: list[int], wait: float) -> tuple[list[int], list[int]]:
        """One ``select()``: (readable, writable); sleeps ``wait`` when nothing is watched."""
        if not self._fds:
            time.sleep(wait)
            return [], []
        try:
            readable, writable, _ = select.select(list(self._fds - self._paused), writers, [], wait)
        except (OSError, ValueError):
            # A descriptor closed under us: find it and report it readable,
            # so its websocket's next read sees the error.
            return [fd for fd in list(self._fds) if not _fd_alive(fd)], []
        return list(readable), list(writable) if writers else []

    def poll_events(self, timeout: float | None = None) -> list[PollEvent]:
        readable, writable = self._select(
            list(self._writers), self.timeout if timeout is None else timeout
        )
        out = {fd: [True, False] for fd in readable}
        for fd in writable:
            out.setdefault(fd, [False, False])[1] = True
        return [(fd, r, w) for fd, (r, w) in out.items()]

    def poll(self) -> list[int]:
        """Poll once; return the descriptors ready to be read.

        Readability only, as in the reference: write interest is the
        manager's business (:meth:`poll_events`), so it is not asked for.
        """
        return self._select([], self.timeout)[0]


def _fd_alive(fd: int) -> bool:
    try:
        select.select([fd], [], [], 0)
    except (OSError, ValueError):
        return False
    return True


class EPollPoller:
    """A poller over Linux's ``epoll``: scales to tens of thousands of sockets."""

    live_registration = True

    def __init__(self, timeout: float = 0.1) -> None:
        self.timeout = timeout
        self.poller = select.epoll()
        self._mask = select.EPOLLIN | select.EPOLLPRI | select.EPOLLRDHUP
        self._fds: set[int] = set()
        self._writing: set[int] = set()
        self._paused: set[int] = set()

    def _apply(self, fd: int) -> None:
        mask = 0 if fd in self._paused else self._mask
        if fd in self._writing:
            mask |= select.EPOLLOUT
        try:
            self.poller.modify(fd, mask)
        except (OSError, ValueError):
            pass

    def release(self) -> None:
        self.poller.close()
        self._fds.clear()
        self._writing.clear()
        self._paused.clear()

    def register(self, fd: int) -> None:
        """Watch ``fd`` for reading (twice is once).

        A new registration starts afresh: write interest or paused reading
        left by an earlier connection on the same descriptor number is dropped.
        """
        fresh = fd not in self._fds
        if fresh:
            self._writing.discard(fd)
            self._paused.discard(fd)
        self._fds.add(fd)
        try:
            self.poller.register(fd, self._mask)
        except FileExistsError:
            self._apply(fd)  # already in the set: the interest this registration means
        except OSError as exc:
            if fresh:
                raise
            # Registered twice (an epoll-like object may say so its own way):
            # still once, as the reference swallowed it.
            logger.debug("register(%d) again: %s", fd, exc)

    def unregister(self, fd: int) -> None:
        """Stop watching ``fd``; nothing if it is not watched (or already closed)."""
        self._fds.discard(fd)
        self._writing.discard(fd)
        self._paused.discard(fd)
        try:
            self.poller.unregister(fd)
        except (OSError, ValueError):
            pass  # not registered, or closed: the kernel dropped it

    def want_write(self, fd: int, flag: bool) -> None:
        if flag and fd in self._fds:
            self._writing.add(fd)
        elif fd in self._writing:
            self._writing.discard(fd)
        else:
            return
        self._apply(fd)

    def pause_reading(self, fd: int, flag: bool) -> None:
        """Stop (or resume) watching ``fd`` for reading; writability is still watched."""
        if flag and fd in self._fds:
            self._paused.add(fd)
        elif fd in self._paused:
            self._paused.discard(fd)
        else:
            return
        self._apply(fd)

    def poll_events(self, timeout: float | None = None) -> list[PollEvent]:
        try:
            events = self.poller.poll(self.timeout if timeout is None else timeout)
        except InterruptedError:
            return []
        readable_mask = ~select.EPOLLOUT
        return [(fd, bool(ev & readable_mask), bool(ev & select.EPOLLOUT)) for fd, ev in events]

    def poll(self) -> list[int]:
        """Poll once; return the descriptors ready to be read."""
        return [fd for fd, readable, _ in self.poll_events() if readable]


# kqueue's names exist only on BSD and macOS; typed loosely so mypy passes anywhere.
_kq: Any = select


class KQueuePoller:
    """A poller over BSD/macOS ``kqueue``.

    Where kqueue does not exist (Linux), it is still constructible, as in
    classic ws4py (whose ``KQueuePoller`` was an epoll poller): it then polls
    with epoll, or select where epoll is missing too.
    """

    @property
    def live_registration(self) -> bool:
        """As kqueue, or as the poller it falls back on."""
        return True if self._fallback is None else self._fallback.live_registration

    def __init__(self, timeout: float = 0.1) -> None:
        self.timeout = timeout
        self._fds: set[int] = set()
        self._fallback: EPollPoller | SelectPoller | None = None
        if not hasattr(select, "kqueue"):
            self._fallback = (
                EPollPoller(timeout) if hasattr(select, "epoll") else SelectPoller(timeout)
            )
            self.poller: Any = getattr(self._fallback, "poller", None)
            logger.debug("kqueue is not available: KQueuePoller polls with %s", self._fallback)
            return
        self.poller = _kq.kqueue()

    def release(self) -> None:
        if self._fallback is not None:
            self._fallback.release()
            return
        self.poller.close()
        self._fds.clear()

    def _control(self, fd: int, kind: int, flags: int) -> None:
        try:
            self.poller.control([_kq.kevent(fd, filter=kind, flags=flags)], 0, 0)
        except (OSError, ValueError):
            pass

    def register(self, fd: int) -> None:
        """Watch ``fd`` for reading (twice is once)."""
        if self._fallback is not None:
            self._fallback.register(fd)
            return
        if fd not in self._fds:
            self._control(fd, _kq.KQ_FILTER_WRITE, _kq.KQ_EV_DELETE)  # a predecessor's
        self._fds.add(fd)
        self._control(fd, _kq.KQ_FILTER_READ, _kq.KQ_EV_ADD)

    def unregister(self, fd: int) -> None:
        """Stop watching ``fd``; nothing if it is not watched."""
        if self._fallback is not None:
            self._fallback.unregister(fd)
            return
        self._fds.discard(fd)
        self._control(fd, _kq.KQ_FILTER_READ, _kq.KQ_EV_DELETE)
        self._control(fd, _kq.KQ_FILTER_WRITE, _kq.KQ_EV_DELETE)

    def want_write(self, fd: int, flag: bool) -> None:
        if self._fallback is not None:
            self._fallback.want_write(fd, flag)
        elif fd in self._fds or not flag:
            flags = _kq.KQ_EV_ADD if flag else _kq.KQ_EV_DELETE
            self._control(fd, _kq.KQ_FILTER_WRITE, flags)

    def pause_reading(self, fd: int, flag: bool) -> None:
        """Stop (or resume) watching ``fd`` for reading; writability is still watched."""
        if self._fallback is not None:
            self._fallback.pause_reading(fd, flag)
        elif fd in self._fds:
            self._control(fd, _kq.KQ_FILTER_READ, _kq.KQ_EV_DELETE if flag else _kq.KQ_EV_ADD)

    def poll_events(self, timeout: float | None = None) -> list[PollEvent]:
        wait = self.timeout if timeout is None else timeout
        if self._fallback is not None:
            return self._fallback.poll_events(wait)
        try:
            events = self.poller.control(None, max(len(self._fds), 1) * 2, wait)
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


#: The pollers the manager drives directly (captured now: a test may patch the names).
_OUR_POLLERS = (SelectPoller, EPollPoller, KQueuePoller)


class _ClassicPollerAdapter:
    """A poller with only the reference's interface, driven like ours.

    Classic ws4py's manager accepts any object with ``register``,
    ``unregister``, ``poll`` (the readable descriptors) and ``release``.  Our
    manager also asks for writability (non-blocking writes waiting) and pauses
    reading (backpressure); such a poller cannot say either, so a descriptor
    with bytes waiting is reported writable on every poll (the write is
    simply tried again, at the poller's own pace), and a paused descriptor is
    unregistered until reading resumes.

    The user's poller sees the websockets' descriptors only, as with the
    reference: the manager's wake-up socket (``wake_fd``) is not registered
    with it but reported on every poll (the manager's read of it does not
    block), so what other threads queued is handled at the poller's pace.
    """

    live_registration = False  # nothing is known of the poller within

    def __init__(self, poller: ClassicPoller, wake_fd: int) -> None:
        self.poller = poller
        self.wake_fd = wake_fd
        self._writers: set[int] = set()
        self._paused: set[int] = set()

    @property
    def timeout(self) -> Any:
        return getattr(self.poller, "timeout", None)

    def release(self) -> None:
        self._writers.clear()
        self._paused.clear()
        self.poller.release()

    def register(self, fd: int) -> None:
        if fd == self.wake_fd:
            return
        self._writers.discard(fd)
        self._paused.discard(fd)
        self.poller.register(fd)

    def unregister(self, fd: int) -> None:
        if fd == self.wake_fd:
            return
        self._writers.discard(fd)
        if fd in self._paused:
            self._paused.discard(fd)
            return  # already unregistered while paused
        self.poller.unregister(fd)

    def want_write(self, fd: int, flag: bool) -> None:
        if flag:
            self._writers.add(fd)
        else:
            self._writers.discard(fd)

    def pause_reading(self, fd: int, flag: bool) -> None:
        if flag and fd not in self._paused:
            self._paused.add(fd)
            self.poller.unregister(fd)
        elif not flag and fd in self._paused:
            self._paused.discard(fd)
            self.poller.register(fd)

    def poll_events(self, timeout: float | None = None) -> list[PollEvent]:
        # The poller's own timeout applies: the reference's poll() takes none.
        out = {fd: [True, False] for fd in self.poller.poll()}
        out[self.wake_fd] = [True, False]
        for fd in self._writers:
            out.setdefault(fd, [False, False])[1] = True
        return [(fd, r, w) for fd, (r, w) in out.items()]


def _describe(ws: Any) -> str:
    """format_addresses() for a log line about a failure: never raises itself."""
    try:
        return format_addresses(ws)
    except Exception:
        return f"<{type(ws).__name__} at {id(ws):#x}>"


def default_poller(timeout: float = 0.1) -> Poller:
    """The best poller of this platform."""
    if hasattr(select, "epoll"):
        return EPollPoller(timeout)
    if hasattr(select, "kqueue"):
        return KQueuePoller(timeout)
    return SelectPoller(timeout)


_tokens = itertools.count(1)


class WebSocketManager(threading.Thread):
    """An event-based manager of websockets, running in its own thread.

    ``add`` a websocket whose handshake is done; the manager reads it when
    its socket is readable and terminates it when its connection ends.

    ``poller`` is one of this module's pollers (the platform's best by
    default) or any object with the reference's poller interface
    (``register``, ``unregister``, ``poll``, ``release``).

    ``backend`` (a :class:`ws4py.broadcast.Backend`; a new
    :class:`~ws4py.broadcast.LocalBackend` by default) carries what
    :meth:`publish` sends; the manager does not close it.

    Besides this package's :class:`~ws4py.websocket.WebSocket`, any object
    with the attributes classic ws4py's manager used (``sock``, ``opened()``,
    ``once()``, ``terminated``, ``close()``, ``terminate()``, ``send()``) can
    be managed: it is served the classic way (its socket left as it is,
    ``once()`` called when readable, ``terminate()`` when ``once()`` returns
    false or raises).

    Connections are told apart by the websocket object, never by the number
    of their file descriptor alone: the kernel hands a closed connection's
    number to the next one at once, and under churn an event, a removal or a
    write request meant for the old connection must never reach the new one.
    A websocket is unregistered from the poller before its socket is closed;
    the loop serves only websockets whose registration is complete, and
    drops the events of a descriptor registered after the poll that
    reported them began (level-triggered pollers report a real event again).
    """

    #: Backpressure: stop reading a websocket whose unsent output exceeds this
    #: (what it asks for piles up), read it again below ``resume_reading_below``.
    #: ``WebSocket.max_write_buffer`` still drops a peer that does not read at all.
    pause_reading_above = 1024 * 1024
    resume_reading_below = 256 * 1024
    #: Seconds between sweeps of close and keepalive deadlines.
    sweep_interval = 0.25
    #: Messages from the backend waiting for the manager's thread; beyond
    #: this, new ones are dropped (counted in :attr:`dropped_deliveries`).
    max_pending_deliveries = 100_000

    def __init__(self, poller: Any = None, backend: Backend | None = None) -> None:
        super().__init__(name="WebSocketManager", daemon=True)
        self.lock = threading.Lock()
        #: The managed websockets by file descriptor (the classic view).
        self.websockets: dict[int, Any] = {}
        self.running = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._use_poller(poller if poller is not None else default_poller())
        # Every managed websocket, by identity: id -> (websocket, its descriptor).
        # The entry holds the websocket, so its id cannot be reused meanwhile.
        self._entries: dict[int, tuple[Any, int]] = {}
        # Descriptor -> websocket, only once registered with the poller: what
        # the loop serves.  Ours, and duck-typed ones (served the classic way).
        self._polled: dict[int, WebSocket] = {}
        self._polled_classic: dict[int, Any] = {}
        self._classic_count = 0
        # Descriptors registered since the current poll began (see the class doc).
        self._fresh: set[int] = set()
        self._pending_writes: set[WebSocket] = set()
        self._read_paused: set[int] = set()
        self._next_sweep = 0.0
        self._stopped = False
        self._released = False
        self._shutting_down: tuple[int, str] | None = None
        #: This manager's id in published messages (``exclude=`` works by it).
        self.id = os.urandom(8)
        self._groups_lock = threading.Lock()
        self._groups: Groups[WebSocket] = Groups()
        self._tokens: weakref.WeakKeyDictionary[WebSocket, int] = weakref.WeakKeyDictionary()
        self._inbox: deque[tuple[str, bytes]] = deque()
        self._inbox_lock = threading.Lock()
        #: Backend messages dropped because the manager's thread fell too far behind.
        self.dropped_deliveries = 0
        self._backend: Backend = backend if backend is not None else LocalBackend()
        self._backend.subscribe(ALL_CHANNEL, self._on_backend_message)

    # -- the poller --------------------------------------------------------------

    def _use_poller(self, poller: Any) -> None:
        """Poll with ``poller`` from now on (under the lock, or before anything else runs)."""
        self._poller_given = poller
        # Our pollers are driven directly (the fast path); any other poller
        # (a user's, a mock) gets the reference's calls only, through the adapter.
        if isinstance(poller, _OUR_POLLERS):
            self._poller: Poller = poller
        else:
            self._poller = _ClassicPollerAdapter(poller, self._wake_r.fileno())
        self._poller.register(self._wake_r.fileno())
        # A poll running in the manager's thread may not see a registration
        # made from another thread (select): it is woken up then.
        self._wake_on_register = not self._poller.live_registration

    @property
    def poller(self) -> Any:
        """The poller given (or the default one); see :class:`_ClassicPollerAdapter`.

        It may be replaced, as in the reference (whose loop read this
        attribute on every round): the descriptors polled so far are
        registered with the new one, which the loop uses from its next
        round.  The previous poller is released if the loop never ran (else
        it may be in use right now, and is left to the garbage collector).
        """
        return self._poller_given

    @poller.setter
    def poller(self, poller: Any) -> None:
        with self.lock:
            if poller is self._poller_given or self._released:
                return
            old = self._poller
            self._use_poller(poller)
            for fd in (*self._polled, *self._polled_classic):
                self._poller.register(fd)
            for fd in self._read_paused:
                self._poller.pause_reading(fd, True)
            for fd, ws in self._polled.items():
                if ws.pending_write:
                    self._poller.want_write(fd, True)
            if self.ident is None:
                old.release()
        self._wake()

    # -- classic API -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Any]:
        with self.lock:
            return iter([ws for ws, _ in self._entries.values()])

    def __contains__(self, ws: object) -> bool:
        entry = self._entries.get(id(ws))
        return entry is not None and entry[0] is ws

    def add(self, websocket: Any) -> None:
        """Manage ``websocket``: call its :meth:`opened`, then read it when readable.

        Adding a websocket already managed does nothing.  It is one of the
        managed websockets (broadcasts reach it) from the start, before
        :meth:`opened` runs: a broadcast made meanwhile by another thread is
        never missed.  Its socket is polled once :meth:`opened` and any bytes
        that came with the handshake were handled.
        """
        sock = websocket.sock
        if sock is None:
            return
        if not isinstance(websocket, WebSocket):
            self._add_classic(websocket, sock)
            return
        if logger.isEnabledFor(logging.INFO):  # _describe: 2 syscalls, cached tuples
            logger.info("Managing websocket %s", _describe(websocket))
        fd = sock.fileno()
        key = id(websocket)
        with self.lock:
            if key in self._entries:
                return
            self._entries[key] = (websocket, fd)
            self.websockets[fd] = websocket
        websocket.fire_opened()
        if not websocket.process_pending() or websocket.sock is None:
            self._finish(websocket)
            return
        websocket.nonblocking = True  # the socket too (no blocking write is half way through)
        websocket.on_pending_write = self._want_write
        with self.lock:
            if key not in self._entries:
                # remove()d meanwhile (from opened(), say): no longer ours to read or close.
                websocket.on_pending_write = None
                return
            polled = not self._stopped
            if polled:
                self._register(fd, websocket, self._polled)
        if not polled:
            # The manager stopped meanwhile: nobody will read this socket.
            self._close_quietly(
                websocket, *(self._shutting_down or (CloseCode.GOING_AWAY, "Going away"))
            )
            self._finish(websocket)
            return
        if self._shutting_down is not None:
            # Added during shutdown(): close it too, the manager reads the answer.
            self._close_quietly(websocket, *self._shutting_down)
        if websocket.pending_write:
            self._want_write(websocket)
        elif self._wake_on_register:
            self._wake()  # select() only sees the new socket from its next call

    def _add_classic(self, websocket: Any, sock: Any) -> None:
        """add() for a duck-typed websocket: opened(), then polled; its socket as it is."""
        key = id(websocket)
        if key in self._entries:
            return
        logger.info("Managing websocket %s", _describe(websocket))
        websocket.opened()
        fd = sock.fileno()
        with self.lock:
            if key in self._entries:
                return
            stopped = self._stopped
            if not stopped:
                self._entries[key] = (websocket, fd)
                self.websockets[fd] = websocket
                self._classic_count += 1
                self._register(fd, websocket, self._polled_classic)
        if stopped:
            self._close_quietly(
                websocket, *(self._shutting_down or (CloseCode.GOING_AWAY, "Going away"))
            )
            return
        if self._shutting_down is not None:
            self._close_quietly(websocket, *self._shutting_down)
        if self._wake_on_register:
            self._wake()

    def _register(self, fd: int, websocket: Any, polled: dict[int, Any]) -> None:
        """Under the lock: poll ``fd`` for ``websocket`` from now on."""
        polled[fd] = websocket
        self._fresh.add(fd)
        self._poller.register(fd)

    @staticmethod
    def _close_quietly(websocket: Any, code: int, message: str) -> None:
        try:
            websocket.close(code=code, reason=message)
        except (OSError, ConnectionClosedError, ValueError) as exc:
            logger.debug("close: %s on %s", exc, _describe(websocket))

    def remove(self, websocket: Any) -> None:
        """Stop managing ``websocket`` (its :meth:`closed` is not called).

        Nothing if it is not managed.  Its socket is unregistered from the
        poller here, before anyone closes it.
        """
        with self.lock:
            entry = self._entries.pop(id(websocket), None)
            if entry is None:
                return
            fd = entry[1]
            if self.websockets.get(fd) is websocket:
                del self.websockets[fd]
            if self._polled.get(fd) is websocket:
                del self._polled[fd]
                self._read_paused.discard(fd)
                self._unregister(fd)
            elif self._polled_classic.get(fd) is websocket:
                del self._polled_classic[fd]
                self._unregister(fd)
            if not isinstance(websocket, WebSocket):
                self._classic_count -= 1
            self._pending_writes.discard(websocket)
        if self._groups and getattr(websocket, "__hash__", None) is not None:
            self._leave_all(websocket)
        if isinstance(websocket, WebSocket):
            websocket.on_pending_write = None
        if logger.isEnabledFor(logging.INFO):
            logger.info("Removing websocket %s", _describe(websocket))

    def _unregister(self, fd: int) -> None:
        try:
            self._poller.unregister(fd)
        except (OSError, ValueError) as exc:  # a reference-style poller may insist
            logger.debug("unregister(%d): %s", fd, exc)

    def stop(self) -> None:
        """Stop the loop; the poller is released when the thread ends (now if never started).

        The websockets still managed are not closed (as in the reference) but
        stay listed, so that their owner can end them: ``list(manager)``.
        """
        with self.lock:
            self._stopped = True
        self.running = False
        if self.ident is None:  # never started: nothing else will release it
            self._release()
        else:
            self._wake()

    def _release(self) -> None:
        with self.lock:
            if self._released:
                return
            self._released = True
            self._stopped = True
            self._poller.release()
        self._wake_r.close()
        self._wake_w.close()

    def shutdown(
        self, code: int = CloseCode.GOING_AWAY, message: str = "Server is shutting down"
    ) -> None:
        """:meth:`close_all`, and close likewise every websocket added from now on.

        For a server going down: a connection whose handshake finishes while
        it stops is closed properly instead of being left unread.
        """
        self._shutting_down = (code, message)
        self.close_all(code, message)

    def run(self) -> None:
        """Poll, read, flush and sweep deadlines until :meth:`stop`.

        A failure serving one websocket (a reset peer, a bug in a handler)
        ends that websocket only, never the loop: every other connection,
        and every one added later, is still served.
        """
        self.running = not self._stopped
        wake_fd = self._wake_r.fileno() if not self._released else -1
        polled = self._polled
        try:
            while self.running:
                with self.lock:
                    fresh = self._fresh = set()
                for fd, readable, writable in self._poller.poll_events():
                    if fd == wake_fd:
                        self._drain_wakeups()
                        continue
                    if fresh and fd in fresh:
                        continue  # registered after this poll began: maybe a predecessor's event
                    ws = polled.get(fd)
                    if ws is None:
                        classic = self._polled_classic.get(fd)
                        if classic is not None:
                            self._once_classic(classic)
                        continue
                    try:
                        if writable and ws.flush():
                            self._poller.want_write(fd, False)
                        if (
                            fd in self._read_paused
                            and ws.pending_write <= self.resume_reading_below
                        ):
                            self._read_paused.discard(fd)
                            self._poller.pause_reading(fd, False)
                        if readable:
                            if not ws.once() or ws.terminated:
                                self._finish(ws)
                            elif (
                                ws.pending_write > self.pause_reading_above
                                and fd not in self._read_paused
                            ):
                                # Backpressure: a peer that sends faster than it reads
                                # what it causes is throttled, not dropped.
                                self._read_paused.add(fd)
                                self._poller.pause_reading(fd, True)
                    except Exception as exc:
                        self._fail(ws, exc)
                now = time.monotonic()
                if now >= self._next_sweep:
                    self._next_sweep = now + self.sweep_interval
                    self._sweep(now)
        finally:
            self.running = False
            self._detach_backend(self._backend)
            self._release()

    def _fail(self, ws: WebSocket, exc: Exception) -> None:
        """Serving ``ws`` raised: end it (1006), keep the loop going whatever happens."""
        try:
            if isinstance(exc, OSError):  # e.g. the peer reset while output was waiting
                logger.info("Dropping %s: %s", _describe(ws), exc)
            else:
                logger.error("Dropping %s after an error serving it", _describe(ws), exc_info=exc)
            ws.core.connection_lost()
            self._finish(ws)
        except Exception:
            logger.exception("Could not end %s cleanly", _describe(ws))
            self.remove(ws)

    def _once_classic(self, websocket: Any) -> None:
        """Serve a readable duck-typed websocket as the reference did (errors end it, not us)."""
        alive: Any = False
        if not websocket.terminated:
            try:
                alive = websocket.once()
            except Exception as exc:
                logger.error(
                    "Terminating websocket %s due to exception: %r in once method",
                    _describe(websocket),
                    exc,
                )
        if alive:
            return
        self.remove(websocket)
        if not websocket.terminated:
            logger.info("Terminating websocket %s", _describe(websocket))
            try:
                websocket.terminate()
            except Exception:
                logger.exception("terminate() of %s failed", _describe(websocket))

    def close_all(
        self, code: int = CloseCode.GOING_AWAY, message: str = "Server is shutting down"
    ) -> None:
        """Start the closing handshake of every websocket; does not wait for it."""
        for ws in self:
            try:
                ws.close(code=code, reason=message)
            except (OSError, ConnectionClosedError, ValueError) as exc:
                logger.debug("close_all: %s on %s", exc, _describe(ws))

    def broadcast(self, message: Any, binary: bool = False, group: str | None = None) -> None:
        """Send ``message`` to every managed websocket, now; failures are skipped.

        The classic, local broadcast: this manager's websockets only (with
        ``group``, its members here); :meth:`publish` reaches other
        processes.  As in ``WebSocket.send(payload, binary=False)``, bytes
        go out as text unless ``binary``; bytes that are not valid UTF-8
        cannot be text (RFC 6455): that raises before anything is sent.
        The frame is built once and reused for every connection that takes
        it as is (server side, no extension transforming the payload).
        """
        built = outgoing_message(message, binary)
        targets = list(self) if group is None else self.members(group)
        if self._classic_count:
            classic = [ws for ws in targets if not isinstance(ws, WebSocket)]
            targets = [ws for ws in targets if isinstance(ws, WebSocket)]
            for ws in classic:
                if not ws.terminated:
                    try:
                        ws.send(message, binary)
                    except Exception as exc:
                        logger.debug("broadcast: %s on %s", exc, _describe(ws))
        self._send_to(targets, [built])

    # -- groups and the broadcast backend ------------------------------------------------

    @property
    def backend(self) -> Backend:
        """The broadcast backend :meth:`publish` goes through."""
        return self._backend

    def set_backend(self, backend: Backend) -> None:
        """Publish and receive through ``backend`` from now on (groups are kept).

        The previous backend is left, not closed.
        """
        with self._groups_lock:
            old, self._backend = self._backend, backend
            if old is backend:
                return
            channels = [ALL_CHANNEL, *map(group_channel, self._groups.names())]
            for channel in channels:
                backend.subscribe(channel, self._on_backend_message)
            for channel in channels:
                old.unsubscribe(channel, self._on_backend_message)

    def publish(
        self,
        message: Any,
        group: str | None = None,
        binary: bool = False,
        exclude: WebSocket | None = None,
    ) -> None:
        """Send ``message`` through the backend: cluster-wide with a Redis backend.

        Without ``group``, to every websocket of every manager on the
        backend; with it, to the members of ``group`` everywhere.
        ``exclude`` (a websocket of this manager) does not receive it.
        ``message`` is a ``str`` or bytes-like (text, unless ``binary``, as
        in ``send()``: bytes sent as text must be valid UTF-8, else
        ``ValueError``) or a text or binary :class:`Message`.

        Delivery is asynchronous: the manager's thread writes what the
        backend hands back, also here (so a :meth:`broadcast` made after a
        ``publish`` may arrive first).  Raises
        :class:`ws4py.broadcast.BackendUnavailableError` when the backend
        cannot take it (Redis down): nothing is queued.
        """
        origin = None
        if exclude is not None:
            origin = (self.id, self._token(exclude))
        payload = encode_message(outgoing_message(message, binary), origin)
        channel = ALL_CHANNEL if group is None else group_channel(group)
        self._backend.publish(channel, payload)

    def join_group(self, websocket: WebSocket, group: str) -> None:
        """Make ``websocket`` a member of ``group`` (it may be called from ``opened()``).

        (Not ``join``: the manager is a thread, whose ``join()`` waits for it.)

        The first local member subscribes this manager to the group's
        channel; messages published to the group from then on reach it.
        """
        with self._groups_lock:
            if self._groups.join(websocket, group):
                try:
                    self._backend.subscribe(group_channel(group), self._on_backend_message)
                except BaseException:
                    self._groups.leave(websocket, group)  # not a member of a group it cannot hear
                    raise

    def leave_group(self, websocket: WebSocket, group: str) -> None:
        """``websocket`` is no longer a member of ``group`` (nothing if it was not)."""
        with self._groups_lock:
            self._leave(websocket, group)

    def groups_of(self, websocket: WebSocket) -> frozenset[str]:
        """The groups ``websocket`` is a member of."""
        with self._groups_lock:
            return self._groups.groups_of(websocket)

    def members(self, group: str) -> list[WebSocket]:
        """The websockets of this manager that are members of ``group``."""
        with self._groups_lock:
            return self._groups.members(group)

    def _leave(self, websocket: WebSocket, group: str) -> None:
        if self._groups.leave(websocket, group):
            self._backend.unsubscribe(group_channel(group), self._on_backend_message)

    def _leave_all(self, websocket: WebSocket) -> None:
        with self._groups_lock:
            for group in self._groups.leave_all(websocket):
                self._backend.unsubscribe(group_channel(group), self._on_backend_message)

    def _detach_backend(self, backend: Backend) -> None:
        with self._groups_lock:
            channels = [ALL_CHANNEL, *map(group_channel, self._groups.names())]
        for channel in channels:
            backend.unsubscribe(channel, self._on_backend_message)

    def _token(self, websocket: WebSocket) -> int:
        token = self._tokens.get(websocket)
        if token is None:
            token = self._tokens.setdefault(websocket, next(_tokens))
        return token

    def _on_backend_message(self, channel: str, payload: bytes) -> None:
        """The backend's callback (any thread): queue for the manager's thread."""
        with self._inbox_lock:
            if len(self._inbox) >= self.max_pending_deliveries:
                self.dropped_deliveries += 1
                if self.dropped_deliveries in (1, 10, 100) or not self.dropped_deliveries % 1000:
                    logger.warning(
                        "Manager behind: %d broadcast message(s) dropped so far",
                        self.dropped_deliveries,
                    )
                return
            self._inbox.append((channel, payload))
            wake = len(self._inbox) == 1
        if wake:
            self._wake()

    def _deliver_pending(self) -> None:
        """In the manager's thread: write what the backend delivered, in order."""
        with self._inbox_lock:
            if not self._inbox:
                return
            items = list(self._inbox)
            self._inbox.clear()
        # Consecutive messages for the same recipients go out together: one
        # write per websocket for the whole run.
        run: list[Message] = []
        run_channel: str | None = None
        for channel, payload in items:
            try:
                message, origin = decode_message(payload)
            except ValueError as exc:
                logger.debug("Ignoring a broadcast payload on %r: %s", channel, exc)
                continue
            if origin is not None:
                if run:
                    self._send_to(self._recipients(run_channel), run)
                    run, run_channel = [], None
                self._send_to(self._recipients(channel, origin), [message])
                continue
            if run and channel != run_channel:
                self._send_to(self._recipients(run_channel), run)
                run = []
            run_channel = channel
            run.append(message)
        if run:
            self._send_to(self._recipients(run_channel), run)

    def _recipients(
        self, channel: str | None, origin: tuple[bytes, int] | None = None
    ) -> list[WebSocket]:
        if channel == ALL_CHANNEL:
            with self.lock:
                targets = list(self.websockets.values())
        else:
            group = (channel or "").partition("group:")[2]
            with self._groups_lock:
                members = self._groups.members(group)
            # Members not managed (yet, or any more) are skipped: only managed
            # sockets write without blocking.
            entries = self._entries
            targets = [ws for ws in members if ws.sock is not None and id(ws) in entries]
        if origin is not None and origin[0] == self.id:
            token = origin[1]
            targets = [ws for ws in targets if self._tokens.get(ws) != token]
        return targets

    def _send_to(self, targets: Iterable[Any], messages: list[Message]) -> None:
        """Send ``messages`` in order to each target; failures are skipped."""
        frames: bytes | None = None
        for ws in targets:
            try:
                if not isinstance(ws, WebSocket):  # duck-typed: its own send(payload, binary)
                    for message in messages:
                        ws.send(message.data, message.opcode == OPCODE_BINARY)
                    continue
                if ws.core.extensions or ws.core.stream.always_mask:
                    for message in messages:
                        ws.send(message)
                    continue
                if frames is None:
                    frames = b"".join(message.single() for message in messages)
                ws.send_frame(frames)
            except Exception as exc:
                logger.debug("broadcast: %s on %s", exc, _describe(ws))

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
        self._deliver_pending()
        with self.lock:
            pending, self._pending_writes = self._pending_writes, set()
        for ws in pending:
            if ws.terminated:
                if ws in self:
                    self._finish(ws)
                continue
            fd = self._polled_fd(ws)
            if fd is not None:
                self._poller.want_write(fd, bool(ws.pending_write))

    def _polled_fd(self, websocket: WebSocket) -> int | None:
        """The descriptor ``websocket`` is polled under, if it is (never another's)."""
        entry = self._entries.get(id(websocket))
        if entry is None or entry[0] is not websocket:
            return None
        fd = entry[1]
        return fd if self._polled.get(fd) is websocket else None

    def _want_write(self, websocket: WebSocket) -> None:
        """A websocket has bytes its socket did not take: poll it for writability."""
        if threading.get_ident() == self.ident:
            # Written from a handler, in the manager's own thread: no need to
            # wake it through the socket pair, the poller is ours to change.
            fd = self._polled_fd(websocket)
            if fd is not None:
                self._poller.want_write(fd, True)
            return
        with self.lock:
            self._pending_writes.add(websocket)
        self._wake()

    def _finish(self, ws: WebSocket) -> None:
        """Stop managing ``ws``, write what it still has, end it (unregistered before closed)."""
        self.remove(ws)
        try:
            ws.flush()
        except OSError as exc:
            logger.debug("Last flush of %s: %s", _describe(ws), exc)
        ws.terminate()

    def _sweep(self, now: float) -> None:
        with self.lock:
            managed = [ws for ws, _ in self._entries.values()]
        for ws in managed:
            if not isinstance(ws, WebSocket):
                continue  # the reference's websockets have no deadlines to keep
            try:
                if ws.terminated:
                    self._finish(ws)
                    continue
                deadline = ws.core.next_deadline()  # on time.monotonic()'s clock, as now
                if (
                    deadline is not None
                    and now >= deadline
                    and (not ws.check_deadlines(now) or ws.terminated)
                ):
                    self._finish(ws)
            except Exception as exc:
                self._fail(ws, exc)
