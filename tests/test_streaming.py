"""Tests for ws4py.streaming: the byte stream parser, bulk (feed) and classic (parser).

Frames are built here by hand (``make_frame``), independently of the code
under test; both ends are exercised: a server stream (``expect_masking=True``,
parses masked client frames) and a client stream (``expect_masking=False``,
parses unmasked server frames).
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets import frames as websockets_frames
from websockets import streams as websockets_streams

from ws4py.exc import FrameTooLargeException
from ws4py.extensions import Extension
from ws4py.messaging import (
    BinaryMessage,
    CloseControlMessage,
    Message,
    PingControlMessage,
    PongControlMessage,
    TextMessage,
)
from ws4py.streaming import DEFAULT_MAX_MESSAGE_SIZE, Stream

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
KIND_OPCODE = {"text": TEXT, "binary": BINARY, "ping": PING, "pong": PONG}
ALLOWED_CLOSE_CODES = [1000, 1001, 1002, 1003, *range(1007, 1015), 3000, 3999, 4000, 4999]
DISALLOWED_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
KEYS = [b"\x37\xfa\x21\x3d", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x01\x02\x03\x04"]
_key_cycle = itertools.cycle(KEYS)


def xor(data: bytes, key: bytes) -> bytes:
    n = len(data)
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def make_frame(
    opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0, key: bytes | None = None
) -> bytes:
    """An RFC 6455 frame, built independently of ws4py."""
    b0 = (0x80 if fin else 0) | rsv | opcode
    mbit = 0x80 if key is not None else 0
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        header = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        header = struct.pack("!BBQ", b0, mbit | 127, n)
    if key is None:
        return header + payload
    return header + key + xor(payload, key)


def header_len(wire: bytes) -> int:
    n = wire[1] & 0x7F
    return 2 + (2 if n == 126 else 8 if n == 127 else 0) + (4 if wire[1] & 0x80 else 0)


@dataclass
class Side:
    """One end of a connection: how to build its stream and the frames it receives."""

    name: str
    masked: bool  # whether the frames this stream receives are masked

    def stream(self, **kwargs: Any) -> Stream:
        if self.masked:  # a server: parses masked frames, sends unmasked
            return Stream(always_mask=False, expect_masking=True, **kwargs)
        return Stream(always_mask=True, expect_masking=False, **kwargs)

    def frame(self, opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0) -> bytes:
        return make_frame(opcode, payload, fin, rsv, next(_key_cycle) if self.masked else None)

    def wrong_frame(self, opcode: int, payload: bytes = b"") -> bytes:
        """A frame masked the wrong way for this side."""
        return make_frame(opcode, payload, True, 0, None if self.masked else KEYS[0])


SERVER = Side("server", True)
CLIENT = Side("client", False)


@pytest.fixture(params=[SERVER, CLIENT], ids=lambda s: s.name)
def side(request: pytest.FixtureRequest) -> Side:
    return request.param


def ev(message: Message) -> tuple[Any, ...]:
    """A comparable form of an event."""
    if isinstance(message, CloseControlMessage):
        assert type(message.reason) is bytes  # as 0.6.0 (issue #21 row 2)
        return ("close", message.code, message.reason.decode("utf-8"))
    kind = {
        TextMessage: "text",
        BinaryMessage: "binary",
        PingControlMessage: "ping",
        PongControlMessage: "pong",
    }[type(message)]
    if kind in ("text", "binary"):
        assert message.completed
    return (kind, bytes(message.data))


def feed_chunks(stream: Stream, chunks: Iterable[bytes]) -> list[tuple[Any, ...]]:
    events = []
    for chunk in chunks:
        events.extend(ev(m) for m in stream.feed(chunk))
    return events


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def split_at(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]


@dataclass
class Classic:
    """Reads results off the classic attributes, remembering what it already saw."""

    stream: Stream
    pings: int = 0
    pongs: int = 0
    closed: bool = False
    events: list[tuple[Any, ...]] = field(default_factory=list)

    def drain(self) -> list[tuple[Any, ...]]:
        new: list[tuple[Any, ...]] = []
        s = self.stream
        while s.has_message:
            msg = s.message
            assert msg is not None
            new.append(ev(msg))
            s.message = None
        new += [ev(p) for p in s.pings[self.pings :]]
        new += [ev(p) for p in s.pongs[self.pongs :]]
        self.pings, self.pongs = len(s.pings), len(s.pongs)
        if s.closing is not None and not self.closed:
            self.closed = True
            new.append(ev(s.closing))
        self.events += new
        return new


def classic_exact(stream: Stream, data: bytes) -> list[tuple[Any, ...]]:
    """Send the classic parser exactly what it asks for; return events in order."""
    reader = Classic(stream)
    parser = stream.parser
    pos, need = 0, 2
    while pos < len(data):
        assert need >= 1
        chunk = data[pos : pos + need]
        pos += len(chunk)
        need = parser.send(chunk)
        # Fed at most what it asks for, it completes at most one frame per send.
        assert len(reader.drain()) <= 1
    return reader.events


def classic_greedy(stream: Stream, chunks: Iterable[bytes]) -> dict[str, list[Any]]:
    """Send the classic parser arbitrary chunks; results per kind (order kept within a kind)."""
    parser = stream.parser
    reader = Classic(stream)
    for chunk in chunks:
        need = parser.send(chunk)
        assert isinstance(need, int)
        assert need >= 1
        reader.drain()
    return by_kind(reader.events)


def by_kind(events: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"data": [], "ping": [], "pong": [], "close": []}
    for e in events:
        out["data" if e[0] in ("text", "binary") else e[0]].append(e)
    return out


def all_ways(side: Side, data: bytes, **kwargs: Any) -> list[tuple[Any, ...]]:
    """Parse ``data`` every way; all must agree.  Returns the ordered events."""
    expected = side.stream(**kwargs).feed(data)
    events = [ev(m) for m in expected]
    assert feed_chunks(side.stream(**kwargs), bytewise(data)) == events
    assert feed_chunks(side.stream(**kwargs), split_at(data, [3, 7, 20, 100])) == events
    assert classic_exact(side.stream(**kwargs), data) == events
    assert classic_greedy(side.stream(**kwargs), [data]) == by_kind(events)
    assert classic_greedy(side.stream(**kwargs), bytewise(data)) == by_kind(events)
    return events


# -- well-formed streams ---------------------------------------------------------


def test_single_messages(side: Side) -> None:
    data = (
        side.frame(TEXT, "Hello, κόσμε 😀".encode())
        + side.frame(BINARY, bytes(range(256)))
        + side.frame(TEXT)
        + side.frame(BINARY)
    )
    assert all_ways(side, data) == [
        ("text", "Hello, κόσμε 😀".encode()),
        ("binary", bytes(range(256))),
        ("text", b""),
        ("binary", b""),
    ]


def test_message_types_and_str(side: Side) -> None:
    text, binary = side.stream().feed(side.frame(TEXT, "é".encode()) + side.frame(BINARY, b"\x00"))
    assert isinstance(text, TextMessage)
    assert text.is_text
    assert str(text) == "é"
    assert isinstance(binary, BinaryMessage)
    assert binary.is_binary
    assert bytes(binary) == b"\x00"


def test_fragmented_messages(side: Side) -> None:
    data = (
        side.frame(TEXT, b"Hel", fin=False)
        + side.frame(CONT, b"", fin=False)
        + side.frame(CONT, b"lo", fin=True)
        + side.frame(BINARY, b"\x01", fin=False)
        + side.frame(CONT, b"\x02\x03", fin=True)
    )
    assert all_ways(side, data) == [("text", b"Hello"), ("binary", b"\x01\x02\x03")]


def test_zero_byte_fragments(side: Side) -> None:
    data = (
        side.frame(TEXT, b"", fin=False)
        + side.frame(CONT, b"", fin=False)
        + side.frame(CONT, b"", fin=True)
        + side.frame(BINARY, b"", fin=False)
        + side.frame(CONT, b"x", fin=False)
        + side.frame(CONT, b"", fin=True)
    )
    assert all_ways(side, data) == [("text", b""), ("binary", b"x")]


def test_interleaved_control_frames_in_order(side: Side) -> None:
    data = (
        side.frame(TEXT, b"frag-1 ", fin=False)
        + side.frame(PING, b"ping-1")
        + side.frame(CONT, b"frag-2 ", fin=False)
        + side.frame(PONG, b"pong-1")
        + side.frame(PING, b"")
        + side.frame(CONT, b"frag-3", fin=True)
        + side.frame(PONG, b"pong-2")
    )
    assert all_ways(side, data) == [
        ("ping", b"ping-1"),
        ("pong", b"pong-1"),
        ("ping", b""),
        ("text", b"frag-1 frag-2 frag-3"),
        ("pong", b"pong-2"),
    ]


def test_close_inside_fragmented_message(side: Side) -> None:
    data = (
        side.frame(BINARY, b"part", fin=False)
        + side.frame(CLOSE, struct.pack("!H", 1001) + b"bye")
        + side.frame(CONT, b"never", fin=True)
    )
    assert all_ways(side, data) == [("close", 1001, "bye")]


@pytest.mark.parametrize("size", [16, 1024, 65536, 1 << 20], ids=["16B", "1KiB", "64KiB", "1MiB"])
@pytest.mark.parametrize("mode", ["whole", "chunks", "classic-exact", "fragmented"])
def test_payload_sizes(side: Side, size: int, mode: str) -> None:
    payload = bytes((i * 31 + 7) & 0xFF for i in range(size))
    text = ("é€😀a" * (size // 10 + 1)).encode()[:size]
    text = text.decode("utf-8", "ignore").encode()
    data = side.frame(BINARY, payload) + side.frame(TEXT, text)
    expected = [("binary", payload), ("text", text)]
    if mode == "whole":
        assert feed_chunks(side.stream(), [data]) == expected
    elif mode == "chunks":
        assert feed_chunks(side.stream(), split_at(data, range(0, len(data), 4093))) == expected
    elif mode == "classic-exact":
        assert classic_exact(side.stream(), data) == expected
    else:
        quarter = size // 4
        pieces = [payload[i * quarter : (i + 1) * quarter] for i in range(3)]
        pieces.append(payload[3 * quarter :])
        frames = [
            side.frame(BINARY if i == 0 else CONT, p, fin=i == 3) for i, p in enumerate(pieces)
        ]
        data = b"".join(frames) + side.frame(PING, b"after")
        assert feed_chunks(side.stream(), split_at(data, [1, 9, quarter, 2 * quarter + 3])) == [
            ("binary", payload),
            ("ping", b"after"),
        ]


def test_feed_accepts_bytes_like(side: Side) -> None:
    data = side.frame(TEXT, b"abc") + side.frame(BINARY, b"def")
    for kind in (bytes, bytearray, memoryview):
        stream = side.stream()
        events = feed_chunks(stream, [kind(data[:5]), kind(data[5:])])  # type: ignore[arg-type]
        assert events == [("text", b"abc"), ("binary", b"def")]


def test_feed_does_not_keep_the_callers_buffer(side: Side) -> None:
    data = side.frame(BINARY, b"0123456789" * 30)
    stream = side.stream()
    chunk = bytearray(data[:150])
    assert stream.feed(chunk) == []
    chunk[:] = b"\xee" * len(chunk)
    assert feed_chunks(stream, [data[150:]]) == [("binary", b"0123456789" * 30)]


def test_empty_feed_is_a_no_op(side: Side) -> None:
    stream = side.stream()
    assert stream.feed(b"") == []
    wire = side.frame(TEXT, b"x")
    assert stream.feed(wire[:1]) == []
    assert stream.feed(b"") == []
    assert feed_chunks(stream, [wire[1:]]) == [("text", b"x")]


# -- UTF-8 ---------------------------------------------------------------------


def test_utf8_character_split_across_fragments(side: Side) -> None:
    text = "€😀é".encode()  # e2 82 ac | f0 9f 98 80 | c3 a9
    for cut1, cut2 in itertools.combinations(range(len(text) + 1), 2):
        data = (
            side.frame(TEXT, text[:cut1], fin=False)
            + side.frame(CONT, text[cut1:cut2], fin=False)
            + side.frame(CONT, text[cut2:], fin=True)
        )
        assert feed_chunks(side.stream(), [data]) == [("text", text)]
        assert feed_chunks(side.stream(), bytewise(data)) == [("text", text)]


def is_valid_prefix(data: bytes) -> bool:
    """Whether ``data`` can be completed into valid UTF-8 (independent of ws4py)."""
    completions = [b""]
    for n in (1, 2, 3):
        completions += [bytes(c) for c in itertools.product(b"\x80\x90\xa0\xbf", repeat=n)]
    for completion in completions:
        try:
            (data + completion).decode("utf-8")
        except UnicodeDecodeError:
            continue
        return True
    return False


BAD_SEQUENCES = [
    b"\xc0\x80",
    b"\xc1",
    b"\xe0\x80",
    b"\xe0\x9f",
    b"\xed\xa0",
    b"\xed\xbf\xbf",
    b"\xf0\x80",
    b"\xf0\x8f",
    b"\xf4\x90",
    b"\xf5",
    b"\xff",
    b"\x80",
    b"\xc2\x41",
    b"\xe2\x82\x41",
    b"\xf0\x9f\x98\x41",
]


def assert_fails(stream: Stream, code: int, more: bytes = b"\x81\x00\x82\x00") -> None:
    assert [e.code for e in stream.errors] == [code]
    assert isinstance(stream.errors[0], CloseControlMessage)
    assert stream.stopped
    assert stream.feed(more) == []
    assert [e.code for e in stream.errors] == [code]


@pytest.mark.parametrize("bad", BAD_SEQUENCES, ids=lambda b: b.hex())
def test_invalid_utf8_fails_fast_in_fragments(side: Side, bad: bytes) -> None:
    """The first fragment making the text invalid fails, before the message ends."""
    stream = side.stream()
    assert stream.feed(side.frame(TEXT, "κόσμε".encode(), fin=False)) == []
    assert stream.errors == []
    assert stream.feed(side.frame(CONT, b"ok" + bad, fin=False)) == []
    assert_fails(stream, 1007)


@pytest.mark.parametrize("bad", BAD_SEQUENCES, ids=lambda b: b.hex())
def test_invalid_utf8_split_between_fragments_fails_fast(side: Side, bad: bytes) -> None:
    stream = side.stream()
    assert stream.feed(side.frame(TEXT, b"ok" + bad[:1], fin=False)) == []
    if is_valid_prefix(b"ok" + bad[:1]):
        assert stream.errors == []
        assert stream.feed(side.frame(CONT, bad[1:], fin=False)) == []
    assert_fails(stream, 1007)


@pytest.mark.parametrize("bad", BAD_SEQUENCES, ids=lambda b: b.hex())
@pytest.mark.parametrize("where", ["single", "first-fragment", "continuation"])
def test_invalid_utf8_fails_fast_inside_a_partial_frame(side: Side, bad: bytes, where: str) -> None:
    """Fed byte by byte, a frame still arriving fails on the octet that breaks the text."""
    payload = "héllo ".encode() + bad + b"x" * 300
    stream = side.stream()
    if where == "single":
        wire = side.frame(TEXT, payload)
    elif where == "first-fragment":
        wire = side.frame(TEXT, payload, fin=False)
    else:
        assert stream.feed(side.frame(TEXT, "κό".encode(), fin=False)) == []
        wire = side.frame(CONT, payload, fin=True)
    hlen = header_len(wire)
    assert stream.feed(wire[:hlen]) == []
    for k in range(1, len(payload) + 1):
        assert stream.feed(wire[hlen + k - 1 : hlen + k]) == []
        if is_valid_prefix(payload[:k]):
            assert stream.errors == [], k
        else:
            # Well before the 300 bytes of the rest of the frame arrived.
            assert k <= len("héllo ".encode()) + len(bad)
            assert_fails(stream, 1007)
            return
    raise AssertionError("invalid UTF-8 never detected")


def test_invalid_utf8_in_partial_frame_one_feed(side: Side) -> None:
    payload = b"hello \xed\xa0\x80" + b"y" * 1000
    wire = side.frame(TEXT, payload)
    stream = side.stream()
    assert stream.feed(wire[: header_len(wire) + 9]) == []
    assert_fails(stream, 1007)


def test_text_split_mid_character_inside_partial_frame_is_valid(side: Side) -> None:
    text = ("😀€é" * 50).encode()
    wire = side.frame(TEXT, text)
    assert feed_chunks(side.stream(), bytewise(wire)) == [("text", text)]


@pytest.mark.parametrize("tail", [b"\xe2\x82", b"\xf0\x9f\x98", b"\xc3", b"\xed"])
def test_truncated_text_fails_when_the_message_ends(side: Side, tail: bytes) -> None:
    payload = b"abc" + tail
    stream = side.stream()
    wire = side.frame(TEXT, payload)
    for i in range(len(wire) - 1):
        assert stream.feed(wire[i : i + 1]) == []
        assert stream.errors == []
    assert stream.feed(wire[-1:]) == []
    assert_fails(stream, 1007)
    # Fragmented: fine until the final (empty) fragment.
    stream = side.stream()
    assert stream.feed(side.frame(TEXT, payload, fin=False)) == []
    assert stream.errors == []
    assert stream.feed(side.frame(CONT, b"", fin=True)) == []
    assert_fails(stream, 1007)


def test_binary_is_not_utf8_checked(side: Side) -> None:
    data = side.frame(BINARY, b"\xff\xfe", fin=False) + side.frame(CONT, b"\xed\xa0\x80")
    assert all_ways(side, data) == [("binary", b"\xff\xfe\xed\xa0\x80")]


# -- protocol errors ----------------------------------------------------------

PREFIX = ("text", b"before")


def protocol_error_cases(side: Side) -> list[tuple[str, bytes, int]]:
    f = side.frame
    cases = [(f"opcode-{op:x}", f(op, b"x"), 1002) for op in [*range(3, 8), *range(0xB, 0x10)]]
    cases += [
        ("rsv1", f(TEXT, b"x", rsv=0x40), 1002),
        ("rsv2", f(BINARY, b"x", rsv=0x20), 1002),
        ("rsv3", f(TEXT, b"x", rsv=0x10), 1002),
        ("rsv-on-ping", f(PING, b"x", rsv=0x40), 1002),
        ("rsv-on-continuation", f(TEXT, b"x", fin=False) + f(CONT, b"y", rsv=0x40), 1002),
        ("wrong-masking-text", side.wrong_frame(TEXT, b"x"), 1002),
        ("wrong-masking-ping", side.wrong_frame(PING, b"x"), 1002),
        ("wrong-masking-close", side.wrong_frame(CLOSE, b"\x03\xe8"), 1002),
        ("continuation-first", f(CONT, b"x"), 1002),
        ("continuation-unfinished-first", f(CONT, b"x", fin=False), 1002),
        ("text-inside-fragmented", f(TEXT, b"a", fin=False) + f(TEXT, b"b"), 1002),
        ("binary-inside-fragmented", f(TEXT, b"a", fin=False) + f(BINARY, b"b"), 1002),
        (
            "binary-start-inside-fragmented",
            f(BINARY, b"a", fin=False) + f(BINARY, b"b", False),
            1002,
        ),
        ("fragmented-ping", f(PING, b"x", fin=False), 1002),
        ("fragmented-pong", f(PONG, b"", fin=False), 1002),
        ("fragmented-close", f(CLOSE, b"", fin=False), 1002),
        ("ping-126", f(PING, b"x" * 126), 1002),
        ("pong-65536", f(PONG, b"x" * 65536), 1002),
        ("close-126", f(CLOSE, b"\x03\xe8" + b"x" * 124), 1002),
        ("close-1-byte", f(CLOSE, b"\x03"), 1002),
        ("text-invalid-utf8", f(TEXT, b"abc\xff"), 1007),
        ("text-invalid-utf8-fragmented", f(TEXT, b"a", False) + f(CONT, b"\xc0\x80"), 1007),
        ("close-reason-invalid-utf8", f(CLOSE, b"\x03\xe8bad\xff"), 1007),
        ("close-reason-surrogate", f(CLOSE, b"\x03\xe8\xed\xa0\x80"), 1007),
    ]
    cases += [
        (f"close-code-{code}", f(CLOSE, struct.pack("!H", code) + b"r"), 1002)
        for code in DISALLOWED_CLOSE_CODES
    ]
    return cases


ERROR_CASE_IDS = [case[0] for case in protocol_error_cases(SERVER)]


@pytest.mark.parametrize("index", range(len(ERROR_CASE_IDS)), ids=ERROR_CASE_IDS)
@pytest.mark.parametrize("how", ["feed-whole", "feed-bytewise", "classic"])
def test_protocol_errors(side: Side, index: int, how: str) -> None:
    name, bad, code = protocol_error_cases(side)[index]
    before = side.frame(TEXT, b"before")
    after = side.frame(TEXT, b"after") + side.frame(PING, b"p")
    data = before + bad + after
    stream = side.stream()
    if how == "feed-whole":
        assert feed_chunks(stream, [data]) == [PREFIX], name
    elif how == "feed-bytewise":
        assert feed_chunks(stream, bytewise(data)) == [PREFIX], name
    else:
        events = classic_greedy(stream, [data])
        assert stream.pings == []
        if name == "close-1-byte" or name.startswith("close-code-"):
            # The classic parser reports a malformed close as 0.6.0 did: as
            # the close itself, code 1005 with the reason; feed() fails it.
            assert stream.errors == []
            assert stream.closing is not None and stream.closing.code == 1005
            assert stream.closing.reason.startswith((b"Payload has", b"Invalid Closing Frame"))
            assert stream.stopped
            assert events == {**by_kind([PREFIX]), "close": [ev(stream.closing)]}
            return
        assert events == by_kind([PREFIX]), name
        assert stream.closing is None
    assert_fails(stream, code, more=after)
    assert stream.errors[0].reason  # a human-readable reason
    assert type(stream.errors[0].reason) is bytes


@pytest.mark.parametrize("index", range(len(ERROR_CASE_IDS)), ids=ERROR_CASE_IDS)
def test_protocol_errors_not_dependent_on_chunking(side: Side, index: int) -> None:
    _, bad, code = protocol_error_cases(side)[index]
    for cut in range(1, len(bad), max(1, len(bad) // 7)):
        stream = side.stream()
        feed_chunks(stream, [bad[:cut], bad[cut:]])
        assert [e.code for e in stream.errors] == [code]


def test_control_too_large_fails_from_its_header(side: Side) -> None:
    wire = side.frame(PING, b"x" * 126)
    stream = side.stream()
    assert stream.feed(wire[: header_len(wire)]) == []
    assert_fails(stream, 1002)


def test_64bit_length_with_top_bit(side: Side) -> None:
    header = bytes([0x82, 0x7F | (0x80 if side.masked else 0)]) + struct.pack("!Q", 1 << 63)
    stream = side.stream(max_message_size=None)
    assert stream.feed(header + (KEYS[0] if side.masked else b"")) == []
    assert_fails(stream, 1002)


def test_error_keeps_messages_completed_in_the_same_feed(side: Side) -> None:
    data = (
        side.frame(PING, b"1")
        + side.frame(TEXT, b"2")
        + side.frame(BINARY, b"3", fin=False)
        + side.frame(CONT, b"4")
        + side.frame(PONG, b"5")
        + side.frame(0x3, b"bad")
        + side.frame(TEXT, b"6")
    )
    assert feed_chunks(side.stream(), [data]) == [
        ("ping", b"1"),
        ("text", b"2"),
        ("binary", b"34"),
        ("pong", b"5"),
    ]


# -- extensions and RSV bits ----------------------------------------------------


class _ClaimsRsv1(Extension):
    name = "x-test"
    rsv_mask = 0x40


def test_rsv_bits_claimed_by_an_extension(side: Side) -> None:
    data = side.frame(BINARY, b"abc", rsv=0x40) + side.frame(TEXT, "é".encode(), rsv=0x40)
    stream = side.stream(extensions=[_ClaimsRsv1()])
    assert feed_chunks(stream, [data]) == [("binary", b"abc"), ("text", "é".encode())]
    assert stream.errors == []
    stream = side.stream(extensions=[_ClaimsRsv1()])
    assert stream.feed(side.frame(BINARY, b"abc", rsv=0x20)) == []
    assert_fails(stream, 1002)
    stream = side.stream(extensions=[_ClaimsRsv1()])
    assert stream.feed(side.frame(PING, b"abc", rsv=0x40)) == []
    assert_fails(stream, 1002)


# -- message size limit --------------------------------------------------------


def test_max_message_size_from_the_header(side: Side) -> None:
    stream = side.stream(max_message_size=100)
    wire = side.frame(BINARY, b"x" * 101)
    assert stream.feed(wire[: header_len(wire)]) == []
    assert_fails(stream, 1009)


def test_max_message_size_exact_fits(side: Side) -> None:
    stream = side.stream(max_message_size=100)
    data = side.frame(BINARY, b"x" * 100) + side.frame(TEXT, b"y" * 100)
    assert feed_chunks(stream, [data]) == [("binary", b"x" * 100), ("text", b"y" * 100)]
    assert stream.errors == []


def test_max_message_size_fragments_sum(side: Side) -> None:
    stream = side.stream(max_message_size=100)
    ok = (
        side.frame(TEXT, b"a" * 60, fin=False)
        + side.frame(PING, b"p" * 120)  # control frames do not count
        + side.frame(CONT, b"b" * 40)
    )
    assert feed_chunks(stream, [ok]) == [("ping", b"p" * 120), ("text", b"a" * 60 + b"b" * 40)]
    assert stream.feed(side.frame(BINARY, b"c" * 60, fin=False)) == []
    second = side.frame(CONT, b"d" * 41)
    assert stream.feed(second[: header_len(second)]) == []
    assert_fails(stream, 1009)


def test_max_message_size_many_small_fragments(side: Side) -> None:
    stream = side.stream(max_message_size=10)
    data = b"".join(side.frame(TEXT if i == 0 else CONT, b"ab", fin=False) for i in range(5))
    assert stream.feed(data) == []
    assert stream.errors == []
    assert feed_chunks(stream, [side.frame(CONT, b"", fin=True)]) == [("text", b"ab" * 5)]
    stream = side.stream(max_message_size=10)
    assert stream.feed(data + side.frame(CONT, b"a", fin=True)) == []
    assert_fails(stream, 1009)


def test_default_max_message_size(side: Side) -> None:
    stream = side.stream()
    assert stream.max_message_size == DEFAULT_MAX_MESSAGE_SIZE
    # Just the header of a frame announcing DEFAULT_MAX_MESSAGE_SIZE + 1 bytes.
    mbit = 0x80 if side.masked else 0
    announce = struct.pack("!BBQ", 0x82, 127 | mbit, DEFAULT_MAX_MESSAGE_SIZE + 1)
    assert stream.feed(announce + (KEYS[1] if side.masked else b"")) == []
    assert_fails(stream, 1009)


def test_max_message_size_none_is_unlimited(side: Side) -> None:
    stream = side.stream(max_message_size=None)
    announce = struct.pack("!BBQ", 0x82, 127 | (0x80 if side.masked else 0), 1 << 40)
    assert stream.feed(announce + (KEYS[0] if side.masked else b"")) == []
    assert stream.errors == []
    assert not stream.stopped
    payload = b"z" * (2 << 20)
    stream = side.stream(max_message_size=None)
    data = side.frame(BINARY, payload[:1000], fin=False) + side.frame(CONT, payload[1000:])
    assert feed_chunks(stream, [data]) == [("binary", payload)]


# -- close -------------------------------------------------------------------


def test_close_stops_parsing(side: Side) -> None:
    data = (
        side.frame(TEXT, b"first")
        + side.frame(CLOSE, struct.pack("!H", 1000) + b"au revoir")
        + side.frame(TEXT, b"ignored")
    )
    stream = side.stream()
    assert feed_chunks(stream, [data]) == [("text", b"first"), ("close", 1000, "au revoir")]
    assert stream.closing is not None
    assert (stream.closing.code, stream.closing.reason) == (1000, b"au revoir")
    assert stream.stopped
    assert stream.errors == []
    assert stream.feed(side.frame(TEXT, b"later")) == []


def test_empty_close_is_1005(side: Side) -> None:
    stream = side.stream()
    assert feed_chunks(stream, [side.frame(CLOSE)]) == [("close", 1005, "")]
    assert stream.closing is not None
    assert stream.closing.code == 1005
    assert stream.errors == []


@pytest.mark.parametrize("code", ALLOWED_CLOSE_CODES)
def test_allowed_close_codes(side: Side, code: int) -> None:
    data = side.frame(CLOSE, struct.pack("!H", code) + "ça va".encode())
    assert all_ways(side, data) == [("close", code, "ça va")]


def test_close_classic_attribute(side: Side) -> None:
    stream = side.stream()
    stream.parser.send(side.frame(CLOSE, struct.pack("!H", 4001)))
    assert stream.closing is not None
    assert (stream.closing.code, stream.closing.reason) == (4001, b"")
    assert not stream.has_message


# -- the classic attributes ------------------------------------------------------


def test_classic_doctest_flow(side: Side) -> None:
    wire = side.frame(TEXT, b"hello")
    s = side.stream()
    s.parser.send(wire[:3])
    assert s.has_messages is False
    s.parser.send(wire[3:])
    assert s.has_messages is True
    assert isinstance(s.message, TextMessage)
    assert bytes(s.message) == b"hello"


def test_classic_parser_yields_what_it_needs(side: Side) -> None:
    s = side.stream()
    wire = side.frame(BINARY, b"x" * 300)
    # What 0.6.0 asked for: each header byte, the length, the key, the payload.
    assert s.parser.send(wire[:1]) == 1
    assert s.parser.send(wire[1:2]) == 2  # 16-bit length
    assert s.parser.send(wire[2:3]) == 1
    if side.masked:
        assert s.parser.send(wire[3:4]) == 4  # masking key
        assert s.parser.send(wire[4:6]) == 2
        hlen = 8
        assert s.parser.send(wire[6:8]) == 300
    else:
        hlen = 4
        assert s.parser.send(wire[3:4]) == 300
    assert s.parser.send(wire[hlen : hlen + 100]) == 200
    assert s.parser.send(b"") == 200
    assert s.parser.send(wire[hlen + 100 :]) == 1  # the next frame's first byte
    assert s.has_message
    assert bytes(s.message) == b"x" * 300  # type: ignore[arg-type]


def test_classic_message_queue(side: Side) -> None:
    s = side.stream()
    s.parser.send(side.frame(TEXT, b"one") + side.frame(BINARY, b"two") + side.frame(TEXT, b"3"))
    assert s.has_message and s.has_messages
    seen = []
    while s.has_message:
        assert s.message is not None
        seen.append(bytes(s.message))
        s.message = None
    assert seen == [b"one", b"two", b"3"]
    assert s.message is None
    assert not s.has_messages


def test_classic_message_in_progress(side: Side) -> None:
    s = side.stream()
    s.parser.send(side.frame(TEXT, b"Hel", fin=False))
    assert not s.has_message
    in_progress = s.message
    assert isinstance(in_progress, TextMessage)
    assert in_progress.completed is False
    assert bytes(in_progress) == b"Hel"
    s.parser.send(side.frame(CONT, b"lo", fin=True))
    assert s.has_message
    assert s.message is in_progress
    assert in_progress.completed is True
    assert bytes(in_progress) == b"Hello"
    s.message = None
    assert s.message is None


def test_classic_pings_pongs_errors(side: Side) -> None:
    s = side.stream()
    s.parser.send(side.frame(PING, b"a") + side.frame(PONG, b"b") + side.frame(PING, b"c"))
    assert [bytes(p) for p in s.pings] == [b"a", b"c"]
    assert [bytes(p) for p in s.pongs] == [b"b"]
    assert all(isinstance(p, PingControlMessage) for p in s.pings)
    assert all(isinstance(p, PongControlMessage) for p in s.pongs)
    assert s.errors == []
    s.parser.send(side.frame(TEXT, b"\xff"))
    assert [e.code for e in s.errors] == [1007]
    assert isinstance(s.errors[0], CloseControlMessage)
    s.parser.send(side.frame(PING, b"d"))
    assert len(s.pings) == 2


def test_classic_and_feed_share_state(side: Side) -> None:
    s = side.stream()
    s.parser.send(side.frame(TEXT, b"ab", fin=False))
    assert feed_chunks(s, [side.frame(CONT, b"cd")]) == [("text", b"abcd")]


# -- builders ----------------------------------------------------------------


@pytest.mark.parametrize("always_mask", [True, False])
def test_builders_are_parsed_by_the_peer(always_mask: bool) -> None:
    me = Stream(always_mask=always_mask, expect_masking=not always_mask)
    peer = Stream(expect_masking=always_mask)
    wires = [
        me.ping("ping data"),
        me.pong(b"pong data"),
        me.ping(),
        me.text_message("texte é").single(mask=me.always_mask),
        me.binary_message(b"\x00\x01").single(mask=me.always_mask),
        me.close(1001, "going away").single(mask=me.always_mask),
    ]
    for wire in wires:
        assert bool(wire[1] & 0x80) == always_mask
    assert feed_chunks(peer, [b"".join(wires)]) == [
        ("ping", b"ping data"),
        ("pong", b"pong data"),
        ("ping", b""),
        ("text", "texte é".encode()),
        ("binary", b"\x00\x01"),
        ("close", 1001, "going away"),
    ]
    assert peer.closing is not None
    assert peer.closing.code == 1001


@pytest.mark.parametrize("always_mask", [True, False])
def test_close_builder_variants(always_mask: bool) -> None:
    me = Stream(always_mask=always_mask)
    peer = Stream(expect_masking=always_mask)
    mask = always_mask
    assert feed_chunks(peer, [me.close().single(mask=mask)]) == [("close", 1000, "")]
    assert peer.closing is not None and peer.closing.code == 1000
    peer = Stream(expect_masking=always_mask)
    peer.feed(me.close(1005).single(mask=mask))
    assert peer.closing is not None and peer.closing.code == 1005
    peer = Stream(expect_masking=always_mask)
    peer.feed(me.close(4000, "ü" * 100).single(mask=mask))
    assert peer.closing is not None
    assert peer.closing.reason == "ü".encode() * 61
    peer = Stream(expect_masking=always_mask)
    close = me.close(1000, b"bytes reason")
    assert feed_chunks(peer, [close.single(mask=mask)]) == [("close", 1000, "bytes reason")]
    if not always_mask:
        assert close.single() == b"\x88\x0e\x03\xe8bytes reason"


def test_builder_message_types() -> None:
    s = Stream()
    assert isinstance(s.text_message("x"), TextMessage)
    assert isinstance(s.binary_message(b"x"), BinaryMessage)
    assert s.ping(b"abc") == b"\x89\x03abc"
    assert s.pong("abc") == b"\x8a\x03abc"
    close = s.close(1000, "")
    assert isinstance(close, CloseControlMessage)  # as 0.6.0 (issue #21 row 3)
    assert (close.code, close.reason) == (1000, b"")
    assert close.single() == b"\x88\x02\x03\xe8"
    assert Stream(always_mask=True).close(1001, "x").single(mask=True)[1] == 0x83


def test_defaults_are_a_server_stream() -> None:
    s = Stream()
    assert s.always_mask is False
    assert s.expect_masking is True
    assert s.feed(make_frame(TEXT, b"x")) == []  # unmasked: a protocol error on a server
    assert [e.code for e in s.errors] == [1002]


def test_control_builders_refuse_more_than_125_bytes() -> None:
    s = Stream(always_mask=True)
    assert len(s.ping("y" * 125)) == 2 + 4 + 125
    with pytest.raises(FrameTooLargeException):
        s.ping("y" * 126)
    with pytest.raises(FrameTooLargeException):
        s.pong(b"y" * 200)


def test_release_forgets_the_message_in_progress(side: Side) -> None:
    s = side.stream(max_message_size=100)
    assert s.feed(side.frame(BINARY, b"a" * 60, fin=False)) == []
    s.release()
    # The dropped message's size must not count against the next one.
    assert feed_chunks(s, [side.frame(BINARY, b"b" * 50)]) == [("binary", b"b" * 50)]
    assert s.errors == []


def test_release(side: Side) -> None:
    s = side.stream()
    s.parser.send(
        side.frame(PING, b"x") + side.frame(TEXT, b"a") + side.frame(TEXT, b"b", fin=False)
    )
    s.release()
    assert not s.has_message
    assert s.message is None
    assert s.pings == []


# -- hypothesis: any messages, any fragmentation, any chunking -------------------


@st.composite
def scripts(draw: st.DrawFn, masked: bool) -> tuple[bytes, list[tuple[Any, ...]]]:
    keys = st.binary(min_size=4, max_size=4) if masked else st.none()
    frames: list[bytes] = []
    expected: list[tuple[Any, ...]] = []

    def add(opcode: int, payload: bytes, fin: bool = True) -> None:
        frames.append(make_frame(opcode, payload, fin, 0, draw(keys)))

    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["text", "binary", "ping", "pong"]))
        if kind in ("ping", "pong"):
            payload = draw(st.binary(max_size=125))
            add(KIND_OPCODE[kind], payload)
            expected.append((kind, payload))
            continue
        if kind == "text":
            payload = draw(st.text(max_size=60)).encode()
        else:
            payload = draw(st.binary(max_size=300))
        pieces = split_at(payload, draw(st.lists(st.integers(0, len(payload)), max_size=4)))
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            add(KIND_OPCODE[kind] if i == 0 else CONT, piece, last)
            if not last and draw(st.booleans()):
                control = draw(st.sampled_from(["ping", "pong"]))
                control_payload = draw(st.binary(max_size=20))
                add(KIND_OPCODE[control], control_payload)
                expected.append((control, control_payload))
        expected.append((kind, payload))
    ending = draw(st.sampled_from(["none", "close", "empty-close"]))
    if ending == "close":
        code = draw(st.sampled_from(ALLOWED_CLOSE_CODES))
        reason = draw(st.text(max_size=25))
        add(CLOSE, struct.pack("!H", code) + reason.encode())
        expected.append(("close", code, reason))
    elif ending == "empty-close":
        add(CLOSE, b"")
        expected.append(("close", 1005, ""))
    if ending != "none" and draw(st.booleans()):
        add(TEXT, b"after the close: ignored")
    return b"".join(frames), expected


chunkings = st.one_of(st.just("1-byte"), st.lists(st.integers(min_value=0), max_size=12))


@pytest.mark.parametrize("side_", [SERVER, CLIENT], ids=["server", "client"])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_property_round_trip(side_: Side, data: st.DataObject) -> None:
    wire, expected = data.draw(scripts(side_.masked))
    how = data.draw(chunkings)
    chunks = bytewise(wire) if how == "1-byte" else split_at(wire, how)

    assert feed_chunks(side_.stream(), [wire]) == expected
    assert feed_chunks(side_.stream(), chunks) == expected
    assert classic_exact(side_.stream(), wire) == expected
    assert classic_greedy(side_.stream(), chunks) == by_kind(expected)
    stream = side_.stream()
    feed_chunks(stream, chunks)
    assert stream.errors == []
    assert stream.stopped == any(e[0] == "close" for e in expected)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200), st.lists(st.integers(min_value=0), max_size=8))
def test_property_garbage_never_raises(garbage: bytes, cuts: list[int]) -> None:
    """Arbitrary bytes never raise out of feed(); parsing just stops on an error."""
    for masked in (True, False):
        whole = Stream(expect_masking=masked)
        events = [ev(m) for m in whole.feed(garbage)]
        split = Stream(expect_masking=masked)
        assert feed_chunks(split, split_at(garbage, cuts)) == events
        assert [e.code for e in split.errors] == [e.code for e in whole.errors]
        assert len(whole.errors) <= 1
        assert all(e.code in (1002, 1007, 1009) for e in whole.errors)


# -- interop with the websockets library's sans-I/O frames -----------------------

WSFrame = websockets_frames.Frame
WSOpcode = websockets_frames.Opcode
WSClose = websockets_frames.Close


def ws_serialize(opcode: Any, payload: bytes, fin: bool, mask: bool) -> bytes:
    return bytes(WSFrame(opcode, payload, fin=fin).serialize(mask=mask, extensions=[]))


def _ws_at_eof(reader: Any) -> bool:
    """Run websockets' generator-based ``at_eof()`` (it cannot block after feed_eof())."""
    try:
        next(reader.at_eof())
    except StopIteration as stop:
        return bool(stop.value)
    raise AssertionError("at_eof() blocked after feed_eof()")


def ws_parse_all(data: bytes, mask: bool) -> list[Any]:
    """Parse every frame in ``data`` with websockets' parser."""
    reader = websockets_streams.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames = []
    while not _ws_at_eof(reader):
        parser = WSFrame.parse(reader.read_exact, mask=mask, max_size=None, extensions=[])
        try:
            next(parser)
        except StopIteration as stop:
            frames.append(stop.value)
        else:
            raise AssertionError("websockets wanted more bytes")
    return frames


def test_websockets_frames_parsed_by_ws4py(side: Side) -> None:
    mask = side.masked  # frames a server receives are masked
    text = "Interop ✓ 😀".encode()
    data = (
        ws_serialize(WSOpcode.TEXT, text[:5], False, mask)
        + ws_serialize(WSOpcode.PING, b"are you there", True, mask)
        + ws_serialize(WSOpcode.CONT, text[5:], True, mask)
        + ws_serialize(WSOpcode.BINARY, bytes(range(256)) * 300, True, mask)
        + ws_serialize(WSOpcode.PONG, b"", True, mask)
        + ws_serialize(WSOpcode.CLOSE, WSClose(1001, "bye").serialize(), True, mask)
    )
    assert all_ways(side, data) == [
        ("ping", b"are you there"),
        ("text", text),
        ("binary", bytes(range(256)) * 300),
        ("pong", b""),
        ("close", 1001, "bye"),
    ]


@pytest.mark.parametrize("always_mask", [True, False])
def test_ws4py_frames_parsed_by_websockets(always_mask: bool) -> None:
    me = Stream(always_mask=always_mask, expect_masking=not always_mask)
    text = TextMessage("Interop ✓ 😀")
    big = BinaryMessage(bytes(range(256)) * 300)
    data = (
        TextMessage("Inter").fragment(first=True, mask=always_mask)
        + me.ping("hi")
        + TextMessage("op ✓ 😀").fragment(last=True, mask=always_mask)
        + big.single(mask=always_mask)
        + me.pong()
        + me.close(1000, "done").single(mask=me.always_mask)
    )
    frames = ws_parse_all(data, mask=always_mask)
    got = [(f.opcode, f.fin, bytes(f.data)) for f in frames]
    assert got == [
        (WSOpcode.TEXT, False, b"Inter"),
        (WSOpcode.PING, True, b"hi"),
        (WSOpcode.CONT, True, "op ✓ 😀".encode()),
        (WSOpcode.BINARY, True, bytes(big)),
        (WSOpcode.PONG, True, b""),
        (WSOpcode.CLOSE, True, b"\x03\xe8done"),
    ]
    assert b"".join(bytes(f.data) for f in frames[0:3:2]) == bytes(text)
    close = WSClose.parse(frames[-1].data)
    assert (close.code, close.reason) == (1000, "done")


@pytest.mark.parametrize("side_", [SERVER, CLIENT], ids=["server", "client"])
@settings(max_examples=60, deadline=None)
@given(
    messages=st.lists(
        st.tuples(st.booleans(), st.binary(max_size=400), st.lists(st.integers(0), max_size=3)),
        max_size=5,
    ),
    cuts=st.lists(st.integers(min_value=0), max_size=10),
)
def test_property_websockets_interop(
    side_: Side, messages: list[tuple[bool, bytes, list[int]]], cuts: list[int]
) -> None:
    wire = b""
    expected = []
    for is_text, raw, frag_cuts in messages:
        payload = raw.decode("latin-1").encode() if is_text else raw
        pieces = split_at(payload, frag_cuts)
        opcode = WSOpcode.TEXT if is_text else WSOpcode.BINARY
        for i, piece in enumerate(pieces):
            wire += ws_serialize(
                opcode if i == 0 else WSOpcode.CONT, piece, i == len(pieces) - 1, side_.masked
            )
        expected.append(("text" if is_text else "binary", payload))
    assert feed_chunks(side_.stream(), split_at(wire, cuts)) == expected
    # And the other way: ws4py's frames, parsed by websockets.
    ours = b"".join(
        (TextMessage(p) if k == "text" else BinaryMessage(p)).single(mask=side_.masked)
        for k, p in expected
    )
    assert [bytes(f.data) for f in ws_parse_all(ours, mask=side_.masked)] == [
        p for _, p in expected
    ]
