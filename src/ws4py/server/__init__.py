"""Websocket servers: a WSGI application and the servers that host it.

* :mod:`ws4py.server.wsgiutils` -- :class:`WebSocketWSGIApplication`, for any
  WSGI server that exposes the connection's socket as ``environ['ws4py.socket']``;
* :mod:`ws4py.server.wsgirefserver` -- a ready server on the standard library.
"""
