"""Scenarios for ws4py.manager: pollers and WebSocketManager, ours beside ws4py 0.6.0.

Run in both interpreters: ``ws4py`` is imported inside each function.  The
websockets handed to the manager are duck-typed (:class:`Duck`): an object with
the attributes the classic manager uses (``sock``, ``opened()``, ``once()``,
``terminated``, ``close()``, ``terminate()``, ``send()``), recording every call,
over one end of a real ``socket.socketpair()``.  Waits are bounded polls of a
condition, never sleeps that a result depends on.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable
from typing import Any

from differential.common import outcome

WAIT = 5.0


def _wait(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


class Duck:
    """What the classic manager needs of a websocket, and nothing more; records calls.

    ``once()`` reads what the socket has: ``b"quit"`` or EOF ends it (False),
    ``b"boom"`` raises, anything else is kept in ``received``.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.terminated = False
        self.calls: list[Any] = []
        self.received: list[bytes] = []
        self.local_address = ("127.0.0.1", 1)
        self.peer_address = ("127.0.0.1", 2)

    def fileno(self) -> int:
        return self.sock.fileno()

    def opened(self) -> None:
        self.calls.append("opened")

    def once(self) -> bool:
        self.calls.append("once")
        data = self.sock.recv(4096)
        if data == b"boom":
            raise RuntimeError("handler failure")
        if not data or data == b"quit":
            return False
        self.received.append(data)
        return True

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.calls.append(("close", code, reason))

    def terminate(self) -> None:
        self.calls.append("terminate")
        self.terminated = True

    def send(self, payload: Any, binary: bool = False) -> None:
        self.calls.append(("send", payload, binary))


class ClassicPoller:
    """A user's poller with only the reference's interface: register/unregister/poll/release."""

    def __init__(self) -> None:
        self.fds: list[int] = []
        self.calls: list[str] = []

    def register(self, fd: int) -> None:
        self.calls.append("register")
        if fd not in self.fds:
            self.fds.append(fd)

    def unregister(self, fd: int) -> None:
        self.calls.append("unregister")
        if fd in self.fds:
            self.fds.remove(fd)

    def poll(self) -> list[int]:
        if not self.fds:
            time.sleep(0.01)
            return []
        readable, _, _ = select.select(self.fds, [], [], 0.01)
        return readable

    def release(self) -> None:
        self.calls.append("release")
        self.fds = []


# -- pollers ------------------------------------------------------------------------


def poller_ops(kind: str, ops: list[tuple[str, int]]) -> list[Any]:
    """Apply register/unregister/send/drain ops on 3 socketpairs; poll after each."""
    import ws4py.manager as manager

    pairs = [socket.socketpair() for _ in range(3)]
    poller = getattr(manager, kind)(timeout=0.01)
    names = {a.fileno(): i for i, (a, _) in enumerate(pairs)}
    out: list[Any] = []
    try:
        for op, i in ops:
            a, b = pairs[i]
            if op == "register":
                out.append(outcome(poller.register, a.fileno())[0])
            elif op == "unregister":
                out.append(outcome(poller.unregister, a.fileno())[0])
            elif op == "send":
                b.send(b"x")
            elif op == "drain":
                a.setblocking(False)
                try:
                    while a.recv(4096):
                        pass
                except BlockingIOError:
                    pass
            out.append(sorted(names[fd] for fd in poller.poll()))
    finally:
        poller.release()
        for a, b in pairs:
            a.close()
            b.close()
    return out


def poller_release(kind: str) -> list[Any]:
    """Release, then release again."""
    import ws4py.manager as manager

    poller = getattr(manager, kind)(timeout=0.01)
    return [outcome(poller.release)[0], outcome(poller.release)[0]]


def kqueue_poller_where_absent() -> list[Any]:
    """KQueuePoller on a platform without kqueue (Linux): constructible, and it polls."""
    import ws4py.manager as manager

    made = outcome(manager.KQueuePoller, 0.01)
    if made[0] != "ok":
        return [made]
    poller = made[1]
    a, b = socket.socketpair()
    try:
        poller.register(a.fileno())
        first = list(poller.poll())
        b.send(b"x")
        second = list(poller.poll())
        poller.unregister(a.fileno())
        third = list(poller.poll())
        return [
            "ok",
            type(poller).__name__,
            poller.timeout,
            first,
            second == [a.fileno()],
            third,
        ]
    finally:
        poller.release()
        a.close()
        b.close()


# -- the manager, not running ------------------------------------------------------------------


def manager_bookkeeping(broadcasts: list[tuple[Any, bool]]) -> dict[str, Any]:
    """add twice, contains, len, iter, broadcast, close_all, remove twice, stop (never started)."""
    from ws4py.manager import WebSocketManager

    m = WebSocketManager()
    a, b = socket.socketpair()
    a2, b2 = socket.socketpair()
    try:
        duck, other = Duck(a), Duck(a2)
        stranger = Duck(socket.socket())
        out: dict[str, Any] = {}
        out["add"] = outcome(m.add, duck)[0]
        out["add_again"] = outcome(m.add, duck)[0]
        out["add_other"] = outcome(m.add, other)[0]
        out["contains"] = [duck in m, other in m, stranger in m]
        out["len"] = len(m)
        out["iter"] = sorted(id(ws) == id(duck) for ws in m)
        for message, binary in broadcasts:
            out.setdefault("broadcast", []).append(outcome(m.broadcast, message, binary)[0])
        out["close_all"] = [outcome(m.close_all)[0], outcome(m.close_all, 4000, "bye")[0]]
        out["remove"] = outcome(m.remove, duck)[0]
        out["remove_again"] = outcome(m.remove, duck)[0]
        out["remove_stranger"] = outcome(m.remove, stranger)[0]
        out["after_remove"] = [duck in m, other in m, len(m)]
        out["terminated"] = [duck.terminated, other.terminated]
        out["stop"] = outcome(m.stop)[0]
        out["after_stop"] = len(m)
        out["duck_calls"] = duck.calls
        out["other_calls"] = other.calls
        stranger.sock.close()
        return out
    finally:
        for s in (a, b, a2, b2):
            s.close()


# -- the manager, running ----------------------------------------------------------------------


def manager_reads_and_ends(ending: bytes, poller: str | None = None) -> dict[str, Any]:
    """A running manager reads a duck when readable; ``ending`` ends it (quit, boom, EOF)."""
    from ws4py.manager import WebSocketManager

    custom = ClassicPoller() if poller == "classic" else None
    m = WebSocketManager(poller=custom)
    m.start()
    a, b = socket.socketpair()
    a2, b2 = socket.socketpair()
    out: dict[str, Any] = {}
    try:
        duck = Duck(a)
        m.add(duck)
        b.send(b"hello")
        out["read"] = _wait(lambda: duck.received == [b"hello"])
        if ending == b"EOF":
            b.close()
        else:
            b.send(ending)
        out["ended"] = _wait(lambda: duck.terminated)
        out["gone"] = _wait(lambda: duck not in m and len(m) == 0)
        # The manager is still serving: a second duck is read.
        second = Duck(a2)
        m.add(second)
        b2.send(b"again")
        out["still_serving"] = _wait(lambda: second.received == [b"again"])
        out["alive"] = m.is_alive()
        out["calls"] = [c for c in duck.calls if c != "once"]
        out["read_once_more"] = duck.calls.count("once") >= 2
    finally:
        m.stop()
        m.join(WAIT)
        out["joined"] = not m.is_alive()
        if custom is not None:
            out["poller_calls"] = sorted(set(custom.calls))
        out["after_stop"] = len(m)
        for s in (a, b, a2, b2):
            s.close()
    return out


# -- broadcast over real websockets ------------------------------------------------------------


def broadcast_frames(payloads: list[tuple[Any, bool]]) -> list[Any]:
    """The frame bytes a peer receives for each ``broadcast(message, binary)``."""
    from ws4py.manager import WebSocketManager
    from ws4py.websocket import WebSocket

    m = WebSocketManager()
    a, b = socket.socketpair()
    out: list[Any] = []
    try:
        ws = WebSocket(a)
        m.add(ws)
        b.settimeout(2.0)
        for message, binary in payloads:
            result = outcome(m.broadcast, message, binary)
            if result[0] != "ok":
                out.append(result)
                continue
            b.setblocking(False)
            try:
                out.append(b.recv(65536))
            except BlockingIOError:
                out.append(b"")
            b.setblocking(True)
    finally:
        m.stop()
        a.close()
        b.close()
    return out


# -- 0.6.0's unit-test style: mocked pollers, a stubbed select module, a fake epoll ------------


def manager_poller_calls(kind: str) -> list[Any]:
    """Every call the manager makes on a user's poller: add, add again, remove, remove again, stop.

    ``kind``: ``"recording"`` (a :class:`ClassicPoller`) or ``"mock"`` (a
    ``MagicMock``, which has every attribute, as 0.6.0's own tests used).
    Descriptors are named (``"ws"``), never compared by number.
    """
    from unittest.mock import MagicMock

    from ws4py.manager import WebSocketManager

    poller: Any = ClassicPoller() if kind == "recording" else MagicMock()
    recorded: list[Any] = []

    def record(name: str) -> Callable[..., None]:
        inner = getattr(poller, name)

        def call(*args: Any) -> None:
            recorded.append((name, *["ws" if a == fd else a for a in args]))
            inner(*args)

        return call

    a, b = socket.socketpair()
    fd = a.fileno()
    try:
        for name in ("register", "unregister", "release"):
            setattr(poller, name, record(name))
        m = WebSocketManager(poller=poller)
        duck = Duck(a)
        m.add(duck)
        m.add(duck)
        m.remove(duck)
        m.remove(duck)
        m.stop()
        return recorded
    finally:
        a.close()
        b.close()


def manager_mock_poller_ends_a_websocket() -> dict[str, Any]:
    """A running manager whose mock poller always reports the duck readable; once() says False."""
    from unittest.mock import MagicMock

    from ws4py.manager import WebSocketManager

    a, b = socket.socketpair()
    m = WebSocketManager(poller=MagicMock())
    m.poller.poll.return_value = [a.fileno()]
    duck = Duck(a)
    duck.once = lambda: duck.calls.append("once") and False  # type: ignore[method-assign]
    out: dict[str, Any] = {}
    try:
        m.add(duck)
        m.start()
        out["ended"] = _wait(lambda: duck.terminated)
        out["gone"] = duck not in m
        out["unregistered"] = m.poller.unregister.call_args_list == [((a.fileno(),),)]
    finally:
        m.stop()
        m.join(WAIT)
        out["joined"] = not m.is_alive()
        out["calls"] = duck.calls
        a.close()
        b.close()
    return out


def manager_stopped_from_poll() -> dict[str, Any]:
    """The manager is stopped by its own poller's poll() (a generator, as 0.6.0's test did)."""
    from unittest.mock import MagicMock

    from ws4py.manager import WebSocketManager

    m = WebSocketManager(poller=MagicMock())
    polled: list[int] = []

    def poll() -> Any:
        polled.append(1)
        yield 1
        m.stop()
        polled.append(2)
        yield 2

    m.poller.poll.return_value = poll()
    before = m.running
    m.start()
    m.join(WAIT)
    return {
        "before": before,
        "joined": not m.is_alive(),
        "running": m.running,
        "polled": polled,
        "released": m.poller.release.called,
    }


def select_poller_with_stubbed_select(ops: list[tuple[str, int]]) -> list[Any]:
    """SelectPoller over a ``select`` module stub answering (readers, None, None).

    0.6.0's tests patched ``ws4py.manager.select`` this way: ``poll()`` uses
    the readable descriptors only.  Descriptors are small numbers never opened.
    """
    from unittest.mock import patch

    import ws4py.manager as manager

    with patch("ws4py.manager.select") as stub:
        stub.select.side_effect = lambda r, w, x, t=None: (list(r), None, None)
        poller = manager.SelectPoller(timeout=0.001)
        out: list[Any] = []
        for op, fd in ops:
            out.append(outcome(getattr(poller, op), fd)[0])
            out.append(sorted(poller.poll()))
        poller.release()
        out.append(sorted(poller.poll()))
        return out


class FakeEpoll:
    """An epoll-like object that refuses a second registration with a plain OSError."""

    def __init__(self) -> None:
        self.fds: list[int] = []

    def close(self) -> None:
        self.fds = []

    def register(self, fd: int, mask: int) -> None:
        if fd in self.fds:
            raise OSError("Already registered")
        self.fds.append(fd)

    def unregister(self, fd: int) -> None:
        if fd in self.fds:
            self.fds.remove(fd)

    def poll(self, timeout: float = -1) -> list[tuple[int, int]]:
        return [(fd, select.EPOLLIN) for fd in self.fds]


def epoll_poller_over_fake_epoll(ops: list[tuple[str, int]]) -> list[Any]:
    """EPollPoller over :class:`FakeEpoll` (``ws4py.manager.select`` patched, real masks)."""
    from unittest.mock import patch

    import ws4py.manager as manager

    with patch("ws4py.manager.select") as stub:
        for name in dir(select):
            if name.startswith("EPOLL"):
                setattr(stub, name, getattr(select, name))
        stub.epoll.return_value = FakeEpoll()
        poller = manager.EPollPoller(timeout=0.001)
        out: list[Any] = []
        for op, fd in ops:
            out.append(outcome(getattr(poller, op), fd)[0])
            out.append(sorted(poller.poll()))
        poller.release()
        return out


def manager_poller_replaced(running: bool) -> dict[str, Any]:
    """``manager.poller = ClassicPoller()`` after construction (0.6.0's CherryPy test did so).

    ``running``: replaced after ``start()`` (else before).  The duck added
    afterwards is served, and ended, through the new poller.
    """
    from ws4py.manager import WebSocketManager

    m = WebSocketManager()
    poller = ClassicPoller()
    if running:
        m.start()
    m.poller = poller
    if not running:
        m.start()
    a, b = socket.socketpair()
    out: dict[str, Any] = {"same": m.poller is poller}
    try:
        duck = Duck(a)
        m.add(duck)
        b.send(b"hello")
        out["read"] = _wait(lambda: duck.received == [b"hello"])
        b.send(b"quit")
        out["ended"] = _wait(lambda: duck.terminated)
        out["gone"] = _wait(lambda: duck not in m)
    finally:
        m.stop()
        m.join(WAIT)
        out["joined"] = not m.is_alive()
        out["poller_calls"] = sorted(set(poller.calls))
        for s in (a, b):
            s.close()
    return out
