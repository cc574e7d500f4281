"""The permessage-deflate extension (RFC 7692): DEFLATE-compressed messages.

Three classes:

* :class:`PerMessageDeflate`, the negotiated extension of one connection: it
  compresses outgoing data messages (:meth:`~PerMessageDeflate.encode_message`)
  and inflates incoming ones frame by frame
  (:meth:`~PerMessageDeflate.decode_frame`);
* :class:`ServerPerMessageDeflate`, the server's negotiation: it picks the
  first acceptable offer of a client's ``Sec-WebSocket-Extensions`` header and
  builds the response;
* :class:`ClientPerMessageDeflate`, the client's negotiation: it builds the
  offer and checks the server's response.

Both ends of ws4py use it by default
(``WebSocketWSGIApplication(extensions=None)`` and
``WebSocketBaseClient(extensions=None)``); ``extensions=[]`` turns it off.

Wire format (RFC 7692 section 7.2)
----------------------------------

A compressed message has RSV1 set on its first frame only; its payload is
raw DEFLATE (``wbits`` negative: no zlib header, no checksum) flushed with
``Z_SYNC_FLUSH``, minus the ``00 00 ff ff`` that flush always ends with; the
receiver appends those four bytes back before inflating the last frame.
Control frames are never compressed (:mod:`ws4py.framing` rejects RSV bits on
them and the stream never passes them to extensions).

Receiving
---------

* Decompression-bomb safety: every frame is inflated with
  ``decompressobj.decompress(data, max_length)`` bounded by the bytes still
  allowed under the stream's ``max_message_size`` (plus one, to tell "exactly
  at the limit" from "over it").  Output beyond the allowance is never
  produced: :class:`~ws4py.exc.FrameTooLargeException` (close code **1009**)
  is raised at once, so a 1 MiB frame of compressed zeros (1 GiB inflated)
  costs at most ``max_message_size`` bytes of output before failing.
* Invalid DEFLATE data (or RSV1 on a continuation frame, or data after a
  final block) raises :class:`~ws4py.exc.ProtocolException`, close code
  **1002**.  RFC 7692 section 7.2.2 only says "_Fail the WebSocket
  Connection_" without a code; the stream is broken at the framing-extension
  level, not the application data, which is what 1002 (protocol error) means
  in RFC 6455 section 7.4.1.  1007 stays reserved for what it says: text that
  is not UTF-8, checked by :class:`ws4py.streaming.Stream` on the *inflated*
  text.  (Autobahn's cases 12 and 13 only exchange valid messages, so they do
  not constrain this choice.)
* A sender may end a message with a ``BFINAL`` block (section 7.2.3.3): the
  bytes after it may only be the empty stored block the RFC shows.  Context
  takeover after such a block is honoured from the output of the frame that
  ended the DEFLATE stream (up to one window of it): a later reference
  further back fails the connection (1002), never yields wrong data.

Sending: when a message is sent uncompressed
--------------------------------------------

* Payloads shorter than ``min_size`` (default :data:`DEFAULT_MIN_SIZE` = 64
  bytes) are sent as they are: the deflate overhead (block header, Huffman
  tables: 2 to 20 bytes) eats most of the possible gain and the CPU spent is
  not worth a handful of bytes in a TCP segment that carries 40+ bytes of
  headers anyway.
* Payloads of :data:`PROBE_SIZE` (64 KiB) or more are probed first: three
  4 KiB samples (start, middle, end) go through a throw-away level-1
  compressor; if they do not shrink by at least 5 % the message is sent as
  is.  Already-compressed data (images, archives, ``os.urandom``) costs zlib
  about 20 MB/s, so probing saves ~0.8 s on a 16 MiB random message while
  costing a few percent on compressible ones.
* Otherwise the message is compressed; if the result is not smaller than the
  payload, the payload is sent uncompressed (RSV1 clear) instead.  With
  context takeover the compressor has then seen data the peer's decompressor
  never will, so the compressor is **dropped** and the next message starts a
  fresh one.  That is valid: a fresh compressor only references what it
  compressed itself, all of which the peer has, whatever older history the
  peer's window still holds.  (The alternative, trial compression on
  ``compressobj.copy()``, costs a copy of the whole deflate state on every
  message to protect a rare case; dropping costs only a little ratio on the
  next few messages after an incompressible one.)

Memory, and the defaults
------------------------

zlib needs about ``(1 << (wbits + 2)) + (1 << (memLevel + 9))`` bytes plus
~6 KiB of state to compress and ``(1 << wbits)`` plus ~7 KiB to inflate.  With
zlib's own defaults (``wbits=15``, ``memLevel=8``) that is ~256 KiB + 39 KiB
per connection: 3 GB for 10,000 connections.  The defaults here are:

* window 12 bits (4 KiB) each way on a server: the response always carries
  ``server_max_window_bits=12`` (RFC 7692 7.1.2.1 allows it unasked, and it
  lets the client size its inflater too) and, when the client offered
  ``client_max_window_bits``, ``client_max_window_bits=12`` (a client that
  did not offer it may use 32 KiB and is inflated with a 32 KiB window);
* ``mem_level=5`` (a 4096-entry hash table), ``compression_level=6``
  (zlib's default: the level changes speed and ratio, not memory);
* compressors and decompressors are created on first use, and, when the
  agreement says "no context takeover" for a direction, freed at the end of
  each message: an idle connection then holds nothing for that direction;
* a server echoes a client's ``client_no_context_takeover`` hint, so it can
  free its decompressor between messages.

Measured on CPython 3.11 / zlib 1.2.13 (x86-64, glibc): RSS growth for 1,000
connections' server + client extension pairs negotiated with these defaults,
after one 16 KiB JSON message each way, is **~51 KiB per extension** (zlib
alone: ~38 KiB deflate + ~12 KiB inflate with ``wbits=12, memLevel=5``),
i.e. ~500 MB for 10,000 busy connections with context takeover.  The same
measurement with zlib's defaults gives ~171 KiB (148 + 28, and up to ~300 KiB
once the 32 KiB windows are full); with ``wbits=11, memLevel=4`` ~31 KiB.
A client that does not offer ``client_max_window_bits`` costs the server a
32 KiB inflate window (~28 KiB more).  A server that must go lower sets
``server_no_context_takeover=True`` / ``client_no_context_takeover=True``:
idle connections then hold no zlib state at all (measured: 0 KiB after the
messages), at the price of compressing each message on its own.

Window size 8
-------------

zlib refuses ``wbits=8`` for raw deflate.  Inflating is no problem (zlib
accepts -8, and any larger window would do).  Compressing for a peer that
asked for a 256-byte window (``server_max_window_bits=8`` from a client, or
``client_max_window_bits=8`` from a server) is done with ``wbits=9`` and the
``Z_RLE`` strategy, which zlib documents as limiting match distances to one:
no back-reference can then reach beyond 256 bytes, so the stream is valid for
the smallest window, at the price of a weaker ratio.  Such offers are
therefore accepted rather than declined.

This module is written from RFC 7692; no third-party code is copied.
"""

from __future__ import annotations

import logging
import re
import zlib

from ws4py.exc import FrameTooLargeException, HandshakeError, ProtocolException
from ws4py.extensions import (
    ClientExtensionFactory,
    Extension,
    ExtensionParams,
    ServerExtensionFactory,
    format_extension,
)
from ws4py.framing import CONTROL_BIT

__all__ = [
    "DEFAULT_COMPRESSION_LEVEL",
    "DEFAULT_MAX_WINDOW_BITS",
    "DEFAULT_MEM_LEVEL",
    "DEFAULT_MIN_SIZE",
    "PROBE_SIZE",
    "ClientPerMessageDeflate",
    "PerMessageDeflate",
    "ServerPerMessageDeflate",
]

logger = logging.getLogger("ws4py")

#: The extension token (RFC 7692 section 7).
EXTENSION_NAME = "permessage-deflate"
#: Window a server announces (``server_max_window_bits``) and grants a client
#: that offered ``client_max_window_bits``, by default: 4 KiB.
DEFAULT_MAX_WINDOW_BITS = 12
#: zlib ``memLevel`` by default (zlib's own default is 8).
DEFAULT_MEM_LEVEL = 5
#: zlib compression level by default (zlib's own default).
DEFAULT_COMPRESSION_LEVEL = 6
#: Payloads shorter than this are sent uncompressed by default.
DEFAULT_MIN_SIZE = 64
#: Payloads this long or longer are probed for compressibility first.
PROBE_SIZE = 64 * 1024

_RSV1 = 0x40
# What a Z_SYNC_FLUSH ends with, removed by the sender (RFC 7692 section 7.2.1).
_TAIL = b"\x00\x00\xff\xff"
# Allowed after a BFINAL block once the tail is appended: nothing but the
# empty stored block of section 7.2.3.3 (its header possibly in its own byte).
_AFTER_FINAL = (_TAIL, b"\x00" + _TAIL)
_PROBE_CHUNK = 4096
# Window bits: a decimal integer 8..15 without leading zeroes (section 7.1.2).
_BITS_RE = re.compile(r"[89]|1[0-5]")

_SNCT = "server_no_context_takeover"
_CNCT = "client_no_context_takeover"
_SMWB = "server_max_window_bits"
_CMWB = "client_max_window_bits"
_KNOWN = (_SNCT, _CNCT, _SMWB, _CMWB)


class _Invalid(ValueError):
    """An offer or response that breaks RFC 7692 section 7.1."""


def _parse_params(params: ExtensionParams, *, response: bool) -> dict[str, int | bool]:
    """Check one offer's or response's parameters; return them by name.

    Flags map to ``True``; window bits to an int, or to ``True`` for a
    ``client_max_window_bits`` offered without a value.  Unknown or repeated
    parameters and bad values raise :class:`_Invalid` (section 7.1: a server
    declines such an offer, a client fails on such a response).
    """
    parsed: dict[str, int | bool] = {}
    for name, value in params:
        if name not in _KNOWN:
            raise _Invalid(f"unknown parameter {name!r}")
        if name in parsed:
            raise _Invalid(f"parameter {name!r} given more than once")
        if name in (_SNCT, _CNCT):
            if value is not None:
                raise _Invalid(f"parameter {name!r} takes no value (got {value!r})")
            parsed[name] = True
        elif value is None:
            if name == _SMWB or response:
                raise _Invalid(f"parameter {name!r} needs a value 8..15")
            parsed[name] = True  # client_max_window_bits offered without a value
        elif _BITS_RE.fullmatch(value) is None:
            raise _Invalid(f"parameter {name!r} has an invalid value {value!r} (8..15)")
        else:
            parsed[name] = int(value)
    return parsed


def _check_bits(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not 8 <= value <= 15):
        raise ValueError(f"{name} must be an int from 8 to 15 (or None), not {value!r}")


def _check_zlib_settings(compression_level: int, mem_level: int, min_size: int) -> None:
    if not -1 <= compression_level <= 9:
        raise ValueError(f"compression_level must be -1..9, not {compression_level!r}")
    if not 1 <= mem_level <= 9:
        raise ValueError(f"mem_level must be 1..9, not {mem_level!r}")
    if min_size < 0:
        raise ValueError(f"min_size must be >= 0, not {min_size!r}")


class PerMessageDeflate(Extension):
    """permessage-deflate on one connection, with the agreed parameters.

    ``is_server`` says which side this is: a server compresses with the
    ``server_*`` parameters and inflates with the ``client_*`` ones, a client
    the other way round.  ``*_max_window_bits`` are the windows in use (8..15;
    15 when nothing limited them); ``*_no_context_takeover`` whether that
    side's sender resets its LZ77 window after each message.
    ``compression_level``, ``mem_level`` and ``min_size`` tune our own
    compression only.  ``params`` are the handshake response's parameters,
    returned by :meth:`response_params`.

    Not thread-safe by itself: the connection serializes sending (one message
    at a time) and receiving happens in one reader.
    """

    name = EXTENSION_NAME
    rsv_mask = _RSV1

    def __init__(
        self,
        *,
        is_server: bool,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int = 15,
        client_max_window_bits: int = 15,
        compression_level: int = DEFAULT_COMPRESSION_LEVEL,
        mem_level: int = DEFAULT_MEM_LEVEL,
        min_size: int = DEFAULT_MIN_SIZE,
        params: ExtensionParams | None = None,
    ) -> None:
        _check_bits("server_max_window_bits", server_max_window_bits)
        _check_bits("client_max_window_bits", client_max_window_bits)
        _check_zlib_settings(compression_level, mem_level, min_size)
        self.is_server = is_server
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compression_level = compression_level
        self.mem_level = mem_level
        self.min_size = min_size
        self._params: ExtensionParams = (
            list(params) if params is not None else self._canonical_params()
        )
        if is_server:
            self._local_bits, self._local_reset = server_max_window_bits, server_no_context_takeover
            self._remote_bits, self._remote_reset = (
                client_max_window_bits,
                client_no_context_takeover,
            )
        else:
            self._local_bits, self._local_reset = client_max_window_bits, client_no_context_takeover
            self._remote_bits, self._remote_reset = (
                server_max_window_bits,
                server_no_context_takeover,
            )
        self._compressor: zlib._Compress | None = None
        self._decompressor: zlib._Decompress | None = None
        # Receiving: None between messages, True inside a compressed message,
        # False inside a message that is not compressed (RSV1 clear on its
        # first frame, other RSV bits set for another extension).
        self._inflating: bool | None = None
        # Bytes seen after a BFINAL block in the current message, else None.
        self._after_final: bytes | None = None

    def _canonical_params(self) -> ExtensionParams:
        params: ExtensionParams = []
        if self.server_no_context_takeover:
            params.append((_SNCT, None))
        if self.client_no_context_takeover:
            params.append((_CNCT, None))
        if self.server_max_window_bits < 15:
            params.append((_SMWB, str(self.server_max_window_bits)))
        if self.client_max_window_bits < 15:
            params.append((_CMWB, str(self.client_max_window_bits)))
        return params

    def response_params(self) -> ExtensionParams:
        """The handshake response's parameters (what was agreed)."""
        return list(self._params)

    # -- receiving -------------------------------------------------------------

    def decode_frame(
        self, opcode: int, rsv: int, payload: bytes, fin: bool, max_size: int | None
    ) -> bytes:
        """Inflate one frame of a compressed message, at most ``max_size`` bytes of output."""
        if opcode & CONTROL_BIT:
            if rsv & _RSV1:
                raise ProtocolException("RSV1 set on a control frame")
            return payload
        if self._inflating is None:  # the message's first frame
            self._inflating = bool(rsv & _RSV1)
        elif rsv & _RSV1:
            raise ProtocolException("RSV1 set on a continuation frame (RFC 7692 section 6)")
        if not self._inflating:
            if fin:
                self._inflating = None
            return payload
        data = payload + _TAIL if fin else payload
        try:
            if self._after_final is not None:
                self._trailing(data, fin)
                return b""
            out = self._inflate(data, max_size, fin)
        finally:
            if fin:
                self._inflating = None
        if fin and self._remote_reset:
            self._decompressor = None
        return out

    def _inflate(self, data: bytes, max_size: int | None, fin: bool) -> bytes:
        decompressor = self._decompressor
        if decompressor is None:
            decompressor = self._decompressor = zlib.decompressobj(-self._remote_bits)
        try:
            if max_size is None:
                out = decompressor.decompress(data)
            else:
                # One byte more than allowed tells "at the limit" from "over it";
                # zlib stops there, so a bomb never inflates further.
                out = decompressor.decompress(data, max_size + 1)
                if len(out) > max_size:
                    self._decompressor = None
                    raise FrameTooLargeException(
                        f"compressed message inflates beyond the {max_size} bytes still allowed"
                    )
        except zlib.error as exc:
            self._decompressor = None
            raise ProtocolException(f"invalid compressed data: {exc}") from None
        if decompressor.eof:
            # A BFINAL block ended the DEFLATE stream (RFC 7692 section 7.2.3.3).
            self._after_final = b""
            self._decompressor = None
            if not self._remote_reset:
                window = out[-(1 << self._remote_bits) :]
                if window:
                    self._decompressor = zlib.decompressobj(-self._remote_bits, zdict=window)
            self._trailing(decompressor.unused_data, fin)
        return out

    def _trailing(self, data: bytes, fin: bool) -> None:
        """Bytes after a BFINAL block: only the RFC's empty stored block may follow."""
        seen = (self._after_final or b"") + data
        if len(seen) > len(_AFTER_FINAL[-1]):
            self._after_final = None
            raise ProtocolException("data after the final block of a compressed message")
        self._after_final = seen
        if fin:
            self._after_final = None
            if seen not in _AFTER_FINAL:
                raise ProtocolException("data after the final block of a compressed message")

    # -- sending ---------------------------------------------------------------

    def encode_message(self, opcode: int, payload: bytes) -> tuple[int, bytes]:
        """Compress a data message: ``(0x40, compressed)``, or ``(0, payload)`` as is."""
        size = len(payload)
        if opcode & CONTROL_BIT or size < self.min_size:
            return 0, payload
        if size >= PROBE_SIZE and not self._worth_compressing(payload):
            return 0, payload
        data = self._deflate(payload)
        if len(data) >= size:
            # Not worth it: send it as is, and forget a history the peer won't have.
            self._compressor = None
            return 0, payload
        return _RSV1, data

    def _deflate(self, payload: bytes) -> bytes:
        """Compress one message's payload (RFC 7692 section 7.2.1), always."""
        compressor = self._compressor
        if compressor is None:
            compressor = self._new_compressor()
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        self._compressor = None if self._local_reset else compressor
        if not data.endswith(_TAIL):  # pragma: no cover - zlib always ends a sync flush so
            raise RuntimeError("zlib sync flush did not end with 00 00 ff ff")
        return data[:-4]

    def _new_compressor(self) -> zlib._Compress:
        bits = self._local_bits
        if bits == 8:
            # zlib cannot deflate with a 256-byte window; Z_RLE keeps every
            # match distance at 1, valid for any window (module docstring).
            return zlib.compressobj(
                self.compression_level, zlib.DEFLATED, -9, self.mem_level, zlib.Z_RLE
            )
        return zlib.compressobj(self.compression_level, zlib.DEFLATED, -bits, self.mem_level)

    @staticmethod
    def _worth_compressing(payload: bytes) -> bool:
        """Probe three samples with a cheap compressor: do they shrink by 5 %?"""
        size = len(payload)
        middle = (size - _PROBE_CHUNK) // 2
        view = memoryview(payload)
        sample = b"".join(
            (
                view[:_PROBE_CHUNK],
                view[middle : middle + _PROBE_CHUNK],
                view[size - _PROBE_CHUNK :],
            )
        )
        probe = zlib.compressobj(1, zlib.DEFLATED, -12, DEFAULT_MEM_LEVEL)
        compressed = len(probe.compress(sample)) + len(probe.flush(zlib.Z_SYNC_FLUSH)) - 4
        return compressed < len(sample) * 0.95

    def __str__(self) -> str:
        return format_extension(self.name, self._params)

    def __repr__(self) -> str:
        side = "server" if self.is_server else "client"
        return f"<PerMessageDeflate {side} {self._describe()}>"

    def _describe(self) -> str:
        parts = [f"{_SMWB}={self.server_max_window_bits}", f"{_CMWB}={self.client_max_window_bits}"]
        if self.server_no_context_takeover:
            parts.append(_SNCT)
        if self.client_no_context_takeover:
            parts.append(_CNCT)
        return "; ".join(parts)


class ServerPerMessageDeflate(ServerExtensionFactory):
    """The server side of negotiating permessage-deflate (RFC 7692 section 7.1).

    Settings:

    * ``server_no_context_takeover``: always answer with it (our compressor
      then resets after each message and holds no memory between them).  A
      client's request for it is always honoured.
    * ``client_no_context_takeover``: always ask the client to reset its
      window after each message (answered even when not offered, 7.1.1.2).
      When the client offered it as a hint, it is echoed anyway.
    * ``server_max_window_bits`` (8..15, default 12): the largest window we
      compress with; always announced in the response, and lowered to what
      a client asked for.  ``None``: 15, not announced unless asked.
    * ``client_max_window_bits`` (8..15, default 12): the window granted to a
      client that offered ``client_max_window_bits`` (lowered to its hint if
      smaller).  ``None``: granted only what the client hinted.
    * ``require_client_max_window_bits``: decline offers that do not let us
      limit the client's window (they would cost a 32 KiB inflate window).
    * ``compression_level``, ``mem_level``, ``min_size``: our compression.

    Offers come in the client's order of preference; the first acceptable one
    wins.  An offer with an unknown, repeated or invalid parameter is
    declined (7.1) and the next one tried; if none is acceptable the
    connection goes on without compression.  Every window size 8..15 is
    supported (see "Window size 8" in the module docstring).
    """

    name = EXTENSION_NAME

    def __init__(
        self,
        *,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = DEFAULT_MAX_WINDOW_BITS,
        client_max_window_bits: int | None = DEFAULT_MAX_WINDOW_BITS,
        require_client_max_window_bits: bool = False,
        compression_level: int = DEFAULT_COMPRESSION_LEVEL,
        mem_level: int = DEFAULT_MEM_LEVEL,
        min_size: int = DEFAULT_MIN_SIZE,
    ) -> None:
        _check_bits("server_max_window_bits", server_max_window_bits)
        _check_bits("client_max_window_bits", client_max_window_bits)
        _check_zlib_settings(compression_level, mem_level, min_size)
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.require_client_max_window_bits = require_client_max_window_bits
        self.compression_level = compression_level
        self.mem_level = mem_level
        self.min_size = min_size

    def accept(
        self, offers: list[ExtensionParams]
    ) -> tuple[ExtensionParams, PerMessageDeflate] | None:
        """The response and extension for the first acceptable offer, else ``None``."""
        for offer in offers:
            try:
                return self._accept_one(_parse_params(offer, response=False))
            except _Invalid as exc:
                logger.debug("Declined permessage-deflate offer %r: %s", offer, exc)
        return None

    def _accept_one(
        self, offer: dict[str, int | bool]
    ) -> tuple[ExtensionParams, PerMessageDeflate]:
        response: ExtensionParams = []
        server_reset = self.server_no_context_takeover or _SNCT in offer
        if server_reset:
            response.append((_SNCT, None))
        client_reset = self.client_no_context_takeover or _CNCT in offer
        if client_reset:
            response.append((_CNCT, None))

        asked = offer.get(_SMWB)
        server_bits = self.server_max_window_bits or 15
        if isinstance(asked, int) and not isinstance(asked, bool):
            server_bits = min(server_bits, asked)
            response.append((_SMWB, str(server_bits)))
        elif self.server_max_window_bits is not None and server_bits < 15:
            response.append((_SMWB, str(server_bits)))

        client_bits = 15
        if _CMWB in offer:
            hint = offer[_CMWB]
            limits = [b for b in (self.client_max_window_bits,) if b is not None]
            if not isinstance(hint, bool):
                limits.append(hint)
            if limits:
                client_bits = min(limits)
                response.append((_CMWB, str(client_bits)))
        elif self.require_client_max_window_bits:
            raise _Invalid("client_max_window_bits not offered, and it is required")

        extension = PerMessageDeflate(
            is_server=True,
            server_no_context_takeover=server_reset,
            client_no_context_takeover=client_reset,
            server_max_window_bits=server_bits,
            client_max_window_bits=client_bits,
            compression_level=self.compression_level,
            mem_level=self.mem_level,
            min_size=self.min_size,
            params=response,
        )
        return response, extension

    def __repr__(self) -> str:
        return (
            f"ServerPerMessageDeflate(server_no_context_takeover={self.server_no_context_takeover}"
            f", client_no_context_takeover={self.client_no_context_takeover}"
            f", server_max_window_bits={self.server_max_window_bits}"
            f", client_max_window_bits={self.client_max_window_bits})"
        )


class ClientPerMessageDeflate(ClientExtensionFactory):
    """The client side of negotiating permessage-deflate (RFC 7692 section 7.1).

    The offer carries:

    * ``server_no_context_takeover`` when asked: the server must then reset
      its window after each message (a response without it fails);
    * ``client_no_context_takeover`` when asked: a promise that we reset our
      window after each message, whatever the response says;
    * ``server_max_window_bits=N`` (8..15) when given: the server must answer
      with N or less;
    * ``client_max_window_bits``: ``True`` (default) offers it without a
      value, letting the server pick our window; an int offers it with that
      value, a promise that we never use a larger window; ``None`` does not
      offer it (the server may then not limit our window).

    ``compression_level``, ``mem_level`` and ``min_size`` tune our
    compression.  :meth:`accept` raises :class:`~ws4py.exc.HandshakeError`
    for a response that breaks RFC 7692 section 7.1 or that we cannot honour,
    which fails the handshake.
    """

    name = EXTENSION_NAME

    def __init__(
        self,
        *,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | bool | None = True,
        compression_level: int = DEFAULT_COMPRESSION_LEVEL,
        mem_level: int = DEFAULT_MEM_LEVEL,
        min_size: int = DEFAULT_MIN_SIZE,
    ) -> None:
        _check_bits("server_max_window_bits", server_max_window_bits)
        if client_max_window_bits is False:
            client_max_window_bits = None
        if client_max_window_bits is not True:
            _check_bits("client_max_window_bits", client_max_window_bits)
        _check_zlib_settings(compression_level, mem_level, min_size)
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits: int | bool | None = client_max_window_bits
        self.compression_level = compression_level
        self.mem_level = mem_level
        self.min_size = min_size

    def offer(self) -> ExtensionParams:
        """The parameters of our single offer."""
        params: ExtensionParams = []
        if self.server_no_context_takeover:
            params.append((_SNCT, None))
        if self.client_no_context_takeover:
            params.append((_CNCT, None))
        if self.server_max_window_bits is not None:
            params.append((_SMWB, str(self.server_max_window_bits)))
        if self.client_max_window_bits is True:
            params.append((_CMWB, None))
        elif self.client_max_window_bits is not None:
            params.append((_CMWB, str(self.client_max_window_bits)))
        return params

    def accept(self, params: ExtensionParams) -> PerMessageDeflate:
        """Check the server's response (RFC 7692 section 7.1) and build the extension."""
        try:
            response = _parse_params(params, response=True)
        except _Invalid as exc:
            raise HandshakeError(f"invalid permessage-deflate response: {exc}") from None

        if self.server_no_context_takeover and _SNCT not in response:
            raise HandshakeError(
                "invalid permessage-deflate response: server_no_context_takeover was "
                "requested and the server did not accept it"
            )
        server_reset = _SNCT in response
        client_reset = self.client_no_context_takeover or _CNCT in response

        server_bits = response.get(_SMWB, 15)
        assert isinstance(server_bits, int)
        if self.server_max_window_bits is not None:
            if _SMWB not in response:
                raise HandshakeError(
                    f"invalid permessage-deflate response: server_max_window_bits="
                    f"{self.server_max_window_bits} was requested and the server did not "
                    "accept it"
                )
            if server_bits > self.server_max_window_bits:
                raise HandshakeError(
                    f"invalid permessage-deflate response: server_max_window_bits={server_bits}"
                    f" is larger than the {self.server_max_window_bits} requested"
                )

        client_bits = 15
        if _CMWB in response:
            if self.client_max_window_bits is None:
                raise HandshakeError(
                    "invalid permessage-deflate response: client_max_window_bits was not "
                    "offered, so the server may not set it"
                )
            granted = response[_CMWB]
            assert isinstance(granted, int)
            client_bits = granted
        offered = self.client_max_window_bits
        if offered is not None and offered is not True:
            # Our offer promised never to use more (7.1.2.2): a larger grant is
            # allowed, and we keep our promise.
            client_bits = min(client_bits, int(offered))

        return PerMessageDeflate(
            is_server=False,
            server_no_context_takeover=server_reset,
            client_no_context_takeover=client_reset,
            server_max_window_bits=server_bits,
            client_max_window_bits=client_bits,
            compression_level=self.compression_level,
            mem_level=self.mem_level,
            min_size=self.min_size,
            params=params,
        )

    def __repr__(self) -> str:
        return (
            f"ClientPerMessageDeflate(server_no_context_takeover={self.server_no_context_takeover}"
            f", client_no_context_takeover={self.client_no_context_takeover}"
            f", server_max_window_bits={self.server_max_window_bits}"
            f", client_max_window_bits={self.client_max_window_bits})"
        )
