"""Several server processes on one port: ``SO_REUSEPORT`` and a small supervisor.

.. code-block:: python

    from ws4py.broadcast.workers import make_reuseport_server, serve_workers

    def worker(index, ready):
        server = make_reuseport_server("0.0.0.0", 9000, app)   # each process its own socket
        server.manager.set_backend(RedisBackend(url))          # created after the fork
        ready()
        server.serve_forever()
        return 0

    serve_workers(4, worker)

With ``SO_REUSEPORT`` (Linux 3.9+, the BSDs) every worker process listens on
the same port with a socket of its own, and the kernel spreads new
connections over them; each process has its own
:class:`~ws4py.manager.WebSocketManager`, so a message for every client goes
through a shared broadcast backend (Redis).  :func:`serve_workers` forks the
workers (POSIX only), restarts one that dies, and stops them all (SIGTERM,
then SIGKILL after ``stop_timeout``) on SIGINT or SIGTERM.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import ssl
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any
from wsgiref.simple_server import make_server as _make_server

from ws4py.server.wsgirefserver import WebSocketWSGIRequestHandler, WSGIServer

__all__ = [
    "ReusePortWSGIServer",
    "WorkerStartError",
    "make_reuseport_server",
    "reserve_port",
    "reuse_port_supported",
    "serve_workers",
]

logger = logging.getLogger("ws4py")


class WorkerStartError(RuntimeError):
    """A worker process failed before it was ready; the others were stopped."""


def reuse_port_supported() -> bool:
    """True where ``SO_REUSEPORT`` balances connections between processes (Linux, BSD)."""
    return hasattr(socket, "SO_REUSEPORT") and hasattr(os, "fork")


class ReusePortWSGIServer(WSGIServer):
    """:class:`~ws4py.server.wsgirefserver.WSGIServer` whose socket has ``SO_REUSEPORT``."""

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


class ReusePortWSGIServer6(ReusePortWSGIServer):
    address_family = socket.AF_INET6


def make_reuseport_server(
    host: str, port: int, app: Callable[..., Any], ssl_context: ssl.SSLContext | None = None
) -> WSGIServer:
    """Like :func:`ws4py.server.wsgirefserver.make_server` with ``SO_REUSEPORT`` set."""
    server_class: type[WSGIServer] = ReusePortWSGIServer6 if ":" in host else ReusePortWSGIServer
    server = _make_server(
        host, port, app, server_class=server_class, handler_class=WebSocketWSGIRequestHandler
    )
    assert isinstance(server, WSGIServer)
    server.ssl_context = ssl_context
    server.initialize_websockets_manager()
    return server


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound (not listening) ``SO_REUSEPORT`` socket holding ``host:port`` (0: any port).

    Listening workers bind the same port; this one never takes connections.
    """
    family = socket.getaddrinfo(host or None, port, 0, socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


Worker = Callable[[int, Callable[[], None]], int]


def serve_workers(
    count: int,
    worker: Worker,
    *,
    ready_timeout: float = 30.0,
    stop_timeout: float = 10.0,
    on_ready: Callable[[list[int]], None] | None = None,
) -> int:
    """Fork ``count`` processes running ``worker(index, ready)`` and supervise them.

    A worker calls ``ready()`` once it serves, and returns its exit status.
    Once all are ready, ``on_ready(pids)`` is called.  A worker that fails
    before it is ready stops everything (:class:`WorkerStartError`); one
    that dies later is restarted.  Returns 0 after SIGINT or SIGTERM, once
    every worker has exited.
    """
    if not hasattr(os, "fork"):
        raise OSError("worker processes need os.fork (POSIX)")
    stopping = False

    def request_stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    children: dict[int, int] = {}  # pid -> worker index
    ready_pipes: dict[int, int] = {}  # read end -> pid, until the worker is ready
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}

    def spawn(index: int) -> None:
        read_end, write_end = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(read_end)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

            def ready() -> None:
                try:
                    os.write(write_end, b"1")
                    os.close(write_end)
                except OSError:
                    pass

            status = 1
            try:
                status = worker(index, ready)
            except KeyboardInterrupt:
                status = 0
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        os.close(write_end)
        children[pid] = index
        ready_pipes[read_end] = pid

    def reap(block: bool) -> list[tuple[int, int]]:
        gone = []
        while children:
            try:
                pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in children:
                gone.append((pid, os.waitstatus_to_exitcode(status)))
            if block:
                break
        return gone

    def stop_all() -> None:
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + stop_timeout
        while children and time.monotonic() < deadline:
            for pid, _ in reap(block=False):
                children.pop(pid, None)
            time.sleep(0.05)
        for pid in list(children):
            logger.warning("Worker %d did not stop in %ss: killing it", pid, stop_timeout)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            children.pop(pid, None)

    try:
        for index in range(count):
            spawn(index)
        announced = False
        deadline = time.monotonic() + ready_timeout
        while not stopping:
            if ready_pipes:
                readable, _, _ = select.select(list(ready_pipes), [], [], 0.1)
                for fd in readable:
                    os.read(fd, 1)
                    os.close(fd)
                    del ready_pipes[fd]
                if not ready_pipes and not announced:
                    announced = True
                    if on_ready is not None:
                        on_ready(sorted(children))
                elif ready_pipes and time.monotonic() > deadline:
                    raise WorkerStartError(f"workers not ready after {ready_timeout}s")
            else:
                time.sleep(0.1)
            for pid, code in reap(block=False):
                index = children.pop(pid)
                pending = [fd for fd, p in ready_pipes.items() if p == pid]
                for fd in pending:
                    os.close(fd)
                    del ready_pipes[fd]
                if stopping:
                    continue
                if pending:
                    raise WorkerStartError(f"worker {index} (pid {pid}) exited with {code}")
                logger.warning("Worker %d (pid %d) exited with %d: restarting it", index, pid, code)
                spawn(index)
                deadline = time.monotonic() + ready_timeout
        return 0
    finally:
        stop_all()
        for fd in ready_pipes:
            os.close(fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
