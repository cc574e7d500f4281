"""The connection's state machine after the opening handshake (RFC 6455 sections 5.5, 7).

Sans-I/O like the rest of the core: bytes in, events and bytes out, and no
socket, thread or clock inside.  Time is given by the caller (``now``, on
its own monotonic clock) wherever a rule depends on it.  Each rule lives
here once: a ping is answered with a pong until our close is sent (5.5.2);
a close is echoed unless we sent one (5.5.1); a protocol error fails the
connection with the stream's close code (7.1.7); nothing at all may be sent
after our close (5.5.1).

The I/O layer's loop, whatever the flavour::

    core.receive_data(data, now)     # parse; pongs are queued at once
    write(core.data_to_send())       # the pongs go out before any handler runs
    for event in core.events_received():
        handle(event)                # messages, pongs, the peer's close
    write(core.data_to_send())       # the close echo, or the failing close

The ordering rule: automatic replies are queued in order, and the two that
end the connection follow the application's progress.  A pong is queued as
its ping is parsed, whatever the application is doing (a slow handler must
not fail the peer's keepalive).  The close echo is queued when the
application *takes* the peer's close from :meth:`Connection.events_received`
(or :meth:`Connection.next_event`), and the failing close of a protocol
error when it takes the last event that came before the error: never before
the events that preceded them were handed over, so the echo of a message
received before the peer's close precedes our close echo (Autobahn checks
this, and the classic echo server relies on it).

Deadlines, one behaviour for every flavour (:meth:`Connection.tick`,
:meth:`Connection.next_deadline`):

* keepalive: once the peer has been silent for ``keepalive_interval``
  seconds (any bytes received count as life), a ping is queued; if no pong
  comes back within ``keepalive_timeout`` (default: the interval), a close
  1011 "keepalive ping timeout" is queued (the state becomes CLOSING);
* close timeout: once our close is sent, the peer has ``close_timeout``
  seconds to send anything back; then the state becomes CLOSED with
  :attr:`Connection.timed_out` set, and the I/O layer drops TCP.
"""

from __future__ import annotations

import codecs
import enum
from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar

from ws4py.exc import ConnectionClosedError
from ws4py.extensions import Extension
from ws4py.framing import (
    CONTROL_BIT,
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_CONTINUATION,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
    CloseCode,
    build_frame,
)
from ws4py.masking import BytesLike
from ws4py.messaging import (
    BinaryMessage,
    CloseControlMessage,
    Message,
    TextMessage,
    close_code_allowed,
)
from ws4py.streaming import DEFAULT_MAX_MESSAGE_SIZE, Stream

__all__ = [
    "ABNORMAL_CLOSE_REASON",
    "KEEPALIVE_TIMEOUT_REASON",
    "TRANSITIONS",
    "Connection",
    "CoreSetting",
    "State",
    "TextChunks",
    "check_text",
    "extension_names",
    "is_fragmented",
    "outgoing_message",
]

_T = TypeVar("_T")

#: The reason :meth:`Connection.closed_args` reports with code 1006 when no
#: close frame arrived (ws4py 0.6.0 passes exactly this ``str`` to ``closed()``).
ABNORMAL_CLOSE_REASON = "Going away"

_USE_CLOSE = "a close frame is sent by close(), which starts the closing handshake"

_NOT_TEXT = (
    "bytes sent as text must be valid UTF-8 (RFC 6455 section 5.6); "
    "pass binary=True to send them as a binary message"
)


def check_text(data: BytesLike) -> None:
    """Raise :class:`ValueError` unless ``data`` is valid UTF-8.

    RFC 6455 section 5.6 forbids a text message that is not UTF-8, and the
    peer would fail the connection with 1007: refusing it here, before
    anything is written, tells the application which call was wrong.
    """
    try:
        str(data, "utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(_NOT_TEXT) from exc


def outgoing_message(payload: Any, binary: bool = False) -> Message:
    """The message ``send(payload, binary=False)`` sends: the one rule of every flavour.

    As in the classic reference's signature, ``binary`` alone decides the
    message type: ``str`` *and* bytes-like payloads go out as text unless
    ``binary`` is true (``send(json.dumps(obj).encode())`` reaches a browser
    as a string, not a Blob).  Bytes sent as text must be valid UTF-8
    (:func:`check_text`).  A :class:`Message` is sent as itself, except a
    close: only ``close()`` may send one, since it starts the closing
    handshake (see :meth:`Connection.send_message`).  Anything else raises
    :class:`ValueError`.
    """
    if isinstance(payload, Message):
        if payload.opcode == OPCODE_CLOSE:
            raise ValueError(_USE_CLOSE)
        return payload
    if isinstance(payload, str):
        return BinaryMessage(payload.encode("utf-8")) if binary else TextMessage(payload)
    if isinstance(payload, (bytes, bytearray, memoryview)):
        if binary:
            return BinaryMessage(payload)
        if not (isinstance(payload, (bytes, bytearray)) and payload.isascii()):
            check_text(payload)
        return TextMessage(payload)
    raise ValueError(f"cannot send a {type(payload).__name__}")


def is_fragmented(payload: Any) -> bool:
    """Whether ``send(payload)`` sends ``payload`` as one fragmented message.

    An iterable of chunks (a generator, a list, ...) is; ``str``,
    bytes-like payloads and :class:`Message` are whole messages
    (:func:`outgoing_message`), and a ``dict`` or ``set`` is refused by it
    rather than sent in an arbitrary order.
    """
    # The concrete types first: the common case is decided without the ABC check.
    return not isinstance(
        payload, (str, bytes, bytearray, memoryview, Message, dict, set)
    ) and isinstance(payload, Iterable)


def extension_names(names: Iterable[str] | None, extensions: Iterable[Extension]) -> list[str]:
    """A websocket's classic ``extensions`` once the live ``extensions`` are handed over.

    The classic attribute lists the negotiated extensions as header strings
    (what the API reference and ws4py 0.6.0 give handlers); each live
    extension's string is added unless the server already listed it.
    """
    out = list(names or [])
    out += [text for text in map(str, extensions) if text not in out]
    return out


class TextChunks:
    """The pieces of one fragmented message, as bytes, checked when it is text.

    ``send(generator)`` frames each chunk as it comes; a text message's
    UTF-8 may be split anywhere between chunks, so the check is incremental
    and the last chunk must end a character.
    """

    def __init__(self, text: bool) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")() if text else None

    def convert(self, chunk: Any, last: bool = False) -> bytes:
        """``chunk`` as bytes (``str`` is UTF-8 encoded); ValueError for invalid text."""
        if isinstance(chunk, str):
            data = chunk.encode("utf-8")
        elif isinstance(chunk, (bytes, bytearray, memoryview)):
            data = bytes(chunk)
        else:
            raise ValueError(f"cannot send a fragment of type {type(chunk).__name__}")
        if self._decoder is not None:
            try:
                self._decoder.decode(data, last)
            except UnicodeDecodeError as exc:
                raise ValueError(_NOT_TEXT) from exc
        return data


class CoreSetting(Generic[_T]):
    """A limit the core enforces, under its classic name on a flavour's websocket class.

    The flavours have always had ``close_timeout``, ``keepalive_interval``
    and ``keepalive_timeout`` as class attributes (set by subclassing) or
    instance attributes; the rule is the core's (:meth:`Connection.tick`).
    This descriptor keeps the names: reading gives the instance's value or
    the class default, setting also sets it on the websocket's ``core``.
    A subclass that sets a plain value gets a descriptor in its place
    (:meth:`wrap_subclass`), and a flavour copies the values into a core it
    builds or starts driving (:meth:`configure`), so a core replaced by a
    reconnecting client gets them too.
    """

    NAMES = ("close_timeout", "keepalive_interval", "keepalive_timeout")

    def __init__(self, default: _T, name: str = "") -> None:
        self.default = default
        self.name = name

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: object, owner: type | None = None) -> _T:
        if obj is None:
            return self.default
        value: _T = obj.__dict__.get(self.name, self.default)
        return value

    def __set__(self, obj: object, value: _T) -> None:
        obj.__dict__[self.name] = value
        core = obj.__dict__.get("core")
        if isinstance(core, Connection):
            setattr(core, self.name, value)

    @classmethod
    def wrap_subclass(cls, klass: type) -> None:
        """Turn the plain values a subclass sets for these names into settings."""
        for name in cls.NAMES:
            if name in klass.__dict__:
                value = klass.__dict__[name]
                if not isinstance(value, CoreSetting):
                    setattr(klass, name, CoreSetting(value, name))

    @classmethod
    def configure(cls, websocket: object, core: Connection) -> None:
        """Give ``core`` the websocket's values of these settings."""
        for name in cls.NAMES:
            setattr(core, name, getattr(websocket, name))


class State(enum.IntEnum):
    """Where the connection stands; the allowed moves are :data:`TRANSITIONS`."""

    CONNECTING = 0  #: the opening handshake is under way (nothing may be sent yet)
    OPEN = 1  #: messages flow both ways
    CLOSING = 2  #: one close went one way (ours sent, or the peer's taken and not answered yet)
    CLOSED = 3  #: both closes exchanged, the connection failed or timed out, or TCP is gone


#: Every state change the core may make; anything else is a bug (:meth:`Connection._become`).
TRANSITIONS: dict[State, frozenset[State]] = {
    State.CONNECTING: frozenset({State.OPEN, State.CLOSED}),
    State.OPEN: frozenset({State.CLOSING, State.CLOSED}),
    State.CLOSING: frozenset({State.CLOSED}),
    State.CLOSED: frozenset(),
}

#: The reason of the close queued when a keepalive ping is not answered in time.
KEEPALIVE_TIMEOUT_REASON = "keepalive ping timeout"

# The states as module constants: an enum member looked up on its class costs
# ~80 ns on CPython 3.11, and these are read on every send and receive.
_CONNECTING, _OPEN, _CLOSING, _CLOSED = State.CONNECTING, State.OPEN, State.CLOSING, State.CLOSED


class Connection:
    """One websocket connection's protocol state, client or server side.

    ``connecting=True`` starts in :attr:`State.CONNECTING` (:meth:`open`
    ends it); the flavours build the core once the handshake is done, OPEN.
    ``keepalive_interval``, ``keepalive_timeout`` and ``close_timeout`` are
    the deadlines described in the module's docstring (None: none).
    """

    keepalive_interval: float | None
    keepalive_timeout: float | None
    close_timeout: float | None
    #: True once the close timeout passed (our close sent, nothing came back in
    #: time): the connection is CLOSED and the I/O layer drops TCP.
    timed_out: bool
    closing_parsed: bool
    _last_seen: float | None  # when bytes last arrived (or the clock started)
    _ping_at: float | None  # when our keepalive ping went out, until a pong
    _close_deadline: float | None
    _close_unanchored: bool  # our close went out without a time: the next tick() anchors it
    _pings: int
    # What is queued for the peer, and the events parsed (the first ``_taken``
    # of them handed over): empty tuples until used.
    _out: list[bytes] | tuple[()]
    _events: list[Message] | tuple[()]
    _taken: int

    def __init__(
        self,
        client: bool = False,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        extensions: Iterable[Extension] | None = None,
        stream: Stream | None = None,
        *,
        connecting: bool = False,
        keepalive_interval: float | None = None,
        keepalive_timeout: float | None = None,
        close_timeout: float | None = None,
    ) -> None:
        self.client = client
        self.extensions: list[Extension] = list(extensions or [])
        self.stream = stream or Stream(
            always_mask=client,
            expect_masking=not client,
            max_message_size=max_message_size,
            extensions=self.extensions,
        )
        self.state = _CONNECTING if connecting else _OPEN
        #: The close message we sent (or queued), if any.
        self.close_sent: CloseControlMessage | None = None
        #: The peer's close message, once the application took it, if any.
        self.close_received: CloseControlMessage | None = None
        #: The error that failed the connection locally (a protocol violation).
        self.failure: CloseControlMessage | None = None
        # Every attribute set here, in one order: instances share their keys
        # (smaller, and attribute access stays on the fast path).
        self.keepalive_interval = keepalive_interval
        self.keepalive_timeout = keepalive_timeout
        self.close_timeout = close_timeout
        self.timed_out = False
        #: A close, a protocol error or a close only the stream shows was
        #: parsed: from now on, taking an event may queue our close (see
        #: :attr:`close_is_next`).  Until then a flavour need not ask, per event.
        self.closing_parsed = False
        self._out = ()
        self._events = ()
        self._taken = 0
        self._last_seen = None
        self._ping_at = None
        self._close_deadline = None
        self._close_unanchored = False
        self._pings = 0

    def use_extensions(self, extensions: Iterable[Extension]) -> None:
        """Take negotiated extensions handed over after construction.

        Servers build the classic handler with header strings in its
        ``extensions`` argument and give it the live objects afterwards,
        before any frame is read or written: the stream is rebuilt with
        them (keeping its masking and size settings) so that the RSV bits
        they claim are accepted.
        """
        added = [ext for ext in extensions if ext not in self.extensions]
        if not added:
            return
        self.extensions.extend(added)
        old = self.stream
        self.stream = type(old)(
            always_mask=old.always_mask,
            expect_masking=old.expect_masking,
            max_message_size=old.max_message_size,
            extensions=self.extensions,
        )

    # -- state ---------------------------------------------------------------

    def _become(self, state: State) -> None:
        """The one place the state changes; a move :data:`TRANSITIONS` lacks is a bug."""
        if state not in TRANSITIONS[self.state]:
            raise RuntimeError(f"connection state {self.state.name} -> {state.name} is not allowed")
        self.state = state

    def open(self, now: float | None = None) -> None:
        """The opening handshake succeeded: CONNECTING -> OPEN (the keepalive clock starts)."""
        self._become(_OPEN)
        if now is not None:
            self._last_seen = now

    def connection_lost(self) -> None:
        """The transport is gone (EOF, reset or our own close of the socket); again: nothing."""
        if self.state is not _CLOSED:
            self._become(_CLOSED)

    # -- receiving -----------------------------------------------------------

    def receive_data(self, data: BytesLike, now: float | None = None) -> bool:
        """Parse received bytes; queue their events and, at once, the pongs they call for.

        ``now`` (the caller's monotonic clock) records that the peer is
        alive, for the keepalive.  A pong clears our keepalive ping; a close
        ends the close timeout's wait (its echo is queued when the
        application takes it, see the module's docstring).  Nothing once the
        connection is closed: late bytes are not the peer's to say.
        True when :meth:`data_to_send` has bytes (the pongs, say) for the caller to write.
        """
        if now is not None:
            self._last_seen = now
        if self.state is _CLOSED:
            return bool(self._out)
        stream = self.stream
        events = stream.feed(data)
        if stream.errors or stream.closing is not None:
            self.closing_parsed = True
        if not events:
            return bool(self._out)
        if type(events) is not list:  # a stream the application put in (a mock, say)
            events = list(events)
        for event in events:
            opcode = event.opcode
            if opcode & CONTROL_BIT:
                if opcode == OPCODE_PING:
                    if self.close_sent is None:
                        self._queue(self.stream.pong(event.data))
                elif opcode == OPCODE_PONG:
                    self._ping_at = None
                else:  # the peer's close: it answered in time
                    self._close_deadline = None
                    self._close_unanchored = False
                    self.closing_parsed = True
        pending = self._events
        if self._taken < len(pending):
            assert isinstance(pending, list)
            pending += events
        else:
            self._events = events  # the common case: no copy
            self._taken = 0
        return bool(self._out)

    @property
    def events_pending(self) -> int:
        """Events parsed and not taken yet (a flavour pauses reading above a bound)."""
        return len(self._events) - self._taken

    @property
    def close_is_next(self) -> bool:
        """Whether taking the next event may queue our close or change the state.

        True when the next event is the peer's close, or when none is left
        and :meth:`next_event` would hand over a close only the stream shows
        or queue a protocol error's failing close.  A flavour whose other
        threads may call :meth:`send_close` takes such an event under the
        lock they hold (one close frame is ever sent), and only such an
        event: a reader never waits for another thread's long write.
        """
        events = self._events
        taken = self._taken
        if taken < len(events):
            return events[taken].opcode == OPCODE_CLOSE
        if self.close_received is not None:
            return False
        stream = self.stream
        return stream.closing is not None or (bool(stream.errors) and self.failure is None)

    def next_event(self) -> Message | None:
        """The next event for the application (None: none yet), queuing what taking it implies.

        Taking the peer's close queues its echo (unless our close went out
        first) and closes the connection.  When no event is left, a close
        the stream shows that no event carried (its classic ``parser`` fed
        by the application, or a stream the application put in) is handed
        over last, *unanswered*: the state is CLOSING and the application
        answers it (the classic ``close(code, reason)``).  Then, after a
        protocol error, the failing close is queued (7.1.7) and None returned.
        """
        events = self._events
        taken = self._taken
        if taken < len(events):
            event = events[taken]
            self._taken = taken + 1
            if event.opcode == OPCODE_CLOSE:
                assert isinstance(event, CloseControlMessage)
                self._take_close(event)
            return event
        if events:
            self._events = ()
            self._taken = 0
        stream = self.stream
        if self.close_received is None:
            closing = stream.closing
            if closing is not None and isinstance(closing, CloseControlMessage):
                self._take_close(closing, answer=False)
                return closing
            errors = stream.errors
            if errors and self.failure is None and isinstance(errors[0], CloseControlMessage):
                self._fail(errors[0])
        return None

    def events_received(self) -> Iterator[Message]:
        """The events for the application, in order, one at a time (see :meth:`next_event`).

        An iterator, so that what taking an event queues (the close echo,
        the failing close) comes after the application handled the events
        before it.  Events parsed while it runs are handed over too.
        """
        next_event = self.next_event
        event = next_event()
        while event is not None:
            yield event
            event = next_event()

    def _take_close(self, close: CloseControlMessage, answer: bool = True) -> None:
        self.close_received = close
        self._close_deadline = None
        self._close_unanchored = False
        if self.state is _CLOSED:
            return  # TCP is gone (or the connection failed): nothing to answer
        if self.close_sent is None:
            if not answer:
                self._become(_CLOSING)
                return
            # Echo the status code and reason (5.5.1; as ws4py 0.6.0 does); an
            # empty close (1005) gets an empty close, 1005 never goes on the wire.
            self.close_sent = CloseControlMessage(close.code, close.reason)
            self._queue(self.close_sent.single(mask=self.stream.always_mask))
        self._become(_CLOSED)

    def _fail(self, error: CloseControlMessage) -> None:
        """Fail the connection for a protocol error: its close, unless ours went out (7.1.7)."""
        self.failure = error
        if self.state is _CLOSED:
            return
        if self.close_sent is None:
            self.close_sent = CloseControlMessage(error.code, error.reason)
            self._queue(self.close_sent.single(mask=self.stream.always_mask))
        self._close_deadline = None
        self._close_unanchored = False
        self._become(_CLOSED)

    def _queue(self, frame: bytes) -> None:
        out = self._out
        if out:
            assert isinstance(out, list)
            out.append(frame)
        else:
            self._out = [frame]

    def data_to_send(self) -> bytes:
        """The bytes queued for the peer (pongs, keepalive pings, closes), in order; cleared."""
        out = self._out
        if not out:
            return b""
        self._out = ()
        return out[0] if len(out) == 1 else b"".join(out)

    # -- deadlines -----------------------------------------------------------

    def tick(self, now: float) -> None:
        """Enforce the deadlines at ``now`` (see the module's docstring); queue what they send.

        The first call starts the keepalive clock, if no bytes arrived yet:
        flavours tick once when they start driving the connection.
        """
        if self._last_seen is None:
            self._last_seen = now
        state = self.state
        if state is _OPEN:
            interval = self.keepalive_interval
            if interval:
                ping_at = self._ping_at
                if ping_at is not None:
                    if now >= ping_at + (self.keepalive_timeout or interval):
                        self._ping_at = None
                        reason = KEEPALIVE_TIMEOUT_REASON
                        self.send_close(CloseCode.INTERNAL_ERROR, reason, now, queue=True)
                        state = self.state
                elif now >= self._last_seen + interval:
                    self._ping_at = now
                    self._pings += 1
                    payload = self._pings.to_bytes(4, "big")
                    self._queue(self.stream.ping(payload))
        if state is not _CLOSING:
            return
        if self._close_unanchored:
            self._close_unanchored = False
            if self.close_timeout is not None:
                self._close_deadline = now + self.close_timeout
        deadline = self._close_deadline
        if deadline is not None and now >= deadline:
            self._close_deadline = None
            self.timed_out = True
            self._become(_CLOSED)

    def next_deadline(self) -> float | None:
        """When :meth:`tick` next has something to do, on the caller's clock (None: never).

        A time in the past means now.  None also before the keepalive clock
        started (the first :meth:`tick` or :meth:`receive_data` with ``now``).
        """
        close = self._close_deadline
        interval = self.keepalive_interval
        if close is None and not interval and not self._close_unanchored:
            return None  # the common case, cheaply (a manager asks every connection)
        if self._close_unanchored:
            return float("-inf")
        if interval and self.state is _OPEN:
            ping_at = self._ping_at
            if ping_at is not None:
                keepalive: float | None = ping_at + (self.keepalive_timeout or interval)
            elif self._last_seen is not None:
                keepalive = self._last_seen + interval
            else:
                keepalive = None
            if keepalive is not None and (close is None or keepalive < close):
                return keepalive
        return close

    # -- sending -------------------------------------------------------------

    def check_open(self) -> None:
        """Raise :class:`ConnectionClosedError` unless messages may be sent (OPEN, no close)."""
        if self.state is not _OPEN:
            if self.state is _CONNECTING:
                raise ConnectionClosedError("the websocket is not open yet")
            raise ConnectionClosedError("the websocket is closing or closed")

    def send_message(self, message: Message) -> bytes:
        """The frame(s) of a whole message; compressed when an extension wants it.

        A close message is refused (:class:`ValueError`): a close sent as a
        mere message would leave the state OPEN and let more messages follow
        it (RFC 6455 5.5.1); :meth:`send_close` is the only way to send one.
        """
        opcode = message.opcode
        if opcode == OPCODE_CLOSE:
            raise ValueError(_USE_CLOSE)
        self.check_open()
        data = message.data
        rsv = message.rsv
        if self.extensions and not opcode & CONTROL_BIT:
            for ext in self.extensions:
                bits, data = ext.encode_message(opcode, bytes(data))
                rsv |= bits
        return build_frame(opcode, data, True, rsv, self.stream.always_mask)

    def send_fragment(self, opcode: int, data: BytesLike, first: bool, last: bool) -> bytes:
        """One frame of a message sent in pieces (never compressed)."""
        self.check_open()
        opcode = opcode if first else OPCODE_CONTINUATION
        return build_frame(opcode, data, last, 0, self.stream.always_mask)

    def send_fragments(self, chunks: Iterable[Any], binary: bool = False) -> Iterator[bytes]:
        """The frames of one message sent in pieces, text unless ``binary``.

        Frames come one at a time, as the chunks do, so a generator's message
        can be written while it is produced; a chunk is converted and checked
        (:class:`TextChunks`) before the frame of the one before it is
        yielded, and the last frame is the one with FIN set (an empty one
        when there is no chunk).  A :class:`ValueError` raised once frames
        were written leaves the peer inside a message: the caller fails the
        connection then.
        """
        opcode = OPCODE_BINARY if binary else OPCODE_TEXT
        pieces = TextChunks(not binary)
        first = True
        previous: bytes | None = None
        for chunk in chunks:
            data = pieces.convert(chunk)
            if previous is not None:
                yield self.send_fragment(opcode, previous, first, False)
                first = False
            previous = data
        pieces.convert(b"", last=True)  # the text must not end mid-character
        yield self.send_fragment(opcode, previous or b"", first, True)

    def send_ping(self, data: BytesLike = b"") -> bytes:
        """A ping frame; built by the stream (:meth:`Stream.ping`), as every ping and pong."""
        self.check_open()
        return self.stream.ping(data)

    def send_pong(self, data: BytesLike = b"") -> bytes:
        """A pong frame (unsolicited: a heartbeat); built by :meth:`Stream.pong`."""
        self.check_open()
        return self.stream.pong(data)

    def send_close(
        self,
        code: int = CloseCode.NORMAL,
        reason: str | bytes = "",
        now: float | None = None,
        queue: bool = False,
    ) -> bytes:
        """Start the closing handshake (or answer a close taken unanswered); later: nothing.

        ``code`` must be one allowed on the wire (7.4), or 1005 for a close
        without a status code.  ``now`` starts the close timeout (without
        it, the next :meth:`tick` does).  The frame is returned, or with
        ``queue`` appended to :meth:`data_to_send` (after what is queued).
        """
        if self.close_sent is not None or self.state is _CLOSED:
            return b""
        if self.state is _CONNECTING:
            self._become(_CLOSED)
            return b""
        if code != CloseCode.NO_STATUS and not close_code_allowed(code):
            raise ValueError(f"close code {code} may not be sent on the wire")
        self.close_sent = CloseControlMessage(code, reason)
        if self.close_received is not None:  # answering a close taken unanswered
            self._become(_CLOSED)
        else:
            self._become(_CLOSING)
            if now is None:
                self._close_unanchored = True
            elif self.close_timeout is not None:
                self._close_deadline = now + self.close_timeout
        frame = self.close_sent.single(mask=self.stream.always_mask)
        if queue:
            self._queue(frame)
            return b""
        return frame

    # -- outcome ---------------------------------------------------------------

    def _peer_close(self) -> CloseControlMessage | None:
        """The peer's close: taken, or only parsed (the stream shows it; TCP went first)."""
        received = self.close_received
        if received is None:
            closing = getattr(self.stream, "closing", None)
            if isinstance(closing, CloseControlMessage):
                return closing
        return received

    @property
    def close_code(self) -> int:
        """The code to report to the application: the peer's, our failure's, or 1006."""
        received = self._peer_close()
        if received is not None:
            return received.code
        if self.failure is not None:
            return self.failure.code
        return CloseCode.ABNORMAL

    @property
    def close_reason(self) -> str:
        received = self._peer_close()
        if received is not None:
            return _as_str(received.reason)
        if self.failure is not None:
            return _as_str(self.failure.reason)
        return ""

    def closed_args(self) -> tuple[int, bytes | str]:
        """What the classic ``closed(code, reason)`` handler is given.

        The peer's close code and reason (as ``bytes``, like ws4py 0.6.0's
        close messages), or, when no close frame arrived (TCP lost, our
        close unanswered, a protocol error we failed the connection for),
        ``(1006, "Going away")``, as the reference's ``terminate()`` says.
        """
        received = self._peer_close()
        if received is None:
            return CloseCode.ABNORMAL, ABNORMAL_CLOSE_REASON
        reason: Any = received.reason
        return received.code, reason.encode("utf-8") if isinstance(reason, str) else reason


def _as_str(reason: str | bytes) -> str:
    return reason if isinstance(reason, str) else reason.decode("utf-8", "replace")
