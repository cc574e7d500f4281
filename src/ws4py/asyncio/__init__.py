"""The asyncio flavour's implementation (the public names are in :mod:`ws4py.async_websocket`).

:mod:`ws4py.asyncio.connection` holds the websocket, the server and the
client protocols; it imports no client module, so that the client side
(:mod:`ws4py.client.reconnect`, the connect machinery) builds on it without
an import cycle.
"""
