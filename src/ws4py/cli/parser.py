"""The ``ws4py`` command line: its argument parser and main(), which runs a subcommand."""

from __future__ import annotations

import argparse
import logging
import sys

from ws4py import configure_logger
from ws4py.cli.common import EXIT_USAGE, StartError, UsageError
from ws4py.cli.connect import CONNECT_HELP, parse_header, run_connect
from ws4py.cli.serve import run_chat, run_echo

logger = logging.getLogger("ws4py")

__all__ = ["build_parser", "main"]


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
    echo.set_defaults(func=run_echo)

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
    chat.set_defaults(func=run_chat)

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
    connect.set_defaults(func=run_connect)
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
    except UsageError as exc:
        print(f"ws4py {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StartError as exc:
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
