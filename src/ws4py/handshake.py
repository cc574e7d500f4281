"""The RFC 6455 opening handshake (section 4), sans I/O.

Nothing here touches a socket: bytes go in, objects and bytes come out, so
every client and server of the package (threaded, asyncio, WSGI...) shares
the same rules.  HTTP/1.1 itself (reading a head within limits, parsing,
rendering) is :mod:`ws4py.http11`; this module holds the WebSocket rules:

* Server side: :func:`validate_request` (or :func:`validate_environ` for a
  WSGI environ; both run the same checks) returns a
  :class:`ServerHandshakeResult` whose :meth:`~ServerHandshakeResult.response_bytes`
  is the ``101 Switching Protocols`` answer; on failure a
  :class:`~ws4py.exc.HandshakeError` carries the HTTP status and headers, and
  :func:`reject_response_bytes` renders it.
* Client side: :class:`ClientHandshake` builds the request and checks the
  server's response.

The HTTP names (:class:`HeadReader`, :func:`parse_request`, :class:`Headers`,
the ``MAX_*`` limits...) are still importable from here, where they were
first; setting a limit here (``ws4py.handshake.MAX_HEADERS = 50``, as
SECURITY.md documents) sets it in :mod:`ws4py.http11`, where
:class:`HeadReader` reads it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ws4py import http11
from ws4py.exc import HandshakeError
from ws4py.extensions import (
    ClientExtensionFactory,
    Extension,
    ServerExtensionFactory,
    format_extension,
    parse_extension_header,
)
from ws4py.http11 import (
    HTTP_VERSION_RE,
    TARGET_RE,
    TOKEN_RE,
    Headers,
    HeadReader,
    Request,
    Response,
    list_elements,
    parse_header_block,
    parse_request,
    parse_response,
    reason_phrase,
    render_request,
    render_response,
)

if TYPE_CHECKING:
    # At run time these are read from (and written to) ws4py.http11 by
    # _HandshakeModule below, so a limit tuned here is the one HeadReader uses.
    from ws4py.http11 import MAX_HEAD_SIZE as MAX_HEAD_SIZE
    from ws4py.http11 import MAX_HEADER_SIZE as MAX_HEADER_SIZE
    from ws4py.http11 import MAX_HEADERS as MAX_HEADERS
    from ws4py.http11 import MAX_REQUEST_LINE as MAX_REQUEST_LINE

__all__ = [
    "MAX_HEADERS",
    "MAX_HEADER_SIZE",
    "MAX_HEAD_SIZE",
    "MAX_REQUEST_LINE",
    "ClientHandshake",
    "ClientHandshakeResult",
    "HeadReader",
    "Headers",
    "Request",
    "Response",
    "ServerHandshakeResult",
    "SubprotocolSelector",
    "accept_key",
    "parse_header_block",
    "parse_request",
    "parse_response",
    "reject_response_bytes",
    "request_from_environ",
    "validate_environ",
    "validate_request",
]


def _limit(name: str) -> property:
    """A module attribute that reads and writes ``ws4py.http11.<name>``."""

    def get(module: types.ModuleType) -> int:
        value: int = getattr(http11, name)
        return value

    def set_(module: types.ModuleType, value: int) -> None:
        setattr(http11, name, value)

    return property(get, set_, doc=f"``ws4py.http11.{name}``")


class _HandshakeModule(types.ModuleType):
    """This module, its head limits forwarded to :mod:`ws4py.http11`.

    The limits lived here before the HTTP half moved out, and
    ``ws4py.handshake.MAX_HEADERS = 50`` is the documented way to tune them:
    reading or setting one here reads or sets the one :class:`HeadReader`
    uses.
    """

    MAX_REQUEST_LINE = _limit("MAX_REQUEST_LINE")
    MAX_HEADERS = _limit("MAX_HEADERS")
    MAX_HEADER_SIZE = _limit("MAX_HEADER_SIZE")
    MAX_HEAD_SIZE = _limit("MAX_HEAD_SIZE")


sys.modules[__name__].__class__ = _HandshakeModule

# RFC 6455 section 1.3.  Same value as ``ws4py.WS_KEY``; kept private here so
# this module does not depend on the package's import order.
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# RFC 6455 section 4.1 (client) / 4.2.1 (server): the only version spoken.
_VERSION = "13"

#: ``select_subprotocol(client_offer, server_protocols) -> chosen or None``.
SubprotocolSelector = Callable[[list[str], list[str]], str | None]

# base64 of exactly 16 bytes: 22 characters then "==" (RFC 6455 section 4.1).
_KEY_RE = re.compile(r"[A-Za-z0-9+/]{22}==")


def accept_key(key: str | bytes) -> str:
    """Compute ``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key`` (RFC 6455 section 4.2.2).

    base64(SHA-1(key + GUID)): proves the server read this very request, so
    a cache or a non-websocket server cannot answer it by accident.
    """
    raw = key.encode("ascii") if isinstance(key, str) else key
    return base64.b64encode(hashlib.sha1(raw + _GUID).digest()).decode("ascii")


# --------------------------------------------------------------------------
# Shared header rules
# --------------------------------------------------------------------------


def _has_token(headers: Headers, name: str, token: str) -> bool:
    return any(item.lower() == token for item in list_elements(headers.get_all(name)))


def _check_upgrade_headers(headers: Headers) -> None:
    """``Upgrade`` must list ``websocket`` and ``Connection`` must list ``upgrade``.

    RFC 6455 sections 4.2.1 (items 3, 4) and 4.1 (client checks 2, 3): both
    are case-insensitive, and they are lists, so ``Connection: keep-alive,
    Upgrade`` (what Firefox sends) is fine.
    """
    upgrade = headers.get_all("Upgrade")
    if not upgrade:
        raise HandshakeError("missing Upgrade header: this is a WebSocket endpoint")
    if not _has_token(headers, "Upgrade", "websocket"):
        raise HandshakeError(f"Upgrade header {', '.join(upgrade)!r} does not include 'websocket'")
    connection = headers.get_all("Connection")
    if not connection:
        raise HandshakeError("missing Connection header (expected 'Connection: Upgrade')")
    if not _has_token(headers, "Connection", "upgrade"):
        raise HandshakeError(
            f"Connection header {', '.join(connection)!r} does not include 'Upgrade'"
        )


def _protocol_list(headers: Headers) -> list[str]:
    """The ``Sec-WebSocket-Protocol`` values (RFC 6455 section 4.1: a list of tokens)."""
    protocols = list_elements(headers.get_all("Sec-WebSocket-Protocol"))
    for protocol in protocols:
        if TOKEN_RE.fullmatch(protocol) is None:
            raise HandshakeError(f"invalid subprotocol name {protocol!r} in Sec-WebSocket-Protocol")
    return protocols


def _check_rsv_conflict(accepted: list[Extension], extension: Extension) -> bool:
    """Whether ``extension`` claims an RSV bit an already accepted one claims."""
    return any(other.rsv_mask & extension.rsv_mask for other in accepted)


# --------------------------------------------------------------------------
# Server side
# --------------------------------------------------------------------------


@dataclass
class ServerHandshakeResult:
    """What a successful server-side validation agreed on.

    ``response_headers`` are the headers of the 101 answer, in order; the
    I/O layer may send :meth:`response_bytes` as is.
    """

    key: str
    accept: str
    protocol: str | None
    extensions: list[Extension]
    extension_header: str | None
    response_headers: list[tuple[str, str]]
    request: Request

    def response_bytes(self, extra_headers: Iterable[tuple[str, str]] = ()) -> bytes:
        """The ``HTTP/1.1 101 Switching Protocols`` response (RFC 6455 section 4.2.2).

        ``extra_headers`` (e.g. ``Server``, ``Set-Cookie``) are appended after
        the handshake headers.
        """
        return render_response(101, None, [*self.response_headers, *extra_headers])


def _check_request_line(request: Request) -> None:
    # RFC 6455 section 4.2.1 item 1: "An HTTP/1.1 or higher GET request".
    # RFC 7231 section 6.5.5 makes 405 the status for a method the resource
    # does not support, and requires the Allow header with it.
    if request.method != "GET":
        raise HandshakeError(
            f"method {request.method!r} not allowed: a WebSocket handshake is a GET request",
            status=405,
            headers=[("Allow", "GET")],
        )
    match = HTTP_VERSION_RE.fullmatch(request.version)
    if match is None or (int(match.group(1)), int(match.group(2))) < (1, 1):
        raise HandshakeError(
            f"a WebSocket handshake requires HTTP/1.1 or newer, got {request.version!r}"
        )


def _check_no_body(headers: Headers) -> None:
    # Not in RFC 6455, but the bytes after the head are read as websocket
    # frames: a request body would be misread as frames (request smuggling).
    if "Transfer-Encoding" in headers or any(
        value.strip() != "0" for value in headers.get_all("Content-Length")
    ):
        raise HandshakeError("a WebSocket handshake request must not have a body")


def _check_key(headers: Headers) -> str:
    # RFC 6455 section 4.2.1 item 5 and section 11.3.1: exactly one header,
    # base64 of 16 bytes.  The regex plus the round trip is a strict decode:
    # no whitespace, padding exactly "==", no non-zero trailing bits.
    keys = headers.get_all("Sec-WebSocket-Key")
    if not keys:
        raise HandshakeError("missing Sec-WebSocket-Key header")
    if len(keys) > 1:
        raise HandshakeError("more than one Sec-WebSocket-Key header")
    key = keys[0]
    if _KEY_RE.fullmatch(key) is None:
        raise HandshakeError(f"Sec-WebSocket-Key {key[:64]!r} is not the base64 of 16 bytes")
    try:
        raw = base64.b64decode(key, validate=True)
    except binascii.Error:  # pragma: no cover - excluded by the regex
        raise HandshakeError(f"Sec-WebSocket-Key {key!r} is not valid base64") from None
    if len(raw) != 16 or base64.b64encode(raw).decode("ascii") != key:
        raise HandshakeError(f"Sec-WebSocket-Key {key!r} is not the canonical base64 of 16 bytes")
    return key


def _check_version(headers: Headers) -> None:
    # RFC 6455 section 4.2.2 item 4 / section 4.4: on a version we do not
    # speak, answer 426 with the versions we do.  A missing header gets the
    # same answer: it tells the client what to send.
    versions = headers.get_all("Sec-WebSocket-Version")
    if len(versions) > 1:
        raise HandshakeError(
            "more than one Sec-WebSocket-Version header",
            status=426,
            headers=[("Sec-WebSocket-Version", _VERSION)],
        )
    if not versions or versions[0] != _VERSION:
        got = f"{versions[0]!r}" if versions else "none"
        raise HandshakeError(
            f"unsupported Sec-WebSocket-Version {got}: this server speaks version {_VERSION}",
            status=426,
            headers=[("Sec-WebSocket-Version", _VERSION)],
        )


def _check_origin(headers: Headers, allowed_origins: list[str] | None) -> None:
    # RFC 6455 sections 4.2.2 and 10.2: the Origin header lets a server refuse
    # pages from other sites (cross-site WebSocket hijacking).  Scheme and host
    # are case-insensitive (RFC 6454), so the comparison is too.  A request
    # without Origin is refused when a list is given: browsers always send
    # it, so only a non-browser client omits it and it can send one.
    if allowed_origins is None:
        return
    origins = headers.get_all("Origin")
    if len(origins) != 1:
        what = "missing Origin header" if not origins else "more than one Origin header"
        raise HandshakeError(f"{what}: this server only accepts listed origins", status=403)
    origin = origins[0]
    if origin.lower() not in {allowed.lower() for allowed in allowed_origins}:
        raise HandshakeError(f"origin {origin!r} is not allowed", status=403)


def _select_protocol(
    headers: Headers,
    protocols: list[str] | None,
    select_subprotocol: SubprotocolSelector | None,
) -> str | None:
    # RFC 6455 section 4.2.2 item 4: the server picks at most one of the
    # client's subprotocols, and may pick none (then the header is omitted).
    offered = _protocol_list(headers)
    if not offered:
        return None
    supported = list(protocols or [])
    if select_subprotocol is not None:
        chosen = select_subprotocol(list(offered), supported)
        if chosen is not None and chosen not in offered:
            raise HandshakeError(
                f"select_subprotocol chose {chosen!r}, which the client did not offer "
                f"({', '.join(offered)})",
                status=500,
            )
        return chosen
    for protocol in offered:  # client preference order
        if protocol in supported:
            return protocol
    return None


def _negotiate_server_extensions(
    headers: Headers, factories: list[ServerExtensionFactory] | None
) -> tuple[list[Extension], str | None]:
    """Accept extensions (RFC 6455 section 9.1) in the client's order of preference.

    Offers are grouped by name in order of first appearance; each group goes
    to the factory of that name, which returns the parameters to answer with
    or declines.  The response lists accepted extensions in that same order,
    which is the order they apply in.  An extension that would claim an RSV
    bit already claimed by an earlier one is declined.
    """
    values = headers.get_all("Sec-WebSocket-Extensions")
    if not values:
        return [], None
    offers = parse_extension_header(values)  # syntax is checked even with no factories
    if not factories:
        return [], None
    grouped: dict[str, list[list[tuple[str, str | None]]]] = {}
    for name, params in offers:
        grouped.setdefault(name, []).append(params)
    by_name = {factory.name: factory for factory in reversed(factories)}
    accepted: list[Extension] = []
    parts: list[str] = []
    for name, group in grouped.items():
        factory = by_name.get(name)
        if factory is None:
            continue
        outcome = factory.accept(group)
        if outcome is None:
            continue
        params, extension = outcome
        if _check_rsv_conflict(accepted, extension):
            continue
        accepted.append(extension)
        parts.append(format_extension(name, params))
    return accepted, (", ".join(parts) if parts else None)


def validate_request(
    request: Request,
    *,
    protocols: list[str] | None = None,
    extensions: list[ServerExtensionFactory] | None = None,
    allowed_origins: list[str] | None = None,
    select_subprotocol: SubprotocolSelector | None = None,
) -> ServerHandshakeResult:
    """Check a client's opening handshake (RFC 6455 section 4.2.1) and agree on its terms.

    Checks, in order, each failure raising :class:`~ws4py.exc.HandshakeError`
    with the status to answer:

    * method ``GET`` (else **405** with ``Allow: GET``), version HTTP/1.1 or
      newer (else 400);
    * exactly one ``Host`` (400, RFC 7230 section 5.4);
    * ``Upgrade`` lists ``websocket`` and ``Connection`` lists ``upgrade``
      (400);
    * no request body: no ``Transfer-Encoding``, ``Content-Length`` 0 at most
      (400; the bytes after the head are websocket frames, never a body);
    * exactly one ``Sec-WebSocket-Key``, the base64 of 16 bytes (400);
    * ``Sec-WebSocket-Version: 13`` (else **426** with
      ``Sec-WebSocket-Version: 13``);
    * when ``allowed_origins`` is given, an ``Origin`` in it (else **403**);
    * then subprotocol selection (``select_subprotocol(client_offer,
      server_protocols)`` overrides the default, which is the first protocol
      the client offered that is in ``protocols``) and extension
      negotiation with ``extensions``.
    """
    _check_request_line(request)
    headers = request.headers
    hosts = headers.get_all("Host")
    if len(hosts) != 1:
        raise HandshakeError("missing Host header" if not hosts else "more than one Host header")
    _check_upgrade_headers(headers)
    _check_no_body(headers)
    key = _check_key(headers)
    _check_version(headers)
    _check_origin(headers, allowed_origins)
    protocol = _select_protocol(headers, protocols, select_subprotocol)
    negotiated, extension_header = _negotiate_server_extensions(headers, extensions)
    accept = accept_key(key)
    response_headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept),
    ]
    if protocol is not None:
        response_headers.append(("Sec-WebSocket-Protocol", protocol))
    if extension_header is not None:
        response_headers.append(("Sec-WebSocket-Extensions", extension_header))
    return ServerHandshakeResult(
        key=key,
        accept=accept,
        protocol=protocol,
        extensions=negotiated,
        extension_header=extension_header,
        response_headers=response_headers,
        request=request,
    )


def request_from_environ(environ: Mapping[str, Any]) -> Request:
    """Rebuild a :class:`Request` from a WSGI environ (PEP 3333).

    Headers come from the ``HTTP_*`` keys (plus ``CONTENT_TYPE`` and
    ``CONTENT_LENGTH``), with ``_`` turned back into ``-``; WSGI servers
    join repeated headers with commas, so a duplicated key shows up as one
    invalid value rather than two.  The target is ``RAW_URI`` /
    ``REQUEST_URI`` when the server provides one, else rebuilt from
    ``SCRIPT_NAME``, ``PATH_INFO`` and ``QUERY_STRING``.
    """
    headers = Headers()
    for name, value in environ.items():
        if not isinstance(value, str):
            continue
        if name.startswith("HTTP_"):
            headers.add(name[5:].replace("_", "-").title(), value)
        elif name in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers.add(name.replace("_", "-").title(), value)
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not isinstance(target, str) or not target:
        path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
        target = quote(path.encode("latin-1", "replace"), safe="/;=,:@!$&'()*+~") or "/"
        query = environ.get("QUERY_STRING")
        if query:
            target += f"?{query}"
    return Request(
        method=str(environ.get("REQUEST_METHOD", "")),
        target=target,
        version=str(environ.get("SERVER_PROTOCOL", "")),
        headers=headers,
    )


def validate_environ(
    environ: Mapping[str, Any],
    *,
    protocols: list[str] | None = None,
    extensions: list[ServerExtensionFactory] | None = None,
    allowed_origins: list[str] | None = None,
    select_subprotocol: SubprotocolSelector | None = None,
) -> ServerHandshakeResult:
    """:func:`validate_request` for a WSGI environ (see :func:`request_from_environ`)."""
    return validate_request(
        request_from_environ(environ),
        protocols=protocols,
        extensions=extensions,
        allowed_origins=allowed_origins,
        select_subprotocol=select_subprotocol,
    )


def reject_response_bytes(error: HandshakeError) -> bytes:
    """A complete HTTP/1.1 response refusing the handshake.

    The status is ``error.status`` with its standard reason phrase, the
    error's own headers come first (``Allow``, ``Sec-WebSocket-Version``...),
    then ``Content-Type: text/plain; charset=utf-8``, ``Content-Length`` and
    ``Connection: close``; the body is ``error.msg``.  The connection must be
    closed after sending it.
    """
    body = error.msg.encode("utf-8")
    headers = [
        *error.headers,
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]
    return render_response(error.status, None, headers) + body


# --------------------------------------------------------------------------
# Client side
# --------------------------------------------------------------------------


@dataclass
class ClientHandshakeResult:
    """What the server agreed to: its subprotocol, the extensions, its headers."""

    protocol: str | None
    extensions: list[Extension]
    headers: Headers


class ClientHandshake:
    """The client side of the opening handshake (RFC 6455 sections 4.1 and 4.2.2).

    Build it with the target and options, send :meth:`request_bytes`, read
    the response with a ``HeadReader(is_response=True)`` and hand the
    parsed :class:`Response` to :meth:`process_response`.

    ``key`` is the base64-encoded ``Sec-WebSocket-Key``; by default a fresh
    one from 16 :func:`os.urandom` bytes (section 4.1 requires a random
    nonce per connection).  A given key is used as is, so tests can send
    invalid ones.  ``headers`` are appended after the handshake headers;
    ``exclude_headers`` drops any header (generated or extra) by name,
    case-insensitively.
    """

    def __init__(
        self,
        host: str,
        port: int | None,
        resource: str,
        *,
        secure: bool = False,
        origin: str | None = None,
        protocols: list[str] | None = None,
        extensions: list[ClientExtensionFactory] | None = None,
        headers: list[tuple[str, str]] | None = None,
        exclude_headers: list[str] | None = None,
        key: bytes | str | None = None,
        port_in_host: bool = False,
    ) -> None:
        resource = resource or "/"
        if TARGET_RE.fullmatch(resource) is None:
            raise ValueError(f"invalid resource {resource!r}: must be non-blank visible ASCII")
        for protocol in protocols or []:
            if TOKEN_RE.fullmatch(protocol) is None:
                raise ValueError(f"subprotocol {protocol!r} is not an RFC 7230 token")
        self.host = host
        self.port = port
        self.resource = resource
        self.secure = secure
        self.origin = origin
        self.protocols = list(protocols or [])
        self.extensions = list(extensions or [])
        self.extra_headers = list(headers or [])
        self.exclude_headers = {name.lower() for name in exclude_headers or []}
        if isinstance(key, str):
            key = key.encode("ascii")
        self.key: bytes = key if key is not None else base64.b64encode(os.urandom(16))
        self.port_in_host = port_in_host

    @property
    def host_header(self) -> str:
        """``Host`` value: IPv6 literals bracketed, port only when not the scheme's default.

        With ``port_in_host`` the port is always there (ws4py 0.6.0 sent
        ``host:port``; RFC 7230 section 5.4 allows either); without a port
        (a Unix socket) the value is the host alone.
        """
        host = self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        default_port = 443 if self.secure else 80
        if self.port is None or (self.port == default_port and not self.port_in_host):
            return host
        return f"{host}:{self.port}"

    def request_headers(self) -> list[tuple[str, str]]:
        """The request's headers, in ws4py 0.6.0's order (RFC 6455 section 4.1 sets none)."""
        headers = [
            ("Host", self.host_header),
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Key", self.key.decode("ascii")),
            ("Sec-WebSocket-Version", _VERSION),
        ]
        if self.protocols:
            headers.append(("Sec-WebSocket-Protocol", ",".join(self.protocols)))
        if self.extensions:
            offers = ", ".join(format_extension(f.name, f.offer()) for f in self.extensions)
            headers.append(("Sec-WebSocket-Extensions", offers))
        headers.extend(self.extra_headers)
        if self.origin is not None:
            headers.append(("Origin", self.origin))
        return [
            (name, value) for name, value in headers if name.lower() not in self.exclude_headers
        ]

    def request_bytes(self, headers: Iterable[tuple[str, str]] | None = None) -> bytes:
        """The whole request head, ``GET resource HTTP/1.1`` and :meth:`request_headers`.

        ``headers`` replaces :meth:`request_headers` (a client whose
        ``handshake_headers`` a subclass overrides); values are still checked
        for CR/LF injection.
        """
        if headers is None:
            headers = self.request_headers()
        return render_request("GET", self.resource, headers)

    def process_response(self, response: Response) -> ClientHandshakeResult:
        """Check the server's answer (RFC 6455 section 4.1, "the client MUST validate").

        Raises :class:`~ws4py.exc.HandshakeError` unless: the status is 101
        (the error then carries the server's status), ``Upgrade`` and
        ``Connection`` name websocket/upgrade, ``Sec-WebSocket-Accept`` is
        present once and matches our key, the subprotocol (if any) is a
        single one we offered, and every extension is one we offered, at
        most once, accepted by its factory, with no RSV bit claimed twice.
        """
        self.check_status(response)
        return self.check_headers(response.headers)

    @staticmethod
    def check_status(response: Response) -> None:
        """The status must be 101; otherwise the error carries the server's status."""
        if response.status != 101:
            reason = response.reason or reason_phrase(response.status)
            raise HandshakeError(
                f"server answered {response.status} {reason}, expected 101 Switching Protocols",
                status=response.status,
            )

    def check_headers(self, headers: Headers) -> ClientHandshakeResult:
        """The header checks of :meth:`process_response` (the status is checked apart)."""
        _check_upgrade_headers(headers)
        accepts = headers.get_all("Sec-WebSocket-Accept")
        if not accepts:
            raise HandshakeError("missing Sec-WebSocket-Accept header in the server's response")
        if len(accepts) > 1:
            raise HandshakeError("more than one Sec-WebSocket-Accept header")
        if accepts[0] != accept_key(self.key):
            raise HandshakeError(
                f"Sec-WebSocket-Accept {accepts[0]!r} does not match the key we sent"
            )
        return ClientHandshakeResult(
            protocol=self._check_protocol(headers),
            extensions=self._check_extensions(headers),
            headers=headers,
        )

    def _check_protocol(self, headers: Headers) -> str | None:
        protocols = _protocol_list(headers)
        if not protocols:
            return None
        if len(protocols) > 1:
            raise HandshakeError(
                f"server selected several subprotocols ({', '.join(protocols)}); "
                "it must select at most one"
            )
        if protocols[0] not in self.protocols:
            offered = ", ".join(self.protocols) or "none"
            raise HandshakeError(
                f"server selected subprotocol {protocols[0]!r}, which we did not offer "
                f"(offered: {offered})"
            )
        return protocols[0]

    def _check_extensions(self, headers: Headers) -> list[Extension]:
        factories = {factory.name: factory for factory in reversed(self.extensions)}
        accepted: list[Extension] = []
        seen: set[str] = set()
        for name, params in parse_extension_header(headers.get_all("Sec-WebSocket-Extensions")):
            factory = factories.get(name)
            if factory is None:
                raise HandshakeError(f"server accepted extension {name!r}, which we did not offer")
            if name in seen:
                raise HandshakeError(f"server accepted extension {name!r} more than once")
            seen.add(name)
            extension = factory.accept(params)
            if _check_rsv_conflict(accepted, extension):
                raise HandshakeError(
                    f"extension {name!r} claims an RSV bit another extension already uses"
                )
            accepted.append(extension)
        return accepted
