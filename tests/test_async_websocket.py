"""Integration tests for ws4py.async_websocket: the asyncio flavour on real sockets.

Our asyncio server is driven by the ``websockets`` client and by raw sockets
speaking frames built here; our asyncio client talks to a ``websockets``
server and to raw servers.  The classic names (``ws4py.client.tulipclient``,
``ws4py.server.tulipserver``) and uvloop are covered too.  Every test runs its
own event loop, bounded in time, and stops every server it started.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import ssl
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, NamedTuple, TypeVar

import pytest
import trustme
import websockets
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve

from ws4py.async_websocket import EchoWebSocket, WebSocket, WebSocketProtocol, connect, serve
from ws4py.client.tulipclient import WebSocketTulipClient
from ws4py.exc import ConnectionClosedError, HandshakeError
from ws4py.messaging import CloseControlMessage, Message, PingControlMessage, PongControlMessage
from ws4py.server.tulipserver import WebSocketProtocol as ClassicWebSocketProtocol
from ws4py.server.tulipserver import serve as classic_serve

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")
HOST = "127.0.0.1"
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


# ---------------------------------------------------------------------------
# Running a test's coroutine on a fresh loop (asyncio's own, or uvloop's)
# ---------------------------------------------------------------------------


def run(
    coro: Coroutine[Any, Any, T],
    timeout: float = 30.0,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
) -> T:
    """``asyncio.run`` with a time bound and a loop factory (Python 3.10 has no Runner)."""
    loop = loop_factory()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(asyncio.wait_for(coro, timeout))
    finally:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()


@contextlib.asynccontextmanager
async def ws4py_server(handler_cls: type[WebSocket], **kwargs: Any) -> AsyncIterator[str]:
    """Our asyncio server on a free port; yields its ws:// URL (wss:// with ssl=)."""
    server = await serve(handler_cls, HOST, 0, **kwargs)
    port = server.sockets[0].getsockname()[1]
    scheme = "wss" if kwargs.get("ssl") else "ws"
    try:
        yield f"{scheme}://{HOST}:{port}/"
    finally:
        server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2)


@contextlib.asynccontextmanager
async def websockets_server(
    handler: Callable[[ServerConnection], Awaitable[None]], **kwargs: Any
) -> AsyncIterator[str]:
    """A ``websockets`` server on a free port; yields its URL."""
    async with ws_serve(handler, HOST, 0, **kwargs) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        scheme = "wss" if kwargs.get("ssl") else "ws"
        yield f"{scheme}://{HOST}:{port}/"


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].strip("/"))


# ---------------------------------------------------------------------------
# A raw peer: frames built and parsed here, independently of ws4py
# ---------------------------------------------------------------------------


def xor_mask(data: bytes, key: bytes) -> bytes:
    if not data:
        return b""
    stream = (key * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


def frame(opcode: int, payload: bytes = b"", mask: bool = True, fin: bool = True) -> bytes:
    b0 = (0x80 if fin else 0) | opcode
    mbit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 0x10000:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = os.urandom(4)
        return head + key + xor_mask(payload, key)
    return head + payload


class RawFrame(NamedTuple):
    fin: bool
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int:
        return int(struct.unpack("!H", self.payload[:2])[0]) if self.payload else 1005


class RawPeer:
    """One end of a websocket connection, spoken by hand over asyncio streams."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        mask: bool,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.mask = mask
        self.stop = stop or asyncio.Event()

    async def idle(self) -> None:
        """Do nothing until the test ends."""
        await self.stop.wait()

    async def send(self, opcode: int, payload: bytes = b"") -> None:
        self.writer.write(frame(opcode, payload, self.mask))
        await self.writer.drain()

    async def recv_frame(self, timeout: float = 5.0) -> RawFrame:
        async def read() -> RawFrame:
            b0, b1 = await self.reader.readexactly(2)
            length = b1 & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
            key = await self.reader.readexactly(4) if b1 & 0x80 else b""
            payload = await self.reader.readexactly(length)
            return RawFrame(bool(b0 & 0x80), b0 & 0x0F, xor_mask(payload, key) if key else payload)

        return await asyncio.wait_for(read(), timeout)

    async def expect_eof(self, timeout: float = 5.0) -> None:
        data = await asyncio.wait_for(self.reader.read(1), timeout)
        assert data == b"", f"expected EOF, got {data!r}"

    def close(self) -> None:
        self.writer.close()


def handshake_request(port: int, key: str = "dGhlIHNhbXBsZSBub25jZQ==", **extra: str) -> bytes:
    headers = {
        "Host": f"{HOST}:{port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key,
        "Sec-WebSocket-Version": "13",
        **extra,
    }
    lines = ["GET / HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def raw_client(url: str, first_bytes: bytes = b"") -> RawPeer:
    """Connect, do the opening handshake by hand and check the 101."""
    port = port_of(url)
    reader, writer = await asyncio.open_connection(HOST, port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(handshake_request(port, key) + first_bytes)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101 "), head
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    assert f"Sec-WebSocket-Accept: {accept}".encode().lower() in head.lower()
    return RawPeer(reader, writer, mask=True)


async def raw_http(url: str, request: bytes) -> bytes:
    """Send ``request`` and read the whole answer (until the server closes)."""
    reader, writer = await asyncio.open_connection(HOST, port_of(url))
    try:
        writer.write(request)
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def raw_server(
    on_connect: Callable[[RawPeer, bytes], Awaitable[None]], answer_handshake: bool = True
) -> AsyncIterator[str]:
    """A hand-written websocket server; ``on_connect(peer, request_head)`` drives it."""
    tasks: set[asyncio.Task[Any]] = set()
    stop = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            if answer_handshake:
                key = next(
                    line.split(b":", 1)[1].strip()
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"sec-websocket-key:")
                )
                accept = base64.b64encode(hashlib.sha1(key + GUID.encode()).digest())
                writer.write(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                )
            await on_connect(RawPeer(reader, writer, mask=False, stop=stop), head)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"ws://{HOST}:{port}/"
    finally:
        stop.set()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2)


# ---------------------------------------------------------------------------
# Handlers used by several tests
# ---------------------------------------------------------------------------


class Recorder(WebSocket):
    """Records its handler calls (coroutine handlers)."""

    instances: list[Recorder]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[Any, ...]] = []
        self.closed_future: asyncio.Future[tuple[int, str | None]] = (
            asyncio.get_running_loop().create_future()
        )
        type(self).instances.append(self)

    async def opened(self) -> None:
        self.calls.append(("opened",))

    async def received_message(self, message: Message) -> None:
        self.calls.append(("message", message.is_binary, bytes(message.data)))

    async def ponged(self, pong: PongControlMessage) -> None:
        self.calls.append(("pong", bytes(pong.data)))

    async def closed(self, code: int, reason: str | None = None) -> None:
        self.calls.append(("closed", code, reason))
        if not self.closed_future.done():
            self.closed_future.set_result((code, reason))


def recorder(**attrs: Any) -> type[Recorder]:
    """A fresh Recorder subclass (own instance list, class attributes ``attrs``)."""
    return type("Rec", (Recorder,), {"instances": [], **attrs})


async def first_instance(cls: type[Recorder], timeout: float = 5.0) -> Recorder:
    deadline = time.monotonic() + timeout
    while not cls.instances:
        assert time.monotonic() < deadline, "no connection reached the server"
        await asyncio.sleep(0.01)
    return cls.instances[0]


# ---------------------------------------------------------------------------
# Echo through our server: asyncio's loop and uvloop
# ---------------------------------------------------------------------------


#: Tasks started by plain-function handlers (kept referenced until they end).
background: list[asyncio.Future[Any]] = []

def uvloop_loop() -> asyncio.AbstractEventLoop:
    # Imported here: without uvloop (a test dependency) this case fails, the others run.
    import uvloop

    return uvloop.new_event_loop()


LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop_loop,
}


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_server_echo_text_binary_empty_and_16mib(loop_name: str) -> None:
    big = os.urandom(16 * 1024 * 1024)

    async def main() -> None:
        async with (
            ws4py_server(EchoWebSocket) as url,
            ws_connect(url, max_size=None, compression=None) as client,
        ):
            for payload in ["hello", "", "héllo wörld ✓", b"\x00\x01\xff", b"", big]:
                await client.send(payload)
                echoed = await asyncio.wait_for(client.recv(), 20)
                assert type(echoed) is type(payload)
                assert echoed == payload
            await client.close(1000)
            assert client.close_code == 1000

    run(main(), loop_factory=LOOPS[loop_name])


def test_server_echo_with_compression() -> None:
    async def main() -> None:
        async with (
            ws4py_server(EchoWebSocket) as url,
            ws_connect(url, compression="deflate") as client,
        ):
            assert client.response is not None
            extensions = client.response.headers.get("Sec-WebSocket-Extensions", "")
            assert "permessage-deflate" in extensions
            for payload in ["x" * 10000, b"\x01" * 70000, "short"]:
                await client.send(payload)
                assert await asyncio.wait_for(client.recv(), 5) == payload

    run(main())


def test_server_handlers_as_plain_functions() -> None:
    events: list[tuple[Any, ...]] = []

    class Plain(WebSocket):
        def opened(self) -> None:
            events.append(("opened", self.peer_address is not None))

        def received_message(self, message: Message) -> None:
            events.append(("message", str(message)))
            if str(message) == "bye":
                background.append(asyncio.ensure_future(self.close(4010, "plain bye")))

        def closed(self, code: int, reason: str | None = None) -> None:
            events.append(("closed", code, reason))

    async def main() -> None:
        async with ws4py_server(Plain) as url:
            async with ws_connect(url) as client:
                await client.send("one")
                await client.send("bye")
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(client.recv(), 5)
                assert client.close_code == 4010
                assert client.close_reason == "plain bye"
            for _ in range(100):
                if events and events[-1][0] == "closed":
                    break
                await asyncio.sleep(0.02)

    run(main())
    assert events == [
        ("opened", True),
        ("message", "one"),
        ("message", "bye"),
        ("closed", 4010, b"plain bye"),  # the peer's reason as bytes (classic)
    ]


def test_server_handlers_as_coroutines_in_order() -> None:
    cls = recorder()

    async def main() -> None:
        async with ws4py_server(cls) as url:
            async with ws_connect(url) as client:
                await client.send("a")
                await client.send(b"b")
                pong_waiter = await client.ping(b"p")
                await asyncio.wait_for(pong_waiter, 5)
                ws = await first_instance(cls)
                await ws.ping(b"from-server")  # answered by the client: ponged()
                await asyncio.sleep(0.1)
                await client.close(4001, "client bye")
            code, reason = await asyncio.wait_for(ws.closed_future, 5)
            assert (code, reason) == (4001, b"client bye")
            assert ws.calls == [
                ("opened",),
                ("message", False, b"a"),
                ("message", True, b"b"),
                ("pong", b"from-server"),
                ("closed", 4001, b"client bye"),
            ]

    run(main())


def test_server_async_for_and_receive_none_after_close() -> None:
    """Without a received_message override, messages wait for receive() / async for."""
    got: list[str] = []
    after: list[Any] = []
    done: list[asyncio.Future[None]] = []

    class Consumer(WebSocket):
        async def opened(self) -> None:
            done.append(asyncio.ensure_future(self.consume()))

        async def consume(self) -> None:
            async for message in self:
                got.append(str(message))
            after.append(await self.receive())
            after.append(await self.receive())

    async def main() -> None:
        async with ws4py_server(Consumer) as url:
            async with ws_connect(url) as client:
                for text in ["m1", "m2", "m3"]:
                    await client.send(text)
                await client.close(1000)
            await asyncio.wait_for(done[0], 5)

    run(main())
    assert got == ["m1", "m2", "m3"]
    assert after == [None, None]


def test_server_close_from_inside_handler_does_not_deadlock() -> None:
    cls = recorder()

    class Closer(cls):  # type: ignore[valid-type,misc]
        async def received_message(self, message: Message) -> None:
            await super().received_message(message)
            started = time.monotonic()
            await self.close(4002, "server bye")  # must return at once
            self.calls.append(("close returned", time.monotonic() - started < 1))

    async def main() -> None:
        async with ws4py_server(Closer) as url:
            async with ws_connect(url) as client:
                await client.send("close me")
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(client.recv(), 5)
                assert client.close_code == 4002
                assert client.close_reason == "server bye"
            ws = await first_instance(cls)
            assert await asyncio.wait_for(ws.closed_future, 5) == (4002, b"server bye")
            assert ("close returned", True) in ws.calls

    run(main())


def test_server_close_from_another_task_waits_for_the_end() -> None:
    cls = recorder()

    async def main() -> None:
        async with ws4py_server(cls) as url, ws_connect(url) as client:
            ws = await first_instance(cls)
            await ws.close(4003, "bye from outside")
            # close() returned: the handshake is over and closed() has run.
            assert ws.closed_future.done()
            assert ws.terminated
            assert ws.close_code == 4003
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(client.recv(), 5)
            assert client.close_code == 4003
            with pytest.raises(ConnectionClosedError):
                await ws.send("too late")

    run(main())


def test_server_failing_handler_closes_with_1011() -> None:
    class Failing(WebSocket):
        async def received_message(self, message: Message) -> None:
            raise RuntimeError("application bug")

    async def main() -> None:
        async with ws4py_server(Failing) as url, ws_connect(url) as client:
            await client.send("boom")
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(client.recv(), 5)
            assert client.close_code == 1011

    run(main())


def test_server_protocol_error_fails_with_1002() -> None:
    cls = recorder()

    async def main() -> None:
        async with ws4py_server(cls) as url:
            peer = await raw_client(url)
            # An unmasked frame from a client is a protocol error (RFC 6455 5.1).
            peer.writer.write(frame(TEXT, b"unmasked", mask=False))
            reply = await peer.recv_frame()
            assert reply.opcode == CLOSE and reply.close_code == 1002
            await peer.expect_eof()
            peer.close()
            ws = await first_instance(cls)
            code, reason = await asyncio.wait_for(ws.closed_future, 5)
            assert (code, reason) == (1006, "Going away")  # no close came back (reference)
            assert ws.core.failure is not None and ws.core.failure.code == 1002

    run(main())


def test_server_processes_frames_sent_with_the_handshake() -> None:
    """Bytes that follow the request head in the same packet are not lost."""

    async def main() -> None:
        async with ws4py_server(EchoWebSocket) as url:
            peer = await raw_client(url, first_bytes=frame(TEXT, b"early") + frame(BINARY, b"\x02"))
            first = await peer.recv_frame()
            second = await peer.recv_frame()
            assert (first.opcode, first.payload) == (TEXT, b"early")
            assert (second.opcode, second.payload) == (BINARY, b"\x02")
            await peer.send(CLOSE, struct.pack("!H", 1000))
            assert (await peer.recv_frame()).close_code == 1000
            await peer.expect_eof()
            peer.close()

    run(main())


def test_server_negotiates_subprotocol_and_fills_environ() -> None:
    cls = recorder()

    async def main() -> None:
        offer: Any = ["superchat", "chat"]
        async with (
            ws4py_server(cls, protocols=["chat", "superchat"]) as url,
            ws_connect(url + "room?x=1", subprotocols=offer) as client,
        ):
            assert client.subprotocol == "superchat"
            ws = await first_instance(cls)
            assert ws.protocols == ["superchat"]
            assert ws.environ is not None
            assert ws.environ["PATH_INFO"] == "/room"
            assert ws.environ["QUERY_STRING"] == "x=1"

    run(main())


# ---------------------------------------------------------------------------
# Keepalive, backpressure, bounded close
# ---------------------------------------------------------------------------


def test_keepalive_without_pong_closes_with_1011() -> None:
    cls = recorder(keepalive_interval=0.2, keepalive_timeout=0.2)

    async def main() -> None:
        async with ws4py_server(cls) as url:
            peer = await raw_client(url)
            started = time.monotonic()
            ping = await peer.recv_frame(timeout=2)
            assert ping.opcode == PING  # never answered
            close = await peer.recv_frame(timeout=2)
            assert close.opcode == CLOSE
            assert close.close_code == 1011
            await peer.send(CLOSE, close.payload[:2])  # the peer does answer the close
            ws = await first_instance(cls)
            code, _ = await asyncio.wait_for(ws.closed_future, 2)
            elapsed = time.monotonic() - started
            assert code == 1011
            assert elapsed < 1.2, elapsed
            await peer.expect_eof()
            peer.close()

    run(main())


def test_keepalive_with_pongs_stays_open() -> None:
    cls = recorder(keepalive_interval=0.1, keepalive_timeout=0.5)

    async def main() -> None:
        # websockets answers the pings
        async with ws4py_server(cls) as url, ws_connect(url) as client:
            await asyncio.sleep(0.6)
            ws = await first_instance(cls)
            assert not ws.terminated
            assert sum(1 for call in ws.calls if call[0] == "pong") >= 2
            await client.send("still here")
            await asyncio.sleep(0.05)
            assert ("message", False, b"still here") in ws.calls

    run(main())


class Busy(Recorder):
    """A handler that stays busy with its first message until the test releases it."""

    instances: list[Recorder] = []
    release: asyncio.Event

    async def received_message(self, message: Message) -> None:
        await type(self).release.wait()
        await self.send(message.data, message.is_binary)


def busy(**attrs: Any) -> type[Busy]:
    return type("BusyRec", (Busy,), {"instances": [], **attrs})


def test_pings_are_answered_while_the_handler_is_busy() -> None:
    # The peer's keepalive must not depend on the application's pace: the pong
    # goes out as the ping arrives, not when the handler gets round to it.
    cls = busy()

    async def main() -> None:
        cls.release = asyncio.Event()
        async with ws4py_server(cls) as url:
            peer = await raw_client(url)
            await peer.send(TEXT, b"slow")
            for n in range(3):
                await peer.send(PING, b"p%d" % n)
                pong = await peer.recv_frame(timeout=5)
                assert (pong.opcode, pong.payload) == (PONG, b"p%d" % n)
            cls.release.set()
            echo = await peer.recv_frame(timeout=5)
            assert (echo.opcode, echo.payload) == (TEXT, b"slow")
            peer.close()

    run(main())


def test_keepalive_survives_a_busy_handler() -> None:
    # Our keepalive sees the peer's pongs as they arrive: a handler busy for
    # several ping rounds does not make the connection fail with 1011.
    cls = busy(keepalive_interval=0.1, keepalive_timeout=0.3)

    async def main() -> None:
        cls.release = asyncio.Event()
        async with ws4py_server(cls) as url:
            peer = await raw_client(url)
            await peer.send(TEXT, b"slow")
            for _ in range(5):  # more rounds than one timeout spans
                ping = await peer.recv_frame(timeout=5)
                assert ping.opcode == PING, ping
                await peer.send(PONG, ping.payload)
            ws = await first_instance(cls)
            assert not ws.terminated
            cls.release.set()
            while (frame := await peer.recv_frame(timeout=5)).opcode == PING:
                await peer.send(PONG, frame.payload)
            assert (frame.opcode, frame.payload) == (TEXT, b"slow")
            peer.close()

    run(main())


def test_backpressure_pauses_reading_and_loses_nothing() -> None:
    observed: dict[str, Any] = {"paused": False, "max_events": 0, "got": []}
    count, size = 200, 16 * 1024

    class Slow(WebSocket):
        max_queue = 8

        async def received_message(self, message: Message) -> None:
            observed["paused"] |= self.proto._reading_paused
            observed["max_events"] = max(observed["max_events"], self.core.events_pending)
            if not observed["got"]:
                await asyncio.sleep(0.5)  # the client floods meanwhile
            observed["got"].append(bytes(message.data[:4]))
            if len(observed["got"]) == count:
                await self.send("all received")

    async def main() -> None:
        async with ws4py_server(Slow) as url, ws_connect(url, compression=None) as client:
            for i in range(count):
                await client.send(i.to_bytes(4, "big") + bytes(size - 4))
            assert await asyncio.wait_for(client.recv(), 10) == "all received"

    run(main())
    assert observed["paused"], "reading was never paused"
    # Bounded: at most max_queue events plus one read's worth wait in memory.
    assert observed["max_events"] <= 8 + (256 * 1024) // size + 1, observed["max_events"]
    assert observed["got"] == [i.to_bytes(4, "big") for i in range(count)]


def test_write_limit_sets_the_transport_high_water_mark() -> None:
    cls = recorder(write_limit=3 * 1024 * 1024)

    async def main() -> None:
        async with ws4py_server(cls) as url, ws_connect(url):
            ws = await first_instance(cls)
            assert ws.proto.transport is not None
            _, high = ws.proto.transport.get_write_buffer_limits()
            assert high == 3 * 1024 * 1024

    run(main())


def test_send_waits_while_the_peer_does_not_read() -> None:
    cls = recorder(write_limit=64 * 1024)
    chunk = os.urandom(64 * 1024)

    async def main() -> None:
        async with ws4py_server(cls, extensions=[]) as url:
            port = port_of(url)
            reader, writer = await asyncio.open_connection(HOST, port)
            sock = writer.get_extra_info("socket")
            key = base64.b64encode(os.urandom(16)).decode()
            writer.write(handshake_request(port, key))
            await reader.readuntil(b"\r\n\r\n")
            writer.transport.pause_reading()  # the peer stops reading
            assert sock is not None
            ws = await first_instance(cls)
            sent = 0
            blocked = False
            while sent < 512:  # at most 32 MiB: far beyond any socket buffer
                try:
                    await asyncio.wait_for(ws.send(chunk, binary=True), 0.3)
                except asyncio.TimeoutError:
                    blocked = True  # the frame was written; waiting for drain timed out
                    sent += 1
                    break
                sent += 1
            assert blocked, "send() never waited for a peer that does not read"
            assert ws.proto._paused_writing
            # The peer reads again: the next send completes and nothing was lost.
            writer.transport.resume_reading()
            peer = RawPeer(reader, writer, mask=True)
            sending = asyncio.ensure_future(ws.send("last"))
            for i in range(sent):
                message = await peer.recv_frame(timeout=10)
                assert (message.opcode, message.payload) == (BINARY, chunk), i
            last = await peer.recv_frame(timeout=10)
            assert (last.opcode, last.payload) == (TEXT, b"last")
            await asyncio.wait_for(sending, 5)
            assert not ws.proto._paused_writing
            await peer.send(CLOSE, struct.pack("!H", 1000))
            assert (await peer.recv_frame()).opcode == CLOSE
            peer.close()

    run(main())


def test_server_close_is_bounded_when_the_peer_never_answers() -> None:
    cls = recorder(close_timeout=0.3)

    async def main() -> None:
        async with ws4py_server(cls) as url:
            peer = await raw_client(url)  # never answers anything
            ws = await first_instance(cls)
            started = time.monotonic()
            await asyncio.wait_for(ws.close(1000, "bye"), 3)
            elapsed = time.monotonic() - started
            close = await peer.recv_frame()
            assert close.opcode == CLOSE and close.close_code == 1000
            assert 0.25 <= elapsed < 1.5, elapsed
            assert await ws.closed_future == (1006, "Going away")
            await peer.expect_eof()
            peer.close()

    run(main())


def test_client_close_is_bounded_when_the_server_never_answers() -> None:
    closed: list[tuple[int, str | None]] = []

    class Client(WebSocket):
        close_timeout = 0.3

        def closed(self, code: int, reason: str | None = None) -> None:
            closed.append((code, reason))

    async def silent(peer: RawPeer, head: bytes) -> None:
        await peer.idle()

    async def main() -> None:
        async with raw_server(silent) as url:
            ws = await connect(url, Client, extensions=[])
            started = time.monotonic()
            await asyncio.wait_for(ws.close(1000), 3)
            assert 0.25 <= time.monotonic() - started < 1.5
            assert closed == [(1006, "Going away")]

    run(main())


# ---------------------------------------------------------------------------
# Handshake errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Key: bad\r\nSec-WebSocket-Version: 13\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
         b"426"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
         b"405"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"400"),
    ],
    ids=["plain-get", "bad-key", "bad-version", "post", "tls-on-plain-port"],
)  # fmt: skip
def test_server_rejects_bad_handshakes(request_bytes: bytes, status: bytes) -> None:
    cls = recorder()

    async def main() -> bytes:
        async with ws4py_server(cls) as url:
            answer = await raw_http(url, request_bytes)
            assert not cls.instances
            return answer

    answer = run(main())
    assert answer.startswith(b"HTTP/1.1 " + status + b" "), answer
    if status == b"426":
        assert b"Sec-WebSocket-Version: 13" in answer


def test_server_handshake_timeout_drops_silent_connections() -> None:
    async def main() -> None:
        async with ws4py_server(EchoWebSocket, handshake_timeout=0.3) as url:
            reader, writer = await asyncio.open_connection(HOST, port_of(url))
            writer.write(b"GET / HTTP/1.1\r\n")  # and nothing more
            started = time.monotonic()
            assert await asyncio.wait_for(reader.read(), 3) == b""
            assert time.monotonic() - started < 1.5
            writer.close()

    run(main())


def test_client_open_timeout() -> None:
    async def mute(peer: RawPeer, head: bytes) -> None:
        await peer.idle()

    async def main() -> None:
        async with raw_server(mute, answer_handshake=False) as url:
            started = time.monotonic()
            with pytest.raises((HandshakeError, asyncio.TimeoutError)):
                await connect(url, WebSocket, open_timeout=0.3)
            assert time.monotonic() - started < 1.5

    run(main())


def test_client_rejects_a_bad_handshake_response() -> None:
    async def wrong_accept(peer: RawPeer, head: bytes) -> None:
        peer.writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: bm90IHRoZSByaWdodCBrZXk=\r\n\r\n"
        )
        await peer.idle()

    async def not_found(peer: RawPeer, head: bytes) -> None:
        peer.writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        await peer.idle()

    async def main() -> None:
        for behaviour in (wrong_accept, not_found):
            async with raw_server(behaviour, answer_handshake=False) as url:
                with pytest.raises(HandshakeError):
                    await connect(url, WebSocket, open_timeout=3)

    run(main())


def test_client_connection_refused() -> None:
    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: None, HOST, 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        with pytest.raises(OSError):
            await connect(f"ws://{HOST}:{port}/", WebSocket, open_timeout=3)

    run(main())


# ---------------------------------------------------------------------------
# Our asyncio client against the websockets server
# ---------------------------------------------------------------------------


async def websockets_echo(conn: ServerConnection) -> None:
    async for message in conn:
        await conn.send(message)


def test_client_echo_text_binary_empty_and_16mib() -> None:
    big = os.urandom(16 * 1024 * 1024)

    async def main() -> None:
        async with websockets_server(websockets_echo, max_size=None, compression=None) as url:
            ws = await connect(url, extensions=[])
            for payload in ["hello", "", "ünïcödé ✓", b"\x00\xff", b"", big]:
                await ws.send(payload, isinstance(payload, bytes))
                message = await asyncio.wait_for(ws.receive(), 20)
                assert message is not None
                assert message.is_binary is isinstance(payload, bytes)
                expected = payload.encode() if isinstance(payload, str) else payload
                assert bytes(message.data) == expected
            await ws.close(1000, "done")
            assert ws.terminated
            assert ws.close_code == 1000
            assert await ws.receive() is None

    run(main())


def test_client_echo_with_compression() -> None:
    async def main() -> None:
        async with websockets_server(websockets_echo, compression="deflate") as url:
            ws = await connect(url)  # offers permessage-deflate by default
            assert any("deflate" in str(ext).lower() for ext in ws.extensions or [])
            for payload in ["a" * 50000, b"\x07" * 100000]:
                await ws.send(payload)
                message = await asyncio.wait_for(ws.receive(), 5)
                assert message is not None
                assert bytes(message.data) == (
                    payload.encode() if isinstance(payload, str) else payload
                )
            await ws.close()

    run(main())


def test_client_async_for_then_none_after_server_close() -> None:
    async def three_then_close(conn: ServerConnection) -> None:
        for text in ["x", "y", "z"]:
            await conn.send(text)
        await conn.close(4005, "server done")

    async def main() -> None:
        async with websockets_server(three_then_close) as url:
            ws = await connect(url)
            got = [str(message) async for message in ws]
            assert got == ["x", "y", "z"]
            assert await ws.receive() is None
            assert await ws.receive() is None
            await ws.wait_closed()
            assert (ws.close_code, ws.close_reason) == (4005, "server done")

    run(main())


def test_client_close_code_reaches_the_server() -> None:
    seen: list[tuple[int | None, str | None]] = []

    async def handler(conn: ServerConnection) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await conn.recv()
        seen.append((conn.close_code, conn.close_reason))

    async def main() -> None:
        async with websockets_server(handler) as url:
            ws = await connect(url)
            await ws.close(4006, "client done")
            assert ws.close_code == 4006  # the server echoed it
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.02)

    run(main())
    assert seen == [(4006, "client done")]


def test_client_handlers_as_plain_functions_and_coroutines() -> None:
    events: list[tuple[Any, ...]] = []

    class Plain(WebSocket):
        def opened(self) -> None:
            events.append(("plain opened",))
            background.append(asyncio.ensure_future(self.send("from plain")))

        def received_message(self, message: Message) -> None:
            events.append(("plain message", str(message)))
            background.append(asyncio.ensure_future(self.close(1000)))

        def closed(self, code: int, reason: str | None = None) -> None:
            events.append(("plain closed", code))

    class Coro(WebSocket):
        async def opened(self) -> None:
            events.append(("coro opened",))
            await self.send("from coro")

        async def received_message(self, message: Message) -> None:
            events.append(("coro message", str(message)))
            await self.close(1000)  # from inside the handler: no deadlock

        async def closed(self, code: int, reason: str | None = None) -> None:
            events.append(("coro closed", code))

    async def main() -> None:
        async with websockets_server(websockets_echo) as url:
            for cls in (Plain, Coro):
                ws = await connect(url, cls)
                await asyncio.wait_for(ws.wait_closed(), 5)

    run(main())
    assert events == [
        ("plain opened",),
        ("plain message", "from plain"),
        ("plain closed", 1000),
        ("coro opened",),
        ("coro message", "from coro"),
        ("coro closed", 1000),
    ]


def test_client_keepalive_detects_a_dead_server() -> None:
    closed: list[int] = []

    class Client(WebSocket):
        keepalive_interval = 0.2
        keepalive_timeout = 0.2
        close_timeout = 0.3

        def closed(self, code: int, reason: str | None = None) -> None:
            closed.append(code)

    frames: list[RawFrame] = []

    async def deaf(peer: RawPeer, head: bytes) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, asyncio.TimeoutError):
            while True:
                frames.append(await peer.recv_frame(timeout=3))

    async def main() -> None:
        async with raw_server(deaf) as url:
            ws = await connect(url, Client, extensions=[])
            started = time.monotonic()
            await asyncio.wait_for(ws.wait_closed(), 3)
            assert time.monotonic() - started < 1.5

    run(main())
    assert [f.opcode for f in frames[:2]] == [PING, CLOSE]
    assert frames[1].close_code == 1011
    assert closed == [1006]  # the dead server never answered the close


# ---------------------------------------------------------------------------
# TLS (trustme certificates), both ways
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST, "localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    return server_context, client_context


def test_tls_our_server_websockets_client(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_context, client_context = tls

    async def main() -> None:
        async with ws4py_server(EchoWebSocket, ssl=server_context) as url:
            assert url.startswith("wss://")
            async with ws_connect(url, ssl=client_context, max_size=None) as client:
                for payload in ["secure", b"\x01" * 300000]:
                    await client.send(payload)
                    assert await asyncio.wait_for(client.recv(), 5) == payload

    run(main())


def test_tls_our_client_websockets_server(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_context, client_context = tls

    async def main() -> None:
        async with websockets_server(websockets_echo, ssl=server_context) as url:
            ws = await connect(url, ssl_context=client_context)
            await ws.send("over tls")
            message = await asyncio.wait_for(ws.receive(), 5)
            assert message is not None and str(message) == "over tls"
            await ws.close()
            # Certificates are verified by default: this CA is not trusted.
            with pytest.raises(ssl.SSLError):
                await connect(url, open_timeout=5)

    run(main())


# ---------------------------------------------------------------------------
# The classic names: tulipserver's WebSocketProtocol, tulipclient's client
# ---------------------------------------------------------------------------


def test_classic_tulipserver_protocol_with_create_server() -> None:
    assert ClassicWebSocketProtocol is WebSocketProtocol
    assert classic_serve is serve

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: ClassicWebSocketProtocol(EchoWebSocket), HOST, 0
        )
        port = server.sockets[0].getsockname()[1]
        try:
            async with ws_connect(f"ws://{HOST}:{port}/") as client:
                await client.send("classic")
                assert await asyncio.wait_for(client.recv(), 5) == "classic"
                await client.send(b"\x00\x01")
                assert await asyncio.wait_for(client.recv(), 5) == b"\x00\x01"
        finally:
            server.close()
            await server.wait_closed()

    run(main())


def test_classic_tulipclient() -> None:
    received: list[str] = []
    closed: list[tuple[int, str | None]] = []

    class Hello(WebSocketTulipClient):
        async def opened(self) -> None:
            await self.send("hello")
            await self.send(b"bin", binary=True)

        def received_message(self, message: Message) -> None:
            received.append(repr(bytes(message.data)) if message.is_binary else str(message))
            if len(received) == 2:
                background.append(asyncio.ensure_future(self.close(1000, "bye")))

        def closed(self, code: int, reason: str | None = None) -> None:
            closed.append((code, reason))

    async def main() -> None:
        async with websockets_server(websockets_echo) as url:
            ws = Hello(url, protocols=None, headers=[("X-Test", "1")])
            await ws.connect()
            await asyncio.wait_for(ws.wait_closed(), 5)
            # A second connect() opens a new connection with the same object.
            received.clear()
            await ws.connect()
            await asyncio.wait_for(ws.wait_closed(), 5)

    run(main())
    assert received == ["hello", "b'bin'"]
    assert closed == [(1000, b"bye"), (1000, b"bye")]


# " wss://": TLS is decided by the URL's scheme as the client parses it (a
# leading space is stripped by urlsplit), so ssl_options apply there too.
@pytest.mark.parametrize("prefix", ["", " "])
def test_classic_tulipclient_over_tls(
    tls: tuple[ssl.SSLContext, ssl.SSLContext], prefix: str
) -> None:
    server_context, client_context = tls
    got: list[str] = []

    class Client(WebSocketTulipClient):
        async def opened(self) -> None:
            await self.send("tls hello")

        async def received_message(self, message: Message) -> None:
            got.append(str(message))
            await self.close()

    async def main() -> None:
        async with ws4py_server(EchoWebSocket, ssl=server_context) as url:
            ws = Client(prefix + url, ssl_options=client_context)
            await ws.connect()
            await asyncio.wait_for(ws.wait_closed(), 5)

    run(main())
    assert got == ["tls hello"]


def test_rebind_readies_the_same_websocket_for_a_new_connection() -> None:
    """rebind(): what a reconnecting client does, public (connect's make_websocket)."""

    async def main() -> None:
        async with ws4py_server(EchoWebSocket) as url:
            ws = await connect(url)
            with pytest.raises(RuntimeError):  # its connection is running
                ws.rebind(ws.proto)
            first_core = ws.core
            await ws.send("first")
            await ws.close()
            await asyncio.wait_for(ws.wait_closed(), 5)

            def again(proto: Any, protocols: Any, extensions: Any, environ: Any) -> WebSocket:
                ws.rebind(proto, protocols, extensions, environ)
                return ws

            assert await connect(url, make_websocket=again) is ws
            assert ws.core is not first_core and not ws.terminated
            await ws.send("second")
            received = [await asyncio.wait_for(ws.receive(), 5) for _ in range(2)]
            assert [str(message) for message in received] == ["first", "second"]
            await ws.close()
            await asyncio.wait_for(ws.wait_closed(), 5)
            assert ws.close_code == 1000

    run(main())


def test_our_client_against_our_server() -> None:
    cls = recorder()

    async def main() -> None:
        async with ws4py_server(EchoWebSocket) as url:
            ws = await connect(url, cls)
            await ws.send("ping-pong")
            await asyncio.sleep(0.1)
            await ws.close(4007, "done")
            assert await ws.closed_future == (4007, b"done")  # echoed with the reason (0.6.0)
            assert ("message", False, b"ping-pong") in ws.calls

    run(main())


def test_client_does_not_wait_forever_for_the_server_to_close_tcp() -> None:
    """The server starts the closing handshake but never closes TCP (RFC 6455 7.1.1)."""
    closed: list[tuple[int, str | None]] = []
    echoed: list[int] = []

    class Client(WebSocket):
        close_timeout = 0.3

        def closed(self, code: int, reason: str | None = None) -> None:
            closed.append((code, reason))

    async def close_but_keep_tcp(peer: RawPeer, head: bytes) -> None:
        await peer.send(CLOSE, struct.pack("!H", 4008))
        echoed.append((await peer.recv_frame()).close_code)
        await peer.idle()  # TCP stays open

    async def main() -> None:
        async with raw_server(close_but_keep_tcp) as url:
            ws = await connect(url, Client, extensions=[])
            started = time.monotonic()
            await asyncio.wait_for(ws.wait_closed(), 3)
            assert time.monotonic() - started < 1.5

    run(main())
    assert echoed == [4008]
    assert closed == [(4008, b"")]


# ---------------------------------------------------------------------------
# The classic surface: send(payload, binary=False), extensions as strings (#21, #22)
# ---------------------------------------------------------------------------


def test_send_bytes_is_text_unless_binary_and_invalid_text_is_refused() -> None:
    """As the threaded flavour: one rule (connection.outgoing_message) for every flavour."""
    outcomes: list[Any] = []

    class Sender(WebSocket):
        async def opened(self) -> None:
            await self.send(b'{"json": "as bytes"}')  # text, as the reference's signature
            await self.send(b"\x00\xff", binary=True)
            try:
                await self.send(b"\xff not utf-8")
            except ValueError as exc:
                outcomes.append(str(exc))
            await self.send("done")

    async def main() -> None:
        async with ws4py_server(Sender) as url, ws_connect(url) as client:
            got = [await asyncio.wait_for(client.recv(), 5) for _ in range(3)]
            assert got == ['{"json": "as bytes"}', b"\x00\xff", "done"]

    run(main())
    assert len(outcomes) == 1 and "binary=True" in outcomes[0]


def test_send_refuses_a_close_message_and_the_connection_stays_open() -> None:
    """Issue #19: ``send(CloseControlMessage())`` went out as a message and left the
    connection OPEN (messages could follow a close); the core's one rule refuses it."""
    outcomes: list[Any] = []

    class Sender(WebSocket):
        async def opened(self) -> None:
            try:
                await self.send(CloseControlMessage(1000, "not this way"))
            except ValueError as exc:
                outcomes.append(("refused", str(exc)))
            outcomes.append(("open", self.terminated, self.core.close_sent))
            await self.send(PingControlMessage(b"control messages still go"))
            await self.send("still open")
            await self.close(1000, "the close path")

    async def main() -> None:
        async with ws4py_server(Sender) as url, ws_connect(url) as client:
            assert await asyncio.wait_for(client.recv(), 5) == "still open"
            with pytest.raises(websockets.ConnectionClosedOK):
                await asyncio.wait_for(client.recv(), 5)
            assert client.close_code == 1000 and client.close_reason == "the close path"

    run(main())
    assert outcomes[0][0] == "refused" and "close()" in outcomes[0][1]
    assert outcomes[1] == ("open", False, None)


def test_server_handler_gets_extension_strings_and_live_objects() -> None:
    """#22: a classic handler built with strings; the live extension handed over before opened()."""
    seen: dict[str, Any] = {}

    class Classic(WebSocket):
        def __init__(
            self, proto: Any, protocols: Any = None, extensions: Any = None, environ: Any = None
        ) -> None:
            super().__init__(proto, protocols, extensions, environ)
            seen["constructed_with"] = extensions

        async def opened(self) -> None:
            seen["opened"] = (list(self.extensions or []), list(self.extension_objects))
            await self.send(", ".join(self.extensions or []))

    async def main() -> None:
        async with ws4py_server(Classic) as url, ws_connect(url, compression="deflate") as client:
            assert client.response is not None
            header = client.response.headers["Sec-WebSocket-Extensions"]
            assert await asyncio.wait_for(client.recv(), 5) == header
            seen["header"] = header

    run(main())
    strings, objects = seen["opened"]
    assert seen["constructed_with"] == strings == [seen["header"]]
    assert [str(ext) for ext in objects] == strings
    assert type(objects[0]).__name__ == "PerMessageDeflate"


def test_client_extensions_are_strings() -> None:
    async def main() -> None:
        async with websockets_server(websockets_echo, compression="deflate") as url:
            ws = await connect(url)
            try:
                assert ws.extensions and all(isinstance(ext, str) for ext in ws.extensions)
                assert ws.extensions == [str(ext) for ext in ws.extension_objects]
                assert ws.extensions[0].startswith("permessage-deflate")
            finally:
                await ws.close()

    run(main())


def test_ipv6_addresses_are_host_port() -> None:
    """#21 row 10: (host, port), as the threaded flavour, over a real IPv6 loopback."""
    addresses: list[Any] = []

    class Where(WebSocket):
        async def opened(self) -> None:
            addresses.append((self.local_address, self.peer_address))
            await self.close()

    async def main() -> None:
        server = await serve(Where, "::1", 0)
        try:
            port = server.sockets[0].getsockname()[1]
            async with ws_connect(f"ws://[::1]:{port}/") as client:
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(client.recv(), 5)
        finally:
            server.close()
            await server.wait_closed()

    run(main())
    ((local, peer),) = addresses
    assert len(local) == 2 and len(peer) == 2 and local[0] == peer[0] == "::1"
