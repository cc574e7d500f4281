"""The websocket endpoint over a socket: the classic ``WebSocket`` class.

A thin adapter around :class:`ws4py.connection.Connection`: it reads what
the socket has, hands it to the core, calls the application's handlers in
order and writes what the core says to write.  Protocol rules are never
re-implemented here.

Two ways to drive it:

* :meth:`WebSocket.run` in a thread of its own (blocking socket with a short
  timeout so deadlines are checked: the close timeout, keepalive);
* a :class:`ws4py.manager.WebSocketManager`, which polls many sockets in one
  thread, calls :meth:`WebSocket.once` when one is readable and switches
  the socket to non-blocking writes with a bounded per-connection buffer.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from ws4py import WS_KEY, WS_VERSION, format_addresses, host_port
from ws4py.connection import (
    Connection,
    CoreSetting,
    State,
    extension_names,
    is_fragmented,
    outgoing_message,
)
from ws4py.exc import ConnectionClosedError
from ws4py.extensions import Extension
from ws4py.framing import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_PONG,
    OPCODE_TEXT,
    CloseCode,
    build_header,
)
from ws4py.masking import BytesLike
from ws4py.messaging import (
    CloseControlMessage,
    Message,
    PingControlMessage,
    PongControlMessage,
)
from ws4py.streaming import DEFAULT_MAX_MESSAGE_SIZE, Stream

__all__ = [
    "DEFAULT_READING_SIZE",
    "WS_KEY",
    "WS_VERSION",
    "EchoWebSocket",
    "Heartbeat",
    "WebSocket",
]

logger = logging.getLogger("ws4py")

#: Bytes asked of the socket per read: what it has, up to this.
DEFAULT_READING_SIZE = 256 * 1024

#: Non-blocking mode: payloads at least this large are written with their
#: header by one sendmsg() (scatter/gather) instead of being copied behind it.
VECTOR_WRITE_MIN = 16 * 1024

# One receive buffer per reading thread (the manager's, or a websocket's own in
# thread mode), reused by every read: recv() would allocate a fresh buffer each
# time, which the allocator trims and the kernel faults back in for big reads.
# The stream copies what it keeps, so the buffer is free again once process()
# returns.  A read is given the buffer for its duration (a handler that reads
# another socket meanwhile, in the same thread, gets a buffer of its own).
_buffers = threading.local()


def _take_buffer(size: int) -> bytearray:
    buf: bytearray | None = _buffers.__dict__.pop("buf", None)
    if buf is None or len(buf) < size:
        buf = bytearray(size)
    return buf


def _give_back_buffer(buf: bytearray) -> None:
    _buffers.buf = buf


def _has_descriptor(sock: Any) -> bool:
    """True for a socket of another kind (gevent's, a TLS tunnel) over a real descriptor.

    Decided on the class, without calling anything: a test double (a
    ``MagicMock``, a plain class with ``sendall``) has no ``send``/``fileno``
    of its class, and its recorded calls stay those the classic code made.
    """
    cls = type(sock)
    return callable(getattr(cls, "send", None)) and callable(getattr(cls, "fileno", None))


def _sendall(sock: socket.socket, data: bytes | memoryview, timeout: float | None) -> None:
    """``sock.sendall(data)`` bounded by ``timeout`` seconds in all, not per call.

    :meth:`WebSocket.run` gives the socket a short timeout to bound its reads;
    ``sendall()`` would take it as a limit on the whole write and give up half
    way through a frame when the peer is slow to read.  A timeout of one
    ``send`` only means nothing could be written yet: try again (TLS included,
    as OpenSSL expects, with the same bytes) until the overall deadline.
    """
    if not isinstance(sock, socket.socket) and not _has_descriptor(sock):
        # A duck-typed socket (the classic unit tests' mock): the classic
        # contract is sendall(), which may be all it has.
        sock.sendall(data)
        return
    deadline = None if timeout is None else time.monotonic() + timeout
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except TimeoutError:
            if deadline is not None and time.monotonic() >= deadline:
                raise
            continue
        view = view[sent:]


def _recv(sock: Any, size: int) -> bytes:
    """``sock.recv(size)``, plus what TLS already decrypted and holds.

    Records decrypted but not read yet are invisible to select/poll: they
    are taken now, or they would wait for the next packet (a classic bug).
    """
    data: bytes = sock.recv(size)
    if isinstance(sock, ssl.SSLSocket):
        while sock.pending():
            data += sock.recv(sock.pending())
    return data


# An enum member looked up on its class costs ~80 ns (CPython 3.11): read often.
_CLOSED = State.CLOSED

# Guards the once-only part of terminate(): shared, as it is held for an instant
# once per connection (a lock per websocket is ~90 bytes each).
_TERMINATE_LOCK = threading.Lock()


class Heartbeat(threading.Thread):
    """Sends an unsolicited pong every ``frequency`` seconds (RFC 6455 5.5.3).

    A one-way keepalive that keeps idle connections through NATs and proxies
    alive; if the write fails, the websocket is closed.  For detecting a dead
    peer, use :attr:`WebSocket.keepalive_interval` (pings that expect pongs).
    """

    def __init__(self, websocket: WebSocket, frequency: float = 2.0) -> None:
        super().__init__(daemon=True, name="ws4py-heartbeat")
        self.websocket = websocket
        self.frequency = frequency
        self._stop_event = threading.Event()

    def __enter__(self) -> Heartbeat:
        if self.frequency:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        self.beat_every(self.websocket, self.frequency, self._stop_event.wait)

    @staticmethod
    def beat(websocket: WebSocket) -> bool:
        """Send ``websocket`` one unsolicited pong; False when its heartbeat should stop.

        The payload is the time in milliseconds, as ws4py 0.6.0 sent.  A
        terminated websocket gets nothing; a failed write closes its socket.
        """
        if websocket.terminated:
            return False
        try:
            websocket.send(PongControlMessage(str(int(time.time() * 1000))))
        except (OSError, ConnectionClosedError) as exc:
            logger.info("Heartbeat failed: %s", exc)
            websocket.close_connection()
            return False
        return True

    @classmethod
    def beat_every(
        cls, websocket: WebSocket, frequency: float, wait: Callable[[float], bool]
    ) -> None:
        """The heartbeat's loop: ``wait(frequency)`` (True: stop), then :meth:`beat`.

        One loop for every flavour: this thread waits on its stop event, a
        gevent server's greenlet on ``gevent.sleep``.
        """
        while not wait(frequency) and cls.beat(websocket):
            pass


class WebSocket:
    """One websocket connection whose opening handshake is done.

    ``sock`` is the connected socket; ``protocols`` and ``extensions`` are
    what the handshake negotiated, as the classic reference has them: lists
    of strings, ``extensions`` holding ``Sec-WebSocket-Extensions`` header
    values such as ``"permessage-deflate; client_max_window_bits=15"``.  The
    live :class:`ws4py.extensions.Extension` objects (what compresses) are
    in :attr:`extension_objects`; servers hand them over with
    :meth:`use_extensions` after construction, so handler subclasses keep
    the classic constructor.  (Extension objects given in ``extensions``
    are taken as live ones too, and listed there as their header strings.)
    ``environ`` is the WSGI environ of the upgrade request, when there was
    one.

    Limits are class attributes, so a subclass or a server can set them
    without changing the classic constructor: ``max_message_size`` (1009 when
    exceeded), ``close_timeout`` (how long to wait for the peer's close once
    ours is sent), ``keepalive_interval``/``keepalive_timeout`` (send a ping
    when the peer was silent that long; fail with 1011 when no pong comes
    back in time), ``max_write_buffer`` (non-blocking mode: a peer that does
    not read more than this is dropped), ``write_timeout`` (blocking mode: a
    peer that reads nothing for this long is dropped).  The three deadlines
    are the core's (:meth:`ws4py.connection.Connection.tick`, the one
    keepalive behaviour of every flavour); these names set them, on the
    class or on one websocket.
    """

    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE
    close_timeout: CoreSetting[float] = CoreSetting(5.0)
    keepalive_interval: CoreSetting[float | None] = CoreSetting(None)
    keepalive_timeout: CoreSetting[float | None] = CoreSetting(None)
    max_write_buffer: int = 4 * 1024 * 1024
    #: Blocking mode: seconds a write may wait for a peer that does not read.
    write_timeout: float | None = 60.0
    #: Whether this endpoint is the client side (it masks what it sends).
    is_client: bool = False
    #: Called with the websocket when bytes wait in its write buffer
    #: (non-blocking mode): a manager sets it to poll the socket for
    #: writability until :meth:`flush` has written them.  None: nobody asks.
    on_pending_write: Any = None
    _nonblocking = False
    # run() mode: the lock run()'s thread holds but while a handler runs, the
    # thread's id, and the handler calls so far (see _Pump).  Class defaults.
    _reader_lock: threading.Lock | None = None
    _reader_ident = 0
    _handler_calls = 0
    _in_handler = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        CoreSetting.wrap_subclass(cls)

    def __init__(
        self,
        sock: socket.socket,
        protocols: list[str] | None = None,
        extensions: Iterable[Extension | str] | None = None,
        environ: dict[str, Any] | None = None,
        heartbeat_freq: float | None = None,
    ) -> None:
        live: list[Extension] = []
        if extensions is not None and not isinstance(extensions, list):
            extensions = list(extensions)
        if extensions and any(isinstance(ext, Extension) for ext in extensions):
            live = [ext for ext in extensions if isinstance(ext, Extension)]
            extensions = [str(ext) for ext in extensions]
        #: The sans-I/O protocol state this adapter drives.
        self.core = Connection(
            client=self.is_client,
            max_message_size=self.max_message_size,
            extensions=live,
            keepalive_interval=self.keepalive_interval,
            keepalive_timeout=self.keepalive_timeout,
            close_timeout=self.close_timeout,
        )
        self.protocols = protocols
        #: The negotiated extensions as header strings (classic); see :attr:`extension_objects`.
        self.extensions: list[Any] | None = extensions
        self.sock: socket.socket | None = sock
        self.environ = environ
        self.heartbeat_freq = heartbeat_freq
        self.reading_buffer_size = DEFAULT_READING_SIZE
        self._peer_address: Any = None
        self._local_address: Any = None
        self._send_lock = threading.Lock()  # one data message at a time
        self._write_lock = threading.Lock()  # one write at a time
        self._wbuf = bytearray()  # non-blocking mode: bytes the socket did not take
        self._nonblocking = False
        self.on_pending_write = None
        self._reader_lock = None
        self._reader_ident = 0
        self._handler_calls = 0
        self._in_handler = False
        self._terminated_done = False
        self._eof = False
        self._opened_fired = False
        #: Bytes received before the websocket took over the socket (e.g. with
        #: the handshake); processed by the reader right after :meth:`opened`.
        self.pending_input = b""

    # -- classic attributes ---------------------------------------------------

    # Class defaults: no per-connection cost.  ``_released_core`` is the core
    # whose stream terminate() released; ``_stream_builders`` is set when the
    # application put in a stream whose message builders are its own.
    _released_core: Connection | None = None
    _stream_builders = False

    @property
    def stream(self) -> Stream | None:
        """The stream parsing and building frames (``core.stream``); None once terminated.

        As in ws4py 0.6.0, :meth:`terminate` releases it and sets it to None
        (the core keeps the released stream, so late calls fail cleanly:
        :meth:`send` raises :class:`~ws4py.exc.ConnectionClosedError`).
        """
        core = self.core
        return None if core is self._released_core else core.stream

    @stream.setter
    def stream(self, value: Stream | None) -> None:
        if value is None:
            self._released_core = self.core
            return
        self.core.stream = value
        self._released_core = None
        # The classic send() built str/bytes messages with the stream's
        # text_message()/binary_message(): a stream with builders of its own
        # (a subclass, or the classic unit tests' mock) keeps that contract.
        cls = type(value)
        self._stream_builders = (
            getattr(cls, "text_message", None) is not Stream.text_message
            or getattr(cls, "binary_message", None) is not Stream.binary_message
        )

    @property
    def extension_objects(self) -> list[Extension]:
        """The live negotiated extensions (what compresses: ``PerMessageDeflate``...).

        :attr:`extensions` lists the same extensions as header strings.
        """
        return self.core.extensions

    def use_extensions(self, extensions: Iterable[Extension]) -> None:
        """Hand over the live extensions the handshake negotiated (before :meth:`opened`).

        Servers and clients call it right after constructing the websocket
        with the classic arguments; :attr:`extensions` gets each one's
        header string if it is not listed yet.
        """
        extensions = list(extensions)
        self.core.use_extensions(extensions)
        if extensions:
            self.extensions = extension_names(self.extensions, extensions)

    # Classic settable flags.  Each reads True once the core says so; an
    # application (or classic code such as a heartbeat) may also set it, as
    # in ws4py 0.6.0, and both set make the websocket terminated: it then
    # sends nothing more and run() ends.  Class defaults: no per-connection cost.
    _server_marked = False
    _client_marked = False

    @property
    def server_terminated(self) -> bool:
        """True once this endpoint has sent its close, or when set (classic attribute)."""
        core = self.core
        return self._server_marked or core.close_sent is not None or core.state is _CLOSED

    @server_terminated.setter
    def server_terminated(self, value: bool) -> None:
        self._server_marked = bool(value)

    @property
    def client_terminated(self) -> bool:
        """True once the peer's close arrived or the connection is over, or when set (classic)."""
        core = self.core
        return self._client_marked or core.close_received is not None or core.state is _CLOSED

    @client_terminated.setter
    def client_terminated(self, value: bool) -> None:
        self._client_marked = bool(value)

    @property
    def terminated(self) -> bool:
        """True when both ends are done: no more data will be read or written."""
        if self.core.state is _CLOSED:
            return True
        return self._client_marked and self.server_terminated

    @property
    def connection(self) -> socket.socket | None:
        """The underlying socket (classic name)."""
        return self.sock

    @property
    def local_address(self) -> Any:
        """Local endpoint address as a tuple: ``(host, port)`` for IPv4 and IPv6 alike."""
        if self._local_address is None and self.sock is not None:
            try:
                self._local_address = host_port(self.sock.getsockname())
            except OSError:
                return None
        return self._local_address

    @property
    def peer_address(self) -> Any:
        """Peer endpoint address as a tuple: ``(host, port)`` for IPv4 and IPv6 alike."""
        if self._peer_address is None and self.sock is not None:
            try:
                self._peer_address = host_port(self.sock.getpeername())
            except OSError:
                return None
        return self._peer_address

    def fire_opened(self) -> None:
        """Call :meth:`opened`, once per connection, whoever asks first.

        The core is driven from here on: it gets this websocket's deadlines
        (a reconnecting client builds a new core per connection) and its
        keepalive clock starts.
        """
        if self._opened_fired:
            return
        self._opened_fired = True
        CoreSetting.configure(self, self.core)
        self.core.tick(time.monotonic())
        self._call_handler(lambda _: self.opened(), None)

    def process_pending(self) -> bool:
        """Process :attr:`pending_input`, if any; False when the connection is over."""
        data, self.pending_input = self.pending_input, b""
        return self.process(data) if data else not self.terminated

    # -- handlers (override these) ------------------------------------------

    def opened(self) -> None:
        """Called once the connection is open (the handshake succeeded)."""

    def closed(self, code: int, reason: bytes | str | None = None) -> None:
        """Called once, when the connection is over.

        With the peer's close code and reason (``bytes``, as in ws4py 0.6.0)
        when its close frame arrived; else with ``(1006, "Going away")``.
        """

    def ponged(self, pong: PongControlMessage) -> None:
        """A pong arrived (an answer to our ping, or a heartbeat)."""

    def received_message(self, message: Message) -> None:
        """A complete text or binary message arrived.  Override this."""

    def unhandled_error(self, error: BaseException) -> None:
        """A socket or OS error that ended the connection; logged by default."""
        logger.error("Failed to receive data on %s: %s", format_addresses(self), error)

    # -- sending ----------------------------------------------------------------

    def close(self, code: int = CloseCode.NORMAL, reason: str | bytes = "") -> None:
        """Start the closing handshake; safe to call several times.

        The connection ends when the peer's close arrives, or after
        ``close_timeout`` seconds without it.  ``code`` must be one RFC 6455
        allows on the wire (1000-1003, 1007-1014, 3000-4999; 1005 sends a
        close without a code): others raise :class:`ValueError` and send
        nothing (ws4py 0.6.0 sent them, and a strict peer failed the
        connection with 1002).  Nothing but the close may be sent after it:
        :meth:`send` then raises :class:`~ws4py.exc.ConnectionClosedError`,
        a :class:`RuntimeError`.
        """
        # Written under the send lock: the reader takes the peer's close (and
        # queues its echo) under it too, so exactly one close goes out, and
        # only once this one is written does the reader end the connection.
        with self._send_lock:
            data = self.core.send_close(code, reason, time.monotonic())
            if data:
                try:
                    self._write(data)
                except OSError as exc:
                    logger.debug("Could not send close on %s: %s", format_addresses(self), exc)
                    self.core.connection_lost()

    def ping(self, message: str | bytes = b"") -> None:
        """Send a ping; the peer's pong goes to :meth:`ponged`.

        Sent as a :class:`PingControlMessage`, as ws4py 0.6.0 did: a stream
        the application put in builds the core's pings and pongs
        (:meth:`Stream.ping <ws4py.streaming.Stream.ping>`), not this one.
        """
        self._write(self.core.send_message(PingControlMessage(message)))

    def send(self, payload: Any, binary: bool = False) -> None:
        """Send a message: text unless ``binary``, as the classic reference says.

        ``str`` and bytes-like payloads (``bytes``, ``bytearray``,
        ``memoryview``) alike go out as one text message unless ``binary``
        is true; bytes sent as text must be valid UTF-8, else
        :class:`ValueError` is raised and nothing is sent (RFC 6455 forbids
        such a text message).  The rule is
        :func:`ws4py.connection.outgoing_message`.  A :class:`Message` is
        sent as itself; an iterable of chunks (a generator) as one
        fragmented message, text unless ``binary``.  After :meth:`close` or
        termination it raises :class:`~ws4py.exc.ConnectionClosedError` (a
        :class:`RuntimeError`).  Thread-safe: frames of two messages never
        interleave.
        """
        if is_fragmented(payload):
            self._send_fragments(payload, binary)
            return
        message = outgoing_message(payload, binary)
        if self._stream_builders and message is not payload:
            self._send_built(payload, binary)
            return
        data = message.data
        if (
            self._nonblocking
            and len(data) >= VECTOR_WRITE_MIN
            and not self.core.extensions
            and not self.core.stream.always_mask
            and type(self.sock) is socket.socket
        ):
            with self._send_lock:
                self.core.check_open()
                self._write_vec(build_header(message.opcode, len(data), True, message.rsv), data)
            return
        with self._send_lock:
            self._write(self.core.send_message(message))

    def _send_built(self, payload: Any, binary: bool) -> None:
        """Send ``payload`` as the application's stream builds it (see :attr:`stream`).

        ``payload`` was checked by :func:`~ws4py.connection.outgoing_message`
        (text must be UTF-8); the frame is what the stream's
        ``text_message(payload)``/``binary_message(payload)`` ``.single()`` gives.
        """
        stream = self.core.stream
        build = stream.binary_message if binary else stream.text_message
        with self._send_lock:
            self.core.check_open()
            self._write(build(payload).single(mask=stream.always_mask))

    def _write_vec(self, header: bytes, payload: Any) -> None:
        """Non-blocking :meth:`_write` of ``header + payload``, the payload not copied."""
        sock = self.sock
        if sock is None:
            raise ConnectionClosedError("the websocket's socket is closed")
        with self._write_lock:
            sent = 0
            if not self._wbuf:
                try:
                    sent = sock.sendmsg([header, payload])
                except BlockingIOError:
                    sent = 0
                if sent == len(header) + len(payload):
                    return
            overflow = len(self._wbuf) > self.max_write_buffer
            if not overflow:
                if sent < len(header):
                    self._wbuf += header[sent:]
                    self._wbuf += payload
                else:
                    self._wbuf += memoryview(payload)[sent - len(header) :]
        self._after_buffering(overflow)

    def send_frame(self, frame: bytes) -> None:
        """Send frame bytes built beforehand (e.g. once for a broadcast)."""
        with self._send_lock:
            self.core.check_open()
            self._write(frame)

    def _send_fragments(self, chunks: Iterable[Any], binary: bool) -> None:
        written = False
        try:
            with self._send_lock:
                for frame in self.core.send_fragments(chunks, binary):
                    self._write(frame)
                    written = True
        except ValueError:
            if written:
                # Part of the message is out and cannot be finished: fail the
                # connection rather than leave the peer inside a message.
                self.close(CloseCode.INTERNAL_ERROR, "invalid outgoing text message")
            raise

    def _write(self, data: bytes | memoryview) -> None:
        """Write bytes, in one piece relative to other writers."""
        if not data:
            return
        sock = self.sock
        if sock is None or (self._client_marked and self.server_terminated):
            raise ConnectionClosedError("the websocket is terminated")
        with self._write_lock:
            if not self._nonblocking:
                try:
                    _sendall(sock, data, self.write_timeout)
                except TimeoutError:
                    # Part of a frame may be out: the connection is unusable.
                    logger.warning(
                        "Dropping %s: its peer read nothing for %ss",
                        format_addresses(self),
                        self.write_timeout,
                    )
                    self.core.connection_lost()
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    raise ConnectionClosedError("peer is not reading; write timed out") from None
                return
            if not self._wbuf:
                try:
                    sent = sock.send(data)
                except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    sent = 0
                if sent == len(data):
                    return
                if sent:
                    data = memoryview(data)[sent:]  # copied once, by += below
            # A peer still sitting on more than the bound is not reading: drop
            # it.  One message is always accepted whole, whatever its size.
            overflow = len(self._wbuf) > self.max_write_buffer
            if not overflow:
                self._wbuf += data
        self._after_buffering(overflow)

    def _after_buffering(self, overflow: bool) -> None:
        """Bytes wait in the write buffer: have them flushed, or drop a peer over the bound."""
        if overflow:
            logger.warning(
                "Dropping %s: its peer does not read (%d bytes pending)",
                format_addresses(self),
                len(self._wbuf),
            )
            self.core.connection_lost()
            self._wbuf.clear()
        callback = self.on_pending_write
        if callback is not None:
            callback(self)
        if overflow:
            raise ConnectionClosedError("peer is not reading; write buffer overflow")

    def flush(self) -> bool:
        """Non-blocking mode: write what is buffered; True when all is written."""
        sock = self.sock
        with self._write_lock:
            if not self._wbuf or sock is None:
                return True
            try:
                sent = sock.send(self._wbuf)
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                return False
            del self._wbuf[:sent]
            return not self._wbuf

    @property
    def pending_write(self) -> int:
        """Bytes accepted by :meth:`send` that the socket has not taken yet."""
        return len(self._wbuf)

    @property
    def nonblocking(self) -> bool:
        """Whether writes never block (a manager's mode); else bounded by ``write_timeout``.

        A manager sets it to True: the socket is made non-blocking (under the
        write lock, so no blocking write is half way through), bytes the
        socket does not take wait in a buffer (:attr:`pending_write`,
        :meth:`flush`, :attr:`on_pending_write`), and reads take what is
        there.  Setting it False makes the socket blocking again.
        """
        return self._nonblocking

    @nonblocking.setter
    def nonblocking(self, value: bool) -> None:
        with self._write_lock:
            sock = self.sock
            if sock is not None:
                sock.setblocking(not value)
            self._nonblocking = bool(value)

    # -- reading ------------------------------------------------------------------

    def once(self) -> bool:
        """Read what the socket has and process it; False when the connection is over."""
        if self.terminated or self.sock is None:
            return False
        sock = self.sock
        data: Any
        buf: bytearray | None = None
        if (
            self._nonblocking
            and type(sock) is socket.socket
            and type(self).process is WebSocket.process
        ):
            # A manager's plain TCP/Unix socket: into the manager thread's reused
            # buffer.  Not in thread mode, where each connection's thread would
            # keep a buffer of its own while idle; nor for a process() overridden
            # by a subclass, which is given bytes it may keep.
            buf = _take_buffer(self.reading_buffer_size)
        try:
            try:
                if buf is not None:
                    data = memoryview(buf)[: sock.recv_into(buf, self.reading_buffer_size)]
                else:
                    data = _recv(sock, self.reading_buffer_size)
            except (TimeoutError, BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return self.check_deadlines()
            except OSError as exc:
                self.core.connection_lost()
                if not self.server_terminated:
                    self.unhandled_error(exc)
                return False
            return self.process(data)
        finally:
            if buf is not None:
                _give_back_buffer(buf)

    def process(self, bytes: BytesLike) -> bool:
        """Feed received bytes to the core and act on what it found.

        Pings are answered at once, before any handler runs; messages go to
        :meth:`received_message`, pongs to :meth:`ponged`; then the close
        echo or the failing close of a protocol error is written (the core
        queues them as the events are taken: see :mod:`ws4py.connection`).
        A close only the stream shows (its classic parser fed by the
        application, or a stream put in by it) is answered through
        :meth:`close`, as ws4py 0.6.0 did.  False means the connection is over.
        """
        data = bytes
        if not data:
            self._eof = True
            self.core.connection_lost()
            return False
        core = self.core
        if core.receive_data(data, time.monotonic()):
            self._write_quietly(core.data_to_send())  # pongs: before any handler runs
        return self._dispatch()

    def _dispatch(self) -> bool:
        """Hand the core's events to the handlers, then write the close it queued (process())."""
        core = self.core
        failure = core.failure
        next_event = core.next_event  # (a loop, not the iterator: the hot path)
        lock = self._send_lock
        while True:
            # (closing_parsed first: one attribute per event until a close or an error is parsed)
            if core.closing_parsed and core.close_is_next:
                with lock:  # may queue our close: never beside another thread's close()
                    event = next_event()
            else:
                event = next_event()
            if event is None:
                break
            opcode = event.opcode
            if opcode == OPCODE_CLOSE:
                if core.close_sent is None and isinstance(event, CloseControlMessage):
                    self.close(event.code, event.reason)
                    # Answered, or not by an overriding close(): the protocol is
                    # over either way (nothing is read after the peer's close).
                    core.connection_lost()
                continue
            if self.handler_error is not None:
                continue  # a handler failed: the connection is closing with 1011
            if opcode in (OPCODE_TEXT, OPCODE_BINARY):
                self._call_handler(self.received_message, event)
            elif opcode == OPCODE_PONG:
                self._call_handler(self.ponged, event)
        # Only taking a close (the echo) or the end of a failed stream queues
        # anything here: nothing to look for before one was parsed.
        out = core.data_to_send() if core.closing_parsed else b""
        if out:
            if core.failure is not failure:
                logger.info(
                    "Failing %s: %s (%s)", format_addresses(self), core.failure, core.close_code
                )
            self._write_quietly(out)
        # The protocol's view, as the classic process(): flags set by hand end
        # run()'s loop (terminated) but do not stop the parsing of these bytes.
        return core.close_received is None and core.state is not _CLOSED

    def _write_quietly(self, data: bytes) -> None:
        try:
            self._write(data)
        except (OSError, ConnectionClosedError) as exc:
            logger.debug("Write failed on %s: %s", format_addresses(self), exc)
            self.core.connection_lost()

    def _call_handler(self, handler: Any, event: Message | None) -> None:
        lock = self._reader_lock
        # run()'s thread lets the pump read while the handler runs (see _Pump);
        # not when a handler processes bytes itself (the lock is released then).
        released = (
            lock is not None
            and not self._in_handler
            and self._reader_ident == threading.get_ident()
        )
        if released:
            self._handler_calls += 1
            self._in_handler = True
            lock.release()  # type: ignore[union-attr]
        try:
            handler(event)
        except ConnectionClosedError:
            pass  # the handler answered a connection that is closing
        except Exception as exc:
            logger.exception("Error in a handler of %s: closing with 1011", format_addresses(self))
            if self.handler_error is None:
                self.handler_error = exc  # run() raises it once the connection is over
            try:
                self.close(CloseCode.INTERNAL_ERROR, "Internal error")
            except Exception:
                self.core.connection_lost()
        finally:
            if released:
                lock.acquire()  # type: ignore[union-attr]
                self._in_handler = False

    def check_deadlines(self, now: float | None = None) -> bool:
        """Enforce the close timeout and keepalive (:meth:`ws4py.connection.Connection.tick`).

        Writes the keepalive ping or the 1011 close it queues; False when
        the connection is over (the close timeout passed: TCP is dropped).
        ``now`` is :func:`time.monotonic` time (read when not given).
        """
        now = time.monotonic() if now is None else now
        core = self.core
        close_sent = core.close_sent
        with self._send_lock:  # the keepalive's close: not beside another thread's close()
            core.tick(now)
            out = core.data_to_send()
        if out:
            if core.close_sent is not close_sent:
                logger.info("No pong from %s in time: closing", format_addresses(self))
            try:
                self._write(out)
            except (OSError, ConnectionClosedError):
                core.connection_lost()
                return False
        if core.timed_out and core.state is _CLOSED:
            logger.info("No close from %s in time: dropping it", format_addresses(self))
            return False
        return not self.terminated

    def next_deadline(self) -> float | None:
        """Seconds until :meth:`check_deadlines` has something to do (None: never).

        The manager and :meth:`run` wait at most this long before calling it.
        """
        deadline = self.core.next_deadline()
        if deadline is None:
            return None
        return max(0.0, deadline - time.monotonic())

    # -- lifecycle ------------------------------------------------------------------

    #: The first exception a handler (``opened``, ``received_message``,
    #: ``ponged``) raised, if any.  The peer is sent a 1011 close at once and
    #: no more messages are handed to the application; once the connection is
    #: over, :meth:`run` raises it, as ws4py 0.6.0's ``run()`` let it
    #: propagate.  (A manager only logs it.)
    handler_error: BaseException | None = None

    def run(self) -> None:
        """Read and process until the connection ends, then :meth:`terminate`.

        Blocking: run it in a thread of its own.  An exception raised by a
        handler closes the connection with 1011 and, after :meth:`terminate`,
        propagates out of ``run()`` (see :attr:`handler_error`).
        """
        sock = self.sock
        if sock is None:
            return
        try:
            self._read_loop(sock)
        finally:
            self.terminate()
        error = self.handler_error
        if error is not None:
            self.handler_error = None
            raise error

    def _read_loop(self, sock: socket.socket) -> None:
        """The reading loop of :meth:`run`."""
        lock = threading.Lock()
        lock.acquire()  # held by this thread but while a handler runs; never released after
        self._reader_lock = lock
        self._reader_ident = threading.get_ident()
        if _Pump.serves(self, sock):
            _PUMP.add(self)
        try:
            self._run_loop(sock)
        finally:
            _PUMP.discard(self)
            self._reader_lock = None

    def _run_loop(self, sock: socket.socket) -> None:
        with Heartbeat(self, frequency=self.heartbeat_freq or 0):
            self.fire_opened()
            if not self.process_pending():
                return
            timeout: float | None = None
            while not self.terminated:
                wait = self.next_deadline()
                new = 0.5 if wait is None else min(max(wait, 0.01), 0.5)
                if new != timeout:  # settimeout() is a syscall: only when it changes
                    sock.settimeout(new)
                    timeout = new
                if self.core.events_pending and not self._dispatch():
                    break  # events the pump queued meanwhile (while opened() ran)
                if not self.once():
                    break

    def _pump(self, now: float) -> None:
        """The pump's turn (see :class:`_Pump`): read what arrived, answer it, queue the events.

        Called with the reader lock held, while run()'s thread is in a handler.
        """
        sock = self.sock
        if sock is None or self.core.state is _CLOSED:
            return
        try:
            readable = select.select([sock], [], [], 0)[0] or (
                isinstance(sock, ssl.SSLSocket) and sock.pending()
            )
            if not readable:
                self.check_deadlines(now)
                return
            data = _recv(sock, self.reading_buffer_size)
        except (TimeoutError, BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except (OSError, ValueError):
            return  # run()'s thread meets the error on its own next read
        if not data:
            return  # EOF: run()'s thread reads it again once the handler returns
        with self._send_lock:  # no pong slips behind a close() the handler makes meanwhile
            self.core.receive_data(data, now)
            out = self.core.data_to_send()
        if out:
            self._write_quietly(out)

    def terminate(self) -> None:
        """End the connection: call :meth:`closed` once and close the socket."""
        with _TERMINATE_LOCK:
            if self._terminated_done:
                return
            self._terminated_done = True
        core, sock = self.core, self.sock
        core.connection_lost()
        try:
            self.closed(*core.closed_args())
        except Exception:
            logger.exception("Error in closed() of %s", format_addresses(self))
        finally:
            if self.core is core:
                self.close_connection()
                self.environ = None
                core.stream.release()
                self.stream = None  # released, as in ws4py 0.6.0
            elif sock is not None:
                # closed() connected again (the classic manual reconnect):
                # end the old socket only, the new connection is live.
                try:
                    sock.close()
                except OSError:
                    pass

    def close_connection(self) -> None:
        """Shut down and close the socket.

        A client whose closing handshake completed first waits (briefly) for
        the server to close TCP, as RFC 6455 7.1.1 asks.
        """
        sock = self.sock
        if sock is None:
            return
        self.sock = None
        self.core.connection_lost()
        try:
            if self.is_client and self.core.close_received is not None and not self._eof:
                sock.settimeout(min(self.close_timeout, 1.0))
                try:
                    while sock.recv(4096):
                        pass
                except (OSError, ValueError):
                    pass
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except (OSError, ValueError):
                pass
        finally:
            try:
                sock.close()
            except Exception as exc:
                # The socket is ours to forget either way (0.6.0 ignored any
                # error here too); a failing close() must not stop terminate().
                logger.debug("Closing the socket of %s failed: %r", format_addresses(self), exc)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {format_addresses(self)}>"


class EchoWebSocket(WebSocket):
    """Sends every message it receives back to its sender."""

    def received_message(self, message: Message) -> None:
        self.send(message.data, message.opcode == OPCODE_BINARY)


class _Pump(threading.Thread):
    """Reads for run()-mode websockets whose handler is busy: pongs keep going out.

    In :meth:`WebSocket.run`, one thread reads the socket and calls the
    handlers; a handler that takes a while (a slow database, a ``sleep``)
    would stop the reading, and the peer's pings would go unanswered until
    its keepalive gives up.  This one process-wide daemon thread looks at the
    run()-mode websockets every ``period`` seconds: one still in the same
    handler call as at its last look has its socket read (what is there,
    without waiting) and fed to the core, which queues the pongs, written at
    once, and the events, which run()'s thread hands to the handlers after
    the busy one, in order.  It also enforces the deadlines meanwhile.  The
    reader lock keeps the two threads from reading at the same time.  Only
    plain TCP/TLS sockets of websockets whose reading is not overridden
    (``once``/``process``) are served.
    """

    period = 0.05

    def __init__(self) -> None:
        super().__init__(name="ws4py-pump", daemon=True)
        self._websockets: weakref.WeakSet[WebSocket] = weakref.WeakSet()
        self._seen: weakref.WeakKeyDictionary[WebSocket, int] = weakref.WeakKeyDictionary()
        self._wakeup = threading.Condition()

    @staticmethod
    def serves(websocket: WebSocket, sock: Any) -> bool:
        cls = type(websocket)
        return (
            type(sock) in (socket.socket, ssl.SSLSocket)
            and cls.process is WebSocket.process
            and cls.once is WebSocket.once
        )

    def add(self, websocket: WebSocket) -> None:
        with self._wakeup:
            self._websockets.add(websocket)
            if not self.is_alive():
                self.start()
            self._wakeup.notify()

    def discard(self, websocket: WebSocket) -> None:
        with self._wakeup:
            self._websockets.discard(websocket)

    def run(self) -> None:
        while True:
            with self._wakeup:
                while not self._websockets:
                    self._wakeup.wait()
                websockets = list(self._websockets)
            time.sleep(self.period)
            now = time.monotonic()
            for ws in websockets:
                calls = ws._handler_calls
                busy = ws._in_handler and self._seen.get(ws) == calls
                self._seen[ws] = calls
                lock = ws._reader_lock
                if not busy or lock is None or not lock.acquire(blocking=False):
                    continue
                try:
                    if ws._in_handler and ws._reader_lock is lock:
                        ws._pump(now)
                except Exception:
                    logger.exception("Reading %s while its handler runs", format_addresses(ws))
                finally:
                    lock.release()


_PUMP = _Pump()


def _new_pump_after_fork() -> None:
    """A forked child starts with a pump of its own (``os.register_at_fork``).

    Only the forking thread survives a fork: the parent's pump thread is
    dead in the child, and a thread cannot be started twice, so the child's
    first run()-mode websocket (a prefork worker's) would fail to start it.
    Its lock may also have been held by a parent thread at the fork.  The
    parent's run()-mode websockets have no thread reading them in the child.
    """
    global _PUMP
    _PUMP = _Pump()


if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork
    os.register_at_fork(after_in_child=_new_pump_after_fork)
