"""ws4py.messaging against classic ws4py 0.6.0: payload types, len/str, close messages, identity.

Scenarios: ``differential.scenarios_core``.  Deliberate differences, each
asserted on both sides below:

* ``TextMessage()``, ``BinaryMessage()``, ``PingControlMessage()`` (their
  default ``None``) build an empty message; 0.6.0 raised ``TypeError`` on
  its own default.
* ``str()`` of a binary message, and ``len()``/``str()`` of a control
  message whose data is not UTF-8, decode with replacement (``len()`` counts
  bytes when the data does not decode); 0.6.0 on Python 3 raised
  ``TypeError``/``UnicodeDecodeError`` (Python 2 leftovers).
* A close reason that would make the frame longer than 125 bytes is cut on
  a character boundary (RFC 6455 5.5); 0.6.0 built the oversized frame.
  A ``bytearray`` reason is kept as ``bytes``.
* ``fragment(first=True, last=False)`` of a control message raises
  ``ProtocolException``: RFC 6455 5.5 forbids fragmented control frames
  (``Frame(...).build()`` still builds one, for tests of peers).
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

PAYLOADS = st.one_of(
    st.text(max_size=50),
    st.text(max_size=50).map(str.encode),
    st.text(max_size=50).map(lambda t: bytearray(t.encode())),
)


@settings(max_examples=50, deadline=None, suppress_health_check=FIXTURE_OK)
@given(payload=PAYLOADS)
def test_text_message(classic: Differential, payload: Any) -> None:
    """``.data`` bytes, ``str()`` the text, ``len()`` in characters (issue #21 rows 13, 19)."""
    result = classic.same(sc.message_make, "TextMessage", payload)
    assert result[1]["data_type"] == "bytes"


@pytest.mark.parametrize("text", ["\u00e9", "\u20ac\u20ac", "\U0001f600", "a\u00e9b"])
def test_len_counts_characters(classic: Differential, text: str) -> None:
    result = classic.same(sc.message_make, "TextMessage", text)
    assert result[1]["len"] == ("ok", len(text))


@settings(max_examples=30, deadline=None, suppress_health_check=FIXTURE_OK)
@given(kind=st.sampled_from(["BinaryMessage", "PingControlMessage", "PongControlMessage"]),
       payload=st.one_of(st.binary(max_size=60), st.binary(max_size=60).map(bytearray),
                         st.text(max_size=20)))  # fmt: skip
def test_binary_and_control_messages(classic: Differential, kind: str, payload: Any) -> None:
    """``BinaryMessage(str)`` is a TypeError (no encoding), as in 0.6.0."""
    classic.same(sc.message_make, kind, payload)


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURE_OK)
@given(code=st.sampled_from([1000, 1001, 1011, 3000, 4999]),
       reason=st.one_of(st.text(max_size=30), st.text(max_size=30).map(str.encode)))  # fmt: skip
def test_close_message(classic: Differential, code: int, reason: Any) -> None:
    """``.reason`` is bytes, ``.data`` code + reason, ``str()`` the reason (issue #21 row 2).

    Reasons of at most 30 characters fit a control frame (123 bytes).
    """
    result = classic.same(sc.message_make, "CloseControlMessage", code, reason)
    assert result[1]["reason_type"] == "bytes"


def test_close_message_defaults(classic: Differential) -> None:
    classic.same(sc.message_make, "CloseControlMessage")


def test_close_reason_over_123_bytes_is_cut(classic: Differential) -> None:
    ours, theirs = classic.both(sc.message_make, "CloseControlMessage", 1000, "\u00e9" * 100)
    assert len(ours[1]["data"]) == 124 and ours[1]["reason"] == "\u00e9".encode() * 61
    assert len(theirs[1]["data"]) == 202


def test_close_reason_bytearray_is_bytes(classic: Differential) -> None:
    ours, theirs = classic.both(sc.message_make, "CloseControlMessage", 1001, bytearray(b"x"))
    assert (ours[1]["reason"], ours[1]["reason_type"]) == (b"x", "bytes")
    assert (theirs[1]["reason"], theirs[1]["reason_type"]) == (b"x", "bytearray")
    assert {**ours[1], "reason_type": None} == {**theirs[1], "reason_type": None}


@pytest.mark.parametrize("kind", ["TextMessage", "BinaryMessage", "PingControlMessage"])
def test_default_none_payload(classic: Differential, kind: str) -> None:
    ours, theirs = classic.both(sc.message_make, kind)
    assert ours[0] == "ok" and ours[1]["data"] == b""
    assert theirs == ("raise", "TypeError")


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("BinaryMessage", b"\x00\xff"),
        ("PingControlMessage", b"\xff"),
        ("PongControlMessage", b"\xc3"),
    ],
)
def test_text_of_binary_data(classic: Differential, kind: str, data: bytes) -> None:
    ours, theirs = classic.both(sc.message_text_of_anything, kind, data)
    assert ours[1]["str"] == ("ok", data.decode("utf-8", "replace"))
    assert ours[1]["len"] == ("ok", len(data))
    assert theirs[1]["str"][0] == "raise"
    assert {k: v for k, v in ours[1].items() if k not in ("len", "str", "bool")} == {
        k: v for k, v in theirs[1].items() if k not in ("len", "str", "bool")
    }


@settings(max_examples=30, deadline=None, suppress_health_check=FIXTURE_OK)
@given(
    kind=st.sampled_from(["TextMessage", "BinaryMessage"]),
    data=st.one_of(st.binary(max_size=70000), st.sampled_from([b"", b"x" * 125, b"y" * 126])),
)
def test_single_and_fragment(classic: Differential, kind: str, data: bytes) -> None:
    """Frame bytes of ``single()`` and every ``fragment(first, last)`` (masked ones unmasked)."""
    classic.same(sc.message_frames, kind, data)


@pytest.mark.parametrize(
    "kind", ["PingControlMessage", "PongControlMessage", "CloseControlMessage"]
)
def test_control_fragments(classic: Differential, kind: str) -> None:
    """A control message's first, non-final fragment would be a fragmented control frame."""
    data: Any = 1000 if kind == "CloseControlMessage" else b"x"
    ours, theirs = classic.both(sc.message_frames, kind, data)
    assert ours["fragment-True-False"] == ("raise", "ProtocolException")
    assert theirs["fragment-True-False"][0] == "ok"
    assert theirs["fragment-True-False"][1][0] & 0x80 == 0  # 0.6.0: FIN clear on a control frame
    assert {k: v for k, v in ours.items() if k != "fragment-True-False"} == {
        k: v for k, v in theirs.items() if k != "fragment-True-False"
    }


@settings(max_examples=30, deadline=None, suppress_health_check=FIXTURE_OK)
@given(kind=st.sampled_from(["TextMessage", "PingControlMessage"]),
       initial=PAYLOADS, chunks=st.lists(PAYLOADS, max_size=4))  # fmt: skip
def test_extend_keeps_bytes(
    classic: Differential, kind: str, initial: Any, chunks: list[Any]
) -> None:
    """``extend`` takes str/bytes/bytearray; ``.data`` stays bytes (issue #21 row 19)."""
    classic.same(sc.message_extend, kind, initial, chunks)


@pytest.mark.parametrize("chunk", ["x", 5, None])
def test_extend_refuses(classic: Differential, chunk: Any) -> None:
    result = classic.same(sc.message_extend, "BinaryMessage", b"a", [chunk])
    assert result == ("raise", "TypeError")


def test_identity_equality_and_hashing(classic: Differential) -> None:
    """Hashable, equal only to itself (issue #21 row 12)."""
    result = classic.same(sc.message_identity)
    assert result["equal_values_equal"] is False and result["set_size"] == ("ok", 4)
