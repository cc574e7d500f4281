"""The websocket client: :class:`WebSocketBaseClient` (classic API).

It opens the TCP (or Unix, or TLS) connection, performs the opening
handshake with :mod:`ws4py.handshake` and then is a
:class:`ws4py.websocket.WebSocket` whose frames are masked.  How it is then
driven is up to the subclass: :mod:`ws4py.client.threadedclient` runs it in a
thread, or add it to a :class:`ws4py.manager.WebSocketManager` from
:meth:`WebSocketBaseClient.handshake_ok`.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

from ws4py.connection import Connection
from ws4py.exc import HandshakeError
from ws4py.extensions import ClientExtensionFactory, Extension
from ws4py.handshake import ClientHandshake, Headers, HeadReader, parse_response
from ws4py.websocket import WebSocket

__all__ = ["WebSocketBaseClient", "make_ssl_context"]

logger = logging.getLogger("ws4py")

_SCHEMES = {"ws": (False, False), "wss": (True, False), "ws+unix": (False, True),
            "wss+unix": (True, True)}  # fmt: skip


def make_ssl_context(options: dict[str, Any] | ssl.SSLContext | None) -> ssl.SSLContext:
    """A client TLS context: certificates and host names verified unless told otherwise.

    ``options`` takes the classic ``ssl.wrap_socket`` keywords: ``ca_certs``,
    ``certfile``, ``keyfile``, ``cert_reqs`` (``ssl.CERT_NONE`` turns
    verification off), ``check_hostname``, ``ciphers``; or is a ready
    :class:`ssl.SSLContext`.
    """
    if isinstance(options, ssl.SSLContext):
        return options
    options = dict(options or {})
    context = ssl.create_default_context(cafile=options.pop("ca_certs", None))
    if "certfile" in options:
        context.load_cert_chain(options.pop("certfile"), options.pop("keyfile", None))
    cert_reqs = options.pop("cert_reqs", ssl.CERT_REQUIRED)
    check_hostname = options.pop("check_hostname", cert_reqs != ssl.CERT_NONE)
    context.check_hostname = bool(check_hostname)
    context.verify_mode = cert_reqs
    if "ciphers" in options:
        context.set_ciphers(options.pop("ciphers"))
    options.pop("server_hostname", None)
    return context


class WebSocketBaseClient(WebSocket):
    """A websocket client for ``ws://``, ``wss://``, ``ws+unix://`` and ``wss+unix://`` URLs.

    ``protocols`` are the subprotocols offered; ``extensions`` are extension
    factories (:class:`ws4py.extensions.ClientExtensionFactory`) to offer;
    ``headers`` are extra request headers (a list of pairs) and
    ``exclude_headers`` names of headers not to send; ``ssl_options`` a dict
    of TLS options or an :class:`ssl.SSLContext` (verification is on by
    default).  :meth:`connect` may be called again after the connection
    ended: each call opens a new socket.
    """

    is_client = True
    #: Seconds allowed for TCP connect plus the opening handshake.
    open_timeout: float = 10.0

    def __init__(
        self,
        url: str,
        protocols: list[str] | None = None,
        extensions: list[Any] | None = None,
        heartbeat_freq: float | None = None,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        headers: list[tuple[str, str]] | None = None,
        exclude_headers: list[str] | None = None,
    ) -> None:
        self.url = url
        self.ssl_options = ssl_options
        self.extra_headers: list[tuple[str, str]] = list(headers or [])
        self.exclude_headers: list[str] = list(exclude_headers or [])
        self.offered_extensions: list[ClientExtensionFactory] = [
            ext for ext in extensions or [] if isinstance(ext, ClientExtensionFactory)
        ]
        self.scheme, self.host, self.port, self.resource, self.unix_socket_path = self._parse_url(
            url
        )
        self.secure = _SCHEMES[self.scheme][0]
        #: The subprotocol the server selected, once connected.
        self.subprotocol: str | None = None
        #: The server's handshake response headers, once connected.
        self.response_headers: Headers | None = None
        super().__init__(
            self._new_socket(),
            protocols=protocols,
            extensions=[ext for ext in extensions or [] if isinstance(ext, str)],
            heartbeat_freq=heartbeat_freq,
        )
        self._handshake = self._new_handshake()
        self._connected_once = False

    # -- URL and request ----------------------------------------------------------

    @staticmethod
    def _parse_url(url: str) -> tuple[str, str, int, str, str | None]:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            raise ValueError(f"invalid scheme in {url!r}: use ws, wss, ws+unix or wss+unix")
        secure, unix = _SCHEMES[scheme]
        if unix:
            path = parts.netloc + parts.path if parts.netloc else parts.path
            if not path:
                raise ValueError(f"no socket path in {url!r}")
            resource = "/" + ("?" + parts.query if parts.query else "")
            return scheme, "localhost", 443 if secure else 80, resource, path
        if not parts.hostname:
            raise ValueError(f"no host in {url!r}")
        try:
            port = parts.port or (443 if secure else 80)
        except ValueError:
            raise ValueError(f"invalid port in {url!r}") from None
        resource = parts.path or "/"
        if parts.query:
            resource += "?" + parts.query
        return scheme, parts.hostname, port, resource, None

    def _new_handshake(self) -> ClientHandshake:
        return ClientHandshake(
            self.host,
            self.port,
            self.resource,
            secure=self.secure,
            origin=self._origin(),
            protocols=self.protocols,
            extensions=self.offered_extensions,
            headers=self.extra_headers,
            exclude_headers=self.exclude_headers,
        )

    def _origin(self) -> str | None:
        if any(name.lower() == "origin" for name, _ in self.extra_headers):
            return None  # the user's own Origin header is sent as given
        scheme = "https" if self.secure else "http"
        return f"{scheme}://{self._handshake_host()}"

    def _handshake_host(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port in (80, 443) else f"{host}:{self.port}"

    @property
    def key(self) -> bytes:
        """The ``Sec-WebSocket-Key`` sent (base64 of 16 random bytes)."""
        return self._handshake.key

    @property
    def handshake_headers(self) -> list[tuple[str, str]]:
        """The request headers the handshake sends."""
        return self._handshake.request_headers()

    @property
    def handshake_request(self) -> bytes:
        """The whole handshake request."""
        return self._handshake.request_bytes()

    @property
    def bind_addr(self) -> Any:
        """The address connected to: a socket path, or ``(host, port)``."""
        return self.unix_socket_path or (self.host, self.port)

    # -- connecting -----------------------------------------------------------------

    def _new_socket(self) -> socket.socket:
        if self.unix_socket_path:
            return socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        family = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM)[0][0]
        return socket.socket(family, socket.SOCK_STREAM)

    def _open_tcp(self) -> socket.socket:
        """Connect, trying each address the host resolves to."""
        sock = self.sock
        if self.unix_socket_path:
            assert sock is not None
            sock.settimeout(self.open_timeout)
            sock.connect(self.unix_socket_path)
            return sock
        errors: list[OSError] = []
        for family, kind, proto, _, address in socket.getaddrinfo(
            self.host, self.port, 0, socket.SOCK_STREAM
        ):
            if sock is None or sock.family != family:
                if sock is not None:
                    sock.close()
                sock = socket.socket(family, kind, proto)
            sock.settimeout(self.open_timeout)
            try:
                sock.connect(address)
            except OSError as exc:
                errors.append(exc)
                sock.close()
                sock = None
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        raise errors[-1] if errors else OSError(f"cannot resolve {self.host!r}")

    def connect(self) -> None:
        """Open the connection and perform the opening handshake.

        Raises :class:`ws4py.exc.HandshakeError` (with what was wrong) or an
        :class:`OSError` (refused, unreachable, timed out); on success calls
        :meth:`handshake_ok`.
        """
        if self._connected_once:
            # A fresh connection: new socket, new key, new protocol state.
            self.sock = self._new_socket()
            self._handshake = self._new_handshake()
            self.core = Connection(client=True, max_message_size=self.max_message_size)
            self._terminated_done = False
            self._opened_fired = False
            self._close_deadline = None
            self._ping_sent_at = None
            self._eof = False
            self._wbuf.clear()
            self.pending_input = b""
        self._connected_once = True
        sock = None
        try:
            sock = self._open_tcp()
            if self.secure:
                context = make_ssl_context(self.ssl_options)
                sock = context.wrap_socket(sock, server_hostname=self.host)
            self.sock = sock
            sock.sendall(self._handshake.request_bytes())
            reader = HeadReader(is_response=True)
            while True:
                data = sock.recv(4096)
                if not data:
                    raise HandshakeError("connection closed by the server during the handshake")
                if reader.feed(data):
                    break
            result = self._handshake.process_response(parse_response(reader.head))
        except BaseException:
            if sock is not None:
                sock.close()
            self.core.connection_lost()
            raise
        sock.settimeout(None)
        self.subprotocol = result.protocol
        self.response_headers = result.headers
        self._set_extensions(result.extensions)
        # Frames that came with the response are processed by whoever reads
        # next (run() or a manager), never by this thread: one parser, one reader.
        self.pending_input = reader.leftover
        self._last_seen = time.monotonic()
        self.handshake_ok()

    def _set_extensions(self, extensions: list[Extension]) -> None:
        if extensions:
            self.core = Connection(
                client=True, max_message_size=self.max_message_size, extensions=extensions
            )
            self.extensions = [*(self.extensions or []), *extensions]

    def handshake_ok(self) -> None:
        """The handshake succeeded: by default, call :meth:`opened`."""
        self.fire_opened()
