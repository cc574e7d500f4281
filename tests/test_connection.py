"""The sans-I/O core alone (issue #19): transitions, queued replies in order, deadlines.

No socket, no thread, no clock: time is a number the test passes in.  What the
core queues is read back by parsing it with a peer :class:`Connection`.
"""

from __future__ import annotations

import pytest

from ws4py.connection import (
    KEEPALIVE_TIMEOUT_REASON,
    TRANSITIONS,
    Connection,
    CoreSetting,
    State,
)
from ws4py.exc import ConnectionClosedError
from ws4py.framing import CloseCode
from ws4py.messaging import (
    BinaryMessage,
    CloseControlMessage,
    Message,
    PingControlMessage,
    PongControlMessage,
    TextMessage,
)


def pair(**server_kw: object) -> tuple[Connection, Connection]:
    """A server core (the one under test) and a client core playing its peer."""
    return Connection(**server_kw), Connection(client=True)  # type: ignore[arg-type]


def parsed(wire: bytes) -> list[tuple[str, object]]:
    """What a peer of the server sees in ``wire``: (kind, payload or close code)."""
    peer = Connection(client=True)
    peer.receive_data(wire)
    out: list[tuple[str, object]] = []
    for event in peer.events_received():
        if isinstance(event, CloseControlMessage):
            out.append(("close", event.code))
        else:
            out.append((type(event).__name__, bytes(event.data)))
    return out


# ---------------------------------------------------------------------------
# The transition table
# ---------------------------------------------------------------------------


def test_the_table_and_the_classic_values() -> None:
    assert [(s.name, int(s)) for s in State] == [
        ("CONNECTING", 0),
        ("OPEN", 1),
        ("CLOSING", 2),
        ("CLOSED", 3),
    ]
    expected = {
        State.CONNECTING: {State.OPEN, State.CLOSED},
        State.OPEN: {State.CLOSING, State.CLOSED},
        State.CLOSING: {State.CLOSED},
        State.CLOSED: set(),
    }
    assert expected == TRANSITIONS


def test_a_move_the_table_lacks_is_a_bug() -> None:
    conn = Connection()
    conn.connection_lost()
    with pytest.raises(RuntimeError, match="CLOSED -> OPEN"):
        conn._become(State.OPEN)
    with pytest.raises(RuntimeError, match="OPEN -> CONNECTING"):
        Connection()._become(State.CONNECTING)
    conn.connection_lost()  # again: nothing (not a transition)
    assert conn.state is State.CLOSED


def test_connecting_then_open() -> None:
    conn = Connection(connecting=True)
    assert conn.state is State.CONNECTING
    with pytest.raises(ConnectionClosedError, match="not open yet"):
        conn.send_message(TextMessage("early"))
    conn.open(now=10.0)
    assert conn.state is State.OPEN
    assert conn.send_message(TextMessage("now"))
    with pytest.raises(RuntimeError):
        conn.open()  # OPEN -> OPEN is not a move
    lost = Connection(connecting=True)
    lost.connection_lost()
    assert lost.state is State.CLOSED
    refused = Connection(connecting=True)
    assert refused.send_close() == b"" and refused.state is State.CLOSED


def test_open_closing_closed_by_our_close() -> None:
    server, client = pair()
    wire = server.send_close(4000, "bye", now=0.0)
    assert server.state is State.CLOSING and server.close_sent is not None
    client.receive_data(wire)
    (close,) = client.events_received()
    assert isinstance(close, CloseControlMessage) and close.code == 4000
    assert client.state is State.CLOSED
    server.receive_data(client.data_to_send())
    (echo,) = server.events_received()
    assert isinstance(echo, CloseControlMessage) and echo.code == 4000
    assert server.state is State.CLOSED and server.data_to_send() == b""


def test_open_closed_by_the_peers_close_when_taken() -> None:
    server, client = pair()
    server.receive_data(client.send_close(1001, "away"))
    # Parsed, not taken: nothing answered, the state unchanged.
    assert server.state is State.OPEN and server.close_received is None
    assert server.data_to_send() == b"" and server.events_pending == 1
    close = server.next_event()
    assert isinstance(close, CloseControlMessage)
    assert server.close_received is close and server.state is State.CLOSED
    assert parsed(server.data_to_send()) == [("close", 1001)]
    assert server.next_event() is None


def test_open_closed_by_transport_loss_and_failure() -> None:
    lost = Connection()
    lost.connection_lost()
    assert lost.state is State.CLOSED and lost.closed_args() == (1006, "Going away")
    lost.receive_data(Connection(client=True).send_message(TextMessage("late")))
    assert lost.next_event() is None  # nothing parsed once closed

    failing, _ = pair()
    failing.receive_data(b"\x81\x05hello")  # unmasked from a client: 1002
    assert failing.next_event() is None
    assert failing.state is State.CLOSED and failing.failure is not None
    assert parsed(failing.data_to_send()) == [("close", CloseCode.PROTOCOL_ERROR)]


def test_closing_to_closed_by_failure_sends_no_second_close() -> None:
    server, _ = pair()
    server.send_close(now=0.0)
    server.receive_data(b"\x81\x05hello")
    assert server.next_event() is None
    assert server.state is State.CLOSED and server.failure is not None
    assert server.data_to_send() == b""  # our close is already out


# ---------------------------------------------------------------------------
# Queued replies, in order
# ---------------------------------------------------------------------------


def test_pongs_are_queued_at_once_the_close_echo_when_taken() -> None:
    server, client = pair()
    wire = (
        client.send_message(TextMessage("one"))
        + client.send_ping(b"p1")
        + client.send_message(BinaryMessage(b"two"))
        + client.send_ping(b"p2")
        + client.send_close(1000, "done")
    )
    server.receive_data(wire)
    # Both pongs, in order, before the application took anything.
    assert parsed(server.data_to_send()) == [
        ("PongControlMessage", b"p1"),
        ("PongControlMessage", b"p2"),
    ]
    assert server.events_pending == 5
    taken: list[Message] = []
    echoes = b""  # the application's echoes, written as it handles the messages
    for event in server.events_received():
        taken.append(event)
        queued = server.data_to_send()
        if isinstance(event, CloseControlMessage):
            assert parsed(queued) == [("close", 1000)]  # queued as the close is taken
        else:
            assert queued == b""
        if isinstance(event, (TextMessage, BinaryMessage)):
            # The application's echo of the message: before the close echo.
            echoes += server.send_message(BinaryMessage(bytes(event.data)))
    assert [type(e).__name__ for e in taken] == [
        "TextMessage",
        "PingControlMessage",
        "BinaryMessage",
        "PingControlMessage",
        "CloseControlMessage",
    ]
    assert server.state is State.CLOSED
    assert parsed(echoes) == [("BinaryMessage", b"one"), ("BinaryMessage", b"two")]


def test_the_echo_of_a_message_before_the_close_precedes_our_close_echo() -> None:
    """Taken one at a time: the close echo is queued only once the close itself is taken."""
    server, client = pair()
    server.receive_data(client.send_message(TextMessage("m")) + client.send_close(1000))
    message = server.next_event()
    assert isinstance(message, TextMessage)
    assert server.data_to_send() == b""  # nothing queued yet: the application answers first
    answer = server.send_message(TextMessage("echo"))
    assert isinstance(server.next_event(), CloseControlMessage)
    assert parsed(answer + server.data_to_send()) == [
        ("TextMessage", b"echo"),
        ("close", 1000),
    ]


def test_the_failing_close_follows_the_events_before_the_error() -> None:
    server, client = pair()
    good = client.send_message(TextMessage("fine")) + client.send_ping(b"p")
    server.receive_data(good + b"\x81\x05hello")  # then an unmasked frame: 1002
    assert parsed(server.data_to_send()) == [("PongControlMessage", b"p")]
    assert isinstance(server.next_event(), TextMessage)
    assert server.state is State.OPEN and server.data_to_send() == b""
    answer = server.send_message(TextMessage("echo of fine"))
    assert isinstance(server.next_event(), PingControlMessage)
    assert server.data_to_send() == b""
    assert server.next_event() is None  # the failure point, taken: now the close
    assert server.state is State.CLOSED
    assert parsed(answer + server.data_to_send()) == [
        ("TextMessage", b"echo of fine"),
        ("close", CloseCode.PROTOCOL_ERROR),
    ]
    assert server.next_event() is None and server.data_to_send() == b""  # once


def test_no_pong_after_our_close_and_data_to_send_clears() -> None:
    server, client = pair()
    server.send_close(now=0.0)
    server.receive_data(client.send_ping(b"late"))
    assert server.data_to_send() == b""
    assert isinstance(server.next_event(), PingControlMessage)
    assert server.data_to_send() == b""


def test_events_parsed_while_iterating_are_handed_over_too() -> None:
    server, client = pair()
    server.receive_data(client.send_message(TextMessage("a")))
    seen = []
    for event in server.events_received():
        seen.append(bytes(event.data))
        if len(seen) == 1:
            server.receive_data(client.send_message(TextMessage("b")))
    assert seen == [b"a", b"b"]


def test_a_close_only_the_stream_shows_is_handed_over_unanswered() -> None:
    server, client = pair()
    server.stream.parser.send(client.send_close(4001, "parser"))
    close = server.next_event()
    assert isinstance(close, CloseControlMessage) and close.code == 4001
    assert server.state is State.CLOSING and server.data_to_send() == b""
    assert parsed(server.send_close(close.code, close.reason)) == [("close", 4001)]
    assert server.state is State.CLOSED


# ---------------------------------------------------------------------------
# Keepalive and close timeout, on an injected clock
# ---------------------------------------------------------------------------


def test_no_deadline_by_default() -> None:
    server, _ = pair()
    server.tick(0.0)
    assert server.next_deadline() is None
    server.tick(1e9)
    assert server.data_to_send() == b"" and server.state is State.OPEN


def test_keepalive_pings_after_an_idle_gap_and_a_pong_answers() -> None:
    server, client = pair(keepalive_interval=10.0)
    assert server.next_deadline() is None  # the clock has not started
    server.tick(100.0)
    assert server.next_deadline() == 110.0
    server.tick(105.0)
    assert server.data_to_send() == b""
    # Any bytes count as life: the gap starts again.
    server.receive_data(client.send_message(TextMessage("alive")), now=108.0)
    assert server.next_deadline() == 118.0
    server.tick(118.0)
    (ping,) = [e for e in _peer_events(client, server.data_to_send())]
    assert isinstance(ping, PingControlMessage)
    assert server.next_deadline() == 128.0  # the pong is due within the timeout (the interval)
    # Bytes that are not a pong do not answer it.
    server.receive_data(client.send_message(TextMessage("not a pong")), now=120.0)
    assert server.next_deadline() == 128.0
    server.receive_data(client.send_pong(ping.data), now=121.0)
    assert server.next_deadline() == 131.0
    server.tick(127.0)
    assert server.data_to_send() == b"" and server.state is State.OPEN


def test_keepalive_timeout_queues_1011_and_enters_closing() -> None:
    server, client = pair(keepalive_interval=1.0, keepalive_timeout=0.5, close_timeout=2.0)
    server.tick(0.0)
    server.tick(1.0)
    assert isinstance(_peer_events(client, server.data_to_send())[0], PingControlMessage)
    assert server.next_deadline() == 1.5
    server.tick(1.4)
    assert server.state is State.OPEN
    server.tick(1.5)
    assert server.state is State.CLOSING
    assert server.close_sent is not None
    assert server.close_sent.code == 1011
    assert server.close_sent.reason == KEEPALIVE_TIMEOUT_REASON.encode()
    assert parsed(server.data_to_send()) == [("close", 1011)]
    assert server.next_deadline() == 3.5  # now the close timeout


def test_close_timeout_moves_to_closed_timed_out() -> None:
    server, _ = pair(close_timeout=5.0)
    server.send_close(now=10.0)
    assert server.next_deadline() == 15.0
    server.tick(14.9)
    assert server.state is State.CLOSING and not server.timed_out
    server.tick(15.0)
    assert server.state is State.CLOSED and server.timed_out
    assert server.next_deadline() is None
    assert server.closed_args() == (1006, "Going away")


def test_the_peers_close_parsed_in_time_ends_the_wait_even_if_not_taken_yet() -> None:
    server, client = pair(close_timeout=5.0)
    client.receive_data(server.send_close(now=0.0))
    client.next_event()
    server.receive_data(client.data_to_send(), now=1.0)
    server.tick(100.0)  # the application is slow to take the close: no timeout
    assert not server.timed_out and server.state is State.CLOSING
    assert isinstance(server.next_event(), CloseControlMessage)
    assert server.state is State.CLOSED and not server.timed_out


def test_a_close_sent_without_a_time_is_anchored_by_the_next_tick() -> None:
    server, _ = pair(close_timeout=5.0)
    server.send_close()
    assert server.next_deadline() == float("-inf")  # due now: tick to anchor it
    server.tick(50.0)
    assert server.next_deadline() == 55.0
    server.tick(55.0)
    assert server.timed_out


def test_no_keepalive_once_closing() -> None:
    server, _ = pair(keepalive_interval=1.0)
    server.tick(0.0)
    server.send_close(now=0.5)
    server.tick(10.0)
    assert server.data_to_send() == b""  # no ping after our close
    assert server.timed_out is False  # no close timeout set: waits


def test_core_settings_on_a_flavour() -> None:
    class Flavour:
        close_timeout = CoreSetting(5.0)
        keepalive_interval: CoreSetting[float | None] = CoreSetting(None)
        keepalive_timeout: CoreSetting[float | None] = CoreSetting(None)

        def __init__(self) -> None:
            self.core = Connection()

    class Sub(Flavour):
        keepalive_interval = 3.0  # type: ignore[assignment]

    CoreSetting.wrap_subclass(Sub)
    assert Flavour.close_timeout == 5.0 and Sub.keepalive_interval == 3.0
    sub = Sub()
    CoreSetting.configure(sub, sub.core)
    assert (sub.core.keepalive_interval, sub.core.close_timeout) == (3.0, 5.0)
    sub.keepalive_interval = 7.0
    assert sub.keepalive_interval == sub.core.keepalive_interval == 7.0
    assert Sub().keepalive_interval == 3.0  # one websocket's setting only


def _peer_events(peer: Connection, wire: bytes) -> list[Message]:
    peer.receive_data(wire)
    return list(peer.events_received())


def test_unsolicited_pong_is_an_event_and_answers() -> None:
    server, client = pair(keepalive_interval=1.0)
    server.tick(0.0)
    server.tick(1.0)
    server.data_to_send()
    server.receive_data(client.send_pong(b"heartbeat"), now=1.2)
    (pong,) = server.events_received()
    assert isinstance(pong, PongControlMessage)
    assert server.next_deadline() == 2.2


def test_close_is_next_only_where_taking_the_event_may_close() -> None:
    # A threaded flavour takes these events under its send lock (beside another
    # thread's close()), and only these: a reader never waits for a long write.
    server, client = pair()
    assert not server.close_is_next  # nothing parsed
    server.receive_data(client.send_message(TextMessage("one")) + client.send_close(1000))
    assert not server.close_is_next  # a message first
    assert server.next_event() is not None
    assert server.close_is_next  # the peer's close: taking it queues the echo
    assert server.next_event() is not None
    assert not server.close_is_next  # over: nothing more to queue
    failing, _ = pair()
    failing.receive_data(b"\x83\x80abcd")  # a reserved opcode: a protocol error
    assert failing.close_is_next  # taking the (no) next event queues the failing close
    assert failing.next_event() is None and failing.close_sent is not None
    assert not failing.close_is_next


def test_receive_data_says_whether_there_is_something_to_write() -> None:
    """Its result spares a flavour the data_to_send() call on the common path."""
    server, client = pair()
    assert server.receive_data(client.send_message(TextMessage("one"))) is False
    assert server.data_to_send() == b""
    assert server.closing_parsed is False
    assert server.receive_data(client.send_ping(b"p")) is True
    assert parsed(server.data_to_send()) == [("PongControlMessage", b"p")]
    assert server.receive_data(client.send_close(1000)) is False  # echoed when taken
    assert server.closing_parsed is True
    assert [type(e).__name__ for e in server.events_received()] == [
        "TextMessage",
        "PingControlMessage",
        "CloseControlMessage",
    ]
    assert parsed(server.data_to_send()) == [("close", 1000)]
    assert server.receive_data(b"late") is False  # closed: nothing parsed


def test_a_protocol_error_sets_closing_parsed() -> None:
    server, _ = pair()
    assert server.receive_data(b"\x83\x80" + b"\x00" * 4) is False  # opcode 3: reserved
    assert server.closing_parsed is True
    assert list(server.events_received()) == []
    assert parsed(server.data_to_send()) == [("close", 1002)]
