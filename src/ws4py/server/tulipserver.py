"""The asyncio server under its classic name (``tulip`` was asyncio's codename).

.. code-block:: python

    from ws4py.async_websocket import EchoWebSocket
    from ws4py.server.tulipserver import WebSocketProtocol

    server = await loop.create_server(lambda: WebSocketProtocol(EchoWebSocket), "", 9007)

:func:`ws4py.async_websocket.serve` does the same in one call.
"""

from __future__ import annotations

from ws4py.async_websocket import WebSocketProtocol, serve

__all__ = ["WebSocketProtocol", "serve"]
