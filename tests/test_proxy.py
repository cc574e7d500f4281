"""Proxies and redirects of the clients (threaded and asyncio), against real proxies.

The proxies are Debian's ``tinyproxy`` (HTTP CONNECT, Basic authentication)
and ``microsocks`` (SOCKS5, username/password), installed by
``scripts/install-proxies.sh``: a missing binary fails these tests (it is
never a skip).  Each test starts its own instances on free loopback ports
with temporary configuration files and kills them by PID afterwards.

tinyproxy cannot listen with TLS, so an ``https://`` proxy is a small
stunnel-like TLS front written here (:class:`TLSFront`) that passes the
bytes on to a real tinyproxy: the CONNECT is still tinyproxy's.

Behind the proxies runs ws4py's own echo server (``make_server``), with
certificates from trustme for ``wss://``.  Redirects are answered by tiny
raw servers written here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import select
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from ws4py.async_websocket import WebSocket as AsyncWebSocket
from ws4py.async_websocket import connect as aconnect
from ws4py.client import WebSocketBaseClient
from ws4py.client.proxy import (
    Proxy,
    connect_request,
    parse_proxy_url,
    proxy_from_environment,
    select_proxy,
)
from ws4py.client.threadedclient import WebSocketClient
from ws4py.exc import HandshakeError
from ws4py.manager import WebSocketManager
from ws4py.messaging import Message
from ws4py.server.wsgirefserver import WSGIServer, make_server
from ws4py.websocket import EchoWebSocket

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"
WAIT = 10.0
PROXY_ENV = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def clean_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy from the machine's environment: each test sets its own."""
    for name in PROXY_ENV:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


# ---------------------------------------------------------------------------
# Real proxies: tinyproxy and microsocks
# ---------------------------------------------------------------------------


def find_binary(name: str) -> str:
    path = shutil.which(name)
    for candidate in (f"/usr/bin/{name}", f"/usr/sbin/{name}"):
        if path is None and os.access(candidate, os.X_OK):
            path = candidate
    if path is None:
        pytest.fail(
            f"{name} is not installed: run scripts/install-proxies.sh "
            f"(it installs Debian's {name} package)",
            pytrace=False,
        )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class ProxyProcess:
    """A proxy running in the foreground; killed by PID in :meth:`stop`."""

    def __init__(self, name: str, argv: list[str], port: int, log_path: Path) -> None:
        self.name = name
        self.port = port
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + WAIT
        while True:
            if self.proc.poll() is not None:
                self.stop()
                pytest.fail(f"{name} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                socket.create_connection((HOST, port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"{name} is not listening on {port}:\n{self.log()}")
                time.sleep(0.05)

    def url(self, scheme: str, user: str | None = None, password: str | None = None) -> str:
        auth = f"{user}:{password}@" if user is not None else ""
        return f"{scheme}://{auth}{HOST}:{self.port}"

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


@pytest.fixture
def processes() -> Iterator[list[ProxyProcess]]:
    started: list[ProxyProcess] = []
    yield started
    for process in started:
        process.stop()


@pytest.fixture
def start_tinyproxy(
    tmp_path: Path, processes: list[ProxyProcess]
) -> Callable[..., ProxyProcess]:
    binary = find_binary("tinyproxy")

    def start(connect_ports: list[int], auth: tuple[str, str] | None = None) -> ProxyProcess:
        port = free_port()
        lines = [
            f"Port {port}",
            f"Listen {HOST}",
            f"Allow {HOST}",
            "Timeout 30",
            "MaxClients 50",
            "LogLevel Connect",
            # tinyproxy allows CONNECT to these ports only (none listed: all ports).
            *(f"ConnectPort {p}" for p in connect_ports),
        ]
        if auth is not None:
            lines.append(f"BasicAuth {auth[0]} {auth[1]}")
        config = tmp_path / f"tinyproxy-{port}.conf"
        config.write_text("\n".join(lines) + "\n")
        process = ProxyProcess(
            "tinyproxy", [binary, "-d", "-c", str(config)], port, tmp_path / f"tinyproxy-{port}.log"
        )
        processes.append(process)
        return process

    return start


@pytest.fixture
def start_microsocks(
    tmp_path: Path, processes: list[ProxyProcess]
) -> Callable[..., ProxyProcess]:
    binary = find_binary("microsocks")

    def start(auth: tuple[str, str] | None = None) -> ProxyProcess:
        port = free_port()
        argv = [binary, "-i", HOST, "-p", str(port)]
        if auth is not None:
            argv += ["-u", auth[0], "-P", auth[1]]
        process = ProxyProcess("microsocks", argv, port, tmp_path / f"microsocks-{port}.log")
        processes.append(process)
        return process

    return start


def relay(a: socket.socket, b: socket.socket, stop: threading.Event) -> None:
    """Pass bytes both ways between two blocking sockets (TLS or not), in one thread."""
    for sock in (a, b):
        sock.settimeout(0.2)
    try:
        while not stop.is_set():
            ready = [s for s in (a, b) if isinstance(s, ssl.SSLSocket) and s.pending()]
            if not ready:
                ready, _, _ = select.select([a, b], [], [], 0.2)
            for source in ready:
                other = b if source is a else a
                try:
                    data = source.recv(65536)
                except (TimeoutError, ssl.SSLWantReadError):
                    continue
                if not data:
                    return
                other.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (a, b):
            with contextlib.suppress(OSError):
                sock.close()


class TLSFront:
    """A TLS listener passing everything to a TCP port (an https:// proxy before tinyproxy)."""

    def __init__(self, context: ssl.SSLContext, target_port: int) -> None:
        self.context = context
        self.target_port = target_port
        self.listener = socket.create_server((HOST, 0))
        self.listener.settimeout(0.05)  # accept() wakes up to see stop_event
        self.port = int(self.listener.getsockname()[1])
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.accepted = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop_event.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(WAIT)
            tls = self.context.wrap_socket(conn, server_side=True)
            upstream = socket.create_connection((HOST, self.target_port), timeout=WAIT)
        except OSError:
            conn.close()
            return
        relay(tls, upstream, self.stop_event)

    def url(self, user: str | None = None, password: str | None = None) -> str:
        auth = f"{user}:{password}@" if user is not None else ""
        return f"https://{auth}{HOST}:{self.port}"

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(WAIT)
        self.listener.close()
        for thread in self.threads:
            thread.join(WAIT)


@pytest.fixture
def start_tls_front(ca: trustme.CA) -> Iterator[Callable[[int], TLSFront]]:
    fronts: list[TLSFront] = []

    def start(target_port: int) -> TLSFront:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(HOST, "proxy.test").configure_cert(context)
        front = TLSFront(context, target_port)
        fronts.append(front)
        return front

    yield start
    for front in fronts:
        front.stop()


# ---------------------------------------------------------------------------
# Origin servers
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


class EchoServer:
    """ws4py's echo server in a thread."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.server: WSGIServer = make_server(HOST, 0, EchoWebSocket, ssl_context=context)
        self.port = int(self.server.server_address[1])
        self.scheme = "wss" if context else "ws"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def url(self, host: str = HOST, path: str = "/echo") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT)


@pytest.fixture
def start_echo(ca: trustme.CA) -> Iterator[Callable[..., EchoServer]]:
    servers: list[EchoServer] = []

    def start(tls: bool = False, names: tuple[str, ...] = (HOST, "localhost")) -> EchoServer:
        context = None
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ca.issue_cert(*names).configure_cert(context)
        server = EchoServer(context)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


# ---------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------


class Client(WebSocketClient):
    def __init__(self, url: str, **kwargs: Any) -> None:
        self.messages: queue.Queue[Message] = queue.Queue()
        self.done = threading.Event()
        self.close_codes: list[int] = []
        super().__init__(url, **kwargs)

    def received_message(self, message: Message) -> None:
        self.messages.put(message)

    def closed(self, code: int, reason: str | None = None) -> None:
        self.close_codes.append(code)
        self.done.set()


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


def exchange(client: Client) -> None:
    """Text and a 300 kB binary message there and back, then a normal close."""
    client.send("hello through")
    assert str(client.messages.get(timeout=WAIT)) == "hello through"
    payload = os.urandom(300_000)
    client.send(payload, True)
    assert bytes(client.messages.get(timeout=WAIT).data) == payload
    client.close()
    assert client.done.wait(WAIT)
    assert client.close_codes == [1000]


def peer_port(client: WebSocketBaseClient) -> int:
    return int(client.peer_address[1])


def run(coroutine: Any) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coroutine, 30)

    return asyncio.run(bounded())


async def async_exchange(url: str, **kwargs: Any) -> tuple[int, str]:
    """Connect with the asyncio client, echo twice, close; the peer's port and final URL."""
    ws = await aconnect(url, AsyncWebSocket, **kwargs)
    try:
        await ws.send("hello async")
        message = await asyncio.wait_for(ws.receive(), WAIT)
        assert message is not None and str(message) == "hello async"
        payload = os.urandom(200_000)
        await ws.send(payload, True)
        message = await asyncio.wait_for(ws.receive(), WAIT)
        assert message is not None and bytes(message.data) == payload
        return int(ws.peer_address[1]), ws.__dict__["final_url"]
    finally:
        await ws.close()


# ---------------------------------------------------------------------------
# Proxy URLs and the environment (no network)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://proxy.test:3128", Proxy("http", "proxy.test", 3128)),
        ("http://proxy.test", Proxy("http", "proxy.test", 80)),
        ("https://proxy.test/", Proxy("https", "proxy.test", 443)),
        ("proxy.test:8080", Proxy("http", "proxy.test", 8080)),
        ("HTTP://u%40x:p%3Ass@proxy.test:1", Proxy("http", "proxy.test", 1, "u@x", "p:ss")),
        ("socks5://10.0.0.1", Proxy("socks5", "10.0.0.1", 1080)),
        ("socks5h://u:p@[::1]:9050", Proxy("socks5h", "::1", 9050, "u", "p")),
        ("socks4a://proxy.test:1081", Proxy("socks4a", "proxy.test", 1081)),
    ],
)
def test_parse_proxy_url(url: str, expected: Proxy) -> None:
    assert parse_proxy_url(url) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://proxy.test:21", "unsupported scheme 'ftp'"),
        ("http://:3128", "no host"),
        ("http://proxy.test:99999", "invalid port"),
        ("http://proxy.test:0", "port 0"),
        ("http://proxy.test:3128/path", "no path"),
        ("", "empty"),
    ],
)
def test_bad_proxy_urls(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match="invalid proxy URL") as info:
        parse_proxy_url(url)
    assert problem in str(info.value)


def test_bad_proxy_url_hides_the_password() -> None:
    with pytest.raises(ValueError) as info:
        parse_proxy_url("gopher://user:secret@proxy.test:70")
    assert "secret" not in str(info.value)
    assert "user:***@" in str(info.value)
    assert "secret" not in repr(parse_proxy_url("http://user:secret@proxy.test"))


def test_connect_request_with_credentials() -> None:
    proxy = parse_proxy_url("http://us%20er:p%40ss@proxy.test:3128")
    request = connect_request(proxy, "::1", 8443)
    assert request.startswith(b"CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n")
    # base64("us er:p@ss")
    assert b"Proxy-Authorization: Basic dXMgZXI6cEBzcw==\r\n" in request
    assert request.endswith(b"\r\n\r\n")
    assert b"Proxy-Authorization" not in connect_request(
        parse_proxy_url("http://proxy.test"), "h", 1
    )


def test_connect_request_refuses_a_host_that_would_inject_lines() -> None:
    proxy = parse_proxy_url("http://proxy.test:3128")
    for host in ("evil.test\r\nX-Injected: 1", "evil.test\n", "a b"):
        with pytest.raises(ValueError):
            connect_request(proxy, host, 443)


def test_connect_request_sends_a_non_ascii_host_in_its_idna_form() -> None:
    request = connect_request(parse_proxy_url("http://proxy.test"), "bücher.example", 443)
    assert request.startswith(
        b"CONNECT xn--bcher-kva.example:443 HTTP/1.1\r\nHost: xn--bcher-kva.example:443\r\n"
    )


def test_proxy_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert proxy_from_environment(False, "example.com", 80) is None
    monkeypatch.setenv("HTTP_PROXY", "http://plain.test:1")
    monkeypatch.setenv("HTTPS_PROXY", "http://secure.test:2")
    assert proxy_from_environment(False, "example.com", 80) == "http://plain.test:1"
    assert proxy_from_environment(True, "example.com", 443) == "http://secure.test:2"
    monkeypatch.delenv("HTTPS_PROXY")
    assert proxy_from_environment(True, "example.com", 443) is None
    monkeypatch.setenv("ALL_PROXY", "socks5://all.test:3")
    assert proxy_from_environment(True, "example.com", 443) == "socks5://all.test:3"
    assert proxy_from_environment(False, "example.com", 80) == "http://plain.test:1"
    # lower-case names win, as in urllib
    monkeypatch.setenv("http_proxy", "http://lower.test:4")
    assert proxy_from_environment(False, "example.com", 80) == "http://lower.test:4"


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "bypassed"),
    [
        ("*", "anything.test", 80, True),
        ("example.com", "example.com", 80, True),
        ("example.com", "www.example.com", 80, True),
        (".example.com", "www.example.com", 80, True),
        ("example.com", "notexample.com", 80, False),
        ("localhost, 127.0.0.1", "127.0.0.1", 9000, True),
        ("127.0.0.1:9000", "127.0.0.1", 9000, True),
        ("127.0.0.1:9000", "127.0.0.1", 9001, False),
        ("::1", "::1", 443, True),
        ("other.test", "example.com", 80, False),
    ],
)
def test_no_proxy(
    monkeypatch: pytest.MonkeyPatch, no_proxy: str, host: str, port: int, bypassed: bool
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    assert (proxy_from_environment(False, host, port) is None) is bypassed


def test_select_proxy_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://env.test:1")
    monkeypatch.setenv("NO_PROXY", "example.com")
    assert select_proxy(None, False, "other.test", 80) == Proxy("http", "env.test", 1)
    assert select_proxy(True, False, "other.test", 80) == Proxy("http", "env.test", 1)
    assert select_proxy(None, False, "example.com", 80) is None
    assert select_proxy(False, False, "other.test", 80) is None
    assert select_proxy("", False, "other.test", 80) is None
    # an explicit proxy is used whatever NO_PROXY says
    assert select_proxy("socks5://s.test", False, "example.com", 80) == Proxy(
        "socks5", "s.test", 1080
    )


def test_bad_proxy_from_the_environment_is_a_clear_value_error(
    monkeypatch: pytest.MonkeyPatch, start_echo: Callable[..., EchoServer]
) -> None:
    server = start_echo()
    monkeypatch.setenv("HTTP_PROXY", "ftp://proxy.test:21")
    client = WebSocketClient(server.url())
    with pytest.raises(ValueError, match="unsupported scheme 'ftp'"):
        client.connect()
    client.close_connection()


# ---------------------------------------------------------------------------
# HTTP CONNECT through tinyproxy
# ---------------------------------------------------------------------------


def test_ws_through_http_proxy(
    start_echo: Callable[..., EchoServer],
    start_tinyproxy: Callable[..., ProxyProcess],
    make_client: Callable[..., Client],
) -> None:
    server = start_echo()
    proxy = start_tinyproxy([server.port])
    client = make_client(server.url(), proxy=proxy.url("http"))
    client.connect()
    assert peer_port(client) == proxy.port
    assert client.proxy_used == Proxy("http", HOST, proxy.port)
    exchange(client)
    assert f"CONNECT {HOST}:{server.port}" in proxy.log()


def test_ws_through_http_proxy_with_basic_auth(
    start_echo: Callable[..., EchoServer],
    start_tinyproxy: Callable[..., ProxyProcess],
    make_client: Callable[..., Client],
) -> None:
    server = start_echo()
    proxy = start_tinyproxy([server.port], auth=("ws4py", "s3cret"))
    client = make_client(server.url(), proxy=proxy.url("http", "ws4py", "s3cret"))
    client.connect()
    assert peer_port(client) == proxy.port
    exchange(client)


@pytest.mark.parametrize(
    ("credentials", "status", "reason", "hint"),
    [
        (None, 407, "Proxy Authentication Required", "it wants credentials"),
        # tinyproxy answers 401 (with WWW-Authenticate) to wrong credentials
        (("ws4py", "wrong"), 401, "Unauthorized", "credentials rejected"),
    ],
    ids=["none", "wrong"],
)
def test_proxy_authentication_refused(
    start_echo: Callable[..., EchoServer],
    start_tinyproxy: Callable[..., ProxyProcess],
    credentials: tuple[str, str] | None,
    status: int,
    reason: str,
    hint: str,
) -> None:
    server = start_echo()
    proxy = start_tinyproxy([server.port], auth=("ws4py", "s3cret"))
    url = proxy.url("http", *credentials) if credentials else proxy.url("http")
    client = WebSocketClient(server.url(), proxy=url)
    with pytest.raises(HandshakeError) as info:
        client.connect()
    assert info.value.status == status
    assert f"proxy refused CONNECT: {status} {reason} ({hint}" in str(info.value)
    assert "wrong" not in str(info.value)  # the password is never shown
    client.close_connection()


def test_proxy_refusing_the_port(
    start_echo: Callable[..., EchoServer], start_tinyproxy: Callable[..., ProxyProcess]
) -> None:
    server = start_echo()
    proxy = start_tinyproxy([server.port + 1 if server.port < 65535 else server.port - 1])
    client = WebSocketClient(server.url(), proxy=proxy.url("http"))
    with pytest.raises(HandshakeError, match="proxy refused CONNECT: 403") as info:
        client.connect()
    assert info.value.status == 403
    client.close_connection()


def test_unreachable_proxy_is_an_os_error_naming_it() -> None:
    port = free_port()
    client = WebSocketClient("ws://127.0.0.1:9/", proxy=f"http://u:pw@{HOST}:{port}")
    with pytest.raises(ConnectionRefusedError) as info:
        client.connect()
    assert f"cannot connect to proxy http://u:***@{HOST}:{port}" in str(info.value)
    client.close_connection()


def test_wss_through_http_proxy_verifies_the_origin(
    ca: trustme.CA,
    start_echo: Callable[..., EchoServer],
    start_tinyproxy: Callable[..., ProxyProcess],
    make_client: Callable[..., Client],
) -> None:
    good = start_echo(tls=True, names=("localhost",))
    wrong = start_echo(tls=True, names=("wrong.example",))
    proxy = start_tinyproxy([good.port, wrong.port])
    client = make_client(
        good.url("localhost"), proxy=proxy.url("http"), ssl_options=client_context(ca)
    )
    client.connect()
    assert peer_port(client) == proxy.port
    assert client.sock is not None
    cert = client.sock.getpeercert()  # type: ignore[attr-defined]
    assert ("DNS", "localhost") in cert["subjectAltName"]
    exchange(client)
    # A certificate for another name fails, through the proxy as directly.
    bad = WebSocketClient(
        wrong.url("localhost"), proxy=proxy.url("http"), ssl_options=client_context(ca)
    )
    with pytest.raises(ssl.SSLCertVerificationError, match="localhost"):
        bad.connect()
    bad.close_connection()
    assert f"CONNECT localhost:{wrong.port}" in proxy.log()


def test_wss_through_http_proxy_untrusted_origin(
    start_echo: Callable[..., EchoServer], start_tinyproxy: Callable[..., ProxyProcess]
) -> None:
    server = start_echo(tls=True)
    proxy = start_tinyproxy([server.port])
    client = WebSocketClient(server.url(), proxy=proxy.url("http"))  # system CAs only
    with pytest.raises(ssl.SSLCertVerificationError):
        client.connect()
    client.close_connection()


def test_asyncio_through_http_proxy(
    ca: trustme.CA,
    start_echo: Callable[..., EchoServer],
    start_tinyproxy: Callable[..., ProxyProcess],
) -> None:
    plain = start_echo()
    secure = start_echo(tls=True, names=("localhost",))
    wrong = start_echo(tls=True, names=("wrong.example",))
    proxy = start_tinyproxy([plain.port, secure.port, wrong.port], auth=("ws4py", "s3cret"))
    url = proxy.url("http", "ws4py", "s3cret")
    assert run(async_exchange(plain.url(), proxy=url))[0] == proxy.port
    context = client_context(ca)
    assert run(async_exchange(secure.url("localhost"), proxy=url, ssl_context=context))[0] == (
        proxy.port
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        run(async_exchange(wrong.url("localhost"), proxy=url, ssl_context=context))
    with pytest.raises(HandshakeError, match="407 Proxy Authentication Required") as info:
        run(async_exchange(plain.url(), proxy=proxy.url("http")))
    assert info.value.status == 407


# ---------------------------------------------------------------------------
# https:// proxies: TLS to the proxy, then TLS to the origin inside the tunnel
# ---------------------------------------------------------------------------


def test_ws_through_https_proxy(
    ca: trustme.CA,
    start_echo: Callable[..., EchoServer],
    start_tinyproxy: Callable[..., ProxyProcess],
    start_tls_front: Callable[[int], TLSFront],
    make_client: Callable[..., Client],
) -> None:
    server = start_echo()
    front = start_tls_front(start_tinyproxy([server.port], auth=("ws4py", "s3cret")).port)
    client = make_client(
        server.url(),
        proxy=front.url("ws4py", "s3cret"),
        proxy_ssl_options=client_context(ca),
    )
    client.connect()
    assert peer_port(client) == front.port
    assert isinstance(client.sock, ssl.SSLSocket)  # TLS with the proxy only
    exchange(client)


def test_wss_through_https_proxy_is_tls_in_tls(
    ca: trustme.CA,
    start_echo: Callable[..., EchoServer],
    start_tinyproxy: Callable[..., ProxyProcess],
    start_tls_front: Callable[[int], TLSFront],
    make_client: Callable[..., Client],
) -> None:
    server = start_echo(tls=True, names=("localhost",))
    wrong = start_echo(tls=True, names=("wrong.example",))
    front = start_tls_front(start_tinyproxy([server.port, wrong.port]).port)
    client = make_client(
        server.url("localhost"),
        proxy=front.url(),
        proxy_ssl_options=client_context(ca),
        ssl_options=client_context(ca),
    )
    client.connect()
    assert peer_port(client) == front.port
    sock: Any = client.sock
    assert type(sock).__name__ == "TLSInTLSSocket"
    # The inner session is with the origin: its certificate, for its name.
    assert ("DNS", "localhost") in sock.getpeercert()["subjectAltName"]
    assert sock.version() is not None
    exchange(client)
    bad = WebSocketClient(
        wrong.url("localhost"),
        proxy=front.url(),
        proxy_ssl_options=client_context(ca),
        ssl_options=client_context(ca),
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        bad.connect()
    bad.close_connection()


def test_https_proxy_certificate_is_verified(
    start_echo: Callable[..., EchoServer],
    start_tinyproxy: Callable[..., ProxyProcess],
    start_tls_front: Callable[[int], TLSFront],
) -> None:
    server = start_echo()
    front = start_tls_front(start_tinyproxy([server.port]).port)
    client = WebSocketClient(server.url(), proxy=front.url())  # the proxy's CA is not trusted
    with pytest.raises(ssl.SSLCertVerificationError):
        client.connect()
    client.close_connection()


def test_asyncio_through_https_proxy(
    ca: trustme.CA,
    start_echo: Callable[..., EchoServer],
    start_tinyproxy: Callable[..., ProxyProcess],
    start_tls_front: Callable[[int], TLSFront],
) -> None:
    plain = start_echo()
    secure = start_echo(tls=True, names=("localhost",))
    front = start_tls_front(start_tinyproxy([plain.port, secure.port]).port)
    options = {"proxy": front.url(), "proxy_ssl_context": client_context(ca)}
    assert run(async_exchange(plain.url(), **options))[0] == front.port
    wss = async_exchange(secure.url("localhost"), ssl_context=client_context(ca), **options)
    if sys.version_info >= (3, 11):
        # loop.start_tls over the proxy's TLS transport
        assert run(wss)[0] == front.port
    else:
        with pytest.raises(NotImplementedError, match=r"Python 3\.11"):
            run(wss)


# ---------------------------------------------------------------------------
# SOCKS through microsocks
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
def test_ws_and_wss_through_socks5(
    ca: trustme.CA,
    scheme: str,
    start_echo: Callable[..., EchoServer],
    start_microsocks: Callable[..., ProxyProcess],
    make_client: Callable[..., Client],
) -> None:
    plain = start_echo()
    secure = start_echo(tls=True, names=("localhost",))
    proxy = start_microsocks()
    client = make_client(plain.url(), proxy=proxy.url(scheme))
    client.connect()
    assert peer_port(client) == proxy.port
    exchange(client)
    # socks5h: microsocks resolves "localhost"; socks5: we do.
    client = make_client(
        secure.url("localhost"), proxy=proxy.url(scheme), ssl_options=client_context(ca)
    )
    client.connect()
    assert peer_port(client) == proxy.port
    exchange(client)


def test_socks5_with_authentication(
    start_echo: Callable[..., EchoServer],
    start_microsocks: Callable[..., ProxyProcess],
    make_client: Callable[..., Client],
) -> None:
    server = start_echo()
    proxy = start_microsocks(auth=("ws4py", "s3cret"))
    client = make_client(server.url(), proxy=proxy.url("socks5", "ws4py", "s3cret"))
    client.connect()
    assert peer_port(client) == proxy.port
    exchange(client)
    for url in (proxy.url("socks5", "ws4py", "wrong"), proxy.url("socks5")):
        refused = WebSocketClient(server.url(), proxy=url)
        with pytest.raises(HandshakeError, match=r"socks5 proxy .* refused") as info:
            refused.connect()
        assert "wrong" not in str(info.value)
        assert info.value.status == 407
        refused.close_connection()


def test_asyncio_through_socks5(
    ca: trustme.CA,
    start_echo: Callable[..., EchoServer],
    start_microsocks: Callable[..., ProxyProcess],
) -> None:
    plain = start_echo()
    secure = start_echo(tls=True, names=("localhost",))
    proxy = start_microsocks(auth=("ws4py", "s3cret"))
    url = proxy.url("socks5h", "ws4py", "s3cret")
    assert run(async_exchange(plain.url(), proxy=url))[0] == proxy.port
    assert run(
        async_exchange(secure.url("localhost"), proxy=url, ssl_context=client_context(ca))
    )[0] == proxy.port
    with pytest.raises(HandshakeError, match="refused"):
        run(async_exchange(plain.url(), proxy=proxy.url("socks5", "ws4py", "bad")))


# ---------------------------------------------------------------------------
# The environment picks the proxy
# ---------------------------------------------------------------------------


def test_environment_selects_the_proxy(
    monkeypatch: pytest.MonkeyPatch,
    ca: trustme.CA,
    start_echo: Callable[..., EchoServer],
    start_tinyproxy: Callable[..., ProxyProcess],
    start_microsocks: Callable[..., ProxyProcess],
    make_client: Callable[..., Client],
) -> None:
    plain = start_echo()
    secure = start_echo(tls=True, names=("localhost",))
    http_proxy = start_tinyproxy([plain.port, secure.port])
    socks = start_microsocks()
    dead = f"http://{HOST}:{free_port()}"  # nothing listens there

    # ws:// uses HTTP_PROXY, not HTTPS_PROXY
    monkeypatch.setenv("HTTP_PROXY", http_proxy.url("http"))
    monkeypatch.setenv("HTTPS_PROXY", dead)
    client = make_client(plain.url())
    client.connect()
    assert peer_port(client) == http_proxy.port
    exchange(client)

    # wss:// uses HTTPS_PROXY, not HTTP_PROXY (lower-case names work too)
    monkeypatch.setenv("HTTP_PROXY", dead)
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.setenv("https_proxy", http_proxy.url("http"))
    client = make_client(secure.url("localhost"), ssl_options=client_context(ca))
    client.connect()
    assert peer_port(client) == http_proxy.port
    exchange(client)

    # ALL_PROXY when the scheme's own is unset
    monkeypatch.delenv("https_proxy")
    monkeypatch.setenv("ALL_PROXY", socks.url("socks5"))
    client = make_client(secure.url("localhost"), ssl_options=client_context(ca))
    client.connect()
    assert peer_port(client) == socks.port
    exchange(client)

    # NO_PROXY exempts the host: direct connection (the dead proxy is not tried)
    monkeypatch.setenv("NO_PROXY", f"example.com, {HOST}")
    client = make_client(plain.url())
    client.connect()
    assert peer_port(client) == plain.port
    assert client.proxy_used is None
    exchange(client)

    # proxy=False ignores the environment; asyncio reads it the same way
    monkeypatch.delenv("NO_PROXY")
    client = make_client(plain.url(), proxy=False)
    client.connect()
    assert peer_port(client) == plain.port
    exchange(client)
    monkeypatch.setenv("HTTP_PROXY", http_proxy.url("http"))
    assert run(async_exchange(plain.url()))[0] == http_proxy.port
    assert run(async_exchange(plain.url(), proxy=False))[0] == plain.port


# ---------------------------------------------------------------------------
# Redirects
# ---------------------------------------------------------------------------


class RedirectServer:
    """Answers every request with ``respond(number, head)`` and closes the connection."""

    def __init__(
        self,
        respond: Callable[[int, bytes], bytes],
        context: ssl.SSLContext | None = None,
    ) -> None:
        self.respond = respond
        self.context = context
        self.requests: list[bytes] = []
        self.listener = socket.create_server((HOST, 0))
        self.listener.settimeout(0.05)  # accept() wakes up to see the stop flag
        self.stopping = threading.Event()
        self.port = int(self.listener.getsockname()[1])
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def url(self, path: str = "/") -> str:
        return f"{'wss' if self.context else 'ws'}://{HOST}:{self.port}{path}"

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                conn.settimeout(WAIT)
                if self.context is not None:
                    conn = self.context.wrap_socket(conn, server_side=True)
                head = b""
                while b"\r\n\r\n" not in head:
                    data = conn.recv(4096)
                    if not data:
                        break
                    head += data
                self.requests.append(head)
                conn.sendall(self.respond(len(self.requests), head))
            except OSError:
                pass
            finally:
                conn.close()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(WAIT)
        self.listener.close()


@pytest.fixture
def start_redirector() -> Iterator[Callable[..., RedirectServer]]:
    servers: list[RedirectServer] = []

    def start(
        respond: Callable[[int, bytes], bytes], context: ssl.SSLContext | None = None
    ) -> RedirectServer:
        server = RedirectServer(respond, context)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def redirect(status: int, location: str) -> bytes:
    body = b"moved"
    return (
        f"HTTP/1.1 {status} Moved\r\nLocation: {location}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_statuses(
    status: int,
    start_echo: Callable[..., EchoServer],
    start_redirector: Callable[..., RedirectServer],
    make_client: Callable[..., Client],
) -> None:
    server = start_echo()
    target = server.url(path="/moved?here=1")
    redirector = start_redirector(lambda n, head: redirect(status, target))
    client = make_client(redirector.url("/old"))
    client.connect()
    assert client.final_url == target
    assert client.url == redirector.url("/old")
    assert peer_port(client) == server.port
    exchange(client)
    assert len(redirector.requests) == 1


def test_relative_location_and_new_connection_per_hop(
    start_echo: Callable[..., EchoServer],
    start_redirector: Callable[..., RedirectServer],
    make_client: Callable[..., Client],
) -> None:
    server = start_echo()

    def respond(number: int, head: bytes) -> bytes:
        if head.startswith(b"GET /start "):
            return redirect(302, "next/hop?x=1")  # relative to /start
        return redirect(307, server.url())

    redirector = start_redirector(respond)
    client = make_client(redirector.url("/start"))
    client.connect()
    assert [r.split(b"\r\n")[0] for r in redirector.requests] == [
        b"GET /start HTTP/1.1",
        b"GET /next/hop?x=1 HTTP/1.1",
    ]
    assert client.final_url == server.url()
    exchange(client)
    # connect() again starts from the original URL
    client.connect()
    assert len(redirector.requests) == 4
    assert client.final_url == server.url()
    client.close()
    assert client.join(WAIT)


def test_too_many_redirects(
    start_redirector: Callable[..., RedirectServer], make_client: Callable[..., Client]
) -> None:
    redirector = start_redirector(lambda n, head: redirect(302, f"/loop{n}"))
    client = WebSocketClient(redirector.url(), max_redirects=3)
    with pytest.raises(HandshakeError, match=r"too many redirects: more than 3") as info:
        client.connect()
    assert info.value.status == 302
    assert len(redirector.requests) == 4  # the first request and 3 redirects
    client.close_connection()
    # max_redirects=0: a redirect is just a failed handshake
    client = WebSocketClient(redirector.url(), max_redirects=0)
    with pytest.raises(HandshakeError, match="302") as info:
        client.connect()
    assert info.value.status == 302
    client.close_connection()


def test_redirect_from_wss_to_ws_is_refused(
    ca: trustme.CA,
    start_echo: Callable[..., EchoServer],
    start_redirector: Callable[..., RedirectServer],
) -> None:
    server = start_echo()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(HOST).configure_cert(context)
    redirector = start_redirector(lambda n, head: redirect(301, server.url()), context)
    client = WebSocketClient(redirector.url(), ssl_options=client_context(ca))
    with pytest.raises(HandshakeError, match=r"wss:// to ws://") as info:
        client.connect()
    assert info.value.status == 301
    client.close_connection()
    with pytest.raises(HandshakeError, match=r"wss:// to ws://"):
        run(async_exchange(redirector.url(), ssl_context=client_context(ca)))


def test_redirect_from_ws_to_wss_and_credentials_stay_home(
    ca: trustme.CA,
    start_echo: Callable[..., EchoServer],
    start_redirector: Callable[..., RedirectServer],
    make_client: Callable[..., Client],
) -> None:
    secure = start_echo(tls=True)
    second = start_redirector(lambda n, head: redirect(308, secure.url().replace("wss", "https")))
    first = start_redirector(lambda n, head: redirect(301, second.url("/b")))
    client = make_client(
        first.url("/a"),
        ssl_options=client_context(ca),
        headers=[("Authorization", "Bearer token"), ("X-Trace", "1")],
    )
    client.connect()
    assert client.final_url == secure.url()  # https:// was taken as wss://
    assert b"Authorization: Bearer token" in first.requests[0]
    assert b"Authorization" not in second.requests[0]  # another origin
    assert b"X-Trace: 1" in second.requests[0]
    exchange(client)


def test_redirects_through_a_proxy(
    start_echo: Callable[..., EchoServer],
    start_redirector: Callable[..., RedirectServer],
    start_tinyproxy: Callable[..., ProxyProcess],
    make_client: Callable[..., Client],
) -> None:
    server = start_echo()
    redirector = start_redirector(lambda n, head: redirect(302, server.url()))
    proxy = start_tinyproxy([server.port, redirector.port])
    client = make_client(redirector.url(), proxy=proxy.url("http"))
    client.connect()
    assert peer_port(client) == proxy.port
    exchange(client)
    log = proxy.log()
    assert f"CONNECT {HOST}:{redirector.port}" in log
    assert f"CONNECT {HOST}:{server.port}" in log


def test_asyncio_redirects(
    start_echo: Callable[..., EchoServer], start_redirector: Callable[..., RedirectServer]
) -> None:
    server = start_echo()
    redirector = start_redirector(
        lambda n, head: redirect(307, "/again") if n == 1 else redirect(301, server.url())
    )
    port, final_url = run(async_exchange(redirector.url()))
    assert port == server.port
    assert final_url == server.url()
    assert len(redirector.requests) == 2
    looping = start_redirector(lambda n, head: redirect(302, "/"))
    with pytest.raises(HandshakeError, match="too many redirects: more than 2"):
        run(async_exchange(looping.url(), max_redirects=2))
    assert len(looping.requests) == 3


def test_tls_in_tls_under_a_manager(
    ca: trustme.CA,
    start_echo: Callable[..., EchoServer],
    start_tinyproxy: Callable[..., ProxyProcess],
    start_tls_front: Callable[[int], TLSFront],
) -> None:
    """Non-blocking mode: a WebSocketManager drives the TLS-in-TLS socket."""
    server = start_echo(tls=True, names=("localhost",))
    front = start_tls_front(start_tinyproxy([server.port]).port)
    manager = WebSocketManager()
    manager.start()
    received: queue.Queue[bytes] = queue.Queue()
    done = threading.Event()

    class Managed(WebSocketBaseClient):
        def handshake_ok(self) -> None:
            manager.add(self)

        def received_message(self, message: Message) -> None:
            received.put(bytes(message.data))

        def closed(self, code: int, reason: str | None = None) -> None:
            done.set()

    client = Managed(
        server.url("localhost"),
        proxy=front.url(),
        proxy_ssl_options=client_context(ca),
        ssl_options=client_context(ca),
        extensions=[],
    )
    try:
        client.connect()
        payloads = [os.urandom(4_000_000), b"small", os.urandom(70_000)]
        for payload in payloads:
            client.send(payload, True)
        for payload in payloads:
            assert received.get(timeout=WAIT) == payload
        client.close()
        assert done.wait(WAIT)
    finally:
        manager.close_all()
        manager.stop()
        manager.join(WAIT)


class MemoryOuter:
    """Stands for the TLS socket to the proxy: bytes go to an in-memory TLS server.

    ``capacity`` limits what ``send`` takes (None: no limit), to reproduce a
    non-blocking socket whose buffer is full.
    """

    family = socket.AF_INET
    type = socket.SOCK_STREAM
    proto = 0

    def __init__(self, context: ssl.SSLContext) -> None:
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.server = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.timeout: float | None = None
        self.capacity: int | None = None
        self.received = b""
        self.handshake_done = False

    def gettimeout(self) -> float | None:
        return self.timeout

    def setblocking(self, flag: bool) -> None:
        self.timeout = None if flag else 0.0

    def pending(self) -> int:
        return 0

    def _pump(self) -> None:
        try:
            if not self.handshake_done:
                self.server.do_handshake()
                self.handshake_done = True
            while True:
                self.received += self.server.read(65536)
        except ssl.SSLWantReadError:
            pass

    def send(self, data: Any) -> int:
        data = bytes(data)
        size = len(data) if self.capacity is None else min(self.capacity, len(data))
        if not size:
            raise BlockingIOError("full")
        if self.capacity is not None:
            self.capacity -= size
        self.incoming.write(data[:size])
        self._pump()
        return size

    def sendall(self, data: Any) -> None:
        assert self.timeout != 0.0
        self.incoming.write(bytes(data))
        self._pump()

    def recv(self, size: int) -> bytes:
        self._pump()
        data = self.outgoing.read(size)
        if not data:
            raise BlockingIOError("nothing") if self.timeout == 0.0 else TimeoutError("nothing")
        return data


def test_tls_in_tls_socket_non_blocking_writes(ca: trustme.CA) -> None:
    from ws4py.client.proxy import TLSInTLSSocket

    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("origin.test").configure_cert(server_context)
    outer = MemoryOuter(server_context)
    sock = TLSInTLSSocket(outer, client_context(ca), "origin.test")  # type: ignore[arg-type]
    sock.do_handshake()
    assert ("DNS", "origin.test") in sock.getpeercert()["subjectAltName"]
    sock.setblocking(False)
    outer.capacity = 100
    # The socket takes 100 bytes of ciphertext: all but the last byte is
    # accepted, so the caller comes back with it later.
    assert sock.send(b"a" * 50_000) == 49_999
    outer.capacity = 0
    with pytest.raises(BlockingIOError):
        sock.send(b"a")
    outer.capacity = None
    assert sock.send(b"a") == 1
    assert outer.received == b"a" * 50_000
    # Reading: nothing there is the non-blocking socket's error; data comes whole.
    with pytest.raises(BlockingIOError):
        sock.recv(1024)
    outer.server.write(b"from the origin" * 1000)
    data = b""
    while len(data) < 15_000:
        data += sock.recv(65536)
    assert data == b"from the origin" * 1000
    # Blocking mode: everything at once.
    sock.setblocking(True)
    sock.sendall(b"b" * 100_000)
    assert outer.received.endswith(b"b" * 100_000)


def test_tls_in_tls_full_duplex(
    ca: trustme.CA,
    start_echo: Callable[..., EchoServer],
    start_tinyproxy: Callable[..., ProxyProcess],
    start_tls_front: Callable[[int], TLSFront],
    make_client: Callable[..., Client],
) -> None:
    """Echoes come back while we are still sending: reading never waits for the writer."""
    server = start_echo(tls=True, names=("localhost",))
    front = start_tls_front(start_tinyproxy([server.port]).port)
    client = make_client(
        server.url("localhost"),
        proxy=front.url(),
        proxy_ssl_options=client_context(ca),
        ssl_options=client_context(ca),
        extensions=[],
    )
    client.connect()
    payloads = [os.urandom(3_000_000) for _ in range(4)]
    for payload in payloads:
        client.send(payload, True)
    for payload in payloads:
        assert bytes(client.messages.get(timeout=WAIT).data) == payload
    client.close()
    assert client.done.wait(WAIT)
