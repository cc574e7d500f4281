"""``ws4py echo`` and ``ws4py chat``: the servers of the command line."""

from __future__ import annotations

import argparse
import logging
import signal
import ssl
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ws4py import format_addresses
from ws4py.cli.common import (
    EXIT_OK,
    StartError,
    UsageError,
    compression_options,
    reason_text,
)
from ws4py.websocket import EchoWebSocket

logger = logging.getLogger("ws4py")

__all__ = ["LoggingEchoWebSocket", "run_chat", "run_echo"]


class LoggingEchoWebSocket(EchoWebSocket):
    """The echo server's handler: logs each connection's opening and its close code."""

    def opened(self) -> None:
        logger.info("Connection opened %s", format_addresses(self))

    def closed(self, code: int, reason: bytes | str | None = None) -> None:
        text = reason_text(reason)
        logger.info(
            "Connection closed %s: code %s%s",
            format_addresses(self),
            code,
            f" ({text})" if text else "",
        )


def _server_ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.certfile:
        if args.keyfile:
            raise UsageError("--keyfile needs --certfile")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(args.certfile, args.keyfile)
    except (OSError, ssl.SSLError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise StartError(f"cannot load the TLS certificate {args.certfile}: {detail}") from None
    return context


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


def run_echo(args: argparse.Namespace) -> int:
    """``ws4py echo``: serve until Ctrl+C or SIGTERM."""
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
        **compression_options(args),
    )
    scheme = "wss" if args.certfile else "ws"
    port = server.server_address[1]
    print(
        f"ws4py echo server on {scheme}://{_browse_host(args.host)}:{port}/ (Ctrl+C to stop)",
        flush=True,
    )
    return _serve(server)


def _chat_backend(args: argparse.Namespace) -> Any:
    """The chat's Redis backend, connected; StartError when Redis cannot be reached."""
    try:
        from ws4py.broadcast.redis import RedisBackend, RedisStreamBackend
    except ImportError as exc:
        raise StartError(f"--redis: {exc}") from None
    from ws4py.broadcast import BroadcastError

    cls = RedisStreamBackend if args.redis_streams else RedisBackend
    try:
        backend = cls(args.redis, channel_prefix=args.redis_prefix)
    except BroadcastError as exc:
        raise UsageError(f"--redis: {exc}") from None
    deadline = time.monotonic() + 5.0
    while not backend.wait_connected(timeout=0.05):
        # Refused three times in a row, or no answer in 5 s: not there.
        if backend.failed_attempts < 3 and time.monotonic() < deadline:
            continue
        error = backend.last_error
        backend.close()
        raise StartError(f"cannot reach Redis at {backend.safe_url}: {error}")
    return backend


def _announce_chat(args: argparse.Namespace, port: int, detail: str = "") -> None:
    secure = bool(args.certfile)
    address = f"{_browse_host(args.host)}:{port}"
    url = f"{'https' if secure else 'http'}://{address}/"
    ws_url = f"{'wss' if secure else 'ws'}://{address}/ws"
    print(f"ws4py chat on {url} (websocket: {ws_url}{detail}; Ctrl+C to stop)", flush=True)
    print(f"Open {url} in a browser (add ?nick=NAME to choose a nickname)", flush=True)


def run_chat(args: argparse.Namespace) -> int:
    """``ws4py chat`` (what ``make run`` starts): one process, or ``--workers`` with Redis."""
    from ws4py.demo.chat import make_chat_server

    ssl_context = _server_ssl_context(args)
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.workers > 1:
        if not args.redis:
            raise UsageError(
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
            **compression_options(args),
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
        raise UsageError("--workers needs SO_REUSEPORT and fork (Linux, BSD)")
    _check_port_free(args.host, args.port)
    _chat_backend(args).close()  # Redis is reachable: fail here, not in every worker
    reservation = reserve_port(args.host, args.port)
    port = reservation.getsockname()[1]

    def worker(index: int, ready: Callable[[], None]) -> int:
        reservation.close()  # the worker's copy
        try:
            backend = _chat_backend(args)
        except (StartError, UsageError) as exc:
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
                **compression_options(args),
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
        raise StartError(f"{exc} (see above)") from None
    finally:
        reservation.close()


def _safe_redis_url(url: str) -> str:
    from ws4py.broadcast.redis import redact_url

    return redact_url(url)
