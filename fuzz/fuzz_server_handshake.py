"""Fuzz harness: the server side of the opening handshake.

``HeadReader`` (bounded head reading) + ``parse_request`` + ``validate_request``, as
the asyncio server runs them, and the WSGI path (the wsgiref server's
``make_environ`` + ``validate_environ``) on the same request.

Input layout: ``cfg, split, *request bytes``.  ``cfg`` bit 0: small head limits
(so the fuzzer reaches every limit with short inputs); bit 1: an Origin allow-list;
bit 2: subprotocols; bits 3-4: extension factories (none, permessage-deflate with
the defaults, a strict permessage-deflate, permessage-deflate plus a second
extension claiming RSV1 too); bit 5: a custom ``select_subprotocol``.  ``split``
shapes how the bytes arrive (``fuzz_common.chunk_sizes``).

Only :class:`ws4py.exc.HandshakeError` may come out, with a status the server can
answer (400, 403, 405, 414, 426, 431), and its rejection response must be a valid
HTTP response.  When a request is accepted: it was read within the limits, the
bytes after the head are kept exactly, it is a GET with one Host, a valid key and
(with an allow-list) an allowed Origin; the 101 response parses back and carries
the right ``Sec-WebSocket-Accept``, a subprotocol the client offered and
extensions it offered.  Chunking never changes acceptance.
"""

from __future__ import annotations

import base64
import hashlib
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_common import SERVER_HANDSHAKE_STATUSES, chunks, replay_main

from ws4py.exc import HandshakeError
from ws4py.extensions import (
    Extension,
    ExtensionParams,
    ServerExtensionFactory,
    parse_extension_header,
)
from ws4py.extensions.permessage_deflate import ServerPerMessageDeflate
from ws4py.handshake import (
    HeadReader,
    Request,
    parse_request,
    parse_response,
    reject_response_bytes,
    validate_environ,
    validate_request,
)
from ws4py.server.wsgirefserver import WebSocketWSGIRequestHandler

ORIGINS = ["https://good.example", "http://localhost:8000"]
PROTOCOLS = ["chat", "superchat", "v2.json"]
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SMALL = {"max_request_line": 64, "max_headers": 8, "max_header_size": 128, "max_head_size": 512}


class _Rsv1Twin(Extension):
    name = "x-rsv1"
    rsv_mask = 0x40


class _Rsv1TwinFactory(ServerExtensionFactory):
    """A second extension claiming RSV1: never negotiated together with deflate."""

    name = "x-rsv1"

    def accept(self, offers: list[ExtensionParams]) -> tuple[ExtensionParams, Extension] | None:
        return [], _Rsv1Twin()


def _factories(kind: int) -> list[ServerExtensionFactory]:
    if kind == 0:
        return []
    if kind == 1:
        return [ServerPerMessageDeflate()]
    if kind == 2:
        return [ServerPerMessageDeflate(server_no_context_takeover=True, client_max_window_bits=9,
                                        require_client_max_window_bits=True)]  # fmt: skip
    return [ServerPerMessageDeflate(), _Rsv1TwinFactory()]


def _select_last(offered: list[str], supported: list[str]) -> str | None:
    common = [p for p in offered if p in supported]
    return common[-1] if common else None


def _read(data: bytes, split: int, limits: dict[str, int], is_response: bool = False
          ) -> tuple[HeadReader, bool]:  # fmt: skip
    reader = HeadReader(is_response=is_response, **limits)
    done = False
    for chunk in chunks(data, split):
        done = reader.feed(chunk)
    return reader, done


def _check_rejection(exc: HandshakeError) -> None:
    assert exc.status in SERVER_HANDSHAKE_STATUSES, (exc.status, exc.msg)
    answer = reject_response_bytes(exc)
    reader, done = _read(answer, 0, {})
    assert done and reader.leftover == exc.msg.encode("utf-8"), answer[:200]
    response = parse_response(reader.head)
    assert response.status == exc.status
    assert response.headers.get("Content-Length") == str(len(reader.leftover))


def _environ(request: Request) -> dict[str, Any]:
    """What the wsgiref server's handler builds for this request (its own code)."""
    handler: Any = SimpleNamespace(
        server=SimpleNamespace(base_environ={"SERVER_NAME": "fuzz", "SERVER_PORT": "80"}),
        server_version="fuzz",
        client_address=("127.0.0.1", 12345),
        connection=None,
    )
    return WebSocketWSGIRequestHandler.make_environ(handler, request)


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    cfg, split, raw = data[0], data[1], data[2:]
    limits = SMALL if cfg & 1 else {}
    options: dict[str, Any] = {
        "allowed_origins": ORIGINS if cfg & 2 else None,
        "protocols": PROTOCOLS if cfg & 4 else None,
        "extensions": _factories((cfg >> 3) & 3),
        "select_subprotocol": _select_last if cfg & 32 else None,
    }
    try:
        reader, done = _read(raw, split, limits)
    except HandshakeError as exc:
        _check_rejection(exc)
        try:  # fed whole, the same bytes are refused too
            _read(raw, 0, limits)
        except HandshakeError:
            return
        raise AssertionError("refused in chunks, accepted whole") from exc
    whole, whole_done = _read(raw, 0, limits)
    assert done == whole_done, "chunking changed whether the head is complete"
    if not done:
        return
    head = reader.head
    assert head == whole.head and reader.leftover == whole.leftover
    assert head + reader.leftover == raw, "bytes after the head were lost or altered"
    assert head.endswith(b"\r\n\r\n")
    max_head = limits.get("max_head_size", 65536)
    assert len(head) <= max_head, (len(head), max_head)
    assert head.count(b"\r\n") - 2 <= limits.get("max_headers", 100)

    try:
        request = parse_request(head)
    except HandshakeError as exc:
        _check_rejection(exc)
        return
    try:  # the WSGI path (wsgiref server + WebSocketWSGIApplication) on the same request
        validate_environ(_environ(request), **options)
    except HandshakeError as exc:
        _check_rejection(exc)
    try:
        result = validate_request(request, **options)
    except HandshakeError as exc:
        _check_rejection(exc)
        return

    headers = request.headers
    assert request.method == "GET"
    assert len(headers.get_all("Host")) == 1
    assert "Transfer-Encoding" not in headers
    key = result.key
    assert headers.get_all("Sec-WebSocket-Key") == [key]
    assert len(base64.b64decode(key, validate=True)) == 16
    assert headers.get_all("Sec-WebSocket-Version") == ["13"]
    if options["allowed_origins"] is not None:
        origin = headers.get("Origin")
        assert origin is not None and origin.lower() in [o.lower() for o in ORIGINS]
    offered = [p.strip(" \t") for v in headers.get_all("Sec-WebSocket-Protocol")
               for p in v.split(",") if p.strip(" \t")]  # fmt: skip
    if result.protocol is not None:
        assert result.protocol in offered and result.protocol in PROTOCOLS
    offers = parse_extension_header(headers.get_all("Sec-WebSocket-Extensions"))
    names = [name for name, _ in offers]
    assert all(ext.name in names for ext in result.extensions)
    claimed = 0
    for ext in result.extensions:
        assert not claimed & ext.rsv_mask, "two extensions claim the same RSV bit"
        claimed |= ext.rsv_mask

    answer = result.response_bytes([("Server", "fuzz")])
    back, back_done = _read(answer, split, {}, is_response=True)
    assert back_done and back.leftover == b""
    response = parse_response(back.head)
    assert response.status == 101
    accept = base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode()
    assert response.headers.get_all("Sec-WebSocket-Accept") == [accept]
    assert response.headers.get_all("Sec-WebSocket-Protocol") == (
        [result.protocol] if result.protocol else []
    )
    answered = parse_extension_header(response.headers.get_all("Sec-WebSocket-Extensions"))
    assert [name for name, _ in answered] == [ext.name for ext in result.extensions]


if __name__ == "__main__":
    replay_main(test_one_input)
