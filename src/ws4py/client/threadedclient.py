"""A websocket client that reads in a thread of its own (classic API)."""

from __future__ import annotations

import threading
import time
from typing import Any

from ws4py.client import WebSocketBaseClient

__all__ = ["WebSocketClient"]


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
    ) -> None:
        super().__init__(
            url,
            protocols=protocols,
            extensions=extensions,
            heartbeat_freq=heartbeat_freq,
            ssl_options=ssl_options,
            headers=headers,
            exclude_headers=exclude_headers,
        )
        self._daemon = True
        self._th = self._new_thread()

    def _new_thread(self) -> threading.Thread:
        return threading.Thread(target=self.run, name="WebSocketClient", daemon=self._daemon)

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
