"""Proxies for the websocket clients: HTTP CONNECT (over TCP or TLS) and SOCKS.

Which proxy a connection uses (:func:`select_proxy`):

* an explicit ``proxy="http://user:pass@host:port"`` (or ``https://``,
  ``socks4://``, ``socks4a://``, ``socks5://``, ``socks5h://``) is always
  used, whatever ``NO_PROXY`` says;
* ``proxy=None`` (the default) or ``True`` reads the environment like other
  Python clients (:func:`urllib.request.getproxies_environment`, upper or
  lower case names): ``ws://`` URLs use ``HTTP_PROXY``, ``wss://`` URLs
  ``HTTPS_PROXY``, and ``ALL_PROXY`` serves either when its own is unset;
  ``NO_PROXY`` exempts hosts with :func:`urllib.request.proxy_bypass_environment`'s
  rules (comma-separated names matching the host or one of its parent
  domains, ``host:port`` entries, literal IP addresses, ``*`` for every
  host; no CIDR ranges);
* ``proxy=False`` or ``""`` connects directly.

``ws+unix://`` URLs never use a proxy.

An HTTP proxy is asked for a tunnel with ``CONNECT host:port`` (with
``Proxy-Authorization: Basic`` when the proxy URL has credentials); any
answer but 2xx fails with a :class:`~ws4py.exc.HandshakeError` carrying the
proxy's status, e.g. ``proxy refused CONNECT: 407 Proxy Authentication
Required``.  With an ``https://`` proxy the client speaks TLS to the proxy
(its certificate is verified against ``proxy_ssl_options``, the system's CAs
by default), then ``wss://`` runs a second TLS session, with the origin
server, inside that tunnel: the blocking client does it with an
:class:`ssl.SSLObject` over memory BIOs (:class:`TLSInTLSSocket`), asyncio
with :meth:`asyncio.loop.start_tls` (Python 3.11 and later).  Through any
proxy, ``wss://`` verifies the origin server's certificate for the origin's
host name, never the proxy's.

SOCKS goes through python-socks (``pip install ws4py[socks]``): ``socks5``
and ``socks4`` resolve the host name locally, ``socks5h`` and ``socks4a``
let the proxy resolve it.  A proxy's refusal (bad credentials, host
unreachable...) is a :class:`~ws4py.exc.HandshakeError` (``status`` 407
for failed SOCKS authentication, 502 otherwise); not reaching the proxy at
all stays an :class:`OSError` whose message names the proxy.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http
import select
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlsplit
from urllib.request import (  # type: ignore[attr-defined]  # not in typeshed
    getproxies_environment,
    proxy_bypass_environment,
)

from ws4py.exc import HandshakeError
from ws4py.handshake import HeadReader, Response, parse_response
from ws4py.http11 import render_request

__all__ = [
    "PROXY_SCHEMES",
    "Proxy",
    "TLSInTLSSocket",
    "open_tunnel",
    "open_tunnel_async",
    "parse_proxy_url",
    "proxy_from_environment",
    "select_proxy",
    "wrap_tls",
]

#: Proxy URL schemes and their default ports.
PROXY_SCHEMES = {
    "http": 80,
    "https": 443,
    "socks4": 1080,
    "socks4a": 1080,
    "socks5": 1080,
    "socks5h": 1080,
}

_READ_SIZE = 65536


@dataclass(frozen=True)
class Proxy:
    """A parsed proxy URL.  ``username``/``password`` are percent-decoded."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @property
    def is_http(self) -> bool:
        """An HTTP CONNECT proxy (``http://`` or ``https://``)."""
        return self.scheme in ("http", "https")

    @property
    def address(self) -> str:
        """``host:port`` (IPv6 literals in brackets)."""
        return _host_port(self.host, self.port)

    @property
    def display(self) -> str:
        """The URL without the password, for messages and logs."""
        user = f"{self.username}:***@" if self.username is not None else ""
        return f"{self.scheme}://{user}{self.address}"

    def __repr__(self) -> str:
        return f"Proxy({self.display!r})"


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _redacted(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        return url
    user = userinfo.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{hostpart}"


def parse_proxy_url(url: str) -> Proxy:
    """Parse a proxy URL; a :class:`ValueError` says what is wrong with it.

    A value without a scheme (``proxy.example:3128``, common in
    ``HTTP_PROXY``) is taken as ``http://``.  The port defaults to the
    scheme's (:data:`PROXY_SCHEMES`).
    """
    text = url.strip()
    shown = _redacted(text)
    if not text:
        raise ValueError("invalid proxy URL '': it is empty")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        supported = ", ".join(PROXY_SCHEMES)
        raise ValueError(
            f"invalid proxy URL {shown!r}: unsupported scheme {scheme!r} (use {supported})"
        )
    if not parts.hostname:
        raise ValueError(f"invalid proxy URL {shown!r}: no host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"invalid proxy URL {shown!r}: invalid port") from None
    if port == 0:
        raise ValueError(f"invalid proxy URL {shown!r}: port 0")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"invalid proxy URL {shown!r}: a proxy URL has no path or query")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and username is None:
        username = ""
    return Proxy(scheme, parts.hostname, port or PROXY_SCHEMES[scheme], username, password)


def proxy_from_environment(secure: bool, host: str, port: int) -> str | None:
    """The proxy URL the environment gives for ``host:port``, or None.

    ``HTTPS_PROXY`` for a secure (``wss://``) connection, ``HTTP_PROXY``
    otherwise, ``ALL_PROXY`` for either; None when ``NO_PROXY`` exempts the
    host (checked as ``host``, ``host:port`` and, for IPv6, ``[host]:port``).
    """
    proxies = getproxies_environment()
    url = proxies.get("https" if secure else "http") or proxies.get("all")
    if not url:
        return None
    candidates = [_host_port(host, port), host]
    if any(proxy_bypass_environment(candidate, proxies) for candidate in candidates):
        return None
    return url


def select_proxy(option: str | bool | None, secure: bool, host: str, port: int) -> Proxy | None:
    """The proxy to use for a connection to ``host:port`` (see the module docstring)."""
    if option is False or option == "":
        return None
    if option is None or option is True:
        url = proxy_from_environment(secure, host, port)
        return parse_proxy_url(url) if url else None
    if not isinstance(option, str):
        raise TypeError(f"proxy must be a URL, None, True or False, not {type(option).__name__}")
    return parse_proxy_url(option)


# -- HTTP CONNECT (sans I/O) ---------------------------------------------------


def connect_request(proxy: Proxy, host: str, port: int) -> bytes:
    """The ``CONNECT`` request asking ``proxy`` for a tunnel to ``host:port``.

    Written by the one head renderer (:func:`ws4py.http11.render_request`):
    a host with CR/LF or spaces in it raises :class:`ValueError` rather than
    reaching the proxy as extra header lines.  A non-ASCII host name goes in
    its IDNA form, as the DNS sees it.
    """
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    target = _host_port(host, port)
    headers = [("Host", target)]
    if proxy.username is not None:
        credentials = f"{proxy.username}:{proxy.password or ''}".encode()
        headers.append(
            ("Proxy-Authorization", f"Basic {base64.b64encode(credentials).decode('ascii')}")
        )
    return render_request("CONNECT", target, headers)


def check_connect_response(response: Response, leftover: bytes, proxy: Proxy) -> None:
    """Raise a :class:`HandshakeError` unless the proxy opened the tunnel."""
    if not 200 <= response.status < 300:
        reason = response.reason
        if not reason:
            try:
                reason = http.HTTPStatus(response.status).phrase
            except ValueError:
                reason = ""
        hint = ""
        if response.status in (401, 407):
            # tinyproxy, for one, answers 401 to wrong credentials, 407 to none.
            hint = (
                "credentials rejected, "
                if proxy.username is not None
                else "it wants credentials: user:password@ in the proxy URL, "
            )
        raise HandshakeError(
            f"proxy refused CONNECT: {response.status} {reason}".rstrip()
            + f" ({hint}proxy {proxy.display})",
            status=response.status,
        )
    if leftover:
        # A websocket server never speaks first: these bytes are not ours.
        raise HandshakeError(
            f"proxy {proxy.display} sent {len(leftover)} unexpected bytes after its CONNECT answer"
        )


def _proxy_os_error(exc: OSError, proxy: Proxy) -> OSError:
    """The same kind of error, saying which proxy could not be reached."""
    what = exc.strerror or str(exc) or type(exc).__name__
    message = f"cannot connect to proxy {proxy.display}: {what}"
    try:
        if exc.errno is not None:
            return type(exc)(exc.errno, message)
        return type(exc)(message)
    except TypeError:
        return OSError(exc.errno, message)


# -- SOCKS (python-socks) ------------------------------------------------------------


def _socks_arguments(proxy: Proxy) -> tuple[Any, dict[str, Any]]:
    try:
        from python_socks import ProxyType
    except ImportError:
        raise ImportError(
            f"{proxy.scheme}:// proxies need python-socks: pip install 'ws4py[socks]'"
        ) from None
    kind = ProxyType.SOCKS4 if proxy.scheme.startswith("socks4") else ProxyType.SOCKS5
    return kind, {
        "host": proxy.host,
        "port": proxy.port,
        "username": proxy.username,
        "password": proxy.password,
        # socks5h / socks4a: the proxy resolves the name (curl's convention).
        "rdns": proxy.scheme in ("socks5h", "socks4a"),
    }


def _socks_error(exc: Exception, proxy: Proxy, host: str, port: int) -> Exception:
    from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError

    if isinstance(exc, ProxyError):
        # No HTTP status in SOCKS: 407 for its authentication, 502 for the rest.
        status = 407 if "authentication" in str(exc).lower() else 502
        return HandshakeError(
            f"{proxy.scheme} proxy {proxy.display} refused the connection to "
            f"{_host_port(host, port)}: {exc}",
            status=status,
        )
    if isinstance(exc, ProxyTimeoutError):
        return TimeoutError(f"{proxy.scheme} proxy {proxy.display} timed out")
    if isinstance(exc, ProxyConnectionError):
        return ConnectionError(exc.errno, f"cannot connect to proxy {proxy.display}: {exc}")
    return exc


def _open_socks(proxy: Proxy, host: str, port: int, timeout: float | None) -> socket.socket:
    kind, arguments = _socks_arguments(proxy)
    from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError
    from python_socks.sync import Proxy as SyncProxy

    try:
        sock = SyncProxy(kind, **arguments).connect(host, port, timeout=timeout)
    except (ProxyError, ProxyTimeoutError, ProxyConnectionError) as exc:
        raise _socks_error(exc, proxy, host, port) from exc
    sock.settimeout(timeout)
    return sock


# -- the blocking client --------------------------------------------------------------


def open_tunnel(
    proxy: Proxy,
    host: str,
    port: int,
    *,
    timeout: float | None,
    proxy_ssl_context: ssl.SSLContext | None = None,
) -> socket.socket:
    """A socket connected to ``host:port`` through ``proxy`` (blocking).

    With an ``https://`` proxy the result is an :class:`ssl.SSLSocket` (TLS
    with the proxy); TLS with the origin is then :func:`wrap_tls`'s job.
    """
    if not proxy.is_http:
        return _open_socks(proxy, host, port, timeout)
    try:
        sock = socket.create_connection((proxy.host, proxy.port), timeout)
    except OSError as exc:
        raise _proxy_os_error(exc, proxy) from exc
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if proxy.scheme == "https":
            context = proxy_ssl_context or ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=proxy.host)
        sock.sendall(connect_request(proxy, host, port))
        reader = HeadReader(is_response=True)
        while True:
            data = sock.recv(4096)
            if not data:
                raise HandshakeError(
                    f"proxy {proxy.display} closed the connection before answering CONNECT"
                )
            if reader.feed(data):
                break
        check_connect_response(parse_response(reader.head), reader.leftover, proxy)
    except BaseException:
        sock.close()
        raise
    return sock


def wrap_tls(sock: socket.socket, context: ssl.SSLContext, server_hostname: str) -> socket.socket:
    """TLS with the origin server over ``sock`` (which may itself be TLS, to a proxy)."""
    if isinstance(sock, ssl.SSLSocket):
        tunnel = TLSInTLSSocket(sock, context, server_hostname)
        try:
            tunnel.do_handshake()
        except BaseException:
            sock.close()
            raise
        return cast(socket.socket, tunnel)
    return context.wrap_socket(sock, server_hostname=server_hostname)


class TLSInTLSSocket:
    """A TLS session inside another one: ``wss://`` through an ``https://`` proxy.

    :meth:`ssl.SSLContext.wrap_socket` cannot wrap an :class:`ssl.SSLSocket`,
    so the inner session is an :class:`ssl.SSLObject` over two
    :class:`ssl.MemoryBIO`: ciphertext goes through the outer socket.  It
    offers the socket methods the websocket needs (``recv``, ``send``,
    ``sendall``, timeouts, non-blocking mode, ``fileno``, addresses,
    ``pending``, ``shutdown``, ``close``), and the certificate accessors
    (``getpeercert``, ``version``, ``cipher``).

    Reads may come from a thread while another writes (the threaded
    client): the SSL object is only touched under a lock, never held while
    waiting for the network.  In non-blocking mode (a manager), ciphertext
    the socket did not take is kept and sent first on the next ``send``;
    the last byte of a send is only accepted once everything before it is
    on the wire, so the caller keeps asking to write until it is.
    """

    def __init__(self, outer: ssl.SSLSocket, context: ssl.SSLContext, server_hostname: str):
        self._outer = outer
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(
            self._incoming, self._outgoing, server_side=False, server_hostname=server_hostname
        )
        self._lock = threading.Lock()  # the SSL object and the BIOs
        self._send_lock = threading.Lock()  # ciphertext leaves in order
        self._unsent = bytearray()  # non-blocking mode: ciphertext not taken yet
        self.family = outer.family
        self.type = outer.type
        self.proto = outer.proto
        self.server_hostname = server_hostname

    # -- TLS ------------------------------------------------------------------------

    def do_handshake(self) -> None:
        """Run the inner TLS handshake (blocking, under the outer socket's timeout)."""
        while True:
            try:
                with self._lock:
                    self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush_blocking()
                if not self._fill():
                    raise ssl.SSLEOFError(
                        "the tunnel closed during the TLS handshake with the server"
                    ) from None
        self._flush_blocking()

    def getpeercert(self, binary_form: bool = False) -> Any:
        return self._tls.getpeercert(binary_form)

    def version(self) -> str | None:
        return self._tls.version()

    def cipher(self) -> tuple[str, str, int] | None:
        return self._tls.cipher()

    def selected_alpn_protocol(self) -> str | None:
        return self._tls.selected_alpn_protocol()

    def pending(self) -> int:
        """Decrypted bytes ready to be read."""
        with self._lock:
            return self._tls.pending()

    # -- reading -------------------------------------------------------------------

    def _fill(self) -> bool:
        """Move what the outer socket has into the incoming BIO; False at EOF."""
        data = self._outer.recv(_READ_SIZE)
        with self._lock:
            if data:
                self._incoming.write(data)
            else:
                self._incoming.write_eof()
        return bool(data)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Up to ``bufsize`` decrypted bytes: whatever is ready, waiting only for the first."""
        if flags:
            raise ValueError("flags are not supported on a TLS-in-TLS socket")
        chunks: list[bytes] = []
        size = 0
        while size < bufsize:
            try:
                with self._lock:
                    data = self._tls.read(bufsize - size)
            except ssl.SSLWantReadError:
                if chunks and not self._outer.pending():
                    break  # return what is here rather than wait for more
                self._flush_quietly()
                self._fill()
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break  # end of the stream (ragged EOFs too, like an SSLSocket)
            if not data:
                break
            chunks.append(data)
            size += len(data)
        self._flush_quietly()  # a read may have produced records (key updates)
        return b"".join(chunks)

    # -- writing -------------------------------------------------------------------------

    def _flush_blocking(self) -> None:
        with self._send_lock:
            with self._lock:
                data = self._outgoing.read()
            if data:
                self._outer.sendall(data)

    def _flush_quietly(self) -> None:
        """Send records a read produced, unless a writer is at it.

        Never waits for a writer: one blocked on a full socket may be waiting
        for the peer, which may be waiting for us to read (full duplex).
        What is left in the BIO leaves with the next flush.
        """
        if not self._send_lock.acquire(blocking=False):
            return
        try:
            if self._outer.gettimeout() == 0.0:
                self._flush_nonblocking(locked=True)
            else:
                with self._lock:
                    data = self._outgoing.read()
                if data:
                    self._outer.sendall(data)
        finally:
            self._send_lock.release()

    def _flush_nonblocking(self, locked: bool = False) -> bool:
        """Send what the outer socket takes now; True when nothing is left."""
        with contextlib.nullcontext() if locked else self._send_lock:
            with self._lock:
                self._unsent += self._outgoing.read()
            while self._unsent:
                try:
                    sent = self._outer.send(self._unsent)
                except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    return False
                if not sent:
                    return False
                del self._unsent[:sent]
            return True

    def send(self, data: Any, flags: int = 0) -> int:
        """Encrypt and send ``data``; returns how many bytes were accepted."""
        if flags:
            raise ValueError("flags are not supported on a TLS-in-TLS socket")
        view = memoryview(data).cast("B")
        if not view:
            return 0
        if self._outer.gettimeout() != 0.0:
            with self._lock:
                written = self._tls.write(view)
            self._flush_blocking()
            return written
        # Non-blocking: ciphertext the socket does not take is kept, and the
        # caller is told one byte less, so it comes back (and we flush) later.
        if not self._flush_nonblocking():
            raise BlockingIOError("the tunnel's socket is not writable")
        written = 0
        if len(view) > 1:
            with self._lock:
                written = self._tls.write(view[:-1])
            if not self._flush_nonblocking():
                return written
            view = view[-1:]
        with self._lock:
            written += self._tls.write(view)
        if not self._flush_nonblocking():
            self._flush_wait()  # one small record: wait for the socket rather than lose it
        return written

    def _flush_wait(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._flush_nonblocking():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the tunnel's socket stayed unwritable")
            select.select([], [self._outer], [], remaining)

    def sendall(self, data: Any, flags: int = 0) -> None:
        view = memoryview(data).cast("B")
        while view:
            sent = self.send(view[:_READ_SIZE], flags)
            view = view[sent:]

    # -- the socket's other methods ---------------------------------------------------

    def fileno(self) -> int:
        return self._outer.fileno()

    def settimeout(self, timeout: float | None) -> None:
        self._outer.settimeout(timeout)

    def gettimeout(self) -> float | None:
        return self._outer.gettimeout()

    def setblocking(self, flag: bool) -> None:
        self._outer.setblocking(flag)

    def getpeername(self) -> Any:
        return self._outer.getpeername()

    def getsockname(self) -> Any:
        return self._outer.getsockname()

    def setsockopt(self, *args: Any) -> None:
        self._outer.setsockopt(*args)

    def getsockopt(self, *args: Any) -> Any:
        return self._outer.getsockopt(*args)

    def shutdown(self, how: int) -> None:
        """Send the inner close_notify (best effort), then shut the socket down."""
        try:
            with self._lock:
                self._tls.unwrap()
        except (ssl.SSLError, ValueError):
            pass
        try:
            self._flush_quietly()
        except OSError:
            pass
        self._outer.shutdown(how)

    def close(self) -> None:
        self._outer.close()

    def __repr__(self) -> str:
        return f"<TLSInTLSSocket to {self.server_hostname} via {self._outer!r}>"


# -- asyncio -------------------------------------------------------------------------------


class _ConnectProtocol(asyncio.Protocol):
    """Sends ``CONNECT`` and reads the proxy's answer; then the websocket takes over."""

    def __init__(self, request: bytes, proxy: Proxy) -> None:
        self.request = request
        self.proxy = proxy
        self.reader = HeadReader(is_response=True)
        self.answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.answered.done():
            return
        try:
            if self.reader.feed(data):
                response = parse_response(self.reader.head)
                check_connect_response(response, self.reader.leftover, self.proxy)
                self.answered.set_result(None)
        except HandshakeError as exc:
            self.answered.set_exception(exc)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answered.done():
            self.answered.set_exception(
                HandshakeError(
                    f"proxy {self.proxy.display} closed the connection before answering CONNECT"
                )
            )


async def open_tunnel_async(
    proxy: Proxy,
    host: str,
    port: int,
    protocol: asyncio.Protocol,
    *,
    ssl_context: ssl.SSLContext | None,
    timeout: float | None,
    proxy_ssl_context: ssl.SSLContext | None = None,
) -> asyncio.Transport:
    """Connect ``protocol`` to ``host:port`` through ``proxy``; TLS with the origin
    when ``ssl_context`` is given (server name: ``host``).

    ``protocol.connection_made`` is called with the transport once the
    tunnel (and the origin's TLS session) is up; the transport is returned.
    """
    loop = asyncio.get_running_loop()
    if not proxy.is_http:
        kind, arguments = _socks_arguments(proxy)
        from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError
        from python_socks.async_.asyncio import Proxy as AsyncioProxy

        try:
            sock = await AsyncioProxy(kind, loop=loop, **arguments).connect(
                host, port, timeout=timeout
            )
        except (ProxyError, ProxyTimeoutError, ProxyConnectionError) as exc:
            raise _socks_error(exc, proxy, host, port) from exc
        try:
            transport, _ = await loop.create_connection(
                lambda: protocol,
                sock=sock,
                ssl=ssl_context,
                server_hostname=host if ssl_context is not None else None,
                ssl_handshake_timeout=timeout if ssl_context is not None else None,
            )
        except BaseException:
            sock.close()
            raise
        return transport

    if proxy.scheme == "https" and ssl_context is not None and sys.version_info < (3, 11):
        raise NotImplementedError(
            "wss:// through an https:// proxy needs TLS inside TLS, which asyncio supports "
            "from Python 3.11 on: use the threaded client, or an http:// proxy"
        )
    proxy_context = None
    if proxy.scheme == "https":
        proxy_context = proxy_ssl_context or ssl.create_default_context()
    connector = _ConnectProtocol(connect_request(proxy, host, port), proxy)
    try:
        transport, _ = await loop.create_connection(
            lambda: connector,
            proxy.host,
            proxy.port,
            ssl=proxy_context,
            server_hostname=proxy.host if proxy_context is not None else None,
        )
    except ssl.SSLError:
        raise
    except OSError as exc:
        raise _proxy_os_error(exc, proxy) from exc
    try:
        await connector.answered
        if ssl_context is not None:
            tls = await loop.start_tls(
                transport,
                protocol,
                ssl_context,
                server_hostname=host,
                ssl_handshake_timeout=timeout,
            )
            assert tls is not None
            transport = tls
        else:
            transport.set_protocol(protocol)
    except BaseException:
        transport.abort()
        raise
    protocol.connection_made(transport)
    return transport
