"""Automatic reconnection of the threaded and asyncio clients.

A real ws4py echo server on a fixed loopback port is stopped (it closes its
websockets with 1001) and started again on the same port mid-session; it can
also be asked to close with a given code (``close:CODE``) or to drop the TCP
connection without a close frame (``drop``: 1006 on the client's side).
Back-off delays are tiny and bounded so the whole file runs in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from scripted_http import Redirector, moved
from ws4py.async_websocket import WebSocket as AsyncWebSocket
from ws4py.async_websocket import connect as aconnect
from ws4py.client.reconnect import (
    DEFAULT_RECONNECT_CODES,
    ReconnectingWebSocket,
    ReconnectPolicy,
    reconnect_policy,
)
from ws4py.client.threadedclient import WebSocketClient
from ws4py.messaging import Message
from ws4py.server.wsgirefserver import WSGIServer, make_server
from ws4py.websocket import WebSocket

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"
WAIT = 10.0
FAST = ReconnectPolicy(initial=0.05, maximum=0.4, factor=2.0, jitter=False)


@pytest.fixture(autouse=True)
def no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


# ---------------------------------------------------------------------------
# A server that restarts
# ---------------------------------------------------------------------------


class Echo(WebSocket):
    """Echoes; ``close:CODE`` closes with CODE, ``drop`` drops TCP without a close."""

    def received_message(self, message: Message) -> None:
        text = str(message) if message.is_text else ""
        if text.startswith("close:"):
            self.close(int(text[6:]), "asked")
        elif text == "drop":
            assert self.sock is not None
            self.sock.shutdown(socket.SHUT_RDWR)
        else:
            self.send(message.data, message.is_binary)


class RestartableServer:
    """ws4py's server on one port, stopped and started again at will."""

    def __init__(self) -> None:
        self.port = 0
        self.server: WSGIServer | None = None
        self.thread: threading.Thread | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}/echo"

    def start(self) -> None:
        assert self.server is None
        self.server = make_server(HOST, self.port, Echo)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        """Stop serving: open websockets are closed with 1001 (going away)."""
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        assert self.thread is not None
        self.thread.join(WAIT)
        self.server = None


@pytest.fixture
def server() -> Iterator[RestartableServer]:
    running = RestartableServer()
    yield running
    running.stop()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# ---------------------------------------------------------------------------
# The threaded client
# ---------------------------------------------------------------------------


class Client(WebSocketClient):
    def __init__(self, url: str, fail_first_open: bool = False, **kwargs: Any) -> None:
        self.messages: queue.Queue[str] = queue.Queue()
        self.events: list[tuple[Any, ...]] = []
        self.opened_count = 0
        self.fail_first_open = fail_first_open
        super().__init__(url, **kwargs)

    def opened(self) -> None:
        self.opened_count += 1
        self.events.append(("opened",))
        if self.fail_first_open and self.opened_count == 1:
            raise RuntimeError("a bug in opened()")

    def received_message(self, message: Message) -> None:
        self.messages.put(str(message))

    def closed(self, code: int, reason: str | None = None) -> None:
        self.events.append(("closed", code))

    def reconnecting(self, attempt: int, delay: float) -> None:
        self.events.append(("reconnecting", attempt, delay))

    def reconnect_failed(self, error: BaseException | None) -> None:
        self.events.append(("failed", error))

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [event for event in self.events if event[0] == kind]

    def echo(self, text: str) -> None:
        self.send(text)
        assert self.messages.get(timeout=WAIT) == text


@pytest.fixture
def make_client() -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []

    def make(url: str, **kwargs: Any) -> Client:
        client = Client(url, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        with contextlib.suppress(Exception):
            client.close()
        assert client.join(WAIT), "a client thread was still running at teardown"
        client.close_connection()


def test_threaded_client_reconnects_when_the_server_restarts(
    server: RestartableServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(server.url, reconnect=FAST)
    client.connect()
    wait_for(lambda: client.opened_count == 1, "opened()")
    client.echo("before")
    server.stop()
    # Refused attempts while it is down, with growing delays up to the cap.
    wait_for(lambda: len(client.of("reconnecting")) >= 5, "5 attempts")
    assert client.of("closed") == [("closed", 1001)]
    delays = [event[2] for event in client.of("reconnecting")[:5]]
    assert delays == [0.05, 0.1, 0.2, 0.4, 0.4]
    assert [event[1] for event in client.of("reconnecting")[:5]] == [1, 2, 3, 4, 5]
    assert isinstance(client.reconnect_error, ConnectionRefusedError)
    server.start()
    wait_for(lambda: client.opened_count == 2, "opened() after the restart")
    client.echo("after")
    assert client.reconnects == 1
    assert client.url == server.url
    client.close()
    assert client.join(WAIT)
    assert client.of("closed") == [("closed", 1001), ("closed", 1000)]
    assert client.opened_count == 2


def test_threaded_client_reconnect_keeps_its_deadlines_in_the_core(
    server: RestartableServer, make_client: Callable[..., Client]
) -> None:
    # The keepalive and close clocks are the core's (a new one per connection,
    # started by fire_opened()): the client keeps no copy of its own.
    client = make_client(server.url, reconnect=FAST)
    client.connect()
    client.echo("one")
    client.send("drop")
    wait_for(lambda: client.opened_count == 2, "the reconnection")
    client.echo("two")
    assert not {"_close_deadline", "_ping_sent_at", "_last_seen"} & vars(client).keys()


@pytest.mark.parametrize(
    ("message", "code"),
    [("drop", 1006), ("close:1012", 1012), ("close:1011", 1011), ("close:1013", 1013)],
)
def test_threaded_client_reconnects_after_abnormal_closure(
    server: RestartableServer, make_client: Callable[..., Client], message: str, code: int
) -> None:
    client = make_client(server.url, reconnect=FAST)
    client.connect()
    client.echo("one")
    client.send(message)
    wait_for(lambda: client.opened_count == 2, "the reconnection")
    assert client.of("closed") == [("closed", code)]
    assert client.of("reconnecting") == [("reconnecting", 1, 0.05)]
    client.echo("two")


@pytest.mark.parametrize("code", [1000, 1008, 4000])
def test_threaded_client_stays_closed_after_a_deliberate_close(
    server: RestartableServer, make_client: Callable[..., Client], code: int
) -> None:
    client = make_client(server.url, reconnect=FAST)
    client.connect()
    client.send(f"close:{code}")
    assert client.join(WAIT), "the session should end"
    assert client.of("closed") == [("closed", code)]
    assert client.of("reconnecting") == []
    assert client.opened_count == 1


def test_threaded_client_close_never_reconnects(
    server: RestartableServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(server.url, reconnect=ReconnectPolicy(reconnect_on_normal_close=True))
    client.connect()
    client.echo("one")
    client.close(1001, "leaving")  # whatever the code: the application closed
    assert client.join(WAIT)
    assert client.of("reconnecting") == []
    assert client.of("closed") == [("closed", 1001)]


def test_threaded_client_reconnect_on_normal_close_when_asked(
    server: RestartableServer, make_client: Callable[..., Client]
) -> None:
    policy = ReconnectPolicy(initial=0.01, jitter=False, reconnect_on_normal_close=True)
    client = make_client(server.url, reconnect=policy)
    client.connect()
    client.send("close:1000")
    wait_for(lambda: client.opened_count == 2, "the reconnection")
    client.echo("again")
    # and application codes when listed
    policy = ReconnectPolicy(initial=0.01, reconnect_codes={4000})
    other = make_client(server.url, reconnect=policy)
    other.connect()
    other.send("close:4000")
    wait_for(lambda: other.opened_count == 2, "the reconnection after 4000")


def test_threaded_client_gives_up_after_max_attempts(
    server: RestartableServer, make_client: Callable[..., Client]
) -> None:
    policy = ReconnectPolicy(initial=0.01, maximum=0.02, max_attempts=3)
    client = make_client(server.url, reconnect=policy)
    client.connect()
    server.stop()
    assert client.join(WAIT), "the client should give up"
    assert [event[1] for event in client.of("reconnecting")] == [1, 2, 3]
    (failed,) = client.of("failed")
    assert isinstance(failed[1], ConnectionRefusedError)


def test_threaded_client_close_during_back_off(
    server: RestartableServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(server.url, reconnect=ReconnectPolicy(initial=30, maximum=30))
    client.connect()
    client.echo("one")
    server.stop()
    wait_for(lambda: len(client.of("reconnecting")) == 1, "the first back-off")
    started = time.monotonic()
    client.close()
    assert client.join(WAIT)
    assert time.monotonic() - started < 5
    assert client.opened_count == 1


def test_threaded_client_without_reconnect_does_not(
    server: RestartableServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(server.url)
    client.connect()
    server.stop()
    assert client.join(WAIT)
    assert client.of("closed") == [("closed", 1001)]
    assert client.of("reconnecting") == []


def test_an_exception_in_a_handler_closes_with_1011_and_reconnects(
    server: RestartableServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(server.url, reconnect=FAST, fail_first_open=True)
    client.connect()
    wait_for(lambda: client.opened_count == 2, "the reconnection")
    assert client.of("closed") == [("closed", 1011)]
    client.echo("fine now")


def test_threaded_client_survives_several_restarts(
    server: RestartableServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(server.url, reconnect=FAST)
    client.connect()
    for round_ in range(1, 4):
        client.echo(f"round {round_}")
        server.stop()
        server.start()
        wait_for(lambda round_=round_: client.opened_count == round_ + 1, "a reconnection")
    client.echo("last")
    assert client.reconnects == 3


# ---------------------------------------------------------------------------
# The asyncio client
# ---------------------------------------------------------------------------


def run(coroutine: Any) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coroutine, 30)

    return asyncio.run(bounded())


async def until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


class AsyncClient(AsyncWebSocket):
    def opened(self) -> None:
        self.__dict__.setdefault("events", []).append(("opened",))

    def closed(self, code: int, reason: str | None = None) -> None:
        self.events.append(("closed", code))

    async def reconnecting(self, attempt: int, delay: float) -> None:
        self.events.append(("reconnecting", attempt, delay))

    def reconnect_failed(self, error: BaseException | None) -> None:
        self.events.append(("failed", error))

    @property
    def events(self) -> list[tuple[Any, ...]]:
        events: list[tuple[Any, ...]] = self.__dict__.setdefault("events", [])
        return events

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [event for event in self.events if event[0] == kind]


async def echo(ws: AsyncWebSocket, text: str) -> None:
    await ws.send(text)
    message = await asyncio.wait_for(ws.receive(), WAIT)
    assert message is not None and str(message) == text


def test_asyncio_client_reconnects_when_the_server_restarts(server: RestartableServer) -> None:
    async def scenario() -> None:
        ws: Any = await aconnect(server.url, AsyncClient, reconnect=FAST)
        assert isinstance(ws, AsyncClient) and isinstance(ws, ReconnectingWebSocket)
        await echo(ws, "before")
        await asyncio.to_thread(server.stop)
        await until(lambda: len(ws.of("reconnecting")) >= 4, "4 attempts")
        assert ws.of("closed") == [("closed", 1001)]
        assert [e[2] for e in ws.of("reconnecting")[:4]] == [0.05, 0.1, 0.2, 0.4]
        assert isinstance(ws.reconnect_error, ConnectionRefusedError)
        await asyncio.to_thread(server.start)
        await until(lambda: len(ws.of("opened")) == 2, "opened() after the restart")
        await echo(ws, "after")
        assert ws.reconnects == 1
        assert ws.final_url == server.url
        await ws.close()
        await ws.wait_closed()
        assert await ws.receive() is None
        assert ws.of("closed") == [("closed", 1001), ("closed", 1000)]

    run(scenario())


def test_asyncio_messages_flow_across_reconnections(server: RestartableServer) -> None:
    async def scenario() -> None:
        ws: Any = await aconnect(server.url, AsyncClient, reconnect=FAST)
        received: list[str] = []

        async def consume() -> None:
            async for message in ws:
                received.append(str(message))

        consumer = asyncio.create_task(consume())
        await ws.send("one")
        await until(lambda: received == ["one"], "the first echo")
        await ws.send("drop")  # 1006
        await until(lambda: len(ws.of("opened")) == 2, "the reconnection")
        await ws.send("two")
        await until(lambda: received == ["one", "two"], "the echo after reconnecting")
        assert ws.of("closed") == [("closed", 1006)]
        await ws.close()
        await asyncio.wait_for(consumer, WAIT)  # the iteration ends with the session

    run(scenario())


@pytest.mark.parametrize("code", [1000, 1008])
def test_asyncio_client_stays_closed_after_a_deliberate_close(
    server: RestartableServer, code: int
) -> None:
    async def scenario() -> None:
        ws: Any = await aconnect(server.url, AsyncClient, reconnect=FAST)
        await ws.send(f"close:{code}")
        await asyncio.wait_for(ws.wait_closed(), WAIT)
        assert await ws.receive() is None
        await asyncio.sleep(0.2)
        assert ws.of("closed") == [("closed", code)]
        assert ws.of("reconnecting") == []

    run(scenario())


def test_asyncio_client_close_during_back_off_and_max_attempts(
    server: RestartableServer,
) -> None:
    async def scenario() -> None:
        slow: Any = await aconnect(
            server.url, AsyncClient, reconnect=ReconnectPolicy(initial=30, maximum=30)
        )
        limited: Any = await aconnect(
            server.url,
            AsyncClient,
            reconnect=ReconnectPolicy(initial=0.01, maximum=0.02, max_attempts=2),
        )
        await asyncio.to_thread(server.stop)
        await until(lambda: len(slow.of("reconnecting")) == 1, "the first back-off")
        started = time.monotonic()
        await slow.close()
        assert time.monotonic() - started < 5
        assert await slow.receive() is None
        await asyncio.wait_for(limited.wait_closed(), WAIT)
        assert [e[1] for e in limited.of("reconnecting")] == [1, 2]
        (failed,) = limited.of("failed")
        assert isinstance(failed[1], ConnectionRefusedError)
        assert await limited.receive() is None

    run(scenario())


def test_asyncio_reconnect_refuses_make_websocket(server: RestartableServer) -> None:
    async def scenario() -> None:
        with pytest.raises(ValueError, match="make_websocket"):
            await aconnect(server.url, reconnect=True, make_websocket=AsyncWebSocket)

    run(scenario())


# ---------------------------------------------------------------------------
# The policy
# ---------------------------------------------------------------------------


def test_policy_delays_grow_to_the_cap() -> None:
    policy = ReconnectPolicy(initial=0.5, maximum=30, factor=2, jitter=False)
    assert [policy.delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert policy.delay(10_000) == 30  # no overflow


def test_policy_jitter_stays_between_half_and_all() -> None:
    random.seed(1)
    policy = ReconnectPolicy(initial=1, maximum=8, factor=2, jitter=True)
    for attempt in range(1, 8):
        base = min(8, 2 ** (attempt - 1))
        delays = {policy.delay(attempt) for _ in range(50)}
        assert all(base / 2 <= d <= base for d in delays)
        assert len(delays) > 1


def test_policy_decisions() -> None:
    policy = ReconnectPolicy()
    assert {1001, 1006, 1011, 1012, 1013, 1014} == set(DEFAULT_RECONNECT_CODES)
    for code in DEFAULT_RECONNECT_CODES:
        assert policy.should_reconnect(code)
    for code in (1000, 1005, 1002, 1003, 1007, 1008, 1009, 1010, 3000, 4999):
        assert not policy.should_reconnect(code)
    eager = ReconnectPolicy(reconnect_on_normal_close=True, reconnect_codes=[4000])
    assert eager.should_reconnect(1000) and eager.should_reconnect(1005)
    assert eager.should_reconnect(4000) and not eager.should_reconnect(1006)


def test_policy_arguments() -> None:
    assert reconnect_policy(True) == ReconnectPolicy()
    assert reconnect_policy(False) is None and reconnect_policy(None) is None
    custom = ReconnectPolicy(initial=1)
    assert reconnect_policy(custom) is custom
    with pytest.raises(TypeError):
        reconnect_policy("yes")  # type: ignore[arg-type]
    for kwargs in (
        {"initial": -1},
        {"initial": 5, "maximum": 1},
        {"factor": 0.5},
        {"max_attempts": 0},
        {"initial": float("nan")},
    ):
        with pytest.raises(ValueError):
            ReconnectPolicy(**kwargs)  # type: ignore[arg-type]


def test_connect_from_closed_keeps_the_new_connection() -> None:
    """Classic manual reconnect: calling connect() inside closed() must leave the
    new connection open (terminate() used to close the new socket)."""
    from ws4py.client import WebSocketBaseClient
    from ws4py.server.wsgirefserver import make_server
    from ws4py.websocket import EchoWebSocket

    server = make_server("127.0.0.1", 0, EchoWebSocket)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    reconnected = threading.Event()
    received: list[str] = []

    class Manual(WebSocketBaseClient):
        rounds = 0

        def closed(self, code: int, reason: str | None = None) -> None:
            if self.rounds == 0:
                self.rounds += 1
                self.connect()
                reconnected.set()

        def received_message(self, message: Any) -> None:
            received.append(str(message))

    ws = Manual(f"ws://127.0.0.1:{port}/", extensions=[])
    try:
        ws.connect()
        ws.close(1000)
        assert ws.once() is False or ws.terminated  # reads the server's close echo
        ws.terminate()  # calls closed(), which connects again
        assert reconnected.wait(5)
        assert ws.sock is not None and not ws.terminated
        ws.send("after reconnect")
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            ws.sock.settimeout(1)
            ws.once()
        assert received == ["after reconnect"]
        ws.close(1000)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# ---------------------------------------------------------------------------
# Both clients: a reconnection starts again from the URL given
# ---------------------------------------------------------------------------


@pytest.fixture
def redirector(server: RestartableServer) -> Iterator[Redirector]:
    running = Redirector(lambda n: moved(302, server.url))
    yield running
    running.stop()


def test_threaded_reconnection_goes_through_the_redirect_again(
    server: RestartableServer, redirector: Redirector, make_client: Callable[..., Client]
) -> None:
    client = make_client(redirector.url("/start"), reconnect=FAST)
    client.connect()
    assert client.final_url == server.url and client.url == redirector.url("/start")
    client.echo("before")
    client.send("drop")  # 1006: reconnect
    wait_for(lambda: client.reconnects == 1, "the reconnection")
    client.echo("after")
    assert len(redirector.requests) == 2  # from the URL given, not from where it led
    assert client.final_url == server.url
    assert client.port == server.port  # the redirect's target, as the classic attributes


def test_asyncio_reconnection_goes_through_the_redirect_again(
    server: RestartableServer, redirector: Redirector
) -> None:
    async def scenario() -> None:
        ws: Any = await aconnect(redirector.url("/start"), AsyncClient, reconnect=FAST)
        assert ws.final_url == server.url
        await echo(ws, "before")
        await ws.send("drop")
        await until(lambda: ws.reconnects == 1, "the reconnection")
        await echo(ws, "after")
        assert len(redirector.requests) == 2
        assert ws.final_url == server.url
        await ws.close()

    run(scenario())


def test_reconnecting_class_keeps_the_handler_first() -> None:
    """One cached subclass per handler class, named as it, its overrides before the session's."""
    from ws4py.client.reconnect import reconnecting_class

    class Handler(AsyncWebSocket):
        """The application's."""

        async def receive(self) -> Message | None:
            return None

    made = reconnecting_class(Handler)
    assert reconnecting_class(Handler) is made
    assert reconnecting_class(made) is made
    assert made.__name__ == "Handler" and made.__qualname__ == Handler.__qualname__
    assert made.__module__ == __name__ and made.__doc__ == "The application's."
    assert made.__mro__[1:4] == (Handler, ReconnectingWebSocket, AsyncWebSocket)
    assert made.receive is Handler.receive
    assert made.close is ReconnectingWebSocket.close
