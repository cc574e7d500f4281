"""Tests for ws4py.framing: RFC 6455 section 5 frames, built and parsed."""

from __future__ import annotations

import os
import struct
import threading

import pytest

from ws4py.exc import FrameLengthException, FrameTooLargeException, ProtocolException
from ws4py.framing import (
    KNOWN_OPCODES,
    MAX_CONTROL_PAYLOAD,
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_CONTINUATION,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
    Frame,
    Opcode,
    build_frame,
    build_header,
    check_header,
    masking_key,
)

RFC_KEY = bytes([0x37, 0xFA, 0x21, 0x3D])
HELLO = b"Hello"
RESERVED_OPCODES = [*range(0x3, 0x8), *range(0xB, 0x10)]


def _xor(data: bytes, key: bytes) -> bytes:
    """Independent reference masking (RFC 6455 section 5.3)."""
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def _finished(frame: Frame) -> None:
    """After the completing send (which returned None), the parser is exhausted."""
    with pytest.raises(StopIteration):
        frame.parser.send(b"\x00")


def parse_whole(data: bytes, rsv_allowed: int = 0) -> Frame:
    """Parse one frame fed in a single send: that send returns None, as 0.6.0's."""
    frame = Frame()
    frame.rsv_allowed = rsv_allowed
    assert frame.parser.send(data) is None
    _finished(frame)
    return frame


def parse_bytewise(data: bytes) -> Frame:
    """Feed a frame one byte at a time; the parser must finish exactly on its last byte."""
    frame = Frame()
    parser = frame.parser
    for i in range(len(data)):
        need = parser.send(data[i : i + 1])
        if need is None:
            assert i == len(data) - 1, "parser finished before the end of the frame"
            _finished(frame)
            return frame
        # Never asks for more than the frame still holds.
        assert 1 <= need <= len(data) - i - 1
    raise AssertionError("parser did not finish on the frame's last byte")


def parse_as_asked(data: bytes) -> Frame:
    """Feed exactly the number of bytes the parser yields each time (1 first, as 0.6.0)."""
    frame = Frame()
    parser = frame.parser
    pos, need = 0, 1
    while True:
        chunk = data[pos : pos + need]
        assert len(chunk) == need, "parser asked past the end of the frame"
        pos += need
        need = parser.send(chunk)
        if need is None:
            assert pos == len(data)
            _finished(frame)
            return frame


# -- RFC 6455 section 5.7 examples ----------------------------------------

RFC_EXAMPLES = [
    # (id, opcode, payload, fin, masking_key, wire bytes)
    ("unmasked-text", OPCODE_TEXT, HELLO, 1, None, bytes([0x81, 0x05]) + HELLO),
    (
        "masked-text",
        OPCODE_TEXT,
        HELLO,
        1,
        RFC_KEY,
        bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]),
    ),
    ("fragment-hel", OPCODE_TEXT, b"Hel", 0, None, bytes([0x01, 0x03, 0x48, 0x65, 0x6C])),
    ("fragment-lo", OPCODE_CONTINUATION, b"lo", 1, None, bytes([0x80, 0x02, 0x6C, 0x6F])),
    ("unmasked-ping", OPCODE_PING, HELLO, 1, None, bytes([0x89, 0x05]) + HELLO),
    (
        "masked-pong",
        OPCODE_PONG,
        HELLO,
        1,
        RFC_KEY,
        bytes([0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]),
    ),
    (
        "binary-256",
        OPCODE_BINARY,
        bytes(range(256)),
        1,
        None,
        bytes([0x82, 0x7E, 0x01, 0x00]) + bytes(range(256)),
    ),
    (
        "binary-64k",
        OPCODE_BINARY,
        bytes(i % 251 for i in range(65536)),
        1,
        None,
        bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]) + bytes(i % 251 for i in range(65536)),
    ),
]
RFC_IDS = [example[0] for example in RFC_EXAMPLES]


@pytest.mark.parametrize(
    ("name", "opcode", "payload", "fin", "key", "wire"), RFC_EXAMPLES, ids=RFC_IDS
)
def test_rfc_example_build(
    name: str, opcode: int, payload: bytes, fin: int, key: bytes | None, wire: bytes
) -> None:
    assert Frame(opcode, payload, masking_key=key, fin=fin).build() == wire
    header = build_header(opcode, len(payload), fin, 0, key)
    assert wire.startswith(header)
    body = wire[len(header) :]
    assert body == (payload if key is None else _xor(payload, key))
    if key is None:
        assert build_frame(opcode, payload, fin) == wire


@pytest.mark.parametrize(
    ("name", "opcode", "payload", "fin", "key", "wire"), RFC_EXAMPLES, ids=RFC_IDS
)
@pytest.mark.parametrize("how", ["whole", "bytewise", "as-asked"])
def test_rfc_example_parse(
    name: str, opcode: int, payload: bytes, fin: int, key: bytes | None, wire: bytes, how: str
) -> None:
    if how == "whole":
        frame = parse_whole(wire)
    elif how == "bytewise":
        frame = parse_bytewise(wire)
    else:
        frame = parse_as_asked(wire)
    assert frame.opcode == opcode
    assert frame.fin == fin
    assert (frame.rsv1, frame.rsv2, frame.rsv3) == (0, 0, 0)
    assert frame.masking_key == key
    assert frame.payload_length == len(payload)
    # ``body`` is the payload as received (still masked), unmask() reveals it.
    assert frame.body == (payload if key is None else _xor(payload, key))
    assert frame.unmask(frame.body) == payload


def test_rfc_masked_hello_unmasks() -> None:
    wire = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    frame = parse_whole(wire)
    assert frame.mask(frame.body) == b"Hello"
    assert frame.mask(b"Hello") == wire[6:]


def test_rfc_fragmented_hello_reassembles() -> None:
    wire = bytes([0x01, 0x03, 0x48, 0x65, 0x6C, 0x80, 0x02, 0x6C, 0x6F])
    first = parse_whole(wire[:5])
    assert (first.opcode, first.fin, first.body) == (OPCODE_TEXT, 0, b"Hel")
    second = parse_whole(wire[5:])
    assert (second.opcode, second.fin, second.body) == (OPCODE_CONTINUATION, 1, b"lo")
    assert (first.body + second.body).decode() == "Hello"


# -- the spec doctest --------------------------------------------------------


def test_spec_doctest() -> None:
    key = bytes([0xBE, 0x04, 0xE6, 0x6A])
    f = Frame(OPCODE_TEXT, b"hello world", masking_key=key, fin=1)
    data = f.build()
    assert data.hex() == "818bbe04e66ad6618a06d1249105cc6882"
    f = Frame()
    assert f.parser.send(data[0]) == 1  # an int, as the doctest feeds ``bytes[0]``
    assert f.parser.send(data[1]) == 4
    assert f.parser.send(data[2:6]) == 11
    assert f.parser.send(data[6:]) is None
    with pytest.raises(StopIteration):
        f.parser.send(b"more")
    assert f.unmask(f.body) == b"hello world"


@pytest.mark.parametrize("body", ["é€", bytearray(b"x"), memoryview(b"x"), None])
def test_frame_body_must_be_bytes(body: object) -> None:
    """As 0.6.0: text is encoded by the caller; a buffer could change under the frame."""
    with pytest.raises(TypeError):
        Frame(OPCODE_TEXT, body, fin=1)  # type: ignore[arg-type]


# -- lengths at the 7/16/64-bit boundaries -------------------------------------


@pytest.mark.parametrize(
    ("length", "length_bytes"),
    [
        (0, bytes([0])),
        (125, bytes([125])),
        (126, bytes([126, 0x00, 0x7E])),
        (65535, bytes([126, 0xFF, 0xFF])),
        (65536, bytes([127, 0, 0, 0, 0, 0, 1, 0, 0])),
        (2**32, bytes([127, 0, 0, 0, 1, 0, 0, 0, 0])),
        (2**63 - 1, bytes([127, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])),
    ],
)
def test_build_header_length_forms(length: int, length_bytes: bytes) -> None:
    assert build_header(OPCODE_BINARY, length) == bytes([0x82]) + length_bytes
    masked = build_header(OPCODE_BINARY, length, True, 0, b"abcd")
    assert masked == bytes([0x82, length_bytes[0] | 0x80]) + length_bytes[1:] + b"abcd"


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536])
@pytest.mark.parametrize("key", [None, b"\x01\x02\x03\x04"])
def test_boundary_lengths_round_trip(length: int, key: bytes | None) -> None:
    payload = bytes((i * 7) & 0xFF for i in range(length))
    wire = Frame(OPCODE_BINARY, payload, masking_key=key, fin=1).build()
    ext = 0 if length < 126 else 2 if length < 65536 else 8
    assert len(wire) == 2 + ext + (4 if key else 0) + length
    for frame in (parse_whole(wire), parse_as_asked(wire)):
        assert frame.payload_length == length
        assert frame.unmask(frame.body) == payload


def test_build_header_flags_and_rsv() -> None:
    assert build_header(OPCODE_TEXT, 3, fin=False) == b"\x01\x03"
    assert build_header(OPCODE_TEXT, 3, fin=True, rsv=0x40) == b"\xc1\x03"
    assert build_header(OPCODE_CONTINUATION, 0, fin=True) == b"\x80\x00"
    assert build_header(OPCODE_CLOSE, 2, fin=1) == b"\x88\x02"


def test_build_header_rejects_bad_key() -> None:
    for key in (b"", b"abc", b"abcde"):
        with pytest.raises(ValueError):
            build_header(OPCODE_TEXT, 1, True, 0, key)


def test_build_frame_unmasked_and_masked() -> None:
    assert build_frame(OPCODE_TEXT, b"abc") == b"\x81\x03abc"
    assert build_frame(OPCODE_TEXT, b"abc", fin=False) == b"\x01\x03abc"
    assert build_frame(OPCODE_BINARY, b"", rsv=0x40) == b"\xc2\x00"
    assert build_frame(OPCODE_BINARY, bytearray(b"xy")) == b"\x82\x02xy"
    masked = build_frame(OPCODE_BINARY, b"payload!", masked=True)
    assert masked[:2] == b"\x82\x88"
    key = masked[2:6]
    assert _xor(masked[6:], key) == b"payload!"
    # A fresh key every time (os.urandom): two maskings of 8 bytes differ.
    keys = {build_frame(OPCODE_BINARY, b"x", masked=True)[2:6] for _ in range(8)}
    assert len(keys) > 1


@pytest.mark.parametrize("opcode", [OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG])
@pytest.mark.parametrize("masked", [False, True])
def test_build_frame_refuses_invalid_control_frames(opcode: int, masked: bool) -> None:
    assert len(build_frame(opcode, b"x" * 125, masked=masked)) == 2 + 125 + (4 if masked else 0)
    with pytest.raises(FrameTooLargeException):
        build_frame(opcode, b"x" * 126, masked=masked)
    with pytest.raises(FrameTooLargeException):
        build_frame(opcode, b"x" * 70000, masked=masked)
    with pytest.raises(ProtocolException):
        build_frame(opcode, b"x", fin=False, masked=masked)


def test_opcode_constants() -> None:
    assert (OPCODE_CONTINUATION, OPCODE_TEXT, OPCODE_BINARY) == (0x0, 0x1, 0x2)
    assert (OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG) == (0x8, 0x9, 0xA)
    assert {int(op) for op in Opcode} == set(KNOWN_OPCODES)
    assert Opcode.TEXT == OPCODE_TEXT
    assert MAX_CONTROL_PAYLOAD == 125


# -- check_header ----------------------------------------------------------


@pytest.mark.parametrize("opcode", RESERVED_OPCODES)
def test_check_header_reserved_opcodes(opcode: int) -> None:
    with pytest.raises(ProtocolException):
        check_header(1, 0, opcode, 0, 0)
    # And through the frame parser.
    # And through the frame parser, on the first byte as 0.6.0.
    with pytest.raises(ProtocolException):
        Frame().parser.send(bytes([0x80 | opcode]))
    # build() is 0.6.0's: a reserved opcode is a ValueError.
    with pytest.raises(ValueError, match="reserved opcode"):
        Frame(opcode, b"", fin=1).build()


@pytest.mark.parametrize("opcode", sorted(KNOWN_OPCODES))
def test_check_header_known_opcodes_pass(opcode: int) -> None:
    check_header(1, 0, opcode, 0, 0)
    check_header(1, 0, opcode, 0x80, 125, expect_masking=True)
    check_header(1, 0, opcode, 0, 125, expect_masking=False)


@pytest.mark.parametrize("rsv", [0x10, 0x20, 0x40, 0x30, 0x50, 0x60, 0x70])
def test_check_header_rsv_bits(rsv: int) -> None:
    with pytest.raises(ProtocolException):
        check_header(1, rsv, OPCODE_TEXT, 0, 5)
    # Accepted when a negotiated extension claims exactly these bits ...
    check_header(1, rsv, OPCODE_TEXT, 0, 5, rsv_allowed=rsv)
    check_header(1, rsv, OPCODE_BINARY, 0, 5, rsv_allowed=0x70)
    # ... but not when it claims other bits only.
    with pytest.raises(ProtocolException):
        check_header(1, rsv, OPCODE_TEXT, 0, 5, rsv_allowed=0x70 & ~rsv)
    # Never on a control frame.
    with pytest.raises(ProtocolException):
        check_header(1, rsv, OPCODE_PING, 0, 5, rsv_allowed=0x70)


def test_frame_parser_rsv_bits() -> None:
    wire = bytes([0xC1, 0x01]) + b"x"  # fin, RSV1, text
    with pytest.raises(ProtocolException):
        Frame().parser.send(wire[:1])
    frame = parse_whole(wire, rsv_allowed=0x40)
    assert (frame.rsv1, frame.rsv2, frame.rsv3) == (1, 0, 0)
    assert frame.body == b"x"
    frame = parse_whole(bytes([0xB2, 0x00]), rsv_allowed=0x30)  # RSV2 + RSV3, binary
    assert (frame.rsv1, frame.rsv2, frame.rsv3) == (0, 1, 1)


def test_build_with_rsv_bits() -> None:
    assert Frame(OPCODE_TEXT, b"x", fin=1, rsv1=1).build() == b"\xc1\x01x"
    assert Frame(OPCODE_TEXT, b"x", fin=1, rsv2=1, rsv3=1).build() == b"\xb1\x01x"


@pytest.mark.parametrize("opcode", [OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG])
def test_check_header_control_frames(opcode: int) -> None:
    with pytest.raises(ProtocolException):
        check_header(0, 0, opcode, 0, 0)
    with pytest.raises(ProtocolException):
        check_header(1, 0, opcode, 0, 126)
    with pytest.raises(ProtocolException):
        check_header(1, 0, opcode, 0, 65536)
    check_header(1, 0, opcode, 0, 125)
    # The header is 0.6.0's and the RFC's: FrameLengthException is both.
    with pytest.raises(FrameTooLargeException):
        check_header(1, 0, opcode, 0, 126)
    # Parser: control with fin=0 fails on the first byte, one with a 16-bit
    # length on the second (FrameTooLargeException, as 0.6.0).
    with pytest.raises(ProtocolException):
        Frame().parser.send(bytes([opcode]))
    parser = Frame().parser
    assert parser.send(bytes([0x80 | opcode])) == 1
    with pytest.raises(FrameLengthException):
        parser.send(bytes([126]))
    # Frame.build() is the low-level builder: it builds them (tests of peers
    # need them); build_frame, which our senders use, refuses.
    assert Frame(opcode, b"x" * 126, fin=1).build()[:4] == bytes([0x80 | opcode, 126, 0, 126])
    assert Frame(opcode, b"x", fin=0).build() == bytes([opcode, 1]) + b"x"
    assert Frame(opcode, b"x" * 125, fin=1).build()[:2] == bytes([0x80 | opcode, 125])


def test_data_frames_may_be_large_and_fragmented() -> None:
    check_header(0, 0, OPCODE_TEXT, 0, 2**40)
    check_header(0, 0, OPCODE_CONTINUATION, 0, 126)


def test_check_header_64bit_top_bit() -> None:
    check_header(1, 0, OPCODE_BINARY, 0, 2**63 - 1)
    with pytest.raises(ProtocolException):
        check_header(1, 0, OPCODE_BINARY, 0, 2**63)
    with pytest.raises(FrameTooLargeException):
        check_header(1, 0, OPCODE_BINARY, 0, 2**64 - 1)
    wire = bytes([0x82, 0x7F]) + struct.pack("!Q", 2**63)
    with pytest.raises(FrameLengthException):
        Frame().parser.send(wire)
    # build() takes payload_length as the header's length (0.6.0): huge ones
    # without overflow, 2**63 and more refused.
    frame = Frame(OPCODE_BINARY, b"", fin=1)
    frame.payload_length = 2**63 - 1
    assert frame.build() == bytes([0x82, 0x7F]) + struct.pack("!Q", 2**63 - 1)
    for length in (2**63, 2**64, 2**80):
        frame.payload_length = length
        with pytest.raises(FrameTooLargeException):
            frame.build()


def test_check_header_masking_direction() -> None:
    # Server side: client frames MUST be masked.
    check_header(1, 0, OPCODE_TEXT, 0x80, 1, expect_masking=True)
    with pytest.raises(ProtocolException):
        check_header(1, 0, OPCODE_TEXT, 0, 1, expect_masking=True)
    # Client side: server frames MUST NOT be masked.
    check_header(1, 0, OPCODE_TEXT, 0, 1, expect_masking=False)
    with pytest.raises(ProtocolException):
        check_header(1, 0, OPCODE_TEXT, 0x80, 1, expect_masking=False)
    # None: not checked.
    check_header(1, 0, OPCODE_TEXT, 0x80, 1, expect_masking=None)
    check_header(1, 0, OPCODE_TEXT, 0, 1, expect_masking=None)
    # Control frames too.
    with pytest.raises(ProtocolException):
        check_header(1, 0, OPCODE_PING, 0, 0, expect_masking=True)
    with pytest.raises(ProtocolException):
        check_header(1, 0, OPCODE_CLOSE, 1, 2, expect_masking=False)


# -- Frame odds and ends -------------------------------------------------------


def test_frame_empty_masking_key_is_unmasked() -> None:
    assert Frame(OPCODE_TEXT, b"hi", masking_key=b"", fin=1).build() == b"\x81\x02hi"


@pytest.mark.parametrize("key", [b"abc", b"abcde", b"XXXXXX"])
def test_frame_bad_masking_key_length(key: bytes) -> None:
    frame = Frame(OPCODE_TEXT, b"hello", masking_key=key, fin=1)
    with pytest.raises(ValueError):
        frame.build()
    with pytest.raises(ValueError):
        frame.mask(b"hello")


def test_frame_build_checks() -> None:
    """0.6.0's: no opcode is a TypeError, fin other than 0/1 a ValueError."""
    with pytest.raises(TypeError):
        Frame(body=b"x", fin=1).build()
    for fin in (2, -1, 0x80):
        with pytest.raises(ValueError, match="FIN"):
            Frame(OPCODE_TEXT, b"x", fin=fin).build()


def test_frame_mask_returns_a_bytearray() -> None:
    masked = Frame(OPCODE_TEXT, b"abc", masking_key=RFC_KEY).mask(b"abc")
    assert type(masked) is bytearray and masked == _xor(b"abc", RFC_KEY)
    # Without a key the data comes back unchanged (0.6.0 raised TypeError).
    assert Frame(OPCODE_TEXT, b"abc").mask(b"abc") == bytearray(b"abc")
    assert Frame(OPCODE_TEXT, b"abc").unmask(bytearray(b"abc")) == b"abc"


def test_bytes_past_the_frame_are_not_its_body() -> None:
    first = build_frame(OPCODE_TEXT, b"one")
    frame = Frame()
    assert frame.parser.send(first + b"\x81\x00tail") is None
    assert frame.body == b"one"
    # Also when the overshoot arrives in the last piece of a split feed
    # (0.6.0 kept it in the body).
    frame = Frame()
    assert frame.parser.send(first[:3]) == 2
    assert frame.parser.send(first[3:] + b"\x81\x00tail") is None
    assert frame.body == b"one"


def test_parser_asks_for_each_part_as_0_6_0() -> None:
    wire = Frame(OPCODE_BINARY, b"z" * 300, masking_key=b"kkkk", fin=1).build()
    frame = Frame()
    assert frame.parser.send(wire[:1]) == 1  # second header byte
    assert frame.parser.send(wire[1:2]) == 2  # 16-bit length
    assert frame.payload_length == 126  # the 7-bit field, until the length arrives
    assert frame.parser.send(wire[2:3]) == 1  # ... fed one byte at a time
    assert frame.parser.send(wire[3:4]) == 4  # masking key
    assert frame.payload_length == 300
    assert frame.parser.send(wire[4:8]) == 300  # payload
    assert frame.parser.send(wire[8:108]) == 200
    assert frame.parser.send(b"") == 200  # nothing sent: asked again
    assert frame.parser.send(None) == 200  # type: ignore[arg-type]
    assert frame.parser.send(wire[108:]) is None
    with pytest.raises(StopIteration):
        frame.parser.send(b"x")
    assert frame.unmask(frame.body) == b"z" * 300
    big = build_header(OPCODE_BINARY, 70000)
    frame = Frame()
    assert frame.parser.send(big[:2]) == 8
    assert frame.parser.send(big[2:]) == 70000


def test_parser_cleanup() -> None:
    frame = Frame()
    assert frame.parser.send(b"\x81") == 1
    frame._cleanup()
    assert frame.parser.send(b"\x82") == 1  # a fresh parser
    assert frame.opcode == OPCODE_BINARY


def test_zero_length_frames() -> None:
    for wire, opcode in ((b"\x81\x00", OPCODE_TEXT), (b"\x88\x00", OPCODE_CLOSE)):
        frame = parse_whole(wire)
        assert (frame.opcode, frame.body, frame.payload_length) == (opcode, b"", 0)
    masked = Frame(OPCODE_PING, b"", masking_key=b"abcd", fin=1).build()
    assert masked == b"\x89\x80abcd"
    frame = parse_bytewise(masked)
    assert frame.masking_key == b"abcd"
    assert frame.body == b""


def test_repr() -> None:
    text = repr(Frame(OPCODE_TEXT, b"abc", masking_key=b"abcd", fin=1))
    assert "opcode=1" in text
    assert "length=3" in text
    assert "masked=True" in text


# ---------------------------------------------------------------------------
# Masking keys (drawn from os.urandom in batches)
# ---------------------------------------------------------------------------


def test_masking_keys_are_fresh_4_byte_keys() -> None:
    keys = [masking_key() for _ in range(5000)]  # several batches
    assert all(type(k) is bytes and len(k) == 4 for k in keys)
    # 5000 draws from 2**32: a repeat is a bug (odds of a chance one: about 0.3 %).
    assert len(set(keys)) >= 4999


def test_masked_frames_use_the_pooled_keys() -> None:
    frames = [build_frame(OPCODE_BINARY, b"\x00" * 8, masked=True) for _ in range(100)]
    keys = [f[2:6] for f in frames]
    assert len(set(keys)) == 100
    assert all(f[6:] == k + k for f, k in zip(frames, keys, strict=True))  # 0 xor key


def test_threads_draw_different_keys() -> None:
    got: list[list[bytes]] = []

    def draw() -> None:
        got.append([masking_key() for _ in range(200)])

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [k for keys in got for k in keys]
    assert len(set(everything)) >= len(everything) - 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
# 3.12+ warns about fork() with threads running; the child only draws keys and exits.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_does_not_reuse_its_parents_keys() -> None:
    masking_key()  # the parent has a batch in hand
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next keys, then leave at once
        try:
            os.write(write_end, b"".join(masking_key() for _ in range(8)))
        finally:
            os._exit(0)
    os.close(write_end)
    child = b""
    while len(child) < 32:
        chunk = os.read(read_end, 32)
        if not chunk:
            break
        child += chunk
    os.close(read_end)
    os.waitpid(pid, 0)
    parent = b"".join(masking_key() for _ in range(8))
    assert len(child) == 32
    assert child != parent
    assert not set(child[i : i + 4] for i in range(0, 32, 4)) & set(
        parent[i : i + 4] for i in range(0, 32, 4)
    )


def test_parser_takes_a_str_as_octets() -> None:
    """ws4py 0.6.0's own tests feed ``chr(n)``: one octet per character."""
    key = bytes([0xBE, 0x04, 0xE6, 0x6A])
    data = Frame(OPCODE_TEXT, b"hi", masking_key=key, fin=1).build()
    f = Frame()
    assert f.parser.send(chr(data[0])) == 1
    assert f.parser.send(data[1:2].decode("latin-1")) == 4
    assert f.parser.send(data[2:].decode("latin-1")) is None
    assert f.unmask(f.body) == b"hi"
    for opcode in [*range(3, 8), *range(0xB, 0x10)]:
        with pytest.raises(ProtocolException):
            Frame().parser.send(chr(0x80 | opcode))
    with pytest.raises(TypeError):
        Frame().parser.send("\u0100")  # not an octet


def test_masking_key_asks_a_replaced_os_urandom() -> None:
    """Keys come from a pool; a patched ``os.urandom`` (a test fixing the key) is asked directly."""
    from unittest import mock

    masking_key()  # the pool holds keys drawn ahead
    with mock.patch("os.urandom", return_value=b"abcd") as urandom:
        assert masking_key() == b"abcd"
        assert build_frame(OPCODE_TEXT, b"hi", masked=True) == b"\x81\x82abcd" + bytes(
            [ord("h") ^ ord("a"), ord("i") ^ ord("b")]
        )
        urandom.assert_called_with(4)
    keys = {masking_key() for _ in range(64)}
    assert b"abcd" not in keys and len(keys) > 60  # the pool again, random
