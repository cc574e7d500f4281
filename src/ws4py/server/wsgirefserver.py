"""A websocket server on the standard library's ``wsgiref`` (classic API).

.. code-block:: python

    from ws4py.server.wsgirefserver import serve
    from ws4py.websocket import EchoWebSocket
    serve("127.0.0.1", 9000, EchoWebSocket)  # ws://127.0.0.1:9000/ (TLS: ssl_context=...)

or, the classic way:

.. code-block:: python

    server = make_server("", 9000, server_class=WSGIServer,
                         handler_class=WebSocketWSGIRequestHandler,
                         app=WebSocketWSGIApplication(handler_cls=EchoWebSocket))
    server.initialize_websockets_manager()
    server.serve_forever()

Each accepted connection gets a short-lived thread for its TLS and HTTP
handshakes, bounded by :attr:`WebSocketWSGIRequestHandler.handshake_timeout`,
so a slow client never holds up the others; the request head is read with
:class:`ws4py.http11.HeadReader` (size limits; bytes that follow the head
are kept for the websocket).  Upgraded connections are handed to one
:class:`ws4py.manager.WebSocketManager`; plain HTTP requests are served by
the same WSGI application, so a page and its websocket endpoint share a port.
"""

from __future__ import annotations

import io
import logging
import queue
import socket
import socketserver
import ssl
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote
from wsgiref.handlers import SimpleHandler
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import WSGIServer as _WSGIServer
from wsgiref.simple_server import make_server as _make_server

from ws4py import format_addresses
from ws4py.compat import get_connection as get_connection  # 0.6.0's name (issue #21, row 16)
from ws4py.exc import HandshakeError
from ws4py.framing import CloseCode
from ws4py.handshake import reject_response_bytes
from ws4py.http11 import HeadReader, Request, parse_request, render_response
from ws4py.limits import ConnectionLimiter, busy_response
from ws4py.manager import WebSocketManager
from ws4py.server.wsgiutils import WebSocketWSGIApplication
from ws4py.websocket import WebSocket

__all__ = [
    "WSGIServer",
    "WebSocketWSGIHandler",
    "WebSocketWSGIRequestHandler",
    "make_server",
    "serve",
]

logger = logging.getLogger("ws4py")

#: Largest request body read for a plain HTTP request.
MAX_BODY_SIZE = 1024 * 1024


class _RequestBody(io.BytesIO):
    """``environ['wsgi.input']``: the body, already read; its ``raw._sock`` is the connection.

    So that 0.6.0's ``get_connection(environ['wsgi.input'])`` still finds
    the socket (``environ['ws4py.socket']`` is the same one).
    """

    def __init__(self, body: bytes, sock: socket.socket) -> None:
        super().__init__(body)
        self._sock = sock

    @property
    def raw(self) -> _RequestBody:
        return self


class WebSocketWSGIHandler(SimpleHandler):
    """Runs the WSGI application for one request; hands an upgraded socket over."""

    request_handler: WebSocketWSGIRequestHandler
    leftover = b""
    #: wsgiref copies the whole process environment into every request's
    #: environ (CGI heritage, not asked by PEP 3333); a websocket keeps its
    #: environ for its lifetime, so that copy cost memory per connection.
    #: ``WebSocketWSGIHandler.os_environ = os.environ`` brings it back.
    os_environ: Any = {}

    environ: dict[str, Any]

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        if status.startswith("101"):
            # wsgiref refuses hop-by-hop headers (Upgrade, Connection), which
            # a 101 answer is made of: it is written by finish_response.
            self.status = status
            self.headers = self.headers_class(headers)
            return self.write
        return super().start_response(status, headers, exc_info)

    def finish_response(self) -> None:
        websocket: WebSocket | None = self.environ.pop("ws4py.websocket", None)
        if websocket is None or not str(self.status).startswith("101"):
            super().finish_response()
            return
        code, _, reason = str(self.status).partition(" ")
        self._write(render_response(int(code), reason, self.headers.items()))
        self._flush()
        self.headers_sent = True
        websocket.pending_input = self.leftover
        self.request_handler.upgraded(websocket)


class _UnbufferedSocketFile(io.BufferedIOBase):
    """The handler's ``wfile``: each write goes out whole at once, nothing is held back.

    The 101 head must be on the wire before the socket is handed to the
    manager, so no buffer may keep part of it; the standard library's
    equivalent is private (``socketserver._SocketWriter``).
    """

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self._sock.sendall(view)
        return view.nbytes

    def fileno(self) -> int:
        return self._sock.fileno()


class _ServerManager(WebSocketManager):
    """The server's manager: tells the server when it lets go of a websocket."""

    def __init__(self, server: WSGIServer) -> None:
        super().__init__()
        self._server = server

    def remove(self, websocket: WebSocket) -> None:
        super().remove(websocket)
        self._server._release(id(websocket))


class WebSocketWSGIRequestHandler(WSGIRequestHandler):
    """Reads one request head (bounded in size and time) and runs the application."""

    WebSocketWSGIHandler = WebSocketWSGIHandler
    #: Seconds allowed for the TLS handshake plus the HTTP request head.
    handshake_timeout: float = 10.0
    server: WSGIServer

    def setup(self) -> None:
        self.connection = self.request
        self.rfile = io.BytesIO()
        self.wfile = _UnbufferedSocketFile(self.connection)
        self._upgraded = False

    def finish(self) -> None:
        pass  # the socket is closed by the server, unless upgraded

    def handle(self) -> None:
        sock: socket.socket = self.connection
        # A deadline for the whole handshake, not a timeout per read: a client
        # sending one byte now and then must not hold the thread (slowloris).
        deadline = time.monotonic() + self.handshake_timeout
        sock.settimeout(self.handshake_timeout)
        try:
            if isinstance(sock, ssl.SSLSocket):
                sock.do_handshake()  # its timeout is a total (Python 3.5+)
            request, leftover = self._read_head(sock, deadline)
        except HandshakeError as exc:
            self._reject(exc)
            return
        except (OSError, ValueError) as exc:  # timeout, reset, TLS failure
            logger.info("Handshake with %s failed: %s", self.client_address, exc)
            return
        self.command = request.method
        self.request_version = request.version
        self.requestline = f"{request.method} {request.target} {request.version}"
        environ = self.make_environ(request)
        try:
            body = self._read_body(sock, request, leftover)
        except HandshakeError as exc:
            self._reject(exc)
            return
        except OSError:
            return
        environ["wsgi.input"] = _RequestBody(body, sock)
        handler = self.WebSocketWSGIHandler(
            environ["wsgi.input"], self.wfile, self.get_stderr(), environ, multithread=True  # type: ignore[arg-type]
        )
        handler.request_handler = self
        handler.leftover = leftover if not body else b""
        handler.http_version = "1.1"
        handler.server_software = self.version_string()
        try:
            app = self.server.get_app()
            assert app is not None, "WSGIServer.set_app() was not called"
            handler.run(app)
        except OSError as exc:
            logger.info("Request from %s failed: %s", self.client_address, exc)

    def _read_head(
        self, sock: socket.socket, deadline: float | None = None
    ) -> tuple[Request, bytes]:
        reader = HeadReader()
        while True:
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the request head did not arrive in time")
                sock.settimeout(remaining)
            data = sock.recv(65536)
            if not data:
                raise OSError("connection closed during the handshake")
            if reader.feed(data):
                return parse_request(reader.head), reader.leftover

    def _read_body(self, sock: socket.socket, request: Request, leftover: bytes) -> bytes:
        length = request.headers.get("Content-Length")
        if not length:
            return b""
        if not length.isdigit():
            raise HandshakeError("invalid Content-Length")
        size = int(length)
        if size > MAX_BODY_SIZE:
            raise HandshakeError("request body too large", status=413)
        body = bytearray(leftover)
        while len(body) < size:
            data = sock.recv(min(65536, size - len(body)))
            if not data:
                raise OSError("connection closed while reading the body")
            body += data
        return bytes(body[:size])

    def _reject(self, exc: HandshakeError) -> None:
        logger.info("Bad request from %s: %s %s", self.client_address, exc.status, exc.msg)
        try:
            self.connection.sendall(reject_response_bytes(exc))
        except OSError:
            pass

    def make_environ(self, request: Request) -> dict[str, Any]:
        """The WSGI environ of a parsed request (PEP 3333)."""
        env: dict[str, Any] = dict(self.server.base_environ)
        path, _, query = request.target.partition("?")
        env["SERVER_PROTOCOL"] = request.version
        env["SERVER_SOFTWARE"] = self.server_version
        env["REQUEST_METHOD"] = request.method
        env["PATH_INFO"] = unquote(path, "iso-8859-1")
        env["QUERY_STRING"] = query
        env["REMOTE_ADDR"] = self.client_address[0] if self.client_address else ""
        env["wsgi.url_scheme"] = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
        if env["wsgi.url_scheme"] == "https":
            env["HTTPS"] = "on"  # wsgiref's handler derives wsgi.url_scheme from it
        env["ws4py.socket"] = self.connection
        for name, value in request.headers.items():
            key = name.upper().replace("-", "_")
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                env[key] = value
                continue
            # Interned: a websocket keeps its environ for life, and every connection
            # repeats the same names and mostly the same values (the key aside).
            key = sys.intern("HTTP_" + key)
            if key in env:
                env[key] = f"{env[key]},{value}"
            else:
                env[key] = value if key == "HTTP_SEC_WEBSOCKET_KEY" else sys.intern(value)
        return env

    def upgraded(self, websocket: WebSocket) -> None:
        """The application accepted the upgrade: the manager takes the socket."""
        self._upgraded = True
        self.server.link_websocket_to_server(websocket)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


class _HandshakeThreads:
    """Threads for handshakes, kept for a while once idle and reused.

    A request goes to an idle thread if there is one, else to a new thread:
    as many run at once as before (a slow client never holds up the others),
    but a burst of connections stops paying for a thread start each (and the
    accepting thread no longer waits for each new thread to be up).
    """

    idle_timeout = 10.0
    max_idle = 2

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle = 0
        self._released = False
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        with self._lock:
            spawn = self._idle == 0
            if not spawn:
                self._idle -= 1
        self._queue.put((fn, args))
        if spawn:
            threading.Thread(target=self._work, name="ws4py-handshake", daemon=True).start()

    def release(self) -> None:
        """Let the idle threads go now (the server is closing), not after idle_timeout."""
        with self._lock:
            idle, self._idle = self._idle, 0
            self._released = True
        for _ in range(idle):
            self._queue.put(None)

    def _work(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self.idle_timeout)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0:
                        self._idle -= 1
                        return
                continue  # a request is on its way to us
            if item is None:
                return
            fn, args = item
            try:
                fn(*args)
            except Exception:
                logger.exception("Handshake thread failed")
            with self._lock:
                if self._released or self._idle >= self.max_idle:
                    return  # enough threads wait already: a burst leaves few behind
                self._idle += 1


class WSGIServer(socketserver.ThreadingMixIn, _WSGIServer):
    """A WSGI server whose upgraded connections go to a :class:`WebSocketManager`.

    ``ssl_context`` (an attribute; see :func:`make_server`) serves ``wss://``.
    """

    _handshake_threads: _HandshakeThreads | None = None

    def _start_handshake(self, request: Any, client_address: Any) -> None:
        """ThreadingMixIn.process_request, on a reused idle thread when there is one."""
        if self._handshake_threads is None:
            self._handshake_threads = _HandshakeThreads()
        self._handshake_threads.submit(self.process_request_thread, request, client_address)

    daemon_threads = True
    block_on_close = False
    request_queue_size = 4096  # bursts of connects are queued, not refused
    allow_reuse_address = True
    ssl_context: ssl.SSLContext | None = None
    manager: WebSocketManager | None = None
    #: "manager": one thread polls every websocket (scales to thousands);
    #: "thread": each websocket runs in a thread of its own (blocking I/O).
    websocket_mode: str = "manager"
    #: Most connections open at once (handshaking, plain HTTP or websocket); beyond it a
    #: new connection is answered 503 and closed.  None: no cap.
    max_connections: int | None = None
    #: Most connections open at once from one client IP address (503 beyond).  None: no cap.
    max_connections_per_ip: int | None = None
    #: Refused connections answered at once: each gets a short-lived thread that reads
    #: its request (2 s at most) and answers 503; beyond this many, they are just closed.
    max_refusals: int = 32

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Set before the base class binds: a failed bind calls server_close().
        self._upgraded: set[int] = set()
        self._threaded: set[WebSocket] = set()
        self._upgraded_lock = threading.Lock()
        #: Open connections, in all and per IP (see max_connections).
        self.limiter = ConnectionLimiter()
        self._admitted: dict[int, str] = {}  # id(socket or websocket) -> client IP
        self._refusing = 0
        super().__init__(*args, **kwargs)

    @property
    def connection_count(self) -> int:
        """Connections open now: handshaking, plain HTTP and websockets."""
        return self.limiter.total

    def initialize_websockets_manager(self) -> None:
        """Start the manager that runs upgraded websockets (called lazily if forgotten)."""
        if self.manager is None:
            self.manager = _ServerManager(self)
            self.manager.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Admit the connection under the caps (else answer 503), then handle it in a thread."""
        limiter = self.limiter
        limiter.max_connections = self.max_connections
        limiter.max_connections_per_ip = self.max_connections_per_ip
        ip = str(client_address[0]) if isinstance(client_address, tuple) else ""
        if not limiter.admit(ip):
            self._refuse(request, ip)
            return
        with self._upgraded_lock:
            self._admitted[id(request)] = ip
        self._start_handshake(request, client_address)

    def _refuse(self, sock: socket.socket, ip: str) -> None:
        """Beyond a cap: a 503 after the request (bounded), or a plain close under a flood."""
        self.limiter.log_refusal(logger, ip)
        with self._upgraded_lock:
            polite = self._refusing < self.max_refusals
            if polite:
                self._refusing += 1
        if not polite:
            sock.close()
            return
        try:
            threading.Thread(
                target=self._answer_busy, args=(sock,), name="ws4py-refusal", daemon=True
            ).start()
        except RuntimeError:  # no thread to be had
            with self._upgraded_lock:
                self._refusing -= 1
            sock.close()

    def _answer_busy(self, sock: socket.socket) -> None:
        """Read the request head (2 s in all, at most), answer 503, close without a reset."""
        deadline = time.monotonic() + 2.0
        try:
            sock.settimeout(2.0)
            if isinstance(sock, ssl.SSLSocket):
                sock.do_handshake()
            reader = HeadReader()
            try:
                while True:
                    sock.settimeout(max(0.01, deadline - time.monotonic()))
                    if reader.feed(sock.recv(65536) or b"\r\n\r\n"):
                        break
            except HandshakeError:
                pass
            sock.sendall(busy_response())
            sock.shutdown(socket.SHUT_WR)
        except (OSError, ValueError):
            pass
        finally:
            sock.close()
            with self._upgraded_lock:
                self._refusing -= 1

    def _release(self, key: int) -> None:
        """The connection admitted under ``key`` is over (idempotent)."""
        with self._upgraded_lock:
            ip = self._admitted.pop(key, None)
        if ip is not None:
            self.limiter.release(ip)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is not None:
            # The TLS handshake runs in the request's thread, under its timeout.
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        return sock, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        handler = self.RequestHandlerClass(request, client_address, self)  # type: ignore[arg-type]
        if getattr(handler, "_upgraded", False):
            with self._upgraded_lock:
                self._upgraded.add(id(request))

    def shutdown_request(self, request: Any) -> None:
        with self._upgraded_lock:
            if id(request) in self._upgraded:
                self._upgraded.discard(id(request))
                return  # the manager owns it now
        try:
            super().shutdown_request(request)
        finally:
            self._release(id(request))

    def link_websocket_to_server(self, websocket: WebSocket) -> None:
        """Hand an upgraded websocket to the manager (or to a thread of its own)."""
        if logger.isEnabledFor(logging.INFO):
            logger.info("Upgraded %s", format_addresses(websocket))
        with self._upgraded_lock:  # the connection's admission now follows the websocket
            ip = self._admitted.pop(id(websocket.sock), None)
            if ip is not None:
                self._admitted[id(websocket)] = ip
        if self.websocket_mode == "thread":
            with self._upgraded_lock:
                self._threaded.add(websocket)
            threading.Thread(
                target=self._run_threaded, args=(websocket,), name="WebSocket", daemon=True
            ).start()
            return
        self.initialize_websockets_manager()
        manager = self.manager
        assert manager is not None
        manager.add(websocket)
        if not isinstance(manager, _ServerManager) or websocket not in manager:
            # Over already (add() ran its pending input), or a manager that does
            # not report removals: the connection no longer counts.
            self._release(id(websocket))

    def _run_threaded(self, websocket: WebSocket) -> None:
        try:
            websocket.run()
        except Exception:
            # A handler's error, re-raised by run() once it closed with 1011
            # and logged it: this thread is the server's, not the application's.
            logger.debug("%s ended on its handler's error", websocket)
        finally:
            with self._upgraded_lock:
                self._threaded.discard(websocket)
            self._release(id(websocket))

    def server_close(self) -> None:
        """Close every websocket (1001), stop the manager, close the listening socket."""
        with self._upgraded_lock:
            threaded = list(self._threaded)
        for websocket in threaded:
            try:
                websocket.close(CloseCode.GOING_AWAY, "Server is shutting down")
            except Exception as exc:
                logger.debug("server_close: %s on %s", exc, format_addresses(websocket))
        manager = self.manager
        if manager is not None:
            manager.shutdown()
            # Let the manager read the peers' answers and end those connections
            # (calling closed()); it drops silent peers after their close_timeout.
            wait = max((ws.close_timeout for ws in manager), default=0.0) + 0.5
            deadline = time.monotonic() + wait
            while len(manager) and manager.is_alive() and time.monotonic() < deadline:
                time.sleep(0.01)
            manager.stop()
            if manager.is_alive():
                manager.join(timeout=5)
            for websocket in list(manager):  # still there: drop them (closed() with 1006)
                manager.remove(websocket)
                websocket.terminate()
        if self._handshake_threads is not None:
            self._handshake_threads.release()
        super().server_close()


class WSGIServer6(WSGIServer):
    """The same server on IPv6."""

    address_family = socket.AF_INET6


def make_server(
    host: str,
    port: int,
    handler_cls: type[WebSocket] | None = None,
    app: Callable[..., Any] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    websocket_mode: str = "manager",
    max_connections: int | None = None,
    max_connections_per_ip: int | None = None,
    **app_options: Any,
) -> WSGIServer:
    """A ready :class:`WSGIServer` on ``host:port`` (port 0 picks a free one).

    Give ``handler_cls`` (a :class:`WebSocket` subclass, served on every
    path) or a WSGI ``app``; ``app_options`` go to
    :class:`WebSocketWSGIApplication` (``protocols``, ``extensions``,
    ``allowed_origins``).  ``websocket_mode`` is "manager" (default) or
    "thread" (see :attr:`WSGIServer.websocket_mode`).  ``max_connections``
    and ``max_connections_per_ip`` cap the connections open at once (503
    beyond; see :attr:`WSGIServer.max_connections`).
    """
    if websocket_mode not in ("manager", "thread"):
        raise ValueError("websocket_mode is 'manager' or 'thread'")
    if app is None:
        app = WebSocketWSGIApplication(handler_cls=handler_cls or WebSocket, **app_options)
    server_class: type[WSGIServer] = WSGIServer
    if ":" in host:
        server_class = WSGIServer6
    server = _make_server(
        host, port, app, server_class=server_class, handler_class=WebSocketWSGIRequestHandler
    )
    assert isinstance(server, WSGIServer)
    server.ssl_context = ssl_context
    server.websocket_mode = websocket_mode
    server.max_connections = max_connections
    server.max_connections_per_ip = max_connections_per_ip
    if websocket_mode == "manager":
        server.initialize_websockets_manager()
    return server


def serve(
    host: str,
    port: int,
    handler_cls: type[WebSocket],
    ssl_context: ssl.SSLContext | None = None,
    websocket_mode: str = "manager",
    **app_options: Any,
) -> None:
    """Serve ``handler_cls`` on ``host:port`` until interrupted."""
    server = make_server(
        host, port, handler_cls, ssl_context=ssl_context, websocket_mode=websocket_mode,
        **app_options,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":  # pragma: no cover - manual check
    from ws4py.websocket import EchoWebSocket

    serve("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 9000, EchoWebSocket)
