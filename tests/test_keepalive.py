"""A busy handler does not starve the peer's keepalive (issue #19), over loopback.

The peer is the ``websockets`` library with a 1 s keepalive (``ping_interval=1``,
``ping_timeout=1``): it closes with 1011 when a pong is more than a second
late.  Our handler takes 5 s over a message; pongs must still go out meanwhile
(asyncio: as the bytes arrive; threaded run() mode: the pump reads while the
handler runs).  What is checked: the connection survived and the handler's
answer arrived, and our side saw no close meanwhile.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect_async
from websockets.sync.client import connect as ws_connect
from websockets.sync.server import ServerConnection, serve

from ws4py.async_websocket import WebSocket as AsyncWebSocket
from ws4py.async_websocket import serve as async_serve
from ws4py.client.threadedclient import WebSocketClient
from ws4py.messaging import Message
from ws4py.server.wsgirefserver import make_server
from ws4py.websocket import WebSocket

pytestmark = pytest.mark.timeout(60)

BUSY = 5.0  # seconds the handler takes
WAIT = 20.0  # bound on any wait of the test


def test_threaded_client_busy_handler_keeps_the_peers_keepalive() -> None:
    """WebSocketClient (run() in its thread) against a websockets server that pings every 1 s."""
    answers: queue.Queue[Any] = queue.Queue()

    def handler(ws: ServerConnection) -> None:
        ws.send("work")
        try:
            answers.put(ws.recv(timeout=WAIT))
        except Exception as exc:  # the keepalive failed: the test reports it
            answers.put(exc)
        ws.close()

    class Slow(WebSocketClient):
        codes: list[int] = []

        def received_message(self, message: Message) -> None:
            time.sleep(BUSY)
            self.send("done " + str(message))

        def closed(self, code: int, reason: Any = None) -> None:
            self.codes.append(code)

    with serve(handler, "127.0.0.1", 0, ping_interval=1, ping_timeout=1) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            port = server.socket.getsockname()[1]
            client = Slow(f"ws://127.0.0.1:{port}/")
            client.connect()  # its reading thread, which calls the handlers, starts
            answer = answers.get(timeout=WAIT)
            assert answer == "done work", answer
            client.run_forever()  # until the server's close
            assert Slow.codes == [1000]  # the server's normal close, not 1011
        finally:
            server.shutdown()
            thread.join(WAIT)


@pytest.fixture
def thread_mode_server() -> Iterator[tuple[int, list[int]]]:
    codes: list[int] = []

    class Slow(WebSocket):
        def received_message(self, message: Message) -> None:
            time.sleep(BUSY)
            self.send("done " + str(message))

        def closed(self, code: int, reason: Any = None) -> None:
            codes.append(code)

    server = make_server("127.0.0.1", 0, Slow, websocket_mode="thread")
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server.server_address[1], codes
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)


def test_thread_mode_server_busy_handler_keeps_the_peers_keepalive(
    thread_mode_server: tuple[int, list[int]],
) -> None:
    """The wsgiref server, a thread per connection; a websockets client pinging every 1 s."""
    port, codes = thread_mode_server
    with ws_connect(f"ws://127.0.0.1:{port}/", ping_interval=1, ping_timeout=1) as peer:
        peer.send("work")
        assert peer.recv(timeout=WAIT) == "done work"
        started = time.monotonic()
        peer.close()
    while not codes and time.monotonic() - started < WAIT:
        time.sleep(0.05)
    assert codes == [1000]


def test_asyncio_server_busy_handler_keeps_the_peers_keepalive() -> None:
    """The asyncio server: a handler awaiting 5 s, a websockets client pinging every 1 s."""
    codes: list[int] = []

    class Slow(AsyncWebSocket):
        async def received_message(self, message: Message) -> None:
            await asyncio.sleep(BUSY)
            await self.send("done " + str(message))

        def closed(self, code: int, reason: Any = None) -> None:
            codes.append(code)

    async def main() -> None:
        server = await async_serve(Slow, "127.0.0.1", 0)
        try:
            port = server.sockets[0].getsockname()[1]
            async with ws_connect_async(
                f"ws://127.0.0.1:{port}/", ping_interval=1, ping_timeout=1
            ) as peer:
                await peer.send("work")
                assert await asyncio.wait_for(peer.recv(), WAIT) == "done work"
            for _ in range(200):
                if codes:
                    break
                await asyncio.sleep(0.05)
            assert codes == [1000]
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(asyncio.wait_for(main(), WAIT * 2))
