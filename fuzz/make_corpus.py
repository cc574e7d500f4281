"""Write the seed corpus of every harness into ``fuzz/corpus/<name>/`` (deterministic).

    python fuzz/make_corpus.py

Seeds are valid traffic (frames, handshakes, extension offers) and the edge cases
around each rule, so the fuzzers start from inputs that reach deep into the code.
Frames are built here by hand (fixed masking key), independently of ws4py's
framing; compressed payloads come from a negotiated permessage-deflate extension.
Re-running rewrites the same files.
"""

from __future__ import annotations

import hashlib
import struct
import sys
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_common import negotiate_deflate

ROOT = Path(__file__).resolve().parent / "corpus"
KEY = b"\x37\xfa\x21\x3d"


def frame(opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0,
          masked: bool = True, length: int | None = None) -> bytes:  # fmt: skip
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | rsv | opcode
    m = 0x80 if masked else 0
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 0x10000:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if not masked:
        return head + payload
    return head + KEY + bytes(b ^ KEY[i % 4] for i, b in enumerate(payload))


def close(code: int, reason: bytes = b"", masked: bool = True) -> bytes:
    return frame(0x8, struct.pack("!H", code) + reason, masked=masked)


def stream_seeds() -> dict[str, bytes]:
    """Frame sequences; each seed is ``cfg, split`` + bytes (see fuzz_stream.py)."""
    text = "héllo wörld ✓ 𝄞".encode()
    seeds: dict[str, bytes] = {}

    def add(name: str, cfg: int, split: int, body: bytes) -> None:
        seeds[name] = bytes([cfg, split]) + body

    for side, masked in (("server", True), ("client", False)):
        c = 0 if masked else 1
        basic = (frame(0x1, b"hello", masked=masked) + frame(0x2, b"\x00\xff", masked=masked)
                 + frame(0x9, b"ping", masked=masked) + frame(0xA, b"pong", masked=masked)
                 + close(1000, b"bye", masked))  # fmt: skip
        add(f"{side}-basic", c, 0, basic)
        add(f"{side}-basic-bytewise", c, 1, basic)
        add(f"{side}-basic-classic-exact", c | 2 | 32, 0, basic)
        add(f"{side}-basic-classic-chunks", c | 2, 77, basic)
        frag = (frame(0x1, text[:7], fin=False, masked=masked) + frame(0x9, b"mid", masked=masked)
                + frame(0x0, text[7:12], fin=False, masked=masked)
                + frame(0x0, text[12:], masked=masked))  # fmt: skip
        add(f"{side}-fragmented-utf8", c, 3, frag)
        add(f"{side}-lengths", c, 200, frame(0x2, b"a" * 126, masked=masked)
            + frame(0x2, b"b" * 1000, masked=masked))
        add(f"{side}-64bit-length", c, 0,  # the 64-bit form (valid, if not minimal)
            b"\x82" + bytes([(0x80 if masked else 0) | 127]) + struct.pack("!Q", 5)
            + (KEY + bytes(b ^ KEY[i % 4] for i, b in enumerate(b"hello")) if masked
               else b"hello"))  # fmt: skip
        add(f"{side}-64bit-huge", c, 0, frame(0x2, b"", masked=masked, length=1 << 62))
        add(f"{side}-64bit-msb", c, 0, frame(0x2, b"", masked=masked, length=1 << 63))
        add(f"{side}-small-limit", c | 16, 9, frame(0x2, b"z" * 300, masked=masked))
        add(f"{side}-small-limit-frag", c | 16, 9, frame(0x2, b"z" * 150, fin=False,
                                                         masked=masked)
            + frame(0x0, b"z" * 150, masked=masked))
        add(f"{side}-bad-utf8", c, 0, frame(0x1, b"ok \xed\xa0\x80 surrogate", masked=masked))
        add(f"{side}-bad-utf8-split", c, 2, frame(0x1, b"abc\xf0\x9f" + b"x" * 200, masked=masked))
        add(f"{side}-truncated-utf8-end", c, 0, frame(0x1, b"\xe2\x82", fin=False, masked=masked)
            + frame(0x0, b"", masked=masked))
        add(f"{side}-reserved-opcode", c, 0, frame(0x3, b"?", masked=masked))
        add(f"{side}-rsv-no-ext", c, 0, frame(0x1, b"x", rsv=0x20, masked=masked))
        add(f"{side}-control-fragmented", c, 0, frame(0x9, b"x", fin=False, masked=masked))
        add(f"{side}-control-too-long", c, 0, frame(0x9, b"x" * 126, masked=masked))
        add(f"{side}-cont-without-start", c, 0, frame(0x0, b"x", masked=masked))
        add(f"{side}-new-msg-in-frag", c, 0, frame(0x1, b"a", fin=False, masked=masked)
            + frame(0x1, b"b", masked=masked))
        add(f"{side}-wrong-masking", c, 0, frame(0x1, b"x", masked=not masked))
        add(f"{side}-close-empty", c, 0, frame(0x8, b"", masked=masked) + frame(0x1, b"after",
                                                                               masked=masked))
        add(f"{side}-close-1byte", c, 0, frame(0x8, b"\x03", masked=masked))
        add(f"{side}-close-bad-code", c, 0, close(1005, masked=masked))
        add(f"{side}-close-bad-reason", c, 0, close(1000, b"\xff", masked))
        add(f"{side}-close-private", c, 5, close(4999, "déjà".encode(), masked))

        for mode in (1, 2, 3):
            server_ext, client_ext = negotiate_deflate(mode)
            sender = client_ext if masked else server_ext
            cfg = c | (mode << 2)
            body = b""
            for payload in (b"compress me " * 20, text * 10, bytes(range(256)) * 2, b"a" * 40):
                rsv, data = sender.encode_message(0x2, payload)
                body += frame(0x2, data, rsv=rsv, masked=masked)
            add(f"{side}-deflate{mode}", cfg, 0, body)
            add(f"{side}-deflate{mode}-bytewise", cfg, 1, body)
            rsv, data = sender.encode_message(0x1, text * 20)
            half = len(data) // 2
            add(f"{side}-deflate{mode}-fragmented", cfg | 2, 0,
                frame(0x1, data[:half], fin=False, rsv=rsv, masked=masked)
                + frame(0x9, b"p", masked=masked) + frame(0x0, data[half:], masked=masked))
            add(f"{side}-deflate{mode}-rsv1-continuation", cfg, 0,
                frame(0x1, data[:half], fin=False, rsv=rsv, masked=masked)
                + frame(0x0, data[half:], rsv=0x40, masked=masked))
            # a decompression bomb: 1 MiB of zeros in a few hundred bytes, small limit
            rsv, bomb = sender.encode_message(0x2, bytes(1 << 20))
            add(f"{side}-deflate{mode}-bomb", cfg | 16, 0, frame(0x2, bomb, rsv=rsv,
                                                                 masked=masked))
            add(f"{side}-deflate{mode}-garbage", cfg, 0, frame(0x2, b"\xff\xfe\x00junk", rsv=0x40,
                                                               masked=masked))
            # compressed invalid UTF-8 must still be refused (1007)
            rsv, bad = sender.encode_message(0x1, b"\xc3\x28" * 64)
            add(f"{side}-deflate{mode}-bad-utf8", cfg, 4, frame(0x1, bad, rsv=rsv, masked=masked))
            # BFINAL: a raw deflate stream that ends itself
            comp = zlib.compressobj(6, zlib.DEFLATED, -9)
            final = comp.compress(b"final block " * 10) + comp.flush(zlib.Z_FINISH)
            add(f"{side}-deflate{mode}-bfinal", cfg, 0, frame(0x2, final, rsv=0x40, masked=masked)
                + frame(0x2, final, rsv=0x40, masked=masked))
    return seeds


def request(*extra: str, target: str = "/chat", method: str = "GET",
            version: str = "HTTP/1.1", skip: tuple[str, ...] = ()) -> bytes:  # fmt: skip
    headers = [
        ("Host", "server.example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "keep-alive, Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ]
    lines = [f"{method} {target} {version}"]
    lines += [f"{k}: {v}" for k, v in headers if k not in skip]
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def server_handshake_seeds() -> dict[str, bytes]:
    seeds: dict[str, bytes] = {}
    pmd = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"
    origin = "Origin: https://good.example"
    proto = "Sec-WebSocket-Protocol: superchat, chat"
    cases = {
        "minimal": request(),
        "full": request(origin, proto, pmd, "User-Agent: fuzz/1.0"),
        "with-frames": request(pmd) + frame(0x1, b"early"),
        "deflate-offers": request("Sec-WebSocket-Extensions: permessage-deflate; "
                                  "server_max_window_bits=10; client_max_window_bits=9, "
                                  'permessage-deflate; client_max_window_bits="12", x-rsv1'),
        "deflate-bad-offer": request("Sec-WebSocket-Extensions: permessage-deflate; foo=1, "
                                     "permessage-deflate; server_max_window_bits=16"),
        "bad-origin": request("Origin: https://evil.example"),
        "two-origins": request(origin, "Origin: https://GOOD.example"),
        "post": request(method="POST"),
        "http10": request(version="HTTP/1.0"),
        "no-host": request(skip=("Host",)),
        "two-hosts": request("Host: other"),
        "no-upgrade": request(skip=("Upgrade",)),
        "bad-key": request("Sec-WebSocket-Key: AAAA"),
        "noncanonical-key": request("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==",
                                    skip=("Sec-WebSocket-Key",)),
        "version-8": request("Sec-WebSocket-Version: 8", skip=("Sec-WebSocket-Version",)),
        "body": request("Content-Length: 5") + b"hello",
        "chunked": request("Transfer-Encoding: chunked"),
        "obs-fold": request("X-Folded: a", " continued"),
        "space-before-colon": request("X-Bad : v"),
        "control-char": request("X-Bad: a\x01b"),
        "bare-lf": b"GET / HTTP/1.1\nHost: x\n\n",
        "tls-hello": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32),
        "long-target": request(target="/" + "a" * 9000),
        "many-headers": request(*[f"X-H{i}: v" for i in range(120)]),
        "big-header": request("X-Big: " + "b" * 9000),
        "latin1": request("X-Name: caf\xe9"),
        "bad-protocol": request("Sec-WebSocket-Protocol: chat, bad proto"),
    }
    for i, (name, raw) in enumerate(sorted(cases.items())):
        cfg = (i * 37) & 0x3F if name != "full" else 0b001110
        seeds[name] = bytes([cfg, 0]) + raw
        seeds[name + "-split"] = bytes([cfg ^ 0b111110, 3 + i]) + raw
    seeds["full-small-limits"] = bytes([0b000001, 9]) + cases["full"]
    return seeds


def response(*extra: str, status: str = "101 Switching Protocols",
             accept: str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") -> bytes:  # fmt: skip
    lines = [f"HTTP/1.1 {status}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Accept: {accept}", *extra]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def client_handshake_seeds() -> dict[str, bytes]:
    seeds: dict[str, bytes] = {}
    pmd = "Sec-WebSocket-Extensions: permessage-deflate"
    cases = {
        "minimal": (0, response()),
        "protocol": (2, response("Sec-WebSocket-Protocol: chat")),
        "protocol-unoffered": (2, response("Sec-WebSocket-Protocol: other")),
        "protocol-two": (2, response("Sec-WebSocket-Protocol: chat, superchat")),
        "deflate": (4, response(pmd + "; server_max_window_bits=12; client_max_window_bits=12")),
        "deflate-plain": (4, response(pmd)),
        "deflate-demanding": (8, response(pmd + "; server_no_context_takeover; "
                                          "server_max_window_bits=10; client_max_window_bits=9")),
        "deflate-window-8": (4, response(pmd + "; server_max_window_bits=8; "
                                         "client_max_window_bits=8")),
        "deflate-no-cmwb": (12, response(pmd + "; client_no_context_takeover")),
        "deflate-unoffered-cmwb": (12, response(pmd + "; client_max_window_bits=10")),
        "deflate-twice": (4, response(pmd + ", permessage-deflate")),
        "deflate-unknown-param": (4, response(pmd + "; foo")),
        "unoffered-extension": (0, response("Sec-WebSocket-Extensions: x-unknown")),
        "with-frames": (4, response(pmd) + frame(0x1, b"hi", masked=False)),
        "wrong-accept": (0, response(accept="AAAAAAAAAAAAAAAAAAAAAAAAAAA=")),
        "two-accepts": (0, response("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")),
        "403": (0, response(status="403 Forbidden")),
        "no-reason": (0, b"HTTP/1.1 101\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"),
        "not-http": (0, b"SSH-2.0-OpenSSH_9.6\r\n"),
        "http2-preface": (0, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        "big-header": (1, response("X-Big: " + "b" * 600)),
    }
    for i, (name, (cfg, raw)) in enumerate(sorted(cases.items())):
        seeds[name] = bytes([cfg, 0]) + raw
        seeds[name + "-split"] = bytes([cfg, 2 + i]) + raw
    return seeds


def extension_seeds() -> dict[str, bytes]:
    values = {
        "pmd": "permessage-deflate",
        "pmd-cmwb": "permessage-deflate; client_max_window_bits",
        "pmd-all": "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                   "server_max_window_bits=10; client_max_window_bits=9",
        "pmd-quoted": 'permessage-deflate; client_max_window_bits="10"',
        "pmd-alternatives": "permessage-deflate; server_max_window_bits=8, permessage-deflate; "
                            "client_max_window_bits=15, permessage-deflate",
        "pmd-bad-values": "permessage-deflate; server_max_window_bits=08; "
                          "client_max_window_bits=16",
        "pmd-duplicate": "permessage-deflate; server_no_context_takeover; "
                         "server_no_context_takeover",
        "pmd-flag-value": "permessage-deflate; server_no_context_takeover=1",
        "multi-line": "x-foo; a=b\npermessage-deflate; client_max_window_bits=12",
        "empty-elements": " , permessage-deflate ,, x-bar ; q ",
        "quoted-escape": 'x-foo; a="b\\"c"',
        "quoted-unterminated": 'x-foo; a="abc',
        "bad-chars": "x foo; =",
        "tabs": "permessage-deflate;\tclient_max_window_bits\t=\t11",
        "empty": "",
    }
    seeds: dict[str, bytes] = {}
    for i, (name, value) in enumerate(sorted(values.items())):
        seeds[name] = bytes([i * 11 & 0xFF]) + value.encode("latin-1")
    return seeds


def main() -> None:
    for name, seeds in (
        ("stream", stream_seeds()),
        ("server_handshake", server_handshake_seeds()),
        ("client_handshake", client_handshake_seeds()),
        ("extensions", extension_seeds()),
    ):
        folder = ROOT / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        for seed_name, data in seeds.items():
            digest = hashlib.sha1(data).hexdigest()[:8]
            (folder / f"{seed_name}-{digest}").write_bytes(data)
        print(f"{folder}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
