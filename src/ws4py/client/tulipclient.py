"""The asyncio client under its classic name: the client is the websocket.

.. code-block:: python

    class Hello(WebSocketTulipClient):
        async def opened(self):
            await self.send("hello")

        def received_message(self, message):
            print(message)

    ws = Hello("ws://127.0.0.1:9007/")
    await ws.connect()
    await ws.wait_closed()
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from ws4py.async_websocket import WebSocket, WebSocketProtocol, connect
from ws4py.client import make_ssl_context
from ws4py.client.target import parse_url
from ws4py.extensions import ClientExtensionFactory

__all__ = ["WebSocketTulipClient"]


class WebSocketTulipClient(WebSocket):
    """An asyncio websocket client whose handlers are its own methods.

    :meth:`connect` may be called again once a connection is over.
    ``heartbeat_freq`` is the keepalive interval: the core's one keepalive
    (a ping once the server was silent that long, 1011 when its pong does
    not come back in time), as ``keepalive_interval`` on every flavour.
    """

    def __init__(
        self,
        url: str,
        protocols: list[str] | None = None,
        extensions: list[Any] | None = None,
        heartbeat_freq: float | None = None,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        headers: list[tuple[str, str]] | None = None,
        exclude_headers: list[str] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        # Not connected yet: the protocol and the core come with connect().
        self.url = url
        self.offered_protocols = protocols
        self.offered_extensions: list[ClientExtensionFactory] | None = (
            None
            if extensions is None
            else [ext for ext in extensions if isinstance(ext, ClientExtensionFactory)]
        )
        self.ssl_options = ssl_options
        self.headers = headers
        self.exclude_headers = exclude_headers
        if heartbeat_freq:
            self.keepalive_interval = heartbeat_freq

    async def connect(self) -> None:
        """Open the connection; :meth:`opened` runs once it is up."""
        context = None
        if parse_url(self.url).secure:  # the scheme as connect() reads it
            context = make_ssl_context(self.ssl_options)

        def bind(
            proto: WebSocketProtocol,
            protocols: list[str] | None,
            extensions: list[Any] | None,
            environ: dict[str, Any] | None,
        ) -> WebSocket:
            WebSocket.__init__(self, proto, protocols, extensions, environ)
            return self

        await connect(
            self.url,
            type(self),
            protocols=self.offered_protocols,
            extensions=self.offered_extensions,
            headers=self.headers,
            exclude_headers=self.exclude_headers,
            ssl_context=context,
            make_websocket=bind,
        )
