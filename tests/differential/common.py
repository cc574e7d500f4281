"""What a scenario may use on both sides: outcome capture and normalisation.

This module is imported by the scenarios in both interpreters, ours and the
classic ws4py 0.6.0 one (``.venv-classic``), so it imports ``ws4py`` only
inside functions: whichever ``ws4py`` is on ``sys.path`` is the one measured.
Everything a scenario returns must be made of plain values (None, bool, int,
float, str, bytes, tuple, list, dict) so that both sides compare with ``==``.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

#: The exception names the classic API reference documents (ws4py.exc).
CLASSIC_EXCEPTIONS = frozenset(
    {
        "WebSocketException",
        "ProtocolException",
        "FrameTooLargeException",
        "UnsupportedFrameTypeException",
        "TextFrameEncodingException",
        "InvalidBytesError",
        "StreamClosed",
        "HandshakeError",
    }
)


def exception_name(exc: BaseException) -> str:
    """The most specific classic or builtin class an exception is an instance of.

    Our exception tree adds subclasses (for example ``ConnectionClosedError``);
    a classic user's ``except`` clause names a classic or builtin class, so
    that is what is compared: the first such class in the MRO.
    """
    for cls in type(exc).__mro__:
        if cls.__module__ == "ws4py.exc" and cls.__name__ in CLASSIC_EXCEPTIONS:
            return cls.__name__
        if cls.__module__ == "builtins" and getattr(builtins, cls.__name__, None) is cls:
            return cls.__name__
    return type(exc).__name__


def outcome(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """``("ok", value)`` or ``("raise", classic exception name)``."""
    try:
        return ("ok", fn(*args, **kwargs))
    except StopIteration:
        return ("raise", "StopIteration")
    except Exception as exc:
        return ("raise", exception_name(exc))


def plain(value: Any) -> Any:
    """A value reduced to plain, comparable data (bytearray -> bytes, messages described)."""
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    from ws4py.messaging import Message

    if isinstance(value, Message):
        return describe_message(value)
    return ("object", type(value).__name__)


def describe_message(message: Any) -> dict[str, Any]:
    """What a classic user reads off a message."""
    from ws4py.messaging import CloseControlMessage

    out: dict[str, Any] = {
        "class": type(message).__name__,
        "opcode": message.opcode,
        "data": plain(message.data),
        "data_type": type(message.data).__name__,
        "completed": message.completed,
        "is_text": getattr(message, "is_text", None),
        "is_binary": getattr(message, "is_binary", None),
        "len": len(message),
    }
    if isinstance(message, CloseControlMessage):
        out["code"] = message.code
        out["reason"] = plain(message.reason)
        out["reason_type"] = type(message.reason).__name__
    return out
