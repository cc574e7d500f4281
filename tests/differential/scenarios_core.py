"""Scenarios for the classic core: framing, streaming, messaging, utf8validator, exc, ws4py, compat.

Run in both interpreters, ours and classic ws4py 0.6.0: ``ws4py`` is imported
inside each function and every result is plain data.  Wire bytes are built
by the tests (``test_classic_core_*``) with their own small encoder, so a
scenario measures only the side it runs on.
"""

from __future__ import annotations

from typing import Any

from differential.common import CLASSIC_EXCEPTIONS, outcome, plain

# -- helpers -----------------------------------------------------------------


def _xor(data: bytes, key: bytes) -> bytes:
    """Unmask without either side's code."""
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def encode_frame(
    opcode: int,
    payload: bytes,
    fin: int = 1,
    rsv: int = 0,
    key: bytes | None = None,
) -> bytes:
    """A frame's bytes (RFC 6455 5.2), written here so that neither side builds the input."""
    import struct

    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    m = 0x80 if key else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 0x10000:
        head = bytes([b0, m | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack("!Q", n)
    return head + key + _xor(payload, key) if key else head + payload


def _send(gen: Any, data: Any) -> tuple[str, Any]:
    return outcome(gen.send, data)


def _frame_attrs(frame: Any) -> dict[str, Any]:
    body = frame.body
    return {
        "fin": frame.fin,
        "rsv": (frame.rsv1, frame.rsv2, frame.rsv3),
        "opcode": frame.opcode,
        "payload_length": frame.payload_length,
        "masking_key": plain(frame.masking_key),
        "body": plain(body),
        "body_type": type(body).__name__,
    }


def _utf8(data: Any) -> bool:
    try:
        bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def describe(message: Any, text_of_anything: bool = False) -> Any:
    """What a classic user reads off a message; ``len``/``str`` as outcomes (they may raise).

    ``len``/``str`` of a binary message, or of a control message whose data
    is not UTF-8, raise in 0.6.0 on Python 3 and not in ours (a documented
    difference, tested on its own): they are left out unless
    ``text_of_anything``.
    """
    if message is None:
        return None
    out: dict[str, Any] = {
        "class": type(message).__name__,
        "opcode": message.opcode,
        "data": plain(message.data),
        "data_type": type(message.data).__name__,
        "completed": message.completed,
        "is_text": getattr(message, "is_text", None),
        "is_binary": getattr(message, "is_binary", None),
    }
    decodes = (
        not getattr(message, "is_binary", False)
        and message.encoding is not None
        and _utf8(message.data)
    )
    if text_of_anything or decodes or hasattr(message, "code"):
        out["len"] = outcome(len, message)
        out["str"] = outcome(str, message)
        out["bool"] = outcome(bool, message)
    if hasattr(message, "code"):
        out["code"] = message.code
        out["reason"] = plain(message.reason)
        out["reason_type"] = type(message.reason).__name__
    return out


# -- framing -----------------------------------------------------------------


def frame_parse(wire: bytes, chunks: Any) -> dict[str, Any]:
    """Feed ``wire`` to ``Frame().parser``; ``chunks`` is "asked" or a list of sizes.

    "asked" sends exactly what the parser yields each time.  Every send's
    outcome is recorded; once the frame is complete (a send returned None) a
    further send of one byte is recorded too.  Parsing stops at an exception.
    """
    from ws4py.framing import Frame

    frame = Frame()
    first = outcome(lambda: frame.parser)
    steps: list[Any] = [("init", first[0])]
    pos = 0
    sizes = list(chunks) if chunks != "asked" else None
    need = 1
    while pos < len(wire) or (sizes is None and need):
        if sizes is None:
            size = need
        elif sizes:
            size = sizes.pop(0)
        else:
            size = len(wire) - pos
        piece = wire[pos : pos + size]
        if sizes is None and len(piece) < size:
            steps.append(("short", size))
            break
        pos += len(piece)
        result = _send(frame.parser, piece)
        steps.append(result)
        if result[0] == "raise" or result[1] is None:
            break
        need = result[1]
    if steps[-1] == ("ok", None):
        steps.append(_send(frame.parser, b"\x00"))
    return {"steps": steps, "frame": _frame_attrs(frame)}


def frame_parse_ints(wire: bytes) -> dict[str, Any]:
    """The spec's doctest feeds ``bytes[0]``: an int on Python 3."""
    from ws4py.framing import Frame

    frame = Frame()
    steps = [_send(frame.parser, wire[0]), _send(frame.parser, wire[1])]
    return {"steps": steps}


def frame_parse_chars(b0: int, b1: int) -> dict[str, Any]:
    """0.6.0's own tests feed the header as ``chr(n)``: a ``str``, one octet a character."""
    from ws4py.framing import Frame

    frame = Frame()
    steps = [_send(frame.parser, chr(b0))]
    if steps[0][0] == "ok":
        steps.append(_send(frame.parser, chr(b1)))
    return {"steps": steps, "frame": _frame_attrs(frame)}


def frame_build(
    opcode: Any,
    body: bytes,
    masking_key: Any = None,
    fin: int = 0,
    rsv: tuple[int, int, int] = (0, 0, 0),
    payload_length: Any = None,
) -> tuple[str, Any]:
    """``Frame(...).build()``, optionally with ``payload_length`` changed first."""
    from ws4py.framing import Frame

    def build() -> bytes:
        frame = Frame(
            opcode=opcode,
            body=body,
            masking_key=masking_key,
            fin=fin,
            rsv1=rsv[0],
            rsv2=rsv[1],
            rsv3=rsv[2],
        )
        if payload_length is not None:
            frame.payload_length = payload_length
        return bytes(frame.build())

    return outcome(build)


def frame_init(body: Any) -> tuple[str, Any]:
    """``Frame(body=...)``: what a body may be."""
    from ws4py.framing import OPCODE_TEXT, Frame

    return outcome(lambda: Frame(OPCODE_TEXT, body).payload_length)


def frame_mask(key: bytes, data: bytes) -> dict[str, Any]:
    """``Frame.mask`` / ``unmask``: value and type."""
    from ws4py.framing import Frame

    frame = Frame(masking_key=key)
    masked = frame.mask(data)
    unmasked = frame.unmask(masked)
    return {
        "masked": plain(masked),
        "type": type(masked).__name__,
        "unmasked": plain(unmasked),
        "expected": _xor(data, key),
    }


def framing_names() -> dict[str, Any]:
    import ws4py.framing as framing

    names = [
        "OPCODE_CONTINUATION",
        "OPCODE_TEXT",
        "OPCODE_BINARY",
        "OPCODE_CLOSE",
        "OPCODE_PING",
        "OPCODE_PONG",
    ]
    defaults = framing.Frame()
    return {
        "opcodes": {n: getattr(framing, n) for n in names},
        "all_has_frame": "Frame" in framing.__all__,
        "defaults": _frame_attrs(defaults),
    }


# -- streaming ---------------------------------------------------------------


def _stream_state(stream: Any) -> dict[str, Any]:
    return {
        "closing": describe(stream.closing),
        "errors": [describe(e) for e in stream.errors],
        "pings": [describe(p) for p in stream.pings],
        "pongs": [describe(p) for p in stream.pongs],
    }


def stream_parse(
    wire: bytes, chunks: Any = "asked", always_mask: bool = False, expect_masking: bool = True
) -> dict[str, Any]:
    """Feed ``wire`` to ``Stream().parser`` the classic way.

    "asked" sends exactly what the parser yields; a list gives the sizes.
    After each send a completed message is taken (``stream.message = None``),
    as the classic websocket did.
    """
    from ws4py.streaming import Stream

    stream = Stream(always_mask=always_mask, expect_masking=expect_masking)
    steps: list[Any] = []
    messages: list[Any] = []
    need = 1  # the first yield is taken by the ``parser`` property itself
    sizes = list(chunks) if chunks != "asked" else None
    pos = 0
    while pos < len(wire):
        size = need if sizes is None else (sizes.pop(0) if sizes else len(wire) - pos)
        piece = wire[pos : pos + size]
        pos += len(piece)
        result = _send(stream.parser, piece)
        steps.append(result)
        if result[0] == "raise":
            break
        need = result[1] if isinstance(result[1], int) and result[1] > 0 else 1
        while stream.has_message:
            messages.append(describe(stream.message))
            stream.message = None
    state = _stream_state(stream)
    state["steps"] = steps
    state["messages"] = messages
    return state


def stream_builders(always_mask: bool, code: int, reason: Any, data: Any) -> dict[str, Any]:
    """``Stream.close/ping/pong/text_message/binary_message`` (masked bytes are unmasked here)."""
    from ws4py.streaming import Stream

    def frame(raw: Any) -> Any:
        raw = bytes(raw)
        if not raw[1] & 0x80:
            return raw
        n = raw[1] & 0x7F
        hlen = 2 + (2 if n == 126 else 8 if n == 127 else 0)
        key = raw[hlen : hlen + 4]
        return (raw[:1] + bytes([raw[1] & 0x7F]) + raw[2:hlen], _xor(raw[hlen + 4 :], key))

    stream = Stream(always_mask=always_mask)
    close = stream.close(code, reason)
    out: dict[str, Any] = {"close": describe(close) if hasattr(close, "opcode") else plain(close)}
    out["close_single"] = outcome(lambda: frame(close.single(mask=always_mask)))
    out["ping"] = outcome(lambda: frame(stream.ping(data)))
    out["pong"] = outcome(lambda: frame(stream.pong(data)))
    out["text"] = outcome(lambda: describe(stream.text_message(data)))
    out["binary"] = outcome(lambda: describe(stream.binary_message(data)))
    return out


def stream_attributes() -> dict[str, Any]:
    """A fresh stream's classic attributes and ``VALID_CLOSING_CODES``."""
    import ws4py.streaming as streaming

    s = streaming.Stream()
    client = streaming.Stream(always_mask=True, expect_masking=False)
    return {
        "message": s.message,
        "has_message": s.has_message,
        "pings": s.pings,
        "pongs": s.pongs,
        "closing": s.closing,
        "errors": s.errors,
        "masks": (s.always_mask, s.expect_masking, client.always_mask, client.expect_masking),
        "valid_closing_codes": plain(getattr(streaming, "VALID_CLOSING_CODES", None)),
    }


# -- messaging ---------------------------------------------------------------


def message_make(kind: str, *args: Any) -> Any:
    """Build a message of class ``kind`` from ``args``; describe it (or the exception)."""
    import ws4py.messaging as messaging

    return outcome(lambda: describe(getattr(messaging, kind)(*args)))


def message_text_of_anything(kind: str, *args: Any) -> Any:
    """``len()``/``str()`` of any message, binary or not UTF-8 included."""
    import ws4py.messaging as messaging

    return outcome(lambda: describe(getattr(messaging, kind)(*args), text_of_anything=True))


def message_frames(kind: str, data: Any) -> dict[str, Any]:
    """``single()`` and ``fragment(first, last)`` bytes; masked ones are unmasked here."""
    import ws4py.messaging as messaging

    def unmasked(raw: bytes) -> Any:
        raw = bytes(raw)
        n = raw[1] & 0x7F
        hlen = 2 + (2 if n == 126 else 8 if n == 127 else 0)
        key = raw[hlen : hlen + 4]
        return (raw[:1] + bytes([raw[1] & 0x7F]) + raw[2:hlen], _xor(raw[hlen + 4 :], key))

    message = getattr(messaging, kind)(data)
    out: dict[str, Any] = {"single": outcome(lambda: bytes(message.single()))}
    out["single_masked"] = outcome(lambda: unmasked(message.single(mask=True)))
    for first in (False, True):
        for last in (False, True):
            out[f"fragment-{first}-{last}"] = outcome(
                lambda f=first, la=last: bytes(message.fragment(first=f, last=la))
            )
    return out


def message_extend(kind: str, initial: Any, chunks: list[Any]) -> Any:
    import ws4py.messaging as messaging

    def run() -> Any:
        message = getattr(messaging, kind)(initial)
        for chunk in chunks:
            message.extend(chunk)
        return describe(message)

    return outcome(run)


def message_identity() -> dict[str, Any]:
    """Equality and hashing: by identity in 0.6.0."""
    from ws4py.messaging import BinaryMessage, CloseControlMessage, TextMessage

    a, b = TextMessage("same"), TextMessage("same")
    c = CloseControlMessage(1000, "x")
    return {
        "equal_values_equal": a == b,
        "self_equal": a == a,
        "hash_ok": outcome(lambda: isinstance(hash(a), int)),
        "set_size": outcome(lambda: len({a, b, BinaryMessage(b"same"), c})),
        "dict_key": outcome(lambda: {a: 1}[a]),
    }


# -- utf8validator -----------------------------------------------------------


def utf8_validate(chunks: list[bytes]) -> list[Any]:
    from ws4py.utf8validator import Utf8Validator

    v = Utf8Validator()
    return [outcome(lambda c=c: tuple(v.validate(c))) for c in chunks]


def utf8_decode(data: bytes) -> list[Any]:
    """``decode()`` octet by octet: (state, codepoint) after each."""
    from ws4py.utf8validator import Utf8Validator

    v = Utf8Validator()
    out = []
    for b in data:
        state = v.decode(b)
        out.append((state, v.codepoint))
    return out


def utf8_reset_between(first: bytes, second: bytes) -> list[Any]:
    from ws4py.utf8validator import Utf8Validator

    v = Utf8Validator()
    out = [tuple(v.validate(first))]
    v.reset()
    out.append((v.state, v.codepoint, v.i))
    out.append(tuple(v.validate(second)))
    return out


def utf8_attributes() -> dict[str, Any]:
    from ws4py.utf8validator import Utf8Validator

    v = Utf8Validator()
    return {
        "dfa": list(Utf8Validator.UTF8VALIDATOR_DFA),
        "dfa_type": type(Utf8Validator.UTF8VALIDATOR_DFA).__name__,
        "accept": Utf8Validator.UTF8_ACCEPT,
        "reject": Utf8Validator.UTF8_REJECT,
        "fresh": (v.state, v.codepoint, v.i),
    }


# -- exc -----------------------------------------------------------------------


def exc_tree() -> dict[str, Any]:
    import ws4py.exc as exc

    classes = {n: getattr(exc, n) for n in sorted(CLASSIC_EXCEPTIONS)}
    out: dict[str, Any] = {}
    for name, cls in classes.items():
        out[name] = {
            "bases": [b.__name__ for b in cls.__bases__],
            "subclass_of": sorted(n for n, other in classes.items() if issubclass(cls, other)),
            "is_exception": issubclass(cls, Exception),
            "exported": name in exc.__all__,
        }
    err = exc.HandshakeError("bad upgrade")
    out["handshake_error"] = (str(err), err.msg)
    out["plain_str"] = str(exc.ProtocolException("oops"))
    out["no_args"] = outcome(lambda: str(exc.FrameTooLargeException()))
    return out


# -- ws4py ---------------------------------------------------------------------


def logger_calls(calls: list[tuple[bool, bool, int]]) -> list[Any]:
    """``configure_logger(stdout, filepath, level)`` in sequence: the handlers after each.

    Handlers this scenario added are removed at the end; only stream and
    file handlers are described (a library may keep a ``NullHandler``).
    """
    import logging
    import logging.handlers
    import os
    import sys
    import tempfile

    import ws4py

    log = logging.getLogger("ws4py")
    before = list(log.handlers)
    level_before = log.level
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ws4py.log")
        try:
            for stdout, to_file, level in calls:
                returned = ws4py.configure_logger(
                    stdout=stdout, filepath=path if to_file else None, level=level
                )
                kinds = []
                for h in log.handlers:
                    if isinstance(h, logging.handlers.RotatingFileHandler):
                        kinds.append(("file", h.level, h.maxBytes, h.backupCount))
                    elif type(h) is logging.StreamHandler:
                        kinds.append(("stream", h.level, h.stream is sys.stdout))
                out.append(
                    {
                        "same_logger": returned is log,
                        "level": log.level,
                        "handlers": sorted(kinds),
                        "format": sorted({h.formatter._fmt for h in log.handlers if h.formatter}),
                    }
                )
        finally:
            for h in list(log.handlers):
                if h not in before:
                    log.removeHandler(h)
                    h.close()
            log.setLevel(level_before)
    return out


def format_addresses(local: Any, peer: Any) -> tuple[str, Any]:
    import ws4py

    class WS:
        local_address = local
        peer_address = peer

    return outcome(ws4py.format_addresses, WS())


def package_names() -> dict[str, Any]:
    import ws4py

    return {
        "WS_KEY": ws4py.WS_KEY,
        "all": sorted(n for n in ws4py.__all__ if n != "__version__"),
        "configure_logger": callable(ws4py.configure_logger),
    }


# -- compat --------------------------------------------------------------------


def compat_names() -> dict[str, Any]:
    import io
    import socket

    import ws4py.compat as compat

    a, b = socket.socketpair()
    try:
        fileobj = a.makefile("rb")
        got = compat.get_connection(fileobj) is a
        compat.detach_connection(fileobj)
        after = outcome(lambda: fileobj.read(1))
        still_open = a.fileno() >= 0
    finally:
        a.close()
        b.close()
    raw = io.BufferedReader(io.BytesIO(b"x"))
    compat.detach_connection(raw)
    return {
        "py3k": compat.py3k,
        "unicode_is_str": compat.unicode is str,
        "basestring": [t.__name__ for t in compat.basestring],
        "range": list(compat.range(3)),
        "ord": (compat.ord(65), compat.ord("A"), compat.ord(b"A")),
        "urlsplit": tuple(compat.urlsplit("ws://h:9/p?q")),
        "get_connection": got,
        "after_detach": after,
        "still_open": still_open,
    }
