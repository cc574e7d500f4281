"""ws4py.manager against classic ws4py 0.6.0: pollers, duck-typed websockets, broadcast.

Scenarios: ``differential.scenarios_manager``.  Where ours differs on purpose
the test takes both results and asserts each side explicitly:

* ``EPollPoller.unregister`` of a descriptor not registered (or already
  closed) is a no-op, like ``SelectPoller``'s; 0.6.0's raised (its own manager
  then died on a socket closed under it).
* ``stop()`` leaves the websockets it did not end listed (``list(manager)``),
  so their owner can end them; 0.6.0 forgot them, sockets left open.
* ``broadcast(bytes)`` that are not UTF-8, without ``binary``: 0.6.0 put
  them on the wire as text, which RFC 6455 forbids; ours raises ValueError.
* ``broadcast(str, binary=True)``: 0.6.0 on Python 3 failed silently
  (nothing sent); ours sends the UTF-8 bytes as binary.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from differential import scenarios_manager as scenarios
from differential.harness import Differential

pytestmark = pytest.mark.timeout(120)

FIXTURE_OK = [HealthCheck.function_scoped_fixture]  # the classic worker is session-wide

OPS = st.lists(
    st.tuples(st.sampled_from(["register", "unregister", "send", "drain"]), st.integers(0, 2)),
    max_size=10,
)


def _registered_only(ops: list[tuple[str, int]]) -> bool:
    """True when every unregister names a registered descriptor (0.6.0's epoll raises else)."""
    registered: set[int] = set()
    for op, i in ops:
        if op == "register":
            registered.add(i)
        elif op == "unregister":
            if i not in registered:
                return False
            registered.discard(i)
    return True


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURE_OK)
@given(ops=OPS)
def test_select_poller_register_unregister_poll(classic: Differential, ops: list[Any]) -> None:
    classic.same(scenarios.poller_ops, "SelectPoller", ops)


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURE_OK)
@given(ops=OPS)
def test_epoll_poller_register_unregister_poll(classic: Differential, ops: list[Any]) -> None:
    ours, theirs = classic.both(scenarios.poller_ops, "EPollPoller", ops)
    if _registered_only(ops):
        assert ours == theirs
    else:
        # Documented: unregistering what is not registered is a no-op here, an
        # OSError in 0.6.0; every poll result is the same.
        assert [r for r in ours if isinstance(r, list)] == [
            r for r in theirs if isinstance(r, list)
        ]
        assert "raise" in theirs and "raise" not in ours


def test_register_twice_is_one_descriptor(classic: Differential) -> None:
    ops = [("register", 0), ("register", 0), ("send", 0), ("unregister", 0), ("send", 0)]
    for kind in ("SelectPoller", "EPollPoller"):
        assert classic.same(scenarios.poller_ops, kind, ops) == [
            "ok", [], "ok", [], [0], "ok", [], [],
        ]  # fmt: skip


@pytest.mark.parametrize("kind", ["SelectPoller", "EPollPoller", "KQueuePoller"])
def test_poller_release_twice(classic: Differential, kind: str) -> None:
    assert classic.same(scenarios.poller_release, kind) == ["ok", "ok"]


def test_kqueue_poller_is_constructible_where_kqueue_is_absent(classic: Differential) -> None:
    result = classic.same(scenarios.kqueue_poller_where_absent)
    assert result == ["ok", "KQueuePoller", 0.01, [], True, []]


@settings(max_examples=15, deadline=None, suppress_health_check=FIXTURE_OK)
@given(
    broadcasts=st.lists(
        st.tuples(
            st.one_of(st.text(max_size=8), st.binary(max_size=8)),
            st.booleans(),
        ),
        max_size=4,
    )
)
def test_manager_with_duck_typed_websockets(classic: Differential, broadcasts: list[Any]) -> None:
    ours, theirs = classic.both(scenarios.manager_bookkeeping, broadcasts)
    # Documented: stop() keeps what it did not end listed (0.6.0 forgot them).
    assert theirs.pop("after_stop") == 0 and ours.pop("after_stop") == 1
    if all(_sendable(m, b) for m, b in broadcasts):
        # The duck's own send(payload, binary) got every broadcast as given.
        assert ours == theirs
        assert ours["duck_calls"][: len(broadcasts) + 1] == ["opened"] + [
            ("send", message, binary) for message, binary in broadcasts
        ]
    else:
        # Bytes that are not UTF-8 without binary: ours raises before sending
        # (RFC 6455: no invalid text); 0.6.0 handed them on as text.
        assert "raise" in ours["broadcast"] and "raise" not in theirs["broadcast"]


def _sendable(message: Any, binary: bool) -> bool:
    if binary or isinstance(message, str):
        return True
    try:
        bytes(message).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize("ending", [b"quit", b"boom", b"EOF"])
@pytest.mark.parametrize("poller", [None, "classic"])
def test_running_manager_serves_and_ends_duck_typed_websockets(
    classic: Differential, ending: bytes, poller: str | None
) -> None:
    ours, theirs = classic.both(scenarios.manager_reads_and_ends, ending, poller)
    # Documented: stop() keeps the second duck listed (0.6.0 forgot it).
    assert theirs.pop("after_stop") == 0 and ours.pop("after_stop") == 1
    assert ours == theirs
    assert ours["calls"] == ["opened", "terminate"] and ours["still_serving"] and ours["alive"]
    if poller == "classic":
        assert ours["poller_calls"] == ["register", "release", "unregister"]


def test_broadcast_frames(classic: Differential) -> None:
    payloads = [("hi", False), (b"by", False), (b"\x00", True), ("h\xe9", False), (b"{}", False)]
    frames = classic.same(scenarios.broadcast_frames, payloads)
    # Bytes without binary go out as text, as in the reference (a browser gets a string).
    assert frames[1] == b"\x81\x02by" and frames[4] == b"\x81\x02{}"


def test_broadcast_differences(classic: Differential) -> None:
    ours, theirs = classic.both(scenarios.broadcast_frames, [(b"\xff", False), ("t", True)])
    # Invalid UTF-8 as text: 0.6.0 sent it (RFC 6455 forbids), ours refuses.
    assert theirs[0] == b"\x81\x01\xff"
    assert ours[0] == ("raise", "ValueError")
    # str with binary=True: 0.6.0 on Python 3 sent nothing; ours sends it as binary.
    assert theirs[1] == b"" and ours[1] == b"\x82\x01t"


@settings(max_examples=20, deadline=None, suppress_health_check=FIXTURE_OK)
@given(
    payloads=st.lists(
        st.one_of(
            st.tuples(st.text(max_size=20), st.just(False)),
            st.tuples(st.binary(max_size=20), st.just(True)),
            st.tuples(st.text(max_size=20).map(lambda t: t.encode("utf-8")), st.just(False)),
        ),
        max_size=5,
    )
)
def test_broadcast_frames_vary(classic: Differential, payloads: list[Any]) -> None:
    classic.same(scenarios.broadcast_frames, payloads)


# -- 0.6.0's unit-test style: mocked pollers and stubbed select/epoll ------------------------

FAKE_OPS = st.lists(
    st.tuples(st.sampled_from(["register", "unregister"]), st.integers(0, 2)), max_size=8
)


@pytest.mark.parametrize("kind", ["recording", "mock"])
def test_a_users_poller_sees_the_websockets_descriptors_only(
    classic: Differential, kind: str
) -> None:
    # The manager's own wake-up socket is never handed to a user's poller.
    assert classic.same(scenarios.manager_poller_calls, kind) == [
        ("register", "ws"),
        ("unregister", "ws"),
        ("release",),
    ]


def test_a_mock_poller_drives_the_loop(classic: Differential) -> None:
    result = classic.same(scenarios.manager_mock_poller_ends_a_websocket)
    assert result == {
        "ended": True,
        "gone": True,
        "unregistered": True,
        "joined": True,
        "calls": ["opened", "once", "terminate"],
    }


def test_stop_from_the_pollers_poll(classic: Differential) -> None:
    result = classic.same(scenarios.manager_stopped_from_poll)
    assert result["before"] is False and result["joined"] and result["running"] is False
    assert result["released"] is True


@settings(max_examples=20, deadline=None, suppress_health_check=FIXTURE_OK)
@given(ops=FAKE_OPS)
def test_select_poller_polls_readability_only(classic: Differential, ops: list[Any]) -> None:
    classic.same(scenarios.select_poller_with_stubbed_select, ops)


def test_select_poller_register_twice_over_a_stubbed_select(classic: Differential) -> None:
    ops = [("register", 0), ("register", 0), ("register", 1), ("unregister", 0)]
    assert classic.same(scenarios.select_poller_with_stubbed_select, ops) == [
        "ok", [0], "ok", [0], "ok", [0, 1], "ok", [1], [],
    ]  # fmt: skip


@settings(max_examples=20, deadline=None, suppress_health_check=FIXTURE_OK)
@given(ops=FAKE_OPS)
def test_epoll_poller_over_an_epoll_that_refuses_twice(
    classic: Differential, ops: list[Any]
) -> None:
    # FakeEpoll tolerates unregistering what it does not hold, so both agree throughout.
    classic.same(scenarios.epoll_poller_over_fake_epoll, ops)
    twice = [("register", 0), ("register", 0)]
    assert classic.same(scenarios.epoll_poller_over_fake_epoll, twice) == ["ok", [0], "ok", [0]]


@pytest.mark.parametrize("running", [False, True])
def test_the_poller_can_be_replaced(classic: Differential, running: bool) -> None:
    result = classic.same(scenarios.manager_poller_replaced, running)
    assert result == {
        "same": True,
        "read": True,
        "ended": True,
        "gone": True,
        "joined": True,
        "poller_calls": ["register", "release", "unregister"],
    }
