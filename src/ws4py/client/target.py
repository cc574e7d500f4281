"""Where a client connects, sans I/O: URL -> target, request headers, redirects.

Both clients (the threaded :class:`~ws4py.client.WebSocketBaseClient` and
the asyncio :func:`ws4py.async_websocket.connect`) decide here, and only
here, what a URL means and where a redirect leads; they only open sockets:

* :func:`parse_url` turns a ``ws://``, ``wss://``, ``ws+unix://`` or
  ``wss+unix://`` URL into a :class:`Target`: scheme, host, port, resource
  (path and query), Unix socket path, TLS or not.  As ws4py 0.6.0, the port
  of a TCP URL defaults to the scheme's (80, 443) and a Unix socket URL has
  host ``localhost``, no port and resource ``/`` (plus its query).
* :meth:`Target.handshake` builds the opening handshake of a target (the
  ``Host`` header rule itself is :attr:`ws4py.handshake.ClientHandshake.host_header`:
  IPv6 literals bracketed, the host alone for a Unix socket, the port
  omitted when it is the scheme's unless ``always_port``, which the classic
  client keeps because ws4py 0.6.0 always sent it); :attr:`Target.origin` is
  the web origin (RFC 6454) a browser would send for it.
* :class:`Redirects` follows the redirects of one connection attempt: given
  each :class:`~ws4py.handshake.Response`, the next target or an error, with
  the count; the rules are :mod:`ws4py.client.redirects`'s.  It also says
  which of the application's headers may go to the current hop
  (credentials stay with the first origin).

The reconnection policy is the neighbour module
:mod:`ws4py.client.reconnect_policy`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

from ws4py.exc import HandshakeError
from ws4py.extensions import ClientExtensionFactory
from ws4py.handshake import ClientHandshake, Response

__all__ = [
    "CREDENTIAL_HEADERS",
    "REDIRECT_STATUSES",
    "SCHEMES",
    "Redirected",
    "Redirects",
    "Target",
    "default_port",
    "parse_url",
    "redirect_location",
    "same_origin",
    "target_headers",
]

#: ``scheme -> (secure, unix)`` for the schemes a client accepts.
SCHEMES: dict[str, tuple[bool, bool]] = {
    "ws": (False, False),
    "wss": (True, False),
    "ws+unix": (False, True),
    "wss+unix": (True, True),
}

#: Statuses whose ``Location`` is followed.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

#: Extra request headers dropped when a redirect leads to another origin.
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie"})

_HTTP_TO_WS = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def default_port(secure: bool) -> int:
    """The port of a URL that names none: 443 with TLS, 80 without (RFC 6455 section 3)."""
    return 443 if secure else 80


def _split(url: str) -> tuple[SplitResult, str, bool, bool]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(f"invalid scheme in {url!r}: use ws, wss, ws+unix or wss+unix")
    secure, unix = SCHEMES[scheme]
    return parts, scheme, secure, unix


@dataclass(frozen=True)
class Target:
    """One place to connect to and the request line's resource.

    ``port`` is None only for a Unix socket (or when a classic client's
    ``port`` attribute was set to None: :attr:`tcp_port` then gives the
    scheme's).
    """

    scheme: str
    host: str
    port: int | None
    resource: str
    unix_socket_path: str | None = None

    @property
    def secure(self) -> bool:
        """Whether the connection is TLS (``wss://``, ``wss+unix://``)."""
        return SCHEMES[self.scheme][0]

    @property
    def tcp_port(self) -> int:
        """The TCP port to connect to: :attr:`port`, or the scheme's default."""
        return self.port if self.port is not None else default_port(self.secure)

    @property
    def bind_addr(self) -> Any:
        """The address connected to: the socket path, or ``(host, port)`` (classic)."""
        return self.unix_socket_path or (self.host, self.port)

    def as_tuple(self) -> tuple[str, str, int | None, str, str | None]:
        """``(scheme, host, port, resource, unix_socket_path)``, the classic attributes."""
        return self.scheme, self.host, self.port, self.resource, self.unix_socket_path

    @property
    def origin(self) -> str:
        """The web origin ``http(s)://host[:port]`` of the target (RFC 6454 section 6.1).

        What a browser sends as ``Origin`` (a server checking origins,
        RFC 6455 section 10.2, compares with that): IPv6 literals bracketed,
        the port only when it is not the scheme's, ``localhost`` for a Unix
        socket.
        """
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = self.port
        suffix = f":{port}" if port is not None and port != default_port(self.secure) else ""
        if self.unix_socket_path is not None:
            suffix = ""
        return f"{'https' if self.secure else 'http'}://{host}{suffix}"

    def handshake(
        self,
        *,
        always_port: bool = False,
        origin: str | None = None,
        protocols: list[str] | None = None,
        extensions: list[ClientExtensionFactory] | None = None,
        headers: list[tuple[str, str]] | None = None,
        exclude_headers: list[str] | None = None,
        key: bytes | str | None = None,
    ) -> ClientHandshake:
        """The opening handshake for this target (its ``Host`` from host and port).

        ``always_port`` writes the port in ``Host`` even when it is the
        scheme's (ws4py 0.6.0's client did; RFC 7230 section 5.4 allows both).
        """
        return ClientHandshake(
            self.host,
            self.port,
            self.resource,
            secure=self.secure,
            origin=origin,
            protocols=protocols,
            extensions=extensions,
            headers=headers,
            exclude_headers=exclude_headers,
            key=key,
            port_in_host=always_port,
        )


def parse_url(url: str) -> Target:
    """The :class:`Target` of a client URL; :class:`ValueError` if it is not one.

    Schemes are case-insensitive; the host is lowercased (as
    :func:`urllib.parse.urlsplit` gives it, IPv6 without brackets); the
    query stays in the resource; the fragment is dropped.  A Unix socket
    URL's path is everything after ``://`` (``ws+unix:///run/s.sock`` is
    ``/run/s.sock``, ``ws+unix://run/s.sock`` the relative ``run/s.sock``).
    """
    parts, scheme, secure, unix = _split(url)
    query = "?" + parts.query if parts.query else ""
    if unix:
        path = parts.netloc + parts.path
        if not path:
            raise ValueError(f"no socket path in {url!r}")
        return Target(scheme, "localhost", None, "/" + query, path)
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    try:
        port = parts.port or default_port(secure)
    except ValueError:
        raise ValueError(f"invalid port in {url!r}") from None
    return Target(scheme, parts.hostname, port, (parts.path or "/") + query)


def same_origin(url_a: str, url_b: str) -> bool:
    """Whether two client URLs have the same scheme, host and port (default ports filled in)."""

    def origin(url: str) -> tuple[str, str, int | None]:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        secure = SCHEMES.get(scheme, (False, False))[0]
        try:
            port = parts.port or default_port(secure)
        except ValueError:
            port = None
        return scheme, (parts.hostname or "").lower(), port

    return origin(url_a) == origin(url_b)


def target_headers(
    headers: Iterable[tuple[str, str]], first_url: str, url: str
) -> list[tuple[str, str]]:
    """The application's ``headers`` to send to ``url`` after starting at ``first_url``.

    Credentials (``Authorization``, ``Cookie``) are for the origin they were
    given for: a redirect to another origin does not carry them.
    """
    if same_origin(first_url, url):
        return list(headers)
    return [(name, value) for name, value in headers if name.lower() not in CREDENTIAL_HEADERS]


def redirect_location(url: str, response: Response, hops: int, max_redirects: int) -> str:
    """The ``ws://``/``wss://`` URL that ``response`` (a redirect) sends ``url`` to.

    ``hops`` is the number of redirects already followed.  Raises
    :class:`~ws4py.exc.HandshakeError` (with the redirect's status) for a
    missing or unusable ``Location``, a redirect of a Unix socket
    connection, one from ``wss://`` to ``ws://``, or one redirect too many.
    """
    status = response.status
    what = f"{status} {response.reason}".rstrip()
    scheme = urlsplit(url).scheme.lower()
    if SCHEMES.get(scheme, (False, False))[1]:
        raise HandshakeError(
            f"server answered {what}: redirects are not followed on Unix sockets", status=status
        )
    location = (response.headers.get("Location") or "").strip()
    if not location:
        raise HandshakeError(f"server answered {what} without a Location", status=status)
    if hops >= max_redirects:
        raise HandshakeError(
            f"too many redirects: more than {max_redirects} (the last one, {what}, "
            f"to {location!r})",
            status=status,
        )
    # urljoin knows http(s) best: resolve there, then come back to ws(s).
    base = urlsplit(url)
    http_base = urlunsplit(("https" if scheme == "wss" else "http", *base[1:]))
    resolved = urlsplit(urljoin(http_base, location))
    new_scheme = _HTTP_TO_WS.get(resolved.scheme.lower())
    try:
        resolved.port  # noqa: B018 - raises ValueError for a port that is not one
        usable = new_scheme is not None and bool(resolved.hostname)
    except ValueError:  # a port that is not a number, or out of range
        usable = False
    if not usable or new_scheme is None:
        raise HandshakeError(
            f"server answered {what} with an unusable Location {location!r}", status=status
        )
    if scheme == "wss" and new_scheme == "ws":
        raise HandshakeError(
            f"refusing a redirect from wss:// to ws:// ({location!r}): it would drop TLS",
            status=status,
        )
    return urlunsplit((new_scheme, resolved.netloc, resolved.path, resolved.query, ""))


class Redirected(HandshakeError):
    """The server answered the upgrade with a redirect that is to be followed.

    Raised by :meth:`Redirects.check` (the asyncio client's
    ``on_response`` hook) to end the current hop; :attr:`location` is where
    the next one goes.  Its ``status`` is the redirect's.
    """

    def __init__(self, response: Response, location: str) -> None:
        super().__init__(
            f"server answered {response.status} {response.reason}".rstrip()
            + f": redirected to {location}",
            status=response.status,
        )
        self.response = response
        self.location = location


class Redirects:
    """The redirects of one connection attempt, sans I/O (rules: :mod:`ws4py.client.redirects`).

    Start at ``url``; after each response that is not a 101 call
    :meth:`follow`: it returns the next URL (now :attr:`url`, with
    :attr:`hops` counted) or None when the response is not a redirect to
    follow (``max_redirects=0``, or not a redirect status: the handshake's
    own check then refuses it), and raises
    :class:`~ws4py.exc.HandshakeError` when the redirect cannot be followed.
    """

    def __init__(self, url: str, max_redirects: int = 5) -> None:
        if max_redirects < 0:
            raise ValueError("max_redirects must be >= 0")
        #: The URL the attempt started from.
        self.first_url = url
        #: The URL of the current hop.
        self.url = url
        #: Redirects followed so far.
        self.hops = 0
        self.max_redirects = max_redirects

    @property
    def target(self) -> Target:
        """The target of the current hop."""
        return parse_url(self.url)

    def headers(self, headers: Iterable[tuple[str, str]] | None) -> list[tuple[str, str]]:
        """The application's headers for the current hop (:func:`target_headers`)."""
        return target_headers(headers or (), self.first_url, self.url)

    def wants(self, response: Response) -> bool:
        """Whether ``response`` is a redirect this attempt follows (or fails on)."""
        return self.max_redirects > 0 and response.status in REDIRECT_STATUSES

    def follow(self, response: Response) -> str | None:
        """The next hop's URL for ``response``, or None if it is not a redirect to follow."""
        if not self.wants(response):
            return None
        location = redirect_location(self.url, response, self.hops, self.max_redirects)
        self.hops += 1
        self.url = location
        return location

    def check(self, response: Response) -> None:
        """Raise :class:`Redirected` if ``response`` is to be followed (a response hook).

        Other errors of :meth:`follow` are raised as they are; a response
        that is not a redirect to follow passes.
        """
        location = self.follow(response)
        if location is not None:
            raise Redirected(response, location)
