"""Tests for ws4py.exc: the classic exception tree and each error's close code."""

from __future__ import annotations

import pytest

from ws4py import exc
from ws4py.exc import (
    ConnectionClosedError,
    FrameLengthException,
    FrameTooLargeException,
    HandshakeError,
    InvalidBytesError,
    InvalidCloseCodeException,
    ProtocolException,
    StreamClosed,
    TextFrameEncodingException,
    UnsupportedFrameTypeException,
    WebSocketException,
)

# The classic names and their direct bases, as the API spec lists them.
CLASSIC_BASES = {
    "WebSocketException": (Exception,),
    "ProtocolException": (WebSocketException,),
    "FrameTooLargeException": (WebSocketException,),
    "UnsupportedFrameTypeException": (WebSocketException,),
    "TextFrameEncodingException": (WebSocketException,),
    "InvalidBytesError": (WebSocketException,),
    "StreamClosed": (Exception,),
    "HandshakeError": (WebSocketException,),
}


@pytest.mark.parametrize(("name", "bases"), sorted(CLASSIC_BASES.items()))
def test_classic_class_and_bases(name: str, bases: tuple[type, ...]) -> None:
    cls = getattr(exc, name)
    assert isinstance(cls, type)
    assert cls.__name__ == name
    assert cls.__bases__ == bases
    assert name in exc.__all__


def test_every_exported_name_is_an_exception() -> None:
    for name in exc.__all__:
        cls = getattr(exc, name)
        assert issubclass(cls, Exception), name


def test_stream_closed_is_not_a_websocket_exception() -> None:
    assert not issubclass(StreamClosed, WebSocketException)
    with pytest.raises(StreamClosed):
        raise StreamClosed("closed")


def test_extra_classes_stay_in_the_tree() -> None:
    # Additions must not break ``except ProtocolException`` / ``except StreamClosed``.
    assert issubclass(InvalidCloseCodeException, ProtocolException)
    assert issubclass(ConnectionClosedError, StreamClosed)
    assert issubclass(ConnectionClosedError, WebSocketException)


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (WebSocketException, 1011),
        (ProtocolException, 1002),
        (FrameTooLargeException, 1009),
        (UnsupportedFrameTypeException, 1003),
        (TextFrameEncodingException, 1007),
        (InvalidBytesError, 1002),
        (InvalidCloseCodeException, 1002),
        (FrameLengthException, 1002),
    ],
)
def test_close_code_per_error(cls: type[WebSocketException], code: int) -> None:
    assert cls.code == code
    err = cls("boom")
    assert err.code == code
    assert str(err) == "boom"
    assert isinstance(err, WebSocketException)


def test_handshake_error_msg() -> None:
    err = HandshakeError("missing Upgrade header")
    assert err.msg == "missing Upgrade header"
    assert str(err) == "missing Upgrade header"
    assert err.args == ("missing Upgrade header",)
    assert err.status == 400
    assert err.headers == []
    assert isinstance(err, WebSocketException)


def test_handshake_error_status_and_headers_are_copied() -> None:
    headers = [("Sec-WebSocket-Version", "13")]
    err = HandshakeError("unsupported version", status=426, headers=headers)
    assert err.status == 426
    assert err.headers == [("Sec-WebSocket-Version", "13")]
    headers.append(("X", "y"))
    assert err.headers == [("Sec-WebSocket-Version", "13")]


def test_exceptions_are_catchable_through_the_root() -> None:
    for cls in (
        ProtocolException,
        FrameTooLargeException,
        UnsupportedFrameTypeException,
        TextFrameEncodingException,
        InvalidBytesError,
        InvalidCloseCodeException,
    ):
        with pytest.raises(WebSocketException) as info:
            raise cls("x")
        assert type(info.value) is cls
    with pytest.raises(WebSocketException):
        raise HandshakeError("x")


def test_frame_length_exception_is_both_classic_and_rfc() -> None:
    """0.6.0 raised FrameTooLargeException for an oversized control frame; the RFC
    calls it a protocol error: both ``except`` clauses catch it, its code is 1002."""
    for base in (FrameTooLargeException, ProtocolException):
        with pytest.raises(base):
            raise FrameLengthException("Frame was too large")
    assert FrameLengthException.code == 1002
