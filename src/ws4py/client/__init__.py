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
import os
import socket
import ssl
from base64 import b64encode
from hashlib import sha1 as sha1  # a name ws4py 0.6.0 had here (issue #21, row 16)
from typing import Any
from urllib.parse import urlsplit as urlsplit  # a name ws4py 0.6.0 had here

from ws4py import WS_KEY as WS_KEY
from ws4py import WS_VERSION as WS_VERSION
from ws4py.client.proxy import Proxy, open_tunnel, select_proxy, wrap_tls
from ws4py.client.target import SCHEMES, Redirects, Target, parse_url, target_headers
from ws4py.connection import Connection
from ws4py.exc import HandshakeError
from ws4py.extensions import ClientExtensionFactory, Extension, default_client_extensions
from ws4py.handshake import (
    ClientHandshake,
    ClientHandshakeResult,
    Headers,
    HeadReader,
    Response,
    parse_header_block,
    parse_response,
)
from ws4py.websocket import WebSocket

__all__ = ["WebSocketBaseClient", "make_ssl_context"]

logger = logging.getLogger("ws4py")


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


def _known_family(sock: socket.socket) -> int | None:
    """The address family of ``sock``, or None if it does not say (a duck-typed socket).

    Such a socket is connected as given, as ws4py 0.6.0 connected the one
    made in ``__init__``; a real socket of another family is replaced.
    """
    family = getattr(sock, "family", None)
    return family if isinstance(family, int) else None


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
    (:mod:`ws4py.client.redirects`).  What a URL means, the ``Origin`` sent
    and where a redirect leads are decided by :mod:`ws4py.client.target`,
    which the asyncio client shares.

    As in ws4py 0.6.0, the attributes are read by :meth:`connect`, so they
    may be changed before it: :attr:`url` (setting it re-parses
    :attr:`scheme`, :attr:`host`, :attr:`port`, :attr:`resource` and
    :attr:`unix_socket_path`), each of those, :attr:`key`,
    :attr:`protocols`, :attr:`extra_headers`, :attr:`exclude_headers`,
    :attr:`ssl_options`, :attr:`heartbeat_freq`.  The request is
    :attr:`handshake_request`, made of :attr:`handshake_headers` (both may be
    overridden); the response goes through :meth:`process_response_line` and
    :meth:`process_handshake_header` (overridable too), and the checks
    RFC 6455 section 4.1 requires of a client always run.
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
        self.url = url  # parsed: scheme, host, port, resource, unix_socket_path, final_url
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
        self._key = self._fresh_key()
        self._key_given = False
        self._handshake = self._new_handshake()
        self._handshake_result: ClientHandshakeResult | None = None
        self._connected_once = False
        # What connect() restores after a redirect, offers again after a
        # connection (which set ``protocols`` to the server's choice) and
        # replaces with a fresh key; a value the user set is kept.
        self._target: Target = self.target
        self._offered_protocols: list[str] | None = self.protocols
        self._negotiated_protocols: list[str] | None = None

    # -- URL and request ----------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL given; setting it aims the next :meth:`connect` at another one."""
        return self._url

    @url.setter
    def url(self, url: str) -> None:
        self._aim(parse_url(url))
        self._url = url
        #: The URL connected to, after redirects.
        self.final_url = url

    @property
    def secure(self) -> bool:
        """Whether the connection is TLS (``wss://``, ``wss+unix://``)."""
        return SCHEMES[self.scheme][0]

    @property
    def target(self) -> Target:
        """Where the next connection goes: the classic attributes, as a :class:`Target`.

        :attr:`scheme`, :attr:`host`, :attr:`port`, :attr:`resource` and
        :attr:`unix_socket_path` come from :attr:`url` and may each be
        changed before :meth:`connect` (as in ws4py 0.6.0).
        """
        return Target(self.scheme, self.host, self.port, self.resource, self.unix_socket_path)

    def _aim(self, target: Target) -> None:
        """Set the classic attributes to ``target``."""
        self.scheme, self.host, self.port, self.resource, self.unix_socket_path = target.as_tuple()

    def _new_handshake(self) -> ClientHandshake:
        """The handshake of the current attributes (read when it is made, as 0.6.0 did).

        ``Host`` always has the port, as 0.6.0 sent it (RFC 7230 allows it).
        """
        if self.scheme not in SCHEMES:
            raise ValueError(f"invalid scheme {self.scheme!r}: use ws, wss, ws+unix or wss+unix")
        return self.target.handshake(
            always_port=True,
            origin=self._origin(),
            protocols=self.protocols,
            extensions=self.offered_extensions,
            headers=target_headers(self.extra_headers, self.url, self.final_url),
            exclude_headers=self.exclude_headers,
            key=self.key,
        )

    @staticmethod
    def _fresh_key() -> bytes:
        return b64encode(os.urandom(16))

    def _origin(self) -> str | None:
        """``Origin``: the web origin of the URL (after redirects), ``http(s)://host[:port]``.

        0.6.0 sent ``ws(s)://host[:port]``: no browser sends that, so a
        server checking origins (RFC 6455 section 10.2) would refuse it.
        """
        if any(name.lower() == "origin" for name, _ in self.extra_headers):
            return None  # the user's own Origin header is sent as given
        return parse_url(self.final_url).origin

    @property
    def key(self) -> bytes:
        """The ``Sec-WebSocket-Key`` sent: base64 of 16 random bytes.

        Drawn anew for each connection (a reconnection, a redirect's hop); a
        key set here (bytes or str) is used as is for every connection.
        """
        return self._key

    @key.setter
    def key(self, key: bytes | str) -> None:
        self._key = key.encode("ascii") if isinstance(key, str) else bytes(key)
        self._key_given = True

    @property
    def handshake_headers(self) -> list[tuple[str, str]]:
        """The request headers the handshake sends (a subclass may override this)."""
        return self._new_handshake().request_headers()

    @property
    def handshake_request(self) -> bytes:
        """The whole handshake request: ``GET`` :attr:`resource` and :attr:`handshake_headers`."""
        return self._new_handshake().request_bytes(self.handshake_headers)

    def process_response_line(self, response_line: bytes) -> None:
        """Check the response's status line (``HTTP/1.1 101 ...``, no CRLF).

        Raises :class:`~ws4py.exc.HandshakeError` unless the status is 101.
        A subclass may look at the line; whatever it does, :meth:`connect`
        then requires a 101 (or follows a redirect before calling this).
        """
        self._handshake.check_status(parse_response(response_line + b"\r\n\r\n"))

    def process_handshake_header(self, headers: bytes) -> tuple[list[str], list[str]]:
        """Check the response's header lines (CRLF-separated bytes).

        Returns ``(protocols, extensions)``: the subprotocol the server
        selected (a list of at most one) and the extensions it accepted, as
        header strings; :meth:`connect` stores them in :attr:`protocols` and
        :attr:`extensions`.  Raises :class:`~ws4py.exc.HandshakeError` when a
        check of RFC 6455 section 4.1 fails (``Upgrade``, ``Connection``,
        ``Sec-WebSocket-Accept``, an unoffered subprotocol or extension).  A
        subclass that does not call this one still gets those checks.
        """
        result = self._handshake.check_headers(parse_header_block(headers))
        self._handshake_result = result
        protocols = [result.protocol] if result.protocol else []
        return protocols, [str(ext) for ext in result.extensions]

    @property
    def bind_addr(self) -> Any:
        """The address connected to: a socket path, or ``(host, port)``."""
        return self.target.bind_addr

    # -- connecting -----------------------------------------------------------------

    def _tcp_port(self) -> int:
        """The port to connect to: :attr:`port`, or the scheme's if it was set to None."""
        return self.target.tcp_port

    def _new_socket(self) -> socket.socket:
        if self.unix_socket_path:
            return socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            family = socket.getaddrinfo(self.host, self._tcp_port(), 0, socket.SOCK_STREAM)[0][0]
        except socket.gaierror:
            # Not resolvable now: connect() resolves again and raises then.
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        return socket.socket(family, socket.SOCK_STREAM)

    def _open_tcp(self) -> socket.socket:
        """Connect, trying each address the host resolves to."""
        sock = self.sock
        if self.unix_socket_path:
            if sock is None or sock.family != socket.AF_UNIX:  # the path was set after __init__
                if sock is not None:
                    sock.close()
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.open_timeout)
            sock.connect(self.unix_socket_path)
            return sock
        errors: list[OSError] = []
        for family, kind, proto, _, address in socket.getaddrinfo(
            self.host, self._tcp_port(), 0, socket.SOCK_STREAM
        ):
            if len(address) == 4 and not any(address[2:]):
                address = address[:2]  # (host, port) as 0.6.0 connected to: no flow, no scope
            if sock is None or _known_family(sock) not in (None, family):
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
            # A fresh connection: new socket, new protocol state.
            self.sock = self._new_socket()
            self.core = Connection(client=True, max_message_size=self.max_message_size)
            self._terminated_done = False
            self._opened_fired = False
            self._eof = False
            self._wbuf.clear()
            self.pending_input = b""
            self._peer_address = self._local_address = None  # may differ (proxy, redirect)
        redirects = self._start_over()
        while True:
            sock, reader, response = self._exchange()
            try:
                location = redirects.follow(response)
                if location is None:
                    result, protocols, extensions = self._check_response(reader.head, response)
                    break
                logger.info("Redirect %d to %s", response.status, location)
            except BaseException:
                self._abandon(sock)
                raise
            sock.close()
            self.sock = None
            self._aim(redirects.target)
            self.final_url = location
            self._auto_key()
        sock.settimeout(None)
        self.subprotocol = result.protocol
        self.response_headers = result.headers
        self._set_extensions(result.extensions)
        self.protocols = self._negotiated_protocols = protocols
        self.extensions = extensions
        # Frames that came with the response are processed by whoever reads
        # next (run() or a manager), never by this thread: one parser, one reader.
        self.pending_input = reader.leftover
        self.handshake_ok()

    def _start_over(self) -> Redirects:
        """Aim a new connect() at the target, key and protocols it should use.

        Returns the redirects of this attempt, starting from :attr:`url`.
        """
        if self._connected_once:
            if self.final_url != self.url:
                # The last connect() was redirected: back to where it started.
                self._aim(self._target)
                self.final_url = self.url
            if self.protocols is self._negotiated_protocols:
                self.protocols = self._offered_protocols  # not changed since: offer them again
            self._auto_key()
        self._connected_once = True
        self._target = self.target
        self._offered_protocols = self.protocols
        return Redirects(self.url, self.max_redirects)

    def _auto_key(self) -> None:
        """A fresh key for a new connection, unless the user set one (RFC 6455 section 4.1)."""
        if not self._key_given:
            self._key = self._fresh_key()

    def _check_response(
        self, head: bytes, response: Response
    ) -> tuple[ClientHandshakeResult, list[str], list[str]]:
        """Run the overridable hooks, then whatever RFC 6455 checks they skipped."""
        status_line, _, header_lines = head[:-4].partition(b"\r\n")
        self._handshake_result = None
        self.process_response_line(status_line)
        self._handshake.check_status(response)  # even if an override let a 404 through
        protocols, extensions = self.process_handshake_header(header_lines)
        result = self._handshake_result
        if result is None:  # overridden without calling it: the checks are not optional
            result = self._handshake.check_headers(response.headers)
        return result, list(protocols), list(extensions)

    def _exchange(self) -> tuple[socket.socket, HeadReader, Response]:
        """Connect to the current target, send the request, read the response's head."""
        sock = None
        try:
            sock = self._open_stream()
            if self.secure:
                sock = self._wrap_tls(sock)
            self.sock = sock
            request = self.handshake_request
            self._handshake = self._new_handshake()  # what the response is checked against
            sock.sendall(request)
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
                self._abandon(sock)
            else:
                self.core.connection_lost()
            raise

    def _abandon(self, sock: socket.socket) -> None:
        """A failed handshake: shut down and close ``sock`` by :meth:`close_connection`.

        As ws4py 0.6.0, which called it there, so an override sees it too.
        """
        self.sock = sock
        self.close_connection()

    def _wrap_tls(self, sock: socket.socket) -> socket.socket:
        """TLS with the server over a connected socket (other I/O flavours override it)."""
        return wrap_tls(sock, make_ssl_context(self.ssl_options), self.host)

    def _open_stream(self) -> socket.socket:
        """A connected socket to the target: directly, or through its proxy."""
        proxy = None
        if not self.unix_socket_path:
            proxy = select_proxy(self.proxy, self.secure, self.host, self._tcp_port())
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
            proxy,
            self.host,
            self._tcp_port(),
            timeout=self.open_timeout,
            proxy_ssl_context=proxy_context,
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
