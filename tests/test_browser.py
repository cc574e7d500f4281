"""The chat page in a real browser: headless Chromium driven by Playwright.

Debian's ``chromium`` (``scripts/install-browser.sh``) is driven by the
``playwright`` package (ws4py's ``test`` extra); Playwright's own browser
download is never used.  Both are required: when one is missing the test
fails, saying how to install it.

Two pages chat through ``python -m ws4py chat``; the server is then killed
(SIGKILL) and restarted on the same port, and both pages must show the
disconnection, reconnect by themselves and chat again.  Set
``WS4PY_SCREENSHOT=/path/chat.png`` to keep a screenshot of the page.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--no-default-browser-check",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
]
WAIT_MS = 20_000  # one expectation (a reconnect waits out a back-off of at most 10 s)

# Bounded: each expectation waits at most WAIT_MS; the run takes a few seconds.
pytestmark = pytest.mark.timeout(90)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ChatServer:
    """``python -m ws4py chat`` in a subprocess that can be killed and restarted."""

    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "ws4py", "chat", "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"chat server exited:\n{self.log.read_text()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.5),
            ):
                return
            time.sleep(0.05)
        raise AssertionError(f"chat server not listening:\n{self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL, by PID: no close frame, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


PYTHON = sys.executable


@contextlib.contextmanager
def launch_chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, under Playwright; a clear failure if either is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "the Python package 'playwright' is not installed: it is in ws4py's test extra "
            "(scripts/venv.sh installs it; or: pip install playwright)",
            pytrace=False,
        )
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: run scripts/install-browser.sh "
            "(installs Debian's chromium package; make test runs it)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=30_000
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def chat_server(tmp_path: Path) -> Iterator[ChatServer]:
    server = ChatServer(free_port(), tmp_path / "chat.log")
    server.start()
    yield server
    server.kill()


def test_chat_page_two_tabs_and_reconnect(chat_server: ChatServer) -> None:
    with launch_chromium() as chromium:
        run_chat_scenario(chromium, chat_server)


def run_chat_scenario(chromium: Any, chat_server: ChatServer) -> None:
    from playwright.sync_api import Page, expect

    expect.set_options(timeout=WAIT_MS)
    base = f"http://127.0.0.1:{chat_server.port}/"
    context = chromium.new_context(viewport={"width": 900, "height": 640})
    context.set_default_timeout(WAIT_MS)
    problems: list[str] = []

    def open_page(nick: str) -> Page:
        page: Page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"{nick}: {error}"))
        page.on(
            "console",
            lambda message: (
                problems.append(f"{nick}: {message.text}")
                if "Content Security Policy" in message.text
                else None
            ),
        )
        page.goto(f"{base}?nick={nick}")
        expect(page.locator("#status")).to_have_attribute("data-state", "open")
        return page

    def send(page: Page, text: str) -> None:
        page.locator("#text").fill(text)
        page.locator("#text").press("Enter")
        expect(page.locator("#text")).to_have_value("")

    def last_message(page: Page, nick: str, text: str) -> None:
        message = page.locator("#log li.message").last
        expect(message.locator(".who")).to_have_text(nick)
        expect(message.locator(".text")).to_have_text(text)

    def notice(page: Page, text: str) -> Any:
        return page.locator("#log li.notice", has_text=text)

    try:
        alice = open_page("alice")
        bob = open_page("bob")
        expect(notice(alice, "bob joined")).to_have_count(1)
        expect(notice(bob, "bob joined (you)")).to_have_count(1)
        expect(alice.locator("#nick")).to_have_value("alice")

        # Both ways; user text is text, never markup.
        send(alice, "hello bob")
        for page in (alice, bob):
            last_message(page, "alice", "hello bob")
        send(bob, "hi <b>alice</b> & <script>x()</script>")
        for page in (alice, bob):
            last_message(page, "bob", "hi <b>alice</b> & <script>x()</script>")
            expect(page.locator("#log b")).to_have_count(0)
            expect(page.locator("#log script")).to_have_count(0)
        expect(alice.locator("#log li.message.mine")).to_have_count(1)  # alice's own
        expect(bob.locator("#log li.message.mine")).to_have_count(1)

        screenshot = os.environ.get("WS4PY_SCREENSHOT")
        if screenshot:
            alice.screenshot(path=screenshot)

        # The server dies: both pages say so, then retry with back-off.
        chat_server.kill()
        for page in (alice, bob):
            expect(page.locator("#status")).to_have_attribute("data-state", "closed")
            expect(page.locator("#text")).to_be_disabled()
        expect(alice.locator("#status")).to_contain_text("reconnecting in")

        # It comes back on the same port: both pages reconnect on their own.
        chat_server.start()
        for page in (alice, bob):
            expect(page.locator("#status")).to_have_attribute("data-state", "open")
        for page, nick in ((alice, "alice"), (bob, "bob")):
            expect(notice(page, f"{nick} joined (you)")).to_have_count(2)
        send(bob, "back again")
        for page in (alice, bob):
            last_message(page, "bob", "back again")
        send(alice, "welcome back")
        last_message(bob, "alice", "welcome back")

        assert not problems, problems
    finally:
        context.close()


# ---------------------------------------------------------------------------
# permessage-deflate with a real browser
# ---------------------------------------------------------------------------

COMPRESSION_PAGE = b"""<!doctype html><meta charset="utf-8"><title>running</title>
<script>
const text = "ws4py compressible text \\u00e9\\u4e16 ".repeat(150000);
const bin = new Uint8Array(1 << 20);
for (let i = 0; i < bin.length; i += 65536) crypto.getRandomValues(bin.subarray(i, i + 65536));
const results = {};
const ws = new WebSocket(`ws://${location.host}/ws`);
ws.binaryType = "arraybuffer";
ws.onopen = () => { ws.send(text); ws.send(bin); };
ws.onmessage = (e) => {
  if (typeof e.data === "string") {
    results.text = e.data === text;
    results.textLength = e.data.length;
  } else {
    const got = new Uint8Array(e.data);
    results.binLength = got.length;
    results.bin = got.length === bin.length && got.every((v, i) => v === bin[i]);
  }
  if ("text" in results && "bin" in results) {
    results.extensions = ws.extensions;
    window.results = results;
    ws.close(1000, "done");
    document.title = "done";
  }
};
ws.onerror = () => { document.title = "error"; };
</script>"""


def test_chromium_compression_large_messages_byte_for_byte() -> None:
    """Chromium offers permessage-deflate (with client_max_window_bits); our server
    accepts it and echoes a large compressible text and 1 MiB of random bytes,
    which the page checks byte for byte.  Frames are counted on the server: the
    text went both ways compressed, the random bytes were sent uncompressed."""
    import threading

    from ws4py.messaging import Message
    from ws4py.server.wsgirefserver import make_server
    from ws4py.server.wsgiutils import WebSocketWSGIApplication
    from ws4py.websocket import EchoWebSocket

    seen: dict[str, Any] = {"offer": None, "inflated": 0, "deflated": 0, "plain_sent": 0}
    done = threading.Event()

    class CountingEcho(EchoWebSocket):
        def opened(self) -> None:
            seen["offer"] = (self.environ or {}).get("HTTP_SEC_WEBSOCKET_EXTENSIONS")
            for ext in self.core.extensions:
                decode, encode = ext.decode_frame, ext.encode_message

                def counted_decode(opcode: int, rsv: int, *args: Any, _d: Any = decode) -> bytes:
                    if rsv & 0x40:
                        seen["inflated"] += 1
                    return bytes(_d(opcode, rsv, *args))

                def counted_encode(*args: Any, _e: Any = encode) -> tuple[int, bytes]:
                    bits, data = _e(*args)
                    seen["deflated" if bits & 0x40 else "plain_sent"] += 1
                    return bits, data

                ext.decode_frame = counted_decode  # type: ignore[method-assign]
                ext.encode_message = counted_encode  # type: ignore[method-assign]

        def received_message(self, message: Message) -> None:
            super().received_message(message)

        def closed(self, code: int, reason: str | None = None) -> None:
            seen["closed"] = code
            done.set()

    websocket_app = WebSocketWSGIApplication(handler_cls=CountingEcho)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/ws":
            return websocket_app(environ, start_response)
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [COMPRESSION_PAGE]

    server = make_server("127.0.0.1", 0, app=app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with launch_chromium() as browser:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
            page.wait_for_function("document.title !== 'running'", timeout=60_000)
            assert page.title() == "done"
            results = page.evaluate("window.results")
            page.close()
        assert done.wait(10)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert results["text"] is True and results["textLength"] == 27 * 150000
    assert results["bin"] is True and results["binLength"] == 1 << 20
    assert "permessage-deflate" in results["extensions"]
    assert "permessage-deflate" in seen["offer"] and "client_max_window_bits" in seen["offer"]
    assert seen["inflated"] >= 1  # the browser compressed its text
    assert seen["deflated"] == 1  # we compressed the text echo...
    assert seen["plain_sent"] == 1  # ...and sent the random bytes as they are
    assert seen["closed"] == 1000


# ---------------------------------------------------------------------------
# Issue #22: a classic handler reads self.extensions as strings
# ---------------------------------------------------------------------------

EXTENSIONS_PAGE = b"""<!doctype html><meta charset="utf-8"><title>running</title>
<script>
const results = {};
const echo = "classic handlers read strings \\u00e9 ".repeat(2000);
const ws = new WebSocket(`ws://${location.host}/ws`);
ws.onmessage = (e) => {
  if (!("hello" in results)) {
    results.helloType = typeof e.data;  // bytes sent without binary=True: a string
    results.hello = typeof e.data === "string" ? JSON.parse(e.data) : null;
    results.header = ws.extensions;  // the Sec-WebSocket-Extensions the server answered
    ws.send(echo);
    return;
  }
  results.echo = e.data === echo;
  window.results = results;
  ws.close(1000, "done");
  document.title = "done";
};
ws.onclose = (e) => { results.closeCode = e.code; if (document.title === "running") {
  window.results = results; document.title = "closed"; } };
ws.onerror = () => { results.error = true; };
</script>"""


def test_chromium_classic_handler_reads_extensions_as_strings() -> None:
    """Chromium offers permessage-deflate; a classic handler (classic ``__init__``
    override, calling super) logs ``self.extensions``, tests ``"permessage-deflate"
    in`` its entries and sends them back as JSON bytes without ``binary=True``.
    The page gets a string, with exactly the header value Chromium saw; the
    session goes on compressed (the live extension is in ``extension_objects``)."""
    import json
    import logging
    import threading

    from ws4py.extensions.permessage_deflate import PerMessageDeflate
    from ws4py.messaging import Message
    from ws4py.server.wsgirefserver import make_server
    from ws4py.server.wsgiutils import WebSocketWSGIApplication
    from ws4py.websocket import WebSocket

    seen: dict[str, Any] = {}
    done = threading.Event()
    log = logging.getLogger("test_browser")

    class ClassicHandler(WebSocket):
        def __init__(
            self,
            sock: Any,
            protocols: Any = None,
            extensions: Any = None,
            environ: Any = None,
            heartbeat_freq: Any = None,
        ) -> None:
            super().__init__(sock, protocols, extensions, environ, heartbeat_freq)
            seen["constructed_with"] = extensions

        def opened(self) -> None:
            log.info("negotiated extensions: %s", ", ".join(self.extensions or []))
            compressed = any("permessage-deflate" in ext for ext in self.extensions or [])
            seen["objects"] = list(self.extension_objects)
            self.send(
                json.dumps({"extensions": self.extensions, "compressed": compressed}).encode()
            )

        def received_message(self, message: Message) -> None:
            self.send(message.data, message.is_binary)

        def closed(self, code: int, reason: Any = None) -> None:
            seen["closed"] = (code, reason)
            done.set()

    websocket_app = WebSocketWSGIApplication(handler_cls=ClassicHandler)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/ws":
            return websocket_app(environ, start_response)
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [EXTENSIONS_PAGE]

    server = make_server("127.0.0.1", 0, app=app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with launch_chromium() as browser:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
            page.wait_for_function("document.title !== 'running'", timeout=WAIT_MS)
            results = page.evaluate("window.results")
            title = page.title()
            page.close()
        assert done.wait(10)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert title == "done", results
    assert results["helloType"] == "string"
    hello = results["hello"]
    assert hello["compressed"] is True
    assert ", ".join(hello["extensions"]) == results["header"]  # the header strings, exactly
    assert results["header"].startswith("permessage-deflate")
    assert seen["constructed_with"] == hello["extensions"]  # strings in the classic argument
    assert all(isinstance(ext, str) for ext in seen["constructed_with"])
    (live,) = seen["objects"]
    assert isinstance(live, PerMessageDeflate) and str(live) == results["header"]
    assert results["echo"] is True
    assert seen["closed"] == (1000, b"done")
