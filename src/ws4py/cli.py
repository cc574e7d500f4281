"""The ``ws4py`` command: ``echo`` serves an echo endpoint from the shell.

Every subcommand logs through the ``ws4py`` logger and exits non-zero with a
clear message when it cannot start (port in use, bad certificate).
"""

from __future__ import annotations

import argparse
import logging
import ssl
import sys

from ws4py import configure_logger
from ws4py.websocket import EchoWebSocket

__all__ = ["main"]

logger = logging.getLogger("ws4py")


def _server_ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.certfile:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.certfile, args.keyfile)
    return context


def _add_server_options(parser: argparse.ArgumentParser, port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=port, help="port to listen on")
    parser.add_argument("--certfile", help="TLS certificate (PEM): serve wss://")
    parser.add_argument("--keyfile", help="TLS private key (PEM), if not in --certfile")
    parser.add_argument(
        "--allowed-origin",
        action="append",
        dest="allowed_origins",
        help="accept only this Origin (repeatable)",
    )


def _run_echo(args: argparse.Namespace) -> int:
    from ws4py.server.wsgirefserver import make_server

    server = make_server(
        args.host,
        args.port,
        EchoWebSocket,
        ssl_context=_server_ssl_context(args),
        allowed_origins=args.allowed_origins,
    )
    scheme = "wss" if args.certfile else "ws"
    host, port = server.server_address[:2]
    print(f"ws4py echo server on {scheme}://{host!s}:{port}/ (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ws4py", description="WebSocket tools")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    echo = sub.add_parser("echo", help="run an echo server")
    _add_server_options(echo, 9000)
    echo.set_defaults(func=_run_echo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logger(level=logging.DEBUG if args.verbose else logging.INFO)
    try:
        result: int = args.func(args)
    except OSError as exc:
        print(f"ws4py: {exc}", file=sys.stderr)
        return 1
    return result
