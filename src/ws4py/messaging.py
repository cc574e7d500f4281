"""Application-level messages (RFC 6455 section 5.6 and 5.5).

A message is built from one or many frames.  Data messages are text or
binary; control messages (close, ping, pong) carry in-band signalling.
Payloads are ``bytes``; ``str`` is encoded with the message's encoding.
"""

from __future__ import annotations

import struct
from typing import Any

from ws4py.exc import ProtocolException, TextFrameEncodingException
from ws4py.framing import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_CONTINUATION,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
    build_frame,
)
from ws4py.masking import BytesLike

__all__ = [
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


def _to_bytes(data: Any, encoding: str) -> bytes | bytearray:
    if data is None:
        return b""
    if isinstance(data, str):
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

    def __init__(self, opcode: int, data: Any = b"", encoding: str = "utf-8") -> None:
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
        """Append more payload (a received fragment, or more to send)."""
        chunk = _to_bytes(data, self.encoding)
        if isinstance(self.data, bytes):
            self.data = bytearray(self.data)
        self.data += chunk

    def __len__(self) -> int:
        return len(self.data)

    def __bytes__(self) -> bytes:
        return bytes(self.data)

    def __str__(self) -> str:
        return self.data.decode(self.encoding, "replace")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} opcode={self.opcode} length={len(self.data)}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self.opcode == other.opcode and bytes(self.data) == bytes(other.data)

    __hash__ = None  # type: ignore[assignment]


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
        return self.data.decode(self.encoding)


class BinaryMessage(Message):
    """A binary message."""

    def __init__(self, bytes: Any = None) -> None:
        super().__init__(OPCODE_BINARY, bytes)

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
    msg.encoding = "utf-8"
    msg.data = payload
    msg.completed = True
    msg.rsv = 0
    return msg


def close_code_allowed(code: int) -> bool:
    """Whether a close code may be sent on the wire (RFC 6455 7.4.1, 7.4.2).

    1000-1003 and 1007-1014 are defined (1012-1014 registered with IANA);
    1004 is reserved, 1005/1006/1015 are for reporting only and never sent;
    3000-3999 are registered by libraries and frameworks, 4000-4999 private.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def parse_close_payload(payload: BytesLike) -> tuple[int, str]:
    """Decode a received close frame's body into ``(code, reason)`` (section 5.5.1).

    An empty body means no status (1005).  A one-byte body, a code not
    allowed on the wire, or a reason that is not UTF-8 are errors.
    """
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        raise ProtocolException("close frame with a one-byte payload")
    code = struct.unpack_from("!H", payload)[0]
    if not close_code_allowed(code):
        raise ProtocolException(f"close code {code} is not allowed on the wire")
    try:
        reason = bytes(payload[2:]).decode("utf-8")
    except UnicodeDecodeError:
        raise TextFrameEncodingException("close reason is not valid UTF-8") from None
    return code, reason


class CloseControlMessage(Message):
    """A close frame's message: ``code`` and ``reason`` (a ``str``).

    Code 1005 ("no status") is never put on the wire: it builds an empty
    close frame, as RFC 6455 section 7.4.1 requires.
    """

    def __init__(self, code: int = 1000, reason: str | bytes = "") -> None:
        if isinstance(reason, (bytes, bytearray)):
            reason = bytes(reason).decode("utf-8", "replace")
        if code == 1005:
            data = b""
        else:
            data = struct.pack("!H", code) + reason.encode("utf-8")
            if len(data) > 125:
                # A control frame carries at most 125 bytes (5.5): cut the
                # reason on a character boundary rather than fail the close.
                data = data[:125]
                while True:
                    try:
                        data[2:].decode("utf-8")
                        break
                    except UnicodeDecodeError:
                        data = data[:-1]
                reason = data[2:].decode("utf-8")
        super().__init__(OPCODE_CLOSE, data)
        self.code = code
        self.reason = reason
        self.completed = True

    def __str__(self) -> str:
        return self.reason

    def __repr__(self) -> str:
        return f"<CloseControlMessage code={self.code} reason={self.reason!r}>"


class PingControlMessage(Message):
    """A ping; the peer must answer with a pong carrying the same data (5.5.2)."""

    def __init__(self, data: Any = None) -> None:
        super().__init__(OPCODE_PING, data)
        self.completed = True


class PongControlMessage(Message):
    """A pong, in answer to a ping or unsolicited as a heartbeat (5.5.3)."""

    def __init__(self, data: Any = None) -> None:
        super().__init__(OPCODE_PONG, data)
        self.completed = True
