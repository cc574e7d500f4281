"""Redirects answered to the opening handshake: the rules (sans I/O).

A server may answer the upgrade request with ``301``, ``302``, ``303``,
``307`` or ``308`` and a ``Location``: the clients then open a new
connection (a new TCP connection per hop, through the proxy that applies to
the new host) and handshake again, up to ``max_redirects`` hops (5 by
default; 0 follows none: the redirect is then a failed handshake).  The
rules:

* a relative ``Location`` is resolved against the URL of the current hop;
  ``http://`` and ``https://`` locations are taken as ``ws://`` and
  ``wss://``, other schemes are refused;
* never from ``wss://`` to ``ws://``: that would send the request (and
  what follows) in clear text, so it fails with a
  :class:`~ws4py.exc.HandshakeError`;
* no redirects on ``ws+unix://`` connections (a
  :class:`~ws4py.exc.HandshakeError` that says so);
* headers the application gave that carry credentials (``Authorization``,
  ``Cookie``) are not sent to another origin (scheme, host or port).

Both clients follow them through :class:`ws4py.client.target.Redirects`,
where the implementation lives; this module keeps the names it always had.
"""

from __future__ import annotations

from ws4py.client.target import (
    CREDENTIAL_HEADERS,
    REDIRECT_STATUSES,
    Redirected,
    Redirects,
    redirect_location,
    same_origin,
)

__all__ = [
    "CREDENTIAL_HEADERS",
    "REDIRECT_STATUSES",
    "Redirected",
    "Redirects",
    "redirect_location",
    "same_origin",
]
