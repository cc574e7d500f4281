"""Scenarios for ws4py.server.cherrypyserver's WebSocketPlugin, beside ws4py 0.6.0.

Run in both interpreters (CherryPy is installed in both): ``ws4py`` and
``cherrypy`` are imported inside each function.  Each scenario has a bus of
its own (``cherrypy.process.wspbus.Bus``, what ``cherrypy.engine`` is), so
nothing global is started; the websockets are the package's own
``WebSocket`` over one end of a real ``socket.socketpair()``, the test
playing the client on the other end.  Waits are bounded polls.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

WAIT = 5.0
CHANNELS = ("start", "stop", "handle-websocket", "websocket-broadcast")


def _wait(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def _masked(opcode: int, payload: bytes) -> bytes:
    """A client frame (masked, FIN set, payload < 126 bytes)."""
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + key + masked


def _read_frame(sock: socket.socket) -> tuple[int, bytes]:
    """One server frame (unmasked, payload < 126 bytes): (opcode, payload)."""

    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise EOFError("peer closed")
            data += chunk
        return data

    first, second = exactly(2)
    return first & 0x0F, exactly(second & 0x7F)


def _listening(bus: Any, plugin: Any) -> dict[str, list[str]]:
    """Which of the plugin's methods listen on each channel."""
    out: dict[str, list[str]] = {}
    for channel in CHANNELS:
        names = [
            listener.__name__
            for listener in bus.listeners.get(channel, ())
            if getattr(listener, "__self__", None) is plugin
        ]
        out[channel] = sorted(names)
    return out


def _quiet_bus() -> Any:
    from cherrypy.process import wspbus

    bus = wspbus.Bus()
    bus.log = lambda *args, **kwargs: None  # the bus logs to 'cherrypy.error'; not compared
    return bus


def plugin_lifecycle() -> dict[str, Any]:
    """The channels the plugin listens on, and its manager, through subscribe/start/stop."""
    from ws4py.server.cherrypyserver import WebSocketPlugin

    bus = _quiet_bus()
    plugin = WebSocketPlugin(bus)
    steps: dict[str, Any] = {"created": _listening(bus, plugin)}
    plugin.subscribe()
    steps["subscribed"] = _listening(bus, plugin)
    steps["manager_running_before_start"] = plugin.manager.is_alive()
    bus.start()
    steps["started"] = _listening(bus, plugin)
    steps["manager_running"] = plugin.manager.is_alive()
    bus.stop()
    steps["stopped"] = _listening(bus, plugin)
    steps["manager_running_after_stop"] = plugin.manager.is_alive()
    plugin.unsubscribe()
    steps["unsubscribed"] = _listening(bus, plugin)
    bus.exit()
    return steps


def handle_before_and_after_start() -> dict[str, Any]:
    """``'handle-websocket'`` published before the bus started (nobody listens yet), then after."""
    from ws4py.server.cherrypyserver import WebSocketPlugin
    from ws4py.websocket import WebSocket

    bus = _quiet_bus()
    plugin = WebSocketPlugin(bus)
    plugin.subscribe()
    server, client = socket.socketpair()
    try:
        ws = WebSocket(server, [], [])
        before = bus.publish("handle-websocket", ws, ("127.0.0.1", 1))
        managed_before = len(plugin.manager)
        bus.start()
        after = bus.publish("handle-websocket", ws, ("127.0.0.1", 1))
        _wait(lambda: len(plugin.manager) == 1)
        return {
            "before": list(before),
            "managed_before": managed_before,
            "after": list(after),
            "managed_after": len(plugin.manager),
        }
    finally:
        bus.exit()
        server.close()
        client.close()


def plugin_runs_websockets(texts: list[str], broadcast: list[Any]) -> dict[str, Any]:
    """``'handle-websocket'`` gives a websocket to the manager: it reads what the peer sends;
    ``'websocket-broadcast'`` reaches the peer; the bus's ``'stop'`` closes with 1001."""
    from ws4py.server.cherrypyserver import WebSocketPlugin
    from ws4py.websocket import WebSocket

    received: list[Any] = []
    closed: list[Any] = []

    class Handler(WebSocket):
        def received_message(self, message: Any) -> None:
            data = message.data
            received.append(bytes(data) if not isinstance(data, str) else data.encode())

        def closed(self, code: int, reason: Any = None) -> None:
            closed.append(code)

    bus = _quiet_bus()
    plugin = WebSocketPlugin(bus)
    plugin.subscribe()
    bus.start()
    server, peer = socket.socketpair()
    peer.settimeout(WAIT)
    result: dict[str, Any] = {}
    try:
        ws = Handler(server, [], [])
        answers = bus.publish("handle-websocket", ws, ("127.0.0.1", 1))
        result["answers"] = list(answers)
        result["managed"] = _wait(lambda: len(plugin.manager) == 1)
        for text in texts:
            peer.sendall(_masked(0x1, text.encode()))
        result["received_all"] = _wait(lambda: len(received) == len(texts))
        result["received"] = list(received)
        frames = []
        for args in broadcast:
            bus.publish("websocket-broadcast", *args)
            frames.append(_read_frame(peer))
        result["broadcast_frames"] = frames

        closing: dict[str, Any] = {}

        def answer_close() -> None:
            try:
                opcode, payload = _read_frame(peer)
                closing["frame"] = (opcode, struct.unpack("!H", payload[:2])[0], payload[2:])
                peer.sendall(_masked(0x8, payload[:2]))
            except (OSError, EOFError) as exc:
                closing["error"] = type(exc).__name__

        answering = threading.Thread(target=answer_close, daemon=True)
        answering.start()
        bus.stop()
        answering.join(WAIT)
        result["close_frame"] = closing.get("frame")
        result["manager_running"] = plugin.manager.is_alive()
        result["closed_after_stop"] = list(closed)  # the manager's thread has ended
    finally:
        bus.exit()
        server.close()
        peer.close()
    return result


class FakePoller:
    """0.6.0's own CherryPy test poller: every registered fd is always ready."""

    def __init__(self, timeout: float = 0.1) -> None:
        self._fds: list[Any] = []

    def release(self) -> None:
        self._fds = []

    def register(self, fd: Any) -> None:
        if fd not in self._fds:
            self._fds.append(fd)

    def unregister(self, fd: Any) -> None:
        if fd in self._fds:
            self._fds.remove(fd)

    def poll(self) -> list[Any]:
        return self._fds


def plugin_with_a_replaced_poller(texts: list[str]) -> dict[str, Any]:
    """0.6.0's own CherryPy test: ``plugin.manager.poller`` replaced after ``subscribe()``.

    The manager runs its websockets through that poller: an echo websocket
    answers the peer's ``texts``, ``close()`` is answered by the peer and
    the manager drops it; the bus then stops and exits cleanly (CherryPy's
    ``exit()`` ends the process with code 70 when a 'stop' listener fails).
    """
    from ws4py.server.cherrypyserver import WebSocketPlugin
    from ws4py.websocket import EchoWebSocket

    bus = _quiet_bus()
    plugin = WebSocketPlugin(bus)
    plugin.subscribe()
    poller = plugin.manager.poller = FakePoller()
    bus.start()
    server, peer = socket.socketpair()
    peer.settimeout(WAIT)
    result: dict[str, Any] = {}
    try:
        ws = EchoWebSocket(server, [], [])
        bus.publish("handle-websocket", ws, ("127.0.0.1", 0))
        result["managed"] = len(plugin.manager) == 1 and ws in plugin.manager
        result["polled"] = len(poller._fds)
        echoed = []
        for text in texts:
            peer.sendall(_masked(0x1, text.encode()))
            echoed.append(_read_frame(peer))
        result["echoed"] = echoed
        ws.close(reason="done")
        opcode, payload = _read_frame(peer)
        result["close_frame"] = (opcode, struct.unpack("!H", payload[:2])[0], payload[2:])
        peer.sendall(_masked(0x8, payload))
        result["dropped"] = _wait(lambda: len(plugin.manager) == 0)
        result["polled_after"] = len(poller._fds)
        bus.stop()
        result["stopped"] = bus.state == bus.states.STOPPED
        result["manager_running"] = plugin.manager.is_alive()
    finally:
        bus.exit()
        server.close()
        peer.close()
    return result
