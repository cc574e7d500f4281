"""The asyncio `connect()` (`ws4py.async_websocket.connect`): proxies, redirects, reconnection.

One connection attempt (a "hop") opens TCP (directly, through an HTTP
CONNECT tunnel or a SOCKS proxy: :mod:`ws4py.client.proxy`), TLS for
``wss://`` and the opening handshake.  A redirect answer ends the hop and
the next one starts from its ``Location`` (:mod:`ws4py.client.redirects`).
With a reconnection policy the websocket returned is a
:class:`~ws4py.client.reconnect.ReconnectingWebSocket` that opens the same
URL again when its connection ends abnormally.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ws4py.asyncio.connection import ClientProtocol, WebSocket
from ws4py.client.proxy import open_tunnel_async, select_proxy
from ws4py.client.reconnect import (
    ReconnectingWebSocket,
    ReconnectPolicy,
    reconnect_policy,
    reconnecting_class,
)
from ws4py.client.redirects import (
    CREDENTIAL_HEADERS,
    REDIRECT_STATUSES,
    redirect_location,
    same_origin,
)
from ws4py.extensions import ClientExtensionFactory, default_client_extensions
from ws4py.handshake import ClientHandshake, Response, parse_response

__all__ = ["connect", "open_websocket"]


class _Redirect(Exception):
    """The server answered the handshake with a redirect (internal)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class _HopProtocol(ClientProtocol):
    """The client protocol, which reports a redirect instead of failing on it."""

    follow_redirects = True

    def _handshake_done(self, head: bytes, leftover: bytes) -> None:
        response = parse_response(head)
        if self.follow_redirects and response.status in REDIRECT_STATUSES:
            self._cancel_handshake_timer()
            if not self.opened_future.done():
                self.opened_future.set_exception(_Redirect(response))
            if self.transport is not None:
                self.transport.close()
            return
        super()._handshake_done(head, leftover)


async def _open_hop(
    url: str,
    handler_cls: type[WebSocket],
    make_websocket: Callable[..., WebSocket] | None,
    options: dict[str, Any],
    headers: list[tuple[str, str]] | None,
) -> WebSocket:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss", "ws+unix", "wss+unix"):
        raise ValueError(f"invalid scheme in {url!r}: use ws, wss, ws+unix or wss+unix")
    secure = scheme.startswith("wss")
    unix_path = (parts.netloc + parts.path) if scheme.endswith("+unix") else None
    host = "localhost" if unix_path else parts.hostname
    if not host:
        raise ValueError(f"no host in {url!r}")
    try:
        port = parts.port or (443 if secure else 80)
    except ValueError:
        raise ValueError(f"invalid port in {url!r}") from None
    resource = "/" if unix_path else (parts.path or "/")
    if parts.query:
        resource += "?" + parts.query
    extensions = options["extensions"]
    handshake = ClientHandshake(
        host,
        port,
        resource,
        secure=secure,
        origin=options["origin"],
        protocols=options["protocols"],
        extensions=extensions if extensions is not None else default_client_extensions(),
        headers=headers,
        exclude_headers=options["exclude_headers"],
    )
    loop = asyncio.get_running_loop()
    context = options["ssl_context"] or (ssl.create_default_context() if secure else None)
    proto = _HopProtocol(handshake, handler_cls, make_websocket)
    proto.handshake_timeout = options["open_timeout"]
    proto.follow_redirects = options["max_redirects"] > 0 and not unix_path
    server_hostname = host if context is not None else None
    try:
        if unix_path:
            await loop.create_unix_connection(
                lambda: proto, unix_path, ssl=context, server_hostname=server_hostname
            )
        else:
            proxy = select_proxy(options["proxy"], secure, host, port)
            if proxy is None:
                await loop.create_connection(
                    lambda: proto, host, port, ssl=context, server_hostname=server_hostname
                )
            else:
                await open_tunnel_async(
                    proxy,
                    host,
                    port,
                    proto,
                    ssl_context=context,
                    timeout=options["open_timeout"],
                    proxy_ssl_context=options["proxy_ssl_context"],
                )
        return await proto.opened_future
    except BaseException:
        if proto.transport is not None and proto.websocket is None:
            proto.transport.abort()
        raise


async def _open(
    url: str,
    handler_cls: type[WebSocket],
    make_websocket: Callable[..., WebSocket] | None,
    options: dict[str, Any],
) -> WebSocket:
    """Open a connection to ``url``, following redirects."""
    headers: list[tuple[str, str]] | None = options["headers"]
    current = url
    hops = 0
    while True:
        hop_headers = headers
        if headers and not same_origin(current, url):
            hop_headers = [(n, v) for n, v in headers if n.lower() not in CREDENTIAL_HEADERS]
        try:
            websocket = await asyncio.wait_for(
                _open_hop(current, handler_cls, make_websocket, options, hop_headers),
                options["open_timeout"],
            )
        except _Redirect as redirect:
            current = redirect_location(current, redirect.response, hops, options["max_redirects"])
            hops += 1
            continue
        websocket.__dict__["final_url"] = current
        return websocket


async def open_websocket(
    url: str,
    handler_cls: type[WebSocket],
    *,
    protocols: list[str] | None,
    extensions: list[ClientExtensionFactory] | None,
    headers: list[tuple[str, str]] | None,
    exclude_headers: list[str] | None,
    origin: str | None,
    ssl_context: ssl.SSLContext | None,
    open_timeout: float,
    make_websocket: Callable[..., WebSocket] | None,
    proxy: str | bool | None,
    proxy_ssl_context: ssl.SSLContext | None,
    max_redirects: int,
    reconnect: bool | ReconnectPolicy | None,
) -> WebSocket:
    """:func:`ws4py.async_websocket.connect`'s implementation."""
    if max_redirects < 0:
        raise ValueError("max_redirects must be >= 0")
    options: dict[str, Any] = {
        "protocols": protocols,
        "extensions": extensions,
        "headers": headers,
        "exclude_headers": exclude_headers,
        "origin": origin,
        "ssl_context": ssl_context,
        "open_timeout": open_timeout,
        "proxy": proxy,
        "proxy_ssl_context": proxy_ssl_context,
        "max_redirects": max_redirects,
    }
    policy = reconnect_policy(reconnect)
    if policy is None:
        return await _open(url, handler_cls, make_websocket, options)
    if make_websocket is not None:
        raise ValueError("make_websocket cannot be combined with reconnect")
    cls = reconnecting_class(handler_cls)

    async def reopen(make: Callable[..., WebSocket]) -> WebSocket:
        return await _open(url, cls, make, options)

    def first(
        proto: ClientProtocol,
        protocols: list[str] | None,
        extensions: list[Any] | None,
        environ: dict[str, Any] | None,
    ) -> ReconnectingWebSocket:
        websocket = cls(proto, protocols, extensions, environ)
        websocket._init_session(policy, reopen)
        return websocket

    return await _open(url, cls, first, options)


async def connect(
    url: str,
    handler_cls: type[WebSocket] = WebSocket,
    *,
    protocols: list[str] | None = None,
    extensions: list[ClientExtensionFactory] | None = None,
    headers: list[tuple[str, str]] | None = None,
    exclude_headers: list[str] | None = None,
    origin: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    open_timeout: float = 10.0,
    make_websocket: Callable[..., WebSocket] | None = None,
    proxy: str | bool | None = None,
    proxy_ssl_context: ssl.SSLContext | None = None,
    max_redirects: int = 5,
    reconnect: Any = None,
) -> WebSocket:
    """Connect to a ``ws://``, ``wss://`` or ``ws+unix://`` URL; returns the open websocket.

    Certificates are verified by default (``ssl_context`` changes that).
    ``make_websocket(proto, protocols, extensions, environ)``, when given,
    returns the websocket for the connection instead of ``handler_cls(...)``.
    Raises :class:`HandshakeError` or :class:`OSError` on failure.

    ``proxy``: a proxy URL (``http://[user:pass@]host:port``, ``https://``,
    ``socks4://``, ``socks4a://``, ``socks5://``, ``socks5h://``), None for
    the environment's (``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``,
    ``NO_PROXY``), False for none; ``proxy_ssl_context`` verifies an
    ``https://`` proxy (:mod:`ws4py.client.proxy`).  Redirects are followed
    up to ``max_redirects`` times, never from ``wss://`` to ``ws://``; the
    websocket's ``final_url`` is the URL connected to
    (:mod:`ws4py.client.redirects`).  ``reconnect=True`` or a
    :class:`~ws4py.client.reconnect.ReconnectPolicy` returns a websocket
    that reconnects after an abnormal closure (:mod:`ws4py.client.reconnect`;
    not with ``make_websocket``).  ``open_timeout`` bounds each connection
    attempt (each redirect hop).
    """
    return await open_websocket(
        url,
        handler_cls,
        protocols=protocols,
        extensions=extensions,
        headers=headers,
        exclude_headers=exclude_headers,
        origin=origin,
        ssl_context=ssl_context,
        open_timeout=open_timeout,
        make_websocket=make_websocket,
        proxy=proxy,
        proxy_ssl_context=proxy_ssl_context,
        max_redirects=max_redirects,
        reconnect=reconnect,
    )
