"""Incremental UTF-8 validation (RFC 6455 section 8.1: text must be valid UTF-8).

:class:`Utf8Validator` keeps the classic API, Bjoern Hoehrmann's DFA
("Flexible and Economical UTF-8 Decoder"), byte for byte: :meth:`decode`
runs the DFA on one octet, and :data:`Utf8Validator.UTF8VALIDATOR_DFA` is its
table.  :meth:`validate`, the bulk path, gets the very same answers from
CPython's C UTF-8 codec, which is many times faster than any per-byte loop:
the codec rejects a sequence at the first octet that makes it invalid, just
like the DFA, so failing fast on a fragment needs no Python loop.
"""

from __future__ import annotations

from codecs import utf_8_decode

from ws4py.masking import BytesLike

__all__ = ["UTF8_ACCEPT", "UTF8_REJECT", "Utf8Validator", "dfa_state"]

UTF8_ACCEPT = 0
UTF8_REJECT = 1

# fmt: off
_DFA = (
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    8, 8, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    10, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 3, 3,
    11, 6, 6, 6, 5, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8,
    0, 1, 2, 3, 5, 8, 7, 1, 1, 1, 4, 6, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1,
    1, 2, 1, 1, 1, 1, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 2, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 3, 1, 3, 1, 1, 1, 1, 1, 1,
    1, 3, 1, 1, 1, 1, 1, 3, 1, 3, 1, 1, 1, 1, 1, 1,
    1, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
)
# fmt: on


def dfa_state(data: BytesLike) -> int:
    """Run the DFA over an incomplete tail (3 bytes at most); return its state.

    Public for :mod:`ws4py.streaming`, which asks whether the tail of a text
    frame still arriving can yet become valid UTF-8 (``UTF8_REJECT`` when not).
    """
    return _dfa_scan(data)[0]


def _dfa_scan(data: BytesLike) -> tuple[int, int]:
    """Run the DFA over a few bytes (an incomplete tail).

    Returns its state and the index of the octet it rejected at (``len(data)``
    when it did not reject).
    """
    state = UTF8_ACCEPT
    for i, byte in enumerate(data):
        state = _DFA[256 + (state << 4) + _DFA[byte]]
        if state == UTF8_REJECT:
            return state, i
    return state, len(data)


class Utf8Validator:
    """Incremental UTF-8 validator with constant memory (a 3-byte tail at most)."""

    UTF8VALIDATOR_DFA = list(_DFA)
    UTF8_ACCEPT = UTF8_ACCEPT
    UTF8_REJECT = UTF8_REJECT

    def __init__(self) -> None:
        self.state = UTF8_ACCEPT
        self.codepoint = 0
        self.i = 0
        self._tail = b""

    def reset(self) -> None:
        """Start validating a new, independent byte sequence."""
        self.state = UTF8_ACCEPT
        self.codepoint = 0
        self.i = 0
        self._tail = b""

    def decode(self, b: int) -> int:
        """Eat one octet; return the DFA state (UTF8_ACCEPT, UTF8_REJECT or more-needed).

        On UTF8_ACCEPT, ``codepoint`` holds the code point just completed.
        """
        kind = _DFA[b]
        if self.state != UTF8_ACCEPT:
            self.codepoint = (b & 0x3F) | (self.codepoint << 6)
        else:
            self.codepoint = (0xFF >> kind) & b
        self.state = _DFA[256 + (self.state << 4) + kind]
        if self.state == UTF8_ACCEPT or self.state == UTF8_REJECT:
            self._tail = b""
        else:
            self._tail += bytes((b,))
        return self.state

    def validate(self, ba: BytesLike) -> tuple[bool, bool, int, int]:
        """Validate the next chunk: ``(valid, ends_on_codepoint, current_index, total_index)``.

        On failure the indexes point at the octet that made the sequence
        invalid, within this chunk and within everything validated so far.
        """
        if self.state == UTF8_REJECT:
            return False, False, 0, self.i
        tail = self._tail
        data = tail + bytes(ba) if tail else ba
        try:
            consumed = utf_8_decode(data, "strict", False)[1]
        except UnicodeDecodeError as exc:
            # An invalid continuation is reported from the sequence's start;
            # the DFA rejects at the octet itself, which ``end`` points at.
            bad = exc.end if exc.reason == "invalid continuation byte" else exc.start
            return self._reject(bad - len(tail))
        rest = bytes(data[consumed:])
        # The codec leaves some invalid prefixes pending when the chunk ends
        # on them (ED A0..ED BF, the start of an encoded surrogate); the DFA
        # rejects them at their second octet, so check the (<= 3 byte) rest.
        state, bad = _dfa_scan(rest)
        if state == UTF8_REJECT:
            return self._reject(consumed + bad - len(tail))
        self._tail = rest
        self.state = state
        self.i += len(ba)
        return True, state == UTF8_ACCEPT, len(ba), self.i

    def _reject(self, index: int) -> tuple[bool, bool, int, int]:
        """Fail at octet ``index`` of the current chunk."""
        self.state = UTF8_REJECT
        self._tail = b""
        self.i += index
        return False, False, index, self.i
