"""HTTP/1.1 heads, sans I/O: reading, parsing and rendering (RFC 9112, was RFC 7230).

The HTTP half of the opening handshake, apart from the WebSocket rules
(:mod:`ws4py.handshake`), so the servers, the clients and the proxies share
one reader, one parser and one renderer:

* :class:`HeadReader` accumulates the HTTP head of a request or response with
  hard size limits, and keeps the bytes that follow it
  (:attr:`HeadReader.leftover`): they are the first websocket frames and must
  not be lost.
* :func:`parse_request` / :func:`parse_response` turn a head into a
  :class:`Request` / :class:`Response` with case-insensitive :class:`Headers`;
  :func:`parse_header_block` parses header lines alone.
* :func:`render_response` / :func:`render_request` write a head, refusing any
  header name or value that would corrupt it (CR/LF injection): every head
  the package sends goes through :func:`render_head`.

HTTP syntax decisions, chosen for strictness because a websocket endpoint has
no legacy clients to be lenient with:

* Lines end with CRLF only; a bare LF (or a stray CR) is a 400.  RFC 7230
  section 3.5 allows accepting bare LF, it does not require it.
* The head must start with the request line: no leading empty lines, and a
  first byte that cannot start a method (a TLS ClientHello, binary garbage)
  is rejected as soon as it arrives.
* obs-fold (a header line starting with whitespace) is a 400, as RFC 7230
  section 3.2.4 allows; so is whitespace between a header name and its colon
  (which that section requires rejecting).
* Header values are decoded as ISO-8859-1 (like WSGI, PEP 3333) and must not
  contain control characters other than HTAB.

Limits (module constants, read when a :class:`HeadReader` is created, so they
can be tuned globally or per reader; ``ws4py.handshake.MAX_HEADERS = 50``
sets them here too):

* request line longer than :data:`MAX_REQUEST_LINE` bytes: **414 URI Too
  Long** (RFC 7230 section 3.1.1: a server "SHOULD respond with a 414" when
  the request-target is too long, and the target is the only part of a
  request line that can legitimately grow);
* more than :data:`MAX_HEADERS` header lines, one header line longer than
  :data:`MAX_HEADER_SIZE`, or a head longer than :data:`MAX_HEAD_SIZE`:
  **431 Request Header Fields Too Large** (RFC 6585 section 5).

Each limit is enforced while bytes arrive, not once the head is complete, so
a peer that never sends the blank line cannot make the buffer grow beyond
them.  Errors while reading or parsing are
:class:`~ws4py.exc.HandshakeError` carrying the HTTP status to answer.
"""

from __future__ import annotations

import http
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ws4py.exc import HandshakeError

__all__ = [
    "FIELD_VALUE_RE",
    "HTTP_VERSION_RE",
    "MAX_HEADERS",
    "MAX_HEADER_SIZE",
    "MAX_HEAD_SIZE",
    "MAX_REQUEST_LINE",
    "OWS",
    "TARGET_RE",
    "TOKEN_RE",
    "HeadReader",
    "Headers",
    "Request",
    "Response",
    "list_elements",
    "parse_header_block",
    "parse_request",
    "parse_response",
    "reason_phrase",
    "render_head",
    "render_request",
    "render_response",
]

#: Longest request line (or status line) accepted, in bytes without the CRLF.
MAX_REQUEST_LINE = 8192
#: Most header lines accepted in one head.
MAX_HEADERS = 100
#: Longest single header line accepted, in bytes without the CRLF.
MAX_HEADER_SIZE = 8192
#: Longest head accepted, request line and final blank line included.
MAX_HEAD_SIZE = 65536

#: RFC 7230 section 3.2.6: ``token = 1*tchar`` (header names, methods,
#: subprotocols, extension names and parameters).  The one definition.
TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# The bytes a token (so a request's method) can start with.
_TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
#: request-target: visible ASCII only (RFC 3986 characters are a subset).
TARGET_RE = re.compile(r"[\x21-\x7e]+")
#: ``HTTP/x.y``, major and minor as groups 1 and 2.
HTTP_VERSION_RE = re.compile(r"HTTP/([0-9])\.([0-9])")
_STATUS_RE = re.compile(r"[0-9]{3}")
#: field-value characters: HTAB, SP, VCHAR, obs-text (RFC 7230 section 3.2).
FIELD_VALUE_RE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
#: RFC 7230 section 3.2.3: ``OWS = *( SP / HTAB )``.
OWS = " \t"


def reason_phrase(status: int) -> str:
    """The standard reason phrase of ``status`` (``"Unknown"`` for an unregistered one)."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def list_elements(values: list[str]) -> list[str]:
    """Elements of a comma-separated list header (RFC 7230 section 7), empties dropped."""
    return [item.strip(OWS) for value in values for item in value.split(",") if item.strip(OWS)]


# --------------------------------------------------------------------------
# Rendering a head
# --------------------------------------------------------------------------


def _check_header_field(name: str, value: str) -> None:
    """Refuse header names/values that would corrupt (or inject into) a head we send."""
    if TOKEN_RE.fullmatch(name) is None:
        raise ValueError(f"header name {name!r} is not an RFC 7230 token")
    if FIELD_VALUE_RE.fullmatch(value) is None:
        raise ValueError(f"header {name!r} has a value with control characters: {value!r}")


def render_head(start_line: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """A head: ``start_line``, the header lines, the blank line; ISO-8859-1 bytes.

    Raises :class:`ValueError` for a header name that is not a token or a
    value with control characters (CR, LF...): a value taken from a user
    must not be able to add headers or end the head early.  ``start_line``
    is the caller's (see :func:`render_request` / :func:`render_response`,
    which check theirs).
    """
    lines = [start_line]
    for name, value in headers:
        _check_header_field(name, value)
        lines.append(f"{name}: {value}")
    lines.extend(("", ""))
    return "\r\n".join(lines).encode("latin-1")


def render_response(status: int, reason: str | None, headers: Iterable[tuple[str, str]]) -> bytes:
    """An ``HTTP/1.1`` response head (status line, headers, blank line).

    ``reason`` ``None`` (or empty) is the standard phrase of ``status``.
    Every server of the package writes its ``101 Switching Protocols`` (and
    its refusals) with this; headers are checked as :func:`render_head` does,
    and so is the reason phrase.
    """
    if not 100 <= status <= 999:
        raise ValueError(f"HTTP status {status!r} is not a 3-digit code")
    reason = reason or reason_phrase(status)
    if FIELD_VALUE_RE.fullmatch(reason) is None:
        raise ValueError(f"reason phrase with control characters: {reason!r}")
    return render_head(f"HTTP/1.1 {status} {reason}", headers)


def render_request(method: str, target: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """An ``HTTP/1.1`` request head; a method that is not a token or a bad target is refused."""
    if TOKEN_RE.fullmatch(method) is None:
        raise ValueError(f"method {method!r} is not an RFC 7230 token")
    if TARGET_RE.fullmatch(target) is None:
        raise ValueError(f"invalid request target {target!r}: must be non-blank visible ASCII")
    return render_head(f"{method} {target} HTTP/1.1", headers)


# --------------------------------------------------------------------------
# Headers, Request, Response
# --------------------------------------------------------------------------


class Headers:
    """A small case-insensitive multi-dict of HTTP header fields.

    Order and the original spelling of names are kept (for :meth:`items`),
    lookups ignore case (RFC 7230 section 3.2: field names are
    case-insensitive), and a name may occur several times.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = []
        if items is not None:
            for name, value in items:
                self.add(name, value)

    def add(self, name: str, value: str) -> None:
        """Append a field (never replaces an existing one)."""
        self._items.append((name, value))

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, or ``default`` when absent."""
        lname = name.lower()
        for key, value in self._items:
            if key.lower() == lname:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in order (empty list when absent)."""
        lname = name.lower()
        return [value for key, value in self._items if key.lower() == lname]

    def items(self) -> list[tuple[str, str]]:
        """All ``(name, value)`` pairs in order, names as received."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        lname = name.lower()
        return any(key.lower() == lname for key, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return [(k.lower(), v) for k, v in self._items] == [(k.lower(), v) for k, v in other._items]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


@dataclass
class Request:
    """A parsed request head.  ``version`` is as sent, e.g. ``"HTTP/1.1"``."""

    method: str
    target: str
    version: str
    headers: Headers = field(default_factory=Headers)


@dataclass
class Response:
    """A parsed response head.  ``version`` is as sent, e.g. ``"HTTP/1.1"``."""

    version: str
    status: int
    reason: str
    headers: Headers = field(default_factory=Headers)


# --------------------------------------------------------------------------
# Reading and parsing a head
# --------------------------------------------------------------------------


class HeadReader:
    """Accumulate an HTTP head from a byte stream, within hard limits.

    Feed it whatever the socket returns; :meth:`feed` returns ``True`` once
    the blank line ending the head has arrived.  Then :attr:`head` is the
    head (final CRLFCRLF included) for :func:`parse_request` /
    :func:`parse_response`, and :attr:`leftover` the bytes that came after
    it in the same reads: websocket frames the client or server sent right
    behind its handshake.  Bytes fed after completion are appended to
    :attr:`leftover`.

    Only line structure and limits are checked here; header syntax is the
    parser's job.  The check is incremental (each byte is scanned once), and
    a limit is enforced as soon as it is crossed, even mid-line.

    ``is_response=True`` reads a response (client side): the head must then
    start with ``HTTP/``.  Limits default to the module constants read at
    construction time.  Errors are :class:`~ws4py.exc.HandshakeError` with
    the status documented in the module docstring.
    """

    def __init__(
        self,
        *,
        is_response: bool = False,
        max_request_line: int | None = None,
        max_headers: int | None = None,
        max_header_size: int | None = None,
        max_head_size: int | None = None,
    ) -> None:
        self.is_response = is_response
        self.max_request_line = MAX_REQUEST_LINE if max_request_line is None else max_request_line
        self.max_headers = MAX_HEADERS if max_headers is None else max_headers
        self.max_header_size = MAX_HEADER_SIZE if max_header_size is None else max_header_size
        self.max_head_size = MAX_HEAD_SIZE if max_head_size is None else max_head_size
        self._buf = bytearray()
        self._scan = 0  # where the search for the next LF resumes
        self._line_start = 0
        self._header_count = 0
        self._first_line_done = False
        self._head: bytes | None = None
        self.leftover = b""

    @property
    def complete(self) -> bool:
        """Whether the whole head has arrived."""
        return self._head is not None

    @property
    def head(self) -> bytes:
        """The complete head, CRLFCRLF included; :class:`RuntimeError` before that."""
        if self._head is None:
            raise RuntimeError("the HTTP head is not complete yet")
        return self._head

    def _fail_start(self) -> None:
        buf = self._buf
        if self.is_response:
            prefix = b"HTTP/"
            if not prefix.startswith(bytes(buf[: len(prefix)])):
                raise HandshakeError(f"not an HTTP response: starts with {bytes(buf[:16])!r}")
        elif buf[0] not in _TCHAR:
            hint = " (a TLS handshake on a plain-text port?)" if buf[0] == 0x16 else ""
            raise HandshakeError(f"not an HTTP request{hint}: starts with {bytes(buf[:16])!r}")

    def _line_limit(self) -> tuple[int, int, str]:
        if not self._first_line_done:
            if self.is_response:
                return self.max_request_line, 400, "status line"
            return self.max_request_line, 414, "request line"
        return self.max_header_size, 431, "header line"

    def feed(self, data: bytes) -> bool:
        """Add received bytes; ``True`` once the head is complete.

        Raises :class:`~ws4py.exc.HandshakeError` as soon as the bytes seen
        so far break a limit or the line structure.
        """
        if self._head is not None:
            self.leftover += data
            return True
        if not data:
            return False
        buf = self._buf
        buf += data
        if len(buf) - len(data) < 5:  # the first bytes just arrived
            self._fail_start()
        while True:
            lf = buf.find(b"\n", self._scan)
            if lf < 0:
                # Incomplete line: bound it (a trailing CR is not content).
                length = len(buf) - self._line_start - (1 if buf.endswith(b"\r") else 0)
                limit, status, what = self._line_limit()
                if length > limit:
                    raise HandshakeError(f"{what} longer than {limit} bytes", status=status)
                if len(buf) > self.max_head_size:
                    raise HandshakeError(
                        f"HTTP head longer than {self.max_head_size} bytes", status=431
                    )
                self._scan = len(buf)
                return False
            if lf == 0 or buf[lf - 1] != 0x0D:
                raise HandshakeError("bare LF in the HTTP head: lines must end with CRLF")
            end = lf + 1
            length = lf - 1 - self._line_start
            if end > self.max_head_size:
                raise HandshakeError(
                    f"HTTP head longer than {self.max_head_size} bytes", status=431
                )
            limit, status, what = self._line_limit()
            if length > limit:
                raise HandshakeError(f"{what} longer than {limit} bytes", status=status)
            if not self._first_line_done:
                self._first_line_done = True
            elif length == 0:
                self._head = bytes(buf[:end])
                self.leftover = bytes(buf[end:])
                self._buf = bytearray()
                return True
            else:
                self._header_count += 1
                if self._header_count > self.max_headers:
                    raise HandshakeError(f"more than {self.max_headers} header fields", status=431)
            self._line_start = self._scan = end


def _split_head(head: bytes) -> list[str]:
    """Split a head into lines (decoded as ISO-8859-1), dropping the final blank line."""
    if head.endswith(b"\r\n\r\n"):
        head = head[:-4]
    elif head.endswith(b"\r\n"):
        head = head[:-2]
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    for line in lines:
        if "\n" in line or "\r" in line:
            raise HandshakeError("bare CR or LF in the HTTP head: lines must end with CRLF")
    return lines


def _parse_headers(lines: list[str]) -> Headers:
    """Parse header lines (RFC 7230 section 3.2)."""
    headers = Headers()
    for line in lines:
        if not line:
            raise HandshakeError("empty line inside the HTTP head")
        if line[0] in OWS:
            raise HandshakeError(f"obsolete line folding (obs-fold) is not accepted: {line[:64]!r}")
        name, colon, value = line.partition(":")
        if not colon:
            raise HandshakeError(f"header line without a colon: {line[:64]!r}")
        if TOKEN_RE.fullmatch(name) is None:
            # Also catches "Name : value", which RFC 7230 section 3.2.4 says MUST be a 400.
            raise HandshakeError(f"invalid header name {name[:64]!r}")
        value = value.strip(OWS)
        if FIELD_VALUE_RE.fullmatch(value) is None:
            raise HandshakeError(f"control character in the value of header {name!r}")
        headers.add(name, value)
    return headers


def parse_request(head: bytes) -> Request:
    """Parse a request head (RFC 7230 sections 3.1.1 and 3.2).

    ``head`` is what :class:`HeadReader` collected (the trailing blank line
    is optional).  The request line must be ``method SP target SP version``
    with a token method, a visible-ASCII target and ``HTTP/x.y``.  Any
    syntax error raises :class:`~ws4py.exc.HandshakeError` with status 400.
    """
    lines = _split_head(head)
    request_line = lines[0]
    parts = request_line.split(" ")
    if len(parts) != 3:
        raise HandshakeError(f"malformed request line {request_line[:128]!r}")
    method, target, version = parts
    if TOKEN_RE.fullmatch(method) is None:
        raise HandshakeError(f"invalid method in request line {request_line[:128]!r}")
    if TARGET_RE.fullmatch(target) is None:
        raise HandshakeError(f"invalid request target in request line {request_line[:128]!r}")
    if HTTP_VERSION_RE.fullmatch(version) is None:
        raise HandshakeError(f"invalid HTTP version in request line {request_line[:128]!r}")
    return Request(sys.intern(method), target, sys.intern(version), _parse_headers(lines[1:]))


def parse_header_block(block: bytes) -> Headers:
    """Parse header lines alone (no start line), CRLF-separated, as :func:`parse_response` does.

    For ws4py 0.6.0's ``process_handshake_header(headers)`` hook, which is
    handed the response's header lines as bytes.
    """
    block = block.strip(b"\r\n")
    if not block:
        return Headers()
    return _parse_headers(_split_head(block))


def parse_response(head: bytes) -> Response:
    """Parse a response head (RFC 7230 sections 3.1.2 and 3.2).

    The status line is ``HTTP/x.y SP 3DIGIT SP reason``; a missing reason
    (even without its space) is tolerated since the client has nothing to
    gain by refusing it.  Syntax errors raise
    :class:`~ws4py.exc.HandshakeError`.
    """
    lines = _split_head(head)
    status_line = lines[0]
    version, _, rest = status_line.partition(" ")
    status_text, _, reason = rest.partition(" ")
    if HTTP_VERSION_RE.fullmatch(version) is None:
        raise HandshakeError(f"invalid HTTP version in status line {status_line[:128]!r}")
    if _STATUS_RE.fullmatch(status_text) is None:
        raise HandshakeError(f"invalid status code in status line {status_line[:128]!r}")
    if FIELD_VALUE_RE.fullmatch(reason) is None:
        raise HandshakeError(f"control character in status line {status_line[:128]!r}")
    return Response(version, int(status_text), reason, _parse_headers(lines[1:]))
