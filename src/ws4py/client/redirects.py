"""Redirects answered to the opening handshake (sans I/O).

A server may answer the upgrade request with ``301``, ``302``, ``303``,
``307`` or ``308`` and a ``Location``: the clients then open a new
connection (a new TCP connection per hop, through the proxy that applies to
the new host) and handshake again, up to ``max_redirects`` hops (5 by
default; 0 follows none).  The rules:

* a relative ``Location`` is resolved against the URL of the current hop;
  ``http://`` and ``https://`` locations are taken as ``ws://`` and
  ``wss://``, other schemes are refused;
* never from ``wss://`` to ``ws://``: that would send the request (and
  what follows) in clear text, so it fails with a
  :class:`~ws4py.exc.HandshakeError`;
* no redirects on ``ws+unix://`` connections;
* headers the application gave that carry credentials (``Authorization``,
  ``Cookie``) are not sent to another origin (scheme, host or port).
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit, urlunsplit

from ws4py.exc import HandshakeError
from ws4py.handshake import Response

__all__ = ["CREDENTIAL_HEADERS", "REDIRECT_STATUSES", "redirect_location", "same_origin"]

#: Statuses whose ``Location`` is followed.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

#: Extra request headers dropped when a redirect leads to another origin.
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie"})

_HTTP_TO_WS = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def redirect_location(url: str, response: Response, hops: int, max_redirects: int) -> str:
    """The ``ws://``/``wss://`` URL that ``response`` (a redirect) sends ``url`` to.

    ``hops`` is the number of redirects already followed.  Raises
    :class:`~ws4py.exc.HandshakeError` (with the redirect's status) for a
    missing or unusable ``Location``, a redirect from ``wss://`` to
    ``ws://``, or one redirect too many.
    """
    status = response.status
    what = f"{status} {response.reason}".rstrip()
    scheme = urlsplit(url).scheme.lower()
    if scheme.endswith("+unix"):
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
    target = urlsplit(urljoin(http_base, location))
    new_scheme = _HTTP_TO_WS.get(target.scheme.lower())
    if new_scheme is None or not target.hostname:
        raise HandshakeError(
            f"server answered {what} with an unusable Location {location!r}", status=status
        )
    if scheme == "wss" and new_scheme == "ws":
        raise HandshakeError(
            f"refusing a redirect from wss:// to ws:// ({location!r}): it would drop TLS",
            status=status,
        )
    return urlunsplit((new_scheme, target.netloc, target.path, target.query, ""))


def same_origin(url_a: str, url_b: str) -> bool:
    """Whether two ws(s) URLs have the same scheme, host and port."""

    def origin(url: str) -> tuple[str, str, int]:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or (443 if scheme == "wss" else 80)
        return scheme, (parts.hostname or "").lower(), port

    return origin(url_a) == origin(url_b)
