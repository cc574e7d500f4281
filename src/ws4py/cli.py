"""The ``ws4py`` command (``python -m ws4py``): servers and a client for the shell.

``echo``
    an echo server; logs each connection (opened, closed with its code).
``chat``
    a chat room: a page at ``/`` and its websocket at ``/ws`` on one port
    (:mod:`ws4py.demo.chat`).  ``--redis URL`` shares the room with every
    chat server on that Redis; ``--workers N`` runs N processes on the port
    (``SO_REUSEPORT``), which needs ``--redis`` (refused without it: each
    process has its own members, only Redis connects them);
    ``--redis-streams`` uses Redis Streams (replay after a disconnection).
``connect URL``
    an interactive client: each line typed (or piped) is sent as text; what
    arrives is printed with a timestamp; ``/help`` lists the commands.

Servers log through the ``ws4py`` logger (stdout) and exit non-zero with a
clear message when they cannot start (port in use, bad certificate).
``connect`` prints received messages on stdout and everything else on
stderr; it exits with 0 after a normal close (by us, or by the peer with
1000 or 1001), 1 when it cannot connect (refused, TLS, handshake), 2 for
usage errors, 3 when the connection ends abnormally or with another code.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import logging
import queue
import shlex
import signal
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from ws4py import configure_logger, format_addresses
from ws4py.client.threadedclient import WebSocketClient
from ws4py.exc import ConnectionClosedError, HandshakeError, WebSocketException
from ws4py.framing import OPCODE_BINARY
from ws4py.messaging import Message, PongControlMessage
from ws4py.websocket import EchoWebSocket

__all__ = [
    "EXIT_ABNORMAL",
    "EXIT_CONNECT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "build_parser",
    "main",
]

logger = logging.getLogger("ws4py")

#: ``connect`` exit statuses.
EXIT_OK = 0
EXIT_CONNECT = 1  # could not connect: refused, unreachable, TLS, handshake
EXIT_USAGE = 2  # bad arguments or URL (argparse uses 2 too)
EXIT_ABNORMAL = 3  # the connection ended abnormally, or the peer closed with an error code
EXIT_INTERRUPTED = 130  # Ctrl+C

#: Close codes with which the peer ends a connection normally.
NORMAL_CLOSE_CODES = (1000, 1001)

#: Binary payloads are printed as hex up to this many bytes.
HEX_PREVIEW = 64


class _UsageError(Exception):
    """Bad arguments: reported with exit status 2."""


class _StartError(Exception):
    """A server cannot start: reported with exit status 1."""


# -- servers -------------------------------------------------------------------


class LoggingEchoWebSocket(EchoWebSocket):
    """The echo server's handler: logs each connection's opening and its close code."""

    def opened(self) -> None:
        logger.info("Connection opened %s", format_addresses(self))

    def closed(self, code: int, reason: bytes | str | None = None) -> None:
        text = _reason_text(reason)
        logger.info(
            "Connection closed %s: code %s%s",
            format_addresses(self),
            code,
            f" ({text})" if text else "",
        )


def _reason_text(reason: bytes | str | None) -> str:
    """A close reason for display: ``closed()`` is given the peer's as bytes (classic)."""
    if isinstance(reason, bytes):
        return reason.decode("utf-8", "replace")
    return reason or ""


def _server_ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.certfile:
        if args.keyfile:
            raise _UsageError("--keyfile needs --certfile")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(args.certfile, args.keyfile)
    except (OSError, ssl.SSLError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise _StartError(f"cannot load the TLS certificate {args.certfile}: {detail}") from None
    return context


def _add_server_options(parser: argparse.ArgumentParser, port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    parser.add_argument("--port", type=int, default=port, help="port to listen on (%(default)s)")
    parser.add_argument("--certfile", help="TLS certificate chain (PEM): serve wss:// (https://)")
    parser.add_argument("--keyfile", help="TLS private key (PEM), if not in --certfile")
    parser.add_argument(
        "--allowed-origin",
        action="append",
        dest="allowed_origins",
        metavar="ORIGIN",
        help="accept websockets from pages of this origin, e.g. https://example.com (repeatable)",
    )
    parser.add_argument(
        "--no-compression",
        dest="compression",
        action="store_false",
        help="do not offer permessage-deflate compression",
    )


def _compression_options(args: argparse.Namespace) -> dict[str, Any]:
    # No extensions argument keeps the library's default (compression on).
    return {} if args.compression else {"extensions": []}


def _browse_host(host: str) -> str:
    """The host of a URL to reach a server listening on ``host``."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _check_port_free(host: str, port: int) -> None:
    """Raise OSError when ``host:port`` cannot be listened on (e.g. in use).

    Checked before the server is built, so the error is the bind's own.
    """
    if port == 0:
        return
    import socket

    family = socket.getaddrinfo(host or None, port, 0, socket.SOCK_STREAM)[0][0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        probe.bind((host, port))


def _serve(server: Any) -> int:
    """Serve until Ctrl+C or SIGTERM; websockets are closed with 1001 on the way out."""

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        logger.info("Shutting down")
    finally:
        server.server_close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return EXIT_OK


def _run_echo(args: argparse.Namespace) -> int:
    from ws4py.server.wsgirefserver import make_server

    ssl_context = _server_ssl_context(args)
    _check_port_free(args.host, args.port)
    server = make_server(
        args.host,
        args.port,
        LoggingEchoWebSocket,
        ssl_context=ssl_context,
        allowed_origins=args.allowed_origins,
        protocols=args.subprotocols,
        **_compression_options(args),
    )
    scheme = "wss" if args.certfile else "ws"
    port = server.server_address[1]
    print(
        f"ws4py echo server on {scheme}://{_browse_host(args.host)}:{port}/ (Ctrl+C to stop)",
        flush=True,
    )
    return _serve(server)


def _chat_backend(args: argparse.Namespace) -> Any:
    """The chat's Redis backend, connected; _StartError when Redis cannot be reached."""
    try:
        from ws4py.broadcast.redis import RedisBackend, RedisStreamBackend
    except ImportError as exc:
        raise _StartError(f"--redis: {exc}") from None
    from ws4py.broadcast import BroadcastError

    cls = RedisStreamBackend if args.redis_streams else RedisBackend
    try:
        backend = cls(args.redis, channel_prefix=args.redis_prefix)
    except BroadcastError as exc:
        raise _UsageError(f"--redis: {exc}") from None
    deadline = time.monotonic() + 5.0
    while not backend.wait_connected(timeout=0.05):
        # Refused three times in a row, or no answer in 5 s: not there.
        if backend.failed_attempts < 3 and time.monotonic() < deadline:
            continue
        error = backend.last_error
        backend.close()
        raise _StartError(f"cannot reach Redis at {backend.safe_url}: {error}")
    return backend


def _announce_chat(args: argparse.Namespace, port: int, detail: str = "") -> None:
    secure = bool(args.certfile)
    address = f"{_browse_host(args.host)}:{port}"
    url = f"{'https' if secure else 'http'}://{address}/"
    ws_url = f"{'wss' if secure else 'ws'}://{address}/ws"
    print(f"ws4py chat on {url} (websocket: {ws_url}{detail}; Ctrl+C to stop)", flush=True)
    print(f"Open {url} in a browser (add ?nick=NAME to choose a nickname)", flush=True)


def _run_chat(args: argparse.Namespace) -> int:
    from ws4py.demo.chat import make_chat_server

    ssl_context = _server_ssl_context(args)
    if args.workers < 1:
        raise _UsageError("--workers must be at least 1")
    if args.workers > 1:
        if not args.redis:
            raise _UsageError(
                f"--workers {args.workers} needs --redis URL: each worker process has its "
                "own members, and only Redis pub/sub carries the chat between them "
                "(e.g. --redis redis://127.0.0.1:6379/0)"
            )
        return _run_chat_workers(args, ssl_context)
    _check_port_free(args.host, args.port)
    backend = _chat_backend(args) if args.redis else None
    try:
        server = make_chat_server(
            args.host,
            args.port,
            ssl_context=ssl_context,
            allowed_origins=args.allowed_origins,
            backend=backend,
            **_compression_options(args),
        )
        detail = f"; shared through Redis at {backend.safe_url}" if backend else ""
        _announce_chat(args, server.server_address[1], detail)
        return _serve(server)
    finally:
        if backend is not None:
            backend.close()


def _run_chat_workers(args: argparse.Namespace, ssl_context: ssl.SSLContext | None) -> int:
    import os

    from ws4py.broadcast.workers import (
        WorkerStartError,
        reserve_port,
        reuse_port_supported,
        serve_workers,
    )
    from ws4py.demo.chat import make_chat_server

    if not reuse_port_supported():
        raise _UsageError("--workers needs SO_REUSEPORT and fork (Linux, BSD)")
    _check_port_free(args.host, args.port)
    _chat_backend(args).close()  # Redis is reachable: fail here, not in every worker
    reservation = reserve_port(args.host, args.port)
    port = reservation.getsockname()[1]

    def worker(index: int, ready: Callable[[], None]) -> int:
        reservation.close()  # the worker's copy
        try:
            backend = _chat_backend(args)
        except (_StartError, _UsageError) as exc:
            print(f"ws4py chat: worker {index}: {exc}", file=sys.stderr, flush=True)
            return 1
        try:
            server = make_chat_server(
                args.host,
                port,
                ssl_context=ssl_context,
                allowed_origins=args.allowed_origins,
                backend=backend,
                reuse_port=True,
                **_compression_options(args),
            )
            logger.info("Chat worker %d (pid %d) serving on port %d", index, os.getpid(), port)
            ready()
            return _serve(server)
        finally:
            backend.close()

    def announce(pids: list[int]) -> None:
        redis = _safe_redis_url(args.redis)
        detail = (
            f"; {len(pids)} worker processes ({', '.join(map(str, pids))}) sharing the port, "
            f"the chat through Redis at {redis}"
        )
        _announce_chat(args, port, detail)

    try:
        return serve_workers(args.workers, worker, on_ready=announce)
    except WorkerStartError as exc:
        raise _StartError(f"{exc} (see above)") from None
    finally:
        reservation.close()


def _safe_redis_url(url: str) -> str:
    from ws4py.broadcast.redis import redact_url

    return redact_url(url)


# -- the client ------------------------------------------------------------------

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
    """Refuse what is not a ``ws://`` or ``wss://`` URL with a host (a :class:`_UsageError`)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _UsageError(f"invalid URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        hint = "ws" if scheme == "http" else "wss"
        raise _UsageError(
            f"invalid URL {url!r}: {scheme}:// is not a websocket URL (did you mean {hint}://?)"
        )
    if scheme not in ("ws", "wss", "ws+unix", "wss+unix"):
        raise _UsageError(f"invalid URL {url!r}: the scheme must be ws:// or wss://")
    if scheme in ("ws", "wss") and not parts.hostname:
        raise _UsageError(f"invalid URL {url!r}: no host")
    if port == 0:
        raise _UsageError(f"invalid URL {url!r}: port 0")


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
        self.close_info = (code, _reason_text(reason))
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


def _run_connect(args: argparse.Namespace) -> int:
    url: str = args.url
    check_url(url)
    if args.wait < 0:
        raise _UsageError("--wait must not be negative")
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
            **_compression_options(args),
        )
        ws.open_timeout = args.timeout
        ws.connect()
    except (HandshakeError, OSError) as exc:  # before ValueError: TLS errors are both
        console.notice(_connect_error(url, exc, args))
        return EXIT_CONNECT
    except ValueError as exc:  # the client's own URL checks
        raise _UsageError(str(exc)) from None
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


# -- the command line ------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``ws4py`` argument parser and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="ws4py",
        description="WebSocket servers and a client for the shell.",
        epilog="Try: ws4py chat (then open the page), or ws4py echo and "
        "ws4py connect ws://127.0.0.1:9000/",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    echo = sub.add_parser(
        "echo",
        help="run an echo server",
        description="An echo server: every message comes back to its sender. "
        "Connections are logged (opened, closed with their code).",
    )
    _add_server_options(echo, 9000)
    echo.add_argument(
        "--subprotocol",
        action="append",
        dest="subprotocols",
        metavar="NAME",
        help="a subprotocol to accept when a client offers it (repeatable)",
    )
    echo.set_defaults(func=_run_echo)

    chat = sub.add_parser(
        "chat",
        help="run the chat demo (a web page and its websocket)",
        description="A chat room: open http://HOST:PORT/ in several tabs or browsers. "
        "The page's websocket is at /ws (?nick=NAME chooses a nickname); "
        "events are JSON {type: message|join|leave, nick, text, ts}.",
    )
    _add_server_options(chat, 9000)
    chat.add_argument(
        "--redis",
        metavar="URL",
        help="share the chat with every server on this Redis (pub/sub), "
        "e.g. redis://127.0.0.1:6379/0 (needs the redis client: pip install 'ws4py[redis]')",
    )
    chat.add_argument(
        "--redis-prefix",
        default="ws4py:chat:",
        metavar="PREFIX",
        help="Redis channel prefix: servers with the same one share the chat (%(default)s)",
    )
    chat.add_argument(
        "--redis-streams",
        action="store_true",
        help="through Redis Streams instead of pub/sub: a server whose Redis connection "
        "drops gets what it missed once connected again",
    )
    chat.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="run N server processes on the port (SO_REUSEPORT; needs --redis) (%(default)s)",
    )
    chat.set_defaults(func=_run_chat)

    connect = sub.add_parser(
        "connect",
        help="connect to a websocket server and talk to it",
        description="An interactive websocket client: each line read from stdin is "
        "sent as a text message and each message received is printed with a "
        "timestamp. With a pipe for stdin, the lines are sent, replies are "
        "awaited for --wait seconds after the end of input, then the connection "
        "is closed (1000).",
        epilog=CONNECT_HELP + "\nexit status: 0 normal close; 1 cannot connect; 2 usage; "
        "3 closed abnormally or by the peer with a code other than 1000/1001.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    connect.add_argument("url", metavar="URL", help="ws://host[:port]/path or wss://...")
    connect.add_argument(
        "-H",
        "--header",
        action="append",
        dest="headers",
        type=parse_header,
        metavar="'NAME: VALUE'",
        help="an extra request header (repeatable)",
    )
    connect.add_argument(
        "-s",
        "--subprotocol",
        action="append",
        dest="subprotocols",
        metavar="NAME",
        help="a subprotocol to offer (repeatable, in order of preference)",
    )
    connect.add_argument("-o", "--origin", help="the Origin header (default: the URL's)")
    connect.add_argument(
        "-k", "--no-verify", action="store_true", help="do not verify the TLS certificate"
    )
    connect.add_argument("--ca-file", metavar="FILE", help="CA certificates (PEM) to trust")
    connect.add_argument(
        "--no-compression",
        dest="compression",
        action="store_false",
        help="do not offer permessage-deflate compression",
    )
    connect.add_argument(
        "-w",
        "--wait",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="with piped input: how long to wait for replies after its end (%(default)s)",
    )
    connect.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="limit for connecting and the opening handshake (%(default)s)",
    )
    connect.set_defaults(func=_run_connect)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``ws4py`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "connect":
        # The client's output is the conversation: log problems only, on stderr.
        _log_to_stderr(logging.DEBUG if args.verbose else logging.WARNING)
    else:
        configure_logger(level=logging.DEBUG if args.verbose else logging.INFO)
    try:
        result: int = args.func(args)
    except _UsageError as exc:
        print(f"ws4py {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except _StartError as exc:
        print(f"ws4py {args.command}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if args.command == "connect":
            raise
        print(
            f"ws4py {args.command}: cannot listen on {args.host}:{args.port}: "
            f"{exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    return result


def _log_to_stderr(level: int) -> None:
    for handler in list(logger.handlers):
        if getattr(handler, "_ws4py_cli", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("ws4py: %(levelname)s %(message)s"))
    handler._ws4py_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
