"""A websocket client for tornado applications (classic API, tornado 6+).

Tornado 6 runs on asyncio, so this client is the asyncio websocket of
:mod:`ws4py.async_websocket` driven on the IOLoop's asyncio loop: one
protocol core, one set of rules.  The classic API is kept: handlers are
methods of the client; :meth:`send`, :meth:`ping` and :meth:`close` are plain
calls that write at once.

.. code-block:: python

    from tornado import ioloop
    from ws4py.client.tornadoclient import TornadoWebSocketClient

    class MyClient(TornadoWebSocketClient):
        def opened(self):
            self.send("hello")

        def received_message(self, message):
            print(message)
            self.close(reason="bye")

        def closed(self, code, reason=None):
            ioloop.IOLoop.current().stop()

    ws = MyClient("ws://127.0.0.1:9000/", protocols=["chat"])
    ws.connect()
    ioloop.IOLoop.current().start()

From a coroutine, ``await ws.connect()`` waits until the connection is open
(and raises if it could not be opened) and ``await ws.wait_closed()`` until
it is over.  Handlers may also be coroutines.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from tornado.ioloop import IOLoop

from ws4py import async_websocket
from ws4py.asyncio.connection import call_handler
from ws4py.client import make_ssl_context
from ws4py.client.target import parse_url
from ws4py.connection import is_fragmented, outgoing_message
from ws4py.exc import ConnectionClosedError
from ws4py.extensions import ClientExtensionFactory
from ws4py.framing import CloseCode
from ws4py.handshake import Headers
from ws4py.messaging import Message, PongControlMessage
from ws4py.streaming import DEFAULT_MAX_MESSAGE_SIZE, Stream

__all__ = ["TornadoWebSocketClient"]

#: Settings of the client copied onto each connection it opens.
_LIMITS = (
    "max_message_size",
    "close_timeout",
    "keepalive_interval",
    "keepalive_timeout",
    "max_queue",
    "write_limit",
)


class _Connection(async_websocket.WebSocket):
    """The asyncio websocket of one connection; its handlers and limits are the client's.

    The limits (``max_message_size``...) are the client's values at
    :meth:`TornadoWebSocketClient.connect`, set on the instance before the
    asyncio websocket reads them.
    """

    def __init__(
        self,
        client: TornadoWebSocketClient,
        proto: Any,
        protocols: list[str] | None,
        extensions: list[Any] | None,
        environ: dict[str, Any] | None,
    ) -> None:
        self.client = client
        for name in _LIMITS:
            setattr(self, name, getattr(client, name))
        super().__init__(proto, protocols, extensions, environ)

    def opened(self) -> Any:
        return self.client.opened()

    def received_message(self, message: Message) -> Any:
        return self.client.received_message(message)

    def ponged(self, pong: PongControlMessage) -> Any:
        return self.client.ponged(pong)

    def closed(self, code: int, reason: bytes | str | None = None) -> Any:
        return self.client.closed(code, reason)


class TornadoWebSocketClient:
    """A websocket client on tornado's IOLoop; subclass it and override the handlers.

    ``url`` is a ``ws://``, ``wss://`` or ``ws+unix://`` URL; ``protocols``
    the subprotocols offered; ``extensions`` extension factories to offer
    (default: permessage-deflate; ``[]`` for none); ``io_loop`` the IOLoop to
    run on (default: the current one); ``ssl_options`` a dict of classic TLS
    options (``ca_certs``, ``certfile``, ``keyfile``, ``cert_reqs``...) or an
    :class:`ssl.SSLContext` (certificates are verified by default);
    ``headers`` extra request headers (pairs); ``exclude_headers`` names of
    headers not to send.  Limits are class attributes, as on
    :class:`ws4py.websocket.WebSocket`.
    """

    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE
    close_timeout: float = 5.0
    keepalive_interval: float | None = None
    keepalive_timeout: float | None = None
    max_queue: int = 64
    write_limit: int = 64 * 1024
    #: Seconds allowed for TCP connect, TLS and the opening handshake.
    open_timeout: float = 10.0

    def __init__(
        self,
        url: str,
        protocols: list[str] | None = None,
        extensions: list[Any] | None = None,
        io_loop: IOLoop | None = None,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        headers: list[tuple[str, str]] | None = None,
        exclude_headers: list[str] | None = None,
    ) -> None:
        self.url = url
        self.scheme, self.host, self.port, self.resource, self.unix_socket_path = parse_url(
            url
        ).as_tuple()
        self.protocols = protocols
        #: What :meth:`connect` offers (factories; None: the default).
        self.offered_extensions = extensions
        self.io_loop = io_loop
        self.ssl_options = ssl_options
        self.extra_headers: list[tuple[str, str]] = list(headers or [])
        self.exclude_headers: list[str] = list(exclude_headers or [])
        #: The asyncio websocket of the current connection (None before connect()).
        self.websocket: _Connection | None = None
        self._opening: asyncio.Future[None] | None = None

    # -- handlers (override these) ------------------------------------------------

    def opened(self) -> Any:
        """The connection is open."""

    def received_message(self, message: Message) -> Any:
        """A complete text or binary message arrived."""

    def ponged(self, pong: PongControlMessage) -> Any:
        """A pong arrived."""

    def closed(self, code: int, reason: bytes | str | None = None) -> Any:
        """The connection is over (or could not be opened: 1006 and the error).

        The peer's close code and reason (bytes, classic), or ``(1006,
        "Going away")`` when no close frame arrived.
        """

    # -- connecting -----------------------------------------------------------------

    def connect(self) -> asyncio.Future[None]:
        """Start connecting on the IOLoop; returns a future done once the connection is open.

        May be called before the IOLoop runs (the classic way); the future
        (awaitable) fails with :class:`ws4py.exc.HandshakeError` or
        :class:`OSError` if the connection could not be opened, in which case
        :meth:`closed` is called with 1006 too.
        """
        io_loop = self.io_loop or IOLoop.current()
        self.io_loop = io_loop
        loop: asyncio.AbstractEventLoop = io_loop.asyncio_loop  # type: ignore[attr-defined]
        future: asyncio.Future[None] = loop.create_future()
        # Awaiting it is optional: a failure is reported to closed() as well.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._opening = future
        io_loop.add_callback(self._open, future)
        return future

    async def _open(self, future: asyncio.Future[None]) -> None:
        context = None
        if self.scheme.startswith("wss"):
            context = make_ssl_context(self.ssl_options)

        def bind(proto: Any, protocols: Any, extensions: Any, environ: Any) -> _Connection:
            websocket = _Connection(self, proto, protocols, extensions, environ)
            self.websocket = websocket
            return websocket

        offered: list[ClientExtensionFactory] | None = None
        if self.offered_extensions is not None:
            offered = [
                ext for ext in self.offered_extensions if isinstance(ext, ClientExtensionFactory)
            ]
        try:
            await async_websocket.connect(
                self.url,
                _Connection,
                protocols=self.protocols,
                extensions=offered,
                headers=self.extra_headers,
                exclude_headers=self.exclude_headers,
                ssl_context=context,
                open_timeout=self.open_timeout,
                make_websocket=bind,
            )
        except Exception as exc:  # HandshakeError, OSError, TimeoutError...
            if not future.done():
                future.set_exception(exc)
            await call_handler(self.closed, CloseCode.ABNORMAL, str(exc) or type(exc).__name__)
            return
        if not future.done():
            future.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until the connection is over and :meth:`closed` has run."""
        if self._opening is not None:
            try:
                await self._opening
            except Exception:
                return
        if self.websocket is not None:
            await self.websocket.wait_closed()

    # -- sending (plain calls: they write at once) ------------------------------------

    def _connection(self) -> _Connection:
        if self.websocket is None:
            raise ConnectionClosedError("not connected")
        return self.websocket

    def send(self, payload: Any, binary: bool = False) -> None:
        """Send a message: text unless ``binary``, ``str`` and bytes alike (the classic signature).

        The rule is :func:`ws4py.connection.outgoing_message`: bytes sent as
        text must be valid UTF-8 (else :class:`ValueError`, nothing sent).
        A :class:`ws4py.messaging.Message` is sent as itself (a close is
        refused: :meth:`close` sends it); an iterable of chunks (a
        generator) as one fragmented message.
        """
        websocket = self._connection()
        core = websocket.core
        if is_fragmented(payload):
            # Every chunk is checked before anything is written.
            data = b"".join(core.send_fragments(payload, binary))
        else:
            data = core.send_message(outgoing_message(payload, binary))
        websocket.proto.write(data)

    def ping(self, message: str | bytes = b"") -> None:
        """Send a ping; the peer's pong goes to :meth:`ponged`."""
        websocket = self._connection()
        payload = message.encode("utf-8") if isinstance(message, str) else message
        websocket.proto.write(websocket.core.send_ping(payload))

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Start the closing handshake; :meth:`closed` runs when it is over.

        Safe to call several times; does nothing before the connection is open.
        """
        if self.websocket is not None:
            self.websocket.start_close(code, reason)

    # -- classic attributes ---------------------------------------------------------------

    @property
    def extensions(self) -> list[Any] | None:
        """Once connected, the negotiated extensions as header strings (classic).

        Before, what the constructor was given.  The live extension objects
        are ``websocket.extension_objects``.
        """
        if self.websocket is not None:
            return self.websocket.extensions
        return self.offered_extensions

    @extensions.setter
    def extensions(self, value: list[Any] | None) -> None:
        self.offered_extensions = value

    @property
    def terminated(self) -> bool:
        """True once the connection is over (or before it was opened)."""
        return self.websocket is None or self.websocket.terminated

    @property
    def stream(self) -> Stream | None:
        return self.websocket.stream if self.websocket is not None else None

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server selected, if any."""
        protocols = self.websocket.protocols if self.websocket is not None else None
        return protocols[0] if protocols else None

    @property
    def response_headers(self) -> Headers | None:
        """The server's handshake response headers, once connected."""
        if self.websocket is None:
            return None
        return getattr(self.websocket.proto, "response_headers", None)

    @property
    def local_address(self) -> Any:
        return self.websocket.local_address if self.websocket is not None else None

    @property
    def peer_address(self) -> Any:
        return self.websocket.peer_address if self.websocket is not None else None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"
