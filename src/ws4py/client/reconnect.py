"""Automatic reconnection: the policy, and its asyncio machinery.

Opt-in: ``WebSocketClient(url, reconnect=True)`` (threaded) or
``await connect(url, Handler, reconnect=True)`` (asyncio), or a
:class:`ReconnectPolicy` for other settings.  What happens:

* The first connection is opened as usual and its errors are raised to the
  caller: reconnection is for connections that were established.
* When a connection ends, :meth:`closed` is called as always.  Then, unless
  the application itself closed it (``close()``), the close code decides:
  ``1001`` (going away: a server shutting down or restarting), ``1006``
  (abnormal: TCP lost, no close frame), ``1011`` (internal error; also our
  own keepalive timeout), ``1012`` (service restart), ``1013`` (try again
  later) and ``1014`` (bad gateway) reconnect (:data:`DEFAULT_RECONNECT_CODES`).
  A normal close by the server (``1000``, or a close frame without a code,
  ``1005``) does not, unless ``reconnect_on_normal_close=True``.  Other
  codes (``1002`` protocol error, ``1003``, ``1007``, ``1008`` policy
  violation, ``1009`` too big, ``1010``, application codes 3000-4999) mean
  the same connection would fail the same way: no reconnection unless they
  are listed in ``reconnect_codes``.
* Each attempt waits first: ``initial * factor ** (attempt - 1)`` seconds,
  at most ``maximum``; with ``jitter`` a random value between half that and
  all of it (so many clients do not come back at once).  The hook
  ``reconnecting(attempt, delay)`` is called before each wait (attempt 1, 2,
  ...).  A failed attempt (:class:`OSError`, :class:`~ws4py.exc.HandshakeError`,
  a timeout) leads to the next one; the attempts of one outage are counted
  from 1 again after a success.  After ``max_attempts`` failures (None: no
  limit), ``reconnect_failed(error)`` is called and the client stops.
* A new connection calls :meth:`opened` again: the place to subscribe
  again.  ``reconnects`` counts the successful reconnections, and the
  error of the last failed attempt is in ``reconnect_error``.
* ``close()`` stops it all: it closes the current connection and cancels a
  pending attempt, whatever the code given.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ws4py.asyncio.connection import WebSocket as AsyncWebSocket
from ws4py.asyncio.connection import WebSocketProtocol, call_handler
from ws4py.client.reconnect_policy import (
    DEFAULT_RECONNECT_CODES,
    NORMAL_CLOSE_CODES,
    Backoff,
    ReconnectPolicy,
    reconnect_policy,
)
from ws4py.exc import HandshakeError
from ws4py.framing import CloseCode
from ws4py.messaging import Message

__all__ = [
    "DEFAULT_RECONNECT_CODES",
    "NORMAL_CLOSE_CODES",
    "Backoff",
    "ReconnectPolicy",
    "ReconnectingWebSocket",
    "reconnect_policy",
    "reconnecting_class",
]

logger = logging.getLogger("ws4py")


#: ``reopen(make_websocket)``: connect again, binding the connection with ``make_websocket``.
Reopen = Callable[[Callable[..., AsyncWebSocket]], Awaitable[AsyncWebSocket]]


class ReconnectingWebSocket(AsyncWebSocket):
    """What ``connect(..., reconnect=...)`` returns: one websocket for many connections.

    :func:`reconnecting_class` puts it right above
    :class:`ws4py.async_websocket.WebSocket` in the handler class's bases, so
    the application's overrides come first.  Messages keep flowing through
    :meth:`receive` / ``async for`` across reconnections; they end (None)
    when the session does.  :meth:`wait_closed` waits for the end of the
    session, not of one connection.  Hooks (plain or coroutines):
    ``reconnecting(attempt, delay)`` and ``reconnect_failed(error)``.
    """

    reconnect_policy: ReconnectPolicy
    #: The URL of the current connection (after redirects).
    final_url: str
    #: Successful reconnections so far.
    reconnects: int = 0
    #: The error of the last failed attempt, if any.
    reconnect_error: BaseException | None = None

    def _init_session(self, policy: ReconnectPolicy, reopen: Reopen) -> None:
        self.reconnect_policy = policy
        self.reconnects = 0
        self.reconnect_error = None
        self._reopen = reopen
        self._stop_requested = False
        self._session_over = False
        self._session_closed = asyncio.Event()
        self._reconnect_task: asyncio.Task[None] | None = None

    # -- hooks ---------------------------------------------------------------------

    def reconnecting(self, attempt: int, delay: float) -> Any:
        """Attempt ``attempt`` starts in ``delay`` seconds (may be a coroutine)."""

    def reconnect_failed(self, error: BaseException | None) -> Any:
        """``max_attempts`` attempts failed (the last one with ``error``): giving up."""

    # -- the application's side -------------------------------------------------------

    async def receive(self) -> Message | None:
        """The next message of any connection; None once the session is over."""
        while True:
            if self._inbox.empty() and self._session_over:
                return None
            message = await self._inbox.get()
            if message is not None:
                return message
            # None: one connection ended; the next may follow.

    async def wait_closed(self) -> None:
        """Wait until the last connection is over and no other will follow."""
        await self._session_closed.wait()

    async def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Close the connection and stop reconnecting (cancels a pending attempt)."""
        self._stop_requested = True
        task = self._reconnect_task
        if task is not None and not task.done():
            task.cancel()
        await super().close(code, reason)

    # -- the connections -------------------------------------------------------------------

    def _rebind(
        self,
        proto: WebSocketProtocol,
        protocols: list[str] | None,
        extensions: list[Any] | None,
        environ: dict[str, Any] | None,
    ) -> ReconnectingWebSocket:
        """Take a new connection (the ``make_websocket`` of a reconnection)."""
        self.rebind(proto, protocols, extensions, environ)
        return self

    def _start(self, pending: bytes) -> None:
        super()._start(pending)
        assert self._task is not None
        self._task.add_done_callback(self._connection_done)

    def _connection_done(self, task: asyncio.Task[None]) -> None:
        if task is not self._task:
            return
        code = self.core.close_code
        if self._stop_requested or not self.reconnect_policy.should_reconnect(code):
            self._end_session()
            return
        logger.info("Connection to %s ended with %s: reconnecting", self, code)
        self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect())

    def _end_session(self) -> None:
        if self._session_over:
            return
        self._session_over = True
        self._session_closed.set()
        try:
            self._inbox.put_nowait(None)  # wakes a receive() waiting on an empty inbox
        except asyncio.QueueFull:
            pass

    async def _hook(self, handler: Callable[..., Any], *args: Any) -> None:
        try:
            await call_handler(handler, *args)
        except Exception:
            logger.exception("Error in a reconnection hook of %s", self)

    async def _reconnect(self) -> None:
        backoff = Backoff(self.reconnect_policy)
        error: BaseException | None = None
        try:
            while not self._stop_requested:
                delay = backoff.next_delay()
                attempt = backoff.attempt
                if delay is None:
                    logger.warning("Giving up reconnecting %s: %s", self, error)
                    await self._hook(self.reconnect_failed, error)
                    break
                await self._hook(self.reconnecting, attempt, delay)
                await asyncio.sleep(delay)
                if self._stop_requested:
                    break
                try:
                    await self._reopen(self._rebind)
                except (OSError, HandshakeError, asyncio.TimeoutError) as exc:
                    error = self.reconnect_error = exc
                    logger.info("Reconnection attempt %d failed: %s", attempt, exc)
                    continue
                except Exception as exc:
                    logger.exception("Reconnection failed for good")
                    self.reconnect_error = exc
                    await self._hook(self.reconnect_failed, exc)
                    break
                self.reconnects += 1
                return  # the new connection's end decides what comes next
        except asyncio.CancelledError:
            if self._task is not None and not self._task.done():
                # close() came while the new connection was being bound.
                try:
                    self.start_close(CloseCode.NORMAL, "")
                except Exception:
                    self.proto.abort()
                return
            self._end_session()
            raise
        self._end_session()


_classes: dict[type[AsyncWebSocket], type[ReconnectingWebSocket]] = {}


def reconnecting_class(cls: type[AsyncWebSocket]) -> type[ReconnectingWebSocket]:
    """``cls`` with :class:`ReconnectingWebSocket` just above the base websocket class.

    Why a class per handler class, made here: the application's class
    ``cls`` (any subclass of the asyncio websocket) must keep its overrides
    first, while :class:`ReconnectingWebSocket`'s ``receive``/``close``/
    ``wait_closed`` replace the base class's for the whole session; only
    ``class Reconnecting(cls, ReconnectingWebSocket)`` gives that order
    (``isinstance`` of both holds), and ``cls`` is only known at
    ``connect()``.  Cached: one subclass per handler class, named as it.
    """
    if issubclass(cls, ReconnectingWebSocket):
        return cls
    made = _classes.get(cls)
    if made is None:

        class Reconnecting(cls, ReconnectingWebSocket):  # type: ignore[valid-type,misc]
            __doc__ = cls.__doc__

        Reconnecting.__name__ = cls.__name__
        Reconnecting.__qualname__ = cls.__qualname__
        Reconnecting.__module__ = cls.__module__
        made = _classes[cls] = Reconnecting
    return made
