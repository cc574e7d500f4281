"""Both clients follow the same redirects the same way (ws4py.client.target), on loopback.

Redirectors are real sockets answering each request with a scripted head;
the last hop is ws4py's own server, whose websocket sends the request
headers it got as its first message, so what reached it is checked on the
wire.  test_proxy.py has the statuses, TLS and proxy cases.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from scripted_http import Redirector, moved
from ws4py.async_websocket import WebSocket as AsyncWebSocket
from ws4py.async_websocket import connect as aconnect
from ws4py.asyncio.connection import ClientProtocol
from ws4py.client.target import Redirects, parse_url
from ws4py.client.threadedclient import WebSocketClient
from ws4py.exc import HandshakeError
from ws4py.handshake import Response
from ws4py.messaging import Message
from ws4py.server.wsgirefserver import WSGIServer, make_server
from ws4py.websocket import WebSocket

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"
WAIT = 10.0


@pytest.fixture(autouse=True)
def no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


class Tell(WebSocket):
    """Sends the request's path and headers (as JSON), then echoes."""

    def opened(self) -> None:
        environ = self.environ or {}
        headers = {k[5:].lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        self.send(json.dumps({"path": environ.get("PATH_INFO"), "headers": headers}))

    def received_message(self, message: Message) -> None:
        self.send(message.data, message.is_binary)


@pytest.fixture
def final() -> Iterator[WSGIServer]:
    server = make_server(HOST, 0, Tell)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(WAIT)


def final_url(server: WSGIServer, path: str = "/end") -> str:
    return f"ws://{HOST}:{server.server_address[1]}{path}"


@pytest.fixture
def redirector() -> Iterator[Callable[..., Redirector]]:
    made: list[Redirector] = []

    def start(respond: Callable[[int], bytes], unix_path: str | None = None) -> Redirector:
        server = Redirector(respond, unix_path)
        made.append(server)
        return server

    yield start
    for server in made:
        server.stop()


CREDENTIALS = [("Authorization", "Bearer t"), ("Cookie", "s=1"), ("X-Trace", "7")]


class Threaded(WebSocketClient):
    def __init__(self, url: str, **kwargs: Any) -> None:
        self.inbox: queue.Queue[str] = queue.Queue()
        super().__init__(url, **kwargs)

    def received_message(self, message: Message) -> None:
        self.inbox.put(str(message))


def threaded_told(url: str, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    """Connect with the threaded client: its final URL and what the last hop was sent."""
    client = Threaded(url, **kwargs)
    client.connect()
    try:
        return client.final_url, json.loads(client.inbox.get(timeout=WAIT))
    finally:
        client.close()
        client.join(WAIT)


def asyncio_told(url: str, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    """The same with asyncio connect()."""

    async def go() -> tuple[str, dict[str, Any]]:
        ws = await aconnect(url, AsyncWebSocket, **kwargs)
        try:
            message = await asyncio.wait_for(ws.receive(), WAIT)
            assert message is not None
            return ws.__dict__["final_url"], json.loads(str(message))
        finally:
            await ws.close()

    return asyncio.run(go())


BOTH = pytest.mark.parametrize("told", [threaded_told, asyncio_told], ids=["threaded", "asyncio"])


@BOTH
def test_a_chain_across_origins_and_back(
    told: Callable[..., tuple[str, dict[str, Any]]],
    final: WSGIServer,
    redirector: Callable[..., Redirector],
) -> None:
    end = final_url(final)
    # first (this origin) -> relative on first -> other origin -> the final server
    other = redirector(lambda n: moved(308, end.replace("ws://", "http://")))
    first = redirector(lambda n: moved(302, "next?x=1") if n == 1 else moved(307, other.url("/o")))
    url, seen = told(first.url("/start/here"), headers=CREDENTIALS)
    assert url == end
    assert [r.split(b"\r\n")[0] for r in first.requests] == [
        b"GET /start/here HTTP/1.1",
        b"GET /start/next?x=1 HTTP/1.1",  # relative to the current hop
    ]
    assert first.header(2, "Authorization") == "Bearer t"  # same origin: kept
    assert other.header(1, "Authorization") is None and other.header(1, "Cookie") is None
    assert other.header(1, "X-Trace") == "7"
    assert seen["path"] == "/end"
    assert "authorization" not in seen["headers"] and "cookie" not in seen["headers"]
    assert seen["headers"]["x_trace"] == "7"
    assert seen["headers"]["host"] == parse_url(end).host + f":{final.server_address[1]}"


@BOTH
def test_credentials_are_sent_again_back_home(
    told: Callable[..., tuple[str, dict[str, Any]]],
    final: WSGIServer,
    redirector: Callable[..., Redirector],
) -> None:
    # The final server is the origin the credentials were given for.
    home = final_url(final, "/home")
    away = redirector(lambda n: moved(301, home))
    url, seen = told(final_url(final, "/x").replace("/x", "/home"), headers=CREDENTIALS)
    assert seen["headers"]["authorization"] == "Bearer t"  # no redirect at all
    start = redirector(lambda n: moved(302, away.url()))
    url, seen = told(start.url(), headers=CREDENTIALS)
    assert url == home
    assert away.header(1, "Cookie") is None
    # start and away share 127.0.0.1 but not the port: another origin for both
    assert "authorization" not in seen["headers"]


@BOTH
def test_the_loop_limit_and_max_redirects_0(
    told: Callable[..., tuple[str, dict[str, Any]]], redirector: Callable[..., Redirector]
) -> None:
    looping = redirector(lambda n: moved(302, f"/loop{n}"))
    with pytest.raises(HandshakeError, match="too many redirects: more than 2") as info:
        told(looping.url(), max_redirects=2)
    assert info.value.status == 302 and len(looping.requests) == 3
    with pytest.raises(HandshakeError, match="302 Moved, expected 101") as info:
        told(looping.url(), max_redirects=0)
    assert info.value.status == 302 and len(looping.requests) == 4


@BOTH
def test_no_redirects_on_unix_sockets(
    told: Callable[..., tuple[str, dict[str, Any]]], redirector: Callable[..., Redirector]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "s")
        server = redirector(lambda n: moved(302, "ws://127.0.0.1:1/"), unix_path=path)
        with pytest.raises(HandshakeError, match="not followed on Unix sockets") as info:
            told(f"ws+unix://{path}")
        assert info.value.status == 302 and len(server.requests) == 1
        assert server.header(1, "Host") == "localhost"


def test_the_client_protocol_response_hook(
    final: WSGIServer, redirector: Callable[..., Redirector]
) -> None:
    """``ClientProtocol(on_response=...)``: the public hook connect() follows redirects with."""
    target = redirector(lambda n: moved(303, final_url(final)))

    async def go() -> tuple[list[Response], BaseException]:
        seen: list[Response] = []
        redirects = Redirects(target.url("/a"))

        def hook(response: Response) -> None:
            seen.append(response)
            redirects.check(response)

        handshake = redirects.target.handshake()
        proto = ClientProtocol(handshake, AsyncWebSocket, on_response=hook)
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: proto, HOST, target.port)
        try:
            await asyncio.wait_for(proto.opened_future, WAIT)
        except HandshakeError as exc:
            return seen, exc
        raise AssertionError("the redirect did not end the handshake")

    seen, error = asyncio.run(go())
    assert [r.status for r in seen] == [303]
    assert type(error).__name__ == "Redirected" and isinstance(error, HandshakeError)
    assert error.location == final_url(final)  # type: ignore[attr-defined]


def test_asyncio_host_omits_the_default_port_the_classic_client_keeps_it() -> None:
    """The one difference between the two clients' requests, by design (module docstring)."""
    target = parse_url("ws://example.org/")
    assert dict(target.handshake().request_headers())["Host"] == "example.org"
    client = WebSocketClient("ws://example.org/", extensions=[])
    assert dict(client.handshake_headers)["Host"] == "example.org:80"  # as ws4py 0.6.0
    client.close_connection()
