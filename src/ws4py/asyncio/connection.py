"""The asyncio websocket: the same handlers, on an event loop (server and client side).

:mod:`ws4py.async_websocket` re-exports it with :func:`connect`
(:mod:`ws4py.client._async_connect`), which builds on it: this module
imports no client module, so the layers have no import cycle.

An :class:`asyncio.Protocol` adapter over :class:`ws4py.connection.Connection`
(no second copy of any protocol rule).  The application's handlers
(``opened``, ``received_message``, ``ponged``, ``closed``) may be plain
functions or coroutines; they run in one task per connection, in the order
the events arrived.  Without a ``received_message`` override, messages
queue up for ``await ws.receive()`` or ``async for message in ws``.

Bytes go to the core as they arrive (``data_received``) and what it queues
(pongs) is written right then, whatever the application's task is doing;
the close echo and the failing close are written when that task takes the
events before them (see :mod:`ws4py.connection`).  Deadlines (keepalive,
close timeout) are the core's too, driven by one ``loop.call_at`` timer
rescheduled from :meth:`~ws4py.connection.Connection.next_deadline`: the
same keepalive behaviour as the threaded flavour.

Backpressure both ways: when the application falls behind, reading pauses
(``max_queue`` events waiting) until it catches up; when the peer reads
slowly, :meth:`WebSocket.send` waits for the transport's buffer to drain.
Works on any asyncio loop, uvloop included.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import ssl
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, cast

from ws4py import format_addresses, host_port
from ws4py.connection import (
    Connection,
    CoreSetting,
    State,
    extension_names,
    outgoing_message,
)
from ws4py.exc import ConnectionClosedError, HandshakeError
from ws4py.extensions import Extension, ServerExtensionFactory
from ws4py.framing import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_PONG,
    OPCODE_TEXT,
    CloseCode,
)
from ws4py.handshake import (
    ClientHandshake,
    Headers,
    HeadReader,
    Response,
    SubprotocolSelector,
    parse_request,
    parse_response,
    reject_response_bytes,
    validate_request,
)
from ws4py.limits import ConnectionLimiter, busy_response
from ws4py.messaging import CloseControlMessage, Message, PongControlMessage
from ws4py.streaming import DEFAULT_MAX_MESSAGE_SIZE, Stream

__all__ = [
    "ClientProtocol",
    "EchoWebSocket",
    "WebSocket",
    "WebSocketProtocol",
    "call_handler",
    "serve",
]

logger = logging.getLogger("ws4py")


async def call_handler(handler: Callable[..., Any], *args: Any) -> None:
    """Call an application handler, awaiting it when it is a coroutine function."""
    result = handler(*args)
    if inspect.isawaitable(result):
        await result


class WebSocket:
    """One asyncio websocket connection; subclass it and override the handlers.

    Limits are class attributes, as on the threaded :class:`ws4py.websocket.WebSocket`:
    ``max_message_size``, ``close_timeout``, ``keepalive_interval``,
    ``keepalive_timeout``, plus ``max_queue`` (events waiting for the
    application before reading pauses) and ``write_limit`` (transport buffer
    above which :meth:`send` waits).
    """

    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE
    close_timeout: CoreSetting[float] = CoreSetting(5.0)
    keepalive_interval: CoreSetting[float | None] = CoreSetting(None)
    keepalive_timeout: CoreSetting[float | None] = CoreSetting(None)
    max_queue: int = 64
    write_limit: int = 64 * 1024

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        CoreSetting.wrap_subclass(cls)

    def __init__(
        self,
        proto: WebSocketProtocol,
        protocols: list[str] | None = None,
        extensions: list[Any] | None = None,
        environ: dict[str, Any] | None = None,
    ) -> None:
        self._inbox: asyncio.Queue[Message | None] = asyncio.Queue(self.max_queue)
        self._task: asyncio.Task[None] | None = None
        self.rebind(proto, protocols, extensions, environ)

    def rebind(
        self,
        proto: WebSocketProtocol,
        protocols: list[str] | None = None,
        extensions: list[Any] | None = None,
        environ: dict[str, Any] | None = None,
    ) -> None:
        """Ready this websocket for a new connection, the last one being over.

        What a reconnecting client does with each new connection (as
        ``connect(make_websocket=...)``): a new core and new events for
        ``proto``, the arguments as the constructor's; the same object, so
        the application keeps its references, and messages not received yet
        stay in the queue (the end of the last connection no longer ends
        :meth:`receive`).  :class:`RuntimeError` while a connection runs.
        """
        if self._task is not None and not self._task.done():
            raise RuntimeError("rebind() while the websocket's connection is running")
        inbox = self._inbox
        kept = [inbox.get_nowait() for _ in range(inbox.qsize())]
        for message in kept:
            if message is not None:  # the last connection's end marker goes
                inbox.put_nowait(message)
        self._bind(proto, protocols, extensions, environ)
        self._event_ready = asyncio.Event()
        self._closed_event = asyncio.Event()
        self._close_timer: asyncio.TimerHandle | None = None
        self._task = None

    def _bind(
        self,
        proto: WebSocketProtocol,
        protocols: list[str] | None,
        extensions: list[Any] | None,
        environ: dict[str, Any] | None,
    ) -> None:
        """Attach to an opened connection (a new core per connection).

        ``protocols`` and ``extensions`` are the negotiated ones as strings
        (classic); the live extension objects are handed over afterwards
        with :meth:`use_extensions` (objects given here are taken too).
        """
        self.proto = proto
        self.protocols = protocols
        self.environ = environ
        live: list[Extension] = []
        if extensions and any(isinstance(ext, Extension) for ext in extensions):
            live = [ext for ext in extensions if isinstance(ext, Extension)]
            extensions = [str(ext) for ext in extensions]
        #: The negotiated extensions as header strings; see :attr:`extension_objects`.
        self.extensions = extensions
        self.core = Connection(
            client=proto.is_client,
            max_message_size=self.max_message_size,
            extensions=live,
            keepalive_interval=self.keepalive_interval,
            keepalive_timeout=self.keepalive_timeout,
            close_timeout=self.close_timeout,
        )
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._eof = False

    @property
    def extension_objects(self) -> list[Extension]:
        """The live negotiated extensions; :attr:`extensions` has their header strings."""
        return self.core.extensions

    def use_extensions(self, extensions: Iterable[Extension]) -> None:
        """Hand over the live extensions the handshake negotiated (before :meth:`opened`)."""
        extensions = list(extensions)
        self.core.use_extensions(extensions)
        if extensions:
            self.extensions = extension_names(self.extensions, extensions)

    # -- attributes ------------------------------------------------------------------

    @property
    def stream(self) -> Stream:
        return self.core.stream

    @property
    def terminated(self) -> bool:
        return self.core.state is State.CLOSED

    @property
    def local_address(self) -> Any:
        """``(host, port)``, IPv6 included (as the threaded flavour)."""
        transport = self.proto.transport
        return host_port(transport.get_extra_info("sockname")) if transport else None

    @property
    def peer_address(self) -> Any:
        """``(host, port)``, IPv6 included (as the threaded flavour)."""
        transport = self.proto.transport
        return host_port(transport.get_extra_info("peername")) if transport else None

    @property
    def close_code(self) -> int:
        return self.core.close_code

    @property
    def close_reason(self) -> str:
        return self.core.close_reason

    # -- handlers ----------------------------------------------------------------------

    def opened(self) -> Any:
        """The connection is open (may be a coroutine)."""

    def received_message(self, message: Message) -> Any:
        """A message arrived; by default it waits for :meth:`receive`."""
        return self._inbox.put(message)

    def ponged(self, pong: PongControlMessage) -> Any:
        """A pong arrived (may be a coroutine)."""

    def closed(self, code: int, reason: bytes | str | None = None) -> Any:
        """The connection is over (may be a coroutine).

        As the threaded flavour: the peer's close code and reason (bytes), or
        ``(1006, "Going away")`` when no close frame arrived.
        """

    # -- the application's side ----------------------------------------------------------

    async def receive(self) -> Message | None:
        """The next message, or None once the connection is closed."""
        if self._inbox.empty() and self._closed_event.is_set():
            return None
        return await self._inbox.get()

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Message]:
        while True:
            message = await self.receive()
            if message is None:
                return
            yield message

    async def send(self, payload: Any, binary: bool = False) -> None:
        """Send a message: text unless ``binary``, bytes included (the classic signature).

        The rule is :func:`ws4py.connection.outgoing_message`: bytes sent as
        text must be valid UTF-8 (else :class:`ValueError`, nothing sent).
        Waits while the transport's write buffer is above ``write_limit``.
        """
        message = outgoing_message(payload, binary)
        self.proto.write(self.core.send_message(message))
        await self.proto.drain()

    async def ping(self, data: str | bytes = b"") -> None:
        """Send a ping; the pong goes to :meth:`ponged`."""
        payload = data.encode("utf-8") if isinstance(data, str) else data
        self.proto.write(self.core.send_ping(payload))
        await self.proto.drain()

    async def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Start the closing handshake and wait (at most ``close_timeout``) for its end.

        From a handler, it only starts the handshake: the handler's own task
        is the one that will process the peer's close.
        """
        self._send_close(code, reason)
        if asyncio.current_task() is not self._task:
            await self.wait_closed()

    def start_close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Start the closing handshake without waiting for its end (a plain call)."""
        self._send_close(code, reason)

    def _send_close(self, code: int, reason: str | bytes) -> None:
        data = self.core.send_close(code, reason, asyncio.get_running_loop().time())
        if data:
            self.proto.write(data)
            self._schedule()

    def _close_timed_out(self) -> None:
        logger.info("No close from %s in time: dropping it", format_addresses(self))
        self.proto.abort()

    async def wait_closed(self) -> None:
        """Wait until the connection is over and :meth:`closed` has run."""
        await self._closed_event.wait()

    # -- driven by the protocol -------------------------------------------------------------

    def _start(self, pending: bytes) -> None:
        if self.proto.transport is not None:
            # send() waits (drain) while more than write_limit bytes are unsent.
            self.proto.transport.set_write_buffer_limits(high=self.write_limit)
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run())
        CoreSetting.configure(self, self.core)
        self.core.tick(loop.time())  # the keepalive clock starts
        self._schedule()
        if pending:
            self._data_received(pending)

    def _data_received(self, data: bytes) -> None:
        # Pings are answered here, as the bytes arrive, not when the
        # application's task reaches them: a handler awaiting something slow
        # must not delay a pong (the peer's keepalive) or hide one (ours).
        # The close echo waits its turn in _run(), after earlier messages' echoes.
        core = self.core
        core.receive_data(data, asyncio.get_running_loop().time())
        out = core.data_to_send()
        if out:
            self.proto.write(out)
        self._event_ready.set()
        if core.events_pending >= self.max_queue:
            self.proto.pause_reading()
        self._schedule()  # a pong may bring the next keepalive ping nearer

    def _connection_lost(self) -> None:
        self.core.connection_lost()
        self._eof = True
        self._event_ready.set()

    def _schedule(self) -> None:
        """(Re)arm the deadline timer for the core's next deadline, if that is sooner.

        A later deadline (bytes received push the keepalive back) leaves the
        timer as it is: when it fires early, :meth:`_on_deadline` ticks
        (nothing is due) and arms it again.
        """
        deadline = self.core.next_deadline()
        if deadline is None:
            return
        timer = self._deadline_timer
        if timer is not None:
            if timer.when() <= deadline:
                return
            timer.cancel()
        self._deadline_timer = asyncio.get_running_loop().call_at(deadline, self._on_deadline)

    def _on_deadline(self) -> None:
        self._deadline_timer = None
        core = self.core
        close_sent = core.close_sent
        core.tick(asyncio.get_running_loop().time())
        out = core.data_to_send()
        if out:
            if core.close_sent is not close_sent:
                logger.info("No pong from %s in time: closing", format_addresses(self))
            try:
                self.proto.write(out)
            except ConnectionClosedError:
                return
        if core.timed_out and core.state is State.CLOSED:
            self._close_timed_out()
            return
        self._schedule()

    async def _run(self) -> None:
        core = self.core
        proto = self.proto
        try:
            await self._guard(self.opened)
            while True:
                failure = core.failure
                event = core.next_event()
                out = core.data_to_send()  # the close echo, or the failing close
                if out:
                    if core.failure is not failure:
                        logger.info("Failing %s: %s", format_addresses(self), core.failure)
                    try:
                        proto.write(out)
                    except ConnectionClosedError:
                        pass
                if core.failure is not failure:
                    proto.close_transport()
                if event is None:
                    if self._eof:
                        break
                    proto.resume_reading()
                    self._event_ready.clear()
                    await self._event_ready.wait()
                    continue
                if core.events_pending < self.max_queue // 2:
                    proto.resume_reading()
                opcode = event.opcode
                if opcode in (OPCODE_TEXT, OPCODE_BINARY):
                    await self._guard(self.received_message, event)
                elif opcode == OPCODE_PONG:
                    await self._guard(self.ponged, event)
                elif opcode == OPCODE_CLOSE:
                    if core.close_sent is None and isinstance(event, CloseControlMessage):
                        # A close only the stream showed: answered as a close() would.
                        self._send_close(event.code, event.reason)
                    # Closing handshake done: the server closes TCP first (7.1.1);
                    # a client gives it close_timeout to do so.
                    if core.close_sent is not None:
                        if not proto.is_client:
                            proto.close_transport()
                        elif self._close_timer is None:
                            # Bound the wait for the server's TCP close.
                            self._close_timer = asyncio.get_running_loop().call_later(
                                self.close_timeout, self._close_timed_out
                            )
        finally:
            if self._close_timer is not None:
                self._close_timer.cancel()
            if self._deadline_timer is not None:
                self._deadline_timer.cancel()
                self._deadline_timer = None
            proto.close_transport()
            try:
                await call_handler(self.closed, *core.closed_args())
            except Exception:
                logger.exception("Error in closed() of %s", format_addresses(self))
            self._closed_event.set()
            try:
                self._inbox.put_nowait(None)
            except asyncio.QueueFull:
                pass

    async def _guard(self, handler: Callable[..., Any], *args: Any) -> None:
        try:
            await call_handler(handler, *args)
        except ConnectionClosedError:
            pass
        except Exception:
            logger.exception("Error in a handler of %s: closing with 1011", format_addresses(self))
            self._send_close(CloseCode.INTERNAL_ERROR, "Internal error")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {format_addresses(self)}>"


class EchoWebSocket(WebSocket):
    """Sends every message back."""

    async def received_message(self, message: Message) -> None:
        await self.send(message.data, message.opcode == OPCODE_BINARY)


class WebSocketProtocol(asyncio.Protocol):
    """The transport side: the opening handshake, then bytes to and from the websocket.

    As a server (the classic ``tulipserver`` API)::

        server = await loop.create_server(lambda: WebSocketProtocol(EchoWebSocket), host, port)

    or simply ``await serve(EchoWebSocket, host, port)``.
    """

    is_client = False

    def __init__(
        self,
        handler_cls: type[WebSocket] = WebSocket,
        protocols: list[str] | None = None,
        extensions: Iterable[ServerExtensionFactory] | None = None,
        allowed_origins: list[str] | None = None,
        select_subprotocol: SubprotocolSelector | None = None,
        handshake_timeout: float = 10.0,
        limiter: ConnectionLimiter | None = None,
    ) -> None:
        self.handler_cls = handler_cls
        self.protocols = protocols
        self.extension_factories = list(
            extensions if extensions is not None else _default_server_extensions()
        )
        self.allowed_origins = allowed_origins
        self.select_subprotocol = select_subprotocol
        self.handshake_timeout = handshake_timeout
        self.transport: asyncio.Transport | None = None
        self.websocket: WebSocket | None = None
        self._reader: HeadReader | None = HeadReader(is_response=self.is_client)
        self._paused_writing = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._reading_paused = False
        self._handshake_timer: asyncio.TimerHandle | None = None
        #: Counts this server's open connections against its caps (serve()'s
        #: ``max_connections``/``max_connections_per_ip``); None: not counted.
        self.limiter = limiter
        self._admitted_ip: str | None = None
        self._refused = False

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio.Transport: no isinstance check.
        self.transport = cast(asyncio.Transport, transport)
        timeout = self.handshake_timeout
        if self.limiter is not None:
            peer = self.transport.get_extra_info("peername")
            ip = str(peer[0]) if isinstance(peer, tuple) else ""
            if self.limiter.admit(ip):
                self._admitted_ip = ip
            else:
                # Beyond a cap: read the request (2 s at most), answer 503, close.
                self.limiter.log_refusal(logger, ip)
                self._refused = True
                timeout = min(timeout, 2.0)
        self._handshake_timer = asyncio.get_running_loop().call_later(
            timeout, self._handshake_timed_out
        )

    def _handshake_timed_out(self) -> None:
        if self.websocket is None and self.transport is not None:
            logger.info("Handshake timeout: %s", self.transport.get_extra_info("peername"))
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.websocket is not None:
            self.websocket._data_received(data)
            return
        reader = self._reader
        if reader is None:
            return
        if self._refused:
            try:
                done = reader.feed(data)
            except HandshakeError:
                done = True
            if done and self.transport is not None:
                self._reader = None
                self._cancel_handshake_timer()
                self.transport.write(busy_response())
                self.close_transport()
            return
        try:
            if not reader.feed(data):
                return
            self._reader = None
            self._handshake_done(reader.head, reader.leftover)
        except HandshakeError as exc:
            self._handshake_failed(exc)

    def _handshake_done(self, head: bytes, leftover: bytes) -> None:
        assert self.transport is not None
        request = parse_request(head)
        result = validate_request(
            request,
            protocols=self.protocols,
            extensions=self.extension_factories,
            allowed_origins=self.allowed_origins,
            select_subprotocol=self.select_subprotocol,
        )
        self.transport.write(result.response_bytes())
        self._cancel_handshake_timer()
        environ = {
            "REQUEST_METHOD": request.method,
            "PATH_INFO": request.target.partition("?")[0],
            "QUERY_STRING": request.target.partition("?")[2],
            "ws4py.headers": request.headers,
        }
        self.websocket = _make(self.handler_cls, self, result.protocol, result.extensions, environ)
        self.websocket._start(leftover)

    def _handshake_failed(self, exc: HandshakeError) -> None:
        logger.info("Refused upgrade: %s %s", exc.status, exc.msg)
        self._cancel_handshake_timer()
        if self.transport is not None:
            self.transport.write(reject_response_bytes(exc))
            self.transport.close()

    def _cancel_handshake_timer(self) -> None:
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_handshake_timer()
        if self._admitted_ip is not None and self.limiter is not None:
            self.limiter.release(self._admitted_ip)
            self._admitted_ip = None
        if self.websocket is not None:
            self.websocket._connection_lost()
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_exception(ConnectionClosedError("connection lost"))
        self._drain_waiters.clear()

    def pause_writing(self) -> None:
        self._paused_writing = True

    def resume_writing(self) -> None:
        self._paused_writing = False
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._drain_waiters.clear()

    # -- used by the websocket ---------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionClosedError("the connection is closed")
        if data:
            self.transport.write(data)

    async def drain(self) -> None:
        if not self._paused_writing:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._drain_waiters.append(waiter)
        await waiter

    def pause_reading(self) -> None:
        if self.transport is not None and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and self._reading_paused:
            self._reading_paused = False
            if not self.transport.is_closing():
                self.transport.resume_reading()

    def close_transport(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def _make(
    make: Callable[..., WebSocket],
    proto: WebSocketProtocol,
    protocol: str | None,
    extensions: list[Extension],
    environ: dict[str, Any] | None,
) -> WebSocket:
    """Build the handler with the classic arguments (strings), then hand it the live extensions."""
    names = [str(ext) for ext in extensions]
    websocket = make(proto, [protocol] if protocol else [], names, environ)
    websocket.use_extensions(extensions)
    return websocket


def _default_server_extensions() -> list[ServerExtensionFactory]:
    from ws4py.extensions import default_server_extensions

    return default_server_extensions()


async def serve(
    handler_cls: type[WebSocket],
    host: str | None,
    port: int,
    *,
    ssl: ssl.SSLContext | None = None,
    protocols: list[str] | None = None,
    extensions: Iterable[ServerExtensionFactory] | None = None,
    allowed_origins: list[str] | None = None,
    handshake_timeout: float = 10.0,
    backlog: int = 4096,
    max_connections: int | None = None,
    max_connections_per_ip: int | None = None,
    limiter: ConnectionLimiter | None = None,
    **kwargs: Any,
) -> asyncio.Server:
    """Start an asyncio websocket server; returns the :class:`asyncio.Server`.

    ``max_connections`` / ``max_connections_per_ip`` cap the connections open
    at once, in all and from one client IP address: beyond a cap a new
    connection is answered ``503 Service Unavailable`` (``Retry-After: 1``)
    and closed.  ``limiter``, a :class:`ws4py.limits.ConnectionLimiter`, counts
    the connections instead of one made here (to read its counts, or share
    caps between servers); the caps given here are set on it.
    """
    loop = asyncio.get_running_loop()
    if limiter is None and (max_connections is not None or max_connections_per_ip is not None):
        limiter = ConnectionLimiter()
    if limiter is not None:
        if max_connections is not None:
            limiter.max_connections = max_connections
        if max_connections_per_ip is not None:
            limiter.max_connections_per_ip = max_connections_per_ip

    def factory() -> WebSocketProtocol:
        return WebSocketProtocol(
            handler_cls,
            protocols=protocols,
            extensions=extensions,
            allowed_origins=allowed_origins,
            handshake_timeout=handshake_timeout,
            limiter=limiter,
        )

    return await loop.create_server(factory, host, port, ssl=ssl, backlog=backlog, **kwargs)


class ClientProtocol(WebSocketProtocol):
    """The client side's protocol: sends the handshake request, opens on its response.

    ``on_response(response)``, if given, sees the server's parsed response
    before it is checked; raising :class:`HandshakeError` there ends the
    handshake with that error (how ``connect()`` follows redirects).
    """

    is_client = True

    def __init__(
        self,
        handshake: ClientHandshake,
        handler_cls: type[WebSocket],
        make_websocket: Callable[..., WebSocket] | None = None,
        on_response: Callable[[Response], None] | None = None,
    ) -> None:
        super().__init__(handler_cls, extensions=[])
        self.handshake = handshake
        self.make_websocket = make_websocket or handler_cls
        self.on_response = on_response
        self.opened_future: asyncio.Future[WebSocket] = asyncio.get_running_loop().create_future()
        self.response_headers: Headers | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        self.transport.write(self.handshake.request_bytes())

    def _handshake_done(self, head: bytes, leftover: bytes) -> None:
        response = parse_response(head)
        if self.on_response is not None:
            self.on_response(response)
        result = self.handshake.process_response(response)
        self._cancel_handshake_timer()
        self.response_headers = result.headers
        self.websocket = _make(self.make_websocket, self, result.protocol, result.extensions, None)
        self.websocket._start(leftover)
        self.opened_future.set_result(self.websocket)

    def _handshake_failed(self, exc: HandshakeError) -> None:
        self._cancel_handshake_timer()
        if not self.opened_future.done():
            self.opened_future.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def _handshake_timed_out(self) -> None:
        if not self.opened_future.done():
            self.opened_future.set_exception(HandshakeError("opening handshake timed out"))
        super()._handshake_timed_out()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened_future.done():
            self.opened_future.set_exception(
                HandshakeError(f"connection closed during the handshake ({exc or 'EOF'})")
            )
        super().connection_lost(exc)
