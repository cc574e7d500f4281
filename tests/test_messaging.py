"""Tests for ws4py.messaging: messages, their frames, and close payloads."""

from __future__ import annotations

import struct

import pytest

from ws4py.exc import (
    FrameTooLargeException,
    InvalidCloseCodeException,
    ProtocolException,
    TextFrameEncodingException,
)
from ws4py.framing import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
    Frame,
)
from ws4py.messaging import (
    VALID_CLOSING_CODES,
    BinaryMessage,
    CloseControlMessage,
    Message,
    PingControlMessage,
    PongControlMessage,
    TextMessage,
    close_code_allowed,
    parse_close_payload,
)

DISALLOWED_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
ALLOWED_CODES = [1000, 1001, 1002, 1003, *range(1007, 1015), 3000, 3999, 4000, 4999]


def unframe(wire: bytes) -> Frame:
    """Parse one whole frame (independently of the message under test)."""
    frame = Frame()
    assert frame.parser.send(wire) is None
    return frame


# -- construction ------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    ["héllo", b"h\xc3\xa9llo", bytearray(b"h\xc3\xa9llo"), memoryview(b"h\xc3\xa9llo")],
    ids=["str", "bytes", "bytearray", "memoryview"],
)
def test_text_message_from_any_payload(data: object) -> None:
    msg = TextMessage(data)
    assert msg.opcode == OPCODE_TEXT
    assert bytes(msg) == b"h\xc3\xa9llo"
    assert type(msg.data) is bytes
    assert len(msg) == 5  # characters, as 0.6.0 (issue #21 row 13)
    assert str(msg) == "héllo"
    assert msg.is_text
    assert not msg.is_binary


@pytest.mark.parametrize(
    "data",
    [b"\x00\xff\x10", bytearray(b"\x00\xff\x10"), memoryview(b"\x00\xff\x10")],
    ids=["bytes", "bytearray", "memoryview"],
)
def test_binary_message_from_bytes_like(data: object) -> None:
    msg = BinaryMessage(data)
    assert msg.opcode == OPCODE_BINARY
    assert bytes(msg) == b"\x00\xff\x10"
    assert len(msg) == 3
    assert msg.is_binary
    assert not msg.is_text


def test_binary_message_from_str_is_a_type_error() -> None:
    """As 0.6.0: a binary message has no encoding."""
    with pytest.raises(TypeError):
        BinaryMessage("é")
    assert BinaryMessage(b"x").encoding is None


def test_len_counts_characters_when_the_data_decodes() -> None:
    assert len(TextMessage("é")) == 1
    assert len(TextMessage("😀€")) == 2
    assert len(BinaryMessage("é".encode())) == 2  # binary: bytes
    assert len(PingControlMessage("é")) == 1  # 0.6.0 decoded control data too
    assert len(PingControlMessage(b"\xff\xfe")) == 2  # ... 0.6.0 raised here
    assert len(CloseControlMessage(1000, "é")) == 1  # the reason's characters
    assert len(CloseControlMessage(1000)) == 0
    assert bool(TextMessage("é")) and not TextMessage("") and not CloseControlMessage(1000)


def test_defaults_are_empty() -> None:
    for msg in (TextMessage(), BinaryMessage(), PingControlMessage(), PongControlMessage()):
        assert bytes(msg) == b""
        assert len(msg) == 0
    assert str(TextMessage()) == ""
    assert Message(OPCODE_BINARY).data == b""


def test_memoryview_slice_is_copied() -> None:
    source = bytearray(b"abcdef")
    msg = BinaryMessage(memoryview(source)[1:4])
    source[1:4] = b"XYZ"
    assert bytes(msg) == b"bcd"


def test_bytearray_payload_is_not_aliased() -> None:
    """The message must not share (and later mutate) the caller's bytearray."""
    source = bytearray(b"ab")
    msg = BinaryMessage(source)
    msg.extend(b"cd")
    assert bytes(msg) == b"abcd"
    assert source == bytearray(b"ab")
    source[0:1] = b"Z"
    assert bytes(msg) == b"abcd"


def test_unsupported_payload_type() -> None:
    with pytest.raises(TypeError):
        TextMessage(42)
    with pytest.raises(TypeError):
        BinaryMessage([1, 2, 3])


def test_message_encoding() -> None:
    msg = Message(OPCODE_TEXT, "é", encoding="latin-1")
    assert msg.data == b"\xe9"
    assert str(msg) == "é"
    msg.extend("è")
    assert bytes(msg) == b"\xe9\xe8"


def test_str_of_binary_never_raises() -> None:
    assert str(BinaryMessage(b"ok\xff")) == "ok\ufffd"
    with pytest.raises(UnicodeDecodeError):
        str(TextMessage(b"ok\xff"))


def test_extend() -> None:
    msg = TextMessage("abc")
    msg.extend("dé")
    msg.extend(b"f")
    msg.extend(bytearray(b"g"))
    msg.extend(memoryview(b"h"))
    msg.extend(b"")
    assert bytes(msg) == "abcdéfgh".encode()
    assert type(msg.data) is bytes  # as 0.6.0 (issue #21 row 19)
    assert str(msg) == "abcdéfgh"
    assert len(msg) == 8
    with pytest.raises(TypeError):
        msg.extend(1)
    with pytest.raises(TypeError):
        msg.extend(None)


def test_completed_flag() -> None:
    assert TextMessage("x").completed is False
    assert BinaryMessage(b"x").completed is False
    # Built locally, no frame's fin bit was seen (0.6.0: False for all).
    assert CloseControlMessage().completed is False
    assert PingControlMessage().completed is False
    assert PongControlMessage().completed is False


def test_equality_and_hash_by_identity() -> None:
    """As 0.6.0 (issue #21 row 12): messages are mutable, so identity, not value."""
    a = TextMessage("a")
    assert a == a
    assert a != TextMessage(b"a")
    assert a != "a"
    assert hash(a) == hash(a)
    assert len({a, TextMessage("a"), BinaryMessage(b"a")}) == 3
    assert {a: 1}[a] == 1


def test_repr() -> None:
    assert repr(TextMessage("abc")) == "<TextMessage opcode=1 length=3>"
    assert repr(CloseControlMessage(1001, "bye")) == "<CloseControlMessage code=1001 reason=b'bye'>"


# -- single() and fragment() ---------------------------------------------------


def test_single_unmasked() -> None:
    assert TextMessage("Hello").single() == b"\x81\x05Hello"
    assert BinaryMessage(b"\x00\x01").single() == b"\x82\x02\x00\x01"
    assert TextMessage().single() == b"\x81\x00"
    assert PingControlMessage("Hello").single() == b"\x89\x05Hello"
    assert PongControlMessage(b"Hello").single() == b"\x8a\x05Hello"
    assert BinaryMessage(b"x" * 256).single()[:4] == b"\x82\x7e\x01\x00"
    assert BinaryMessage(b"x" * 65536).single()[:10] == b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"


@pytest.mark.parametrize(
    "msg",
    [
        TextMessage("héllo wörld"),
        BinaryMessage(bytes(range(200))),
        PingControlMessage(b"p"),
        PongControlMessage(b""),
        CloseControlMessage(1000, "done"),
    ],
    ids=repr,
)
def test_single_masked(msg: Message) -> None:
    wire = msg.single(mask=True)
    assert wire[0] == 0x80 | msg.opcode
    assert wire[1] & 0x80
    frame = unframe(wire)
    assert frame.fin == 1
    assert frame.opcode == msg.opcode
    assert frame.masking_key is not None
    assert len(frame.masking_key) == 4
    assert frame.unmask(frame.body) == bytes(msg)
    unmasked = unframe(msg.single(mask=False))
    assert unmasked.masking_key is None
    assert unmasked.body == bytes(msg)


@pytest.mark.parametrize(
    ("first", "last", "first_byte"),
    [(True, False, 0x01), (False, False, 0x00), (False, True, 0x80), (True, True, 0x81)],
)
@pytest.mark.parametrize("mask", [False, True])
def test_fragment_flags(first: bool, last: bool, first_byte: int, mask: bool) -> None:
    msg = TextMessage("frag")
    wire = msg.fragment(first=first, last=last, mask=mask)
    assert wire[0] == first_byte
    assert bool(wire[1] & 0x80) == mask
    assert wire[1] & 0x7F == 4
    frame = unframe(wire)
    assert frame.unmask(frame.body) == b"frag"


def test_fragment_binary_opcode() -> None:
    msg = BinaryMessage(b"\x01\x02")
    assert msg.fragment(first=True) == b"\x02\x02\x01\x02"
    assert msg.fragment() == b"\x00\x02\x01\x02"
    assert msg.fragment(last=True) == b"\x80\x02\x01\x02"


def test_fragments_reassemble() -> None:
    parts = [TextMessage("Hel"), TextMessage(""), TextMessage("lo")]
    wires = [
        parts[0].fragment(first=True),
        parts[1].fragment(),
        parts[2].fragment(last=True),
    ]
    assert b"".join(wires) == b"\x01\x03Hel\x00\x00\x80\x02lo"


# -- close messages --------------------------------------------------------


def test_close_default() -> None:
    msg = CloseControlMessage()
    assert msg.opcode == OPCODE_CLOSE
    assert (msg.code, msg.reason) == (1000, b"")
    assert bytes(msg) == b"\x03\xe8"
    assert msg.single() == b"\x88\x02\x03\xe8"
    assert str(msg) == ""


def test_close_code_and_reason_encoding() -> None:
    msg = CloseControlMessage(1001, "going away é")
    assert bytes(msg) == struct.pack("!H", 1001) + "going away é".encode()
    assert (msg.code, msg.reason) == (1001, "going away é".encode())
    assert str(msg) == "going away é"
    assert parse_close_payload(unframe(msg.single()).body) == (1001, "going away é".encode())


@pytest.mark.parametrize("reason", ["ça".encode(), bytearray("ça".encode()), "ça"])
def test_close_reason_is_bytes(reason: str | bytes) -> None:
    """As 0.6.0 (issue #21 row 2); str or bytes-like in."""
    msg = CloseControlMessage(4000, reason)
    assert msg.reason == "ça".encode() and type(msg.reason) is bytes
    assert bytes(msg) == b"\x0f\xa0\xc3\xa7a"
    assert CloseControlMessage(4000, None).reason == b""


def test_close_1005_builds_empty_payload() -> None:
    msg = CloseControlMessage(1005)
    assert bytes(msg) == b""
    assert msg.code == 1005
    assert msg.single() == b"\x88\x00"
    assert bytes(CloseControlMessage(1005, "ignored")) == b""


@pytest.mark.parametrize(
    ("reason", "kept"),
    [
        ("a" * 200, "a" * 123),
        ("a" * 123, "a" * 123),
        ("é" * 100, "é" * 61),  # 2-byte characters: 122 bytes kept
        ("€" * 60, "€" * 41),  # 3-byte characters: 123 bytes kept
        ("😀" * 40, "😀" * 30),  # 4-byte characters: 120 bytes kept
        ("ab" + "😀" * 40, "ab" + "😀" * 30),  # 2 + 120 bytes
        ("abc" + "😀" * 40, "abc" + "😀" * 30),  # 3 + 120 = 123 bytes
    ],
    ids=["ascii", "ascii-exact", "2-byte", "3-byte", "4-byte", "mixed-2", "mixed-3"],
)
def test_close_long_reason_cut_on_character_boundary(reason: str, kept: str) -> None:
    msg = CloseControlMessage(1000, reason)
    assert len(bytes(msg)) <= 125
    assert msg.reason == kept.encode()
    assert bytes(msg) == b"\x03\xe8" + kept.encode()
    wire = msg.single()
    assert wire[1] == len(bytes(msg))
    assert parse_close_payload(bytes(msg)) == (1000, kept.encode())


# -- parse_close_payload ---------------------------------------------------


def test_parse_close_empty_is_1005() -> None:
    assert parse_close_payload(b"") == (1005, b"")
    assert parse_close_payload(bytearray()) == (1005, b"")


def test_parse_close_one_byte() -> None:
    with pytest.raises(InvalidCloseCodeException, match=r"^Payload has invalid length$") as info:
        parse_close_payload(b"\x03")
    assert info.value.code == 1002


@pytest.mark.parametrize("code", DISALLOWED_CODES)
def test_parse_close_disallowed_codes(code: int) -> None:
    assert not close_code_allowed(code)
    with pytest.raises(
        InvalidCloseCodeException, match=rf"^Invalid Closing Frame Code: {code}$"
    ) as info:
        parse_close_payload(struct.pack("!H", code))
    assert info.value.code == 1002
    with pytest.raises(ProtocolException):
        parse_close_payload(struct.pack("!H", code) + b"reason")


@pytest.mark.parametrize("code", ALLOWED_CODES)
def test_parse_close_allowed_codes(code: int) -> None:
    assert close_code_allowed(code)
    assert parse_close_payload(struct.pack("!H", code)) == (code, b"")
    payload = struct.pack("!H", code) + "raison d'être".encode()
    assert parse_close_payload(payload) == (code, "raison d'être".encode())
    assert parse_close_payload(memoryview(payload)) == (code, "raison d'être".encode())


@pytest.mark.parametrize(
    "bad_reason", [b"\xff", b"ok\xc3", b"\xed\xa0\x80", b"\xc0\x80", b"\xf4\x90\x80\x80"]
)
def test_parse_close_invalid_utf8_reason(bad_reason: bytes) -> None:
    with pytest.raises(TextFrameEncodingException) as info:
        parse_close_payload(b"\x03\xe8" + bad_reason)
    assert info.value.code == 1007


def test_close_code_allowed_table() -> None:
    expected = {1000, 1001, 1002, 1003, *range(1007, 1015), *range(3000, 5000)}
    allowed = {code for code in range(65536) if close_code_allowed(code)}
    assert allowed == expected
    assert set(VALID_CLOSING_CODES) == expected - set(range(3000, 5000))


@pytest.mark.parametrize("cls", [PingControlMessage, PongControlMessage])
def test_control_message_over_125_bytes_refuses_to_build(cls: type[Message]) -> None:
    assert cls(b"x" * 125).single()[:2] == bytes([0x80 | cls().opcode, 125])
    msg = cls(b"x" * 126)
    with pytest.raises(FrameTooLargeException):
        msg.single()
    with pytest.raises(FrameTooLargeException):
        msg.single(mask=True)


def test_ping_pong_payloads() -> None:
    ping = PingControlMessage("hi")
    pong = PongControlMessage(b"hi")
    assert (ping.opcode, bytes(ping)) == (OPCODE_PING, b"hi")
    assert (pong.opcode, bytes(pong)) == (OPCODE_PONG, b"hi")
    assert PingControlMessage(bytearray(b"\x00")).single() == b"\x89\x01\x00"
