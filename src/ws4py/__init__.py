"""ws4py: WebSocket client and server library (RFC 6455, RFC 7692).

The classic ws4py API on a sans-I/O protocol core: :mod:`ws4py.framing`,
:mod:`ws4py.streaming`, :mod:`ws4py.messaging`, :mod:`ws4py.utf8validator`
and :mod:`ws4py.handshake` never touch a socket; :mod:`ws4py.websocket`,
:mod:`ws4py.manager`, :mod:`ws4py.client` and :mod:`ws4py.server` drive them.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from typing import Any

__all__ = [
    "WS_KEY",
    "WS_VERSION",
    "__version__",
    "configure_logger",
    "format_addresses",
]

__version__ = "1.0.0.dev0"

#: The GUID of RFC 6455 section 1.3, appended to the client's key.
WS_KEY = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: Protocol versions this library speaks (RFC 6455 only).
WS_VERSION = (13,)

logger = logging.getLogger("ws4py")
logger.addHandler(logging.NullHandler())

_FORMAT = "[%(asctime)s] %(levelname)s %(message)s"


def configure_logger(
    stdout: bool = True, filepath: str | None = None, level: int = logging.INFO
) -> logging.Logger:
    """Attach handlers to the ``ws4py`` logger and return it.

    As in ws4py 0.6.0, each call adds what it asks for (a call with
    ``filepath`` after one with ``stdout`` logs to both) and sets ``level``;
    unlike 0.6.0, a handler this function already attached for the same
    target (``sys.stdout``, the same file) is reused, its level updated,
    rather than attached again: calling it twice does not print every line
    twice.
    """
    log = logging.getLogger("ws4py")
    log.setLevel(level)
    formatter = logging.Formatter(_FORMAT)
    wanted: list[tuple[type[logging.Handler], Any]] = []
    if filepath:
        wanted.append((logging.handlers.RotatingFileHandler, os.path.abspath(filepath)))
    if stdout:
        wanted.append((logging.StreamHandler, sys.stdout))
    for kind, target in wanted:
        handler: logging.Handler | None = next(
            (h for h in log.handlers if _configured_for(h, kind, target)), None
        )
        if handler is None:
            new: logging.Handler = (
                logging.StreamHandler(target)
                if kind is logging.StreamHandler
                else logging.handlers.RotatingFileHandler(
                    target, maxBytes=10 * 1024 * 1024, backupCount=3
                )
            )
            new._ws4py_configured = True  # type: ignore[attr-defined]
            log.addHandler(new)
            handler = new
        handler.setLevel(level)
        handler.setFormatter(formatter)
    return log


def _configured_for(handler: logging.Handler, kind: type[logging.Handler], target: Any) -> bool:
    """Whether ``handler`` is one :func:`configure_logger` attached for ``target``."""
    if not getattr(handler, "_ws4py_configured", False) or type(handler) is not kind:
        return False
    if isinstance(handler, logging.FileHandler):
        return bool(handler.baseFilename == target)
    return getattr(handler, "stream", None) is target


def format_addresses(ws: Any) -> str:
    """Describe a websocket's two ends for log lines, as 0.6.0 did.

    ``[Local => 127.0.0.1:9000 | Remote => 127.0.0.1:50312]`` when both
    addresses are ``(host, port)`` tuples (an IPv6 4-tuple counts by its
    first two items, which 0.6.0 could not unpack), else ``[Bound to
    '/path/of/the/unix/socket']``.  It never raises (it is called on failure
    paths): a missing attribute counts as ``None``.
    """
    me = getattr(ws, "local_address", None)
    peer = getattr(ws, "peer_address", None)
    if isinstance(me, tuple) and isinstance(peer, tuple):
        return f"[Local => {me[0]}:{me[1]} | Remote => {peer[0]}:{peer[1]}]"
    return f"[Bound to '{me}']"


def host_port(address: Any) -> Any:
    """``(host, port)`` of an IPv6 socket address too (classic: no flowinfo, scope id).

    Here, beside :func:`format_addresses`, so that every flavour (threaded
    and asyncio) takes it without importing another flavour's module; not in
    ``__all__``, which stays ws4py 0.6.0's.
    """
    if isinstance(address, tuple) and len(address) == 4:
        return address[:2]
    return address
