"""WebSocket extensions: header syntax and the negotiation interface (RFC 6455 section 9).

An extension is agreed in the opening handshake through the
``Sec-WebSocket-Extensions`` header: the client offers a list of extensions
(possibly the same one several times with different parameters, in order of
preference) and the server answers with the ones it accepted, each with the
parameters it picked.  Once agreed, an extension may claim RSV bits of the
frame header and transform message payloads (RFC 6455 section 5.8).

This module holds

* the header grammar, in one place: :func:`parse_extension_header` and
  :func:`format_extension` (RFC 6455 section 9.1 on top of the RFC 7230
  list, token and quoted-string rules);
* the three interfaces an extension implements: :class:`Extension` (the
  per-connection state), :class:`ServerExtensionFactory` and
  :class:`ClientExtensionFactory` (the negotiation on each side).

:mod:`ws4py.handshake` drives the negotiation; the frame layer only ever sees
:class:`Extension` objects.
"""

from __future__ import annotations

import abc
import importlib
from typing import Any

from ws4py.exc import HandshakeError
from ws4py.http11 import OWS, TOKEN_RE

__all__ = [
    "ClientExtensionFactory",
    "Extension",
    "ExtensionParams",
    "ServerExtensionFactory",
    "format_extension",
    "parse_extension_header",
]

#: The parameters of one extension offer or response, in header order.  A
#: value of ``None`` is a parameter without ``=value`` (``; server_no_context_takeover``).
ExtensionParams = list[tuple[str, str | None]]

# RFC 7230 section 3.2.6 (token = 1*tchar) and 3.2.3 (OWS = *( SP / HTAB )):
# defined once, with the rest of the HTTP/1.1 syntax, in ws4py.http11.
_TOKEN_RE = TOKEN_RE
_OWS = OWS


def _is_token(value: str) -> bool:
    return _TOKEN_RE.fullmatch(value) is not None


def _skip_ows(value: str, pos: int) -> int:
    while pos < len(value) and value[pos] in _OWS:
        pos += 1
    return pos


def _read_token(value: str, pos: int, what: str) -> tuple[str, int]:
    match = _TOKEN_RE.match(value, pos)
    if match is None:
        found = repr(value[pos]) if pos < len(value) else "end of header"
        raise HandshakeError(
            f"malformed Sec-WebSocket-Extensions header {value!r}: expected {what}, "
            f"found {found} at position {pos}"
        )
    return match.group(), match.end()


def _read_quoted_string(value: str, pos: int) -> tuple[str, int]:
    """Read an RFC 7230 section 3.2.6 quoted-string starting at the opening quote."""
    chars: list[str] = []
    pos += 1
    while pos < len(value):
        char = value[pos]
        if char == '"':
            return "".join(chars), pos + 1
        if char == "\\":
            # quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
            pos += 1
            if pos >= len(value):
                break
            char = value[pos]
        if char != "\t" and (ord(char) < 0x20 or ord(char) == 0x7F):
            raise HandshakeError(
                f"malformed Sec-WebSocket-Extensions header {value!r}: "
                f"control character in a quoted-string"
            )
        chars.append(char)
        pos += 1
    raise HandshakeError(
        f"malformed Sec-WebSocket-Extensions header {value!r}: unterminated quoted-string"
    )


def _parse_one_value(value: str) -> list[tuple[str, ExtensionParams]]:
    """Parse one header line's value.

    Grammar (RFC 6455 section 9.1)::

        extension-list  = 1#extension
        extension       = extension-token *( ";" extension-param )
        extension-param = token [ "=" (token | quoted-string) ]

    Empty list elements (``a, , b``) are skipped as RFC 7230 section 7
    requires, and optional whitespace is allowed around ``,``, ``;`` and
    ``=``.  A quoted value must still be a token once unquoted (section 9.1:
    "the value after quoted-string unescaping MUST conform to the 'token'
    ABNF"), so ``"10"`` is accepted and ``"a b"`` is not.
    """
    result: list[tuple[str, ExtensionParams]] = []
    pos = 0
    end = len(value)
    while True:
        pos = _skip_ows(value, pos)
        if pos >= end:
            break
        if value[pos] == ",":
            pos += 1
            continue
        name, pos = _read_token(value, pos, "an extension name")
        params: ExtensionParams = []
        pos = _skip_ows(value, pos)
        while pos < end and value[pos] == ";":
            pos = _skip_ows(value, pos + 1)
            param, pos = _read_token(value, pos, "a parameter name")
            pos = _skip_ows(value, pos)
            param_value: str | None = None
            if pos < end and value[pos] == "=":
                pos = _skip_ows(value, pos + 1)
                if pos < end and value[pos] == '"':
                    param_value, pos = _read_quoted_string(value, pos)
                    if not _is_token(param_value):
                        raise HandshakeError(
                            f"malformed Sec-WebSocket-Extensions header {value!r}: "
                            f"quoted value {param_value!r} of {param!r} is not a token"
                        )
                else:
                    param_value, pos = _read_token(value, pos, f"a value for {param!r}")
                pos = _skip_ows(value, pos)
            params.append((param, param_value))
        if pos < end and value[pos] != ",":
            raise HandshakeError(
                f"malformed Sec-WebSocket-Extensions header {value!r}: "
                f"unexpected {value[pos]!r} at position {pos}"
            )
        result.append((name, params))
    if not result:
        raise HandshakeError(
            f"malformed Sec-WebSocket-Extensions header {value!r}: no extension in it"
        )
    return result


def parse_extension_header(values: list[str]) -> list[tuple[str, ExtensionParams]]:
    """Parse the ``Sec-WebSocket-Extensions`` header lines of a request or response.

    ``values`` holds every header line's value in order (a list header may be
    split over several lines, RFC 7230 section 3.2.2, and the result is the
    same as if they were joined with commas).  Returns ``(name, params)``
    pairs in order; the same name may appear several times, which is how a
    client offers alternatives.  No lines at all gives an empty list; a line
    without any extension, or any syntax error, raises
    :class:`~ws4py.exc.HandshakeError` (status 400).
    """
    result: list[tuple[str, ExtensionParams]] = []
    for value in values:
        result.extend(_parse_one_value(value))
    return result


def format_extension(name: str, params: ExtensionParams) -> str:
    """Serialize one extension for a ``Sec-WebSocket-Extensions`` header.

    ``format_extension("permessage-deflate", [("client_max_window_bits", "10"),
    ("server_no_context_takeover", None)])`` gives
    ``permessage-deflate; client_max_window_bits=10; server_no_context_takeover``.
    Names and values must be tokens (RFC 6455 section 9.1 allows quoting a
    value but not a non-token one), so they are never quoted; anything else
    is a programming error and raises :class:`ValueError`.
    """
    if not _is_token(name):
        raise ValueError(f"extension name {name!r} is not an RFC 7230 token")
    parts = [name]
    for param, value in params:
        if not _is_token(param):
            raise ValueError(f"extension parameter name {param!r} is not an RFC 7230 token")
        if value is None:
            parts.append(param)
        elif _is_token(value):
            parts.append(f"{param}={value}")
        else:
            raise ValueError(
                f"value {value!r} of extension parameter {param!r} is not an RFC 7230 token"
            )
    return "; ".join(parts)


class Extension(abc.ABC):
    """One negotiated extension, with its state for one connection.

    ``name`` is the registered extension token; ``rsv_mask`` the RSV bits of
    the frame header's first byte the extension claims (``0x40`` for RSV1,
    ``0x20`` for RSV2, ``0x10`` for RSV3).  RFC 6455 section 5.2 makes a frame
    with an RSV bit set that no negotiated extension claims a protocol
    error, so the frame layer uses ``rsv_mask`` to know which bits are
    legitimate.  Two extensions negotiated on one connection never claim the
    same bit (:mod:`ws4py.handshake` enforces it).

    The default hooks are identities, so a subclass overrides only what it
    transforms.
    """

    name: str
    rsv_mask: int = 0

    def decode_frame(
        self, opcode: int, rsv: int, payload: bytes, fin: bool, max_size: int | None
    ) -> bytes:
        """Transform the payload of one incoming data frame.

        Called for every data frame of a message, in order.  ``opcode`` is the
        message's opcode (text or binary) even for continuation frames;
        ``rsv`` is the frame's RSV bits (first byte masked with ``0x70``;
        per-message extensions such as RFC 7692 see their bit only on the
        first frame); ``fin`` says whether this frame ends the message.
        ``max_size``, when not ``None``, bounds the size of the output, so a
        decompressing extension can refuse a "zip bomb" (raising
        :class:`~ws4py.exc.FrameTooLargeException`) before allocating it.
        """
        return payload

    def encode_message(self, opcode: int, payload: bytes) -> tuple[int, bytes]:
        """Transform an outgoing message.

        Returns the RSV bits to set on the message's first frame and the
        payload to send.
        """
        return 0, payload

    def response_params(self) -> ExtensionParams:
        """The parameters describing this extension's agreed configuration.

        A server-side extension returns what goes in the handshake response;
        it is also useful for logging and tests.
        """
        return []

    def __str__(self) -> str:
        """The extension as one element of a ``Sec-WebSocket-Extensions`` header.

        This is the form a websocket's classic ``extensions`` attribute holds
        (e.g. ``permessage-deflate; client_max_window_bits=15``).
        """
        return format_extension(self.name, self.response_params())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self}>"


class ServerExtensionFactory(abc.ABC):
    """The server side of negotiating one extension (RFC 6455 section 9.1).

    A server is configured with a list of factories; for each extension name
    the client offered, the matching factory sees every offer for that name.
    """

    name: str

    @abc.abstractmethod
    def accept(self, offers: list[ExtensionParams]) -> tuple[ExtensionParams, Extension] | None:
        """Pick one of the client's ``offers`` (in the client's preference order).

        Returns the parameters to answer with and the connection's
        :class:`Extension`, or ``None`` to decline the extension (the
        connection then proceeds without it).  A factory may raise
        :class:`~ws4py.exc.HandshakeError` to refuse the whole handshake when
        an offer is malformed rather than merely unacceptable.
        """


class ClientExtensionFactory(abc.ABC):
    """The client side of negotiating one extension (RFC 6455 section 9.1)."""

    name: str

    @abc.abstractmethod
    def offer(self) -> ExtensionParams:
        """The parameters to offer in the request."""

    @abc.abstractmethod
    def accept(self, params: ExtensionParams) -> Extension:
        """Build the connection's :class:`Extension` from the server's response.

        Raises :class:`~ws4py.exc.HandshakeError` when the parameters are not
        something this client offered or can work with: RFC 6455 section 9.1
        says the client must then fail the connection.
        """


def default_server_extensions() -> list[ServerExtensionFactory]:
    """The extensions a server negotiates unless told otherwise (permessage-deflate)."""
    try:
        module: Any = importlib.import_module("ws4py.extensions.permessage_deflate")
    except ImportError:
        return []
    return [module.ServerPerMessageDeflate()]


def default_client_extensions() -> list[ClientExtensionFactory]:
    """The extensions a client offers unless told otherwise (permessage-deflate)."""
    try:
        module: Any = importlib.import_module("ws4py.extensions.permessage_deflate")
    except ImportError:
        return []
    return [module.ClientPerMessageDeflate()]
