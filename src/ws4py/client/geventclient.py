"""A websocket client run in a greenlet (classic API).

.. code-block:: python

    from gevent import monkey; monkey.patch_all()
    from ws4py.client.geventclient import WebSocketClient

    ws = WebSocketClient("ws://127.0.0.1:9000/", protocols=["http-only", "chat"])
    ws.connect()
    ws.send("hello")
    print(ws.receive())      # the next message; None once the connection is over
    ws.close()

:meth:`WebSocketClient.connect` opens the connection, then a greenlet reads
it; messages go to :attr:`WebSocketClient.messages` (a
:class:`gevent.queue.Queue`) unless ``received_message`` is overridden.
Monkey patching is optional: without it the client uses gevent's sockets
(TCP, Unix, TLS) and locks itself, so nothing blocks the hub; proxies need
monkey patching.
"""

from __future__ import annotations

import socket
from typing import Any

import gevent
import gevent.socket
import gevent.ssl
from gevent import monkey
from gevent.queue import Queue

from ws4py.client import WebSocketBaseClient, make_ssl_context
from ws4py.messaging import Message
from ws4py.server.geventserver import make_cooperative, run_websocket

__all__ = ["WebSocketClient"]

#: Queued after the last message, once the connection is over.
_CLOSED = StopIteration


def _patched(module: str) -> bool:
    return bool(monkey.is_module_patched(module))


class WebSocketClient(WebSocketBaseClient):
    """A websocket client whose connection is read by a greenlet.

    Arguments are those of :class:`ws4py.client.WebSocketBaseClient` (keyword
    arguments such as ``proxy`` are passed on).
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
        **kwargs: Any,
    ) -> None:
        super().__init__(
            url,
            protocols=protocols,
            extensions=extensions,
            heartbeat_freq=heartbeat_freq,
            ssl_options=ssl_options,
            headers=headers,
            exclude_headers=exclude_headers,
            **kwargs,
        )
        #: The messages received, in order, then ``StopIteration`` once closed.
        self.messages: Queue = Queue()
        self._th: gevent.Greenlet | None = None
        make_cooperative(self)

    # -- cooperative sockets without monkey patching --------------------------------

    def _new_socket(self) -> socket.socket:
        if _patched("socket"):
            return super()._new_socket()
        family = socket.AF_UNIX if self.unix_socket_path else socket.AF_INET
        return gevent.socket.socket(family, socket.SOCK_STREAM)  # type: ignore[no-any-return]

    def _open_tcp(self) -> socket.socket:
        if _patched("socket"):
            return super()._open_tcp()
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.unix_socket_path:
            sock = gevent.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.open_timeout)
            try:
                sock.connect(self.unix_socket_path)
            except BaseException:
                sock.close()
                raise
            return sock  # type: ignore[no-any-return]
        sock = gevent.socket.create_connection(
            (self.host, self._tcp_port()), timeout=self.open_timeout
        )
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock  # type: ignore[no-any-return]

    def _wrap_tls(self, sock: socket.socket) -> socket.socket:
        if _patched("ssl") or not isinstance(sock, gevent.socket.socket):
            return super()._wrap_tls(sock)
        context = make_ssl_context(self.ssl_options)
        # gevent's cooperative TLS socket over the context the options describe.
        return gevent.ssl.SSLSocket(  # type: ignore[no-any-return]
            sock=sock, server_hostname=self.host, _context=context
        )

    # -- the greenlet ---------------------------------------------------------------------

    def handshake_ok(self) -> None:
        """Start the greenlet that reads the connection (it calls :meth:`opened` first)."""
        self.messages = Queue()
        self._th = gevent.spawn(self._run)

    def _run(self) -> None:
        try:
            run_websocket(self)
        finally:
            self.messages.put(_CLOSED)

    def run_forever(self) -> None:
        """Block (this greenlet) until the connection is over."""
        if self._th is not None:
            self._th.join()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the connection to end; True if it did within ``timeout``."""
        if self._th is None:
            return True
        self._th.join(timeout)
        return bool(self._th.dead)

    # -- messages --------------------------------------------------------------------------

    def received_message(self, message: Message) -> None:
        """Queue the message for :meth:`receive` (override to handle it directly)."""
        self.messages.put(message)

    def receive(self, block: bool = True) -> Message | None:
        """The next message, or None once the connection is over.

        With ``block=False`` and nothing queued, raises :class:`gevent.queue.Empty`.
        """
        if self.terminated and self.messages.empty():
            return None
        message = self.messages.get(block=block)
        if message is _CLOSED:
            self.messages.put(_CLOSED)  # later calls return None too
            return None
        return message  # type: ignore[no-any-return]
