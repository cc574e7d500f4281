"""The connection's state machine after the opening handshake (RFC 6455 sections 5.5, 7).

Sans-I/O like the rest of the core: it turns received bytes into events and
tells the I/O layer what to write in reply, but never touches a socket or a
clock.  Each rule lives here once: a ping is answered with a pong until our
close is sent (5.5.2); a close is echoed unless we sent one (5.5.1); a
protocol error fails the connection with the stream's close code (7.1.7);
nothing but a close... nothing at all may be sent after our close (5.5.1).

I/O layers feed :meth:`Connection.receive_data`, hand every event to
:meth:`Connection.reply_to` *in order* and write what it returns between
their handler calls, so an echo of a message always precedes the echo of a
close that followed it.  Then :meth:`Connection.fail_reply` gives the close
frame for a protocol error, if one stopped the stream.
"""

from __future__ import annotations

import codecs
import enum
from collections.abc import Iterable, Iterator
from typing import Any

from ws4py.exc import ConnectionClosedError
from ws4py.extensions import Extension
from ws4py.framing import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_PING,
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
    "Connection",
    "State",
    "TextChunks",
    "check_text",
    "extension_names",
    "is_fragmented",
    "outgoing_message",
]

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


class State(enum.IntEnum):
    """Where the closing handshake stands."""

    OPEN = 1  #: messages flow both ways
    CLOSING = 2  #: our close is sent; waiting for the peer's
    CLOSED = 3  #: both closes exchanged, the connection failed, or TCP is gone


class Connection:
    """One websocket connection's protocol state, client or server side."""

    def __init__(
        self,
        client: bool = False,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        extensions: Iterable[Extension] | None = None,
        stream: Stream | None = None,
    ) -> None:
        self.client = client
        self.extensions: list[Extension] = list(extensions or [])
        self.stream = stream or Stream(
            always_mask=client,
            expect_masking=not client,
            max_message_size=max_message_size,
            extensions=self.extensions,
        )
        self.state = State.OPEN
        #: The close message we sent, if any.
        self.close_sent: CloseControlMessage | None = None
        #: The close message the peer sent, if any.
        self.close_received: CloseControlMessage | None = None
        #: The error that failed the connection locally (a protocol violation).
        self.failure: CloseControlMessage | None = None

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

    # -- receiving -----------------------------------------------------------

    def receive_data(self, data: BytesLike) -> list[Message]:
        """Parse received bytes into events (messages, pings, pongs, close).

        Nothing once the connection is closed: after the closing handshake, a
        failure or the end of the transport, late bytes are not the peer's to say.
        """
        if self.state is State.CLOSED:
            return []
        return self.stream.feed(data)

    def reply_to(self, event: Message) -> bytes:
        """The bytes to write in answer to ``event`` (often none)."""
        opcode = event.opcode
        if opcode == OPCODE_PING:
            if self.close_sent is None:
                return build_frame(0xA, event.data, True, 0, self.stream.always_mask)
            return b""
        if opcode == OPCODE_CLOSE:
            assert isinstance(event, CloseControlMessage)
            self.close_received = event
            self.state = State.CLOSED
            if self.close_sent is None:
                # Echo the status code and reason (5.5.1; as ws4py 0.6.0 does); an
                # empty close (1005) gets an empty close, 1005 never goes on the wire.
                self.close_sent = CloseControlMessage(event.code, event.reason)
                return self.close_sent.single(mask=self.stream.always_mask)
        return b""

    def take_stream_close(self) -> CloseControlMessage | None:
        """Record, and return, a close the stream shows that no event handed over.

        :meth:`receive_data` hands the peer's close over as an event, for
        :meth:`reply_to`.  A stream fed through its classic parser, or
        replaced by the application (as ws4py 0.6.0's unit tests do), only
        shows it on ``stream.closing``: it is received all the same.
        """
        closing = self.stream.closing
        if self.close_received is not None or not isinstance(closing, CloseControlMessage):
            return None
        self.close_received = closing
        self.state = State.CLOSED
        return closing

    def fail_reply(self) -> bytes:
        """After a protocol error: the close frame failing the connection (7.1.7).

        Nothing once the peer's close arrived: parsing ends with it, so no
        error can follow it.
        """
        if self.failure is not None or self.close_received is not None or not self.stream.errors:
            return b""
        self.failure = self.stream.errors[0]
        self.state = State.CLOSED
        if self.close_sent is not None:
            return b""
        self.close_sent = CloseControlMessage(self.failure.code, self.failure.reason)
        return self.close_sent.single(mask=self.stream.always_mask)

    def connection_lost(self) -> None:
        """The transport is gone (EOF, reset or our own close of the socket)."""
        self.state = State.CLOSED

    # -- sending -------------------------------------------------------------

    def check_open(self) -> None:
        """Raise :class:`ConnectionClosedError` once our close is sent."""
        if self.close_sent is not None or self.state is State.CLOSED:
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
        if self.extensions and not opcode & 0x8:
            for ext in self.extensions:
                bits, data = ext.encode_message(opcode, bytes(data))
                rsv |= bits
        return build_frame(opcode, data, True, rsv, self.stream.always_mask)

    def send_fragment(self, opcode: int, data: BytesLike, first: bool, last: bool) -> bytes:
        """One frame of a message sent in pieces (never compressed)."""
        self.check_open()
        return build_frame(opcode if first else 0, data, last, 0, self.stream.always_mask)

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
        self.check_open()
        return build_frame(0x9, data, True, 0, self.stream.always_mask)

    def send_pong(self, data: BytesLike = b"") -> bytes:
        self.check_open()
        return build_frame(0xA, data, True, 0, self.stream.always_mask)

    def send_close(self, code: int = CloseCode.NORMAL, reason: str | bytes = "") -> bytes:
        """Start the closing handshake; the second call and later return nothing.

        ``code`` must be one allowed on the wire (7.4), or 1005 for a close
        without a status code.
        """
        if self.close_sent is not None or (
            self.state is State.CLOSED and self.close_received is None
        ):
            return b""
        if code != CloseCode.NO_STATUS and not close_code_allowed(code):
            raise ValueError(f"close code {code} may not be sent on the wire")
        self.close_sent = CloseControlMessage(code, reason)
        self.state = State.CLOSED if self.close_received is not None else State.CLOSING
        return self.close_sent.single(mask=self.stream.always_mask)

    # -- outcome ---------------------------------------------------------------

    @property
    def close_code(self) -> int:
        """The code to report to the application: the peer's, our failure's, or 1006."""
        if self.close_received is not None:
            return self.close_received.code
        if self.failure is not None:
            return self.failure.code
        return CloseCode.ABNORMAL

    @property
    def close_reason(self) -> str:
        if self.close_received is not None:
            return _as_str(self.close_received.reason)
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
        received = self.close_received
        if received is None:
            return CloseCode.ABNORMAL, ABNORMAL_CLOSE_REASON
        reason: Any = received.reason
        return received.code, reason.encode("utf-8") if isinstance(reason, str) else reason


def _as_str(reason: str | bytes) -> str:
    return reason if isinstance(reason, str) else reason.decode("utf-8", "replace")
