"""ws4py.server.cherrypyserver's WebSocketPlugin against classic ws4py 0.6.0.

Scenarios: ``differential.scenarios_cherrypy`` (a bus of their own, real
socketpairs).  The plugin listens on the bus channels as 0.6.0's does: on
``'start'`` it starts its manager and subscribes ``'handle-websocket'``,
``'websocket-broadcast'`` and ``'stop'`` (``cleanup``), on ``'stop'`` it
unsubscribes them.  One deliberate difference: when the bus stops, ours
waits (``stop_timeout``) for the closing handshakes it started and ends the
websockets that remain, so their ``closed()`` is called; 0.6.0 stopped its
manager at once and never called it.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from differential import scenarios_cherrypy as scenarios
from differential.harness import Differential

pytestmark = pytest.mark.timeout(120)

FIXTURE_OK = [HealthCheck.function_scoped_fixture]  # the classic worker is session-wide


def test_channels_through_subscribe_start_stop(classic: Differential) -> None:
    steps = classic.same(scenarios.plugin_lifecycle)
    assert steps["subscribed"]["handle-websocket"] == []
    assert steps["started"] == {
        "start": ["start"],
        "stop": ["cleanup", "stop"],
        "handle-websocket": ["handle"],
        "websocket-broadcast": ["broadcast"],
    }
    assert steps["manager_running"] and not steps["manager_running_after_stop"]
    assert steps["stopped"]["handle-websocket"] == [] and steps["unsubscribed"]["start"] == []


def test_handle_websocket_listened_to_once_started(classic: Differential) -> None:
    assert classic.same(scenarios.handle_before_and_after_start) == {
        "before": [],
        "managed_before": 0,
        "after": [None],
        "managed_after": 1,
    }


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20).filter(
    lambda text: len(text.encode()) < 126
)
BROADCAST = st.one_of(
    TEXT.map(lambda text: (text,)),
    TEXT.map(lambda text: (text.encode(),)),  # bytes without binary: text, as 0.6.0
    st.binary(max_size=40).map(lambda data: (data, True)),
)


@settings(max_examples=10, deadline=None, suppress_health_check=FIXTURE_OK)
@given(texts=st.lists(TEXT, max_size=3), broadcast=st.lists(BROADCAST, max_size=3))
def test_handle_websocket_and_broadcast(
    classic: Differential, texts: list[str], broadcast: list[Any]
) -> None:
    ours, theirs = classic.both(scenarios.plugin_runs_websockets, texts, broadcast)
    assert theirs["closed_after_stop"] == []  # 0.6.0 never told the websocket
    assert ours["closed_after_stop"] == [1001]
    del ours["closed_after_stop"], theirs["closed_after_stop"]
    assert ours == theirs
    assert ours["answers"] == [None] and ours["managed"] and ours["received_all"]
    assert ours["received"] == [text.encode() for text in texts]
    assert ours["broadcast_frames"] == [
        (2 if len(args) == 2 else 1, args[0] if isinstance(args[0], bytes) else args[0].encode())
        for args in broadcast
    ]
    assert ours["close_frame"] == (8, 1001, b"Server is shutting down")
    assert not ours["manager_running"]


@settings(max_examples=5, deadline=None, suppress_health_check=FIXTURE_OK)
@given(texts=st.lists(TEXT, max_size=3))
def test_a_poller_replaced_after_subscribe_runs_the_websockets(
    classic: Differential, texts: list[str]
) -> None:
    """0.6.0's own CherryPy test sets ``manager.poller`` to a FakePoller after subscribe()."""
    assert classic.same(scenarios.plugin_with_a_replaced_poller, texts) == {
        "managed": True,
        "polled": 1,
        "echoed": [(1, text.encode()) for text in texts],
        "close_frame": (8, 1000, b"done"),
        "dropped": True,
        "polled_after": 0,
        "stopped": True,
        "manager_running": False,
    }
