"""Tests for ws4py.masking: RFC 6455 section 5.3 payload masking.

Every behavioural test runs against both implementations: the pure-Python
twins always, the C extension ``ws4py._speedups`` whenever it is built (its
cases are skipped, with a reason saying so, only when it is not; set
``WS4PY_REQUIRE_SPEEDUPS=1`` to make a missing extension a failure instead).
"""

from __future__ import annotations

import array
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ws4py
from ws4py import masking

_speedups: ModuleType | None
try:
    import ws4py._speedups as _c_module
except ImportError:  # not built: the C cases skip (or fail, if required)
    _speedups = None
else:
    _speedups = _c_module

REQUIRE_SPEEDUPS = bool(os.environ.get("WS4PY_REQUIRE_SPEEDUPS"))
NO_C_REASON = "the C extension ws4py._speedups is not built (pure-Python cases still run)"

MaskFn = Callable[..., bytes]
MaskInplaceFn = Callable[..., object]


@dataclass(frozen=True)
class Impl:
    name: str
    mask: MaskFn
    mask_inplace: MaskInplaceFn


def _c_impl() -> Impl:
    if _speedups is None:
        if REQUIRE_SPEEDUPS:
            pytest.fail("WS4PY_REQUIRE_SPEEDUPS is set but ws4py._speedups is not built")
        pytest.skip(NO_C_REASON)
    return Impl("c", _speedups.mask, _speedups.mask_inplace)


PURE = Impl("pure", masking.py_mask, masking.py_mask_inplace)


@pytest.fixture(params=["pure", "c"])
def impl(request: pytest.FixtureRequest) -> Impl:
    return PURE if request.param == "pure" else _c_impl()


@pytest.fixture
def c_impl() -> Impl:
    return _c_impl()


def reference(data: bytes, key: bytes, offset: int = 0) -> bytes:
    """The RFC's definition, byte by byte: octet i XOR key[(i + offset) % 4]."""
    return bytes(b ^ key[(i + offset) % 4] for i, b in enumerate(data))


def pattern(n: int, seed: int = 0) -> bytes:
    """Deterministic non-repeating-ish test data."""
    return bytes((i * 131 + seed * 7 + (i >> 8)) & 0xFF for i in range(n))


KEY = bytes.fromhex("37fa213d")
KEYS = [KEY, b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x01\x02\x03\x04", b"\xa5\x5a\x00\xff"]


def chunks(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    points = sorted({min(max(c, 0), len(data)) for c in cuts})
    start = 0
    for p in [*points, len(data)]:
        yield data[start:p]
        start = p


# --------------------------------------------------------------------------
# RFC 6455 section 5.7 and basic behaviour
# --------------------------------------------------------------------------


def test_rfc6455_hello_example(impl: Impl) -> None:
    masked = impl.mask(b"Hello", KEY)
    assert masked == bytes.fromhex("7f9f4d5158")
    assert type(masked) is bytes
    assert impl.mask(masked, KEY) == b"Hello"


def test_rfc6455_hello_example_inplace(impl: Impl) -> None:
    buf = bytearray(b"Hello")
    assert impl.mask_inplace(buf, KEY) is None
    assert buf == bytes.fromhex("7f9f4d5158")
    impl.mask_inplace(buf, KEY)
    assert buf == b"Hello"


@pytest.mark.parametrize("offset", range(8))
def test_empty(impl: Impl, offset: int) -> None:
    assert impl.mask(b"", KEY, offset) == b""
    assert type(impl.mask(bytearray(), KEY, offset)) is bytes
    buf = bytearray()
    impl.mask_inplace(buf, KEY, offset)
    assert buf == b""


@pytest.mark.parametrize("length", range(41))
def test_small_lengths_every_offset(impl: Impl, length: int) -> None:
    for key in KEYS:
        data = pattern(length, seed=length)
        for offset in range(8):
            expected = reference(data, key, offset)
            assert impl.mask(data, key, offset) == expected, (key, offset)
            buf = bytearray(data)
            impl.mask_inplace(buf, key, offset)
            assert buf == expected, (key, offset)


def test_default_offset_is_zero(impl: Impl) -> None:
    data = pattern(37)
    assert impl.mask(data, KEY) == impl.mask(data, KEY, 0) == reference(data, KEY)


@pytest.mark.parametrize(
    "offset", [-1, -2, -3, -4, -5, 4, 5, 103, 2**31 + 1, 2**64 + 3, -(2**70) - 1]
)
def test_offset_is_taken_modulo_4(impl: Impl, offset: int) -> None:
    data = pattern(29)
    assert impl.mask(data, KEY, offset) == reference(data, KEY, offset % 4)
    buf = bytearray(data)
    impl.mask_inplace(buf, KEY, offset)
    assert buf == reference(data, KEY, offset % 4)


def test_offset_accepts_index_objects(impl: Impl) -> None:
    class Two:
        def __index__(self) -> int:
            return 2

    data = pattern(11)
    assert impl.mask(data, KEY, Two()) == reference(data, KEY, 2)
    assert impl.mask(data, KEY, True) == reference(data, KEY, 1)


@pytest.mark.parametrize("offset", [1.0, "1", None, b"\x01"])
def test_offset_must_be_an_integer(impl: Impl, offset: object) -> None:
    with pytest.raises(TypeError):
        impl.mask(b"abc", KEY, offset)
    with pytest.raises(TypeError):
        impl.mask_inplace(bytearray(b"abc"), KEY, offset)


def test_keyword_arguments(impl: Impl) -> None:
    data = pattern(13)
    expected = reference(data, KEY, 3)
    assert impl.mask(data=data, key=KEY, offset=3) == expected
    assert impl.mask(data, key=KEY, offset=3) == expected
    assert impl.mask(data, KEY, offset=3) == expected
    buf = bytearray(data)
    impl.mask_inplace(buf=buf, key=KEY, offset=3)
    assert buf == expected


def test_bad_arguments(impl: Impl) -> None:
    with pytest.raises(TypeError):
        impl.mask(b"abc")
    with pytest.raises(TypeError):
        impl.mask(b"abc", KEY, 0, 0)
    with pytest.raises(TypeError):
        impl.mask(b"abc", KEY, bogus=1)
    with pytest.raises(TypeError):
        impl.mask(b"abc", KEY, 0, offset=1)
    with pytest.raises(TypeError):
        impl.mask_inplace(bytearray(b"abc"))


# --------------------------------------------------------------------------
# Sizes, chunking, involution
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [1 << 20, (1 << 20) + 3, 64 * 1024, 64 * 1024 + 1, 64 * 1024 - 1, 4099]
)
def test_large(impl: Impl, size: int) -> None:
    data = pattern(size, seed=size)
    for offset in (0, 3):
        expected = reference(data, KEY, offset)
        masked = impl.mask(data, KEY, offset)
        assert masked == expected
        buf = bytearray(data)
        impl.mask_inplace(buf, KEY, offset)
        assert buf == expected


@pytest.mark.parametrize(
    "cuts",
    [[], [0], [1], [3], [4], [5], [1, 2, 3], [7, 15, 16, 100], list(range(0, 200, 3)), [199, 200]],
)
def test_chunked_equals_whole(impl: Impl, cuts: list[int]) -> None:
    data = pattern(200)
    for offset in range(4):
        whole = impl.mask(data, KEY, offset)
        parts = []
        done = offset
        for chunk in chunks(data, cuts):
            parts.append(impl.mask(chunk, KEY, done))
            done += len(chunk)
        assert b"".join(parts) == whole

        buf = bytearray(data)
        view = memoryview(buf)
        done = 0
        for chunk in chunks(data, cuts):
            impl.mask_inplace(view[done : done + len(chunk)], KEY, offset + done)
            done += len(chunk)
        assert buf == whole


def test_chunked_large_payload(impl: Impl) -> None:
    data = pattern(300_001)
    whole = impl.mask(data, KEY, 1)
    step = 65_537  # not a multiple of 4: every chunk starts at another phase
    parts = [impl.mask(data[i : i + step], KEY, 1 + i) for i in range(0, len(data), step)]
    assert b"".join(parts) == whole


@pytest.mark.parametrize("length", [0, 1, 5, 8, 33, 1000, 70_000])
def test_mask_is_an_involution(impl: Impl, length: int) -> None:
    data = pattern(length)
    for offset in range(8):
        assert impl.mask(impl.mask(data, KEY, offset), KEY, offset) == data


# --------------------------------------------------------------------------
# Input types
# --------------------------------------------------------------------------


def _inputs(data: bytes) -> list[object]:
    padded = bytearray(b"xyz" + data + b"uvw")
    return [
        data,
        bytearray(data),
        memoryview(data),
        memoryview(bytearray(data)),
        memoryview(padded)[3 : 3 + len(data)],  # contiguous slice, unaligned start
        memoryview(bytes(padded))[3 : 3 + len(data)],
    ]


@pytest.mark.parametrize("length", [0, 3, 17, 129])
def test_bytes_like_inputs(impl: Impl, length: int) -> None:
    data = pattern(length)
    for offset in (0, 2):
        expected = reference(data, KEY, offset)
        for obj in _inputs(data):
            result = impl.mask(obj, KEY, offset)
            assert type(result) is bytes
            assert result == expected, type(obj)
    # the input is never modified
    src = bytearray(data)
    impl.mask(src, KEY)
    assert src == data


def test_other_buffer_formats_are_masked_as_raw_bytes(impl: Impl) -> None:
    arr = array.array("I", range(50))
    raw = arr.tobytes()
    assert impl.mask(arr, KEY, 1) == reference(raw, KEY, 1)
    assert impl.mask(memoryview(arr), KEY, 1) == reference(raw, KEY, 1)
    impl.mask_inplace(arr, KEY, 1)
    assert arr.tobytes() == reference(raw, KEY, 1)
    grid = memoryview(bytearray(raw)).cast("B", (10, 20))  # 2-D, C-contiguous
    assert impl.mask(grid, KEY) == reference(raw, KEY)


def test_key_may_be_any_bytes_like(impl: Impl) -> None:
    data = pattern(21)
    expected = reference(data, KEY, 2)
    for key in (KEY, bytearray(KEY), memoryview(KEY), memoryview(b"..." + KEY)[3:]):
        assert impl.mask(data, key, 2) == expected
        buf = bytearray(data)
        impl.mask_inplace(buf, key, 2)
        assert buf == expected


@pytest.mark.parametrize("key", [b"", b"\x01", b"abc", b"abcde", b"abcdefgh", bytearray(3)])
def test_bad_key_length_raises_value_error(impl: Impl, key: bytes) -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        impl.mask(b"payload", key)
    with pytest.raises(ValueError, match="4 bytes"):
        impl.mask(b"", key)
    with pytest.raises(ValueError, match="4 bytes"):
        impl.mask_inplace(bytearray(b"payload"), key)


@pytest.mark.parametrize("key", ["abcd", 1234, None, [1, 2, 3, 4]])
def test_key_must_be_bytes_like(impl: Impl, key: object) -> None:
    with pytest.raises(TypeError):
        impl.mask(b"payload", key)


@pytest.mark.parametrize("data", ["text", 42, None, [1, 2, 3]])
def test_data_must_be_bytes_like(impl: Impl, data: object) -> None:
    with pytest.raises(TypeError):
        impl.mask(data, KEY)
    with pytest.raises(TypeError):
        impl.mask_inplace(data, KEY)


def test_non_contiguous_buffers_are_rejected(impl: Impl) -> None:
    strided = memoryview(bytearray(range(20)))[::2]
    with pytest.raises(BufferError):
        impl.mask(strided, KEY)
    with pytest.raises(BufferError):
        impl.mask_inplace(strided, KEY)
    with pytest.raises(BufferError):
        impl.mask(b"abcd", memoryview(b"abcdefgh")[::2])


# --------------------------------------------------------------------------
# In place
# --------------------------------------------------------------------------


def test_inplace_memoryview_slice_touches_only_the_slice(impl: Impl) -> None:
    data = pattern(100)
    buf = bytearray(data)
    impl.mask_inplace(memoryview(buf)[10:77], KEY, 10)
    assert buf[:10] == data[:10]
    assert buf[77:] == data[77:]
    assert bytes(buf[10:77]) == reference(data[10:77], KEY, 10)


@pytest.mark.parametrize(
    "readonly", [b"abcdef", memoryview(b"abcdef"), memoryview(bytearray(b"abcdef")).toreadonly()]
)
def test_inplace_rejects_read_only_buffers(impl: Impl, readonly: object) -> None:
    with pytest.raises(TypeError, match="writable"):
        impl.mask_inplace(readonly, KEY)


def test_inplace_matches_mask(impl: Impl) -> None:
    for length in (0, 1, 7, 8, 9, 63, 64, 65, 1000):
        data = pattern(length)
        for offset in range(4):
            buf = bytearray(data)
            impl.mask_inplace(buf, KEY, offset)
            assert buf == impl.mask(data, KEY, offset)


# --------------------------------------------------------------------------
# C-only: the extension releases the GIL on big inputs; threads stay correct
# --------------------------------------------------------------------------


def test_c_threads_masking_large_buffers(c_impl: Impl) -> None:
    datas = [pattern(1 << 20, seed=s) for s in range(4)]
    expected = [masking.py_mask(d, KEY, s) for s, d in enumerate(datas)]
    results: list[bytes | None] = [None] * len(datas)
    bufs = [bytearray(d) for d in datas]

    def work(i: int) -> None:
        for _ in range(5):
            results[i] = c_impl.mask(datas[i], KEY, i)
        c_impl.mask_inplace(bufs[i], KEY, i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(datas))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == expected
    assert bufs == expected


# --------------------------------------------------------------------------
# Property tests
# --------------------------------------------------------------------------

keys = st.binary(min_size=4, max_size=4)
offsets = st.integers(min_value=-(2**70), max_value=2**70)


@settings(deadline=None)
@given(data=st.binary(max_size=3000), key=keys, offset=offsets)
def test_property_c_equals_pure(data: bytes, key: bytes, offset: int) -> None:
    if _speedups is None:
        if REQUIRE_SPEEDUPS:
            pytest.fail("WS4PY_REQUIRE_SPEEDUPS is set but ws4py._speedups is not built")
        pytest.skip(NO_C_REASON)
    expected = masking.py_mask(data, key, offset)
    assert _speedups.mask(data, key, offset) == expected
    buf_c, buf_py = bytearray(data), bytearray(data)
    _speedups.mask_inplace(buf_c, key, offset)
    masking.py_mask_inplace(buf_py, key, offset)
    assert buf_c == buf_py == expected


@settings(deadline=None)
@given(
    data=st.binary(max_size=3000),
    key=keys,
    offset=offsets,
    start=st.integers(min_value=0, max_value=15),
)
def test_property_c_equals_pure_unaligned_views(
    data: bytes, key: bytes, offset: int, start: int
) -> None:
    """Same, on views starting at every alignment (exercises head/tail paths)."""
    if _speedups is None:
        if REQUIRE_SPEEDUPS:
            pytest.fail("WS4PY_REQUIRE_SPEEDUPS is set but ws4py._speedups is not built")
        pytest.skip(NO_C_REASON)
    backing = bytearray(start) + bytearray(data)
    view = memoryview(backing)[start:]
    expected = masking.py_mask(data, key, offset)
    assert _speedups.mask(view, key, offset) == expected
    _speedups.mask_inplace(view, key, offset)
    assert backing[start:] == expected


@settings(deadline=None, max_examples=200)
@given(data=st.binary(max_size=600), key=keys, offset=st.integers(-1000, 1000))
def test_property_pure_matches_reference(data: bytes, key: bytes, offset: int) -> None:
    assert masking.py_mask(data, key, offset) == reference(data, key, offset % 4)


@pytest.mark.parametrize("impl_name", ["pure", "c"])
@settings(deadline=None)
@given(
    data=st.binary(max_size=1500),
    key=keys,
    offset=st.integers(0, 7),
    cuts=st.lists(st.integers(0, 1500), max_size=8),
)
def test_property_chunked_equals_whole(
    impl_name: str, data: bytes, key: bytes, offset: int, cuts: list[int]
) -> None:
    impl = PURE if impl_name == "pure" else _c_impl()
    whole = impl.mask(data, key, offset)
    done = offset
    out = bytearray()
    for chunk in chunks(data, cuts):
        out += impl.mask(chunk, key, done)
        done += len(chunk)
    assert out == whole
    assert impl.mask(whole, key, offset) == data


# --------------------------------------------------------------------------
# Selection of the implementation
# --------------------------------------------------------------------------


def test_public_api() -> None:
    assert set(masking.__all__) == {
        "HAS_SPEEDUPS",
        "BytesLike",
        "mask",
        "mask_inplace",
        "py_mask",
        "py_mask_inplace",
    }
    assert isinstance(masking.HAS_SPEEDUPS, bool)
    assert isinstance(b"", masking.BytesLike)
    assert isinstance(memoryview(b""), masking.BytesLike)
    assert masking.mask(b"Hello", KEY) == bytes.fromhex("7f9f4d5158")


def test_public_functions_are_the_selected_implementation() -> None:
    if masking.HAS_SPEEDUPS:
        assert _speedups is not None
        assert masking.mask is _speedups.mask
        assert masking.mask_inplace is _speedups.mask_inplace
    else:
        assert masking.mask is masking.py_mask
        assert masking.mask_inplace is masking.py_mask_inplace
    if not os.environ.get("WS4PY_NO_SPEEDUPS"):
        assert masking.HAS_SPEEDUPS is (_speedups is not None)


def _run_python(code: str, no_speedups: str | None) -> str:
    env = dict(os.environ)
    env.pop("WS4PY_NO_SPEEDUPS", None)
    if no_speedups is not None:
        env["WS4PY_NO_SPEEDUPS"] = no_speedups
    # import the same ws4py this test process imported
    src = str(Path(ws4py.__file__).absolute().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


_PROBE = (
    "import ws4py.masking as m; "
    "assert m.mask(b'Hello', bytes.fromhex('37fa213d')) == bytes.fromhex('7f9f4d5158'); "
    "b = bytearray(b'Hello'); m.mask_inplace(b, b'\\x37\\xfa\\x21\\x3d', 4); "
    "assert b == bytes.fromhex('7f9f4d5158'); "
    "print(m.HAS_SPEEDUPS, m.mask is m.py_mask)"
)


def test_env_var_forces_pure_python() -> None:
    assert _run_python(_PROBE, no_speedups="1") == "False True"


def test_empty_env_var_does_not_disable_speedups() -> None:
    built = _speedups is not None
    assert _run_python(_PROBE, no_speedups="") == f"{built} {not built}"


def test_speedups_c_module_metadata(c_impl: Impl) -> None:
    assert _speedups is not None
    assert _speedups.__name__ == "ws4py._speedups"
    assert "mask(data, key, offset=0)" in (_speedups.mask.__doc__ or "")
    assert "mask_inplace(buf, key, offset=0)" in (_speedups.mask_inplace.__doc__ or "")
