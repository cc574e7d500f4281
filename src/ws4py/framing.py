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

from ws4py.exc import FrameLengthException, FrameTooLargeException, ProtocolException
from ws4py.masking import BytesLike, mask

__all__ = [
    "CONTROL_BIT",
    "OPCODE_BINARY",
    "OPCODE_CLOSE",
    "OPCODE_CONTINUATION",
    "OPCODE_PING",
    "OPCODE_PONG",
    "OPCODE_TEXT",
    "CloseCode",
    "Frame",
    "Opcode",
    "build_frame",
    "build_header",
    "check_first_byte",
    "check_header",
    "check_length",
]


# The opcodes as plain ints, for the hot paths (an enum member looked up on its
# class costs ~80 ns per frame); :class:`Opcode` names the same numbers.
OPCODE_CONTINUATION = 0x0
OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
OPCODE_CLOSE = 0x8
OPCODE_PING = 0x9
OPCODE_PONG = 0xA

#: Opcodes with this bit set are control frames (RFC 6455 section 5.5).
CONTROL_BIT = 0x8


class Opcode(IntEnum):
    """Frame opcodes (RFC 6455 section 5.2); 0x3-0x7 and 0xB-0xF are reserved."""

    CONTINUATION = OPCODE_CONTINUATION
    TEXT = OPCODE_TEXT
    BINARY = OPCODE_BINARY
    CLOSE = OPCODE_CLOSE
    PING = OPCODE_PING
    PONG = OPCODE_PONG


class CloseCode(IntEnum):
    """Close status codes: RFC 6455 section 7.4.1 and the IANA registry's 1012-1014.

    Members are ints (``CloseCode.NORMAL == 1000``), printed as numbers
    (``str()`` is the number on every Python, as ``closed(code, reason)``
    handlers written for ws4py 0.6.0 expect).  1004 is reserved; 1005,
    1006 and 1015 are reported to the application, never sent.  Codes
    3000-4999 are the libraries' and applications' own (7.4.2): a close
    code is any int, this enum only names the standard ones.
    """

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS = 1005
    ABNORMAL = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015

    __str__ = int.__repr__


#: Opcodes defined by RFC 6455; anything else is reserved (a protocol error).
KNOWN_OPCODES = frozenset(int(opcode) for opcode in Opcode)

#: "All control frames MUST have a payload length of 125 bytes or less" (5.5).
MAX_CONTROL_PAYLOAD = 125

_PACK_2 = struct.Struct("!BB").pack
_PACK_4 = struct.Struct("!BBH").pack
_PACK_10 = struct.Struct("!BBQ").pack
UNPACK_16 = struct.Struct("!H").unpack_from
UNPACK_64 = struct.Struct("!Q").unpack_from


def check_first_byte(fin: int, rsv: int, opcode: int, rsv_allowed: int = 0) -> None:
    """Raise :class:`ProtocolException` if a frame's first byte breaks RFC 6455.

    ``rsv`` is the first byte masked with 0x70; ``rsv_allowed`` holds the bits
    that negotiated extensions claim (section 5.2: "MUST be 0 unless an
    extension is negotiated that defines meanings for non-zero values").
    """
    if opcode not in KNOWN_OPCODES:
        raise ProtocolException(f"reserved opcode 0x{opcode:x}")
    if rsv & ~rsv_allowed:
        raise ProtocolException(f"reserved bits set without an extension: 0x{rsv:02x}")
    if opcode & CONTROL_BIT:
        # Section 5.5: control frames are never fragmented.
        if not fin:
            raise ProtocolException("fragmented control frame")
        if rsv:
            raise ProtocolException("reserved bits set on a control frame")


def check_length(opcode: int, length: int) -> None:
    """Raise :class:`FrameLengthException` for a length RFC 6455 forbids.

    Control frames carry at most 125 bytes (5.5); a 64-bit length has its
    most significant bit clear (5.2).  The message is ws4py 0.6.0's reason.
    """
    if (opcode & CONTROL_BIT and length > MAX_CONTROL_PAYLOAD) or length >> 63:
        raise FrameLengthException("Frame was too large")


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

    :func:`check_first_byte` and :func:`check_length`, then the masking
    direction: ``expect_masking`` is True on a server (client frames MUST be
    masked, 5.1), False on a client (server frames MUST NOT be), None to not
    check.  Messages are ws4py 0.6.0's reasons.
    """
    check_first_byte(fin, rsv, opcode, rsv_allowed)
    check_length(opcode, length)
    if expect_masking is not None and bool(masked) != expect_masking:
        raise ProtocolException(
            "Missing masking when expected" if expect_masking else "Masked when not expected"
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


#: ``os.urandom`` as imported; masking_key() draws from the pool only while it is still this.
_URANDOM = os.urandom


def masking_key() -> bytes:
    """A fresh 4-byte masking key from the system's CSPRNG (section 5.3).

    Keys come from a per-thread pool of ``os.urandom`` bytes.  Once
    ``os.urandom`` is replaced (a test fixing the key with
    ``mock.patch("os.urandom")``, as works with ws4py 0.6.0, which drew each
    key with ``os.urandom(4)``), each key is asked of the replacement.
    """
    urandom = os.urandom
    if urandom is not _URANDOM:
        return bytes(urandom(4))
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
    if opcode & CONTROL_BIT:
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


def _fill(buf: bytearray, size: int) -> Generator[int, BytesLike | int | str | None, None]:
    """Yield how many bytes ``buf`` still lacks to reach ``size``; append what is sent.

    An ``int`` is taken as one byte (``data[0]`` of a ``bytes``, as the
    classic doctest feeds it), a ``str`` as octets, one per character (code
    points 0-255: ``chr(n)``, as ws4py 0.6.0's own tests feed it, read with
    ``ord()``); ``None`` or nothing sent asks again.
    """
    while len(buf) < size:
        data = yield size - len(buf)
        if isinstance(data, int):
            buf.append(data)
        elif isinstance(data, str):
            try:
                buf += data.encode("latin-1")
            except UnicodeEncodeError:
                raise TypeError("a str fed to the parser holds octets: code points 0-255") from None
        elif data:
            buf += data


class Frame:
    """One frame, as the classic API knows it: a low-level builder and parser.

    >>> f = Frame(OPCODE_TEXT, b'hello world', masking_key=b'\\xbe\\x04\\xe6\\x6a', fin=1)
    >>> data = f.build()
    >>> data.hex()
    '818bbe04e66ad6618a06d1249105cc6882'
    >>> f = Frame()
    >>> f.parser.send(data[0])
    1
    >>> f.parser.send(data[1])
    4

    ``parser`` is a generator fed with ``.send(bytes)`` that yields how many
    more bytes the current part of the frame needs, as ws4py 0.6.0's did: the
    first header byte (1), the second (1), the 16- or 64-bit length (2 or 8),
    the masking key (4), then the payload.  The send that completes the frame
    returns ``None``; ``body`` then holds the payload as received (still
    masked: :meth:`unmask` reveals it) and a further send raises
    ``StopIteration``.  Each rule is checked as soon as its bytes arrive:
    :class:`ProtocolException` on the first byte (reserved opcode, RSV bits no
    extension claims, fragmented control frame),
    :class:`~ws4py.exc.FrameLengthException` (a
    :class:`FrameTooLargeException`) on the length (control frame over 125
    bytes, 64-bit length with its top bit set).  Masking direction is the
    stream's business, not the frame's.

    :meth:`build` is deliberately as permissive as 0.6.0's: it refuses only
    a ``fin`` other than 0/1, a reserved opcode (``ValueError``) and a length
    of 2**63 or more, so it can build the invalid frames a test of a peer
    needs (a fragmented or oversized control frame).  The frames this
    library sends are built by :func:`build_frame`, which refuses those.
    """

    def __init__(
        self,
        opcode: int | None = None,
        body: bytes = b"",
        masking_key: bytes | None = None,
        fin: int = 0,
        rsv1: int = 0,
        rsv2: int = 0,
        rsv3: int = 0,
    ) -> None:
        if not isinstance(body, bytes):
            # As 0.6.0: text must be encoded first, and a mutable buffer
            # could change under the frame between build() and the send.
            raise TypeError(f"a frame body must be bytes, not {type(body).__name__}")
        self.opcode = opcode
        self.body: BytesLike = body
        self.masking_key = masking_key
        self.fin = fin
        self.rsv1 = rsv1
        self.rsv2 = rsv2
        self.rsv3 = rsv3
        #: The length :meth:`build` puts in the header (``len(body)`` unless changed).
        self.payload_length = len(body)
        #: RSV bits (as in the first byte) that a negotiated extension claims.
        self.rsv_allowed = 0
        self._parser: Generator[int | None, BytesLike | int | str | None, None] | None = None

    def build(self) -> bytes:
        """Return the frame's bytes (masked when ``masking_key`` is set)."""
        if self.fin not in (0, 1):
            raise ValueError("FIN bit parameter must be 0 or 1")
        if self.opcode is None:
            raise TypeError("a frame needs an opcode")
        if self.opcode not in KNOWN_OPCODES:
            raise ValueError(f"Opcode cannot be a reserved opcode: 0x{self.opcode:x}")
        length = self.payload_length
        if length >> 63:
            raise FrameTooLargeException(f"a payload of {length} bytes does not fit in 63 bits")
        rsv = (self.rsv1 and 0x40) | (self.rsv2 and 0x20) | (self.rsv3 and 0x10)
        key = self.masking_key or None
        header = build_header(self.opcode, length, self.fin, rsv, key)
        if key is None:
            return header + bytes(self.body)
        return header + mask(self.body, key)

    def mask(self, data: BytesLike) -> bytearray:
        """XOR ``data`` with the frame's masking key (section 5.3); a ``bytearray`` as 0.6.0's.

        Without a key the data is returned unchanged (0.6.0 raised
        ``TypeError``): an unmasked frame's payload is its own unmasking.
        """
        if not self.masking_key:
            return bytearray(data)
        return bytearray(mask(data, self.masking_key))

    unmask = mask

    @property
    def parser(self) -> Generator[int | None, BytesLike | int | str | None, None]:
        if self._parser is None:
            self._parser = self._parsing()
            next(self._parser)
        return self._parser

    def _cleanup(self) -> None:
        """Close the parser (classic name)."""
        if self._parser is not None:
            self._parser.close()
            self._parser = None

    def _parsing(self) -> Generator[int | None, BytesLike | int | str | None, None]:
        buf = bytearray()
        yield from _fill(buf, 1)
        b0 = buf[0]
        self.fin = b0 >> 7
        self.rsv1, self.rsv2, self.rsv3 = (b0 >> 6) & 1, (b0 >> 5) & 1, (b0 >> 4) & 1
        self.opcode = opcode = b0 & 0x0F
        check_first_byte(self.fin, b0 & 0x70, opcode, self.rsv_allowed)
        yield from _fill(buf, 2)
        masked = buf[1] & 0x80
        length = self.payload_length = buf[1] & 0x7F
        check_length(opcode, length)
        hlen = 2
        if length >= 126:
            hlen = 4 if length == 126 else 10
            yield from _fill(buf, hlen)
            length = (UNPACK_16 if hlen == 4 else UNPACK_64)(buf, 2)[0]
            self.payload_length = length
            check_length(opcode, length)
        if masked:
            yield from _fill(buf, hlen + 4)
            self.masking_key = bytes(buf[hlen : hlen + 4])
            hlen += 4
        yield from _fill(buf, hlen + length)
        # Bytes sent past the frame's end are not part of it (0.6.0 kept
        # them in the body when they came in the same send as its end).
        self.body = bytes(buf[hlen : hlen + length])
        yield None

    def __repr__(self) -> str:
        return (
            f"<Frame opcode={self.opcode} fin={self.fin} "
            f"length={self.payload_length} masked={self.masking_key is not None}>"
        )
