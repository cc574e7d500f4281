"""Helpers shared by the fuzz harnesses (no atheris needed here).

Every harness is a module ``fuzz_<name>.py`` with a ``test_one_input(data: bytes)``
entry point that raises only when it found a bug: an exception the code under test
may not raise, or a broken invariant (``AssertionError``).  ``fuzz/run.py`` drives
an entry point with atheris (coverage-guided); ``tests/test_fuzz_smoke.py`` calls
the same entry points directly over the seed corpus and generated inputs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from ws4py.exc import HandshakeError
from ws4py.extensions import ExtensionParams
from ws4py.extensions.permessage_deflate import (
    ClientPerMessageDeflate,
    PerMessageDeflate,
    ServerPerMessageDeflate,
)
from ws4py.framing import OPCODE_BINARY, OPCODE_TEXT

#: Close codes a parser may fail a connection with (ws4py.exc: 1002, 1003, 1007, 1009).
PARSER_FAILURE_CODES = frozenset({1002, 1003, 1007, 1009})
#: HTTP statuses the server-side handshake code may answer with.
SERVER_HANDSHAKE_STATUSES = frozenset({400, 403, 405, 414, 426, 431})


def chunk_sizes(seed: int, total: int) -> list[int]:
    """Deterministic chunk sizes summing to ``total``, shaped by ``seed`` (0-255).

    Seed 0 gives one chunk; small seeds give tiny chunks (down to one byte at a
    time), larger ones a mix of sizes: enough to split headers, masking keys,
    UTF-8 sequences and compressed blocks at every position.
    """
    if total <= 0:
        return []
    if seed == 0:
        return [total]
    if seed < 8:
        return [seed] * (total // seed) + ([total % seed] if total % seed else [])
    sizes: list[int] = []
    state = seed * 2654435761 & 0xFFFFFFFF
    left = total
    cap = 1 + (seed & 0x3F) * 4
    while left > 0:
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        size = min(left, 1 + (state >> 8) % cap)
        sizes.append(size)
        left -= size
    return sizes


def chunks(data: bytes, seed: int) -> Iterator[bytes]:
    """``data`` cut as :func:`chunk_sizes` says."""
    pos = 0
    for size in chunk_sizes(seed, len(data)):
        yield data[pos : pos + size]
        pos += size


# ---------------------------------------------------------------------------
# permessage-deflate: extension pairs built through the real negotiation
# ---------------------------------------------------------------------------

#: (server factory, client factory) pairs for the deflate modes 1-3 of the harnesses.
DEFLATE_CONFIGS: tuple[tuple[Callable[[], ServerPerMessageDeflate],
                             Callable[[], ClientPerMessageDeflate]], ...] = (
    (ServerPerMessageDeflate, ClientPerMessageDeflate),
    (
        lambda: ServerPerMessageDeflate(
            server_no_context_takeover=True, client_no_context_takeover=True
        ),
        lambda: ClientPerMessageDeflate(client_max_window_bits=10),
    ),
    (
        lambda: ServerPerMessageDeflate(client_max_window_bits=None),
        lambda: ClientPerMessageDeflate(server_max_window_bits=8, client_max_window_bits=8),
    ),
)  # fmt: skip


def negotiate_deflate(mode: int) -> tuple[PerMessageDeflate, PerMessageDeflate]:
    """(server extension, client extension) for ``mode`` 1-3, via both factories.

    The client factory's offer goes to the server factory, whose response goes
    back to the client factory: exactly what a handshake does.
    """
    server_factory, client_factory = DEFLATE_CONFIGS[mode - 1]
    client = client_factory()
    outcome = server_factory().accept([client.offer()])
    assert outcome is not None, f"deflate mode {mode}: the server declined our own offer"
    response, server_ext = outcome
    client_ext = client.accept(response)
    return server_ext, client_ext


def twin(ext: PerMessageDeflate) -> PerMessageDeflate:
    """The other end of ``ext``: the same agreement, seen from the other side."""
    return PerMessageDeflate(
        is_server=not ext.is_server,
        server_no_context_takeover=ext.server_no_context_takeover,
        client_no_context_takeover=ext.client_no_context_takeover,
        server_max_window_bits=ext.server_max_window_bits,
        client_max_window_bits=ext.client_max_window_bits,
    )


def payloads_from(data: bytes, count: int = 3) -> list[bytes]:
    """A few message payloads derived from fuzz bytes: compressible and not, some large."""
    out: list[bytes] = []
    if not data:
        data = b"\x00"
    for i in range(count):
        piece = data[i::count] or data
        repeat = 1 + (piece[0] if piece else 0) % 64
        body = piece * repeat
        if i == 1:
            body = bytes(b ^ (j * 31 & 0xFF) for j, b in enumerate(body))  # less compressible
        out.append(body[: 1 << 16])
    return out


def deflate_roundtrip(sender: PerMessageDeflate, receiver: PerMessageDeflate,
                      messages: list[bytes], split: int = 0) -> None:
    """Every message ``sender`` compresses, ``receiver`` inflates back exactly.

    Messages go in order on one connection (context takeover applies across
    them); with ``split`` the compressed payload is cut into frames with RSV1 on
    the first only (RFC 7692 section 6.1).
    """
    for n, payload in enumerate(messages):
        opcode = OPCODE_TEXT if n % 2 and _is_utf8(payload) else OPCODE_BINARY
        rsv, wire = sender.encode_message(opcode, payload)
        assert rsv in (0, 0x40), rsv
        if not rsv:
            assert wire == payload
        pieces = [wire] if not split or len(wire) < 2 else [wire[:split % len(wire)],
                                                            wire[split % len(wire):]]
        out = b"".join(
            receiver.decode_frame(opcode, rsv if i == 0 else 0, piece, i == len(pieces) - 1,
                                  None)
            for i, piece in enumerate(pieces)
        )  # fmt: skip
        assert out == payload, (
            f"permessage-deflate round trip lost data: {sender!r} -> {receiver!r}, "
            f"message {n} of {len(payload)} bytes came back as {len(out)} bytes"
        )


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def client_factory_for_offer(params: ExtensionParams) -> ClientPerMessageDeflate | None:
    """The client factory whose offer is exactly ``params`` (None if it cannot be one)."""
    kwargs: dict[str, object] = {"client_max_window_bits": None}
    for name, value in params:
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            if value is not None:
                return None
            kwargs[name] = True
        elif name == "server_max_window_bits" and value is not None:
            kwargs[name] = int(value)
        elif name == "client_max_window_bits":
            kwargs[name] = True if value is None else int(value)
        else:
            return None
    try:
        return ClientPerMessageDeflate(**kwargs)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return None


def expect_handshake_error(func: Callable[[], object]) -> object | HandshakeError:
    """Run ``func``; a HandshakeError is an outcome, anything else propagates."""
    try:
        return func()
    except HandshakeError as exc:
        return exc


def replay_main(test_one_input: Callable[[bytes], None]) -> None:
    """``python fuzz/fuzz_X.py FILE|DIR...``: run inputs without atheris (reproduce a crash)."""
    paths = [Path(arg) for arg in sys.argv[1:]]
    files = [f for p in paths for f in (sorted(p.iterdir()) if p.is_dir() else [p])]
    for path in files:
        test_one_input(path.read_bytes())
    print(f"{len(files)} inputs ran without finding a bug")
