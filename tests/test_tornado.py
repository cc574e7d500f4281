"""Tests for ws4py.client.tornadoclient: the classic tornado client on tornado 6.

The classic way (``connect()`` before the IOLoop runs, plain handlers, the
loop stopped from ``closed()``) runs against ws4py's threaded wsgiref server;
the coroutine way against ws4py's asyncio server on the same loop.  Real
sockets on 127.0.0.1; every server is stopped by its test.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import trustme
from tornado.ioloop import IOLoop

from ws4py.async_websocket import EchoWebSocket as AsyncEchoWebSocket
from ws4py.async_websocket import WebSocket as AsyncWebSocket
from ws4py.async_websocket import serve
from ws4py.client.tornadoclient import TornadoWebSocketClient
from ws4py.exc import ConnectionClosedError
from ws4py.messaging import Message, PongControlMessage
from ws4py.server.wsgirefserver import make_server
from ws4py.websocket import EchoWebSocket

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"


@pytest.fixture
def threaded_echo_server() -> Iterator[str]:
    """ws4py's wsgiref server (manager mode) with EchoWebSocket, in a thread."""
    server = make_server(HOST, 0, EchoWebSocket)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"ws://{HOST}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        assert not thread.is_alive()


@contextlib.asynccontextmanager
async def asyncio_server(handler_cls: type[AsyncWebSocket], **kwargs: Any) -> AsyncIterator[str]:
    server = await serve(handler_cls, HOST, 0, **kwargs)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"{'wss' if kwargs.get('ssl') else 'ws'}://{HOST}:{port}/"
    finally:
        server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2)


def run_loop(io_loop: IOLoop, timeout: float = 10.0) -> None:
    """Run an IOLoop until something stops it, failing the test after ``timeout``."""
    timed_out: list[bool] = []

    def give_up() -> None:
        timed_out.append(True)
        io_loop.stop()

    handle = io_loop.call_later(timeout, give_up)
    io_loop.start()
    io_loop.remove_timeout(handle)
    assert not timed_out, "the IOLoop was never stopped"


def test_classic_usage_connect_before_the_loop_runs(threaded_echo_server: str) -> None:
    received: list[tuple[bool, bytes]] = []
    closed: list[tuple[int, str | None]] = []
    asyncio_loop = asyncio.new_event_loop()
    asyncio.set_event_loop(asyncio_loop)
    io_loop = IOLoop.instance()  # the classic spelling of IOLoop.current()

    class MyClient(TornadoWebSocketClient):
        def opened(self) -> None:
            for i in range(0, 200, 25):
                self.send("*" * i)
            self.send(b"\x00\xff", binary=True)
            self.send(iter(["frag", "mented"]))  # one fragmented message

        def received_message(self, message: Message) -> None:
            received.append((message.is_binary, bytes(message.data)))
            if len(received) == 10:
                self.close(reason="Bye bye")

        def closed(self, code: int, reason: str | None = None) -> None:
            closed.append((code, reason))
            io_loop.stop()

    try:
        ws = MyClient(threaded_echo_server, protocols=["http-only", "chat"])
        assert ws.terminated
        ws.connect()  # before the loop runs
        assert ws.io_loop is io_loop
        run_loop(io_loop)
    finally:
        io_loop.close(all_fds=True)
        asyncio.set_event_loop(None)
        asyncio_loop.close()
    expected = [(False, b"*" * i) for i in range(0, 200, 25)]
    assert received == [*expected, (True, b"\x00\xff"), (False, b"fragmented")]
    assert closed == [(1000, b"Bye bye")]  # the server echoes our close (0.6.0)
    assert ws.terminated
    with pytest.raises(ConnectionClosedError):
        ws.send("after the end")


def test_coroutine_usage_on_the_running_loop() -> None:
    events: list[tuple[Any, ...]] = []
    server_side: list[AsyncWebSocket] = []

    class Server(AsyncWebSocket):
        async def opened(self) -> None:
            server_side.append(self)

        async def received_message(self, message: Message) -> None:
            if str(message) == "close please":
                await self.close(4001, "as you wish")
            else:
                await self.send(message.data, message.is_binary)

    class Client(TornadoWebSocketClient):
        async def opened(self) -> None:
            events.append(("opened", self.subprotocol))
            self.ping("hb")

        async def ponged(self, pong: PongControlMessage) -> None:
            events.append(("pong", bytes(pong.data)))
            self.send("hi")

        def received_message(self, message: Message) -> None:
            events.append(("message", str(message)))
            self.send("close please")

        async def closed(self, code: int, reason: str | None = None) -> None:
            events.append(("closed", code, reason))

    async def main() -> None:
        async with asyncio_server(Server, protocols=["chat"]) as url:
            ws = Client(url + "path?q=1", protocols=["chat"], headers=[("X-Token", "t0k")])
            await ws.connect()
            assert ws.io_loop is IOLoop.current()
            assert ws.response_headers is not None
            assert ws.peer_address is not None
            await asyncio.wait_for(ws.wait_closed(), 5)
            environ = server_side[0].environ
            assert environ is not None
            assert environ["PATH_INFO"] == "/path"
            assert environ["ws4py.headers"].get("X-Token") == "t0k"

    asyncio.run(asyncio.wait_for(main(), 20))
    assert events == [
        ("opened", "chat"),
        ("pong", b"hb"),
        ("message", "hi"),
        ("closed", 4001, b"as you wish"),
    ]


def test_connection_refused_reports_1006() -> None:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]  # nothing listens there once closed
    closed: list[tuple[int, str | None]] = []

    class Client(TornadoWebSocketClient):
        def closed(self, code: int, reason: str | None = None) -> None:
            closed.append((code, reason))

    async def main() -> None:
        ws = Client(f"ws://{HOST}:{port}/")
        with pytest.raises(OSError):
            await ws.connect()
        await ws.wait_closed()  # returns at once

    asyncio.run(asyncio.wait_for(main(), 10))
    assert len(closed) == 1 and closed[0][0] == 1006


def test_classic_ssl_options_dict(tmp_path: Any) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST).configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    got: list[str] = []

    class Client(TornadoWebSocketClient):
        def opened(self) -> None:
            self.send("over tls")

        def received_message(self, message: Message) -> None:
            got.append(str(message))
            self.close()

    async def main() -> None:
        async with asyncio_server(AsyncEchoWebSocket, ssl=server_context) as url:
            ws = Client(url, ssl_options={"ca_certs": str(ca_file)})
            await ws.connect()
            await asyncio.wait_for(ws.wait_closed(), 5)
            # Without the CA the certificate is refused (verification is on by default).
            untrusting = Client(url)
            with pytest.raises(ssl.SSLError):
                await untrusting.connect()

    asyncio.run(asyncio.wait_for(main(), 20))
    assert got == ["over tls"]


def test_limits_are_class_attributes() -> None:
    closed: list[int] = []

    class Small(TornadoWebSocketClient):
        max_message_size = 1000

        def opened(self) -> None:
            self.send("x" * 2000)  # echoed back: too large for this client

        def closed(self, code: int, reason: str | None = None) -> None:
            closed.append(code)

    async def main() -> None:
        async with asyncio_server(AsyncEchoWebSocket) as url:
            ws = Small(url, extensions=[])
            await ws.connect()
            await asyncio.wait_for(ws.wait_closed(), 5)

    asyncio.run(asyncio.wait_for(main(), 20))
    assert closed == [1006]  # we failed it with 1009: no close came back (reference)


def test_limits_set_on_the_instance_and_close_from_outside_a_handler() -> None:
    """A connection takes the client's limits as they are at connect(); close() is a plain call."""
    closed: list[tuple[int, Any]] = []

    class Client(TornadoWebSocketClient):
        def closed(self, code: int, reason: str | None = None) -> None:
            closed.append((code, reason))

    async def main() -> None:
        async with asyncio_server(AsyncEchoWebSocket) as url:
            ws = Client(url, extensions=[])
            ws.max_message_size = 10
            ws.close_timeout = 2.0
            ws.close()  # not connected yet: nothing to close
            await ws.connect()
            assert ws.websocket is not None
            assert ws.websocket.max_message_size == 10 and ws.websocket.close_timeout == 2.0
            assert Client.max_message_size != 10  # the class is left alone
            ws.close(4003, "from outside")
            ws.close()  # again: nothing more is sent
            with pytest.raises(ConnectionClosedError):
                ws.send("too late")
            await asyncio.wait_for(ws.wait_closed(), 5)
            assert ws.terminated

    asyncio.run(asyncio.wait_for(main(), 20))
    assert closed == [(4003, b"from outside")]


def test_explicit_io_loop_argument(threaded_echo_server: str) -> None:
    io_loop = IOLoop(make_current=False)
    got: list[str] = []

    class Client(TornadoWebSocketClient):
        def opened(self) -> None:
            self.send("explicit loop")

        def received_message(self, message: Message) -> None:
            got.append(str(message))
            self.close()

        def closed(self, code: int, reason: str | None = None) -> None:
            io_loop.stop()

    try:
        ws = Client(threaded_echo_server, io_loop=io_loop)
        ws.connect()
        assert ws.io_loop is io_loop
        run_loop(io_loop)
    finally:
        io_loop.close(all_fds=True)
    assert got == ["explicit loop"]


def test_extensions_are_the_negotiated_strings_and_bytes_go_as_text() -> None:
    """#22 and #21 row 1 for the tornado client: ``extensions`` lists the header strings
    once connected (what was offered before), and ``send(bytes)`` is a text message."""
    received: list[tuple[bool, bytes]] = []
    seen: dict[str, Any] = {}

    class Server(AsyncWebSocket):
        async def received_message(self, message: Message) -> None:
            received.append((message.is_binary, bytes(message.data)))
            if len(received) == 2:
                await self.close(1000, "enough")

    class Client(TornadoWebSocketClient):
        def opened(self) -> None:
            assert self.websocket is not None
            seen["extensions"] = self.extensions
            seen["objects"] = list(self.websocket.extension_objects)
            self.send(b'{"as": "text"}')
            self.send(b"\x00\xff", binary=True)

    async def main() -> None:
        async with asyncio_server(Server) as url:
            ws = Client(url)
            assert ws.extensions is None  # the constructor's: the default offer
            await ws.connect()
            await asyncio.wait_for(ws.wait_closed(), 5)

    asyncio.run(asyncio.wait_for(main(), 20))
    assert received == [(False, b'{"as": "text"}'), (True, b"\x00\xff")]
    (live,) = seen["objects"]
    assert seen["extensions"] == [str(live)] and str(live).startswith("permessage-deflate")


def test_send_control_messages_as_the_threaded_flavour_and_never_a_close() -> None:
    """Issue #19: one rule in the core for every flavour.  A ping message goes out as
    the threaded ``send()`` sends it (0.6.0's tornado client inherited that ``send()``);
    a close message is refused and the connection stays open; ``close()`` closes."""
    seen: dict[str, Any] = {}

    class Server(AsyncWebSocket):
        async def received_message(self, message: Message) -> None:
            seen["message"] = bytes(message.data)

    class Client(TornadoWebSocketClient):
        def opened(self) -> None:
            from ws4py.messaging import CloseControlMessage, PingControlMessage

            self.send(PingControlMessage(b"are you there"))
            try:
                self.send(CloseControlMessage(1000, "not this way"))
            except ValueError as exc:
                seen["refused"] = str(exc)
            assert self.websocket is not None
            seen["open"] = (self.terminated, self.websocket.core.close_sent)

        def ponged(self, pong: PongControlMessage) -> None:
            seen["pong"] = bytes(pong.data)
            self.send("still open")
            self.close(4002, "the close path")

        def closed(self, code: int, reason: Any = None) -> None:
            seen["closed"] = (code, reason)

    async def main() -> None:
        async with asyncio_server(Server) as url:
            ws = Client(url)
            await ws.connect()
            await asyncio.wait_for(ws.wait_closed(), 5)

    asyncio.run(asyncio.wait_for(main(), 20))
    assert "close()" in seen["refused"] and seen["open"] == (False, None)
    assert seen["pong"] == b"are you there" and seen["message"] == b"still open"
    assert seen["closed"] == (4002, b"the close path")
