"""ws4py.http11, the HTTP/1.1 half of the handshake: one head renderer; old names kept.

Every head the package sends (the servers' 101, refusals, the client's
request) goes through :func:`ws4py.http11.render_head`, which refuses a
header that would corrupt the head (CR/LF injection).  The HTTP names moved
out of :mod:`ws4py.handshake` stay importable from it, and the head limits
documented as ``ws4py.handshake.MAX_*`` still tune the reader.
"""

from __future__ import annotations

import pytest

from ws4py import handshake, http11
from ws4py.exc import HandshakeError
from ws4py.handshake import ClientHandshake, ServerHandshakeResult, reject_response_bytes
from ws4py.http11 import (
    HeadReader,
    parse_response,
    reason_phrase,
    render_head,
    render_request,
    render_response,
)

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

#: The 101 every server wrote before the renderer was shared (RFC 6455 section 1.3's example).
RFC_101 = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"\r\n"
)
UPGRADE_HEADERS = [
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Accept", RFC_ACCEPT),
]

#: Names ws4py.handshake exported before the HTTP half moved to ws4py.http11.
MOVED = [
    "HeadReader",
    "Headers",
    "Request",
    "Response",
    "parse_header_block",
    "parse_request",
    "parse_response",
]
LIMITS = ["MAX_HEADERS", "MAX_HEADER_SIZE", "MAX_HEAD_SIZE", "MAX_REQUEST_LINE"]


def test_the_normal_101_is_the_same_bytes() -> None:
    assert render_response(101, "Switching Protocols", UPGRADE_HEADERS) == RFC_101
    assert render_response(101, None, UPGRADE_HEADERS) == RFC_101  # the standard phrase
    result = handshake.validate_request(
        handshake.parse_request(
            b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + RFC_KEY.encode() + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
    )
    assert isinstance(result, ServerHandshakeResult)
    assert result.response_bytes() == RFC_101
    assert result.response_bytes([("Server", "ws4py")]) == RFC_101[:-2] + b"Server: ws4py\r\n\r\n"


def test_the_rendered_101_parses_back() -> None:
    response = parse_response(render_response(101, None, UPGRADE_HEADERS))
    assert (response.version, response.status, response.reason) == (
        "HTTP/1.1",
        101,
        "Switching Protocols",
    )
    assert response.headers.items() == UPGRADE_HEADERS


@pytest.mark.parametrize(
    "name, value",
    [
        ("X-Evil", "a\r\nSet-Cookie: session=stolen"),
        ("X-Evil", "a\nb"),
        ("X-Evil", "a\rb"),
        ("X-Evil", "nul\x00"),
        ("X-Evil\r\nSet-Cookie", "x"),
        ("Bad Name", "x"),
        ("", "x"),
    ],
)
def test_a_header_that_would_corrupt_the_head_is_refused(name: str, value: str) -> None:
    with pytest.raises(ValueError):
        render_response(101, None, [*UPGRADE_HEADERS, (name, value)])
    with pytest.raises(ValueError):
        render_request("GET", "/", [(name, value)])
    with pytest.raises(ValueError):
        render_head("HTTP/1.1 200 OK", [(name, value)])


def test_a_reason_or_status_that_would_corrupt_the_head_is_refused() -> None:
    with pytest.raises(ValueError):
        render_response(101, "Switching\r\nX-Evil: 1", UPGRADE_HEADERS)
    with pytest.raises(ValueError):
        render_response(42, None, [])
    with pytest.raises(ValueError):
        render_request("GET", "/a b", [])
    with pytest.raises(ValueError):
        render_request("G T", "/", [])


def test_tab_and_obs_text_are_allowed_in_values() -> None:
    head = render_response(400, None, [("X-A", "a\tb\xe9")])
    assert head == b"HTTP/1.1 400 Bad Request\r\nX-A: a\tb\xe9\r\n\r\n"


def test_reason_phrase() -> None:
    assert reason_phrase(101) == "Switching Protocols"
    assert reason_phrase(426) == "Upgrade Required"
    assert reason_phrase(599) == "Unknown"


def test_refusals_and_client_requests_use_the_renderer() -> None:
    error = HandshakeError("no", status=426, headers=[("Sec-WebSocket-Version", "13")])
    assert reject_response_bytes(error) == (
        render_response(
            426,
            None,
            [
                ("Sec-WebSocket-Version", "13"),
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", "2"),
                ("Connection", "close"),
            ],
        )
        + b"no"
    )
    client = ClientHandshake("example.com", 80, "/chat", key=RFC_KEY)
    assert client.request_bytes() == render_request("GET", "/chat", client.request_headers())
    with pytest.raises(ValueError):
        client.request_bytes([("X-Evil", "a\r\nHost: other")])


@pytest.mark.parametrize("name", MOVED)
def test_moved_names_are_still_in_handshake(name: str) -> None:
    assert getattr(handshake, name) is getattr(http11, name)
    assert name in handshake.__all__ and name in http11.__all__


def test_every_name_handshake_exports_resolves() -> None:
    for name in handshake.__all__:
        assert getattr(handshake, name) is not None
    namespace: dict[str, object] = {}
    exec(f"from ws4py.handshake import {', '.join(handshake.__all__)}", namespace)
    assert set(handshake.__all__) <= set(namespace)


@pytest.mark.parametrize("name", LIMITS)
def test_limits_read_and_set_through_handshake(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert getattr(handshake, name) == getattr(http11, name)
    monkeypatch.setattr(handshake, name, 3)
    assert getattr(http11, name) == 3 and getattr(handshake, name) == 3
    monkeypatch.undo()
    assert getattr(http11, name) == getattr(handshake, name) > 3


def test_a_limit_set_in_handshake_is_the_one_the_reader_uses() -> None:
    old = handshake.MAX_HEADERS
    handshake.MAX_HEADERS = 2  # SECURITY.md's documented knob
    try:
        reader = HeadReader()
        assert reader.max_headers == 2
        with pytest.raises(HandshakeError) as info:
            reader.feed(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n")
        assert info.value.status == 431
    finally:
        handshake.MAX_HEADERS = old
    assert http11.MAX_HEADERS == old == 100
