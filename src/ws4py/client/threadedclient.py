"""A websocket client that reads in a thread of its own (classic API)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ws4py.client import WebSocketBaseClient
from ws4py.client.reconnect_policy import Backoff, ReconnectPolicy, reconnect_policy
from ws4py.exc import ConnectionClosedError, HandshakeError
from ws4py.framing import CloseCode
from ws4py.messaging import Message

__all__ = ["ReconnectPolicy", "WebSocketClient"]

logger = logging.getLogger("ws4py")


class WebSocketClient(WebSocketBaseClient):
    """Connects, then runs the connection in a (daemon by default) thread.

    .. code-block:: python

        class Echo(WebSocketClient):
            def opened(self):
                self.send("hello")

            def received_message(self, message):
                print(message)
                self.close()

        ws = Echo("ws://127.0.0.1:9000/ws")
        ws.connect()
        ws.run_forever()

    The reading thread is the only one that feeds the parser: frames that
    arrive together with the handshake response are handed to it too.

    ``proxy``, ``proxy_ssl_options`` and ``max_redirects`` are those of
    :class:`~ws4py.client.WebSocketBaseClient`.  ``reconnect=True`` (or a
    :class:`~ws4py.client.reconnect.ReconnectPolicy`) reopens a connection
    that ended abnormally (1001, 1006, 1011, 1012, 1013, 1014 by default;
    not after a normal close, nor after :meth:`close`), with exponential
    back-off and jitter, in the same reading thread: :meth:`closed` is
    called for the connection that ended, :meth:`reconnecting` before each
    wait, :meth:`opened` again once reconnected (:attr:`reconnects` counts
    them), :meth:`reconnect_failed` when ``max_attempts`` attempts failed.
    :meth:`run_forever` and :meth:`join` wait for the whole session.
    :meth:`close` ends it, also during a back-off.  See
    :mod:`ws4py.client.reconnect` for the rules.
    """

    def __init__(
        self,
        url: str,
        protocols: list[str] | None = None,
        extensions: list[Any] | None = None,
        heartbeat_freq: float | None = None,
        ssl_options: Any = None,
        headers: list[tuple[str, str]] | None = None,
        exclude_headers: list[str] | None = None,
        *,
        proxy: str | bool | None = None,
        proxy_ssl_options: Any = None,
        max_redirects: int = 5,
        reconnect: bool | ReconnectPolicy | None = False,
    ) -> None:
        super().__init__(
            url,
            protocols=protocols,
            extensions=extensions,
            heartbeat_freq=heartbeat_freq,
            ssl_options=ssl_options,
            headers=headers,
            exclude_headers=exclude_headers,
            proxy=proxy,
            proxy_ssl_options=proxy_ssl_options,
            max_redirects=max_redirects,
        )
        #: When and how fast to reconnect (None: never).
        self.reconnect_policy: ReconnectPolicy | None = reconnect_policy(reconnect)
        #: Successful reconnections so far.
        self.reconnects = 0
        #: The error of the last failed reconnection attempt, if any.
        self.reconnect_error: BaseException | None = None
        self._stop_reconnecting = threading.Event()
        self._between_connections = False
        self._reconnect_in_progress = False
        self._local = threading.local()  # .internal: a close() the library starts
        self._daemon = True
        self._th = self._new_thread()

    def _new_thread(self) -> threading.Thread:
        return threading.Thread(
            target=self._run_session, name="WebSocketClient", daemon=self._daemon
        )

    @property
    def daemon(self) -> bool:
        """Whether the reading thread is a daemon thread (default True)."""
        return self._daemon

    @daemon.setter
    def daemon(self, flag: bool) -> None:
        self._daemon = flag
        if not self._th.is_alive():
            self._th.daemon = flag

    def run_forever(self) -> None:
        """Block until the connection ends (Ctrl+C still interrupts)."""
        while self._th.is_alive():
            self._th.join(timeout=0.1)

    def handshake_ok(self) -> None:
        """Start the reading thread, which calls :meth:`opened` first."""
        if self._reconnect_in_progress and threading.current_thread() is self._th:
            return  # an automatic reconnection: this very thread runs the new connection
        if self._th.is_alive() or self._th.ident is not None:
            self._th = self._new_thread()
        self._th.start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the connection to end; True if it did within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._th.is_alive():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self._th.join(timeout=0.1 if remaining is None else min(remaining, 0.1))
        return True

    # -- reconnection ------------------------------------------------------------------

    def reconnecting(self, attempt: int, delay: float) -> None:
        """Reconnection attempt ``attempt`` (from 1) starts in ``delay`` seconds."""

    def reconnect_failed(self, error: BaseException | None) -> None:
        """``max_attempts`` attempts failed, the last one with ``error``: giving up."""

    def connect(self) -> None:
        if threading.current_thread() is not self._th:
            self._stop_reconnecting.clear()  # a new session
        super().connect()

    def close(self, code: int = CloseCode.NORMAL, reason: str | bytes = "") -> None:
        """Start the closing handshake; also ends reconnection (see the class docstring)."""
        if not getattr(self._local, "internal", False):
            self._stop_reconnecting.set()
            if self._between_connections:
                return  # no connection to close; the reading thread stops
        super().close(code, reason)

    def check_deadlines(self, now: float | None = None) -> bool:
        # A keepalive timeout's close(1011) is the library's, not the application's.
        self._local.internal = True
        try:
            return super().check_deadlines(now)
        finally:
            self._local.internal = False

    def _call_handler(self, handler: Any, event: Message | None) -> None:
        def guarded(event: Message | None) -> None:
            try:
                handler(event)
            except ConnectionClosedError:
                raise
            except Exception:
                self._local.internal = True  # the close(1011) that follows is the library's
                raise

        try:
            super()._call_handler(guarded, event)
        finally:
            self._local.internal = False

    def _run_session(self) -> None:
        """The reading thread: run the connection, and the next ones while reconnecting."""
        while True:
            error: Exception | None = None
            try:
                self.run()
            except Exception as exc:
                # A handler's error: run() closed with 1011 (and logged it), then re-raised it.
                error = exc
            if self._th is not threading.current_thread():
                if error is not None:
                    raise error
                return  # connect() was called again (from closed()?): a new thread runs it
            self._between_connections = True
            try:
                reconnected = self._should_reconnect() and self._reconnect()
            finally:
                self._between_connections = False
            if not reconnected:
                if error is not None:
                    raise error  # as 0.6.0: it ends the thread (threading.excepthook)
                return
            if self._stop_reconnecting.is_set():
                super().close()  # close() came while reconnecting: close the new connection

    def _should_reconnect(self) -> bool:
        policy = self.reconnect_policy
        if policy is None or self._stop_reconnecting.is_set():
            return False
        code = self.core.close_code
        if not policy.should_reconnect(code):
            logger.debug("Not reconnecting %s after close code %s", self.url, code)
            return False
        return True

    def _hook(self, hook: Callable[..., None], *args: Any) -> None:
        try:
            hook(*args)
        except Exception:
            logger.exception("Error in a reconnection hook of %s", self.url)

    def _reconnect(self) -> bool:
        """Back off and reconnect; True once connected, False to stop."""
        assert self.reconnect_policy is not None
        backoff = Backoff(self.reconnect_policy)
        error: BaseException | None = None
        while not self._stop_reconnecting.is_set():
            delay = backoff.next_delay()
            attempt = backoff.attempt
            if delay is None:
                logger.warning("Giving up reconnecting to %s: %s", self.url, error)
                self._hook(self.reconnect_failed, error)
                return False
            self._hook(self.reconnecting, attempt, delay)
            if self._stop_reconnecting.wait(delay):
                return False
            self._reconnect_in_progress = True
            try:
                self.connect()
            except (OSError, HandshakeError) as exc:
                error = self.reconnect_error = exc
                logger.info("Reconnection attempt %d to %s failed: %s", attempt, self.url, exc)
                continue
            except Exception as exc:
                logger.exception("Reconnecting to %s failed for good", self.url)
                self.reconnect_error = exc
                self._hook(self.reconnect_failed, exc)
                return False
            finally:
                self._reconnect_in_progress = False
            self.reconnects += 1
            logger.info("Reconnected to %s (attempt %d)", self.url, attempt)
            return True
        return False
