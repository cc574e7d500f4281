"""A chat room: a web page at ``/`` and its websocket at ``/ws``, on one port.

.. code-block:: python

    from ws4py.demo.chat import make_chat_server
    server = make_chat_server("127.0.0.1", 9000)   # http://127.0.0.1:9000/
    server.serve_forever()

or ``python -m ws4py chat``.  Each websocket is a member of the room, named
by the ``nick`` query parameter of its URL (``/ws?nick=ann``; a missing or
empty nick becomes ``guest-1234``).  A member sends text, either plain or as
``{"type": "message", "text": "..."}``; the server broadcasts JSON events to
every member through the server's :class:`ws4py.manager.WebSocketManager`::

    {"type": "message" | "join" | "leave", "nick": "ann", "text": "...", "ts": 1700000000000}

``ts`` is the server's time in milliseconds since the epoch; ``text`` is
empty for join and leave notices.  Pages of other sites are refused (403):
the ``Origin`` of an upgrade must be the server's own unless
``allowed_origins`` lists it (clients that send no ``Origin`` are accepted).
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import time
import unicodedata
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from ws4py import format_addresses
from ws4py.extensions import ServerExtensionFactory
from ws4py.framing import OPCODE_TEXT
from ws4py.manager import WebSocketManager
from ws4py.messaging import Message
from ws4py.server.wsgirefserver import WSGIServer, make_server
from ws4py.server.wsgiutils import WebSocketWSGIApplication
from ws4py.websocket import WebSocket

__all__ = [
    "MAX_NICK_LENGTH",
    "MAX_TEXT_LENGTH",
    "ChatApplication",
    "ChatRoom",
    "ChatWebSocket",
    "make_chat_server",
]

logger = logging.getLogger("ws4py")

StartResponse = Callable[..., Any]

#: Longest nickname kept (longer ones are cut).
MAX_NICK_LENGTH = 32
#: Longest message text relayed (longer ones are cut).
MAX_TEXT_LENGTH = 4000

#: Files of the page: URL path -> (file in ``static/``, Content-Type).
STATIC_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/chat.js": ("chat.js", "text/javascript; charset=utf-8"),
    "/chat.css": ("chat.css", "text/css; charset=utf-8"),
}

#: Everything the page needs comes from this server; its websocket too.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def clean_nick(value: str | None) -> str:
    """A printable nickname of at most :data:`MAX_NICK_LENGTH` characters, or a guest's."""
    nick = "".join(
        " " if unicodedata.category(char).startswith(("C", "Z")) else char for char in value or ""
    )
    nick = " ".join(nick.split())[:MAX_NICK_LENGTH].strip()
    return nick or f"guest-{random.randint(1000, 9999)}"


def clean_text(value: str) -> str:
    """Message text without control characters (newlines and tabs kept), cut to size."""
    text = "".join(
        char for char in value if char in "\n\t" or not unicodedata.category(char).startswith("C")
    )
    return text.strip()[:MAX_TEXT_LENGTH]


def event(kind: str, nick: str, text: str = "") -> str:
    """One chat event as JSON text."""
    return json.dumps(
        {"type": kind, "nick": nick, "text": text, "ts": int(time.time() * 1000)},
        ensure_ascii=False,
    )


class ChatRoom:
    """The members of one chat: whoever the server's manager holds.

    :attr:`manager` is the server's :class:`WebSocketManager` (set by
    :func:`make_chat_server`); every event is sent with its
    :meth:`~WebSocketManager.broadcast`.
    """

    def __init__(self, manager: WebSocketManager | None = None) -> None:
        self.manager = manager

    def broadcast(self, text: str) -> None:
        """Send ``text`` to every member."""
        if self.manager is not None:
            self.manager.broadcast(text)

    def __contains__(self, websocket: object) -> bool:
        return self.manager is not None and websocket in self.manager


class ChatWebSocket(WebSocket):
    """One member of a :class:`ChatRoom`."""

    max_message_size = 64 * 1024
    #: Browsers that vanish (sleeping laptop, lost network) are noticed.
    keepalive_interval = 30.0
    keepalive_timeout = 20.0

    room: ChatRoom
    nick: str = ""

    def opened(self) -> None:
        logger.info("%s joined the chat %s", self.nick, format_addresses(self))
        notice = event("join", self.nick)
        if self not in self.room:
            # The manager calls opened() before it adds the socket: the
            # newcomer gets its own join notice directly, the others by broadcast.
            self.send(notice)
        self.room.broadcast(notice)

    def received_message(self, message: Message) -> None:
        if message.opcode != OPCODE_TEXT:
            return
        raw = str(message)
        text = raw
        try:
            data = json.loads(raw)
        except ValueError:
            pass
        else:
            if isinstance(data, dict):
                value = data.get("text")
                if not isinstance(value, str):
                    return
                text = value
        text = clean_text(text)
        if text:
            self.room.broadcast(event("message", self.nick, text))

    def closed(self, code: int, reason: str | None = None) -> None:
        logger.info(
            "%s left the chat %s: code %s%s",
            self.nick,
            format_addresses(self),
            code,
            f" ({reason})" if reason else "",
        )
        self.room.broadcast(event("leave", self.nick))


class ChatWebSocketApplication(WebSocketWSGIApplication):
    """Upgrades ``/ws`` requests to :class:`ChatWebSocket` members of ``room``."""

    def __init__(self, room: ChatRoom, **options: Any) -> None:
        super().__init__(handler_cls=ChatWebSocket, **options)
        self.room = room

    def make_websocket(
        self, sock: Any, protocols: list[str], extensions: list[Any], environ: dict[str, Any]
    ) -> WebSocket:
        websocket = super().make_websocket(sock, protocols, extensions, environ)
        assert isinstance(websocket, ChatWebSocket)
        websocket.room = self.room
        query = parse_qs(environ.get("QUERY_STRING", ""))
        websocket.nick = clean_nick((query.get("nick") or [""])[0])
        return websocket


def _static(name: str) -> bytes:
    return (resources.files("ws4py.demo") / "static" / name).read_bytes()


class ChatApplication:
    """The WSGI application of the chat: the page's files and the websocket at ``ws_path``.

    ``allowed_origins`` lists the origins allowed to open the websocket
    besides the server's own; ``extensions`` (server extension factories;
    ``[]`` turns compression off) and ``protocols`` go to
    :class:`WebSocketWSGIApplication`, whose default is kept when None.
    """

    def __init__(
        self,
        room: ChatRoom | None = None,
        ws_path: str = "/ws",
        allowed_origins: list[str] | None = None,
        extensions: Iterable[ServerExtensionFactory | str] | None = None,
    ) -> None:
        self.room = room if room is not None else ChatRoom()
        self.ws_path = ws_path
        self.allowed_origins = [origin.lower() for origin in allowed_origins or []]
        options: dict[str, Any] = {}
        if extensions is not None:
            options["extensions"] = extensions
        self.websocket_app = ChatWebSocketApplication(self.room, **options)
        self._files = {path: (_static(name), kind) for path, (name, kind) in STATIC_FILES.items()}

    def origin_allowed(self, environ: dict[str, Any]) -> bool:
        """True without an ``Origin`` header, or when it is ours or an allowed one."""
        origin = environ.get("HTTP_ORIGIN")
        if origin is None:
            return True
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        return origin.lower() in (own.lower(), *self.allowed_origins)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO", "/")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == self.ws_path:
            if not self.origin_allowed(environ):
                logger.info("Refused chat upgrade from origin %r", environ.get("HTTP_ORIGIN"))
                return self._text(start_response, "403 Forbidden", "origin not allowed\n")
            return self.websocket_app(environ, start_response)
        if path not in self._files:
            return self._text(start_response, "404 Not Found", "not found\n")
        if method not in ("GET", "HEAD"):
            return self._text(
                start_response, "405 Method Not Allowed", "use GET\n", [("Allow", "GET, HEAD")]
            )
        body, kind = self._files[path]
        start_response(
            "200 OK",
            [
                ("Content-Type", kind),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-cache"),
                ("X-Content-Type-Options", "nosniff"),
                ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
            ],
        )
        return [] if method == "HEAD" else [body]

    @staticmethod
    def _text(
        start_response: StartResponse,
        status: str,
        text: str,
        headers: list[tuple[str, str]] | None = None,
    ) -> list[bytes]:
        body = text.encode("utf-8")
        start_response(
            status,
            [
                *(headers or []),
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]


def make_chat_server(
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    allowed_origins: list[str] | None = None,
    extensions: Iterable[ServerExtensionFactory | str] | None = None,
) -> WSGIServer:
    """A ready chat server on ``host:port`` (port 0 picks one); call ``serve_forever()``."""
    app = ChatApplication(allowed_origins=allowed_origins, extensions=extensions)
    server = make_server(host, port, app=app, ssl_context=ssl_context)
    app.room.manager = server.manager
    return server
