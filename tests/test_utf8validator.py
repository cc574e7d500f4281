"""Tests for ws4py.utf8validator against a reference per-byte DFA.

The reference below is the classic ws4py loop over ``UTF8VALIDATOR_DFA``
(Bjoern Hoehrmann's decoder); ``validate()`` must give exactly its answers,
call by call, whatever the chunking.
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ws4py.utf8validator import UTF8_ACCEPT, UTF8_REJECT, Utf8Validator

DFA = Utf8Validator.UTF8VALIDATOR_DFA

# The table published in the API spec (Hoehrmann's DFA), as hex.
SPEC_DFA_HEX = (
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000001010101010101010101010101010101"
    "090909090909090909090909090909090707070707070707070707070707070707070707070707070707070707070707"
    "08080202020202020202020202020202020202020202020202020202020202020a030303030303030303030303040303"
    "0b0606060508080808080808080808080001020305080701010104060101010101010101010101010101010101010101"
    "010001010101010001000101010101010102010101010102010201010101010101010101010101020101010101010101"
    "010201010101010101020101010101010101010101010103010301010101010101030101010101030103010101010101"
    "01030101010101010101010101010101"
)

Quad = tuple[bool, bool, int, int]


class ReferenceValidator:
    """The classic per-byte implementation, straight from the DFA table."""

    def __init__(self) -> None:
        self.state = UTF8_ACCEPT
        self.codepoint = 0
        self.i = 0

    def decode(self, b: int) -> int:
        kind = DFA[b]
        if self.state != UTF8_ACCEPT:
            self.codepoint = (b & 0x3F) | (self.codepoint << 6)
        else:
            self.codepoint = (0xFF >> kind) & b
        self.state = DFA[256 + (self.state << 4) + kind]
        return self.state

    def validate(self, ba: bytes) -> Quad:
        if self.state == UTF8_REJECT:
            # The classic loop got here too for any non-empty chunk (the reject
            # row of the table maps every octet to REJECT); only an *empty*
            # chunk after a rejection used to come back "valid", a quirk that
            # ws4py deliberately does not keep.
            return False, False, 0, self.i
        state = self.state
        for i, b in enumerate(ba):
            state = DFA[256 + (state << 4) + DFA[b]]
            if state == UTF8_REJECT:
                self.state = state
                self.i += i
                return False, False, i, self.i
        self.state = state
        self.i += len(ba)
        return True, state == UTF8_ACCEPT, len(ba), self.i


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]


def compare_chunks(chunks: list[bytes]) -> list[Quad]:
    """Validate chunk by chunk with both; every quad (and the state) must match."""
    ours, ref = Utf8Validator(), ReferenceValidator()
    quads = []
    for chunk in chunks:
        got, want = ours.validate(chunk), ref.validate(chunk)
        assert got == want, (chunks, chunk, got, want)
        assert ours.state == ref.state, (chunks, chunk)
        quads.append(got)
    return quads


# -- the DFA table and constants ---------------------------------------------


def test_dfa_table() -> None:
    assert len(DFA) == 400
    assert bytes(DFA).hex() == SPEC_DFA_HEX
    assert Utf8Validator.UTF8_ACCEPT == UTF8_ACCEPT == 0
    assert Utf8Validator.UTF8_REJECT == UTF8_REJECT == 1
    # Byte classes: ASCII is class 0; the reject row (state 1) rejects everything.
    assert set(DFA[:128]) == {0}
    assert all(DFA[256 + 16 + k] == UTF8_REJECT for k in range(12))


# -- decode() ------------------------------------------------------------------


@pytest.mark.parametrize(
    "char",
    [
        "\x00",
        "a",
        "\x7f",
        "\x80",
        "é",
        "\u07ff",
        "\u0800",
        "€",
        "\ud7ff",
        "\ue000",
        "\uffff",
        "\U00010000",
        "😀",
        "\U0010ffff",
    ],
)
def test_decode_code_points(char: str) -> None:
    v = Utf8Validator()
    encoded = char.encode()
    for b in encoded[:-1]:
        state = v.decode(b)
        assert state not in (UTF8_ACCEPT, UTF8_REJECT)
    assert v.decode(encoded[-1]) == UTF8_ACCEPT
    assert v.codepoint == ord(char)


def test_decode_a_string() -> None:
    text = "Hello-µ@ßöäüàá-UTF-8!! κόσμε 😀"
    v, ref = Utf8Validator(), ReferenceValidator()
    points = []
    for b in text.encode():
        state = v.decode(b)
        assert state == ref.decode(b)
        assert v.codepoint == ref.codepoint
        if state == UTF8_ACCEPT:
            points.append(v.codepoint)
    assert "".join(map(chr, points)) == text


@pytest.mark.parametrize(
    ("data", "reject_at"),
    [
        (b"\x80", 0),
        (b"\xc0\x80", 0),
        (b"\xc1\xbf", 0),
        (b"\xe0\x80\x80", 1),
        (b"\xed\xa0\x80", 1),
        (b"\xf0\x80\x80\x80", 1),
        (b"\xf4\x90\x80\x80", 1),
        (b"\xf5\x80\x80\x80", 0),
        (b"\xff", 0),
        (b"\xe2\x82\x41", 2),
    ],
)
def test_decode_rejects(data: bytes, reject_at: int) -> None:
    v = Utf8Validator()
    for i, b in enumerate(data):
        state = v.decode(b)
        if i < reject_at:
            assert state != UTF8_REJECT
        else:
            assert state == UTF8_REJECT
            break
    # Rejection is sticky.
    assert v.decode(ord("a")) == UTF8_REJECT


def test_reset() -> None:
    v = Utf8Validator()
    assert v.validate(b"ab\xff")[0] is False
    assert v.validate(b"ok") == (False, False, 0, 2)
    v.reset()
    assert (v.state, v.i, v.codepoint) == (UTF8_ACCEPT, 0, 0)
    assert v.validate(b"ok") == (True, True, 2, 2)
    assert v.validate(b"\xe2") == (True, False, 1, 3)
    v.reset()
    # An incomplete sequence is forgotten too: a lone continuation is invalid.
    assert v.validate(b"\x82\xac") == (False, False, 0, 0)
    v.reset()
    assert v.decode(0xE2) not in (UTF8_ACCEPT, UTF8_REJECT)
    v.reset()
    assert v.validate(b"a") == (True, True, 1, 1)


# -- validate() quad semantics ------------------------------------------------


def test_validate_valid_quad() -> None:
    v = Utf8Validator()
    assert v.validate(b"Hello") == (True, True, 5, 5)
    assert v.validate("κό".encode()) == (True, True, 4, 9)
    assert v.validate(b"\xf0\x9f") == (True, False, 2, 11)
    assert v.validate(b"\x98") == (True, False, 1, 12)
    assert v.validate(b"\x80!") == (True, True, 2, 14)
    assert v.validate(b"") == (True, True, 0, 14)


def test_validate_invalid_quad() -> None:
    v = Utf8Validator()
    assert v.validate(b"abc") == (True, True, 3, 3)
    # 0xff is octet 2 of this chunk, octet 5 overall.
    assert v.validate(b"de\xffgh") == (False, False, 2, 5)
    # Once invalid, always invalid, at index 0 of any later chunk.
    assert v.validate(b"xyz") == (False, False, 0, 5)


def test_validate_empty_chunk_after_rejection_stays_invalid() -> None:
    v = Utf8Validator()
    assert v.validate(b"a\xff") == (False, False, 1, 1)
    assert v.validate(b"") == (False, False, 0, 1)
    v = Utf8Validator()
    assert v.validate(b"") == (True, True, 0, 0)
    assert v.validate(b"\xe2") == (True, False, 1, 1)
    assert v.validate(b"") == (True, False, 0, 1)


def test_validate_invalid_in_later_chunk_of_a_sequence() -> None:
    v = Utf8Validator()
    assert v.validate(b"a\xf0\x90") == (True, False, 3, 3)
    # The 3rd continuation is missing: 'b' (index 1 here, 4 overall) is the offender.
    assert v.validate(b"\x80b") == (False, False, 1, 4)


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_validate_accepts_bytes_like(kind: type) -> None:
    v = Utf8Validator()
    assert v.validate(kind("é€".encode()[:3])) == (True, False, 3, 3)
    assert v.validate(kind("é€".encode()[3:])) == (True, True, 2, 5)
    assert v.validate(kind(b"\xc0")) == (False, False, 0, 5)


# -- adversarial inputs, compared with the reference ---------------------------

ADVERSARIAL = [
    b"\xc0\x80",
    b"\xc1\xbf",
    b"\xe0\x80\x80",
    b"\xe0\x9f\xbf",
    b"\xf0\x80\x80\x80",
    b"\xf0\x8f\xbf\xbf",
    b"\xed\xa0\x80",
    b"\xed\xaf\xbf",
    b"\xed\xb0\x80",
    b"\xed\xbf\xbf",
    b"\xed\xa0\x80\xed\xb0\x80",  # a surrogate pair, CESU-8 style
    b"\xf4\x90\x80\x80",
    b"\xf4\xbf\xbf\xbf",
    b"\xf5\x80\x80\x80",
    b"\xf7\xbf\xbf\xbf",
    b"\xf8\x88\x80\x80\x80",
    b"\xfc\x84\x80\x80\x80\x80",
    b"\xfe",
    b"\xff",
    b"\xfe\xfe\xff\xff",
    b"\xc2",
    b"\xe2\x82",
    b"\xf0\x9f\x98",
    b"\xc2\x41",
    b"\xe2\x82\x41",
    b"\xf0\x9f\x98\x41",
    b"\xe2\x82\xe2\x82\xac",
    b"\x80",
    b"\xbf",
    b"\x80\x80\x80",
    b"\xc2\xa9\x80",
    # valid edge cases, which must stay valid
    b"\xed\x9f\xbf",
    b"\xee\x80\x80",
    b"\xef\xbf\xbf",
    b"\xf4\x8f\xbf\xbf",
    b"\xf0\x90\x80\x80",
    b"\xe0\xa0\x80",
    b"\xc2\x80",
    b"\x00",
]


@pytest.mark.parametrize("bad", ADVERSARIAL, ids=lambda b: b.hex())
@pytest.mark.parametrize("prefix", [b"", b"ab", "κόσμε".encode()], ids=["none", "ascii", "greek"])
def test_adversarial_against_reference(bad: bytes, prefix: bytes) -> None:
    data = prefix + bad + b"tail"
    compare_chunks([data])
    compare_chunks([data[i : i + 1] for i in range(len(data))])
    for cut in range(len(data) + 1):
        compare_chunks([data[:cut], data[cut:]])
    for a in range(len(data) + 1):
        for b in range(a, len(data) + 1):
            compare_chunks([data[:a], data[a:b], data[b:]])


@pytest.mark.parametrize("bad", ADVERSARIAL, ids=lambda b: b.hex())
def test_adversarial_ending_the_chunk(bad: bytes) -> None:
    # The sequence is the very end of what was received so far: an invalid
    # prefix must be reported now, not when the next chunk arrives.
    for cut in range(1, len(bad) + 1):
        compare_chunks([b"x" + bad[:cut]])
        compare_chunks([b"x", bad[:cut]])


def test_surrogate_prefix_at_chunk_end_fails_fast() -> None:
    v = Utf8Validator()
    assert v.validate(b"ab\xed\xa0") == (False, False, 3, 3)
    v = Utf8Validator()
    assert v.validate(b"ab\xed") == (True, False, 3, 3)
    assert v.validate(b"\xbf") == (False, False, 0, 3)


def test_all_two_byte_prefixes_against_reference() -> None:
    for first in range(0x80, 0x100):
        for second in range(0x100):
            data = bytes([first, second])
            compare_chunks([data])
            compare_chunks([data[:1], data[1:]])


def test_random_bytes_against_reference() -> None:
    rng = random.Random(6455)
    alphabet = [*range(0x80, 0x100), 0x41, 0x41, 0x41]
    for _ in range(3000):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        cuts = [rng.randint(0, len(data)) for _ in range(rng.randint(0, 4))]
        compare_chunks(split_at(data, cuts))


# -- hypothesis properties ------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=64), st.lists(st.integers(min_value=0), max_size=6))
def test_property_random_bytes(data: bytes, cuts: list[int]) -> None:
    compare_chunks(split_at(data, cuts))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.lists(st.integers(min_value=0), max_size=8))
def test_property_valid_utf8_any_split(text: str, cuts: list[int]) -> None:
    encoded = text.encode("utf-8")
    quads = compare_chunks(split_at(encoded, cuts))
    assert all(q[0] for q in quads)
    assert quads[-1][1] is True
    assert quads[-1][3] == len(encoded)


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=30),
    st.binary(min_size=1, max_size=6),
    st.text(max_size=10),
    st.lists(st.integers(min_value=0), max_size=5),
)
def test_property_valid_text_with_garbage(
    before: str, garbage: bytes, after: str, cuts: list[int]
) -> None:
    data = before.encode() + garbage + after.encode()
    quads = compare_chunks(split_at(data, cuts))
    valid = True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        valid = False
    ends_complete = quads[-1][0] and quads[-1][1]
    assert ends_complete == valid


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=24), st.integers(min_value=0), st.lists(st.integers(0), max_size=4))
def test_property_decode_then_validate(data: bytes, k: int, cuts: list[int]) -> None:
    k %= len(data) + 1
    ours, ref = Utf8Validator(), ReferenceValidator()
    for b in data[:k]:
        assert ours.decode(b) == ref.decode(b)
        assert ours.codepoint == ref.codepoint
    for chunk in split_at(data[k:], cuts):
        assert ours.validate(chunk) == ref.validate(chunk)
        assert ours.state == ref.state


def test_decode_then_validate_completes_a_sequence() -> None:
    v = Utf8Validator()
    assert v.decode(0xE2) not in (UTF8_ACCEPT, UTF8_REJECT)
    # decode() does not count octets; validate() finishes the character.
    assert v.validate(b"\x82\xac!") == (True, True, 3, 3)
    v = Utf8Validator()
    v.decode(0xF0)
    assert v.validate(b"\x9f") == (True, False, 1, 1)
    assert v.validate(b"\x98\x80") == (True, True, 2, 3)
    v = Utf8Validator()
    v.decode(0xE0)
    assert v.validate(b"\x80") == (False, False, 0, 0)
