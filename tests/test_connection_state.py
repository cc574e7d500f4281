"""State-machine tests of the closing handshake (hypothesis ``RuleBasedStateMachine``).

Two sans-I/O :class:`ws4py.connection.Connection` objects, a client and a server,
exchange bytes through two lossless pipes.  Rules: either side sends a message
(whole or fragmented), a ping, or starts the close with any code allowed on the
wire (or 1005, the empty close); the bytes in either pipe are delivered in chunks
of any size.  Invariants, after every step:

* each side received exactly the messages the other sent, in order, once each (a
  prefix of them while bytes are in flight), and the pongs of its own pings;
* once a side's close is written nothing more is written by it, and sending raises
  :class:`~ws4py.exc.ConnectionClosedError`;
* ``close_received`` on one side is the ``close_sent`` of the other, ``state`` is
  OPEN, CLOSING or CLOSED exactly as the closes seen say, and no error occurs.

At the end every pipe is drained (one side closes first if neither did): both sides
are CLOSED, every message sent was received, and each side's ``close_code`` is the
code its peer sent.  The same machine runs with permessage-deflate negotiated.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ws4py.connection import Connection, State
from ws4py.exc import ConnectionClosedError
from ws4py.extensions.permessage_deflate import ClientPerMessageDeflate, ServerPerMessageDeflate
from ws4py.messaging import (
    BinaryMessage,
    CloseControlMessage,
    Message,
    PingControlMessage,
    PongControlMessage,
    TextMessage,
)

pytestmark = pytest.mark.timeout(120)

CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
         3000, 3999, 4000, 4999, 1005]  # fmt: skip
SIDES = st.sampled_from(["client", "server"])
PAYLOADS = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=300),
    st.text(min_size=1, max_size=12).map(lambda t: t * 20),  # compressible
    st.binary(min_size=1, max_size=8).map(lambda b: b * 40),
)


@dataclass
class Side:
    name: str
    conn: Connection
    out: bytearray = field(default_factory=bytearray)  # written, not delivered yet
    sent: list[tuple[int, bytes]] = field(default_factory=list)
    received: list[tuple[int, bytes]] = field(default_factory=list)
    pings: list[bytes] = field(default_factory=list)
    pongs: list[bytes] = field(default_factory=list)
    close_written: bool = False
    close_code: int | None = None  # the code our close frame carries
    close_reason: bytes = b""

    def write(self, data: bytes) -> None:
        if not data:
            return
        assert not self.close_written, f"{self.name} wrote after its close"
        self.out += data

    def closed(self) -> bool:
        return self.conn.close_sent is not None or self.conn.state is State.CLOSED


class CloseHandshake(RuleBasedStateMachine):
    deflate = False

    def __init__(self) -> None:
        super().__init__()
        client_ext: list[Any] = []
        server_ext: list[Any] = []
        if self.deflate:
            client_factory = ClientPerMessageDeflate()
            outcome = ServerPerMessageDeflate().accept([client_factory.offer()])
            assert outcome is not None
            server_ext = [outcome[1]]
            client_ext = [client_factory.accept(outcome[0])]
        self.sides = {
            "client": Side("client", Connection(client=True, extensions=client_ext)),
            "server": Side("server", Connection(client=False, extensions=server_ext)),
        }

    def peer(self, side: Side) -> Side:
        return self.sides["server" if side.name == "client" else "client"]

    # -- rules -----------------------------------------------------------------

    @initialize()
    def start(self) -> None:
        for side in self.sides.values():
            assert side.conn.state is State.OPEN

    @rule(name=SIDES, payload=PAYLOADS)
    def send_message(self, name: str, payload: str | bytes) -> None:
        side = self.sides[name]
        message = TextMessage(payload) if isinstance(payload, str) else BinaryMessage(payload)
        if side.closed():
            with pytest.raises(ConnectionClosedError):
                side.conn.send_message(message)
            return
        side.write(side.conn.send_message(message))
        side.sent.append((message.opcode, bytes(message.data)))

    @rule(name=SIDES, text=st.text(max_size=30), cuts=st.lists(st.integers(0, 200), max_size=4),
          binary=st.booleans())  # fmt: skip
    def send_fragmented(self, name: str, text: str, cuts: list[int], binary: bool) -> None:
        """A message in pieces cut anywhere, even inside a UTF-8 sequence."""
        side = self.sides[name]
        data = text.encode()
        opcode = 0x2 if binary else 0x1
        if side.closed():
            with pytest.raises(ConnectionClosedError):
                side.conn.send_fragment(opcode, data, True, True)
            return
        bounds = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
        pieces = [data[a:b] for a, b in itertools.pairwise(bounds)] or [b""]
        for i, piece in enumerate(pieces):
            side.write(side.conn.send_fragment(opcode, piece, i == 0, i == len(pieces) - 1))
        side.sent.append((opcode, data))

    @rule(name=SIDES, payload=st.binary(max_size=125))
    def ping(self, name: str, payload: bytes) -> None:
        side = self.sides[name]
        if side.closed():
            with pytest.raises(ConnectionClosedError):
                side.conn.send_ping(payload)
            return
        side.write(side.conn.send_ping(payload))
        side.pings.append(payload)

    @rule(name=SIDES, code=st.sampled_from(CODES), reason=st.text(max_size=30))
    def close(self, name: str, code: int, reason: str) -> None:
        side = self.sides[name]
        if code == 1005:
            reason = ""
        already = side.closed()
        data = side.conn.send_close(code, reason)
        if already:
            assert data == b"", "a second close frame"
            return
        assert data
        side.close_code, side.close_reason = code, reason.encode()  # received as bytes
        side.write(data)
        side.close_written = True
        assert side.conn.close_sent is not None and side.conn.close_sent.code == code
        with pytest.raises(ConnectionClosedError):
            side.conn.send_message(TextMessage("after close"))

    @rule(name=SIDES, size=st.one_of(st.integers(1, 16), st.integers(17, 5000)))
    def deliver(self, name: str, size: int) -> None:
        self._deliver(self.sides[name], size)

    def _deliver(self, side: Side, size: int) -> None:
        """Move up to ``size`` bytes from ``side`` to its peer, which reacts."""
        peer = self.peer(side)
        chunk = bytes(side.out[:size])
        del side.out[:size]
        if not chunk:
            return
        closed_before = peer.close_written
        peer.conn.receive_data(chunk)
        pongs = peer.conn.data_to_send()  # queued as the pings were parsed, before any event
        peer.write(pongs)
        pinged = False
        for event in peer.conn.events_received():
            reply = peer.conn.data_to_send()  # what taking the event queued
            if isinstance(event, CloseControlMessage):
                assert side.close_written, "a close nobody sent"
                assert (event.code, event.reason) == (side.close_code, side.close_reason)
                if reply:  # the echo of a close we had not started ourselves
                    assert not peer.close_written
                    # echoed with the reason, as ws4py 0.6.0
                    peer.close_code, peer.close_reason = event.code, event.reason
                    peer.write(reply)
                    peer.close_written = True
                else:
                    assert peer.close_written
                continue
            assert reply == b""
            if isinstance(event, PingControlMessage):
                pinged = True
            elif isinstance(event, PongControlMessage):
                peer.pongs.append(bytes(event.data))
            else:
                assert isinstance(event, Message)
                peer.received.append((event.opcode, bytes(event.data)))
        # A pong per ping, none after our close.
        assert bool(pongs) == (pinged and not closed_before), (pongs, pinged, closed_before)
        assert peer.conn.data_to_send() == b"" and peer.conn.failure is None
        assert not peer.conn.stream.errors, peer.conn.stream.errors

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def consistent(self) -> None:
        for side in self.sides.values():
            peer = self.peer(side)
            conn = side.conn
            assert conn.failure is None
            n = len(side.received)
            assert side.received == peer.sent[:n], "lost, duplicated or reordered messages"
            assert side.pongs == side.pings[: len(side.pongs)], "pongs out of order"
            if conn.close_received is not None:
                assert peer.conn.close_sent is not None
                assert conn.close_received.code == peer.conn.close_sent.code
            if conn.close_sent is not None:
                assert side.close_written and conn.close_sent.code == side.close_code
            expected = (
                State.CLOSED if conn.close_received is not None
                else State.CLOSING if conn.close_sent is not None
                else State.OPEN
            )  # fmt: skip
            assert conn.state is expected, (side.name, conn.state, expected)

    def teardown(self) -> None:
        client, server = self.sides["client"], self.sides["server"]
        if not client.close_written and not server.close_written:
            self.close("client", 1000, "end of test")
        for _ in range(10):
            if not client.out and not server.out:
                break
            self._deliver(client, len(client.out))
            self._deliver(server, len(server.out))
        assert not client.out and not server.out, "the pipes never went quiet"
        self.consistent()
        for side in (client, server):
            peer = self.peer(side)
            assert side.conn.state is State.CLOSED
            assert side.received == peer.sent, f"{side.name} did not get every message"
            assert side.conn.close_code == peer.close_code
            assert side.conn.close_sent is not None and side.conn.close_received is not None
            with pytest.raises(ConnectionClosedError):
                side.conn.send_ping(b"")
            assert side.conn.send_close(1000) == b""


class CloseHandshakeWithDeflate(CloseHandshake):
    deflate = True


SETTINGS = settings(max_examples=120, stateful_step_count=40, deadline=None,
                    suppress_health_check=list(HealthCheck))  # fmt: skip

TestCloseHandshake = CloseHandshake.TestCase
TestCloseHandshake.settings = SETTINGS
TestCloseHandshakeWithDeflate = CloseHandshakeWithDeflate.TestCase
TestCloseHandshakeWithDeflate.settings = SETTINGS


def test_crossing_closes_keep_each_peers_code() -> None:
    """The case the machine must reach: both closes in flight at once (5.5.1)."""
    machine = CloseHandshake()
    machine.start()
    machine.send_message("client", "before")
    machine.close("client", 4001, "client")
    machine.close("server", 3001, "server")
    machine.deliver("client", 1000)
    machine.deliver("server", 1000)
    machine.teardown()
    client, server = machine.sides["client"].conn, machine.sides["server"].conn
    assert (client.close_code, server.close_code) == (3001, 4001)
    assert machine.sides["server"].received == [(0x1, b"before")]


def test_a_close_only_the_stream_shows_is_received() -> None:
    """Fed through the stream's classic parser, the peer's close is taken from ``closing``:
    handed over last and unanswered (CLOSING), for the application to answer (classic close())."""
    client, server = Connection(client=True), Connection()
    wire = client.send_close(4002, "bye")
    assert server.next_event() is None  # nothing parsed yet
    server.stream.parser.send(wire)
    server.receive_data(b"late")  # the stream stopped at the close: nothing more parsed
    closing = server.next_event()
    assert isinstance(closing, CloseControlMessage)
    assert (closing.code, closing.reason) == (4002, b"bye")
    assert server.close_received is closing and server.state is State.CLOSING
    assert server.data_to_send() == b""  # not answered by the core
    assert server.next_event() is None  # once; and no failure after a close
    assert server.failure is None
    assert server.closed_args() == (4002, b"bye")
    echo = server.send_close(closing.code, closing.reason)
    assert server.state is State.CLOSED
    client.receive_data(echo)
    (answer,) = client.events_received()
    assert isinstance(answer, CloseControlMessage) and answer.code == 4002
    assert client.state is State.CLOSED and client.data_to_send() == b""


# ---------------------------------------------------------------------------
# One rule in the core: a close goes only through the close path (issue #19)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("client", [False, True])
def test_a_close_message_is_never_sent_as_a_message(client: bool) -> None:
    """``send_message(CloseControlMessage())`` would put a close on the wire and stay OPEN,
    so messages could follow it (RFC 6455 5.5.1): the core refuses it, nothing changes."""
    from ws4py.connection import outgoing_message

    conn = Connection(client=client)
    for attempt in (
        lambda: conn.send_message(CloseControlMessage(1000, "bye")),
        lambda: outgoing_message(CloseControlMessage(1001)),
        lambda: outgoing_message(CloseControlMessage(), binary=True),
    ):
        with pytest.raises(ValueError, match=r"close\(\)"):
            attempt()
    assert conn.state is State.OPEN and conn.close_sent is None
    # Still open: messages and pings go out, and the close path works.
    peer = Connection(client=not client)
    frames = conn.send_message(TextMessage("after")) + conn.send_message(PingControlMessage(b"p"))
    frames += conn.send_close(1000, "bye")
    assert conn.state is State.CLOSING
    peer.receive_data(frames)
    events = list(peer.events_received())
    assert [(type(e).__name__, bytes(e.data)) for e in events[:2]] == [
        ("TextMessage", b"after"),
        ("PingControlMessage", b"p"),
    ]
    assert isinstance(events[2], CloseControlMessage) and events[2].code == 1000
    with pytest.raises(ConnectionClosedError):
        conn.send_message(PongControlMessage(b"late"))


def test_payloads_are_classified_and_fragmented_in_the_core() -> None:
    """Issue #19: every flavour's ``send()`` asks the core which payloads are chunks
    and how they are framed; a bad chunk stops the frames before the previous one."""
    from ws4py.connection import is_fragmented

    for whole in ("text", b"bytes", bytearray(b"x"), memoryview(b"x"), TextMessage("m")):
        assert not is_fragmented(whole)
    for refused in ({"a": 1}, {1, 2}, 12345, None):
        assert not is_fragmented(refused)
    for chunks in (iter(["a"]), ["a", "b"], ("a",), (c for c in "ab")):
        assert is_fragmented(chunks)

    sender, receiver = Connection(client=True), Connection()
    frames = list(sender.send_fragments(["frag", "mé", b"nted"]))
    assert len(frames) == 3
    receiver.receive_data(b"".join(frames))
    (message,) = receiver.events_received()
    assert isinstance(message, TextMessage) and str(message) == "fragménted"
    receiver.receive_data(b"".join(sender.send_fragments(iter([]), binary=True)))
    (empty,) = receiver.events_received()
    assert isinstance(empty, BinaryMessage) and bytes(empty.data) == b""
    receiver.receive_data(b"".join(sender.send_fragments([b"\xff", "é"], binary=True)))
    (raw,) = receiver.events_received()
    assert bytes(raw.data) == b"\xff\xc3\xa9"

    # Invalid text: nothing yielded for the chunk before the bad one, ...
    produced = sender.send_fragments(["ok", b"\xff"])
    with pytest.raises(ValueError, match="binary=True"):
        next(produced)
    # ... one frame out when the third chunk is bad, and text cut mid-character at the end.
    produced = sender.send_fragments(["ok", "fine", 12345])
    assert next(produced)
    with pytest.raises(ValueError, match="int"):
        next(produced)
    with pytest.raises(ValueError, match="binary=True"):
        list(sender.send_fragments([b"\xc3"]))


def test_close_codes_are_named_in_the_core_and_stay_ints() -> None:
    """Issue #19: ``CloseCode`` (RFC 6455 7.4.1 and IANA's 1012-1014) replaces bare numbers;
    what ``closed(code, reason)`` gets is still an int that prints as a number."""
    import json

    from ws4py.framing import CloseCode
    from ws4py.messaging import VALID_CLOSING_CODES, close_code_allowed

    assert CloseCode.NORMAL == 1000 and isinstance(CloseCode.NORMAL, int)
    assert {c.value for c in CloseCode} == {*range(1000, 1016)} - {1004}
    assert [c for c in CloseCode if close_code_allowed(c)] == VALID_CLOSING_CODES
    assert not any(close_code_allowed(c) for c in (1005, 1006, 1015))
    code, reason = Connection().closed_args()  # nothing received: TCP gone
    assert (code, reason) == (1006, "Going away") and code is CloseCode.ABNORMAL
    assert str(code) == f"{code}" == json.dumps(code) == "1006"  # logs and JSON too
    # The default close is NORMAL; an empty close is NO_STATUS, and never goes on the wire.
    server, client = Connection(), Connection(client=True)
    client.receive_data(server.send_close())
    (close,) = client.events_received()
    assert isinstance(close, CloseControlMessage) and close.code == CloseCode.NORMAL
    assert CloseControlMessage(CloseCode.NO_STATUS).data == b""
    echo = client.data_to_send()  # taking the close queued its echo: the same code
    server.receive_data(echo)
    (echoed,) = server.events_received()
    assert echoed.code == CloseCode.NORMAL and server.data_to_send() == b""
    server, client = Connection(), Connection(client=True)
    server.receive_data(client.send_close(CloseCode.NO_STATUS))
    (empty,) = server.events_received()
    assert empty.code == CloseCode.NO_STATUS
    assert server.data_to_send() == CloseControlMessage(CloseCode.NO_STATUS).single()
