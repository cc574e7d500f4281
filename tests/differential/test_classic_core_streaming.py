"""ws4py.streaming.Stream against classic ws4py 0.6.0: the classic ``parser`` and the builders.

Scenarios: ``differential.scenarios_core``; the stream is fed exactly what
its parser asks for, as 0.6.0's websocket did, and completed messages are
taken with ``stream.message = None``.  Deliberate differences, each asserted
on both sides below:

* A close frame's message with code 1005 (an empty close, or a malformed one
  reported the classic way) has empty ``data``: RFC 6455 7.4.1 forbids 1005
  on the wire, and 0.6.0's ``b"\\x03\\xed"`` went out if it was echoed.
* 1012-1014 are valid close codes (IANA-registered since 0.6.0):
  ``VALID_CLOSING_CODES`` lists them, and a close with one is a close, not
  "Invalid Closing Frame Code".
* Parsing stops at the first error (RFC 6455 7.1.7: the connection is
  failed); 0.6.0 went on parsing what followed as new frames, piling up
  errors.  Errors are reported as soon as the header shows them, and a bare
  protocol error says what was wrong (0.6.0's reason was empty).
* A text message that is not UTF-8 is never delivered (0.6.0 left it in
  ``stream.message`` beside the 1007 error).
* An empty frame from a client must be masked too (RFC 6455 5.1); 0.6.0
  checked masking only when there was a payload.
* Several frames in one send are all parsed; 0.6.0 dropped the bytes past
  the first frame.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from differential import scenarios_core as sc
from differential.harness import Differential

pytestmark = pytest.mark.timeout(300)

FIXTURE_OK = [HealthCheck.function_scoped_fixture]
KEY = b"\x9a\x01\x5c\x42"
CLASSIC_VALID = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011]


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


@st.composite
def conversations(draw: Any, masked: bool) -> bytes:
    """Valid frames: whole and fragmented messages with control frames between fragments."""
    key = KEY if masked else None
    out = b""
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["text", "binary", "ping", "pong", "fragmented"]))
        if kind == "text":
            out += sc.encode_frame(0x1, draw(st.text(max_size=40)).encode(), key=key)
        elif kind == "binary":
            out += sc.encode_frame(0x2, draw(st.binary(max_size=300)), key=key)
        elif kind in ("ping", "pong"):
            out += sc.encode_frame(0x9 if kind == "ping" else 0xA, draw(st.binary(max_size=125)),
                                   key=key)  # fmt: skip
        else:
            text = draw(st.booleans())
            data = draw(st.text(max_size=30)).encode() if text else draw(st.binary(max_size=60))
            cuts = sorted(draw(st.lists(st.integers(0, len(data)), min_size=1, max_size=3)))
            pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
            for i, piece in enumerate(pieces):
                last = i == len(pieces) - 1
                opcode = (0x1 if text else 0x2) if i == 0 else 0x0
                out += sc.encode_frame(opcode, piece, fin=int(last), key=key)
                if not last and draw(st.booleans()):
                    out += sc.encode_frame(0x9, b"mid", key=key)
    end = draw(st.sampled_from(["none", "close", "empty-close"]))
    if end == "close":
        code = draw(st.sampled_from([*CLASSIC_VALID, 3000, 4999]))
        reason = draw(st.text(max_size=20)).encode()
        out += sc.encode_frame(0x8, close_payload(code, reason), key=key)
    return out


@settings(max_examples=50, deadline=None, suppress_health_check=FIXTURE_OK)
@given(wire=conversations(masked=True))
def test_server_stream_parses_as_classic(classic: Differential, wire: bytes) -> None:
    """Every yield, message, ping, pong and close the same (text ``len`` in characters)."""
    classic.same(sc.stream_parse, wire, "asked", False, True)


@settings(max_examples=30, deadline=None, suppress_health_check=FIXTURE_OK)
@given(wire=conversations(masked=False))
def test_client_stream_parses_as_classic(classic: Differential, wire: bytes) -> None:
    classic.same(sc.stream_parse, wire, "asked", True, False)


@pytest.mark.parametrize("code", [*CLASSIC_VALID, 3000, 3999, 4000, 4999])
@pytest.mark.parametrize("reason", [b"", b"bye", "d\u00e9j\u00e0 vu".encode()])
def test_close_frame_gives_closing(classic: Differential, code: int, reason: bytes) -> None:
    """``closing``: a CloseControlMessage, ``code`` and ``reason`` as bytes (issue #21 row 2)."""
    wire = sc.encode_frame(0x8, close_payload(code, reason), key=KEY)
    result = classic.same(sc.stream_parse, wire)
    assert result["closing"]["reason"] == reason and result["closing"]["reason_type"] == "bytes"


def _without_1005_data(result: dict[str, Any]) -> dict[str, Any]:
    closing = dict(result["closing"])
    del closing["data"]
    return {**result, "closing": closing}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", b""),
        (b"x", b"Payload has invalid length"),
        *[
            (close_payload(code), b"Invalid Closing Frame Code: %d" % code)
            for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535)
        ],
    ],
)
def test_malformed_close_reported_the_classic_way(
    classic: Differential, payload: bytes, reason: bytes
) -> None:
    """``closing`` with code 1005 and 0.6.0's reason, no error; its data is empty (RFC 7.4.1)."""
    ours, theirs = classic.both(sc.stream_parse, sc.encode_frame(0x8, payload, key=KEY))
    assert _without_1005_data(ours) == _without_1005_data(theirs)
    assert ours["closing"]["code"] == 1005 and ours["closing"]["reason"] == reason
    assert ours["errors"] == []
    assert ours["closing"]["data"] == b""
    assert theirs["closing"]["data"] == b"\x03\xed" + reason


@pytest.mark.parametrize("code", [1012, 1013, 1014])
def test_iana_close_codes_are_valid(classic: Differential, code: int) -> None:
    ours, theirs = classic.both(sc.stream_parse, sc.encode_frame(0x8, close_payload(code), key=KEY))
    assert (ours["closing"]["code"], ours["closing"]["reason"]) == (code, b"")
    assert (theirs["closing"]["code"], theirs["closing"]["reason"]) == (
        1005,
        b"Invalid Closing Frame Code: %d" % code,
    )


def _error_view(result: dict[str, Any]) -> Any:
    first = result["errors"][0]
    return (first["code"], first["reason_type"], result["closing"], result["pings"])


ERRORS = {
    "close-reason-not-utf8": (sc.encode_frame(0x8, close_payload(1000, b"\xff"), key=KEY), True),
    "close-too-large": (sc.encode_frame(0x8, close_payload(1000, b"x" * 124), key=KEY), True),
    "continuation-first": (sc.encode_frame(0x0, b"b", key=KEY), True),
    "new-before-previous": (
        sc.encode_frame(0x1, b"a", fin=0, key=KEY) + sc.encode_frame(0x2, b"b", key=KEY),
        True,
    ),
    "unmasked-to-server": (sc.encode_frame(0x1, b"b"), True),
    "masked-to-client": (sc.encode_frame(0x1, b"b", key=KEY), True),
    "reserved-opcode": (sc.encode_frame(0x3, b"b", key=KEY), False),
    "rsv1": (sc.encode_frame(0x1, b"b", rsv=0x40, key=KEY), False),
    "fragmented-ping": (sc.encode_frame(0x9, b"b", fin=0, key=KEY), False),
    "ping-then-reserved": (
        sc.encode_frame(0x9, b"p", key=KEY) + sc.encode_frame(0xB, b"", key=KEY),
        False,
    ),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors(classic: Differential, name: str) -> None:
    """The first error has 0.6.0's code (1002, 1007) and reason; ours stops there."""
    wire, same_reason = ERRORS[name]
    server = name != "masked-to-client"
    ours, theirs = classic.both(sc.stream_parse, wire, "asked", not server, server)
    assert _error_view(ours) == _error_view(theirs)
    assert ours["messages"] == theirs["messages"] == []
    assert len(ours["errors"]) == 1  # parsing stopped (0.6.0 went on)
    reason = ours["errors"][0]["reason"]
    if same_reason:
        assert reason == theirs["errors"][0]["reason"]
    else:  # 0.6.0's bare ProtocolException gave an empty reason; ours says what was wrong
        assert theirs["errors"][0]["reason"] == b"" and reason


@pytest.mark.parametrize(
    "wire",
    [
        sc.encode_frame(0x1, b"\xff", key=KEY),
        sc.encode_frame(0x1, b"a", fin=0, key=KEY) + sc.encode_frame(0x0, b"\xc3(", key=KEY),
    ],
)
def test_invalid_utf8_text_is_1007_and_never_delivered(classic: Differential, wire: bytes) -> None:
    ours, theirs = classic.both(sc.stream_parse, wire)
    assert [e["code"] for e in ours["errors"]] == [e["code"] for e in theirs["errors"]] == [1007]
    assert ours["errors"][0]["reason"] == theirs["errors"][0]["reason"] == b"Invalid UTF-8 bytes"
    assert ours["messages"] == []
    assert [m["completed"] for m in theirs["messages"]] == [True]  # 0.6.0 delivered it


def test_empty_unmasked_frame_to_a_server(classic: Differential) -> None:
    ours, theirs = classic.both(sc.stream_parse, sc.encode_frame(0x1, b""))
    assert [(e["code"], e["reason"]) for e in ours["errors"]] == [
        (1002, b"Missing masking when expected")
    ]
    assert theirs["errors"] == [] and len(theirs["messages"]) == 1


def test_several_frames_in_one_send(classic: Differential) -> None:
    one = sc.encode_frame(0x1, b"one", key=KEY)
    two = sc.encode_frame(0x1, b"two", key=KEY)
    ours, theirs = classic.both(sc.stream_parse, one + two, [len(one + two)])
    assert [m["data"] for m in ours["messages"]] == [b"one", b"two"]
    assert [m["data"] for m in theirs["messages"]] == [b"one"]


CODES = st.sampled_from([*CLASSIC_VALID, 3000, 4999])
REASONS = st.one_of(st.text(max_size=40), st.text(max_size=40).map(str.encode))
DATA = st.one_of(st.text(max_size=40), st.binary(max_size=100))


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURE_OK)
@given(always_mask=st.booleans(), code=CODES, reason=REASONS, data=DATA)
def test_builders(
    classic: Differential, always_mask: bool, code: int, reason: Any, data: Any
) -> None:
    """``close()`` is a CloseControlMessage (issue #21 row 3); ``ping()``/``pong()`` bytes."""
    result = classic.same(sc.stream_builders, always_mask, code, reason, data)
    assert result["close"]["class"] == "CloseControlMessage"


def test_close_builder_1005(classic: Differential) -> None:
    """``close(1005)`` builds an empty close frame: 1005 never goes on the wire (RFC 7.4.1)."""
    ours, theirs = classic.both(sc.stream_builders, False, 1005, "", b"")
    assert ours["close_single"] == ("ok", b"\x88\x00")
    assert theirs["close_single"] == ("ok", b"\x88\x02\x03\xed")
    assert {k: v for k, v in ours.items() if k.startswith("close") is False} == {
        k: v for k, v in theirs.items() if k.startswith("close") is False
    }


def test_stream_attributes(classic: Differential) -> None:
    """A fresh stream; ``streaming.VALID_CLOSING_CODES`` importable (issue #21 row 16)."""
    ours, theirs = classic.both(sc.stream_attributes)
    assert {k: v for k, v in ours.items() if k != "valid_closing_codes"} == {
        k: v for k, v in theirs.items() if k != "valid_closing_codes"
    }
    assert theirs["valid_closing_codes"] == CLASSIC_VALID
    assert ours["valid_closing_codes"] == [*CLASSIC_VALID, 1012, 1013, 1014]
