"""RFC 6455 section 5: the frame format, in one place.

Every rule about a frame header (opcodes, RSV bits, masking direction,
control-frame limits, the 63-bit length) lives in :func:`check_header`, and
every header is built by :func:`build_header`; :class:`Frame` (the classic
per-frame API) and :class:`ws4py.streaming.Stream` (the bulk parser) both
call them, so the two can never disagree.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Generator
from enum import IntEnum

from ws4py.exc import FrameTooLargeException, ProtocolException
from ws4py.masking import BytesLike, mask

__all__ = [
    "OPCODE_BINARY",
    "OPCODE_CLOSE",
    "OPCODE_CONTINUATION",
    "OPCODE_PING",
    "OPCODE_PONG",
    "OPCODE_TEXT",
    "Frame",
    "Opcode",
    "build_frame",
    "build_header",
    "check_header",
]


class Opcode(IntEnum):
    """Frame opcodes (RFC 6455 section 5.2); 0x3-0x7 and 0xB-0xF are reserved."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


OPCODE_CONTINUATION = 0x0
OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
OPCODE_CLOSE = 0x8
OPCODE_PING = 0x9
OPCODE_PONG = 0xA

#: Opcodes defined by RFC 6455; anything else is reserved (a protocol error).
KNOWN_OPCODES = frozenset({0x0, 0x1, 0x2, 0x8, 0x9, 0xA})

#: "All control frames MUST have a payload length of 125 bytes or less" (5.5).
MAX_CONTROL_PAYLOAD = 125

_PACK_2 = struct.Struct("!BB").pack
_PACK_4 = struct.Struct("!BBH").pack
_PACK_10 = struct.Struct("!BBQ").pack
UNPACK_16 = struct.Struct("!H").unpack_from
UNPACK_64 = struct.Struct("!Q").unpack_from


def check_header(
    fin: int,
    rsv: int,
    opcode: int,
    masked: int,
    length: int,
    rsv_allowed: int = 0,
    expect_masking: bool | None = None,
) -> None:
    """Raise :class:`ProtocolException` if a frame header breaks RFC 6455.

    ``rsv`` is the first byte masked with 0x70; ``rsv_allowed`` holds the bits
    that negotiated extensions claim (section 5.2: "MUST be 0 unless an
    extension is negotiated that defines meanings for non-zero values").
    ``expect_masking`` is True on a server (client frames MUST be masked,
    5.1), False on a client (server frames MUST NOT be), None to not check.
    """
    if opcode not in KNOWN_OPCODES:
        raise ProtocolException(f"reserved opcode 0x{opcode:x}")
    if rsv & ~rsv_allowed:
        raise ProtocolException(f"reserved bits set without an extension: 0x{rsv:02x}")
    if opcode & 0x8:
        # Section 5.5: control frames are never fragmented and at most 125 bytes.
        if not fin:
            raise ProtocolException("fragmented control frame")
        if length > MAX_CONTROL_PAYLOAD:
            raise ProtocolException(f"control frame payload of {length} bytes > 125")
        if rsv:
            raise ProtocolException("reserved bits set on a control frame")
    if length >> 63:
        raise ProtocolException("64-bit payload length with the most significant bit set")
    if expect_masking is not None and bool(masked) != expect_masking:
        raise ProtocolException(
            "unmasked frame from a client" if expect_masking else "masked frame from a server"
        )


def build_header(
    opcode: int,
    length: int,
    fin: bool | int = True,
    rsv: int = 0,
    masking_key: bytes | None = None,
) -> bytes:
    """Return the header of a frame carrying ``length`` payload bytes.

    ``rsv`` is the RSV bits already in place (0x40 for RSV1); the 7-, 16- or
    64-bit length form is chosen as section 5.2 requires (the shortest).
    """
    b0 = (0x80 if fin else 0) | rsv | opcode
    if masking_key is None:
        if length < 126:
            return _PACK_2(b0, length)
        if length < 0x10000:
            return _PACK_4(b0, 126, length)
        return _PACK_10(b0, 127, length)
    if len(masking_key) != 4:
        raise ValueError("a masking key is exactly 4 bytes")
    if length < 126:
        return _PACK_2(b0, 0x80 | length) + masking_key
    if length < 0x10000:
        return _PACK_4(b0, 0xFE, length) + masking_key
    return _PACK_10(b0, 0xFF, length) + masking_key


class _KeyPool(threading.local):
    """Masking keys from os.urandom, fetched 1024 at a time (one syscall, not one each)."""

    def __init__(self) -> None:
        self.buf = b""
        self.pos = 0


_key_pool = _KeyPool()
if hasattr(os, "register_at_fork"):
    # A child must not reuse the keys its parent drew.
    os.register_at_fork(after_in_child=lambda: setattr(_key_pool, "pos", len(_key_pool.buf)))


def masking_key() -> bytes:
    """A fresh 4-byte masking key from the system's CSPRNG (section 5.3)."""
    pool = _key_pool
    pos = pool.pos
    if pos >= len(pool.buf):
        pool.buf = os.urandom(4096)
        pos = 0
    pool.pos = pos + 4
    return pool.buf[pos : pos + 4]


def build_frame(
    opcode: int,
    payload: BytesLike = b"",
    fin: bool | int = True,
    rsv: int = 0,
    masked: bool = False,
) -> bytes:
    """Build one frame; ``masked`` uses a fresh random key (section 5.3).

    A control frame is never fragmented and carries at most 125 bytes (5.5):
    building one that breaks this raises rather than put it on the wire.
    """
    if opcode & 0x8:
        if len(payload) > MAX_CONTROL_PAYLOAD:
            raise FrameTooLargeException(
                f"control frame payload of {len(payload)} bytes > {MAX_CONTROL_PAYLOAD}"
            )
        if not fin:
            raise ProtocolException("fragmented control frame")
    if masked:
        key = masking_key()
        return build_header(opcode, len(payload), fin, rsv, key) + mask(payload, key)
    return build_header(opcode, len(payload), fin, rsv) + payload


class Frame:
    """One frame, as the classic API knows it.

    >>> f = Frame(OPCODE_TEXT, b'hello world', masking_key=b'\\xbe\\x04\\xe6\\x6a', fin=1)
    >>> data = f.build()
    >>> data.hex()
    '818bbe04e66ad6618a06d1249105cc6882'
    >>> f = Frame()
    >>> f.parser.send(data[:1])
    1
    >>> f.parser.send(data[1:2])
    4

    ``parser`` is a generator fed with ``.send(bytes)``: it yields how many
    more bytes it needs and stops (``StopIteration``) once the frame is
    complete, ``body`` then holding the payload as received (still masked;
    :meth:`unmask` reveals it).  Bytes sent past the end of the frame are the
    ``StopIteration``'s value.  Errors are :class:`ProtocolException`.
    """

    def __init__(
        self,
        opcode: int | None = None,
        body: BytesLike | str = b"",
        masking_key: bytes | None = None,
        fin: int = 0,
        rsv1: int = 0,
        rsv2: int = 0,
        rsv3: int = 0,
    ) -> None:
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.opcode = opcode
        self.body: BytesLike = body
        self.masking_key = masking_key
        self.fin = fin
        self.rsv1 = rsv1
        self.rsv2 = rsv2
        self.rsv3 = rsv3
        self.payload_length = len(body)
        #: RSV bits (as in the first byte) that a negotiated extension claims.
        self.rsv_allowed = 0
        self._parser: Generator[int, bytes, bytes] | None = None

    def build(self) -> bytes:
        """Return the frame's bytes (masked when ``masking_key`` is set)."""
        if self.opcode is None:
            raise ProtocolException("a frame needs an opcode")
        rsv = (self.rsv1 and 0x40) | (self.rsv2 and 0x20) | (self.rsv3 and 0x10)
        length = len(self.body)
        try:
            check_header(self.fin, rsv, self.opcode, 0, length, rsv_allowed=0x70)
        except ProtocolException as exc:
            if self.opcode & 0x8 and length > MAX_CONTROL_PAYLOAD:
                raise FrameTooLargeException(str(exc)) from None
            raise
        header = build_header(self.opcode, length, self.fin, rsv, self.masking_key)
        if self.masking_key is None:
            return header + bytes(self.body)
        return header + mask(self.body, self.masking_key)

    def mask(self, data: BytesLike) -> bytes:
        """XOR ``data`` with the frame's masking key (section 5.3)."""
        if self.masking_key is None:
            return bytes(data)
        return mask(data, self.masking_key)

    unmask = mask

    @property
    def parser(self) -> Generator[int, bytes, bytes]:
        if self._parser is None:
            self._parser = self._parsing()
            next(self._parser)
        return self._parser

    def _parsing(self) -> Generator[int, bytes, bytes]:
        buf = bytearray()
        needed = 2
        while len(buf) < 2:
            buf += yield 2 - len(buf)
        b0, b1 = buf[0], buf[1]
        self.fin = b0 >> 7
        self.rsv1, self.rsv2, self.rsv3 = (b0 >> 6) & 1, (b0 >> 5) & 1, (b0 >> 4) & 1
        self.opcode = b0 & 0x0F
        masked = b1 & 0x80
        length = b1 & 0x7F
        needed = 2 + (2 if length == 126 else 8 if length == 127 else 0)
        while len(buf) < needed:
            buf += yield needed - len(buf)
        if length == 126:
            length = UNPACK_16(buf, 2)[0]
        elif length == 127:
            length = UNPACK_64(buf, 2)[0]
        check_header(self.fin, b0 & 0x70, self.opcode, masked, length, self.rsv_allowed)
        self.payload_length = length
        if masked:
            while len(buf) < needed + 4:
                buf += yield needed + 4 - len(buf)
            self.masking_key = bytes(buf[needed : needed + 4])
            needed += 4
        else:
            self.masking_key = None
        needed += length
        while len(buf) < needed:
            buf += yield needed - len(buf)
        self.body = bytes(buf[needed - length : needed])
        return bytes(buf[needed:])

    def __repr__(self) -> str:
        return (
            f"<Frame opcode={self.opcode} fin={self.fin} "
            f"length={self.payload_length} masked={self.masking_key is not None}>"
        )
