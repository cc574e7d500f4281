"""One exception tree rooted at :class:`WebSocketException`.

The classic ws4py names are all kept.  Errors raised while parsing the peer's
bytes carry the RFC 6455 close code (section 7.4.1) the connection must be
failed with, so I/O layers never have to map exceptions to codes themselves.
"""

from __future__ import annotations

__all__ = [
    "ConnectionClosedError",
    "FrameLengthException",
    "FrameTooLargeException",
    "HandshakeError",
    "InvalidBytesError",
    "InvalidCloseCodeException",
    "ProtocolException",
    "StreamClosed",
    "TextFrameEncodingException",
    "UnsupportedFrameTypeException",
    "WebSocketException",
]


class WebSocketException(Exception):
    """Base of every ws4py error; ``code`` is the close code it maps to."""

    code: int = 1011


class ProtocolException(WebSocketException):
    """The peer broke a rule of RFC 6455 framing (close code 1002)."""

    code = 1002


class FrameTooLargeException(WebSocketException):
    """A frame or message is larger than the configured limit (close code 1009)."""

    code = 1009


class UnsupportedFrameTypeException(WebSocketException):
    """A frame type this endpoint cannot accept (close code 1003)."""

    code = 1003


class TextFrameEncodingException(WebSocketException):
    """A text message or a close reason is not valid UTF-8 (close code 1007)."""

    code = 1007


class InvalidBytesError(WebSocketException):
    """Bytes that cannot be interpreted, e.g. a bad masking key or frame length."""

    code = 1002


class FrameLengthException(FrameTooLargeException, ProtocolException):
    """A frame header announces a length RFC 6455 forbids (close code 1002).

    A control frame over 125 bytes (section 5.5) or a 64-bit length with its
    most significant bit set (5.2).  ws4py 0.6.0 raised
    :class:`FrameTooLargeException` for both; it is also a
    :class:`ProtocolException`, as the RFC sees it, so either ``except``
    clause catches it.
    """

    code = 1002


class InvalidCloseCodeException(ProtocolException):
    """A close frame's body is malformed: one byte long, or a code not allowed on the wire (1002).

    The message is the reason ws4py 0.6.0 gave such a close frame
    (``Stream.closing.reason`` on the classic parser path).
    """


class StreamClosed(Exception):
    """An operation was attempted on a stream that is already closed."""


class ConnectionClosedError(StreamClosed, WebSocketException, RuntimeError):
    """Sending on a websocket whose closing handshake has started or ended."""


class HandshakeError(WebSocketException):
    """The opening handshake failed.

    ``msg`` says what was wrong.  On the server side, ``status`` is the HTTP
    status to answer with and ``headers`` any extra response headers (for
    instance ``Sec-WebSocket-Version`` with a 426).
    """

    def __init__(
        self,
        msg: str,
        status: int = 400,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(msg)
        self.msg = msg
        self.status = status
        self.headers: list[tuple[str, str]] = list(headers or [])

    def __str__(self) -> str:
        return self.msg
