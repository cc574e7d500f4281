"""The reconnection policy: which close codes reopen a connection, and how fast.

Shared by the threaded and the asyncio client (:mod:`ws4py.client.reconnect`
describes the behaviour and holds the asyncio machinery); it imports neither
flavour, so that the threaded client does not load the asyncio websocket.
Sans I/O: :meth:`ReconnectPolicy.should_reconnect` decides whether to
reconnect, :class:`Backoff` numbers the attempts of one outage and gives
each one's delay; the clients only wait and connect.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection
from dataclasses import dataclass, field

from ws4py.framing import CloseCode

__all__ = [
    "DEFAULT_RECONNECT_CODES",
    "NORMAL_CLOSE_CODES",
    "Backoff",
    "ReconnectPolicy",
    "reconnect_policy",
]

#: Close codes after which the client reconnects by default.
DEFAULT_RECONNECT_CODES: frozenset[int] = frozenset(
    {
        CloseCode.GOING_AWAY,
        CloseCode.ABNORMAL,
        CloseCode.INTERNAL_ERROR,
        CloseCode.SERVICE_RESTART,
        CloseCode.TRY_AGAIN_LATER,
        CloseCode.BAD_GATEWAY,
    }
)
#: Close codes of a normal close: reconnect only with ``reconnect_on_normal_close``.
NORMAL_CLOSE_CODES: frozenset[int] = frozenset({CloseCode.NORMAL, CloseCode.NO_STATUS})


@dataclass(frozen=True)
class ReconnectPolicy:
    """When and how fast to reconnect (see the module docstring).

    ``initial`` seconds before the first attempt, multiplied by ``factor``
    at each failed attempt up to ``maximum``; ``jitter`` draws each delay
    between half its value and its value; ``max_attempts`` attempts per
    outage (None: no limit).
    """

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: bool = True
    max_attempts: int | None = None
    reconnect_on_normal_close: bool = False
    reconnect_codes: Collection[int] = field(default=DEFAULT_RECONNECT_CODES)

    def __post_init__(self) -> None:
        if not (self.initial >= 0 and math.isfinite(self.initial)):
            raise ValueError(f"initial must be a finite delay >= 0, not {self.initial!r}")
        if not self.maximum >= self.initial:
            raise ValueError(f"maximum ({self.maximum!r}) must be >= initial ({self.initial!r})")
        if not self.factor >= 1:
            raise ValueError(f"factor must be >= 1, not {self.factor!r}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be None or >= 1, not {self.max_attempts!r}")
        object.__setattr__(self, "reconnect_codes", frozenset(self.reconnect_codes))

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (1 for the first)."""
        try:
            delay = self.initial * self.factor ** max(attempt - 1, 0)
        except OverflowError:
            delay = self.maximum
        delay = min(delay, self.maximum)
        if self.jitter:
            delay *= random.uniform(0.5, 1.0)
        return delay

    def should_reconnect(self, code: int) -> bool:
        """Whether a connection that ended with ``code`` is to be reopened."""
        if code in NORMAL_CLOSE_CODES:
            return self.reconnect_on_normal_close
        return code in self.reconnect_codes


def reconnect_policy(value: bool | ReconnectPolicy | None) -> ReconnectPolicy | None:
    """The policy for a ``reconnect=`` argument: True means the defaults."""
    if value is None or value is False:
        return None
    if value is True:
        return ReconnectPolicy()
    if isinstance(value, ReconnectPolicy):
        return value
    raise TypeError(f"reconnect must be a bool or a ReconnectPolicy, not {type(value).__name__}")


class Backoff:
    """The attempts of one outage under ``policy``: numbered from 1, each with its delay.

    Both clients' reconnection loops ask :meth:`next_delay` before each
    attempt and stop when it says None (``max_attempts`` attempts failed).
    """

    def __init__(self, policy: ReconnectPolicy) -> None:
        self.policy = policy
        #: The number of the current attempt (0 before the first).
        self.attempt = 0

    def next_delay(self) -> float | None:
        """Count the next attempt; the seconds to wait before it, or None to give up."""
        self.attempt += 1
        limit = self.policy.max_attempts
        if limit is not None and self.attempt > limit:
            return None
        return self.policy.delay(self.attempt)
