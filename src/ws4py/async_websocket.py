"""The asyncio websocket: the same handlers, on an event loop.

An :class:`asyncio.Protocol` adapter over :class:`ws4py.connection.Connection`
(no second copy of any protocol rule).  The application's handlers
(``opened``, ``received_message``, ``ponged``, ``closed``) may be plain
functions or coroutines; they run in one task per connection, in the order
the events arrived.  Without a ``received_message`` override, messages
queue up for ``await ws.receive()`` or ``async for message in ws``.

Backpressure both ways: when the application falls behind, reading pauses
(``max_queue`` events waiting) until it catches up; when the peer reads
slowly, :meth:`WebSocket.send` waits for the transport's buffer to drain.
Keepalive pings with a timeout, and a bounded closing handshake, as in the
threaded flavour.  Works on any asyncio loop, uvloop included.

This module is the public face of the flavour: the websocket and the server
come from :mod:`ws4py.asyncio.connection`, :func:`connect` from the client
machinery (:mod:`ws4py.client._async_connect`), loaded on first use so that
importing the websocket does not load the client modules (they import the
websocket: neither imports this module, so there is no import cycle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ws4py.asyncio.connection import EchoWebSocket, WebSocket, WebSocketProtocol, serve

if TYPE_CHECKING:
    from ws4py.client._async_connect import connect

__all__ = [
    "EchoWebSocket",
    "WebSocket",
    "WebSocketProtocol",
    "connect",
    "serve",
]


def __getattr__(name: str) -> Any:
    """``connect``, imported when first asked for (see the module's docstring)."""
    if name == "connect":
        from ws4py.client._async_connect import connect

        globals()["connect"] = connect
        return connect
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
