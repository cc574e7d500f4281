"""Tests of permessage-deflate (RFC 7692), sans I/O.

Negotiation is checked parameter by parameter on both sides (section 7.1);
data goes through real :class:`~ws4py.streaming.Stream` /
:class:`~ws4py.connection.Connection` pairs; compressed frames are also built
by hand here (zlib, then split into frames with RSV1 on the first one only)
so the receiving side is tested independently of our sender.
"""

from __future__ import annotations

import gc
import itertools
import os
import struct
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ws4py.connection import Connection
from ws4py.exc import FrameTooLargeException, HandshakeError, ProtocolException
from ws4py.extensions import (
    ExtensionParams,
    default_client_extensions,
    default_server_extensions,
    format_extension,
    parse_extension_header,
)
from ws4py.extensions.permessage_deflate import (
    DEFAULT_MAX_WINDOW_BITS,
    PROBE_SIZE,
    ClientPerMessageDeflate,
    PerMessageDeflate,
    ServerPerMessageDeflate,
)
from ws4py.handshake import ClientHandshake, Headers, Request, Response, validate_request
from ws4py.messaging import BinaryMessage, Message, TextMessage
from ws4py.streaming import Stream

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
RSV1 = 0x40
TAIL = b"\x00\x00\xff\xff"
KEY = b"\x37\xfa\x21\x3d"


def params(header: str) -> ExtensionParams:
    """The parameters of one ``permessage-deflate`` element of a header value."""
    ((name, parsed),) = parse_extension_header([header])
    assert name == "permessage-deflate"
    return parsed


def offers(header: str) -> list[ExtensionParams]:
    return [p for _, p in parse_extension_header([header])]


def negotiate(
    server: ServerPerMessageDeflate | None = None, client: ClientPerMessageDeflate | None = None
) -> tuple[PerMessageDeflate, PerMessageDeflate, ExtensionParams]:
    """Run both factories; return (server extension, client extension, response)."""
    server = server or ServerPerMessageDeflate()
    client = client or ClientPerMessageDeflate()
    outcome = server.accept([client.offer()])
    assert outcome is not None
    response, server_ext = outcome
    return server_ext, client.accept(response), response


def pair(
    server: ServerPerMessageDeflate | None = None,
    client: ClientPerMessageDeflate | None = None,
    max_message_size: int | None = 64 * 1024 * 1024,
) -> tuple[Connection, Connection]:
    server_ext, client_ext, _ = negotiate(server, client)
    return (
        Connection(client=False, extensions=[server_ext], max_message_size=max_message_size),
        Connection(client=True, extensions=[client_ext], max_message_size=max_message_size),
    )


def received(conn: Connection, data: bytes) -> list[Message]:
    """What ``conn`` hands the application for ``data`` (every event taken)."""
    conn.receive_data(data)
    return list(conn.events_received())


def frame(
    opcode: int, payload: bytes, fin: bool = True, rsv: int = 0, masked: bool = True
) -> bytes:
    """One frame built by hand (masked with a fixed key, as a client sends)."""
    b0 = (0x80 if fin else 0) | rsv | opcode
    mask_bit = 0x80 if masked else 0
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, mask_bit | n)
    elif n < 0x10000:
        head = struct.pack("!BBH", b0, mask_bit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mask_bit | 127, n)
    if not masked:
        return head + payload
    body = bytes(b ^ KEY[i % 4] for i, b in enumerate(payload))
    return head + KEY + body


def deflate(data: bytes, wbits: int = 15) -> bytes:
    """Raw deflate + sync flush, tail removed: what RFC 7692 7.2.1 puts on the wire."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


def server_stream(max_message_size: int | None = 1 << 20, **kwargs: object) -> Stream:
    ext = PerMessageDeflate(is_server=True, **kwargs)  # type: ignore[arg-type]
    return Stream(expect_masking=True, max_message_size=max_message_size, extensions=[ext])


def client_stream(**kwargs: object) -> Stream:
    ext = PerMessageDeflate(is_server=False, **kwargs)  # type: ignore[arg-type]
    return Stream(always_mask=True, expect_masking=False, extensions=[ext])


def feed_all(stream: Stream, wire: bytes, chunk: int | None = None) -> list[Message]:
    if chunk is None:
        return stream.feed(wire)
    events: list[Message] = []
    for i in range(0, len(wire), chunk):
        events.extend(stream.feed(wire[i : i + chunk]))
    return events


def error_code(stream: Stream) -> int | None:
    return stream.errors[0].code if stream.errors else None


def split(data: bytes, sizes: Iterator[int]) -> list[bytes]:
    parts = []
    pos = 0
    while pos < len(data):
        size = max(1, next(sizes))
        parts.append(data[pos : pos + size])
        pos += size
    return parts or [b""]


def fragmented(opcode: int, compressed: bytes, pieces: int) -> bytes:
    """A compressed message split into ``pieces`` frames, RSV1 on the first only."""
    step = max(1, -(-len(compressed) // pieces))
    chunks = [compressed[i : i + step] for i in range(0, len(compressed), step)] or [b""]
    wire = b""
    for i, chunk in enumerate(chunks):
        last = i == len(chunks) - 1
        wire += frame(opcode if i == 0 else CONT, chunk, fin=last, rsv=RSV1 if i == 0 else 0)
    return wire


# --------------------------------------------------------------------------
# Server negotiation (RFC 7692 section 7.1)
# --------------------------------------------------------------------------


def accept(offer_header: str, **settings: object) -> tuple[ExtensionParams, PerMessageDeflate]:
    outcome = ServerPerMessageDeflate(**settings).accept(offers(offer_header))  # type: ignore[arg-type]
    assert outcome is not None, f"declined {offer_header!r}"
    return outcome


def declined(offer_header: str, **settings: object) -> bool:
    factory = ServerPerMessageDeflate(**settings)  # type: ignore[arg-type]
    return factory.accept(offers(offer_header)) is None


def test_server_defaults_with_a_browser_like_offer() -> None:
    response, ext = accept("permessage-deflate; client_max_window_bits")
    assert response == [("server_max_window_bits", "12"), ("client_max_window_bits", "12")]
    assert (ext.server_max_window_bits, ext.client_max_window_bits) == (12, 12)
    assert not ext.server_no_context_takeover and not ext.client_no_context_takeover
    assert ext.is_server and ext.rsv_mask == 0x40 and ext.name == "permessage-deflate"
    assert ext.response_params() == response
    assert str(ext) == "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"


def test_server_bare_offer() -> None:
    # server_max_window_bits may be answered unasked (7.1.2.1); client_max_window_bits may not
    # (7.1.2.2), so the client's window stays 32 KiB.
    response, ext = accept("permessage-deflate")
    assert response == [("server_max_window_bits", "12")]
    assert (ext.server_max_window_bits, ext.client_max_window_bits) == (12, 15)


def test_server_no_limits_configured() -> None:
    response, ext = accept(
        "permessage-deflate; client_max_window_bits",
        server_max_window_bits=None,
        client_max_window_bits=None,
    )
    assert response == []
    assert (ext.server_max_window_bits, ext.client_max_window_bits) == (15, 15)


def test_server_no_context_takeover_requested_by_client() -> None:
    response, ext = accept("permessage-deflate; server_no_context_takeover")
    assert ("server_no_context_takeover", None) in response
    assert ext.server_no_context_takeover and not ext.client_no_context_takeover


def test_server_no_context_takeover_configured() -> None:
    response, ext = accept("permessage-deflate", server_no_context_takeover=True)
    assert response[0] == ("server_no_context_takeover", None)
    assert ext.server_no_context_takeover


def test_client_no_context_takeover_hint_is_echoed() -> None:
    response, ext = accept("permessage-deflate; client_no_context_takeover")
    assert ("client_no_context_takeover", None) in response
    assert ext.client_no_context_takeover


def test_client_no_context_takeover_configured_even_unoffered() -> None:
    response, ext = accept("permessage-deflate", client_no_context_takeover=True)
    assert ("client_no_context_takeover", None) in response
    assert ext.client_no_context_takeover and not ext.server_no_context_takeover


@pytest.mark.parametrize(
    ("asked", "configured", "answered"),
    [(8, 12, 8), (9, 12, 9), (10, 12, 10), (12, 12, 12), (14, 12, 12), (15, 12, 12),
     (14, None, 14), (15, None, 15), (10, 15, 10)],
)  # fmt: skip
def test_server_max_window_bits_requested(
    asked: int, configured: int | None, answered: int
) -> None:
    response, ext = accept(
        f"permessage-deflate; server_max_window_bits={asked}",
        server_max_window_bits=configured,
    )
    assert ("server_max_window_bits", str(answered)) in response
    assert ext.server_max_window_bits == answered


@pytest.mark.parametrize(
    ("offered", "configured", "answered"),
    [("", 12, 12), ("=15", 12, 12), ("=10", 12, 10), ("=8", 12, 8), ("", None, None),
     ("=9", None, 9), ("", 8, 8), ("=14", 15, 14), ("", 15, 15)],
)  # fmt: skip
def test_client_max_window_bits_offered(
    offered: str, configured: int | None, answered: int | None
) -> None:
    response, ext = accept(
        f"permessage-deflate; client_max_window_bits{offered}", client_max_window_bits=configured
    )
    cmwb = [value for name, value in response if name == "client_max_window_bits"]
    if answered is None:
        assert cmwb == [] and ext.client_max_window_bits == 15
    else:
        assert cmwb == [str(answered)] and ext.client_max_window_bits == answered


def test_require_client_max_window_bits() -> None:
    assert declined("permessage-deflate", require_client_max_window_bits=True)
    response, _ = accept(
        "permessage-deflate, permessage-deflate; client_max_window_bits",
        require_client_max_window_bits=True,
    )
    assert ("client_max_window_bits", "12") in response


def test_every_parameter_at_once() -> None:
    response, ext = accept(
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=10; client_max_window_bits=11"
    )
    assert response == [
        ("server_no_context_takeover", None),
        ("client_no_context_takeover", None),
        ("server_max_window_bits", "10"),
        ("client_max_window_bits", "11"),
    ]
    assert ext.server_no_context_takeover and ext.client_no_context_takeover
    assert (ext.server_max_window_bits, ext.client_max_window_bits) == (10, 11)


@pytest.mark.parametrize(
    "offer",
    [
        "permessage-deflate; foo",
        "permessage-deflate; foo=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; server_no_context_takeover=1",
        'permessage-deflate; client_no_context_takeover="x"',
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=08",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits=1a",
        "permessage-deflate; server_max_window_bits=-9",
        "permessage-deflate; server_max_window_bits=+9",
        "permessage-deflate; client_max_window_bits=0",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=09",
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; Server_No_Context_Takeover",
    ],
)
def test_malformed_offers_are_declined(offer: str) -> None:
    assert declined(offer)


def test_first_acceptable_offer_wins() -> None:
    header = (
        "permessage-deflate; foo, "  # unknown parameter: declined
        "permessage-deflate; server_max_window_bits=7, "  # bad value: declined
        "permessage-deflate; server_max_window_bits=10; client_no_context_takeover, "
        "permessage-deflate"
    )
    response, ext = accept(header)
    assert response == [("client_no_context_takeover", None), ("server_max_window_bits", "10")]
    assert ext.server_max_window_bits == 10 and ext.client_no_context_takeover


def test_no_acceptable_offer_means_no_compression_through_the_handshake() -> None:
    request = _request("permessage-deflate; x=1, permessage-deflate; server_max_window_bits=99")
    result = validate_request(request, extensions=[ServerPerMessageDeflate()])
    assert result.extensions == [] and result.extension_header is None
    assert "Sec-WebSocket-Extensions" not in dict(result.response_headers)


def test_quoted_values_through_the_handshake() -> None:
    request = _request(
        'permessage-deflate; client_max_window_bits="10"; server_max_window_bits="9"'
    )
    result = validate_request(request, extensions=[ServerPerMessageDeflate()])
    assert result.extension_header == (
        "permessage-deflate; server_max_window_bits=9; client_max_window_bits=10"
    )
    (ext,) = result.extensions
    assert isinstance(ext, PerMessageDeflate)


def test_other_extensions_in_the_offer_are_left_alone() -> None:
    request = _request("x-webkit-deflate-frame, permessage-deflate; client_max_window_bits")
    result = validate_request(request, extensions=[ServerPerMessageDeflate()])
    assert result.extension_header is not None
    assert result.extension_header.startswith("permessage-deflate;")


def _request(extensions: str) -> Request:
    headers = Headers(
        [
            ("Host", "example.com"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Extensions", extensions),
        ]
    )
    return Request("GET", "/", "HTTP/1.1", headers)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"server_max_window_bits": 7},
        {"server_max_window_bits": 16},
        {"client_max_window_bits": 0},
        {"client_max_window_bits": True},
        {"compression_level": 10},
        {"mem_level": 0},
        {"mem_level": 10},
        {"min_size": -1},
    ],
)
def test_server_factory_rejects_bad_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ServerPerMessageDeflate(**kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# Client negotiation
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "offer"),
    [
        ({}, "permessage-deflate; client_max_window_bits"),
        ({"client_max_window_bits": None}, "permessage-deflate"),
        ({"client_max_window_bits": False}, "permessage-deflate"),
        ({"client_max_window_bits": 10}, "permessage-deflate; client_max_window_bits=10"),
        (
            {"server_no_context_takeover": True, "client_no_context_takeover": True,
             "server_max_window_bits": 9, "client_max_window_bits": 11},
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=9; client_max_window_bits=11",
        ),
    ],
)  # fmt: skip
def test_client_offer(kwargs: dict[str, object], offer: str) -> None:
    factory = ClientPerMessageDeflate(**kwargs)  # type: ignore[arg-type]
    assert format_extension(factory.name, factory.offer()) == offer


def client_accepts(response: str, **kwargs: object) -> PerMessageDeflate:
    return ClientPerMessageDeflate(**kwargs).accept(params(response))  # type: ignore[arg-type]


def test_client_accepts_a_bare_response() -> None:
    ext = client_accepts("permessage-deflate")
    assert not ext.is_server
    assert (ext.server_max_window_bits, ext.client_max_window_bits) == (15, 15)
    assert not ext.server_no_context_takeover and not ext.client_no_context_takeover


def test_client_accepts_every_parameter() -> None:
    ext = client_accepts(
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=9; client_max_window_bits=10"
    )
    assert ext.server_no_context_takeover and ext.client_no_context_takeover
    assert (ext.server_max_window_bits, ext.client_max_window_bits) == (9, 10)
    assert ext.response_params() == params(
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=9; client_max_window_bits=10"
    )


def test_client_unrequested_server_settings_are_fine() -> None:
    # 7.1.1.1 and 7.1.2.1: a server may add these unasked.
    ext = client_accepts("permessage-deflate; server_no_context_takeover; server_max_window_bits=8")
    assert ext.server_no_context_takeover and ext.server_max_window_bits == 8


def test_client_no_context_takeover_promise_holds_without_the_response() -> None:
    ext = client_accepts("permessage-deflate", client_no_context_takeover=True)
    assert ext.client_no_context_takeover


def test_client_larger_client_window_than_offered_uses_the_offered_one() -> None:
    # 7.1.2.2: the offered value is a promise the client keeps whatever the answer.
    ext = client_accepts("permessage-deflate; client_max_window_bits=15", client_max_window_bits=10)
    assert ext.client_max_window_bits == 10
    ext = client_accepts("permessage-deflate; client_max_window_bits=9", client_max_window_bits=10)
    assert ext.client_max_window_bits == 9


def test_client_requested_server_window_may_be_lowered() -> None:
    ext = client_accepts("permessage-deflate; server_max_window_bits=9", server_max_window_bits=10)
    assert ext.server_max_window_bits == 9


@pytest.mark.parametrize(
    ("response", "kwargs", "message"),
    [
        ("permessage-deflate; foo", {}, "unknown parameter"),
        ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", {},
         "more than once"),
        ("permessage-deflate; server_max_window_bits=9; server_max_window_bits=9", {},
         "more than once"),
        ("permessage-deflate; server_no_context_takeover=1", {}, "takes no value"),
        ("permessage-deflate; client_no_context_takeover=1", {}, "takes no value"),
        ("permessage-deflate; server_max_window_bits", {}, "needs a value"),
        ("permessage-deflate; client_max_window_bits", {}, "needs a value"),
        ("permessage-deflate; server_max_window_bits=16", {}, "invalid value"),
        ("permessage-deflate; server_max_window_bits=7", {}, "invalid value"),
        ("permessage-deflate; client_max_window_bits=08", {}, "invalid value"),
        ("permessage-deflate; client_max_window_bits=10", {"client_max_window_bits": None},
         "not offered"),
        ("permessage-deflate", {"server_max_window_bits": 10}, "did not accept"),
        ("permessage-deflate; server_max_window_bits=11", {"server_max_window_bits": 10},
         "larger than"),
        ("permessage-deflate", {"server_no_context_takeover": True}, "did not accept"),
    ],
)  # fmt: skip
def test_client_rejects_bad_responses(
    response: str, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(HandshakeError, match=message):
        client_accepts(response, **kwargs)


def _response(handshake: ClientHandshake, extensions: str | None) -> Response:
    from ws4py.handshake import accept_key

    headers = Headers(
        [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept_key(handshake.key)),
        ]
    )
    if extensions is not None:
        headers.add("Sec-WebSocket-Extensions", extensions)
    return Response("HTTP/1.1", 101, "Switching Protocols", headers)


def test_client_handshake_offers_and_accepts() -> None:
    handshake = ClientHandshake("example.com", 80, "/", extensions=[ClientPerMessageDeflate()])
    assert ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits") in (
        handshake.request_headers()
    )
    result = handshake.process_response(
        _response(
            handshake, "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
        )
    )
    (ext,) = result.extensions
    assert isinstance(ext, PerMessageDeflate)
    assert (ext.server_max_window_bits, ext.client_max_window_bits) == (12, 12)


def test_client_handshake_without_the_extension_in_the_response() -> None:
    handshake = ClientHandshake("example.com", 80, "/", extensions=[ClientPerMessageDeflate()])
    assert handshake.process_response(_response(handshake, None)).extensions == []


@pytest.mark.parametrize(
    "extensions",
    [
        "permessage-deflate; client_max_window_bits",  # no value in a response
        "permessage-deflate; server_max_window_bits=5",
        "permessage-deflate; bogus",
        "permessage-deflate, permessage-deflate",
        "permessage-deflate; server_max_window_bits=10; ",  # header syntax error
    ],
)
def test_client_handshake_fails_on_a_bad_response(extensions: str) -> None:
    handshake = ClientHandshake("example.com", 80, "/", extensions=[ClientPerMessageDeflate()])
    with pytest.raises(HandshakeError):
        handshake.process_response(_response(handshake, extensions))


@pytest.mark.parametrize(
    "kwargs",
    [{"server_max_window_bits": 16}, {"client_max_window_bits": 7}, {"mem_level": 12}],
)
def test_client_factory_rejects_bad_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ClientPerMessageDeflate(**kwargs)  # type: ignore[arg-type]


def test_defaults_are_permessage_deflate() -> None:
    (server,) = default_server_extensions()
    (client,) = default_client_extensions()
    assert isinstance(server, ServerPerMessageDeflate)
    assert isinstance(client, ClientPerMessageDeflate)
    assert server.server_max_window_bits == DEFAULT_MAX_WINDOW_BITS


@pytest.mark.parametrize(
    ("server", "client"),
    [
        (ServerPerMessageDeflate(), ClientPerMessageDeflate()),
        (ServerPerMessageDeflate(), ClientPerMessageDeflate(client_max_window_bits=None)),
        (ServerPerMessageDeflate(server_max_window_bits=None, client_max_window_bits=None),
         ClientPerMessageDeflate(server_max_window_bits=10, client_max_window_bits=9)),
        (ServerPerMessageDeflate(server_no_context_takeover=True),
         ClientPerMessageDeflate(client_no_context_takeover=True)),
        (ServerPerMessageDeflate(client_no_context_takeover=True),
         ClientPerMessageDeflate(server_no_context_takeover=True, server_max_window_bits=8)),
    ],
)  # fmt: skip
def test_our_factories_agree(
    server: ServerPerMessageDeflate, client: ClientPerMessageDeflate
) -> None:
    server_ext, client_ext, _ = negotiate(server, client)
    for attr in ("server_no_context_takeover", "client_no_context_takeover",
                 "server_max_window_bits"):  # fmt: skip
        assert getattr(server_ext, attr) == getattr(client_ext, attr), attr
    # The client may use a smaller window than granted, never a larger one.
    assert client_ext.client_max_window_bits <= server_ext.client_max_window_bits


# --------------------------------------------------------------------------
# RFC 7692 section 7.2.3 examples, byte for byte
# --------------------------------------------------------------------------


def test_rfc_7_2_3_1_hello_sent() -> None:
    ext = PerMessageDeflate(is_server=True)
    assert ext._deflate(b"Hello") == bytes([0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
    # As a whole frame: 0xc1 0x07 ... (RSV1 + text, unmasked from a server).
    fresh = PerMessageDeflate(is_server=True)
    wire = frame(TEXT, fresh._deflate(b"Hello"), rsv=RSV1, masked=False)
    assert wire == bytes([0xC1, 0x07, 0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])


def test_rfc_7_2_3_1_hello_received_and_fragmented() -> None:
    stream = client_stream()
    (msg,) = stream.feed(bytes([0xC1, 0x07, 0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]))
    assert isinstance(msg, TextMessage) and msg.data == b"Hello"
    # The same message in two frames (RFC's second example).
    (msg,) = stream.feed(bytes([0x41, 0x03, 0xF2, 0x48, 0xCD, 0x80, 0x04, 0xC9, 0xC9, 0x07, 0x00]))
    assert msg.data == b"Hello"


def test_rfc_7_2_3_2_sharing_the_window() -> None:
    ext = PerMessageDeflate(is_server=True)
    assert ext._deflate(b"Hello") == bytes([0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
    assert ext._deflate(b"Hello") == bytes([0xF2, 0x00, 0x11, 0x00, 0x00])
    stream = client_stream()
    events = stream.feed(
        bytes([0xC1, 0x07, 0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
        + bytes([0xC1, 0x05, 0xF2, 0x00, 0x11, 0x00, 0x00])
    )
    assert [m.data for m in events] == [b"Hello", b"Hello"]


def test_no_context_takeover_does_not_share_the_window() -> None:
    ext = PerMessageDeflate(is_server=True, server_no_context_takeover=True)
    first = ext._deflate(b"Hello")
    assert ext._deflate(b"Hello") == first


def test_rfc_7_2_3_3_stored_block() -> None:
    stream = client_stream()
    payload = bytes([0x00, 0x05, 0x00, 0xFA, 0xFF, 0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x00])
    (msg,) = stream.feed(frame(TEXT, payload, rsv=RSV1, masked=False))
    assert msg.data == b"Hello"


def test_rfc_7_2_3_4_bfinal_block_then_more_messages() -> None:
    stream = client_stream()
    payload = bytes([0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x00])
    (msg,) = stream.feed(frame(TEXT, payload, rsv=RSV1, masked=False))
    assert msg.data == b"Hello"
    # The stream goes on: a fresh DEFLATE stream, and one referring to "Hello".
    (msg,) = stream.feed(frame(TEXT, deflate(b"World"), rsv=RSV1, masked=False))
    assert msg.data == b"World"
    assert not stream.errors


def test_bfinal_then_back_reference_into_the_previous_message() -> None:
    # A sender that ends a message with BFINAL and keeps its window.
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    first = compressor.compress(b"Hello, world") + compressor.flush(zlib.Z_FINISH)
    again = zlib.compressobj(6, zlib.DEFLATED, -15, zdict=b"Hello, world")
    second = again.compress(b"Hello, world!") + again.flush(zlib.Z_SYNC_FLUSH)
    stream = client_stream()
    events = stream.feed(
        frame(BINARY, first, rsv=RSV1, masked=False)
        + frame(BINARY, second[:-4], rsv=RSV1, masked=False)
    )
    assert [m.data for m in events] == [b"Hello, world", b"Hello, world!"]


def test_data_after_a_final_block_fails() -> None:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    final = compressor.compress(b"Hello") + compressor.flush(zlib.Z_FINISH)
    stream = client_stream()
    stream.feed(frame(TEXT, final + b"garbage", rsv=RSV1, masked=False))
    assert error_code(stream) == 1002


def test_rfc_7_2_3_5_two_deflate_blocks_in_one_message() -> None:
    stream = client_stream()
    payload = bytes([0xF2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xCA, 0xC9, 0xC9, 0x07, 0x00])
    (msg,) = stream.feed(frame(TEXT, payload, rsv=RSV1, masked=False))
    assert msg.data == b"Hello"


def test_rfc_7_2_3_6_empty_compressed_message() -> None:
    # An empty payload compresses to a single 0x00 (an empty stored block's
    # header, the rest of the block being the removed tail).
    stream = client_stream()
    events = stream.feed(bytes([0xC1, 0x01, 0x00]) + bytes([0xC1, 0x07, 0xF2, 0x48, 0xCD, 0xC9]))
    events += stream.feed(bytes([0xC9, 0x07, 0x00]))
    assert [m.data for m in events] == [b"", b"Hello"]
    assert not stream.errors


# --------------------------------------------------------------------------
# Round trips through Connections (both directions, all agreements)
# --------------------------------------------------------------------------

TEXTS = [
    "",
    "a",
    "Hello, world! " * 10,
    '{"id": 1, "name": "ws4py", "tags": ["a", "b"], "ok": true}' * 20,
    "héllo wörld ✓ 🚀 " * 300,
]

AGREEMENTS = [
    (ServerPerMessageDeflate(), ClientPerMessageDeflate()),
    (ServerPerMessageDeflate(server_no_context_takeover=True), ClientPerMessageDeflate()),
    (ServerPerMessageDeflate(client_no_context_takeover=True), ClientPerMessageDeflate()),
    (ServerPerMessageDeflate(),
     ClientPerMessageDeflate(server_no_context_takeover=True, client_no_context_takeover=True)),
    (ServerPerMessageDeflate(server_max_window_bits=8, client_max_window_bits=8),
     ClientPerMessageDeflate()),
    (ServerPerMessageDeflate(server_max_window_bits=None, client_max_window_bits=None),
     ClientPerMessageDeflate(client_max_window_bits=None)),
    (ServerPerMessageDeflate(min_size=0), ClientPerMessageDeflate(min_size=0)),
]  # fmt: skip


@pytest.mark.parametrize(("server", "client"), AGREEMENTS)
@pytest.mark.parametrize("chunk", [None, 1, 7, 4096])
def test_round_trips(
    server: ServerPerMessageDeflate, client: ClientPerMessageDeflate, chunk: int | None
) -> None:
    server_conn, client_conn = pair(server, client)
    payloads: list[bytes | str] = [*TEXTS, os.urandom(3000), bytes(70000), *TEXTS]
    for payload in payloads:
        message: Message = (
            TextMessage(payload) if isinstance(payload, str) else BinaryMessage(payload)
        )
        expected = payload.encode() if isinstance(payload, str) else payload
        # client -> server
        (got,) = feed_all(server_conn.stream, client_conn.send_message(message), chunk)
        assert got.data == expected and type(got) is type(message)
        # server -> client
        (got,) = feed_all(client_conn.stream, server_conn.send_message(message), chunk)
        assert got.data == expected and type(got) is type(message)
    assert not server_conn.stream.errors and not client_conn.stream.errors


def test_context_takeover_shrinks_repeated_messages() -> None:
    message = TextMessage('{"type": "update", "user": "alice", "text": "hello there"}' * 3)
    kept, _ = pair()
    reset, _ = pair(ServerPerMessageDeflate(server_no_context_takeover=True))
    first_kept, second_kept = kept.send_message(message), kept.send_message(message)
    first_reset, second_reset = reset.send_message(message), reset.send_message(message)
    assert first_kept[0] & RSV1 and second_kept[0] & RSV1
    assert len(second_kept) < len(first_kept) // 2
    assert second_reset == first_reset


@given(
    data=st.lists(st.binary(max_size=3000) | st.text(max_size=1000), min_size=1, max_size=8),
    chunk=st.integers(1, 2000),
    agreement=st.sampled_from(AGREEMENTS),
)
@settings(max_examples=60, deadline=None)
def test_round_trips_property(
    data: list[bytes | str],
    chunk: int,
    agreement: tuple[ServerPerMessageDeflate, ClientPerMessageDeflate],
) -> None:
    server_conn, client_conn = pair(*agreement)
    wire = b"".join(
        client_conn.send_message(TextMessage(d) if isinstance(d, str) else BinaryMessage(d))
        for d in data
    )
    events = feed_all(server_conn.stream, wire, chunk)
    assert [m.data for m in events] == [d.encode() if isinstance(d, str) else d for d in data]


@pytest.mark.parametrize("bits", range(8, 16))
@pytest.mark.parametrize("side", ["server", "client"])
def test_compressor_respects_the_agreed_window(bits: int, side: str) -> None:
    # Repeats at distances just beyond the window: a compressor that used a
    # larger window would reference them and a strict inflater would fail.
    block = os.urandom(1 << bits)
    data = (block + os.urandom(300) + block) * 3
    if side == "server":
        ext, _, _ = negotiate(
            ServerPerMessageDeflate(server_max_window_bits=bits),
            ClientPerMessageDeflate(),
        )
    else:
        _, ext, _ = negotiate(
            ServerPerMessageDeflate(client_max_window_bits=bits),
            ClientPerMessageDeflate(),
        )
    strict = zlib.decompressobj(-bits)
    for _ in range(3):  # several messages: the window is kept between them
        compressed = ext._deflate(data)
        assert strict.decompress(compressed + TAIL) == data


def test_window_8_round_trip_compresses_runs() -> None:
    ext = PerMessageDeflate(is_server=True, server_max_window_bits=8)
    data = b"a" * 10000 + b"b" * 10000
    rsv, compressed = ext.encode_message(BINARY, data)
    assert rsv == RSV1 and len(compressed) < 200
    assert zlib.decompressobj(-8).decompress(compressed + TAIL) == data


# --------------------------------------------------------------------------
# Sending policy
# --------------------------------------------------------------------------


def test_small_messages_are_sent_as_they_are() -> None:
    ext = PerMessageDeflate(is_server=True)
    assert ext.encode_message(TEXT, b"x" * 63) == (0, b"x" * 63)
    rsv, data = ext.encode_message(TEXT, b"x" * 64)
    assert rsv == RSV1 and len(data) < 64


def test_incompressible_messages_are_sent_as_they_are_and_the_window_reset() -> None:
    server_conn, client_conn = pair()
    noise = os.urandom(2000)
    text = b"compressible " * 100
    frames = [server_conn.send_message(BinaryMessage(p)) for p in (text, noise, text, text)]
    assert [f[0] & RSV1 for f in frames] == [RSV1, 0, RSV1, RSV1]
    assert len(frames[2]) > len(frames[3])  # fresh compressor after the noise, then shared
    events = received(client_conn, b"".join(frames))
    assert [m.data for m in events] == [text, noise, text, text]


def test_large_incompressible_message_is_probed_not_compressed() -> None:
    ext = PerMessageDeflate(is_server=True)
    noise = os.urandom(16 * 1024 * 1024)
    started = time.perf_counter()
    rsv, data = ext.encode_message(BINARY, noise)
    elapsed = time.perf_counter() - started
    assert rsv == 0 and data is noise
    assert elapsed < 0.2, f"probing 16 MiB took {elapsed:.3f}s"


def test_probe_threshold() -> None:
    ext = PerMessageDeflate(is_server=True)
    # From PROBE_SIZE on, noise is detected by the probe and sent as is.
    assert ext.encode_message(BINARY, os.urandom(PROBE_SIZE))[0] == 0
    compressible = b"abc" * (PROBE_SIZE // 3 + 1)
    assert ext.encode_message(BINARY, compressible)[0] == RSV1


def test_16_mib_compressible_message_is_fast_and_round_trips() -> None:
    server_conn, client_conn = pair()
    data = (b"The quick brown fox jumps over the lazy dog. " * 400000)[: 16 * 1024 * 1024]
    started = time.perf_counter()
    wire = server_conn.send_message(BinaryMessage(data))
    elapsed = time.perf_counter() - started
    assert wire[0] & RSV1 and len(wire) < len(data) // 100
    assert elapsed < 3, f"compressing 16 MiB took {elapsed:.2f}s"
    (msg,) = received(client_conn, wire)
    assert msg.data == data


def test_control_frames_are_never_compressed() -> None:
    server_conn, _ = pair(ServerPerMessageDeflate(min_size=0))
    assert server_conn.send_ping(b"x" * 100)[0] == 0x89
    assert server_conn.send_close(1000, "bye" * 10)[0] == 0x88
    ext = PerMessageDeflate(is_server=True, min_size=0)
    assert ext.encode_message(PING, b"x" * 100) == (0, b"x" * 100)


def test_fragments_sent_in_pieces_are_not_compressed() -> None:
    server_conn, client_conn = pair()
    wire = server_conn.send_fragment(TEXT, b"a" * 100, True, False)
    wire += server_conn.send_fragment(TEXT, b"b" * 100, False, True)
    assert wire[0] & RSV1 == 0
    (msg,) = received(client_conn, wire)
    assert msg.data == b"a" * 100 + b"b" * 100


def test_forwarding_a_received_compressed_message_does_not_carry_rsv1() -> None:
    server_conn, client_conn = pair()
    (msg,) = received(server_conn, client_conn.send_message(TextMessage("forward me " * 20)))
    assert msg.rsv == 0
    plain = Connection(client=False)  # a connection without the extension
    wire = plain.send_message(msg)
    assert wire[0] == 0x81
    again = server_conn.send_message(msg)  # and one with it: compressed afresh
    (echo,) = received(client_conn, again)
    assert echo.data == msg.data


# --------------------------------------------------------------------------
# Receiving: fragmentation, failures
# --------------------------------------------------------------------------


@pytest.mark.parametrize("pieces", [1, 2, 3, 10, 100])
@pytest.mark.parametrize("chunk", [None, 1, 5])
def test_fragmented_compressed_message(pieces: int, chunk: int | None) -> None:
    text = ("permessage-deflate ✓ " * 200).encode()
    wire = fragmented(TEXT, deflate(text), pieces)
    stream = server_stream()
    (msg,) = feed_all(stream, wire, chunk)
    assert msg.data == text and isinstance(msg, TextMessage)


def test_fragmented_with_empty_first_frame_and_interleaved_ping() -> None:
    text = b"abc" * 500
    compressed = deflate(text)
    wire = (
        frame(TEXT, b"", fin=False, rsv=RSV1)
        + frame(CONT, compressed[:10], fin=False)
        + frame(PING, b"p")
        + frame(CONT, compressed[10:], fin=True)
    )
    stream = server_stream()
    events = stream.feed(wire)
    assert [type(e).__name__ for e in events] == ["PingControlMessage", "TextMessage"]
    assert events[1].data == text


def test_rsv1_on_a_continuation_of_a_compressed_message_fails_with_1002() -> None:
    compressed = deflate(b"x" * 1000)
    wire = frame(BINARY, compressed[:5], fin=False, rsv=RSV1) + frame(
        CONT, compressed[5:], rsv=RSV1
    )
    stream = server_stream()
    assert stream.feed(wire) == []
    assert error_code(stream) == 1002


def test_rsv1_on_a_continuation_of_an_uncompressed_message_fails_with_1002() -> None:
    wire = frame(BINARY, b"abc", fin=False) + frame(CONT, deflate(b"def"), rsv=RSV1)
    stream = server_stream()
    assert stream.feed(wire) == []
    assert error_code(stream) == 1002


@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
def test_compressed_control_frame_fails_with_1002(opcode: int) -> None:
    stream = server_stream()
    payload = b"\x03\xe8" if opcode == CLOSE else deflate(b"ping")
    assert stream.feed(frame(opcode, payload, rsv=RSV1)) == []
    assert error_code(stream) == 1002


def test_decode_frame_refuses_control_frames_with_rsv1() -> None:
    ext = PerMessageDeflate(is_server=True)
    with pytest.raises(ProtocolException):
        ext.decode_frame(PING, RSV1, b"x", True, None)


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xff\xff\xff", b"\x07", b"\xfe" * 20, deflate(b"x" * 100)[:-1] + b"\xff\x13"],
)
def test_invalid_compressed_data_fails_with_1002(payload: bytes) -> None:
    stream = server_stream()
    assert stream.feed(frame(BINARY, payload, rsv=RSV1)) == []
    assert error_code(stream) == 1002


def test_reference_beyond_the_agreed_window_fails_with_1002() -> None:
    # (zlib reads back into its own output within one call, so the window
    # only shows between messages: the second one refers 2000 bytes back.)
    block = os.urandom(2000)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    first = compressor.compress(block) + compressor.flush(zlib.Z_SYNC_FLUSH)
    second = compressor.compress(block) + compressor.flush(zlib.Z_SYNC_FLUSH)
    stream = server_stream(client_max_window_bits=9)  # we inflate with 512 bytes
    (msg,) = stream.feed(frame(BINARY, first[:-4], rsv=RSV1))
    assert msg.data == block
    stream.feed(frame(BINARY, second[:-4], rsv=RSV1))
    assert error_code(stream) == 1002


@pytest.mark.parametrize("pieces", [1, 4])
def test_invalid_utf8_inside_compressed_text_fails_with_1007(pieces: int) -> None:
    bad = b"valid text " * 20 + b"\xc3\x28" + b" more" * 20
    stream = server_stream()
    assert stream.feed(fragmented(TEXT, deflate(bad), pieces)) == []
    assert error_code(stream) == 1007


def test_utf8_split_across_compressed_frames_is_fine() -> None:
    text = "€" * 1000
    stream = server_stream()
    (msg,) = stream.feed(fragmented(TEXT, deflate(text.encode()), 7))
    assert msg.data.decode() == text


def test_truncated_utf8_at_the_end_of_a_compressed_text_fails_with_1007() -> None:
    stream = server_stream()
    stream.feed(frame(TEXT, deflate("abc€".encode()[:-1]), rsv=RSV1))
    assert error_code(stream) == 1007


def test_message_exactly_at_the_limit_inflates() -> None:
    data = b"z" * 10000
    stream = server_stream(max_message_size=10000)
    (msg,) = stream.feed(frame(BINARY, deflate(data), rsv=RSV1))
    assert msg.data == data
    stream = server_stream(max_message_size=9999)
    stream.feed(frame(BINARY, deflate(data), rsv=RSV1))
    assert error_code(stream) == 1009


def test_limit_counts_every_frame_of_a_fragmented_message() -> None:
    data = b"q" * 50000
    stream = server_stream(max_message_size=40000)
    stream.feed(fragmented(BINARY, deflate(data), 20))
    assert error_code(stream) == 1009


def test_decode_frame_stops_at_max_size() -> None:
    ext = PerMessageDeflate(is_server=True)
    with pytest.raises(FrameTooLargeException):
        ext.decode_frame(BINARY, RSV1, deflate(b"\0" * 100000), True, 99999)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """256 MiB of zeros, deflated: about 256 KiB (the DEFLATE maximum is ~1032:1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    chunk = bytes(1 << 20)
    parts = [compressor.compress(chunk) for _ in range(256)]
    parts.append(compressor.flush(zlib.Z_SYNC_FLUSH))
    data = b"".join(parts)
    assert data.endswith(TAIL)
    return data[:-4]


@pytest.mark.parametrize("pieces", [1, 16])
def test_decompression_bomb_fails_with_1009_without_inflating_it(bomb: bytes, pieces: int) -> None:
    limit = 1 << 20
    assert len(bomb) < limit // 3
    wire = fragmented(BINARY, bomb, pieces)
    stream = server_stream(max_message_size=limit)
    gc.collect()
    tracemalloc.start()
    try:
        events = stream.feed(wire)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert events == [] and error_code(stream) == 1009
    # The wire bytes are already allocated; what parsing added is bounded by
    # the limit (plus the payload's unmasked copy), far from 256 MiB.
    assert peak < 4 * limit, f"peak {peak} bytes"


def test_bomb_through_a_connection_closes_with_1009(bomb: bytes) -> None:
    server_conn, _ = pair(max_message_size=1 << 20)
    assert received(server_conn, frame(BINARY, bomb, rsv=RSV1)) == []
    reply = server_conn.data_to_send()  # the failing close, queued once the events were taken
    assert reply[:2] == b"\x88" + bytes([len(reply) - 2])
    assert struct.unpack("!H", reply[2:4])[0] == 1009


def test_state_is_consistent_across_many_messages_with_takeover() -> None:
    server_conn, client_conn = pair(ServerPerMessageDeflate(min_size=0))
    sizes = itertools.cycle([1, 3, 50, 200, 7, 1000, 5000])
    for i in range(300):
        payload = (f"message {i} " * (i % 17 + 1)).encode() + os.urandom(i % 5)
        for data in split(payload, sizes):
            (msg,) = received(client_conn, server_conn.send_message(BinaryMessage(data)))
            assert msg.data == data


def test_repr_and_str() -> None:
    server_ext, client_ext, _ = negotiate()
    assert "server" in repr(server_ext) and "client" in repr(client_ext)
    assert str(client_ext) == str(server_ext)
    assert "ServerPerMessageDeflate(" in repr(ServerPerMessageDeflate())
    assert "ClientPerMessageDeflate(" in repr(ClientPerMessageDeflate())


# --------------------------------------------------------------------------
# Wiring: on by default in the WSGI application and the client
# --------------------------------------------------------------------------


def test_wsgi_application_defaults_to_permessage_deflate() -> None:
    from ws4py.server.wsgiutils import WebSocketWSGIApplication

    (factory,) = WebSocketWSGIApplication().extensions
    assert isinstance(factory, ServerPerMessageDeflate)
    assert WebSocketWSGIApplication(extensions=[]).extensions == []


def _upgrade_environ(extensions: str) -> dict[str, object]:
    return {
        "REQUEST_METHOD": "GET",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "PATH_INFO": "/",
        "HTTP_HOST": "example.com",
        "HTTP_UPGRADE": "websocket",
        "HTTP_CONNECTION": "Upgrade",
        "HTTP_SEC_WEBSOCKET_KEY": "dGhlIHNhbXBsZSBub25jZQ==",
        "HTTP_SEC_WEBSOCKET_VERSION": "13",
        "HTTP_SEC_WEBSOCKET_EXTENSIONS": extensions,
        "ws4py.socket": object(),
    }


@pytest.mark.parametrize(
    ("extensions", "negotiated"),
    [
        (None, True),
        ([], False),
        (["permessage-deflate"], True),  # classic: extension names
        (["x-unknown"], False),
        ([ServerPerMessageDeflate(server_no_context_takeover=True)], True),
    ],
)
def test_wsgi_application_negotiates(extensions: list[object] | None, negotiated: bool) -> None:
    from ws4py.server.wsgiutils import WebSocketWSGIApplication
    from ws4py.websocket import WebSocket

    created: list[list[Any]] = []

    class App(WebSocketWSGIApplication):
        def make_websocket(
            self, sock: Any, protocols: list[str], extensions: list[Any], environ: dict[str, Any]
        ) -> WebSocket:
            created.append(extensions)
            return None  # type: ignore[return-value]

    statuses: list[tuple[str, list[tuple[str, str]]]] = []
    app = App(extensions=extensions)  # type: ignore[arg-type]
    app(_upgrade_environ("permessage-deflate; client_max_window_bits"),
        lambda status, headers: statuses.append((status, headers)))  # fmt: skip
    status, headers = statuses[0]
    assert status.startswith("101")
    header = dict(headers).get("Sec-WebSocket-Extensions")
    assert (header is not None) == negotiated
    assert bool(created[0]) == negotiated
    if negotiated:
        # The handler gets the header strings (classic); the live objects come later.
        assert created[0] == [header]


@pytest.mark.parametrize(
    ("extensions", "offered"),
    [(None, 1), ([], 0), (["permessage-deflate"], 1), (["x-unknown"], 0),
     ([ClientPerMessageDeflate(client_max_window_bits=10)], 1)],
)  # fmt: skip
def test_client_defaults_to_offering_permessage_deflate(
    extensions: list[object] | None, offered: int
) -> None:
    from ws4py.client import WebSocketBaseClient

    ws = WebSocketBaseClient("ws://127.0.0.1:1/", extensions=extensions)
    try:
        assert len(ws.offered_extensions) == offered
        header = dict(ws.handshake_headers).get("Sec-WebSocket-Extensions")
        assert (header is not None) == bool(offered)
        if offered:
            assert header is not None and header.startswith("permessage-deflate")
    finally:
        if ws.sock is not None:
            ws.sock.close()
