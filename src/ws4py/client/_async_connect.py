"""The asyncio `connect()` (`ws4py.async_websocket.connect`): proxies, redirects, reconnection.

One connection attempt (a "hop") opens TCP (directly, through an HTTP
CONNECT tunnel or a SOCKS proxy: :mod:`ws4py.client.proxy`), TLS for
``wss://`` and the opening handshake.  A redirect answer ends the hop and
the next one starts from its ``Location`` (:mod:`ws4py.client.redirects`).
What the URL means, the headers of each hop and where a redirect leads are
decided by :mod:`ws4py.client.target`, as for the threaded client; the
protocol reports the redirect through its public ``on_response`` hook.
With a reconnection policy the websocket returned is a
:class:`~ws4py.client.reconnect.ReconnectingWebSocket` that opens the same
URL again when its connection ends abnormally.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

from ws4py.asyncio.connection import ClientProtocol, WebSocket
from ws4py.client.proxy import open_tunnel_async, select_proxy
from ws4py.client.reconnect import (
    ReconnectingWebSocket,
    ReconnectPolicy,
    reconnect_policy,
    reconnecting_class,
)
from ws4py.client.target import Redirected, Redirects
from ws4py.extensions import ClientExtensionFactory, default_client_extensions

__all__ = ["connect", "open_websocket"]


async def _open_hop(
    redirects: Redirects,
    handler_cls: type[WebSocket],
    make_websocket: Callable[..., WebSocket] | None,
    options: dict[str, Any],
) -> WebSocket:
    """One connection attempt to the current hop of ``redirects``.

    A redirect answer raises :class:`~ws4py.client.target.Redirected` (the
    protocol's ``on_response`` hook is :meth:`Redirects.check`).
    """
    target = redirects.target
    extensions = options["extensions"]
    handshake = target.handshake(
        origin=options["origin"],
        protocols=options["protocols"],
        extensions=extensions if extensions is not None else default_client_extensions(),
        headers=redirects.headers(options["headers"]) or None,
        exclude_headers=options["exclude_headers"],
    )
    loop = asyncio.get_running_loop()
    secure = target.secure
    context = options["ssl_context"] or (ssl.create_default_context() if secure else None)
    proto = ClientProtocol(handshake, handler_cls, make_websocket, on_response=redirects.check)
    proto.handshake_timeout = options["open_timeout"]
    server_hostname = target.host if context is not None else None
    try:
        if target.unix_socket_path is not None:
            await loop.create_unix_connection(
                lambda: proto, target.unix_socket_path, ssl=context, server_hostname=server_hostname
            )
        else:
            host, port = target.host, target.tcp_port
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
    redirects = Redirects(url, options["max_redirects"])
    while True:
        try:
            websocket = await asyncio.wait_for(
                _open_hop(redirects, handler_cls, make_websocket, options),
                options["open_timeout"],
            )
        except Redirected:
            continue  # redirects now aims at the Location
        websocket.__dict__["final_url"] = redirects.url
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
