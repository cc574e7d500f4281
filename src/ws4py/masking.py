"""Payload masking (RFC 6455 section 5.3), the one place ws4py does it.

Every frame a client sends and every frame a server receives is masked, so
this sits on the hottest path of the library. It lives in a module of its own
so that the rest of ws4py has a single thing to call while the work itself is
done by the optional C extension :mod:`ws4py._speedups` when it was built, and
by a pure-Python twin with identical behaviour when it was not (no compiler,
PyPy, or ``WS4PY_NO_SPEEDUPS`` set to a non-empty value to rule the extension
out when debugging or comparing).

``offset`` is the key phase at which the data starts, taken modulo 4, so a
payload that arrives in pieces can be (un)masked piece by piece, passing the
number of payload bytes already handled, with the same result as masking it
whole.
"""

from __future__ import annotations

import operator
import os

__all__ = [
    "HAS_SPEEDUPS",
    "BytesLike",
    "mask",
    "mask_inplace",
    "py_mask",
    "py_mask_inplace",
]

#: What :func:`mask` and :func:`mask_inplace` accept as data.
BytesLike = bytes | bytearray | memoryview


def _view(data: BytesLike, name: str) -> memoryview:
    """A flat unsigned-byte view of ``data``, with the C extension's errors."""
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(f"{name} must be a bytes-like object, not {type(data).__name__}") from None
    if not view.c_contiguous:
        raise BufferError(f"{name} must be C-contiguous")
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


def _keystream(key: BytesLike, offset: int, length: int) -> int:
    """The key, rotated to ``offset`` and repeated over ``length`` bytes, as an int."""
    k = bytes(_view(key, "key"))
    if len(k) != 4:
        raise ValueError(f"mask key must be exactly 4 bytes, got {len(k)}")
    phase = operator.index(offset) & 3  # == offset % 4, also for negative ints
    k = k[phase:] + k[:phase]
    return int.from_bytes((k * ((length >> 2) + 1))[:length], "little")


def py_mask(data: BytesLike, key: BytesLike, offset: int = 0) -> bytes:
    """Return ``data`` XORed with the repeating 4-byte ``key``, from key phase ``offset``.

    Pure-Python twin of the C ``mask``; raises ``ValueError`` if ``key`` is
    not 4 bytes long.
    """
    view = _view(data, "data")
    n = view.nbytes
    stream = _keystream(key, offset, n)
    if n == 0:
        return b""
    # int.from_bytes() copies any non-bytes argument first; skip that for bytes.
    raw = data if type(data) is bytes else view.tobytes()
    return (int.from_bytes(raw, "little") ^ stream).to_bytes(n, "little")


def py_mask_inplace(buf: bytearray | memoryview, key: BytesLike, offset: int = 0) -> None:
    """XOR the writable buffer ``buf`` in place with the repeating 4-byte ``key``.

    Pure-Python twin of the C ``mask_inplace``; raises ``TypeError`` for a
    read-only buffer and ``ValueError`` if ``key`` is not 4 bytes long.
    """
    view = _view(buf, "buf")
    if view.readonly:
        raise TypeError(
            "mask_inplace() argument 'buf' must be a writable bytes-like object, "
            f"not read-only {type(buf).__name__}"
        )
    n = view.nbytes
    stream = _keystream(key, offset, n)
    if n == 0:
        return
    view[:] = (int.from_bytes(view.tobytes(), "little") ^ stream).to_bytes(n, "little")


# The C twins take the same arguments and raise the same errors; mypy sees the
# pure signatures (the extension is typed as Any).
mask = py_mask
mask_inplace = py_mask_inplace
#: True when :func:`mask` and :func:`mask_inplace` are the C implementations.
HAS_SPEEDUPS: bool = False

if not os.environ.get("WS4PY_NO_SPEEDUPS"):
    try:
        from ws4py._speedups import mask as _c_mask
        from ws4py._speedups import mask_inplace as _c_mask_inplace
    except ImportError:
        pass
    else:
        mask = _c_mask
        mask_inplace = _c_mask_inplace
        HAS_SPEEDUPS = True
