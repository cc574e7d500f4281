"""The websocket byte stream: frames in, messages out (RFC 6455 sections 5 and 6).

:class:`Stream` has one parser and two ways to feed it:

* :meth:`Stream.feed` (the bulk path, for I/O layers): hand it whatever the
  socket returned, any size, and get back every complete message, ping,
  pong and close, in order.  A protocol error stops parsing and lands on
  :attr:`Stream.errors` as a :class:`CloseControlMessage` with the RFC's code.
* :attr:`Stream.parser` (the classic contract): a generator fed with
  ``.send(bytes)`` that yields how many bytes it needs next, and exposes
  results through ``message``/``pings``/``pongs``/``closing``/``errors``.

Headers are parsed with ``struct`` straight from the received buffer;
payloads are unmasked whole (or chunk by chunk for frames split across
reads) and text is checked with the C UTF-8 codec frame by frame, and even
inside a frame still arriving, so invalid text fails fast.
"""

from __future__ import annotations

from codecs import getincrementaldecoder, utf_8_decode
from collections import deque
from collections.abc import Generator, Iterable
from typing import Any

from ws4py.exc import (
    FrameTooLargeException,
    InvalidCloseCodeException,
    ProtocolException,
    TextFrameEncodingException,
    WebSocketException,
)
from ws4py.extensions import Extension
from ws4py.framing import (
    CONTROL_BIT,
    OPCODE_CLOSE,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
    UNPACK_16,
    UNPACK_64,
    CloseCode,
    build_frame,
    check_header,
)
from ws4py.masking import mask
from ws4py.messaging import (
    VALID_CLOSING_CODES,
    BinaryMessage,
    CloseControlMessage,
    Message,
    PingControlMessage,
    PongControlMessage,
    TextMessage,
    parse_close_payload,
    received_message,
)
from ws4py.utf8validator import UTF8_REJECT, dfa_state

__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "VALID_CLOSING_CODES", "Stream"]

#: Largest message accepted by default: 16 MiB.  Larger ones fail the
#: connection with 1009 as soon as a frame header announces them.
DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024

_Utf8Decoder = getincrementaldecoder("utf-8")


class _PartialFrame:
    """A frame whose header is parsed and whose payload is still arriving."""

    __slots__ = (
        "fin", "key", "offset", "opcode", "parts", "remaining", "rsv", "validate", "whole",
    )  # fmt: skip

    def __init__(
        self, opcode: int, fin: int, rsv: int, key: bytes | None, length: int, validate: bool
    ) -> None:
        self.opcode = opcode
        self.fin = fin
        self.rsv = rsv
        self.key = key
        self.remaining = length
        self.offset = 0
        self.parts: list[bytes] = []
        self.validate = validate
        #: A whole message in this one frame (FIN, no RSV, nothing in progress).
        self.whole = False


class Stream:
    """A websocket stream of bytes flowing in and out, agnostic of the data provider.

    ``always_mask`` masks every frame this stream builds (a client's stream);
    ``expect_masking`` requires every parsed frame to be masked (a server's
    stream) or, when False, to be unmasked (a client's stream).
    ``max_message_size`` bounds a message's payload (None: no limit).
    ``extensions`` are the negotiated :class:`ws4py.extensions.Extension`
    objects; the RSV bits they claim are the only ones accepted.
    """

    def __init__(
        self,
        always_mask: bool = False,
        expect_masking: bool = True,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        extensions: Iterable[Extension] | None = None,
    ) -> None:
        self.always_mask = always_mask
        self.expect_masking = expect_masking
        self.max_message_size = max_message_size
        # Shared with the Connection that built this stream (one list, not two).
        self.extensions: list[Extension] = (
            extensions if type(extensions) is list else list(extensions or [])
        )
        self._rsv_allowed = 0
        for ext in self.extensions:
            self._rsv_allowed |= ext.rsv_mask

        # The classic parser path's queues, created on first use: the bulk
        # path (feed) never needs them, and an idle connection should not pay
        # for them (an empty deque alone is ~650 bytes).
        self._messages: deque[Message] | None = None
        self._pings: list[PingControlMessage] | None = None
        self._pongs: list[PongControlMessage] | None = None
        #: The close message received, if any.
        self.closing: CloseControlMessage | None = None
        #: Errors detected while parsing, as close messages with the RFC's code.
        self.errors: list[CloseControlMessage] = []

        self._buf = bytearray()
        self._frame: _PartialFrame | None = None
        self._msg: Message | None = None
        self._msg_size = 0
        self._decoder: Any = None
        self._need = 2
        self._stopped = False
        self._parser: Generator[int, bytes, None] | None = None

    # -- classic attributes ------------------------------------------------

    @property
    def messages(self) -> deque[Message]:
        """Completed data messages not yet taken through :attr:`message`."""
        if self._messages is None:
            self._messages = deque()
        return self._messages

    @property
    def pings(self) -> list[PingControlMessage]:
        """Parsed ping control messages (classic parser path)."""
        if self._pings is None:
            self._pings = []
        return self._pings

    @pings.setter
    def pings(self, value: list[PingControlMessage]) -> None:
        self._pings = value

    @property
    def pongs(self) -> list[PongControlMessage]:
        """Parsed pong control messages (classic parser path)."""
        if self._pongs is None:
            self._pongs = []
        return self._pongs

    @pongs.setter
    def pongs(self, value: list[PongControlMessage]) -> None:
        self._pongs = value

    @property
    def message(self) -> Message | None:
        """The oldest completed message not yet taken, else the one being assembled.

        Setting it to None takes the completed message (classic consumers do
        ``stream.message = None`` once they handled it).
        """
        if self._messages:
            return self._messages[0]
        return self._msg

    @message.setter
    def message(self, value: Message | None) -> None:
        if value is None:
            if self.messages:
                self.messages.popleft()
        else:
            self.messages.appendleft(value)

    @property
    def has_message(self) -> bool:
        """Whether a completed message is waiting in :attr:`message`."""
        return bool(self._messages)

    has_messages = has_message

    @property
    def parser(self) -> Generator[int, bytes, None]:
        if self._parser is None:
            self._parser = self.receiver()
            next(self._parser)
        return self._parser

    def receiver(self) -> Generator[int, bytes, None]:
        """The classic parser: send it bytes, it yields how many it needs next.

        It asks for what ws4py 0.6.0's asked for (:meth:`_classic_need`).  Fed
        at most that, it completes at most one frame per send, as 0.6.0 did;
        fed more, nothing is lost: completed messages queue up behind
        :attr:`message`.  A malformed close frame (one-byte body, a code not
        allowed on the wire) is reported as 0.6.0 did, as :attr:`closing` with
        code 1005 and the reason, not in :attr:`errors`; :meth:`feed`, which
        the I/O layers use, fails the connection with 1002 instead (RFC 6455
        section 7.1.7).
        """
        while True:
            data = yield self._classic_need()
            if not data or self._stopped:
                continue
            events: list[Message] = []
            try:
                self._parse(data, events)
            except InvalidCloseCodeException as exc:
                self._stop()
                self.closing = CloseControlMessage(CloseCode.NO_STATUS, str(exc))
            except WebSocketException as exc:
                self._fail(exc)
            for event in events:
                if isinstance(event, PingControlMessage):
                    self.pings.append(event)
                elif isinstance(event, PongControlMessage):
                    self.pongs.append(event)
                elif not isinstance(event, CloseControlMessage):
                    self.messages.append(event)  # the close is in ``closing``

    def _classic_need(self) -> int:
        """How many bytes 0.6.0's parser asked for at this point of a frame.

        One for each of the two first header bytes (and once parsing ended),
        then the rest of the 16- or 64-bit length, of the masking key, and of
        the payload.
        """
        if self._frame is not None:
            return self._frame.remaining
        buf = self._buf
        have = len(buf)
        if have < 2 or self._stopped:
            return 1
        length = buf[1] & 0x7F
        hlen = 4 if length == 126 else 10 if length == 127 else 2
        if have < hlen:
            return hlen - have
        return hlen + (4 if buf[1] & 0x80 else 0) - have

    # -- the parser --------------------------------------------------------

    @property
    def stopped(self) -> bool:
        """True once a close frame or a protocol error ended parsing."""
        return self._stopped

    def feed(self, data: bytes | bytearray | memoryview) -> list[Message]:
        """Parse ``data``; return the completed messages and control messages, in order.

        Text and binary messages are returned only when complete.  A close
        frame ends parsing (nothing may follow it, section 5.5.1), as does a
        protocol error, which is appended to :attr:`errors`.
        """
        events: list[Message] = []
        if self._stopped or not data:
            return events
        try:
            self._parse(data, events)
        except WebSocketException as exc:
            self._fail(exc)
        return events

    def _stop(self) -> None:
        self._stopped = True
        self._frame = None
        self._buf = bytearray()

    def _fail(self, exc: WebSocketException) -> None:
        """Stop parsing; the error goes to :attr:`errors` with its close code and message."""
        self._stop()
        self.errors.append(CloseControlMessage(exc.code, str(exc)))

    def _parse(self, data: bytes | bytearray | memoryview, events: list[Message]) -> None:
        buf = self._buf
        if self._frame is None and len(data) < self._need:
            # Not enough for the next header yet: keep it, parse nothing.
            buf += data
            self._need -= len(data)
            return
        src: bytes | bytearray | memoryview
        if buf:
            buf += data
            src = buf
        else:
            src = data
        n = len(src)
        pos = 0
        need = 2
        view = memoryview(src)
        expect = 1 if self.expect_masking else 0
        limit = self.max_message_size
        append = events.append
        try:
            while True:
                frame = self._frame
                if frame is not None:
                    take = min(frame.remaining, n - pos)
                    if take:
                        part = (
                            mask(view[pos : pos + take], frame.key, frame.offset)
                            if frame.key
                            else view[pos : pos + take].tobytes()
                        )
                        pos += take
                        frame.offset += take
                        frame.remaining -= take
                        if frame.validate:
                            self._check_text(part, False)
                        frame.parts.append(part)
                    if frame.remaining:
                        need = frame.remaining
                        break
                    self._frame = None
                    payload = frame.parts[0] if len(frame.parts) == 1 else b"".join(frame.parts)
                    if frame.whole:
                        # Checked as it came: no Message to assemble, no
                        # bytearray round trip (two extra copies of the payload).
                        if frame.validate:
                            self._check_text(b"", True)
                            self._decoder = None
                        append(received_message(frame.opcode, payload))
                        continue
                    self._complete(
                        frame.opcode, frame.fin, frame.rsv, payload, frame.validate, events
                    )
                    if self._stopped:
                        break
                    continue

                avail = n - pos
                if avail < 2:
                    need = 2 - avail
                    break
                b0 = src[pos]
                b1 = src[pos + 1]
                length = b1 & 0x7F
                hlen = 6 if b1 & 0x80 else 2
                if length >= 126:
                    hlen += 2 if length == 126 else 8
                if avail < hlen:
                    need = hlen - avail
                    break
                if length == 126:
                    length = UNPACK_16(src, pos + 2)[0]
                elif length == 127:
                    length = UNPACK_64(src, pos + 2)[0]
                start = pos + hlen
                end = start + length
                if (
                    (b0 == 0x81 or b0 == 0x82)
                    and end <= n
                    and b1 >> 7 == expect
                    and self._msg is None
                    and (length <= limit if limit is not None else not length >> 63)
                ):
                    # The common case, a whole single-frame data message with
                    # nothing fragmented in progress: b0 says FIN, no RSV and a
                    # known opcode, so check_header and _start_data_frame have
                    # nothing to refuse.
                    if expect:
                        payload = mask(view[start:end], src[start - 4 : start])
                    else:
                        payload = view[start:end].tobytes()
                    pos = end
                    if b0 == 0x81 and not payload.isascii():
                        try:
                            utf_8_decode(payload, "strict", True)
                        except UnicodeDecodeError:
                            raise TextFrameEncodingException("Invalid UTF-8 bytes") from None
                    append(received_message(b0 & 0x0F, payload))
                    continue
                opcode = b0 & 0x0F
                rsv = b0 & 0x70
                fin = b0 & 0x80
                check_header(
                    fin, rsv, opcode, b1 & 0x80, length, self._rsv_allowed, self.expect_masking
                )
                start = pos + hlen
                end = start + length
                key = bytes(view[start - 4 : start]) if b1 & 0x80 else None

                if not opcode & CONTROL_BIT:
                    self._start_data_frame(opcode, fin, rsv, length)
                    if fin and opcode and end <= n and not rsv:
                        # The common case: a whole single-frame message.
                        payload = mask(view[start:end], key) if key else view[start:end].tobytes()
                        pos = end
                        events.append(self._single(opcode, payload))
                        continue

                if end <= n:
                    payload = mask(view[start:end], key) if key else view[start:end].tobytes()
                    pos = end
                    self._complete(opcode, fin, rsv, payload, False, events)
                    if self._stopped:
                        break
                    continue

                # The frame is split across reads: take its payload as it comes,
                # checking text as it arrives (fail fast inside a frame too).
                if fin and opcode and not rsv and not opcode & CONTROL_BIT:
                    frame = _PartialFrame(opcode, fin, rsv, key, length, opcode == OPCODE_TEXT)
                    frame.whole = True
                    self._decoder = _Utf8Decoder() if opcode == OPCODE_TEXT else None
                    self._frame = frame
                    pos = start
                    continue
                msg = self._msg
                validate = (
                    not opcode & CONTROL_BIT
                    and msg is not None
                    and not msg.rsv
                    and self._decoder is not None
                )
                self._frame = _PartialFrame(opcode, fin, rsv, key, length, validate)
                pos = start
        finally:
            view.release()
        self._need = need
        if self._stopped:
            return
        if src is buf:
            del buf[:pos]
        elif pos < n:
            buf += src[pos:]

    def _start_data_frame(self, opcode: int, fin: int, rsv: int, length: int) -> None:
        """Rules checked on a data frame's header, before its payload is buffered."""
        if opcode == 0:
            if self._msg is None:
                raise ProtocolException("Message not started yet")
            if rsv and not self._msg.rsv:
                # Extensions only see messages whose first frame has RSV bits:
                # bits on a later frame would otherwise pass unread.
                raise ProtocolException(
                    "RSV bits on a continuation frame of a message whose first frame had none"
                )
        elif self._msg is not None:
            raise ProtocolException("Received a new message before completing previous")
        limit = self.max_message_size
        if limit is not None and self._msg_size + length > limit:
            raise FrameTooLargeException(f"message larger than {limit} bytes")
        if opcode and not fin:
            self._begin_message(opcode, rsv)

    def _begin_message(self, opcode: int, rsv: int) -> None:
        """Start assembling a message that arrives in pieces."""
        msg: Message = TextMessage() if opcode == OPCODE_TEXT else BinaryMessage()
        msg.rsv = rsv
        self._msg = msg
        self._msg_size = 0
        self._decoder = _Utf8Decoder() if opcode == OPCODE_TEXT else None

    def _single(self, opcode: int, payload: bytes) -> Message:
        if opcode == OPCODE_TEXT:
            if not payload.isascii():
                try:
                    utf_8_decode(payload, "strict", True)
                except UnicodeDecodeError:
                    raise TextFrameEncodingException("Invalid UTF-8 bytes") from None
            msg: Message = TextMessage(payload)
        else:
            msg = BinaryMessage(payload)
        msg.completed = True
        return msg

    def _check_text(self, data: bytes, final: bool) -> None:
        decoder = self._decoder
        if data.isascii() and not decoder.getstate()[0]:
            return  # ASCII with nothing pending: valid, and nothing left pending
        try:
            decoder.decode(data, final)
        except UnicodeDecodeError:
            raise TextFrameEncodingException("Invalid UTF-8 bytes") from None
        if not final:
            # The codec keeps a few invalid prefixes pending until more bytes
            # come (ED A0..ED BF, the start of an encoded surrogate); the DFA
            # rejects them at once, and fail-fast must too.
            pending = decoder.getstate()[0]
            if pending and dfa_state(pending) == UTF8_REJECT:
                raise TextFrameEncodingException("Invalid UTF-8 bytes")

    def _complete(
        self,
        opcode: int,
        fin: int,
        rsv: int,
        payload: bytes,
        validated: bool,
        events: list[Message],
    ) -> None:
        """Dispatch a whole frame; ``validated`` says its text was already checked."""
        if opcode & CONTROL_BIT:
            if opcode == OPCODE_CLOSE:
                code, reason = parse_close_payload(payload)
                close = CloseControlMessage(code, reason)
                self.closing = close
                self._stopped = True
                events.append(close)
            elif opcode == OPCODE_PING:
                events.append(PingControlMessage(payload))
            else:
                events.append(PongControlMessage(payload))
            return
        msg = self._msg
        if msg is None:
            # A single-frame message: checked whole unless an extension
            # transforms it (frames without RSV bits pass extensions untouched).
            if not rsv:
                events.append(self._single(opcode, payload))
                return
            self._begin_message(opcode, rsv)
            msg = self._msg
            assert msg is not None
        if self.extensions and msg.rsv:
            limit = self.max_message_size
            remaining = None if limit is None else limit - self._msg_size
            for ext in self.extensions:
                payload = ext.decode_frame(msg.opcode, rsv, payload, bool(fin), remaining)
            if remaining is not None and len(payload) > remaining:
                raise FrameTooLargeException(f"message larger than {limit} bytes")
        self._msg_size += len(payload)
        if msg.opcode == OPCODE_TEXT and self._decoder is not None:
            if validated:
                if fin:
                    self._check_text(b"", True)
            else:
                self._check_text(payload, bool(fin))
        if payload:
            msg._append(payload)
        if fin:
            msg.completed = True
            # The payload is decoded: the RSV bits described the wire form, and
            # a message forwarded (send(message), broadcast) must not carry them.
            msg.rsv = 0
            if isinstance(msg.data, bytearray):
                msg.data = bytes(msg.data)
            self._msg = None
            self._decoder = None
            self._msg_size = 0
            events.append(msg)

    # -- builders ----------------------------------------------------------

    def text_message(self, text: str | bytes) -> TextMessage:
        """A :class:`TextMessage` ready to be built."""
        return TextMessage(text)

    def binary_message(self, bytes: bytes | bytearray) -> BinaryMessage:
        """A :class:`BinaryMessage` ready to be built."""
        return BinaryMessage(bytes)

    def close(self, code: int = CloseCode.NORMAL, reason: str | bytes = b"") -> CloseControlMessage:
        """A :class:`CloseControlMessage` with ``code`` and ``reason``, as 0.6.0 returned.

        Its bytes are ``.single(mask=stream.always_mask)``.
        """
        return CloseControlMessage(code, reason)

    def ping(self, data: Any = "") -> bytes:
        """The bytes of a ping frame, masked when this end masks.

        The one ping builder: the core's pings (:meth:`Connection.send_ping`,
        the keepalive's) are these.  ``data``: ``str`` (UTF-8) or bytes-like.
        """
        payload = data if type(data) is bytes else Message(OPCODE_PING, data).data
        return build_frame(OPCODE_PING, payload, True, 0, self.always_mask)

    def pong(self, data: Any = "") -> bytes:
        """The bytes of a pong frame: the one pong builder (the core's answers to pings too)."""
        payload = data if type(data) is bytes else Message(OPCODE_PONG, data).data
        return build_frame(OPCODE_PONG, payload, True, 0, self.always_mask)

    def release(self) -> None:
        """Drop buffers and any message in progress."""
        self._buf = bytearray()
        self._frame = None
        self._msg = None
        self._msg_size = 0
        self._need = 2
        self._decoder = None
        self._messages = None
        self._pings = None
        self._pongs = None
