"""A chat room: a web page at ``/`` and its websocket at ``/ws``, on one port.

.. code-block:: python

    from ws4py.demo.chat import make_chat_server
    server = make_chat_server("127.0.0.1", 9000)   # http://127.0.0.1:9000/
    server.serve_forever()

or ``python -m ws4py chat``.  Each websocket is a member of a room, named
by the ``nick`` query parameter of its URL (``/ws?nick=ann``; a missing or
empty nick becomes ``guest-1234``); ``room`` chooses the room (``lobby`` by
default; the page always uses the lobby).  A member sends text, either plain
or as ``{"type": "message", "text": "..."}``; the server publishes JSON
events to every member of the room through the server's
:class:`ws4py.manager.WebSocketManager` (a group per room)::

    {"type": "message" | "join" | "leave", "nick": "ann", "text": "...", "ts": 1700000000000}

``ts`` is the server's time in milliseconds since the epoch; ``text`` is
empty for join and leave notices.  A newcomer's own join notice comes first.

Across processes: give :func:`make_chat_server` a
:class:`ws4py.broadcast.redis.RedisBackend` (``python -m ws4py chat --redis
URL``, with ``--workers N`` for N processes on one port): members connected
to any process sharing the Redis see the same room.  When the backend
cannot publish (Redis down), the sender of a message gets
``{"type": "error", "nick": "", "text": "message not delivered: ...", "ts": ...}``
and nobody else sees it.  Every HTTP answer, the websocket's 101 included,
carries ``X-Chat-Worker: <pid of the serving process>``.  Pages of other sites are refused (403):
the ``Origin`` of an upgrade must be the server's own unless
``allowed_origins`` lists it (clients that send no ``Origin`` are accepted).
"""

from __future__ import annotations

import json
import logging
import os
import random
import ssl
import time
import unicodedata
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from ws4py import format_addresses
from ws4py.broadcast import Backend, BackendUnavailableError
from ws4py.extensions import ServerExtensionFactory
from ws4py.framing import OPCODE_TEXT
from ws4py.manager import WebSocketManager
from ws4py.messaging import Message
from ws4py.server.wsgirefserver import WSGIServer, make_server
from ws4py.server.wsgiutils import WebSocketWSGIApplication
from ws4py.websocket import WebSocket

__all__ = [
    "DEFAULT_ROOM",
    "MAX_NICK_LENGTH",
    "MAX_TEXT_LENGTH",
    "WORKER_HEADER",
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
#: The room of members whose URL names none (the page's).
DEFAULT_ROOM = "lobby"
#: The response header naming the process that served a request.
WORKER_HEADER = "X-Chat-Worker"

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


def clean_room(value: str | None) -> str:
    """A room name: like a nickname, :data:`DEFAULT_ROOM` when empty."""
    room = "".join(
        " " if unicodedata.category(char).startswith(("C", "Z")) else char for char in value or ""
    )
    return " ".join(room.split())[:MAX_NICK_LENGTH].strip() or DEFAULT_ROOM


def room_group(room: str) -> str:
    """The manager group of a room's members."""
    return "chat-room:" + room


class ChatRoom:
    """The members of the chat: whoever the server's manager holds, room by room.

    :attr:`manager` is the server's :class:`WebSocketManager` (set by
    :func:`make_chat_server`); every event is sent with its
    :meth:`~WebSocketManager.publish` to the room's group, so members on
    other processes sharing the manager's broadcast backend get it too.
    """

    def __init__(self, manager: WebSocketManager | None = None) -> None:
        self.manager = manager

    def broadcast(
        self, text: str, room: str = DEFAULT_ROOM, exclude: WebSocket | None = None
    ) -> None:
        """Send ``text`` to every member of ``room`` (but ``exclude``), everywhere.

        Raises :class:`ws4py.broadcast.BackendUnavailableError` when the
        backend cannot take it.
        """
        if self.manager is not None:
            self.manager.publish(text, group=room_group(room), exclude=exclude)

    def join(self, websocket: WebSocket, room: str = DEFAULT_ROOM) -> None:
        """``websocket`` becomes a member of ``room`` (it leaves when it is closed)."""
        if self.manager is not None:
            self.manager.join_group(websocket, room_group(room))

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
    room_name: str = DEFAULT_ROOM

    def opened(self) -> None:
        logger.info(
            "%s joined the chat (room %s) %s", self.nick, self.room_name, format_addresses(self)
        )
        notice = event("join", self.nick)
        self.room.join(self, self.room_name)
        # The newcomer's own notice comes directly (the manager adds the
        # socket after opened()); the other members get it by publishing.
        self.send(notice)
        self._publish(notice, exclude=self)

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
        if text and not self._publish(event("message", self.nick, text)):
            self.send(event("error", "", "message not delivered: the chat relay is unavailable"))

    def closed(self, code: int, reason: bytes | str | None = None) -> None:
        if isinstance(reason, bytes):  # the peer's reason is bytes (classic)
            reason = reason.decode("utf-8", "replace")
        logger.info(
            "%s left the chat %s: code %s%s",
            self.nick,
            format_addresses(self),
            code,
            f" ({reason})" if reason else "",
        )
        self._publish(event("leave", self.nick))

    def _publish(self, text: str, exclude: WebSocket | None = None) -> bool:
        """Publish to the room; False (logged) when the backend cannot."""
        try:
            self.room.broadcast(text, self.room_name, exclude=exclude)
        except BackendUnavailableError as exc:
            logger.warning("Chat event of %s not published: %s", self.nick, exc)
            return False
        return True


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
        websocket.room_name = clean_room((query.get("room") or [""])[0])
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
        worker = (WORKER_HEADER, str(os.getpid()))

        def start_response_with_worker(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            return start_response(status, [*headers, worker], exc_info)

        return self._respond(environ, start_response_with_worker)

    def _respond(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
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
    backend: Backend | None = None,
    reuse_port: bool = False,
) -> WSGIServer:
    """A ready chat server on ``host:port`` (port 0 picks one); call ``serve_forever()``.

    ``backend`` (e.g. a :class:`ws4py.broadcast.redis.RedisBackend`, closed
    by the caller) joins this server to others sharing it; ``reuse_port``
    sets ``SO_REUSEPORT``, so worker processes can listen on the same port
    (:mod:`ws4py.broadcast.workers`).
    """
    app = ChatApplication(allowed_origins=allowed_origins, extensions=extensions)
    if reuse_port:
        from ws4py.broadcast.workers import make_reuseport_server

        server = make_reuseport_server(host, port, app, ssl_context=ssl_context)
    else:
        server = make_server(host, port, app=app, ssl_context=ssl_context)
    assert server.manager is not None
    if backend is not None:
        server.manager.set_backend(backend)
    app.room.manager = server.manager
    return server
