"""Fuzz harness: the frame/stream parser (``ws4py.streaming.Stream``) and the connection core.

Input layout: ``cfg, split, *bytes``.

* ``cfg`` bit 0: client side (frames must be unmasked) instead of server side
  (frames must be masked); bit 1: the classic ``Stream.parser`` generator instead
  of the bulk ``Stream.feed``; bits 2-3: permessage-deflate not negotiated (0) or
  negotiated in one of three configurations (``fuzz_common.DEFLATE_CONFIGS``); bit 4:
  a small ``max_message_size`` (200 bytes) instead of the 16 MiB default; bit 5
  (classic path): feed exactly what the parser asks for instead of ``split`` chunks.
* ``split`` shapes how the bytes are cut into reads (``fuzz_common.chunk_sizes``).

Checked on every input:

* ``feed()`` and the classic generator never raise: errors land in ``Stream.errors``,
  with one of the parser's close codes (1002, 1003, 1007, 1009), and stop the stream;
* nothing invalid gets through: text messages are valid UTF-8, messages respect
  ``max_message_size``, control payloads are at most 125 bytes, close codes are ones
  allowed on the wire (or 1005), nothing follows a close or an error;
* chunking changes nothing: the same bytes fed whole, in ``split`` chunks, or through
  the classic parser give the same messages, pings, pongs, close and error code;
* ``ws4py.connection.Connection`` answers the same events without raising, its
  replies are well-formed frames the peer parses back as the expected pongs/close,
  and once closed it refuses to send (``ConnectionClosedError``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_common import PARSER_FAILURE_CODES, chunks, negotiate_deflate, replay_main

from ws4py.connection import Connection, State
from ws4py.exc import ConnectionClosedError
from ws4py.extensions import Extension
from ws4py.messaging import (
    CloseControlMessage,
    Message,
    PingControlMessage,
    PongControlMessage,
    TextMessage,
    close_code_allowed,
)
from ws4py.streaming import DEFAULT_MAX_MESSAGE_SIZE, Stream

SMALL_LIMIT = 200


def _extensions(deflate: int, client: bool) -> list[Extension]:
    if not deflate:
        return []
    server_ext, client_ext = negotiate_deflate(deflate)
    return [client_ext if client else server_ext]


def _key(event: Message) -> tuple[Any, ...]:
    if isinstance(event, CloseControlMessage):
        return ("close", event.code, event.reason)
    return (type(event).__name__, event.opcode, bytes(event.data))


def _check_events(events: list[Message], stream: Stream, limit: int | None) -> None:
    for i, event in enumerate(events):
        assert isinstance(event, Message), event
        if isinstance(event, CloseControlMessage):
            assert event.code == 1005 or close_code_allowed(event.code), event.code
            assert i == len(events) - 1, "an event came after the close"
            assert stream.stopped
        elif isinstance(event, (PingControlMessage, PongControlMessage)):
            assert len(event.data) <= 125
        else:
            assert event.completed
            assert event.opcode in (0x1, 0x2), event.opcode
            assert event.rsv == 0, "a received message kept its wire RSV bits"
            if limit is not None:
                assert len(event.data) <= limit, (len(event.data), limit)
            if isinstance(event, TextMessage):
                try:
                    bytes(event.data).decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise AssertionError(f"invalid UTF-8 text got through: {exc}") from None
    assert len(stream.errors) <= 1, stream.errors
    for error in stream.errors:
        assert error.code in PARSER_FAILURE_CODES, (error.code, error.reason)
        assert stream.stopped


def _bulk(data: bytes, split: int, client: bool, deflate: int, limit: int | None) -> tuple:
    stream = Stream(always_mask=client, expect_masking=not client, max_message_size=limit,
                    extensions=_extensions(deflate, client))  # fmt: skip
    events: list[Message] = []
    for chunk in chunks(data, split):
        stopped_before = stream.stopped
        got = stream.feed(chunk)
        if stopped_before:
            assert not got, "events after the stream stopped"
        events.extend(got)
    _check_events(events, stream, limit)
    return [_key(e) for e in events], [e.code for e in stream.errors]


def _by_kind(keys: list[tuple[Any, ...]]) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    data = [k for k in keys if k[0] in ("TextMessage", "BinaryMessage")]
    pings = [k for k in keys if k[0] == "PingControlMessage"]
    pongs = [k for k in keys if k[0] == "PongControlMessage"]
    close = [k for k in keys if k[0] == "close"]
    return data, pings, pongs, close


def _classic(data: bytes, split: int, exact: bool, client: bool, deflate: int,
             limit: int | None) -> tuple:  # fmt: skip
    stream = Stream(always_mask=client, expect_masking=not client, max_message_size=limit,
                    extensions=_extensions(deflate, client))  # fmt: skip
    parser = stream.parser
    need = 1  # what the classic parser asks for first
    messages: list[Message] = []
    pos = 0
    pieces = iter(chunks(data, split))
    while pos < len(data):
        piece = data[pos : pos + need] if exact else next(pieces)
        pos += len(piece)
        need = parser.send(piece)
        assert isinstance(need, int) and need > 0, f"the classic parser asked for {need!r}"
        while stream.has_message:
            message = stream.message
            assert message is not None
            messages.append(message)
            stream.message = None
    events: list[Message] = [*messages, *stream.pings, *stream.pongs]
    errors = [e.code for e in stream.errors]
    if stream.closing is not None:
        if stream.closing.code == 1005 and stream.closing.reason:
            # A malformed close reported the 0.6.0 way; feed() fails it with 1002.
            errors = [1002]
        else:
            events.append(stream.closing)
    for event in events:  # the same checks, order aside
        if not isinstance(event, CloseControlMessage):
            _check_events([event], stream, limit)
    _check_events([], stream, limit)
    keys = [_key(e) for e in events]
    return _by_kind(keys), errors


def _connection(data: bytes, client: bool, deflate: int, limit: int | None) -> None:
    """The sans-I/O connection on the same bytes: replies are right, closed means closed."""
    conn = Connection(client=client, max_message_size=limit,
                      extensions=_extensions(deflate, client))  # fmt: skip
    peer = Stream(always_mask=not client, expect_masking=client, max_message_size=None)
    expected: list[tuple[Any, ...]] = []
    conn.receive_data(data)
    replies = bytearray(conn.data_to_send())  # the pongs, queued as the pings were parsed
    for event in conn.events_received():
        if isinstance(event, PingControlMessage):
            expected.append(("PongControlMessage", 0xA, bytes(event.data)))
        elif isinstance(event, CloseControlMessage):
            expected.append(("close", event.code, event.reason))  # echoed (bytes, as 0.6.0)
            assert conn.state is State.CLOSED and conn.close_received is event
            assert conn.close_code == event.code
    failure = conn.data_to_send()  # the close echo, or the failing close
    if failure and conn.failure is not None:
        assert conn.state is State.CLOSED
        assert conn.close_sent is not None and conn.close_sent.code == conn.failure.code
        expected.append(("close", conn.close_sent.code, conn.close_sent.reason))
    replies += failure
    assert conn.next_event() is None and conn.data_to_send() == b"", "a second failure reply"
    # The pongs went out first: put the expectations in the same order.
    expected.sort(key=lambda key: key[0] != "PongControlMessage")
    got = [_key(e) for e in peer.feed(bytes(replies))]
    assert not peer.errors, (peer.errors, bytes(replies[:64]))
    assert got == expected, (got, expected)
    if conn.state is State.CLOSED:
        for send in (lambda: conn.send_message(TextMessage("x")), conn.send_ping,
                     lambda: conn.send_fragment(1, b"x", True, True)):  # fmt: skip
            try:
                send()
            except ConnectionClosedError:
                continue
            raise AssertionError("a closed connection sent something")


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    cfg, split, payload = data[0], data[1], data[2:]
    client = bool(cfg & 1)
    deflate = (cfg >> 2) & 3
    limit = SMALL_LIMIT if cfg & 16 else DEFAULT_MAX_MESSAGE_SIZE
    whole_events, whole_errors = _bulk(payload, 0, client, deflate, limit)
    if cfg & 2:
        kinds, errors = _classic(payload, split, bool(cfg & 32), client, deflate, limit)
        assert kinds == _by_kind(whole_events), (kinds, whole_events)
        assert errors == whole_errors, (errors, whole_errors)
    else:
        events, errors = _bulk(payload, split, client, deflate, limit)
        assert events == whole_events, (events, whole_events)
        assert errors == whole_errors, (errors, whole_errors)
    _connection(payload, client, deflate, limit)


if __name__ == "__main__":
    replay_main(test_one_input)
