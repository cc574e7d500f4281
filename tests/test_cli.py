"""The ``ws4py`` command: ``echo``, ``chat`` and ``connect``, end to end.

Servers run in subprocesses (``python -m ws4py ...``) or, when a test needs
a server that misbehaves on purpose, in this process; ``connect`` always
runs in a subprocess whose stdin is a pipe (no terminal), as in a script.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from ws4py import cli
from ws4py.demo.chat import ChatApplication, clean_nick, clean_text
from ws4py.messaging import Message
from ws4py.server.wsgirefserver import WSGIServer, make_server
from ws4py.websocket import WebSocket

PYTHON = sys.executable
STAMP = r"\[\d\d:\d\d:\d\d\.\d{3}\]"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A ``python -m ws4py`` server in a subprocess; its output goes to ``log``."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, pattern: str, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            output = self.output
            if re.search(pattern, output):
                return output
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not in the server's output:\n{self.output}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_listening(
    port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 15
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise AssertionError(f"server not listening on {port} after {timeout} s:\n{log.read_text()}")


def start_server(directory: Path, *args: str, port: int | None = None) -> Server:
    port = port or free_port()
    log = directory / f"server-{port}-{uuid.uuid4().hex[:6]}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [PYTHON, "-m", "ws4py", *args, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        wait_listening(port, proc, log)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return Server(proc, port, log)


@pytest.fixture(scope="module")
def echo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("echo"), "echo", "--host", "127.0.0.1")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("chat"), "chat", "--host", "127.0.0.1")
    yield server
    server.stop()


def run_ws4py(
    *args: str, input: str = "", timeout: float = 30, replies: int | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m ws4py ARGS`` with ``input`` on a pipe for stdin.

    With ``replies``, stdin stays open until that many lines were printed on
    stdout (``--wait 0`` then ends the client at once): no race with the
    default wait for replies, however slow the machine.
    """
    command = [PYTHON, "-m", "ws4py", *args]
    if replies is None:
        return subprocess.run(
            command, input=input, capture_output=True, text=True, encoding="utf-8", timeout=timeout
        )
    command += ["--wait", "0"]
    proc = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    stdout: list[str] = []
    stderr: list[str] = []
    enough = threading.Event()

    def read_stdout() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            stdout.append(line)
            if len(stdout) >= replies:
                enough.set()
        enough.set()

    def read_stderr() -> None:
        assert proc.stderr is not None
        stderr.append(proc.stderr.read())

    readers = [threading.Thread(target=read_stdout), threading.Thread(target=read_stderr)]
    for reader in readers:
        reader.start()
    try:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(input)
            proc.stdin.flush()
        enough.wait(timeout)
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for reader in readers:
            reader.join(10)
    return subprocess.CompletedProcess(command, proc.returncode, "".join(stdout), "".join(stderr))


def received(stdout: str) -> list[str]:
    """What ``connect`` printed as received, without the timestamps."""
    lines = []
    for line in stdout.splitlines():
        match = re.fullmatch(STAMP + r" < (.*)", line)
        assert match, f"unexpected output line {line!r}"
        lines.append(match.group(1))
    return lines


# -- in-process servers for the cases a real server does not produce -----------------


class CommandedWebSocket(WebSocket):
    """``close CODE REASON`` closes; ``drop`` drops TCP; ``info`` describes the request."""

    def received_message(self, message: Message) -> None:
        words = str(message).split(" ", 2)
        if words[0] == "close":
            self.close(int(words[1]), words[2] if len(words) > 2 else "")
        elif words[0] == "drop":
            assert self.sock is not None
            self.sock.shutdown(socket.SHUT_RDWR)
        elif words[0] == "info":
            environ = self.environ or {}
            self.send(
                json.dumps(
                    {
                        "token": environ.get("HTTP_X_TOKEN"),
                        "origin": environ.get("HTTP_ORIGIN"),
                        "protocols": self.protocols,
                    }
                )
            )


@pytest.fixture(scope="module")
def commanded_server() -> Iterator[WSGIServer]:
    server = make_server("127.0.0.1", 0, CommandedWebSocket, protocols=["chat.v2"])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def url_of(server: WSGIServer) -> str:
    return f"ws://127.0.0.1:{server.server_address[1]}/"


@pytest.fixture
def http_404_server() -> Iterator[int]:
    """A plain HTTP server (not websocket-aware) that answers 404 to everything."""

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404, "Not Found")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


# -- help and usage ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ([], ["echo", "chat", "connect"]),
        (["echo"], ["--host", "--port", "--certfile", "--keyfile", "--allowed-origin",
                    "--no-compression", "--subprotocol"]),
        (["chat"], ["--host", "--port", "--certfile", "--keyfile", "--allowed-origin",
                    "--no-compression"]),
        (["connect"], ["--header", "--subprotocol", "--origin", "--no-verify", "--ca-file",
                       "--wait", "/ping", "/close", "/binary", "exit status"]),
    ],
)  # fmt: skip
def test_help(command: list[str], expected: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for text in expected:
        assert text in out


def test_python_m_ws4py_help() -> None:
    for command in ("echo", "chat", "connect"):
        result = run_ws4py(command, "--help")
        assert result.returncode == 0, result.stderr
        assert f"usage: ws4py {command}" in result.stdout


def test_no_command_is_a_usage_error() -> None:
    result = run_ws4py()
    assert result.returncode == 2
    assert "usage: ws4py" in result.stderr


def test_bad_header_is_a_usage_error() -> None:
    result = run_ws4py("connect", "ws://127.0.0.1:1/", "--header", "no colon")
    assert result.returncode == 2
    assert "expected 'Name: value'" in result.stderr


def test_helpers() -> None:
    assert cli.describe_binary(b"\x00\xff") == "<binary 2 bytes> 00ff"
    assert cli.describe_binary(b"") == "<binary 0 bytes>"
    assert cli.describe_binary(b"\x01") == "<binary 1 byte> 01"
    assert cli.describe_binary(bytes(100)).endswith("00…")
    assert cli.parse_header("X-A:  b c ") == ("X-A", "b c")
    assert clean_nick("  ann\x00 \t lee ") == "ann lee"
    assert re.fullmatch(r"guest-\d{4}", clean_nick(""))
    assert re.fullmatch(r"guest-\d{4}", clean_nick(" \u200b\n"))
    assert len(clean_nick("x" * 100)) == 32
    assert clean_text(" a\x07b\nc ") == "ab\nc"


# -- connect against the echo server ---------------------------------------------------------


def test_connect_echoes_piped_lines(echo_server: Server) -> None:
    result = run_ws4py(
        "connect",
        f"ws://127.0.0.1:{echo_server.port}/",
        input="hello\nwörld ✓\n\nlast",  # the last line, unterminated, is read at EOF;
        replies=3,  # its echo precedes the echo of the close that follows it
    )
    assert result.returncode == 0, result.stderr
    assert received(result.stdout) == ["hello", "wörld ✓", "", "last"]
    assert f"connected to ws://127.0.0.1:{echo_server.port}/" in result.stderr
    assert "connection closed: sent 1000" in result.stderr


def test_connect_ping_prints_the_pong(echo_server: Server) -> None:
    result = run_ws4py(
        "connect",
        f"ws://127.0.0.1:{echo_server.port}/",
        input="/ping are you there\n/ping\n",
        replies=2,
    )
    assert result.returncode == 0, result.stderr
    assert received(result.stdout) == ["pong are you there", "pong"]


def test_connect_binary(echo_server: Server) -> None:
    result = run_ws4py(
        "connect",
        f"ws://127.0.0.1:{echo_server.port}/",
        input="/binary 00ff\n/binary 0a 0b\n",
        replies=2,
    )
    assert result.returncode == 0, result.stderr
    assert received(result.stdout) == ["<binary 2 bytes> 00ff", "<binary 2 bytes> 0a0b"]


def test_connect_commands_escape_and_mistakes(echo_server: Server) -> None:
    result = run_ws4py(
        "connect",
        f"ws://127.0.0.1:{echo_server.port}/",
        input="//not a command\n/nope\n/binary zz\n/close x\n/close 999\n/help\nstill open\n",
        replies=2,
    )
    assert result.returncode == 0, result.stderr
    assert received(result.stdout) == ["/not a command", "still open"]
    assert "unknown command /nope" in result.stderr
    assert "/binary: not hexadecimal" in result.stderr
    assert "/close: the code must be a number" in result.stderr
    assert "999" in result.stderr
    assert "/ping [text]" in result.stderr


def test_connect_close_with_code_and_reason(echo_server: Server) -> None:
    result = run_ws4py(
        "connect",
        f"ws://127.0.0.1:{echo_server.port}/",
        input="first\n/close 4000 bye\nnever sent\n",
    )
    assert result.returncode == 0, result.stderr
    assert received(result.stdout) == ["first"]
    assert "connection closed: sent 4000 bye; the server answered 4000" in result.stderr
    # The echo server logs each connection, with the close code.
    output = echo_server.wait_for_output(r"Connection closed .*: code 4000 \(bye\)")
    assert "Connection opened [Local => 127.0.0.1:" in output


def test_connect_wait_after_end_of_input(echo_server: Server) -> None:
    started = time.monotonic()
    result = run_ws4py("connect", f"ws://127.0.0.1:{echo_server.port}/", "--wait", "0", input="")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert time.monotonic() - started < 10


# -- connection errors ------------------------------------------------------------------------


def test_connect_refused() -> None:
    port = free_port()  # nothing listens there
    result = run_ws4py("connect", f"ws://127.0.0.1:{port}/", input="hello\n")
    assert result.returncode == cli.EXIT_CONNECT
    assert f"cannot connect to ws://127.0.0.1:{port}/" in result.stderr
    assert "refused" in result.stderr.lower()
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://x", "http:// is not a websocket URL (did you mean ws://?)"),
        ("https://x/", "did you mean wss://?"),
        ("ws://", "no host"),
        ("ftp://x/", "the scheme must be ws:// or wss://"),
        ("ws://x:99999/", "invalid URL"),
        ("x", "the scheme must be ws:// or wss://"),
    ],
)
def test_connect_bad_url(url: str, message: str) -> None:
    result = run_ws4py("connect", url, input="hello\n")
    assert result.returncode == cli.EXIT_USAGE
    assert "invalid URL" in result.stderr
    assert message in result.stderr


def test_connect_handshake_error_plain_http_server(http_404_server: int) -> None:
    result = run_ws4py("connect", f"ws://127.0.0.1:{http_404_server}/ws", input="hello\n")
    assert result.returncode == cli.EXIT_CONNECT
    assert "handshake with" in result.stderr
    assert "server answered 404" in result.stderr


def test_connect_handshake_error_chat_page_path(chat_server: Server) -> None:
    result = run_ws4py("connect", f"ws://127.0.0.1:{chat_server.port}/missing", input="x\n")
    assert result.returncode == cli.EXIT_CONNECT
    assert "server answered 404 Not Found, expected 101" in result.stderr


# -- how the peer ends the connection --------------------------------------------------


@pytest.mark.parametrize(
    ("command", "status", "message"),
    [
        ("close 1000 done", 0, "closed by the server: 1000 (normal closure) done"),
        ("close 1001 restart", 0, "closed by the server: 1001 (going away) restart"),
        ("close 4001 nope", cli.EXIT_ABNORMAL, "closed by the server: 4001 nope"),
        ("close 1011 oops", cli.EXIT_ABNORMAL, "closed by the server: 1011 (internal error)"),
        ("drop", cli.EXIT_ABNORMAL, "connection lost"),
    ],
)
def test_connect_peer_closes(
    commanded_server: WSGIServer, command: str, status: int, message: str
) -> None:
    started = time.monotonic()
    result = run_ws4py(
        "connect", url_of(commanded_server), "--wait", "10", input=f"{command}\nmore\n"
    )
    assert result.returncode == status, result.stderr
    assert message in result.stderr
    assert time.monotonic() - started < 8  # the peer's close ends the wait


def test_connect_headers_subprotocols_origin(commanded_server: WSGIServer) -> None:
    result = run_ws4py(
        "connect",
        url_of(commanded_server),
        "--header",
        "X-Token: s3cret",
        "-s",
        "unknown",
        "--subprotocol",
        "chat.v2",
        "--origin",
        "https://example.test",
        input="info\n",
        replies=1,
    )
    assert result.returncode == 0, result.stderr
    assert "(subprotocol chat.v2" in result.stderr
    (line,) = received(result.stdout)
    assert json.loads(line) == {
        "token": "s3cret",
        "origin": "https://example.test",
        "protocols": ["chat.v2"],
    }


# -- TLS -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_echo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    directory = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    certfile, keyfile, cafile = directory / "cert.pem", directory / "key.pem", directory / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(str(certfile), append=True)
    cert.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(cafile))
    server = start_server(directory, "echo", "--certfile", str(certfile), "--keyfile", str(keyfile))
    yield server, cafile
    server.stop()


def test_connect_tls(tls_echo_server: tuple[Server, Path]) -> None:
    server, cafile = tls_echo_server
    url = f"wss://localhost:{server.port}/"
    result = run_ws4py("connect", url, "--ca-file", str(cafile), input="secure\n", replies=1)
    assert result.returncode == 0, result.stderr
    assert received(result.stdout) == ["secure"]

    result = run_ws4py("connect", url, input="secure\n")
    assert result.returncode == cli.EXIT_CONNECT
    assert f"TLS certificate of {url} not accepted" in result.stderr
    assert "--no-verify" in result.stderr

    result = run_ws4py("connect", url, "--no-verify", input="unverified\n", replies=1)
    assert result.returncode == 0, result.stderr
    assert received(result.stdout) == ["unverified"]


def test_connect_tls_to_a_plain_server(echo_server: Server) -> None:
    result = run_ws4py("connect", f"wss://127.0.0.1:{echo_server.port}/", input="x\n")
    assert result.returncode == cli.EXIT_CONNECT
    assert "TLS handshake with" in result.stderr


# -- server options and failures ---------------------------------------------------------------


def test_echo_port_in_use(echo_server: Server) -> None:
    result = run_ws4py("echo", "--port", str(echo_server.port), timeout=15)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{echo_server.port}" in result.stderr
    assert "in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_chat_bad_certificate(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    result = run_ws4py("chat", "--port", "0", "--certfile", str(missing), timeout=15)
    assert result.returncode == 1
    assert f"cannot load the TLS certificate {missing}" in result.stderr


def test_echo_no_compression_and_allowed_origin(tmp_path: Path) -> None:
    server = start_server(
        tmp_path, "echo", "--no-compression", "--allowed-origin", "https://good.example"
    )
    try:
        url = f"ws://127.0.0.1:{server.port}/"
        # websockets offers permessage-deflate: refused with --no-compression.
        with ws_connect(url, origin="https://good.example", open_timeout=10) as ws:
            assert ws.response is not None
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            ws.send("plain")
            assert ws.recv(timeout=15) == "plain"
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(url, origin="https://evil.example", open_timeout=10)
        assert refused.value.response.status_code == 403
    finally:
        server.stop()


def test_compression_by_default_and_off(echo_server: Server, tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:{echo_server.port}/"
    with ws_connect(url, open_timeout=10) as ws:
        assert ws.response is not None
        assert "permessage-deflate" in ws.response.headers.get("Sec-WebSocket-Extensions", "")
        ws.send("squeeze " * 100)
        assert ws.recv(timeout=15) == "squeeze " * 100
    result = run_ws4py("connect", url, input="compressed\n", replies=1)
    assert result.returncode == 0, result.stderr
    assert "(extension permessage-deflate" in result.stderr
    assert received(result.stdout) == ["compressed"]
    result = run_ws4py("connect", url, "--no-compression", input="plain\n", replies=1)
    assert result.returncode == 0, result.stderr
    assert "permessage-deflate" not in result.stderr
    assert received(result.stdout) == ["plain"]


def test_echo_sigterm_closes_connections_with_1001(tmp_path: Path) -> None:
    server = start_server(tmp_path, "echo")
    with ws_connect(f"ws://127.0.0.1:{server.port}/", open_timeout=10) as ws:
        ws.send("x")
        assert ws.recv(timeout=15) == "x"
        server.proc.terminate()
        with pytest.raises(Exception):  # noqa: B017 - websockets' ConnectionClosed*
            ws.recv(timeout=10)
        assert ws.close_code == 1001
    assert server.proc.wait(timeout=10) == 0


# -- the chat server ------------------------------------------------------------------------------


def http_get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_chat_serves_the_page(chat_server: Server) -> None:
    base = f"http://127.0.0.1:{chat_server.port}"
    status, headers, body = http_get(base + "/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<script src="chat.js"' in body
    assert b"http" not in body.replace(b"http-equiv", b"")  # no CDN: everything is ours
    status, headers, body = http_get(base + "/chat.js")
    assert status == 200
    assert headers["Content-Type"].startswith("text/javascript")
    assert b"new WebSocket(" in body
    assert b"innerHTML" not in body  # user text goes in with textContent only
    status, headers, _ = http_get(base + "/chat.css")
    assert (status, headers["Content-Type"]) == (200, "text/css; charset=utf-8")
    assert http_get(base + "/nothing-here")[0] == 404
    status, _, body = http_get(base + "/ws")  # not an upgrade
    assert status in (400, 426)


def test_chat_prints_the_url_to_open(chat_server: Server) -> None:
    chat_server.wait_for_output(
        rf"Open http://127\.0\.0\.1:{chat_server.port}/ in a browser", timeout=5
    )


class Member:
    """A chat member over the ``websockets`` library."""

    def __init__(self, port: int, nick: str | None, **options: Any) -> None:
        query = f"?nick={nick}" if nick is not None else ""
        connection = ws_connect(f"ws://127.0.0.1:{port}/ws{query}", open_timeout=10, **options)
        self.ws: ClientConnection = connection.__enter__()  # websockets wants a context
        self.seen: list[dict[str, Any]] = []

    def expect(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15
    ) -> dict[str, Any]:
        """The next event matching ``predicate`` (others are kept in ``seen``)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching event; seen: {self.seen}")
            data = self.ws.recv(timeout=remaining)
            assert isinstance(data, str)
            event = json.loads(data)
            self.seen.append(event)
            if predicate(event):
                return event

    def close(self) -> None:
        self.ws.__exit__(None, None, None)


def is_event(kind: str, nick: str, text: str = "") -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["type"] == kind and e["nick"] == nick and e["text"] == text


def test_chat_two_members(chat_server: Server) -> None:
    ann, bob = f"ann-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    a = Member(chat_server.port, ann)
    first = a.expect(lambda e: True)
    assert first["type"] == "join" and first["nick"] == ann  # one's own join comes first
    assert isinstance(first["ts"], int) and abs(first["ts"] / 1000 - time.time()) < 60
    b = Member(chat_server.port, bob)
    b.expect(is_event("join", bob))
    a.expect(is_event("join", bob))

    a.ws.send("hello <b>bob</b>")
    for member in (a, b):
        event = member.expect(lambda e: e["type"] == "message")
        assert (event["nick"], event["text"]) == (ann, "hello <b>bob</b>")
        assert set(event) == {"type", "nick", "text", "ts"}

    b.ws.send(json.dumps({"type": "message", "text": "hi ann"}))
    for member in (a, b):
        member.expect(is_event("message", bob, "hi ann"))

    b.ws.send(b"binary is ignored")
    b.ws.send("   ")  # blank: ignored
    b.ws.send(json.dumps({"text": 42}))  # not text: ignored
    b.ws.send("after")
    a.expect(lambda e: e["type"] == "message")
    assert a.seen[-1] == {**a.seen[-1], "nick": bob, "text": "after"}

    b.close()
    a.expect(is_event("leave", bob))
    a.close()


def test_chat_guest_nick_and_cli_member(chat_server: Server) -> None:
    watcher = Member(chat_server.port, f"w-{uuid.uuid4().hex[:6]}")
    guest = Member(chat_server.port, None)
    join = guest.expect(lambda e: e["type"] == "join")
    assert re.fullmatch(r"guest-\d{4}", join["nick"])
    watcher.expect(is_event("join", join["nick"]))
    guest.close()
    watcher.expect(is_event("leave", join["nick"]))

    nick = f"cli-{uuid.uuid4().hex[:6]}"
    result = run_ws4py(
        "connect",
        f"ws://127.0.0.1:{chat_server.port}/ws?nick={nick}",
        input="from the shell\n",
        replies=2,
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in received(result.stdout)]
    assert [(e["type"], e["nick"], e["text"]) for e in events] == [
        ("join", nick, ""),
        ("message", nick, "from the shell"),
    ]
    watcher.expect(is_event("message", nick, "from the shell"))
    watcher.expect(is_event("leave", nick))
    watcher.close()


def test_chat_refuses_other_origins(chat_server: Server) -> None:
    port = chat_server.port
    with pytest.raises(InvalidStatus) as refused:
        Member(port, "evil", origin="http://evil.example")
    assert refused.value.response.status_code == 403
    # The page's own origin is welcome.
    member = Member(port, "own", origin=f"http://127.0.0.1:{port}")
    member.expect(is_event("join", "own"))
    member.close()


def test_chat_application_allowed_origins() -> None:
    app = ChatApplication(allowed_origins=["https://Friend.example"])
    environ = {"wsgi.url_scheme": "http", "HTTP_HOST": "chat.local:9000"}
    assert app.origin_allowed(environ)
    assert app.origin_allowed({**environ, "HTTP_ORIGIN": "http://chat.local:9000"})
    assert app.origin_allowed({**environ, "HTTP_ORIGIN": "https://friend.example"})
    assert not app.origin_allowed({**environ, "HTTP_ORIGIN": "https://chat.local:9000"})


@pytest.fixture
def restore_logger() -> Iterator[None]:
    """``main()`` sets up the ``ws4py`` logger, as a command does: undo it."""
    log = logging.getLogger("ws4py")
    handlers, level = list(log.handlers), log.level
    yield
    for handler in list(log.handlers):
        if handler not in handlers:
            log.removeHandler(handler)
    log.setLevel(level)


@pytest.mark.usefixtures("restore_logger")
def test_main_in_process_refused(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    assert cli.main(["connect", f"ws://127.0.0.1:{port}/", "--timeout", "5"]) == 1
    assert "refused" in capsys.readouterr().err.lower()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib must reach the local servers directly.
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    assert os.environ["NO_PROXY"] == "*"
