"""Fuzz harness: the extension header grammar and permessage-deflate's negotiation.

``parse_extension_header`` on fuzzed ``Sec-WebSocket-Extensions`` values, then
``ServerPerMessageDeflate.accept`` (a client's offers) and
``ClientPerMessageDeflate.accept`` (a server's response) on what it parsed.

Input layout: ``cfg, *header bytes``; the bytes are decoded as ISO-8859-1 (as
header values are) and split on ``\\n`` into up to four header lines.  ``cfg``
picks the server and client factory settings.

Only :class:`ws4py.exc.HandshakeError` may come out of the parser and of the
client factory; the server factory never raises (it declines).  Checked: what
parses formats back to itself; a server's answer to an offer is one the client that
made that offer accepts; and every agreement (server side or client side)
interoperates: messages compressed by one end inflate back exactly at the other.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_common import (
    client_factory_for_offer,
    deflate_roundtrip,
    payloads_from,
    replay_main,
    twin,
)

from ws4py.exc import HandshakeError
from ws4py.extensions import format_extension, parse_extension_header
from ws4py.extensions.permessage_deflate import (
    ClientPerMessageDeflate,
    PerMessageDeflate,
    ServerPerMessageDeflate,
)

SERVER_CONFIGS = (
    {},
    {"server_no_context_takeover": True, "client_no_context_takeover": True},
    {"server_max_window_bits": 9, "client_max_window_bits": 8},
    {"server_max_window_bits": None, "client_max_window_bits": None},
    {"require_client_max_window_bits": True, "server_max_window_bits": 15},
)
CLIENT_CONFIGS = (
    {},
    {"client_max_window_bits": None},
    {"server_no_context_takeover": True, "server_max_window_bits": 11},
    {"client_max_window_bits": 8, "client_no_context_takeover": True},
)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    cfg, raw = data[0], data[1:]
    values = raw.decode("latin-1").split("\n")[:4]
    try:
        offers = parse_extension_header(values)
    except HandshakeError:
        return
    assert offers, "a header that parses has at least one extension"
    # What parses formats back to the same thing, alone and joined.
    formatted = [format_extension(name, params) for name, params in offers]
    for text, offer in zip(formatted, offers, strict=True):
        assert parse_extension_header([text]) == [offer], (text, offer)
    assert parse_extension_header([", ".join(formatted)]) == offers

    deflate_offers = [params for name, params in offers if name == "permessage-deflate"]
    messages = payloads_from(raw[:96])
    split = raw[0] if raw else 0

    # Server side: the first acceptable offer wins; the client that made it agrees.
    server_factory = ServerPerMessageDeflate(**SERVER_CONFIGS[cfg % len(SERVER_CONFIGS)])
    outcome = server_factory.accept(deflate_offers)
    if outcome is not None:
        response, server_ext = outcome
        assert isinstance(server_ext, PerMessageDeflate) and server_ext.is_server
        assert response == server_ext.response_params()
        text = format_extension("permessage-deflate", response)
        assert parse_extension_header([text]) == [("permessage-deflate", response)]
        chosen = next(o for o in deflate_offers if server_factory.accept([o]) is not None)
        client_factory = client_factory_for_offer(chosen)
        if client_factory is not None:
            offer = client_factory.offer()
            assert sorted(offer) == sorted(chosen), (offer, chosen)
            try:
                client_ext = client_factory.accept(response)
            except HandshakeError as exc:
                raise AssertionError(
                    f"the server answered offer {chosen} with {response}, which that client "
                    f"refuses: {exc}"
                ) from exc
            deflate_roundtrip(server_ext, client_ext, messages, split)
            deflate_roundtrip(client_ext, server_ext, messages, split)
        else:
            fresh = server_factory.accept(deflate_offers)
            assert fresh is not None and fresh[0] == response, "negotiation is not deterministic"
            deflate_roundtrip(fresh[1], twin(fresh[1]), messages)

    # Client side: each parsed extension taken as a server's response.
    client_factory = ClientPerMessageDeflate(**CLIENT_CONFIGS[(cfg >> 3) % len(CLIENT_CONFIGS)])
    for params in deflate_offers[:2]:
        try:
            ext = client_factory.accept(params)
        except HandshakeError:
            continue
        assert isinstance(ext, PerMessageDeflate) and not ext.is_server
        peer = twin(ext)
        deflate_roundtrip(ext, peer, messages, split)
        deflate_roundtrip(peer, ext, messages)


if __name__ == "__main__":
    replay_main(test_one_input)
