"""Websockets in CherryPy applications: a plugin and a tool (classic API).

.. code-block:: python

    import cherrypy
    from ws4py.server.cherrypyserver import WebSocketPlugin, WebSocketTool
    from ws4py.websocket import EchoWebSocket

    WebSocketPlugin(cherrypy.engine).subscribe()
    cherrypy.tools.websocket = WebSocketTool()

    class Root:
        @cherrypy.expose
        def ws(self):
            handler = cherrypy.request.ws_handler  # the websocket of this request

    cherrypy.quickstart(Root(), "/", config={"/ws": {
        "tools.websocket.on": True,
        "tools.websocket.handler_cls": EchoWebSocket,
    }})

:class:`WebSocketTool` validates the upgrade request (a refused one gets its
400, 403, 405 or 426 answer), sets the ``101`` response and creates the
websocket (``cherrypy.request.ws_handler``).  CherryPy's own server, cheroot,
writes the 101 as any other response; then the connection is taken over:
cheroot is told not to keep it alive and not to shut its socket down
(``close_connection`` on its request, ``linger`` on its connection: no
reuse, no close), bytes it had already read past the request head are given
to the websocket, and the websocket is published on the bus
(``'handle-websocket'``, with the peer's address, as ws4py 0.6.0 did) for
:class:`WebSocketPlugin`, whose :class:`ws4py.manager.WebSocketManager` runs
it.

The take-over needs cheroot's request, which the WSGI environ does not carry:
the plugin gives each cheroot server of the engine a gateway (cheroot's
extension point between its HTTP server and the application) that puts the
connection's socket in ``environ['ws4py.socket']`` and takes the websocket
over once the application has answered.  Hence the plugin must be subscribed
for the tool to work; ``cherrypy.engine.publish('websocket-broadcast', message)``
sends a message to every websocket it runs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from hashlib import sha1 as sha1
from typing import Any

import cherrypy
from cheroot.server import HTTPConnection as HTTPConnection  # names ws4py 0.6.0 had here
from cheroot.server import HTTPRequest as HTTPRequest  # (issue #21, row 16)
from cheroot.server import KnownLengthRFile as KnownLengthRFile
from cherrypy import Tool as Tool
from cherrypy.process import plugins

from ws4py import WS_KEY as WS_KEY
from ws4py import WS_VERSION
from ws4py.compat import detach_connection as detach_connection
from ws4py.compat import get_connection as get_connection
from ws4py.compat import py3k as py3k
from ws4py.exc import HandshakeError
from ws4py.extensions import ServerExtensionFactory, default_server_extensions
from ws4py.handshake import validate_environ
from ws4py.manager import WebSocketManager
from ws4py.websocket import WebSocket

__all__ = ["WebSocketPlugin", "WebSocketTool"]

logger = logging.getLogger("ws4py")


class _Upgrade:
    """Per request: where the tool leaves the websocket for the gateway."""

    __slots__ = ("websocket",)

    def __init__(self) -> None:
        self.websocket: WebSocket | None = None


def _server_factories(extensions: Iterable[Any] | None) -> list[ServerExtensionFactory]:
    factories: list[ServerExtensionFactory] = []
    for ext in default_server_extensions() if extensions is None else extensions:
        if isinstance(ext, ServerExtensionFactory):
            factories.append(ext)
        elif ext == "permessage-deflate":
            factories.extend(default_server_extensions())
    return factories


class WebSocketTool(cherrypy.Tool):  # type: ignore[misc]
    """The ``tools.websocket`` tool: turns a request into a websocket.

    Settings (``tools.websocket.<name>``): ``handler_cls`` (the
    :class:`ws4py.websocket.WebSocket` subclass), ``protocols`` (the
    subprotocols this endpoint speaks), ``extensions`` (extension factories;
    permessage-deflate by default, ``[]`` for none), ``heartbeat_freq``,
    ``allowed_origins``; ``version`` is accepted for compatibility (13 is
    the only version there is).
    """

    def __init__(self) -> None:
        super().__init__("before_request_body", self.upgrade, priority=20)

    def _setup(self) -> None:
        super()._setup()
        cherrypy.serving.request.hooks.attach("before_finalize", self.finalize_upgrade)

    @staticmethod
    def finalize_upgrade() -> None:
        """A 101 has neither a body nor a Content-Type, whatever the page handler returned."""
        request = cherrypy.serving.request
        response = cherrypy.serving.response
        if getattr(request, "ws_handler", None) is not None and str(response.status).startswith(
            "101"
        ):
            response.headers.pop("Content-Type", None)
            response.body = b""

    def upgrade(
        self,
        protocols: list[str] | None = None,
        extensions: Iterable[Any] | None = None,
        version: Any = WS_VERSION,
        handler_cls: type[WebSocket] = WebSocket,
        heartbeat_freq: float | None = None,
        allowed_origins: list[str] | None = None,
    ) -> None:
        """Validate the upgrade request, answer 101 and create the websocket."""
        request = cherrypy.serving.request
        response = cherrypy.serving.response
        environ = request.wsgi_environ
        try:
            result = validate_environ(
                environ,
                protocols=protocols,
                extensions=_server_factories(extensions),
                allowed_origins=allowed_origins,
            )
        except HandshakeError as exc:
            logger.info("Refused upgrade: %s %s", exc.status, exc.msg)
            for name, value in exc.headers:
                response.headers[name] = value
            raise cherrypy.HTTPError(exc.status, exc.msg) from None
        upgrade = environ.get("ws4py.upgrade")
        sock = environ.get("ws4py.socket")
        if not isinstance(upgrade, _Upgrade) or sock is None:
            raise cherrypy.HTTPError(
                500,
                "websockets need ws4py's WebSocketPlugin subscribed to the engine "
                "and CherryPy's own server (cheroot)",
            )
        response.status = 101
        for name, value in result.response_headers:
            response.headers[name] = value
        request.process_request_body = False
        websocket = handler_cls(
            sock,
            [result.protocol] if result.protocol else [],
            [str(ext) for ext in result.extensions],
            environ.copy(),
            heartbeat_freq=heartbeat_freq,
        )
        websocket.use_extensions(result.extensions)  # the live objects, before opened()
        request.ws_handler = websocket
        upgrade.websocket = websocket


def _buffered_input(rfile: Any) -> bytes:
    """What cheroot's reader holds past the request head (never reads the socket)."""
    has_data = getattr(rfile, "has_data", None)
    if has_data is None:
        return b""
    chunks = []
    while has_data():
        chunks.append(rfile.read1(65536))
    return b"".join(chunks)


class _GatewayMixin:
    """Mixed into the cheroot server's WSGI gateway by :class:`WebSocketPlugin`."""

    _ws4py_bus: Any
    _ws4py_base: type
    req: Any

    def get_environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environ()  # type: ignore[misc]
        environ["ws4py.socket"] = self.req.conn.socket
        self._ws4py_upgrade = environ["ws4py.upgrade"] = _Upgrade()
        return environ

    def respond(self) -> None:
        super().respond()  # type: ignore[misc]
        websocket = self._ws4py_upgrade.websocket
        req = self.req
        if websocket is None or not req.sent_headers or not bytes(req.status).startswith(b"101"):
            return
        # The 101 is written: the connection is the websocket's from now on.
        # cheroot must neither read another request from it (close_connection)
        # nor shut its socket down when it lets go of it (linger).
        req.close_connection = True
        conn = req.conn
        conn.linger = True
        websocket.pending_input = _buffered_input(conn.rfile)
        peer = (req.conn.remote_addr, req.conn.remote_port)
        if not self._ws4py_bus.publish("handle-websocket", websocket, peer):  # [] or [None]
            # No plugin listens any more: a thread of its own, then.
            logger.warning("No WebSocketPlugin for %s: running it in a thread", websocket)
            threading.Thread(target=websocket.run, name="WebSocket", daemon=True).start()


def _install_gateway(httpserver: Any, bus: Any) -> None:
    """Give a cheroot server the gateway that hands upgraded connections over."""
    try:
        from cheroot.server import HTTPServer
    except ImportError:  # pragma: no cover - CherryPy always brings cheroot
        return
    if not isinstance(httpserver, HTTPServer) or httpserver.gateway is None:
        return
    gateway = httpserver.gateway
    if getattr(gateway, "_ws4py_bus", None) is bus:
        return
    base = getattr(gateway, "_ws4py_base", gateway)
    attributes = {"_ws4py_bus": bus, "_ws4py_base": base}
    httpserver.gateway = type(f"WebSocket{base.__name__}", (_GatewayMixin, base), attributes)


class WebSocketPlugin(plugins.SimplePlugin):  # type: ignore[misc]
    """Runs the websockets of a CherryPy engine in a :class:`WebSocketManager`.

    As ws4py 0.6.0's: :meth:`start` (the engine's ``'start'``) starts the
    manager and subscribes to the bus channels ``'handle-websocket'``
    (``(websocket, peer_address)``: a websocket whose handshake is done, for
    the manager), ``'websocket-broadcast'`` (``(message, binary=False)`` for
    every websocket) and ``'stop'`` (:meth:`cleanup`); :meth:`stop`
    unsubscribes them.  :meth:`cleanup` closes the websockets with 1001 and
    gives them ``stop_timeout`` seconds to finish their closing handshake
    before the manager stops.
    """

    #: Seconds websockets get to finish closing when the engine stops.
    stop_timeout: float = 2.0

    def __init__(self, bus: Any) -> None:
        super().__init__(bus)
        self.manager = WebSocketManager()

    def _channels(self) -> list[tuple[str, Any]]:
        return [
            ("stop", self.cleanup),
            ("handle-websocket", self.handle),
            ("websocket-broadcast", self.broadcast),
        ]

    def subscribe(self) -> None:
        super().subscribe()
        if self.bus.state in (self.bus.states.STARTING, self.bus.states.STARTED):
            self.start()  # the engine will not publish 'start' again

    def unsubscribe(self) -> None:
        super().unsubscribe()
        self.stop()

    def start(self) -> None:
        self.bus.log("Starting WebSocket processing")
        for channel, callback in self._channels():
            self.bus.subscribe(channel, callback)
        if self.manager.ident is not None and not self.manager.is_alive():
            self.manager = WebSocketManager()  # a thread runs once: a new one
        if not self.manager.is_alive():
            self.manager.start()
        self._install_gateways()

    # Before the HTTP servers (75): their gateways are set before they serve.
    start.priority = 70  # type: ignore[attr-defined]

    def stop(self) -> None:
        self.bus.log("Terminating WebSocket processing")
        for channel, callback in self._channels():
            self.bus.unsubscribe(channel, callback)

    def cleanup(self) -> None:
        """Close every websocket (1001), let them finish for a while, stop the manager."""
        manager = self.manager
        manager.close_all()
        deadline = time.monotonic() + self.stop_timeout
        while len(manager) and time.monotonic() < deadline and manager.is_alive():
            time.sleep(0.01)
        manager.stop()
        if manager.is_alive():
            manager.join(timeout=5)
        for websocket in list(manager):  # the peers that did not answer in time
            try:
                manager.remove(websocket)
                websocket.terminate()
            except Exception:
                # An error in a 'stop' listener makes CherryPy's exit() end the
                # process with code 70; one websocket must not, nor spare the rest.
                logger.exception("Ending %r at the engine's stop failed", websocket)

    def _install_gateways(self) -> None:
        from cherrypy.process.servers import ServerAdapter

        adapters = []
        for listener in self.bus.listeners.get("start", ()):
            adapter = getattr(listener, "__self__", None)
            if isinstance(adapter, ServerAdapter) and adapter not in adapters:
                adapters.append(adapter)
        for adapter in adapters:
            if adapter.httpserver is None and hasattr(adapter, "httpserver_from_self"):
                # What cherrypy's Server.start() does first, done now so the
                # gateway is in place before the first request.
                adapter.httpserver, adapter.bind_addr = adapter.httpserver_from_self()
            _install_gateway(adapter.httpserver, self.bus)

    def handle(self, ws_handler: WebSocket, peer_addr: Any = None) -> None:
        """Track ``ws_handler``: the manager runs it (``peer_addr`` is for the log)."""
        logger.debug("Handling the WebSocket of %s", peer_addr)
        self.manager.add(ws_handler)

    def broadcast(self, message: Any, binary: bool = False) -> None:
        """Send ``message`` to every websocket of the manager."""
        self.manager.broadcast(message, binary=binary)
