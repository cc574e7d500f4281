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

from ws4py.client.proxy import Proxy, open_tunnel, select_proxy, wrap_tls
from ws4py.client.redirects import (
    CREDENTIAL_HEADERS,
    REDIRECT_STATUSES,
    redirect_location,
    same_origin,
)
from ws4py.connection import Connection
from ws4py.exc import HandshakeError
from ws4py.extensions import ClientExtensionFactory, Extension, default_client_extensions
from ws4py.handshake import ClientHandshake, Headers, HeadReader, Response, parse_response
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
    factories (:class:`ws4py.extensions.ClientExtensionFactory`) to offer,
    by default permessage-deflate (``[]`` turns compression off; classic
    extension names are kept in :attr:`extensions`, and
    ``"permessage-deflate"`` offers the default factory);
    ``headers`` are extra request headers (a list of pairs) and
    ``exclude_headers`` names of headers not to send; ``ssl_options`` a dict
    of TLS options or an :class:`ssl.SSLContext` (verification is on by
    default).  :meth:`connect` may be called again after the connection
    ended: each call opens a new socket.

    ``proxy`` is a proxy URL (``http://[user:pass@]host:port``, ``https://``,
    ``socks4://``, ``socks4a://``, ``socks5://``, ``socks5h://``), None to
    take it from the environment (``HTTP_PROXY`` for ``ws://``,
    ``HTTPS_PROXY`` for ``wss://``, ``ALL_PROXY``, ``NO_PROXY``), or False
    (or ``""``) for none; ``proxy_ssl_options`` verify an ``https://``
    proxy (the system's CAs by default); see :mod:`ws4py.client.proxy`.
    Redirects (301, 302, 303, 307, 308) are followed up to
    ``max_redirects`` times (0: none), never from ``wss://`` to ``ws://``;
    :attr:`final_url` is the URL finally connected to
    (:mod:`ws4py.client.redirects`).
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
        *,
        proxy: str | bool | None = None,
        proxy_ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        max_redirects: int = 5,
    ) -> None:
        self.url = url
        #: The URL connected to, after redirects.
        self.final_url = url
        self.proxy = proxy
        self.proxy_ssl_options = proxy_ssl_options
        if max_redirects < 0:
            raise ValueError("max_redirects must be >= 0")
        self.max_redirects = max_redirects
        #: The proxy of the current connection (None: direct).
        self.proxy_used: Proxy | None = None
        self.ssl_options = ssl_options
        self.extra_headers: list[tuple[str, str]] = list(headers or [])
        self.exclude_headers: list[str] = list(exclude_headers or [])
        if extensions is None:
            extensions = default_client_extensions()
        self.offered_extensions: list[ClientExtensionFactory] = []
        for ext in extensions:
            if isinstance(ext, ClientExtensionFactory):
                self.offered_extensions.append(ext)
            elif ext == "permessage-deflate":
                self.offered_extensions.extend(default_client_extensions())
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
            extensions=[ext for ext in extensions if isinstance(ext, str)],
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
            headers=self._target_headers(),
            exclude_headers=self.exclude_headers,
        )

    def _target_headers(self) -> list[tuple[str, str]]:
        """Extra headers for the current target: credentials stay with the first origin."""
        if same_origin(self.final_url, self.url):
            return self.extra_headers
        return [(n, v) for n, v in self.extra_headers if n.lower() not in CREDENTIAL_HEADERS]

    def _set_target(self, url: str) -> None:
        """Aim at ``url`` (the original URL, or a redirect's)."""
        parsed = self._parse_url(url)
        self.scheme, self.host, self.port, self.resource, self.unix_socket_path = parsed
        self.secure = _SCHEMES[self.scheme][0]
        self.final_url = url
        self._handshake = self._new_handshake()

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
        try:
            family = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM)[0][0]
        except socket.gaierror:
            # Not resolvable now: connect() resolves again and raises then.
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
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
            self._peer_address = self._local_address = None  # may differ (proxy, redirect)
        self._connected_once = True
        if self.final_url != self.url:
            self._set_target(self.url)  # the last connect() was redirected: start over
        hops = 0
        while True:
            sock, reader, response = self._exchange()
            try:
                if response.status in REDIRECT_STATUSES and self.max_redirects > 0:
                    location = redirect_location(self.final_url, response, hops, self.max_redirects)
                    logger.info("Redirect %d to %s", response.status, location)
                else:
                    result = self._handshake.process_response(response)
                    break
            except BaseException:
                sock.close()
                self.core.connection_lost()
                raise
            sock.close()
            self.sock = None
            hops += 1
            self._set_target(location)
        sock.settimeout(None)
        self.subprotocol = result.protocol
        self.response_headers = result.headers
        self._set_extensions(result.extensions)
        # Frames that came with the response are processed by whoever reads
        # next (run() or a manager), never by this thread: one parser, one reader.
        self.pending_input = reader.leftover
        self._last_seen = time.monotonic()
        self.handshake_ok()

    def _exchange(self) -> tuple[socket.socket, HeadReader, Response]:
        """Connect to the current target, send the request, read the response's head."""
        sock = None
        try:
            sock = self._open_stream()
            if self.secure:
                sock = self._wrap_tls(sock)
            self.sock = sock
            sock.sendall(self._handshake.request_bytes())
            reader = HeadReader(is_response=True)
            while True:
                data = sock.recv(4096)
                if not data:
                    raise HandshakeError("connection closed by the server during the handshake")
                if reader.feed(data):
                    break
            return sock, reader, parse_response(reader.head)
        except BaseException:
            if sock is not None:
                sock.close()
            self.core.connection_lost()
            raise

    def _wrap_tls(self, sock: socket.socket) -> socket.socket:
        """TLS with the server over a connected socket (other I/O flavours override it)."""
        return wrap_tls(sock, make_ssl_context(self.ssl_options), self.host)

    def _open_stream(self) -> socket.socket:
        """A connected socket to the target: directly, or through its proxy."""
        proxy = None
        if not self.unix_socket_path:
            proxy = select_proxy(self.proxy, self.secure, self.host, self.port)
        self.proxy_used = proxy
        if proxy is None:
            return self._open_tcp()
        if self.sock is not None:
            self.sock.close()  # made for a direct connection
            self.sock = None
        proxy_context = None
        if proxy.scheme == "https":
            proxy_context = make_ssl_context(self.proxy_ssl_options)
        return open_tunnel(
            proxy, self.host, self.port, timeout=self.open_timeout, proxy_ssl_context=proxy_context
        )

    def _set_extensions(self, extensions: list[Extension]) -> None:
        # As ws4py 0.6.0: once connected, ``extensions`` lists what the server
        # accepted, as header strings; the live objects go to this connection's
        # core (a reconnection has a new one) and are ``extension_objects``.
        self.extensions = [str(ext) for ext in extensions]
        self.core.use_extensions(extensions)

    def handshake_ok(self) -> None:
        """The handshake succeeded: by default, call :meth:`opened`."""
        self.fire_opened()
