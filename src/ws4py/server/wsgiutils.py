"""A WSGI application that upgrades requests to websockets (classic API).

Any WSGI server that puts the connection's socket in
``environ['ws4py.socket']`` can host it; the server then takes the websocket
the application left in ``environ['ws4py.websocket']`` and runs it (see
:mod:`ws4py.server.wsgirefserver`).  Bad upgrade requests are answered with
the status :mod:`ws4py.handshake` chose (400, 403, 405 or 426), never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from hashlib import sha1 as sha1  # names ws4py 0.6.0 had here (issue #21, row 16)
from typing import Any

from ws4py import WS_KEY as WS_KEY
from ws4py import WS_VERSION as WS_VERSION
from ws4py import format_addresses as format_addresses
from ws4py.compat import py3k as py3k
from ws4py.compat import unicode as unicode
from ws4py.exc import HandshakeError
from ws4py.extensions import ServerExtensionFactory, default_server_extensions
from ws4py.handshake import SubprotocolSelector, validate_environ
from ws4py.http11 import reason_phrase
from ws4py.websocket import WebSocket

__all__ = ["WebSocketWSGIApplication"]

logger = logging.getLogger("ws4py")

StartResponse = Callable[..., Any]


class WebSocketWSGIApplication:
    """Validates the upgrade request, answers 101 and creates the websocket.

    ``protocols`` are the subprotocols this server speaks (one is selected
    from the client's offer, in the client's order of preference, unless
    :meth:`select_subprotocol` is overridden); ``extensions`` are
    :class:`ws4py.extensions.ServerExtensionFactory` objects, by default
    permessage-deflate (``[]`` turns compression off; classic extension
    names are accepted: ``"permessage-deflate"`` means the default factory,
    other names are ignored); ``allowed_origins`` restricts the ``Origin``
    header (403 otherwise).
    """

    def __init__(
        self,
        protocols: list[str] | None = None,
        extensions: Iterable[ServerExtensionFactory | str] | None = None,
        handler_cls: type[WebSocket] = WebSocket,
        allowed_origins: list[str] | None = None,
    ) -> None:
        self.protocols = protocols
        self.extensions = list(default_server_extensions() if extensions is None else extensions)
        self.handler_cls = handler_cls
        self.allowed_origins = allowed_origins

    select_subprotocol: SubprotocolSelector | None = None

    def make_websocket(
        self,
        sock: Any,
        protocols: list[str],
        extensions: list[Any],
        environ: dict[str, Any],
    ) -> WebSocket:
        """Create the websocket handler for an upgraded connection (classic override point).

        ``protocols`` and ``extensions`` are the negotiated ones as the
        reference has them: strings (``extensions`` holds the header values
        of the 101 response, e.g. ``"permessage-deflate"``).  The handler is
        built with exactly the classic positional arguments; the live
        extension objects are handed to it afterwards (:meth:`__call__`).
        """
        websocket = self.handler_cls(sock, protocols, extensions, environ.copy())
        environ["ws4py.websocket"] = websocket
        return websocket

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        factories: list[ServerExtensionFactory] = []
        for ext in self.extensions:
            if isinstance(ext, ServerExtensionFactory):
                factories.append(ext)
            elif ext == "permessage-deflate":
                factories.extend(default_server_extensions())
        if not hasattr(self.handler_cls, "use_extensions"):
            factories = []  # a duck-typed handler could not take them
        try:
            result = validate_environ(
                environ,
                protocols=self.protocols,
                extensions=factories,
                allowed_origins=self.allowed_origins,
                select_subprotocol=self.select_subprotocol,
            )
        except HandshakeError as exc:
            logger.info("Refused upgrade: %s %s", exc.status, exc.msg)
            body = exc.msg.encode("utf-8")
            start_response(
                f"{exc.status} {reason_phrase(exc.status)}",
                [
                    *exc.headers,
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(body))),
                ],
            )
            return [body]
        sock = environ.get("ws4py.socket")
        if sock is None:
            raise RuntimeError(
                "the WSGI server does not expose the connection's socket as "
                "environ['ws4py.socket']; host this application on a ws4py server"
            )
        start_response("101 Switching Protocols", result.response_headers)
        websocket = self.make_websocket(
            sock,
            [result.protocol] if result.protocol else [],
            [str(ext) for ext in result.extensions],
            environ,
        )
        if websocket is None:  # an override that only stored it, as classic code may
            websocket = environ.get("ws4py.websocket")
        if result.extensions and websocket is not None:
            # Before opened(): the server runs the websocket only after this returns.
            use_extensions = getattr(websocket, "use_extensions", None)
            if use_extensions is None:
                raise RuntimeError(
                    f"{type(websocket).__name__} cannot take the negotiated extensions "
                    "(no use_extensions()); configure the application with extensions=[]"
                )
            use_extensions(result.extensions)
        return []
