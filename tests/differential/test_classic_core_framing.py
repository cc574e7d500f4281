"""ws4py.framing.Frame against classic ws4py 0.6.0: the parser generator's protocol and build().

Scenarios: ``differential.scenarios_core``.  Deliberate differences, each
asserted on both sides below:

* Fed in pieces that end inside the 16/64-bit length or the masking key and
  then complete it, 0.6.0 kept stale bytes (a 5-byte masking key, a body
  shifted by one); ours parses the frame the RFC describes.  Where 0.6.0 got
  the frame right, every step and attribute is the same.
* ``parser.send(data[0])`` (an ``int``, as the spec's doctest feeds on
  Python 3) is one byte; 0.6.0 raised ``TypeError`` (a Python 2 leftover).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from differential import scenarios_core as sc
from differential.harness import Differential

pytestmark = pytest.mark.timeout(300)

FIXTURE_OK = [HealthCheck.function_scoped_fixture]
KEY = b"\x37\xfa\x21\x3d"

LENGTHS = st.one_of(
    st.integers(0, 20), st.sampled_from([124, 125, 126, 127, 128, 200, 65535, 65536, 70000])
)
OPCODES = st.one_of(st.sampled_from([0x0, 0x1, 0x2, 0x8, 0x9, 0xA]), st.integers(0, 15))


@st.composite
def frames(draw: Any) -> tuple[bytes, bytes, bytes | None]:
    """``(wire, payload, key)`` for a frame that may break any header rule."""
    opcode = draw(OPCODES)
    fin = draw(st.integers(0, 1))
    rsv = draw(st.sampled_from([0, 0, 0, 0x40, 0x20, 0x10, 0x70]))
    key = draw(st.sampled_from([None, KEY, b"\x00\x00\x00\x00"]))
    length = draw(LENGTHS)
    payload = bytes(i * 7 & 0xFF for i in range(length))
    return sc.encode_frame(opcode, payload, fin, rsv, key), payload, key


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE_OK)
@given(frame=frames())
def test_parser_fed_exactly_what_it_asks(classic: Differential, frame: Any) -> None:
    """1 per header byte, 2/8 for the length, 4 for the key, the payload; None at the end."""
    wire, _, _ = frame
    classic.same(sc.frame_parse, wire, "asked")


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURE_OK)
@given(frame=frames(), junk=st.sampled_from([b"", b"\x81\x00", b"tail"]))
def test_parser_fed_the_whole_frame_at_once(classic: Differential, frame: Any, junk: bytes) -> None:
    wire, _, _ = frame
    classic.same(sc.frame_parse, wire + junk, [len(wire) + len(junk)])


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE_OK)
@given(frame=frames(), cuts=st.lists(st.integers(1, 12), min_size=1, max_size=6))
def test_parser_fed_in_any_pieces(classic: Differential, frame: Any, cuts: list[int]) -> None:
    """Ours always parses the frame; where 0.6.0 did too, everything matches."""
    wire, payload, key = frame
    ours, theirs = classic.both(sc.frame_parse, wire, cuts)
    steps = ours["steps"]
    if steps[-1] == ("raise", "StopIteration"):  # completed
        assert ours["frame"]["body"] == (sc._xor(payload, key) if key else payload)
        assert ours["frame"]["masking_key"] == key
        assert steps[-2] == ("ok", None)
    right = theirs["frame"]["body"] == ours["frame"]["body"] and (
        theirs["frame"]["masking_key"] == ours["frame"]["masking_key"]
    )
    if right:
        assert ours == theirs


def test_parser_pieces_inside_the_length_and_key(classic: Differential) -> None:
    """3 bytes, then 1: 0.6.0 kept the first length byte as the start of the key."""
    payload = bytes(range(200))
    wire = sc.encode_frame(0x2, payload, key=KEY)
    ours, theirs = classic.both(sc.frame_parse, wire, [3, 1, 4])
    assert ours["steps"] == [("init", "ok"), ("ok", 1), ("ok", 4), ("ok", 200), ("ok", None),
                             ("raise", "StopIteration")]  # fmt: skip
    assert ours["frame"]["masking_key"] == KEY
    assert ours["frame"]["body"] == wire[8:]
    assert theirs["frame"]["masking_key"] != KEY  # 0.6.0: five stale bytes
    assert theirs["frame"]["body"] != wire[8:]


def test_parser_takes_an_int_as_one_byte(classic: Differential) -> None:
    """The spec's doctest: ``f.parser.send(bytes[0])`` returns 1 (0.6.0 on Python 3: TypeError)."""
    wire = sc.encode_frame(0x1, b"hello world", key=KEY)
    ours, theirs = classic.both(sc.frame_parse_ints, wire)
    assert ours == {"steps": [("ok", 1), ("ok", 4)]}
    assert theirs == {"steps": [("raise", "TypeError"), ("raise", "StopIteration")]}


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE_OK)
@given(b0=st.integers(0, 255), b1=st.integers(0, 255))
def test_parser_takes_a_str_as_octets(classic: Differential, b0: int, b1: int) -> None:
    """0.6.0's test_invalid_opcode sends ``chr(opcode)``: each character is one octet."""
    result = classic.same(sc.frame_parse_chars, b0, b1)
    if b0 & 0x0F in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF):
        assert result["steps"] == [("raise", "ProtocolException")]


def test_parser_str_reserved_opcodes(classic: Differential) -> None:
    """The exact inputs of 0.6.0's test_invalid_opcode: 3-8 (8 unfragmented) and 10."""
    for opcode in [*range(3, 9), 10]:
        steps = classic.same(sc.frame_parse_chars, opcode, 0)["steps"]
        assert steps[0] == ("raise", "ProtocolException"), (opcode, steps)


@pytest.mark.parametrize(
    "wire",
    [
        bytes([0x82, 127]) + (1 << 63).to_bytes(8, "big"),  # 63-bit length, top bit set
        bytes([0x82, 127]) + ((1 << 64) - 1).to_bytes(8, "big"),
        bytes([0x89, 126]),  # control frame over 125 bytes
        bytes([0x88, 127]),
        bytes([0x09, 0x00]),  # fragmented control frame
        bytes([0xC1, 0x00]),  # RSV1 with no extension
        bytes([0x83, 0x00]),  # reserved opcode
        bytes([0x8F, 0x00]),
    ],
)
def test_parser_errors_where_they_arise(classic: Differential, wire: bytes) -> None:
    """ProtocolException on the first byte; FrameTooLargeException on the length."""
    result = classic.same(sc.frame_parse, wire, "asked")
    assert result["steps"][-1][0] == "raise"


BUILD = st.fixed_dictionaries(
    {
        "opcode": st.one_of(st.none(), st.integers(0, 15)),
        "body": st.binary(max_size=300),
        "masking_key": st.sampled_from([None, b"", KEY]),
        "fin": st.integers(0, 2),
        "rsv": st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(0, 1)),
        "payload_length": st.sampled_from(
            [None, None, 0, 126, 65536, (1 << 63) - 1, 1 << 63, 1 << 64]
        ),
    }
)


@settings(max_examples=80, deadline=None, suppress_health_check=FIXTURE_OK)
@given(kwargs=BUILD)
def test_build(classic: Differential, kwargs: dict[str, Any]) -> None:
    """fin not 0/1 and reserved opcodes: ValueError; 2**63 and more: FrameTooLargeException.

    Control frames with fin=0 or over 125 bytes build: ``Frame`` is the
    low-level builder (our own senders use ``build_frame``, which refuses).
    The header's length is ``payload_length``, huge ones included.
    """
    classic.same(sc.frame_build, **kwargs)


@pytest.mark.parametrize(
    "case",
    [
        {"opcode": 0x9, "body": b"x"},  # issue #21 row 11: fin defaults to 0
        {"opcode": 0x3, "body": b"x", "fin": 1},
        {"opcode": 0xB, "body": b"x", "fin": 1},
        {"opcode": 0x1, "body": b"x", "fin": 2},
        {"opcode": 0x2, "body": b"", "fin": 1, "payload_length": 1 << 63},
        {"opcode": 0x2, "body": b"", "fin": 1, "payload_length": (1 << 63) - 1},
        {"opcode": 0x8, "body": b"x" * 200, "fin": 1},
    ],
)
def test_build_rows(classic: Differential, case: dict[str, Any]) -> None:
    classic.same(sc.frame_build, **case)


@pytest.mark.parametrize("body", ["text", b"bytes", bytearray(b"buffer"), None, 5])
def test_frame_body_must_be_bytes(classic: Differential, body: Any) -> None:
    classic.same(sc.frame_init, body)


@settings(max_examples=30, deadline=None, suppress_health_check=FIXTURE_OK)
@given(key=st.binary(min_size=4, max_size=4), data=st.binary(max_size=64))
def test_mask_and_unmask(classic: Differential, key: bytes, data: bytes) -> None:
    """A bytearray, as 0.6.0 (issue #21 row 19)."""
    result = classic.same(sc.frame_mask, key, data)
    assert result["type"] == "bytearray" and result["masked"] == result["expected"]


def test_module_names_and_defaults(classic: Differential) -> None:
    classic.same(sc.framing_names)
