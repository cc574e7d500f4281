"""Connection caps shared by the servers: how many connections may be open at once.

:class:`ConnectionLimiter` counts the connections a server holds open (from the
TCP accept to the socket's close: handshake, plain HTTP or websocket), in all
and per client IP address, and tells the server whether one more is admitted.
The wsgiref server (``WSGIServer.max_connections`` / ``max_connections_per_ip``)
and the asyncio server (``serve(max_connections=, max_connections_per_ip=)``)
use it; connections beyond a cap are answered :data:`BUSY_STATUS` and closed.
See SECURITY.md for what the caps protect and what they leave to the deployment.
"""

from __future__ import annotations

import logging
import threading

from ws4py.exc import HandshakeError
from ws4py.handshake import reject_response_bytes

__all__ = ["BUSY_STATUS", "ConnectionLimiter", "busy_response"]

#: The HTTP status of a connection refused by a cap (503 Service Unavailable).
BUSY_STATUS = 503


def busy_response(retry_after: int = 1) -> bytes:
    """The complete HTTP response refusing a connection beyond a cap."""
    return reject_response_bytes(
        HandshakeError(
            "too many connections, try again later",
            status=BUSY_STATUS,
            headers=[("Retry-After", str(retry_after))],
        )
    )


class ConnectionLimiter:
    """Open connections, in all and per IP address, against optional caps (thread-safe).

    ``admit(ip)`` counts one more connection and returns True, unless it would
    exceed ``max_connections`` (in all) or ``max_connections_per_ip`` (from
    ``ip``): then it counts nothing and returns False.  Every admitted
    connection is given back once with ``release(ip)``.  A cap of ``None``
    means no cap; the caps may be changed at any time.
    """

    def __init__(
        self, max_connections: int | None = None, max_connections_per_ip: int | None = None
    ) -> None:
        for name, value in (
            ("max_connections", max_connections),
            ("max_connections_per_ip", max_connections_per_ip),
        ):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be None or at least 1, not {value!r}")
        self.max_connections = max_connections
        self.max_connections_per_ip = max_connections_per_ip
        self._lock = threading.Lock()
        self._total = 0
        self._by_ip: dict[str, int] = {}
        #: Connections refused so far.
        self.refused = 0

    @property
    def total(self) -> int:
        """Connections open now."""
        return self._total

    def count(self, ip: str) -> int:
        """Connections open now from ``ip``."""
        return self._by_ip.get(ip, 0)

    def admit(self, ip: str) -> bool:
        """Count a new connection from ``ip`` unless a cap forbids it (False: refused)."""
        total_cap, ip_cap = self.max_connections, self.max_connections_per_ip
        with self._lock:
            current = self._by_ip.get(ip, 0)
            if (total_cap is not None and self._total >= total_cap) or (
                ip_cap is not None and current >= ip_cap
            ):
                self.refused += 1
                return False
            self._total += 1
            self._by_ip[ip] = current + 1
            return True

    def log_refusal(self, logger: logging.Logger, ip: str) -> None:
        """Log a refusal: a warning for the 1st, 10th, 100th and every 1000th, else debug."""
        n = self.refused
        level = logging.WARNING if n in (1, 10, 100) or not n % 1000 else logging.DEBUG
        logger.log(
            level,
            "Refused a connection from %s (%d refused so far): %d open, max_connections=%s, "
            "max_connections_per_ip=%s",
            ip, n, self._total, self.max_connections, self.max_connections_per_ip,
        )  # fmt: skip

    def release(self, ip: str) -> None:
        """Give back a connection :meth:`admit` counted."""
        with self._lock:
            current = self._by_ip.get(ip, 0)
            if current <= 0:
                raise RuntimeError(f"release({ip!r}) without a matching admit()")
            self._total -= 1
            if current == 1:
                del self._by_ip[ip]
            else:
                self._by_ip[ip] = current - 1
