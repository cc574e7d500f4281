"""ws4py: WebSocket client and server library (RFC 6455, RFC 7692).

The classic ws4py API on a sans-I/O protocol core: :mod:`ws4py.framing`,
:mod:`ws4py.streaming`, :mod:`ws4py.messaging`, :mod:`ws4py.utf8validator`
and :mod:`ws4py.handshake` never touch a socket; :mod:`ws4py.websocket`,
:mod:`ws4py.manager`, :mod:`ws4py.client` and :mod:`ws4py.server` drive them.
"""

from __future__ import annotations

import logging
import logging.handlers
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

    Handlers are replaced rather than added, so calling this twice does not
    print every line twice.
    """
    log = logging.getLogger("ws4py")
    log.setLevel(level)
    for handler in list(log.handlers):
        if getattr(handler, "_ws4py_configured", False):
            log.removeHandler(handler)
            handler.close()
    formatter = logging.Formatter(_FORMAT)
    handlers: list[logging.Handler] = []
    if filepath:
        handlers.append(
            logging.handlers.RotatingFileHandler(
                filepath, maxBytes=10 * 1024 * 1024, backupCount=3
            )
        )
    if stdout:
        handlers.append(logging.StreamHandler(sys.stdout))
    for handler in handlers:
        handler.setLevel(level)
        handler.setFormatter(formatter)
        handler._ws4py_configured = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    return log


def _format_address(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        if ":" in str(host):
            return f"[{host}]:{port}"
        return f"{host}:{port}"
    if address in (None, "", b""):
        return "?"
    return str(address)


def format_addresses(ws: Any) -> str:
    """Describe a websocket's two ends for log lines: ``[Local => 1.2.3.4:80 | Remote => ...]``."""
    return (
        f"[Local => {_format_address(getattr(ws, 'local_address', None))}"
        f" | Remote => {_format_address(getattr(ws, 'peer_address', None))}]"
    )
