"""Application-level messages (RFC 6455 section 5.6 and 5.5).

A message is built from one or many frames.  Data messages are text or
binary; control messages (close, ping, pong) carry in-band signalling.
Payloads are ``bytes``; ``str`` is encoded with the message's encoding.

As in ws4py 0.6.0, messages compare and hash by identity (they are mutable:
:meth:`Message.extend` grows them), ``len()`` of a text message counts
characters, and a close message's ``reason`` is ``bytes``.
"""

from __future__ import annotations

import struct
from codecs import utf_8_decode
from typing import Any

from ws4py.exc import InvalidCloseCodeException, TextFrameEncodingException
from ws4py.framing import (
    MAX_CONTROL_PAYLOAD,
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

__all__ = [
    "VALID_CLOSING_CODES",
    "BinaryMessage",
    "CloseControlMessage",
    "Message",
    "PingControlMessage",
    "PongControlMessage",
    "TextMessage",
    "close_code_allowed",
    "parse_close_payload",
    "received_message",
]


def _to_bytes(data: Any, encoding: str | None) -> bytes:
    if data is None:
        return b""
    if isinstance(data, str):
        if not encoding:
            raise TypeError("str data without an encoding (a binary message takes bytes)")
        return data.encode(encoding)
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        # A copy: the message must not share a buffer the caller still owns
        # (extend() would grow it, and the caller's writes would change us).
        return bytes(data)
    raise TypeError(f"a message payload is str or bytes-like, not {type(data).__name__}")


class Message:
    """A message: ``opcode`` says its type, ``data`` holds its payload."""

    def __init__(self, opcode: int, data: Any = b"", encoding: str | None = "utf-8") -> None:
        self.opcode = opcode
        self.encoding = encoding
        self.data: bytes | bytearray = _to_bytes(data, encoding)
        #: True once the frame with the fin bit has been received (or for any
        #: message built locally).
        self.completed = False
        #: RSV bits an extension set on the first frame (0x40: compressed).
        self.rsv = 0

    def single(self, mask: bool = False) -> bytes:
        """Return the message as one frame with the fin bit set."""
        return build_frame(self.opcode, self.data, True, self.rsv, mask)

    def fragment(self, first: bool = False, last: bool = False, mask: bool = False) -> bytes:
        """Return the message's data as one fragment of a larger message.

        ``first`` uses the message's opcode (else continuation), ``last`` sets fin.
        """
        opcode = self.opcode if first else OPCODE_CONTINUATION
        return build_frame(opcode, self.data, last, self.rsv if first else 0, mask)

    def extend(self, data: Any) -> None:
        """Append more payload; ``data`` stays ``bytes``, as in 0.6.0."""
        if data is None:
            raise TypeError("cannot extend a message with None")
        self.data = bytes(self.data) + _to_bytes(data, self.encoding)

    def _append(self, chunk: bytes) -> None:
        """Append a received fragment in amortised O(1) (the stream's assembly).

        ``data`` is a ``bytearray`` until the stream completes the message
        and turns it back into ``bytes``.
        """
        if isinstance(self.data, bytes):
            self.data = bytearray(self.data)
        self.data += chunk

    def __bool__(self) -> bool:
        """Whether there is a payload: what ``len() != 0`` says, without decoding it."""
        return bool(self.data)

    def __len__(self) -> int:
        """Characters of the decoded payload, as 0.6.0 (bytes when it does not decode)."""
        data = self.data
        if self.encoding is None or data.isascii():
            return len(data)
        try:
            return len(data.decode(self.encoding))
        except UnicodeDecodeError:
            return len(data)

    def __bytes__(self) -> bytes:
        return bytes(self.data)

    def __str__(self) -> str:
        return self.data.decode(self.encoding or "utf-8", "replace")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} opcode={self.opcode} length={len(self.data)}>"


class TextMessage(Message):
    """A text message: UTF-8 on the wire, ``str(message)`` gives the text."""

    def __init__(self, text: Any = None) -> None:
        super().__init__(OPCODE_TEXT, text)

    @property
    def is_binary(self) -> bool:
        return False

    @property
    def is_text(self) -> bool:
        return True

    def __str__(self) -> str:
        return self.data.decode(self.encoding or "utf-8")


class BinaryMessage(Message):
    """A binary message: bytes, no encoding (``str`` data is a ``TypeError``, as in 0.6.0)."""

    def __init__(self, bytes: Any = None) -> None:
        super().__init__(OPCODE_BINARY, bytes, encoding=None)

    @property
    def is_binary(self) -> bool:
        return True

    @property
    def is_text(self) -> bool:
        return False


_new = object.__new__


def received_message(opcode: int, payload: bytes) -> Message:
    """A completed text or binary message around a received, already checked payload.

    The parser's fast path: it runs once per received message, so it skips
    ``__init__``'s type dispatch and copying.  It sets every attribute
    :class:`Message` has; keep the two in step.
    """
    msg: Message = _new(TextMessage if opcode == OPCODE_TEXT else BinaryMessage)
    msg.opcode = opcode
    msg.encoding = "utf-8" if opcode == OPCODE_TEXT else None
    msg.data = payload
    msg.completed = True
    msg.rsv = 0
    return msg


#: The close codes below 3000 a peer may send (RFC 6455 7.4.1): 0.6.0's list
#: plus 1012-1014, registered with IANA since (service restart, try again
#: later, bad gateway).  3000-4999 are allowed too (7.4.2).
VALID_CLOSING_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]
_VALID_CLOSING_CODES = frozenset(VALID_CLOSING_CODES)


def close_code_allowed(code: int) -> bool:
    """Whether a close code may be sent on the wire (RFC 6455 7.4.1, 7.4.2).

    :data:`VALID_CLOSING_CODES`, and 3000-3999 (registered by libraries and
    frameworks) and 4000-4999 (private use); 1004 is reserved,
    1005/1006/1015 are for reporting only and never sent.
    """
    return code in _VALID_CLOSING_CODES or 3000 <= code <= 4999


def parse_close_payload(payload: BytesLike) -> tuple[int, bytes]:
    """Decode a received close frame's body into ``(code, reason)`` (section 5.5.1).

    An empty body means no status (1005).  A one-byte body or a code not
    allowed on the wire raise :class:`InvalidCloseCodeException`, a reason
    that is not UTF-8 :class:`TextFrameEncodingException`, each with ws4py
    0.6.0's reason as message.
    """
    if not payload:
        return CloseCode.NO_STATUS, b""
    if len(payload) == 1:
        raise InvalidCloseCodeException("Payload has invalid length")
    code = struct.unpack_from("!H", payload)[0]
    if not close_code_allowed(code):
        raise InvalidCloseCodeException(f"Invalid Closing Frame Code: {code}")
    reason = bytes(payload[2:])
    if not reason.isascii():
        try:
            reason.decode("utf-8")
        except UnicodeDecodeError:
            raise TextFrameEncodingException("Invalid UTF-8 bytes") from None
    return code, reason


class CloseControlMessage(Message):
    """A close frame's message: ``code`` and ``reason`` (``bytes``, as in 0.6.0).

    ``reason`` may be given as ``str`` (encoded as UTF-8) or bytes.  Code
    1005 ("no status", also what a received empty close frame reports) is
    never put on the wire: it builds an empty close frame, as RFC 6455
    section 7.4.1 requires.  A reason that would make the frame longer than
    125 bytes (5.5) is cut on a character boundary.
    """

    def __init__(
        self, code: int = CloseCode.NORMAL, reason: str | bytes | bytearray | None = b""
    ) -> None:
        if isinstance(reason, str):
            reason = reason.encode("utf-8")
        reason = bytes(reason) if reason else b""
        if code == CloseCode.NO_STATUS or not code:
            data = b""
        else:
            data = struct.pack("!H", code) + reason
            if len(data) > MAX_CONTROL_PAYLOAD:
                reason = reason[: MAX_CONTROL_PAYLOAD - 2]
                try:
                    # Up to the last whole character (a final one cut in two is dropped).
                    reason = reason[: utf_8_decode(reason, "strict", False)[1]]
                except UnicodeDecodeError:
                    pass  # not UTF-8 anyway: cut where it falls
                data = data[:2] + reason
        super().__init__(OPCODE_CLOSE, data)
        self.code = code
        self.reason: bytes = reason

    def __bool__(self) -> bool:
        return bool(self.reason)

    def __len__(self) -> int:
        """Characters of the reason, as 0.6.0 (its text is the reason, not the code)."""
        return len(str(self))

    def __str__(self) -> str:
        return self.reason.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"<CloseControlMessage code={self.code} reason={self.reason!r}>"


class PingControlMessage(Message):
    """A ping; the peer must answer with a pong carrying the same data (5.5.2)."""

    def __init__(self, data: Any = None) -> None:
        super().__init__(OPCODE_PING, data)


class PongControlMessage(Message):
    """A pong, in answer to a ping or unsolicited as a heartbeat (5.5.3)."""

    def __init__(self, data: Any = None) -> None:
        super().__init__(OPCODE_PONG, data)
