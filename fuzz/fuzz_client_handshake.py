"""Fuzz harness: the client side of the opening handshake.

``HeadReader(is_response=True)`` + ``parse_response`` + ``ClientHandshake.process_response``,
as every ws4py client runs them on the server's answer.

Input layout: ``cfg, split, *response bytes``.  ``cfg`` bit 0: small head limits;
bit 1: subprotocols offered; bits 2-3: extension factories offered (none,
permessage-deflate with the defaults, a demanding one, one without
``client_max_window_bits``).  The key is fixed (RFC 6455's sample nonce), so the
seed corpus holds responses with the right ``Sec-WebSocket-Accept``.

Only :class:`ws4py.exc.HandshakeError` may come out.  When a response is accepted:
it is a 101 with the right accept value, the subprotocol (if any) is one we offered,
each extension is one we offered, at most once, honouring what we asked (window
bits, no context takeover); and the negotiated permessage-deflate really
interoperates with a server holding the same agreement (messages round-trip both
ways).  Bytes after the head are kept exactly, and chunking never changes the outcome.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_common import chunks, deflate_roundtrip, payloads_from, replay_main, twin

from ws4py.exc import HandshakeError
from ws4py.extensions import ClientExtensionFactory
from ws4py.extensions.permessage_deflate import (
    ClientPerMessageDeflate,
    PerMessageDeflate,
)
from ws4py.handshake import ClientHandshake, HeadReader, parse_response

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 section 1.3
PROTOCOLS = ["chat", "superchat"]
SMALL = {"max_request_line": 64, "max_headers": 8, "max_header_size": 128, "max_head_size": 512}


def _factories(kind: int) -> list[ClientExtensionFactory]:
    if kind == 0:
        return []
    if kind == 1:
        return [ClientPerMessageDeflate()]
    if kind == 2:
        return [ClientPerMessageDeflate(server_no_context_takeover=True, server_max_window_bits=10,
                                        client_max_window_bits=9)]  # fmt: skip
    return [ClientPerMessageDeflate(client_max_window_bits=None, client_no_context_takeover=True)]


def _outcome(raw: bytes, split: int, cfg: int) -> tuple[Any, HeadReader | None]:
    limits = SMALL if cfg & 1 else {}
    factories = _factories((cfg >> 2) & 3)
    handshake = ClientHandshake("example.com", 80, "/chat", key=KEY,
                                protocols=PROTOCOLS if cfg & 2 else None,
                                extensions=factories)  # fmt: skip
    reader = HeadReader(is_response=True, **limits)
    try:
        done = False
        for chunk in chunks(raw, split):
            done = reader.feed(chunk)
        if not done:
            return "incomplete", reader
        return handshake.process_response(parse_response(reader.head)), reader
    except HandshakeError as exc:
        return exc, None


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    cfg, split, raw = data[0], data[1], data[2:]
    result, reader = _outcome(raw, split, cfg)
    whole, whole_reader = _outcome(raw, 0, cfg)
    if isinstance(result, HandshakeError):
        assert isinstance(whole, HandshakeError), "refused in chunks, accepted whole"
        return
    assert not isinstance(whole, HandshakeError), f"accepted in chunks, refused whole: {whole}"
    if result == "incomplete":
        assert whole == "incomplete"
        return
    assert reader is not None and whole_reader is not None
    assert reader.head + reader.leftover == raw, "bytes after the head were lost or altered"
    assert (reader.head, reader.leftover) == (whole_reader.head, whole_reader.leftover)

    response = parse_response(reader.head)
    assert response.status == 101
    assert response.headers.get_all("Sec-WebSocket-Accept") == [ACCEPT]
    if result.protocol is not None:
        assert cfg & 2 and result.protocol in PROTOCOLS
    factories = _factories((cfg >> 2) & 3)
    assert len(result.extensions) <= len(factories)
    for ext in result.extensions:
        assert isinstance(ext, PerMessageDeflate) and not ext.is_server
        asked: Any = factories[0]
        assert isinstance(asked, ClientPerMessageDeflate)
        if asked.server_no_context_takeover:
            assert ext.server_no_context_takeover
        if asked.client_no_context_takeover:
            assert ext.client_no_context_takeover
        if asked.server_max_window_bits is not None:
            assert ext.server_max_window_bits <= asked.server_max_window_bits
        promised = asked.client_max_window_bits
        if isinstance(promised, int) and promised is not True:
            assert ext.client_max_window_bits <= promised
        # The agreement works: what each side compresses, the other inflates.
        server = twin(ext)
        messages = payloads_from(raw[-64:])
        deflate_roundtrip(ext, server, messages, split)
        deflate_roundtrip(server, ext, messages)
        deflate_roundtrip(ext, server, messages[::-1])


if __name__ == "__main__":
    replay_main(test_one_input)
