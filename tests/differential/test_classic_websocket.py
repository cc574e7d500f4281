"""ws4py.websocket.WebSocket (and the WSGI application's handler arguments) against ws4py 0.6.0.

Scenarios: ``differential.scenarios_websocket``, over a duck-typed socket
(the classic unit tests' mock), frames parsed and unmasked before comparing.
Where ours differs on purpose, the test takes both results and asserts each
side explicitly:

* bytes that are not UTF-8 sent without ``binary=True``: 0.6.0 put them on
  the wire as a text frame, which RFC 6455 (5.6, 8.1) forbids; ours raises
  ValueError and sends nothing.  Change: ``send(data, binary=True)``.
* ``close(code)`` with a code RFC 6455 (7.4) does not allow on the wire
  (< 1000, 1004, 1006, 1015, 1016-2999, >= 5000): 0.6.0 sent it and a strict
  peer failed the connection with 1002; ours raises ValueError, sends
  nothing.  ``close(1005)`` sends a close without a status code (1005 itself
  never goes on the wire).  Change: use 1000, 1001 or an application code
  (3000-4999).
* ``send()`` / ``ping()`` after ``close()``: 0.6.0 still sent the message;
  RFC 6455 5.5.1 forbids any data frame after a close, so ours raises
  ConnectionClosedError, a RuntimeError (the exception 0.6.0 raised once
  terminated).  Change: send before closing.
* an exception raised by a handler: it propagates out of ``run()`` on both
  sides, and both call ``closed(1006, "Going away")``; ours also sends the
  peer a 1011 close (0.6.0 dropped TCP without a close frame) and hands no
  further message to the application.
* a peer's empty close: both report ``closed(1005, b"")``; 0.6.0 echoed a
  close frame carrying 1005, which RFC 6455 7.4.1 forbids; ours echoes an
  empty close.
* the WSGI application: 0.6.0 accepted an extension only when the offer was
  the exact string it was configured with, and answered every matching
  subprotocol (``chat, x``: RFC 6455 4.2.2 allows one); ours negotiates
  permessage-deflate's parameters and selects one subprotocol.  Either way,
  the handler is given strings in ``extensions``: the header value of each
  negotiated extension (ours: what the 101 answered, parameters included).
* the client's ``protocols``/``extensions`` after the handshake: 0.6.0 on
  Python 3 gave ``bytes`` (a Python 2 leftover); ours gives ``str``.
* right after ``process()`` answered the peer's close: ours says
  ``terminated`` (both closes are exchanged, the protocol is over); 0.6.0
  left ``client_terminated`` False until ``terminate()``.  Change: none
  needed, ``run()``/``once()`` end the same way; read ``terminated``.

Where 0.6.0 *crashes* on Python 3 the test records it: ``send()`` of an
empty generator (StopIteration), ``send()`` after ``terminate()``
(AttributeError, its stream is gone; ours: RuntimeError).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from differential import scenarios_websocket as scenarios
from differential.harness import Differential

pytestmark = pytest.mark.timeout(120)

FIXTURE_OK = [HealthCheck.function_scoped_fixture]  # the classic worker is session-wide

TEXT = st.text(max_size=200)
BYTES_TEXT = TEXT.map(lambda t: t.encode("utf-8"))  # bytes that are valid UTF-8
ALLOWED_CODES = st.sampled_from([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011]) | (
    st.integers(3000, 4999)
)
FORBIDDEN_CODES = st.sampled_from([0, 999, 1004, 1006, 1015, 1016, 2000, 2999, 5000, 65535])


# ---------------------------------------------------------------------------
# send(), issue #21 row 1: the reference's send(payload, binary=False)
# ---------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURE_OK)
@given(
    kind=st.sampled_from(["str", "bytes", "bytearray"]),
    text=TEXT,
    binary=st.sampled_from([None, False, True]),
    mask=st.booleans(),
)
def test_send_single_message(
    classic: Differential, kind: str, text: str, binary: bool | None, mask: bool
) -> None:
    """str and bytes alike are text unless binary=True (bytes -> text is the 0.6.0 rule)."""
    assume(not (kind == "str" and binary))  # 0.6.0 crashes: test_send_str_as_binary
    data: Any = text if kind == "str" else text.encode("utf-8")
    result = classic.same(scenarios.send, kind, data, binary, mask)
    assert result["outcome"] == ("ok", None)
    ((fin, rsv, opcode, masked, payload),) = result["frames"]
    assert (fin, rsv, masked, payload) == (1, 0, mask, text.encode("utf-8"))
    assert opcode == (2 if binary else 1)


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURE_OK)
@given(
    chunks=st.lists(TEXT, min_size=1, max_size=4),
    as_bytes=st.booleans(),
    binary=st.sampled_from([None, False, True]),
    mask=st.booleans(),
)
def test_send_generator_is_one_fragmented_message(
    classic: Differential, chunks: list[str], as_bytes: bool, binary: bool | None, mask: bool
) -> None:
    assume(as_bytes or not binary)  # 0.6.0 crashes: test_send_str_as_binary
    data: list[Any] = [c.encode("utf-8") for c in chunks] if as_bytes else chunks
    result = classic.same(scenarios.send, "gen", data, binary, mask)
    assert len(result["frames"]) == len(chunks)
    assert result["frames"][0][2] == (2 if binary else 1)


@pytest.mark.parametrize("kind", ["str", "gen"])
def test_send_str_as_binary(classic: Differential, kind: str) -> None:
    data: Any = "héllo" if kind == "str" else ["hé", "llo"]
    ours, theirs = classic.both(scenarios.send, kind, data, True, False)
    assert theirs == {"outcome": ("raise", "TypeError"), "frames": []}  # 0.6.0 on Python 3
    frames = ours["frames"]
    assert ours["outcome"] == ("ok", None) and frames[0][2] == 0x2  # the UTF-8 bytes, binary
    assert b"".join(frame[4] for frame in frames) == "héllo".encode()


def test_send_bytes_is_text_by_default(classic: Differential) -> None:
    """The browser case of row 1: json.dumps(...).encode() arrives as a string."""
    result = classic.same(scenarios.send, "bytes", b'{"a": 1}', None, False)
    assert result["frames"] == [(1, 0, 1, False, b'{"a": 1}')]


@pytest.mark.parametrize("data", [b"\xff", b"\x00\xfe\xff", "é".encode("latin-1"), b"ok\xc3"])
def test_send_invalid_utf8_without_binary(classic: Differential, data: bytes) -> None:
    ours, theirs = classic.both(scenarios.send, "bytes", data, None, False)
    assert theirs == {"outcome": ("ok", None), "frames": [(1, 0, 1, False, data)]}
    assert ours == {"outcome": ("raise", "ValueError"), "frames": []}
    # with binary=True both send it, as binary
    classic.same(scenarios.send, "bytes", data, True, False)


def test_send_generator_with_invalid_utf8_text(classic: Differential) -> None:
    ours, theirs = classic.both(scenarios.send, "gen", [b"\xff"], None, False)
    assert theirs["outcome"] == ("ok", None) and theirs["frames"] == [(1, 0, 1, False, b"\xff")]
    assert ours == {"outcome": ("raise", "ValueError"), "frames": []}


def test_send_empty_generator(classic: Differential) -> None:
    ours, theirs = classic.both(scenarios.send, "gen", [], None, False)
    assert theirs == {"outcome": ("raise", "StopIteration"), "frames": []}  # 0.6.0 crashes
    assert ours == {"outcome": ("ok", None), "frames": [(1, 0, 1, False, b"")]}


@pytest.mark.parametrize("text", [True, False])
@pytest.mark.parametrize("mask", [True, False])
def test_send_message_object(classic: Differential, text: bool, mask: bool) -> None:
    classic.same(scenarios.send_message_object, text, b"as is", mask)


@pytest.mark.parametrize("message", ["hi", b"hi", b"", "é"])
@pytest.mark.parametrize("mask", [True, False])
def test_ping(classic: Differential, message: Any, mask: bool) -> None:
    result = classic.same(scenarios.ping, message, mask)
    assert result["frames"][0][2] == 0x9


def test_the_streams_pong_answers_pings_and_ping_sends_a_message(classic: Differential) -> None:
    answered = classic.same(scenarios.stream_control_builders, "answer")
    assert answered["frames"] == [(1, 0, 0xA, False, b"stream pong: hello")]
    pinged = classic.same(scenarios.stream_control_builders, "ping")
    assert pinged["frames"] == [(1, 0, 0x9, False, b"hello")]


# ---------------------------------------------------------------------------
# close(), terminate(), the classic flags (rows 2, 5, 6, 7, 18)
# ---------------------------------------------------------------------------


@settings(max_examples=20, deadline=None, suppress_health_check=FIXTURE_OK)
@given(
    code=ALLOWED_CODES,
    reason=st.text(max_size=20),
    peer_code=ALLOWED_CODES,
    peer_reason=st.text(max_size=20).map(lambda t: t.encode("utf-8")),
)
def test_close_then_the_peers_close(
    classic: Differential, code: int, reason: str, peer_code: int, peer_reason: bytes
) -> None:
    """Frames, flags, process() and once() results, closed(code, reason as bytes)."""
    result = classic.same(scenarios.close_then_process, code, reason, peer_code, peer_reason)
    assert result["events"] == [("closed", peer_code, peer_reason, "bytes")]
    assert result["after_close"] == (True, False, False)
    assert result["after_peer"] == (True, True, True)
    assert result["process"] == ("ok", False) and result["once"] == ("ok", False)


@settings(max_examples=15, deadline=None, suppress_health_check=FIXTURE_OK)
@given(code=ALLOWED_CODES)
def test_close_with_an_allowed_code(classic: Differential, code: int) -> None:
    result = classic.same(scenarios.close_code, code)
    assert result["frames"] == [(1, 0, 8, False, code.to_bytes(2, "big") + b"r")]


@settings(max_examples=10, deadline=None, suppress_health_check=FIXTURE_OK)
@given(code=FORBIDDEN_CODES)
def test_close_with_a_code_not_allowed_on_the_wire(classic: Differential, code: int) -> None:
    """Row 6: refused before anything is written; 1005 means a close without a code."""
    ours, theirs = classic.both(scenarios.close_code, code)
    assert theirs["outcome"] == ("ok", None) and theirs["frames"][0][2] == 0x8
    assert ours == {"outcome": ("raise", "ValueError"), "frames": [], "server_terminated": False}
    ours, theirs = classic.both(scenarios.close_code, 1005)
    assert theirs["frames"] == [(1, 0, 8, False, b"\x03\xedr")]  # 1005 on the wire
    assert ours["frames"] == [(1, 0, 8, False, b"")]


@pytest.mark.parametrize("close_first", [False, True])
def test_terminate_calls_closed_1006_going_away(classic: Differential, close_first: bool) -> None:
    """Row 18: without the peer's close, closed(1006, "Going away"); the socket is shut."""
    result = classic.same(scenarios.terminate, close_first)
    assert result["events"] == [("closed", 1006, "Going away", "str")]
    assert result["flags"] == (True, True, True)
    assert result["sock"] == ["shutdown", "close"] and result["sock_gone"]
    assert result["stream_gone"] and result["environ"] is None  # released, as 0.6.0


@pytest.mark.parametrize("error", ["RuntimeError", "OSError"])
@pytest.mark.parametrize("then", ["close_connection", "terminate"])
def test_socket_close_failing(classic: Differential, error: str, then: str) -> None:
    """0.6.0's test_close_connection: a socket whose close() raises is forgotten all the same."""
    result = classic.same(scenarios.close_connection_failing, error, then)
    assert result["outcome"] == ("ok", None) and result["connection_gone"]
    assert result["sock"] == ["shutdown", "close"]
    if then == "terminate":
        assert result["events"] == [("closed", 1006, "Going away", "str")]


@settings(max_examples=15, deadline=None, suppress_health_check=FIXTURE_OK)
@given(code=ALLOWED_CODES, reason=BYTES_TEXT.filter(lambda r: len(r) <= 100))
def test_close_only_the_stream_shows_is_answered(
    classic: Differential, code: int, reason: bytes
) -> None:
    """0.6.0's test_closing_message_received: process() answers stream.closing with close().

    Through a mocked stream (0.6.0's own test) and through the real stream's
    classic parser fed by the application: close(code, reason) is called,
    the reason as bytes; the echo goes out and closed() reports the close.
    """
    for how in ("mock", "parser"):
        ours, theirs = classic.both(scenarios.stream_closing_answered, code, reason, how, True)
        # The peer's close arrived and was answered: ours says terminated at once
        # (the protocol is over, even when an overriding close() sent nothing);
        # 0.6.0 set client_terminated only in terminate().
        assert ours.pop("flags") == (True, True, True)
        assert theirs.pop("flags") == (how == "parser", False, False)
        assert ours == theirs
    mock = classic.same(scenarios.stream_closing_answered, code, reason, "mock")
    assert mock["process"] == ("ok", False)
    assert mock["closes"] == [(code, reason, "bytes")] and mock["frames"] == []
    fed = classic.same(scenarios.stream_closing_answered, code, reason, "parser")
    assert fed["process"] == ("ok", False)
    assert fed["closes"] == [(code, reason, "bytes")]
    assert fed["frames"] == [(1, 0, 8, False, code.to_bytes(2, "big") + reason)]
    assert fed["events"] == [("closed", code, reason, "bytes")]


@settings(max_examples=15, deadline=None, suppress_health_check=FIXTURE_OK)
@given(
    text=TEXT, binary=st.booleans(), mask=st.booleans(), how=st.sampled_from(["subclass", "mock"])
)
def test_send_builds_with_the_streams_builders(
    classic: Differential, text: str, binary: bool, mask: bool, how: str
) -> None:
    """0.6.0's test_send_bytes_with_masking: the stream's text/binary_message() build the frame."""
    result = classic.same(scenarios.send_with_stream_builders, text, binary, mask, how)
    assert result["outcome"] == [("ok", None), ("ok", None)]
    data = text.encode("utf-8")
    if how == "mock":
        expected = (1, 0, 1, mask, b"built " + data)
    elif binary:
        expected = (1, 0, 2, mask, b"<" + data + b">")
    else:
        expected = (1, 0, 1, mask, b"[" + data + b"]")
    assert result["frames"] == [expected, expected]


@pytest.mark.parametrize("how", ["handshake", "flags"])
def test_once_returns_false_once_terminated(classic: Differential, how: str) -> None:
    """once() reads nothing once terminated; process() parses only while the protocol is open.

    Flags set by hand end run()'s loop but, as in 0.6.0, process() still hands
    the bytes it is given to the application.
    """
    result = classic.same(scenarios.process_once_terminated, how)
    assert result["terminated"] is True and result["once"] == ("ok", False)
    if how == "handshake":
        assert result["process"] == ("ok", False) and result["events"] == []
    else:
        assert result["process"] == ("ok", True)
        assert result["events"] == [("message", False, b"later")]


def test_process_after_terminate(classic: Differential) -> None:
    ours, theirs = classic.both(scenarios.process_after_terminate)
    assert theirs["process"] == ("raise", "AttributeError")  # 0.6.0: its stream is None
    assert ours["process"] == ("ok", False)
    assert ours["events"] == theirs["events"] == [("closed", 1006, "Going away", "str")]


def test_terminated_flags_are_settable(classic: Differential) -> None:
    """Row 5: client_terminated/server_terminated are plain settable flags."""
    for client in (None, True, False):
        for server in (None, True, False):
            flags = classic.same(scenarios.flags, client, server)
            assert flags[2] == bool(client and server)


def test_send_once_the_flags_say_terminated(classic: Differential) -> None:
    assert classic.same(scenarios.send_when, "flags") == {
        "outcome": ("raise", "RuntimeError"),
        "frames": [],
    }


def test_send_after_close(classic: Differential) -> None:
    """Row 7: RFC 6455 5.5.1 forbids data after our close; ours raises a RuntimeError."""
    ours, theirs = classic.both(scenarios.send_when, "closing")
    assert theirs == {"outcome": ("ok", None), "frames": [(1, 0, 1, False, b"late")]}
    assert ours == {"outcome": ("raise", "RuntimeError"), "frames": []}


def test_send_after_terminate(classic: Differential) -> None:
    ours, theirs = classic.both(scenarios.send_when, "terminated")
    assert theirs["outcome"] == ("raise", "AttributeError")  # 0.6.0: its stream is None
    assert ours["outcome"] == ("raise", "RuntimeError")


# ---------------------------------------------------------------------------
# run(): handlers, close reason, errors (rows 2, 17, 18)
# ---------------------------------------------------------------------------


def test_run_dispatches_and_closes(classic: Differential) -> None:
    incoming = [
        (0x1, "héllo".encode()),
        (0x2, b"\x00\xff"),
        (0x9, b"ping"),
        (0xA, b"pong"),
        (0x8, scenarios.close_payload(1001, b"going")),
    ]
    result = classic.same(scenarios.run, incoming)
    assert result["events"] == [
        ("opened",),
        ("message", False, "héllo".encode()),
        ("message", True, b"\x00\xff"),
        ("pong", b"pong"),
        ("closed", 1001, b"going", "bytes"),
    ]
    # the ping answered, the close echoed with its code and reason
    assert result["frames"] == [(1, 0, 0xA, False, b"ping"), (1, 0, 8, False, b"\x03\xe9going")]


@settings(max_examples=15, deadline=None, suppress_health_check=FIXTURE_OK)
@given(code=ALLOWED_CODES, reason=st.text(max_size=30))
def test_run_reports_the_peers_close(classic: Differential, code: int, reason: str) -> None:
    raw = reason.encode("utf-8")
    result = classic.same(scenarios.run, [(0x8, scenarios.close_payload(code, raw))])
    assert result["events"][-1] == ("closed", code, raw, "bytes")


def test_run_peer_disappears(classic: Differential) -> None:
    result = classic.same(scenarios.run, [(0x1, b"last words")])
    assert result["events"][-1] == ("closed", 1006, "Going away", "str")


def test_run_invalid_utf8_from_the_peer(classic: Differential) -> None:
    result = classic.same(scenarios.run, [(0x1, b"\xff")])
    assert result["frames"][0][2] == 0x8 and result["frames"][0][4][:2] == b"\x03\xef"  # 1007
    assert result["events"] == [("opened",), ("closed", 1006, "Going away", "str")]


def test_run_peers_empty_close(classic: Differential) -> None:
    ours, theirs = classic.both(scenarios.run, [(0x8, b"")])
    assert ours["events"] == theirs["events"] == [("opened",), ("closed", 1005, b"", "bytes")]
    assert theirs["frames"] == [(1, 0, 8, False, b"\x03\xed")]  # 1005 on the wire
    assert ours["frames"] == [(1, 0, 8, False, b"")]


@pytest.mark.parametrize("handler", ["opened", "received_message"])
def test_run_lets_a_handlers_exception_propagate(classic: Differential, handler: str) -> None:
    """Row 17: run() raises the handler's exception; ours told the peer 1011 first."""
    ours, theirs = classic.both(scenarios.run, [(0x1, b"hi"), (0x1, b"more")], handler)
    assert ours["outcome"] == theirs["outcome"] == ("raise", "ValueError")
    assert ours["events"] == theirs["events"]
    assert ours["events"][-1] == ("closed", 1006, "Going away", "str")
    assert ours["sock"] == theirs["sock"] == ["shutdown", "close"]
    assert theirs["frames"] == []
    assert ours["frames"] == [(1, 0, 8, False, b"\x03\xf3Internal error")]


# ---------------------------------------------------------------------------
# Attributes (rows 10, 16) and the constructor's protocols/extensions (#22)
# ---------------------------------------------------------------------------


def test_local_and_peer_address(classic: Differential) -> None:
    """Row 10: (host, port) for IPv6 too."""
    assert classic.same(scenarios.addresses, 4) == {
        "local": ("127.0.0.1", 9000),
        "peer": ("127.0.0.1", 50000),
    }
    assert classic.same(scenarios.addresses, 6) == {
        "local": ("::1", 9000),
        "peer": ("fe80::1", 50000),
    }


def test_ws_key_importable_from_websocket(classic: Differential) -> None:
    assert classic.same(scenarios.ws_key) == (b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11", True)


@pytest.mark.parametrize(
    ("protocols", "extensions"),
    [
        (None, None),
        (["chat"], ["permessage-deflate"]),
        ([], []),
        (["a", "b"], ["permessage-deflate; client_max_window_bits=15", "x-custom"]),
    ],
)
def test_constructor_keeps_protocols_and_extensions(
    classic: Differential, protocols: Any, extensions: Any
) -> None:
    result = classic.same(scenarios.constructor, protocols, extensions)
    assert (result["protocols"], result["extensions"]) == (protocols, extensions)
    assert result["closed"] == [("closed", 1006, "Going away", "str")]


# ---------------------------------------------------------------------------
# Issue #22: the handler's extensions behind the WSGI application, the client's
# ---------------------------------------------------------------------------


def test_wsgi_handler_reads_extensions_as_text(classic: Differential) -> None:
    """A classic handler (classic __init__ override) treating self.extensions as text."""
    ours, theirs = classic.both(
        scenarios.wsgi_negotiation, ["chat"], ["permessage-deflate"], "chat", "permessage-deflate"
    )
    for side in (ours, theirs):
        assert side["status"].startswith("101") and side["body"] == []
        assert side["opened"] == [(True, "permessage-deflate")]
        assert side["args"] == (["chat"], side["extensions"])
        assert side["protocols"] == ["chat"] and side["protocol_header"] == "chat"
        assert side["extensions"] == [side["extension_header"]]
    assert theirs["extensions"] == ["permessage-deflate"]
    # ours: the negotiated parameters, as the 101 answered them
    assert ours["extensions"] == ["permessage-deflate; server_max_window_bits=12"]
    # nothing negotiated: the same empty list on both sides
    for app_extensions, offer in [
        ([], "permessage-deflate"),
        (["permessage-deflate"], None),
        (["x-other"], "x-something"),
    ]:
        result = classic.same(scenarios.wsgi_negotiation, ["chat"], app_extensions, "chat", offer)
        assert result["extensions"] == [] and result["extension_header"] is None


def test_wsgi_negotiates_offers_with_parameters(classic: Differential) -> None:
    offer = "permessage-deflate; client_max_window_bits"
    ours, theirs = classic.both(
        scenarios.wsgi_negotiation, ["chat", "x"], ["permessage-deflate"], "chat, x", offer
    )
    assert theirs["extensions"] == [] and theirs["extension_header"] is None  # not the exact string
    assert theirs["protocols"] == ["chat", "x"] and theirs["protocol_header"] == "chat, x"
    (negotiated,) = ours["extensions"]
    assert negotiated == ours["extension_header"] and negotiated.startswith("permessage-deflate;")
    assert ours["opened"] == [(True, "permessage-deflate")]
    assert ours["protocols"] == ["chat"] and ours["protocol_header"] == "chat"


@pytest.mark.parametrize(
    ("protocol", "extension"),
    [
        ("chat", "permessage-deflate"),
        (None, "permessage-deflate; client_max_window_bits=10"),
    ],
)
def test_client_protocols_and_extensions(
    classic: Differential, protocol: str | None, extension: str | None
) -> None:
    ours, theirs = classic.both(scenarios.client_negotiation, protocol, extension)

    def text(values: list[Any]) -> list[str]:
        return [v.decode() if isinstance(v, bytes) else v for v in values]

    assert all(isinstance(v, bytes) for v in theirs["extensions"] + theirs["protocols"])
    assert ours["extensions"] == text(theirs["extensions"])  # the same strings, as str
    assert text(ours["protocols"]) == text(theirs["protocols"])
    assert all(isinstance(v, str) for v in ours["extensions"])


@pytest.mark.parametrize(
    ("kind", "data", "binary"),
    [("str", "hello", None), ("bytes", b"hello", None), ("bytes", b"\x00\xff", True)],
)
def test_over_a_magicmock_socket(classic: Differential, kind: str, data: Any, binary: Any) -> None:
    """Issue #14: one sendall() per frame, then shutdown() and close(), as 0.6.0."""
    calls = classic.same(scenarios.magicmock_socket, kind, data, binary)
    assert [name for name, _ in calls] == ["sendall", "sendall", "shutdown", "close"]
    assert calls[1] == ("sendall", [(1, 0, 8, False, b"\x03\xe9bye")])


@settings(max_examples=15, deadline=None, suppress_health_check=FIXTURE_OK)
@given(
    text=TEXT.filter(lambda t: len(t.encode("utf-8")) < 126),
    key=st.binary(min_size=4, max_size=4),
)
def test_a_patched_os_urandom_fixes_the_masking_key(
    classic: Differential, text: str, key: bytes
) -> None:
    """Tests that fix the key with mock.patch("os.urandom") get the same bytes as with 0.6.0."""
    result = classic.same(scenarios.send_with_fixed_key, text, key)
    single, written = result["single"], result["written"]
    assert single[2:6] == key  # a 2-byte header (payload < 126 bytes), then the key
    assert written[:2] == single[:2] and written[2:6] == key  # send(str): the same frame
    assert written[len(single) + 2 : len(single) + 6] == key  # send(bytes, True)
    assert len(written) == 2 * len(single)
