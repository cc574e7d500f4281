"""A gevent WSGI server that hosts websockets (classic API).

.. code-block:: python

    from gevent import monkey; monkey.patch_all()
    from ws4py.server.geventserver import WSGIServer
    from ws4py.server.wsgiutils import WebSocketWSGIApplication
    from ws4py.websocket import EchoWebSocket

    server = WSGIServer(("127.0.0.1", 9000), WebSocketWSGIApplication(handler_cls=EchoWebSocket))
    server.serve_forever()

Each connection is handled in a greenlet of the server's
:class:`GEventWebSocketPool`.  When the application accepts an upgrade,
:class:`WebSocketWSGIHandler` writes the ``101`` itself, hands the bytes that
pywsgi had already read past the request head to the websocket
(``pending_input``: frames sent together with the handshake are not lost)
and runs the websocket in that same greenlet with
:meth:`ws4py.websocket.WebSocket.run`.  Plain HTTP requests are served by the
same application, so a page and its websocket share a port.  :meth:`WSGIServer.stop`
closes every websocket with 1001 before stopping.

Monkey patching is optional: without it, the websockets' locks are swapped
for gevent's and the heartbeat runs in a greenlet, so nothing blocks the hub
(for ``wss://``, give gevent's server a :class:`gevent.ssl.SSLContext` then,
as gevent asks: ``WSGIServer(..., ssl_context=context)``).
"""

from __future__ import annotations

import logging
import ssl
import threading
from typing import Any

import gevent
import gevent.lock
from gevent import monkey
from gevent.pool import Pool
from gevent.pywsgi import WSGIHandler
from gevent.pywsgi import WSGIServer as _WSGIServer

from ws4py import format_addresses
from ws4py.connection import outgoing_message
from ws4py.framing import CloseCode
from ws4py.http11 import render_response
from ws4py.websocket import Heartbeat, WebSocket

__all__ = ["GEventWebSocketPool", "WSGIServer", "WebSocketWSGIHandler", "run_websocket"]

logger = logging.getLogger("ws4py")

_LOCK_TYPES = (type(threading.Lock()),)
_RLOCK_TYPES = (type(threading.RLock()),)


def _threading_patched() -> bool:
    return bool(monkey.is_module_patched("threading"))


def make_cooperative(websocket: WebSocket) -> None:
    """Swap a websocket's thread locks for gevent's, unless threading is monkey patched.

    A thread lock held by one greenlet (a send waiting for the socket) would
    block the whole hub when another greenlet of the same thread asks for it.
    """
    if _threading_patched():
        return
    for name, value in list(vars(websocket).items()):
        if isinstance(value, _RLOCK_TYPES):
            setattr(websocket, name, gevent.lock.RLock())
        elif isinstance(value, _LOCK_TYPES):
            setattr(websocket, name, gevent.lock.Semaphore())


def _sleep(seconds: float) -> bool:
    """:meth:`Heartbeat.beat_every`'s wait, in a greenlet: never asked to stop (it is killed)."""
    gevent.sleep(seconds)
    return False


def run_websocket(websocket: WebSocket) -> None:
    """Run ``websocket`` (:meth:`WebSocket.run`) in the current greenlet until it ends.

    Works with and without monkey patching: without it, the websocket's locks
    become gevent locks and its heartbeat (``heartbeat_freq``) a greenlet.
    """
    make_cooperative(websocket)
    heartbeat = None
    frequency = websocket.heartbeat_freq
    if frequency and not _threading_patched():
        websocket.heartbeat_freq = None  # no OS thread: a greenlet does it
        heartbeat = gevent.spawn(Heartbeat.beat_every, websocket, frequency, _sleep)
    try:
        websocket.run()
    finally:
        if heartbeat is not None:
            heartbeat.kill(block=False)
            websocket.heartbeat_freq = frequency


class GEventWebSocketPool(Pool):  # type: ignore[misc]
    """The server's pool of greenlets, which also tracks the websockets they run.

    :meth:`run` runs a websocket in the current greenlet and tracks it until
    it ends; :meth:`track` (classic) spawns a greenlet of the pool that does
    so.  :meth:`clear` starts the closing handshake of every tracked
    websocket (1001, "Server is shutting down").
    """

    def __init__(self, size: int | None = None, greenlet_class: Any = None) -> None:
        super().__init__(size, greenlet_class)
        #: The websockets running now.
        self.websockets: set[WebSocket] = set()

    def run(self, websocket: WebSocket) -> None:
        """Run ``websocket`` in this greenlet, tracked until it is over."""
        self.websockets.add(websocket)
        try:
            run_websocket(websocket)
        finally:
            self.websockets.discard(websocket)

    def track(self, websocket: WebSocket) -> gevent.Greenlet:
        """Run ``websocket`` in a new greenlet of the pool; returns the greenlet."""
        return self.spawn(self.run, websocket)

    def clear(
        self, code: int = CloseCode.GOING_AWAY, reason: str = "Server is shutting down"
    ) -> None:
        """Start the closing handshake of every tracked websocket; does not wait."""
        for websocket in list(self.websockets):
            try:
                websocket.close(code, reason)
            except Exception as exc:
                logger.debug("clear: %s on %s", exc, format_addresses(websocket))

    close_all = clear

    def broadcast(self, message: Any, binary: bool = False) -> None:
        """Send ``message`` to every tracked websocket; failures are skipped.

        As ``WebSocket.send(payload, binary=False)``: text unless ``binary``,
        bytes included; bytes that are not UTF-8 raise :class:`ValueError`
        before anything is sent.
        """
        msg = outgoing_message(message, binary)
        for websocket in list(self.websockets):
            try:
                websocket.send(msg)
            except Exception as exc:
                logger.debug("broadcast: %s on %s", exc, format_addresses(websocket))


def _take_buffered(rfile: Any, sock: Any) -> bytes:
    """What the request's buffered reader holds past the request head, without blocking."""
    timeout = sock.gettimeout()
    sock.settimeout(0.0)
    chunks = []
    try:
        while True:
            try:
                chunk = rfile.read1(65536)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    except (OSError, ValueError) as exc:
        logger.debug("Could not read what followed the request head: %s", exc)
    finally:
        sock.settimeout(timeout)
    return b"".join(chunks)


class WebSocketWSGIHandler(WSGIHandler):  # type: ignore[misc]
    """pywsgi's handler, which runs upgraded connections as websockets.

    The connection's socket is in ``environ['ws4py.socket']``; once the
    application answered ``101`` and left its websocket in
    ``environ['ws4py.websocket']`` (see
    :class:`ws4py.server.wsgiutils.WebSocketWSGIApplication`), the handler
    writes the 101 head, gives the websocket the bytes already read past
    the head and runs it in this greenlet until the connection ends.
    """

    def get_environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environ()
        environ["ws4py.socket"] = self.socket
        return environ

    def run_application(self) -> None:
        if "websocket" not in self.environ.get("HTTP_UPGRADE", "").lower():
            super().run_application()
            return
        self.result = self.application(self.environ, self.start_response)
        websocket: WebSocket | None = self.environ.pop("ws4py.websocket", None)
        try:
            if websocket is None or getattr(self, "code", None) != 101:
                self.process_result()  # refused: the application's answer
                return
        finally:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
            self.result = None
        self._write_upgrade_head()
        self.close_connection = True  # the websocket owns the connection now
        websocket.pending_input = _take_buffered(self.rfile, self.socket)
        logger.info("Upgraded %s", format_addresses(websocket))
        pool = getattr(self.server, "pool", None)
        if isinstance(pool, GEventWebSocketPool):
            pool.run(websocket)
        else:
            run_websocket(websocket)

    def _write_upgrade_head(self) -> None:
        # pywsgi keeps the status and headers as ISO-8859-1 bytes (PEP 3333).
        reason = self.status.decode("latin-1").partition(" ")[2]
        headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in self.response_headers]
        head = render_response(self.code, reason, headers)
        self.headers_sent = True
        self._sendall(head)


class WSGIServer(_WSGIServer):  # type: ignore[misc]
    """gevent's WSGI server with :class:`WebSocketWSGIHandler` and a websocket pool.

    ``spawn`` is ``"default"`` (an unbounded :class:`GEventWebSocketPool`),
    a pool size, or a :class:`GEventWebSocketPool`; ``server.pool`` is that
    pool.  Other arguments are gevent's (``ssl_args``: ``keyfile``,
    ``certfile``, ``ssl_context``... for ``wss://``).
    """

    handler_class = WebSocketWSGIHandler
    pool: GEventWebSocketPool

    def __init__(
        self,
        listener: Any,
        application: Any = None,
        backlog: int | None = None,
        spawn: Any = "default",
        **kwargs: Any,
    ) -> None:
        if isinstance(spawn, GEventWebSocketPool):
            pool = spawn
        elif spawn == "default" or spawn is None:
            pool = GEventWebSocketPool()
        elif isinstance(spawn, int) and not isinstance(spawn, bool):
            pool = GEventWebSocketPool(spawn)
        else:
            raise TypeError("spawn is 'default', a pool size or a GEventWebSocketPool")
        super().__init__(listener, application, backlog=backlog, spawn=pool, **kwargs)

    def stop(self, timeout: float | None = None) -> None:
        """Close every websocket (1001), stop accepting, wait for the handlers.

        Handlers still running after ``timeout`` (default :attr:`stop_timeout`)
        are killed.
        """
        self.pool.clear()
        super().stop(timeout)

