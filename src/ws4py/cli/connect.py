"""``ws4py connect URL``: the interactive client of the command line.

Each line typed (or piped) is sent as text; what arrives is printed with a
timestamp on stdout, everything else on stderr; ``/help`` lists the commands.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import queue
import shlex
import ssl
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from ws4py.cli.common import (
    EXIT_ABNORMAL,
    EXIT_CONNECT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
    compression_options,
    reason_text,
)
from ws4py.client.threadedclient import WebSocketClient
from ws4py.exc import ConnectionClosedError, HandshakeError, WebSocketException
from ws4py.framing import OPCODE_BINARY
from ws4py.messaging import Message, PongControlMessage

__all__ = [
    "CONNECT_HELP",
    "HEX_PREVIEW",
    "NORMAL_CLOSE_CODES",
    "Console",
    "ConsoleClient",
    "check_url",
    "describe_binary",
    "parse_header",
    "run_connect",
]

#: Close codes with which the peer ends a connection normally.
NORMAL_CLOSE_CODES = (1000, 1001)

#: Binary payloads are printed as hex up to this many bytes.
HEX_PREVIEW = 64


CONNECT_HELP = """\
commands (a line starting with / ; use // to send a line that starts with /):
  /ping [text]            send a ping (its pong is printed)
  /close [code] [reason]  close the connection (default 1000) and exit
  /binary HEX             send a binary message, e.g. /binary 00ff10
  /help                   this help
anything else is sent as a text message.
"""


def _timestamp() -> str:
    return datetime.datetime.now().strftime("%H:%M:%S.%f")[:-3]


def describe_binary(data: bytes) -> str:
    """``<binary N bytes>`` followed by the payload in hex (cut after 64 bytes)."""
    size = len(data)
    text = f"<binary {size} byte{'' if size == 1 else 's'}>"
    if data:
        text += " " + data[:HEX_PREVIEW].hex()
        if size > HEX_PREVIEW:
            text += "…"
    return text


def _describe_payload(data: bytes) -> str:
    """Control frame payloads: the text when it is printable UTF-8, else hex."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return describe_binary(data)
    return repr(text) if not text.isprintable() else text


def _close_description(code: int, reason: str | None) -> str:
    names = {
        1000: "normal closure",
        1001: "going away",
        1002: "protocol error",
        1003: "unsupported data",
        1005: "no status code",
        1006: "abnormal closure: no close frame",
        1007: "invalid payload",
        1008: "policy violation",
        1009: "message too big",
        1010: "extension required",
        1011: "internal error",
        1012: "service restart",
        1013: "try again later",
    }
    text = str(code)
    if code in names:
        text += f" ({names[code]})"
    if reason:
        text += f" {reason}"
    return text


def parse_header(value: str) -> tuple[str, str]:
    """``"Name: value"`` as a pair; a name without a colon or with spaces is refused."""
    name, colon, content = value.partition(":")
    name = name.strip()
    if not colon or not name or any(char.isspace() for char in name):
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {value!r}")
    return name, content.strip()


def check_url(url: str) -> None:
    """Refuse what is not a ``ws://`` or ``wss://`` URL with a host (a :class:`UsageError`)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"invalid URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        hint = "ws" if scheme == "http" else "wss"
        raise UsageError(
            f"invalid URL {url!r}: {scheme}:// is not a websocket URL (did you mean {hint}://?)"
        )
    if scheme not in ("ws", "wss", "ws+unix", "wss+unix"):
        raise UsageError(f"invalid URL {url!r}: the scheme must be ws:// or wss://")
    if scheme in ("ws", "wss") and not parts.hostname:
        raise UsageError(f"invalid URL {url!r}: no host")
    if port == 0:
        raise UsageError(f"invalid URL {url!r}: port 0")


class Console:
    """Writes the client's output: messages on stdout, notices on stderr.

    On a terminal, a line arriving while one is being typed is printed above
    the prompt, which is then redrawn with what was typed so far.
    """

    prompt = "> "

    def __init__(self, out: TextIO, err: TextIO, interactive: bool) -> None:
        self.out = out
        self.err = err
        self.interactive = interactive
        self.lock = threading.Lock()
        self.prompting = False
        self.interactive_done = False

    def _print(self, stream: TextIO, line: str) -> None:
        with self.lock, contextlib.suppress(BrokenPipeError):  # e.g. piped into head
            if self.prompting:
                buffer = ""
                try:
                    import readline

                    buffer = readline.get_line_buffer()
                except ImportError:
                    pass
                stream.write(f"\r\x1b[K{line}\n")
                stream.flush()
                self.out.write(self.prompt + buffer)
                self.out.flush()
            else:
                stream.write(line + "\n")
                stream.flush()

    def end_prompt(self) -> None:
        """No more input: erase the prompt and print lines plainly from now on."""
        with self.lock:
            if self.prompting:
                self.out.write("\r\x1b[K")
                self.out.flush()
                self.prompting = False
            self.interactive_done = True

    def received(self, line: str) -> None:
        self._print(self.out, f"[{_timestamp()}] < {line}")

    def notice(self, line: str) -> None:
        self._print(self.err, f"ws4py: {line}")

    def text(self, text: str) -> None:
        """Lines printed as they are (on stderr)."""
        self._print(self.err, text.rstrip("\n"))


class ConsoleClient(WebSocketClient):
    """The ``connect`` command's client: prints what arrives, remembers how it ended."""

    def __init__(self, url: str, console: Console, **options: Any) -> None:
        super().__init__(url, **options)
        self.console = console
        self.done = threading.Event()
        self.close_info: tuple[int, str | None] | None = None
        self.error: BaseException | None = None
        #: True once this side started the closing handshake.
        self.we_closed = False

    def received_message(self, message: Message) -> None:
        if message.opcode == OPCODE_BINARY:
            self.console.received(describe_binary(bytes(message.data)))
        else:
            self.console.received(str(message))

    def ponged(self, pong: PongControlMessage) -> None:
        self.console.received(f"pong {_describe_payload(bytes(pong.data))}".rstrip())

    def unhandled_error(self, error: BaseException) -> None:
        self.error = error

    def closed(self, code: int, reason: bytes | str | None = None) -> None:
        self.close_info = (code, reason_text(reason))
        self.done.set()


def _client_ssl_options(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.no_verify:
        return {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
    if args.ca_file:
        return {"ca_certs": args.ca_file}
    return None


def _connect_error(url: str, exc: BaseException, args: argparse.Namespace) -> str:
    if isinstance(exc, HandshakeError):
        return f"handshake with {url} failed: {exc.msg}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        hint = "" if args.no_verify else " (use --ca-file FILE, or --no-verify to skip the check)"
        return f"TLS certificate of {url} not accepted: {exc.verify_message or exc}{hint}"
    if isinstance(exc, ssl.SSLError):
        hint = " (is it a wss:// server?)" if exc.reason == "WRONG_VERSION_NUMBER" else ""
        return f"TLS handshake with {url} failed: {exc.reason or exc}{hint}"
    if isinstance(exc, TimeoutError):
        return f"cannot connect to {url}: timed out"
    if isinstance(exc, OSError):
        return f"cannot connect to {url}: {exc.strerror or exc}"
    return f"cannot connect to {url}: {exc}"


def _stdin_lines(stdin: TextIO, interactive: bool, console: Console) -> Iterator[str | None]:
    """Lines of stdin, read in a thread so a closing peer never waits for a line.

    Yields None when no line came for a moment (the caller checks the
    connection), and stops at end of input.
    """
    lines: queue.Queue[str | BaseException | None] = queue.Queue()
    handled = threading.Event()  # the previous line was handled: prompt again
    handled.set()

    def read() -> None:
        try:
            while True:
                if interactive:
                    # What a line prints (command results) comes before the next prompt.
                    handled.wait()
                    handled.clear()
                    with console.lock:
                        if console.interactive_done:
                            break
                        console.prompting = True
                    try:
                        line = input(console.prompt) + "\n"
                    except EOFError:
                        line = ""
                        console.out.write("\n")  # Ctrl+D leaves the cursor after the prompt
                    finally:
                        with console.lock:
                            console.prompting = False
                else:
                    line = stdin.readline()
                if not line:
                    break
                lines.put(line)
        except BaseException as exc:  # a broken stdin ends the input
            lines.put(exc)
        lines.put(None)

    threading.Thread(target=read, name="ws4py-stdin", daemon=True).start()
    while True:
        try:
            item = lines.get(timeout=0.1)
        except queue.Empty:
            yield None
            continue
        if item is None or isinstance(item, BaseException):
            return
        yield item.rstrip("\r\n")
        handled.set()


class _Session:
    """The ``connect`` command once connected: stdin lines to the websocket."""

    def __init__(self, ws: ConsoleClient, console: Console, args: argparse.Namespace) -> None:
        self.ws = ws
        self.console = console
        self.args = args
        self.sent_close: tuple[int, str] = (1000, "")

    def command(self, line: str) -> bool:
        """Run a ``/`` command; False when the session should end."""
        name, _, rest = line.partition(" ")
        name = name.lower()
        rest = rest.strip()
        if name == "/ping":
            self.ws.ping(rest.encode("utf-8"))
        elif name == "/close":
            try:
                words = shlex.split(rest)
            except ValueError:
                words = rest.split()
            code = 1000
            if words:
                if not words[0].isdigit():
                    self.console.notice(f"/close: the code must be a number, not {words[0]!r}")
                    return True
                code = int(words[0])
            reason = " ".join(words[1:])
            if len(reason.encode("utf-8")) > 123:
                self.console.notice("/close: the reason is longer than 123 bytes")
                return True
            try:
                self.close(code, reason)
            except ValueError as exc:
                self.console.notice(f"/close: {exc}")
                return True
            return False
        elif name == "/binary":
            try:
                data = bytes.fromhex(rest)
            except ValueError:
                self.console.notice(f"/binary: not hexadecimal: {rest!r}")
                return True
            self.ws.send(data, binary=True)
        elif name in ("/help", "/?"):
            self.console.text(CONNECT_HELP)
        else:
            self.console.notice(f"unknown command {name} (/help lists them; // sends a /)")
        return True

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.ws.core.close_sent is not None:
            return  # the peer closed first (its close was echoed) or we already did
        self.ws.close(code, reason)
        self.sent_close = (code, reason)
        self.ws.we_closed = True

    def send_line(self, line: str) -> bool:
        """Send one line of input; False when the session should end."""
        if line.startswith("/") and not line.startswith("//"):
            return self.command(line)
        self.ws.send(line[1:] if line.startswith("//") else line)
        return True

    def run(self, stdin: TextIO) -> None:
        """Send the lines of stdin until its end, a /close or the connection's end."""
        for line in _stdin_lines(stdin, self.console.interactive, self.console):
            if self.ws.done.is_set():
                return
            if line is None:
                continue
            try:
                if not self.send_line(line):
                    return
            except (OSError, ConnectionClosedError) as exc:
                if not self.ws.done.wait(1.0):
                    self.console.notice(f"cannot send: {exc}")
                return
            except (ValueError, WebSocketException) as exc:  # e.g. a ping over 125 bytes
                self.console.notice(f"cannot send that: {exc}")
        # End of input: give the replies a moment, then close normally.
        if not self.console.interactive and self.args.wait > 0:
            self.ws.done.wait(self.args.wait)
        if not self.ws.done.is_set():
            self.close(1000, "")

    def finish(self) -> int:
        """Wait for the end of the connection; report it and choose the exit status."""
        ws = self.ws
        self.console.end_prompt()
        if not ws.done.wait(ws.close_timeout + 1.0):
            ws.close_connection()
            ws.done.wait(2.0)
        ws.join(2.0)  # let the reader see the server close TCP (RFC 6455 7.1.1)
        code, reason = ws.close_info or (1006, None)
        received = ws.core.close_received is not None
        if ws.we_closed:
            if received:
                sent = _close_description(*self.sent_close)
                answer = _close_description(code, reason)
                self.console.notice(f"connection closed: sent {sent}; the server answered {answer}")
                return EXIT_OK
            self.console.notice("connection closed without the server's close frame")
            return EXIT_ABNORMAL
        if received:
            self.console.notice(
                f"connection closed by the server: {_close_description(code, reason)}"
            )
            return EXIT_OK if code in NORMAL_CLOSE_CODES else EXIT_ABNORMAL
        detail = f": {ws.error}" if ws.error is not None else ""
        self.console.notice(f"connection lost{detail} ({_close_description(code, reason)})")
        return EXIT_ABNORMAL


def run_connect(args: argparse.Namespace) -> int:
    """``ws4py connect``: talk to ``args.url`` until the input ends or the peer closes."""
    url: str = args.url
    check_url(url)
    if args.wait < 0:
        raise UsageError("--wait must not be negative")
    stdin: TextIO = sys.stdin
    interactive = stdin.isatty() and sys.stdout.isatty()
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    console = Console(sys.stdout, sys.stderr, interactive)
    headers = list(args.headers or [])
    if args.origin:
        headers = [(name, value) for name, value in headers if name.lower() != "origin"]
        headers.append(("Origin", args.origin))
    if interactive:
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401  (line editing and history for input())
    try:
        ws = ConsoleClient(
            url,
            console,
            protocols=args.subprotocols,
            ssl_options=_client_ssl_options(args),
            headers=headers,
            **compression_options(args),
        )
        ws.open_timeout = args.timeout
        ws.connect()
    except (HandshakeError, OSError) as exc:  # before ValueError: TLS errors are both
        console.notice(_connect_error(url, exc, args))
        return EXIT_CONNECT
    except ValueError as exc:  # the client's own URL checks
        raise UsageError(str(exc)) from None
    final_url = getattr(ws, "final_url", url)
    details = [f"redirected to {final_url}"] if final_url != url else []
    if ws.subprotocol:
        details.append(f"subprotocol {ws.subprotocol}")
    details.extend(f"extension {ext}" for ext in ws.extensions or [])
    suffix = f" ({', '.join(details)})" if details else ""
    console.notice(f"connected to {url}{suffix}")
    if interactive:
        console.notice("type /help for commands; Ctrl+D or /close to quit")
    session = _Session(ws, console, args)
    restore = _save_terminal() if interactive else None
    try:
        try:
            session.run(stdin)
        except KeyboardInterrupt:
            console.notice("interrupted")
            if not ws.done.is_set():
                session.close(1000, "")
            session.finish()
            return EXIT_INTERRUPTED
        return session.finish()
    finally:
        if restore is not None:
            restore()


def _save_terminal() -> Callable[[], None] | None:
    """Terminal settings to put back on exit (input() may be left mid-line)."""
    try:
        import termios

        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
    except (ImportError, OSError, ValueError):
        return None

    def restore() -> None:
        with contextlib.suppress(OSError, ValueError):
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)

    return restore
