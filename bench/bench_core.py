#!/usr/bin/env python3
"""Side-by-side benchmark of ws4py's sans-I/O core against its peers.

Usage::

    python bench/bench_core.py [--quick] [--json out.json] [--no-classic]

Sections (all in one run, same process, same data):

1. parse  - server-side parsing of MASKED client frames (16 B, 1 KiB, 64 KiB,
            1 MiB; text and binary), a pre-built byte stream split up front
            into 64 KiB chunks; the timed loop feeds every chunk and takes the
            resulting messages out.  Reports frames/s and MB/s (payload).
2. build  - building one frame, masked (client) and unmasked (server).
3. mask   - XOR-masking 1 MiB.
4. utf8   - validating 1 MiB of UTF-8 text (ASCII and mixed multibyte).

Peers: websockets (sans-I/O ``Protocol``), wsproto (``WSConnection``), picows
(its Cython ``WSProtocol`` driven through ``get_buffer``/``buffer_updated``
with a fake transport, no event loop I/O), wsaccel (mask / UTF-8 only), and
classic ws4py 0.6.0, run in a subprocess from its own venv
(``bench/.venvs/classic``, created on first use) because its import name
clashes with ours.  Exactly what is measured per library is printed with the
tables and described in bench/README.md.

Timing: ``time.perf_counter``, best of N rounds within a time budget per item
(garbage collector paused while a round runs, as ``timeit`` does).
MB means 10**6 bytes.  Ratios are "ws4py / peer" on throughput: > 1 means
ws4py is faster.

Only the standard library is imported at module level: the same file is the
classic-ws4py worker (``--classic-worker``), run by the classic venv's Python.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CLASSIC_VENV = HERE / ".venvs" / "classic"
CLASSIC_SPEC = "ws4py==0.6.0"

KiB = 1024
MiB = 1024 * 1024
CHUNK = 64 * KiB
SIZES = (16, KiB, 64 * KiB, MiB)
OP_TEXT = 0x1
OP_BINARY = 0x2
KINDS = (("text", OP_TEXT), ("binary", OP_BINARY))

PEERS = ("websockets", "wsproto", "picows", "classic")


# ---------------------------------------------------------------------------
# Test data (built here, independently of every library under test)
# ---------------------------------------------------------------------------


def size_label(n: int) -> str:
    if n >= MiB and n % MiB == 0:
        return f"{n // MiB} MiB"
    if n >= KiB and n % KiB == 0:
        return f"{n // KiB} KiB"
    return f"{n} B"


_JSON_LINE = (
    b'{"id": 1234567, "user": "alice", "event": "price_update", '
    b'"symbol": "WSPY", "bid": 101.25, "ask": 101.5, "ok": true}\n'
)


def make_payload(size: int, opcode: int, seed: int = 1) -> bytes:
    """Text: ASCII JSON-like lines (the common case); binary: random bytes."""
    if opcode == OP_TEXT:
        return (_JSON_LINE * (size // len(_JSON_LINE) + 1))[:size]
    return random.Random(seed).randbytes(size)


def make_mixed_utf8(size: int) -> bytes:
    """Valid UTF-8, about ``size`` bytes, mixing 1-, 2-, 3- and 4-byte sequences."""
    rng = random.Random(7)
    alphabet = (
        "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ 0123456789 .,;:!?"  # 1 byte
        "éèàçüöäßñøåœ"  # 2 bytes
        "αβγδεζηθλμπσω"  # 2 bytes
        "日本語中文字한국어ひらがなカタカナ"  # 3 bytes
        "€™✓★"  # 3 bytes
        "😀🚀🎉🐍"  # 4 bytes
    )
    out = "".join(rng.choice(alphabet) for _ in range(size // 2)).encode("utf-8")
    while len(out) < size:
        out += out
    out = out[:size]
    # Cut back to a code point boundary so the input is complete, valid UTF-8.
    while True:
        try:
            out.decode("utf-8")
            return out
        except UnicodeDecodeError:
            out = out[:-1]


def _xor(data: bytes, key: bytes) -> bytes:
    n = len(data)
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def _client_frame(opcode: int, payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    b0 = 0x80 | opcode
    if n < 126:
        head = bytes((b0, 0x80 | n))
    elif n < 0x10000:
        head = bytes((b0, 0xFE)) + n.to_bytes(2, "big")
    else:
        head = bytes((b0, 0xFF)) + n.to_bytes(8, "big")
    return head + key + _xor(payload, key)


def parse_frame_count(size: int, total: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, total // size))


def make_stream(size: int, opcode: int, n_frames: int) -> tuple[bytes, list[bytes]]:
    """Return (payload, chunks): ``n_frames`` masked frames, split in 64 KiB chunks."""
    payload = make_payload(size, opcode)
    rng = random.Random(size * 31 + opcode)
    keys = [rng.randbytes(4) for _ in range(64)]
    frames = [_client_frame(opcode, payload, keys[i % 64]) for i in range(min(n_frames, 64))]
    stream = b"".join(frames[i % len(frames)] for i in range(n_frames))
    chunks = [stream[i : i + CHUNK] for i in range(0, len(stream), CHUNK)]
    return payload, chunks


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


Item = tuple[Callable[[], Any] | None, Callable[[Any], Any]]  # (setup, run)


def _one_round(setup: Callable[[], Any] | None, run: Callable[[Any], Any]) -> tuple[float, Any]:
    state = setup() if setup is not None else None
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        result = run(state)
        dt = time.perf_counter() - t0
    finally:
        gc.enable()
    return dt, result


def time_interleaved(
    items: dict[str, Item], budget: float, min_rounds: int = 3, max_rounds: int = 200
) -> dict[str, dict[str, Any]]:
    """Best wall time of ``run(setup())`` per item; setup is not timed.

    Rounds go round-robin over the items (one round of each, then again), so
    a burst of background load hits every column of a comparison alike.  It
    stops after ``min_rounds`` cycles once ``budget`` seconds per item are
    spent; an item that alone took 3 budgets (a slow peer) stops early.  An
    item whose run raises is reported with ``error`` and dropped.
    """
    out: dict[str, dict[str, Any]] = {
        name: {"best": float("inf"), "rounds": 0, "spent": 0.0, "result": None} for name in items
    }
    active = dict(items)
    cycles = 0
    total = 0.0
    while active and cycles < max_rounds:
        for name, (setup, run) in list(active.items()):
            rec = out[name]
            try:
                dt, rec["result"] = _one_round(setup, run)
            except Exception as exc:  # a peer failing: report it, go on
                rec["error"] = f"{type(exc).__name__}: {exc}"
                del active[name]
                continue
            rec["best"] = min(rec["best"], dt)
            rec["spent"] += dt
            rec["rounds"] += 1
            total += dt
            if rec["spent"] >= 3 * budget and rec["rounds"] >= 1:
                del active[name]
        cycles += 1
        if cycles >= min_rounds and total >= budget * len(items):
            break
    return out


def time_rounds(
    run: Callable[[Any], Any],
    setup: Callable[[], Any] | None,
    budget: float,
    min_rounds: int = 3,
    max_rounds: int = 200,
) -> tuple[float, int, Any]:
    """One item alone: (best seconds, rounds, last result)."""
    rec = time_interleaved({"x": (setup, run)}, budget, min_rounds, max_rounds)["x"]
    if "error" in rec:
        raise RuntimeError(rec["error"])
    return rec["best"], rec["rounds"], rec["result"]


def _calibrate(fn: Callable[[], Any], target: float) -> int:
    """How many calls of ``fn`` take about ``target`` seconds."""
    fn()  # warm up
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        dt = time.perf_counter() - t0
        if dt >= target or number >= 1 << 22:
            return number
        number = max(number * 2, int(number * target / max(dt, 1e-9) * 1.2))


def time_ops(fns: dict[str, Callable[[], Any]], budget: float) -> dict[str, dict[str, Any]]:
    """Best time of one call per function, timeit-style, rounds interleaved.

    Returns per name ``seconds`` (per call) and ``calls``, or ``error``.
    """
    target = max(budget / 20, 0.005)
    items: dict[str, Item] = {}
    numbers: dict[str, int] = {}
    out: dict[str, dict[str, Any]] = {}
    for name, fn in fns.items():
        try:
            numbers[name] = number = _calibrate(fn, target)
        except Exception as exc:
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue

        def loop(_: Any, fn: Callable[[], Any] = fn, number: int = number) -> None:
            for _ in range(number):
                fn()

        items[name] = (None, loop)
    for name, rec in time_interleaved(items, budget).items():
        if "error" in rec:
            out[name] = {"error": rec["error"]}
        else:
            n = numbers[name]
            out[name] = {"seconds": rec["best"] / n, "calls": rec["rounds"] * n}
    return out


def time_op(fn: Callable[[], Any], budget: float) -> tuple[float, int]:
    """One function alone: (best seconds per call, calls timed)."""
    rec = time_ops({"x": fn}, budget)["x"]
    if "error" in rec:
        raise RuntimeError(rec["error"])
    return rec["seconds"], rec["calls"]


# ---------------------------------------------------------------------------
# 1. Parsing: one adapter per library, each returns (setup, run)
# ---------------------------------------------------------------------------

ParseAdapter = tuple[Callable[[], Any], Callable[[Any], int]]


def parse_ws4py(chunks: list[bytes], opcode: int, stream_cls: Any = None) -> ParseAdapter:
    if stream_cls is None:
        from ws4py.streaming import Stream as stream_cls

    Stream = stream_cls

    def setup() -> Any:
        return Stream(expect_masking=True, max_message_size=None)

    def run(stream: Any) -> int:
        n = 0
        feed = stream.feed
        for chunk in chunks:
            n += len(feed(chunk))  # the completed messages, taken out
        if stream.errors:
            raise RuntimeError(f"ws4py failed: {stream.errors[0].reason}")
        return n

    return setup, run


def parse_websockets(chunks: list[bytes], opcode: int) -> ParseAdapter:
    from websockets.frames import Opcode
    from websockets.protocol import OPEN, Protocol, Side

    text = Opcode.TEXT

    def setup() -> Any:
        return Protocol(Side.SERVER, state=OPEN, max_size=None)

    def run(proto: Any) -> int:
        n = 0
        receive = proto.receive_data
        events = proto.events_received
        for chunk in chunks:
            receive(chunk)
            for frame in events():
                # The sans-I/O layer does not check text; websockets' own
                # connection layer decodes it: do the same (RFC 6455 8.1).
                if frame.opcode is text:
                    frame.data.decode()
                n += 1
        if proto.parser_exc is not None:
            raise RuntimeError(f"websockets failed: {proto.parser_exc!r}")
        return n

    return setup, run


def parse_wsproto(chunks: list[bytes], opcode: int) -> ParseAdapter:
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, CloseConnection, Message, Request

    def setup() -> Any:
        client = WSConnection(ConnectionType.CLIENT)
        server = WSConnection(ConnectionType.SERVER)
        server.receive_data(client.send(Request(host="localhost", target="/")))
        for event in server.events():
            assert isinstance(event, Request)
        client.receive_data(server.send(AcceptConnection()))
        list(client.events())
        return server

    def run(server: Any) -> int:
        n = 0
        parts: list[Any] = []
        receive = server.receive_data
        events = server.events
        for chunk in chunks:
            receive(chunk)
            for event in events():
                if isinstance(event, Message):
                    # wsproto streams a frame in pieces as it arrives: join them
                    # into the message, as an application needing whole
                    # messages must.
                    if event.message_finished and not parts:
                        n += 1
                        continue
                    parts.append(event.data)
                    if event.message_finished:
                        parts[0][:0].join(parts)
                        parts.clear()
                        n += 1
                elif isinstance(event, CloseConnection):
                    raise RuntimeError(f"wsproto failed: {event.code} {event.reason}")
        return n

    return setup, run


class _FakeTransport:
    """Just enough of an asyncio transport for picows; writes are dropped."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"socket": self._sock}.get(name, default)

    def get_write_buffer_size(self) -> int:
        # Non-zero: picows then hands the frame to write() as bytes instead of
        # calling send() on the socket itself (see its _fast_write).
        return 1

    def write(self, data: Any) -> None:
        pass

    def writelines(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


_UPGRADE_REQUEST = (
    b"GET / HTTP/1.1\r\n"
    b"Host: localhost\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)


def _picows_feed(proto: Any, data: bytes) -> None:
    """What asyncio does with a BufferedProtocol: recv_into get_buffer(), then buffer_updated."""
    view = memoryview(data)
    while view:
        buf = proto.get_buffer(-1)
        n = min(len(buf), len(view))
        buf[:n] = view[:n]
        proto.buffer_updated(n)
        view = view[n:]


def parse_picows(chunks: list[bytes], opcode: int) -> ParseAdapter:
    import logging
    import socket

    from picows import WSListener
    from picows.picows import WSAutoPingStrategy, WSProtocol

    logger = logging.getLogger("bench.picows")
    logger.setLevel(logging.WARNING)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # never connected

    class BinaryListener(WSListener):  # type: ignore[misc]
        def __init__(self) -> None:
            self.out: list[Any] = []

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            self.out.append(frame.get_payload_as_bytes())

    class TextListener(BinaryListener):
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            # picows never checks text itself; this decodes it (RFC 6455 8.1).
            self.out.append(frame.get_payload_as_utf8_text())

    listener_cls = TextListener if opcode == OP_TEXT else BinaryListener

    def setup() -> Any:
        listener = listener_cls()
        proto = WSProtocol(
            None,  # host_port
            None,  # ws_path
            False,  # is_client_side
            lambda request: listener,
            logger,
            True,  # disconnect_on_exception
            None,  # handshake timeout
            False,  # enable_auto_ping
            20,
            20,
            WSAutoPingStrategy.PING_WHEN_IDLE,
            True,  # enable_auto_pong
            64 * MiB,  # max_frame_size
            None,  # extra_headers
            16 * KiB,  # read_buffer_init_size (picows' default)
        )
        transport = _FakeTransport(sock)
        proto.connection_made(transport)
        _picows_feed(proto, _UPGRADE_REQUEST)
        if proto.transport.is_disconnected or transport.closed:
            raise RuntimeError("picows rejected the upgrade request")
        return proto, listener, transport

    def run(state: Any) -> int:
        proto, listener, transport = state
        out = listener.out
        get_buffer = proto.get_buffer
        buffer_updated = proto.buffer_updated
        n = 0
        for chunk in chunks:
            size = len(chunk)
            buf = get_buffer(-1)
            if len(buf) >= size:
                buf[:size] = chunk
                buffer_updated(size)
            else:
                _picows_feed(proto, chunk)
            n += len(out)
            out.clear()
        if transport.closed or proto.transport.is_close_frame_sent:
            raise RuntimeError("picows failed the connection")
        return n

    return setup, run


def load_candidate(path: str) -> Any:
    """The ``Stream`` class of a modified copy of src/ws4py/streaming.py (--candidate)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("ws4py_candidate_streaming", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Stream


def _with_loop(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` inside a running event loop (picows objects need one to exist)."""

    async def main() -> Any:
        return fn()

    return asyncio.run(main())


# ---------------------------------------------------------------------------
# 2. Building frames
# ---------------------------------------------------------------------------


def build_fns(payload: bytes, masked: bool) -> dict[str, Callable[[], Any] | str]:
    fns: dict[str, Callable[[], Any] | str] = {}
    try:
        from ws4py.framing import build_frame

        fns["ws4py"] = lambda: build_frame(OP_BINARY, payload, True, 0, masked)
    except ImportError as exc:
        fns["ws4py"] = f"unavailable: {exc}"
    try:
        from websockets.frames import Frame, Opcode

        binary = Opcode.BINARY
        fns["websockets"] = lambda: Frame(binary, payload).serialize(mask=masked)
    except ImportError as exc:
        fns["websockets"] = f"unavailable: {exc}"
    try:
        from wsproto.frame_protocol import FrameProtocol

        fp = FrameProtocol(client=masked, extensions=[])
        fns["wsproto"] = lambda: fp.send_data(payload, True)
    except ImportError as exc:
        fns["wsproto"] = f"unavailable: {exc}"
    return fns


def picows_build_fn(payload: bytes, masked: bool) -> Callable[[], Any]:
    """picows' WSTransport.send into a transport that drops what it is given."""
    import logging
    import socket

    from picows.picows import WSMsgType, WSTransport

    logger = logging.getLogger("bench.picows")
    logger.setLevel(logging.WARNING)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    loop = asyncio.new_event_loop()
    transport = WSTransport(masked, _FakeTransport(sock), logger, loop)
    send = transport.send
    binary = WSMsgType.BINARY
    return lambda: send(binary, payload)


# ---------------------------------------------------------------------------
# Output helpers
# ---------------------------------------------------------------------------


def fmt_rate(x: float | None, unit: str = "") -> str:
    if x is None:
        return "-"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= div:
            return f"{x / div:.3g}{suffix}{unit}"
    return f"{x:.3g}{unit}"


def fmt_time(t: float | None) -> str:
    if t is None:
        return "-"
    if t < 1e-6:
        return f"{t * 1e9:.0f} ns"
    if t < 1e-3:
        return f"{t * 1e6:.2f} us"
    if t < 1:
        return f"{t * 1e3:.2f} ms"
    return f"{t:.2f} s"


def fmt_ratio(ours: float | None, peer: float | None) -> str:
    if not ours or not peer:
        return "-"
    return f"{ours / peer:.2f}x"


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print()
    print(title)
    print(line)
    print(_row(header, widths))
    print(line)
    for r in rows:
        print(_row(r, widths))
    print(line)


def _row(cells: list[str], widths: list[int]) -> str:
    """First column left-aligned, the others right-aligned."""
    out = [cells[0].ljust(widths[0])]
    out += [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
    return "  ".join(out)


# ---------------------------------------------------------------------------
# Classic ws4py 0.6.0 (subprocess in its own venv)
# ---------------------------------------------------------------------------


def _venv_python(venv: Path) -> Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def _classic_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # never let our src/ shadow the classic package
    env.pop("PYTHONHOME", None)
    env.pop("VIRTUAL_ENV", None)
    return env


def ensure_classic_venv() -> Path | None:
    """Return the classic venv's Python, creating the venv if missing; None on failure."""
    py = _venv_python(CLASSIC_VENV)
    check = [str(py), "-c", "import ws4py; print(ws4py.__version__)"]
    if py.exists():
        res = subprocess.run(check, capture_output=True, text=True, env=_classic_env())
        if res.returncode == 0 and res.stdout.strip() == "0.6.0":
            return py
    print(f"[classic] creating {CLASSIC_VENV} with {CLASSIC_SPEC} ...", flush=True)
    try:
        if not py.exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(CLASSIC_VENV)],
                check=True,
                capture_output=True,
                env=_classic_env(),
                timeout=300,
            )
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", CLASSIC_SPEC],
            check=True,
            capture_output=True,
            env=_classic_env(),
            timeout=600,
        )
        res = subprocess.run(check, capture_output=True, text=True, env=_classic_env())
        if res.returncode != 0 or res.stdout.strip() != "0.6.0":
            raise RuntimeError(res.stderr.strip() or res.stdout.strip())
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        detail = getattr(exc, "stderr", None) or exc
        if isinstance(detail, bytes):
            detail = detail.decode(errors="replace")
        print(f"[classic] NOTE: could not set up classic ws4py, column skipped: {detail}")
        return None
    return py


def run_classic(spec: dict[str, Any]) -> dict[str, Any] | None:
    py = ensure_classic_venv()
    if py is None:
        return None
    print("[classic] running classic ws4py 0.6.0 in a subprocess ...", flush=True)
    try:
        res = subprocess.run(
            [str(py), str(Path(__file__).resolve()), "--classic-worker"],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            env=_classic_env(),
            cwd=str(HERE),
            timeout=900,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"[classic] NOTE: worker failed, column skipped: {exc}")
        return None
    if res.returncode != 0:
        print(f"[classic] NOTE: worker failed, column skipped:\n{res.stderr[-2000:]}")
        return None
    data: dict[str, Any] = json.loads(res.stdout)
    return data


def classic_worker() -> int:
    """Entry point inside the classic venv: read the spec on stdin, print JSON."""
    spec = json.load(sys.stdin)
    import ws4py
    from ws4py.framing import OPCODE_BINARY, Frame
    from ws4py.streaming import Stream
    from ws4py.utf8validator import Utf8Validator

    assert ws4py.__version__ == "0.6.0", ws4py.__file__
    budget = spec["budget"]
    out: dict[str, Any] = {
        "version": ws4py.__version__,
        "python": platform.python_version(),
        "parse": [],
        "build": [],
        "mask": [],
        "utf8": [],
    }

    for item in spec["parse"]:
        opcode = OP_TEXT if item["kind"] == "text" else OP_BINARY
        _, chunks = make_stream(item["size"], opcode, item["frames"])

        def setup() -> Any:
            return Stream(expect_masking=True)

        def run(stream: Any, chunks: list[bytes] = chunks) -> int:
            # What classic WebSocket.once()/process() do: hand the parser at
            # most the number of bytes it asked for, take completed messages.
            parser = stream.parser
            need = 2
            n = 0
            for chunk in chunks:
                pos = 0
                end = len(chunk)
                while pos < end:
                    piece = chunk[pos : pos + need]
                    pos += len(piece)
                    need = parser.send(piece) or 2
                    if stream.errors:
                        raise RuntimeError(f"classic failed: {stream.errors[0].reason}")
                    if stream.has_message:
                        n += 1
                        stream.message.data = None
                        stream.message = None
            return n

        best, rounds, n = time_rounds(run, setup, budget, min_rounds=2)
        if n != item["frames"]:
            raise RuntimeError(f"classic parsed {n} of {item['frames']} frames")
        out["parse"].append({**item, "seconds": best, "rounds": rounds})

    for item in spec["build"]:
        payload = make_payload(item["size"], OP_BINARY)
        masked = item["masked"]

        def build(payload: bytes = payload, masked: bool = masked) -> bytes:
            key = os.urandom(4) if masked else None
            return Frame(opcode=OPCODE_BINARY, body=payload, masking_key=key, fin=1).build()

        per_op, calls = time_op(build, budget)
        out["build"].append({**item, "seconds": per_op, "calls": calls})

    for item in spec["mask"]:
        data = make_payload(item["size"], OP_BINARY)
        frame = Frame(masking_key=b"\x01\x02\x03\x04")
        per_op, calls = time_op(lambda data=data, frame=frame: frame.mask(data), budget)
        out["mask"].append({**item, "seconds": per_op, "calls": calls})

    for item in spec["utf8"]:
        data = (
            make_payload(item["size"], OP_TEXT)
            if item["text"] == "ascii"
            else make_mixed_utf8(item["size"])
        )
        validator = Utf8Validator()

        def validate(data: bytes = data, v: Any = validator) -> Any:
            v.reset()
            ok = v.validate(data)
            assert ok[0] and ok[1], ok
            return ok

        per_op, calls = time_op(validate, budget)
        out["utf8"].append({**item, "seconds": per_op, "calls": calls})

    json.dump(out, sys.stdout)
    return 0


# ---------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # not available on this platform
        return "n/a"


def lib_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("ws4py", "websockets", "wsproto", "picows", "wsaccel"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


class Bench:
    def __init__(self, quick: bool, classic: bool, candidate: str | None = None) -> None:
        self.quick = quick
        self.candidate = load_candidate(candidate) if candidate else None
        #: Our rows: the installed ws4py, and a modified streaming.py if given.
        self.ours = ["ws4py", "candidate"] if candidate else ["ws4py"]
        self.libs = [*self.ours, *PEERS]
        self.use_classic = classic
        self.budget = 0.25 if quick else 1.0
        # Parse streams: ~32 MiB of payload (8 MiB quick), at least 2000 frames
        # and at most 50000 (small sizes stay a few seconds for slow peers).
        total = 8 * MiB if quick else 32 * MiB
        self.parse_plan = {
            s: parse_frame_count(s, total, 2000 if s < KiB * 64 else 4, 50_000) for s in SIZES
        }
        # Classic 0.6.0 is pure Python byte by byte: give it much less.
        ctotal = MiB if quick else 2 * MiB
        self.classic_plan = {
            s: parse_frame_count(s, ctotal, 2, 2000 if not quick else 500) for s in SIZES
        }
        self.classic_small = 64 * KiB  # mask / UTF-8 input for classic
        self.results: dict[str, Any] = {"parse": [], "build": [], "mask": [], "utf8": []}
        self.classic: dict[str, Any] | None = None
        self.notes: list[str] = []

    # -- classic ------------------------------------------------------------

    def run_classic(self) -> None:
        if not self.use_classic:
            print("[classic] skipped (--no-classic)")
            return
        spec = {
            "budget": self.budget,
            "parse": [
                {"kind": kind, "size": s, "frames": self.classic_plan[s]}
                for kind, _ in KINDS
                for s in SIZES
            ],
            "build": [{"size": s, "masked": m} for m in (True, False) for s in SIZES],
            "mask": [{"size": self.classic_small}],
            "utf8": [{"size": self.classic_small, "text": t} for t in ("ascii", "mixed")],
        }
        t0 = time.perf_counter()
        self.classic = run_classic(spec)
        if self.classic is not None:
            print(f"[classic] done in {time.perf_counter() - t0:.1f} s")

    def classic_lookup(self, section: str, **key: Any) -> dict[str, Any] | None:
        if self.classic is None:
            return None
        for item in self.classic[section]:
            if all(item.get(k) == v for k, v in key.items()):
                return item
        return None

    # -- 1. parse -----------------------------------------------------------

    def bench_parse(self) -> None:
        adapters: dict[str, Callable[..., ParseAdapter]] = {
            "ws4py": parse_ws4py,
            "websockets": parse_websockets,
            "wsproto": parse_wsproto,
            "picows": parse_picows,
        }
        if self.candidate is not None:
            cls = self.candidate
            adapters = {
                "ws4py": parse_ws4py,
                "candidate": lambda chunks, opcode: parse_ws4py(chunks, opcode, cls),
                **{k: v for k, v in adapters.items() if k != "ws4py"},
            }
        for kind, opcode in KINDS:
            for size in SIZES:
                n_frames = self.parse_plan[size]
                payload, chunks = make_stream(size, opcode, n_frames)
                wire = sum(len(c) for c in chunks)
                self.check_ours(chunks, payload, opcode)
                print(
                    f"  parse {kind:6} {size_label(size):>7}: {n_frames} frames, "
                    f"{wire / 1e6:.1f} MB on the wire, {len(chunks)} chunks",
                    flush=True,
                )
                base = {"kind": kind, "size": size, "frames": n_frames}
                base.update(payload_bytes=size * n_frames, wire_bytes=wire)

                def measure(chunks: Any = chunks, op: int = opcode) -> Any:
                    # Inside a running event loop: picows' objects need one.
                    items: dict[str, Item] = {}
                    errors: dict[str, str] = {}
                    for lib, make in adapters.items():
                        try:
                            items[lib] = make(chunks, op)
                        except Exception as exc:  # a peer missing: report, go on
                            errors[lib] = f"{type(exc).__name__}: {exc}"
                    timed = time_interleaved(items, self.budget)
                    timed.update({lib: {"error": e} for lib, e in errors.items()})
                    return timed

                timed = _with_loop(measure)
                for lib in adapters:
                    t = timed[lib]
                    rec: dict[str, Any] = {"lib": lib, **base}
                    if "error" not in t and t["result"] != n_frames:
                        t["error"] = f"got {t['result']} messages, expected {n_frames}"
                    if "error" in t:
                        rec["error"] = t["error"]
                        print(f"    {lib}: ERROR {rec['error']}")
                    else:
                        best = t["best"]
                        rec.update(
                            seconds=best,
                            rounds=t["rounds"],
                            frames_per_s=n_frames / best,
                            mb_per_s=size * n_frames / best / 1e6,
                        )
                    self.results["parse"].append(rec)
                c = self.classic_lookup("parse", kind=kind, size=size)
                if c is not None:
                    best = c["seconds"]
                    self.results["parse"].append(
                        {
                            "lib": "classic",
                            "kind": kind,
                            "size": size,
                            "frames": c["frames"],
                            "payload_bytes": size * c["frames"],
                            "seconds": best,
                            "rounds": c["rounds"],
                            "frames_per_s": c["frames"] / best,
                            "mb_per_s": size * c["frames"] / best / 1e6,
                        }
                    )

    def check_ours(self, chunks: list[bytes], payload: bytes, opcode: int) -> None:
        """Before timing: our parser(s) must give back the exact payloads."""
        from ws4py.streaming import Stream

        for cls in (Stream, self.candidate):
            if cls is None:
                continue
            stream = cls(expect_masking=True, max_message_size=None)
            msgs = [m for chunk in chunks[:40] for m in stream.feed(chunk)]
            if stream.errors or not msgs:
                raise RuntimeError(f"{cls.__module__}: no message or error {stream.errors}")
            for m in msgs:
                if m.opcode != opcode or bytes(m.data) != payload:
                    raise RuntimeError(f"{cls.__module__}: wrong message {m!r}")

    def parse_rec(self, lib: str, kind: str, size: int) -> dict[str, Any] | None:
        for r in self.results["parse"]:
            if r["lib"] == lib and r["kind"] == kind and r["size"] == size:
                return r
        return None

    def print_parse(self) -> None:
        libs = [lib for lib in self.libs if any(r["lib"] == lib for r in self.results["parse"])]
        peers = [p for p in libs if p != "ws4py"]
        rows_f, rows_m, rows_r = [], [], []
        for kind, _ in KINDS:
            for size in SIZES:
                label = f"{kind} {size_label(size)}"
                recs = {lib: self.parse_rec(lib, kind, size) for lib in libs}
                fps = {k: (r or {}).get("frames_per_s") for k, r in recs.items()}
                mbs = {k: (r or {}).get("mb_per_s") for k, r in recs.items()}
                rows_f.append([label] + [fmt_rate(fps[lib]) for lib in libs])
                rows_m.append(
                    [label] + ["-" if mbs[lib] is None else f"{mbs[lib]:.1f}" for lib in libs]
                )
                rows_r.append([label] + [fmt_ratio(fps["ws4py"], fps[p]) for p in peers])
        print_table(
            "1a. Parsing masked client frames, 64 KiB chunks: frames/s (higher is better)",
            ["payload", *libs],
            rows_f,
        )
        print_table("1b. Same runs: payload MB/s (MB = 10^6 bytes)", ["payload", *libs], rows_m)
        print_table(
            "1c. Parsing ratio ws4py / peer (throughput; > 1: ws4py faster)",
            ["payload", *[f"ws4py/{p}" for p in peers]],
            rows_r,
        )
        if self.candidate is not None:
            rows_c = []
            for kind, _ in KINDS:
                for size in SIZES:
                    fps = {
                        lib: (self.parse_rec(lib, kind, size) or {}).get("frames_per_s")
                        for lib in libs
                    }
                    rows_c.append(
                        [f"{kind} {size_label(size)}"]
                        + [fmt_ratio(fps["candidate"], fps[p]) for p in libs if p != "candidate"]
                    )
            print_table(
                "1d. Parsing ratio candidate / other (throughput)",
                ["payload", *[f"cand/{p}" for p in libs if p != "candidate"]],
                rows_c,
            )

    # -- 2. build -----------------------------------------------------------

    def bench_build(self) -> None:
        for masked in (True, False):
            for size in SIZES:
                payload = make_payload(size, OP_BINARY)
                fns = build_fns(payload, masked)
                try:
                    fns["picows"] = _with_loop(
                        lambda payload=payload, masked=masked: picows_build_fn(payload, masked)
                    )
                except Exception as exc:
                    fns["picows"] = f"unavailable: {exc}"
                timed = time_ops(
                    {lib: fn for lib, fn in fns.items() if not isinstance(fn, str)},
                    self.budget / 2,
                )
                for lib, fn in fns.items():
                    rec: dict[str, Any] = {"lib": lib, "size": size, "masked": masked}
                    t = {"error": fn} if isinstance(fn, str) else timed[lib]
                    if "error" in t:
                        rec["error"] = t["error"]
                    else:
                        per_op = t["seconds"]
                        rec.update(
                            seconds=per_op,
                            calls=t["calls"],
                            frames_per_s=1 / per_op,
                            mb_per_s=size / per_op / 1e6,
                        )
                    self.results["build"].append(rec)
                c = self.classic_lookup("build", size=size, masked=masked)
                if c is not None:
                    self.results["build"].append(
                        {
                            "lib": "classic",
                            "size": size,
                            "masked": masked,
                            "seconds": c["seconds"],
                            "calls": c["calls"],
                            "frames_per_s": 1 / c["seconds"],
                            "mb_per_s": size / c["seconds"] / 1e6,
                        }
                    )

    def print_build(self) -> None:
        libs = [
            lib for lib in ["ws4py", *PEERS] if any(r["lib"] == lib for r in self.results["build"])
        ]
        peers = [p for p in libs if p != "ws4py"]
        rows = []
        for masked in (True, False):
            for size in SIZES:
                recs = {
                    r["lib"]: r
                    for r in self.results["build"]
                    if r["size"] == size and r["masked"] == masked
                }
                t = {lib: recs.get(lib, {}).get("seconds") for lib in libs}
                label = f"{'masked' if masked else 'unmasked'} {size_label(size)}"
                rows.append(
                    [
                        label,
                        *[fmt_time(t[lib]) for lib in libs],
                        *[
                            fmt_ratio(
                                1 / t["ws4py"] if t["ws4py"] else None, 1 / t[p] if t[p] else None
                            )
                            for p in peers
                        ],
                    ]
                )
        print_table(
            "2. Building one binary frame: time per frame (lower is better) and ratio ws4py / peer",
            ["frame", *libs, *[f"ws4py/{p}" for p in peers]],
            rows,
        )

    # -- 3. mask ------------------------------------------------------------

    def bench_mask(self) -> None:
        from ws4py import masking

        size = MiB
        data = make_payload(size, OP_BINARY)
        key = b"\x01\x02\x03\x04"
        fns: dict[str, Callable[[], Any] | str] = {}
        if masking.HAS_SPEEDUPS:
            fns["ws4py C mask"] = lambda: masking.mask(data, key)
        else:
            fns["ws4py C mask"] = "unavailable: ws4py._speedups not built"
        fns["ws4py py_mask"] = lambda: masking.py_mask(data, key)
        try:
            from websockets.speedups import apply_mask

            fns["websockets.speedups.apply_mask"] = lambda: apply_mask(data, key)
        except ImportError as exc:
            fns["websockets.speedups.apply_mask"] = f"unavailable: {exc}"
        try:
            from wsaccel.xormask import XorMaskerSimple as WsaccelMasker

            fns["wsaccel XorMaskerSimple"] = lambda: WsaccelMasker(key).process(data)
        except ImportError as exc:
            fns["wsaccel XorMaskerSimple"] = f"unavailable: {exc}"
        try:
            from wsproto.frame_protocol import XorMaskerSimple as WsprotoMasker

            fns["wsproto XorMaskerSimple"] = lambda: WsprotoMasker(key).process(data)
        except ImportError as exc:
            fns["wsproto XorMaskerSimple"] = f"unavailable: {exc}"
        expected = masking.py_mask(data, key)
        checked = {
            name: fn if isinstance(fn, str) or bytes(fn()) == expected else "wrong result"
            for name, fn in fns.items()
        }
        timed = time_ops(
            {name: fn for name, fn in checked.items() if not isinstance(fn, str)}, self.budget
        )
        for name, fn in checked.items():
            rec: dict[str, Any] = {"impl": name, "size": size}
            t = {"error": fn} if isinstance(fn, str) else timed[name]
            if "error" in t:
                rec["error"] = t["error"]
            else:
                per_op = t["seconds"]
                rec.update(seconds=per_op, calls=t["calls"], mb_per_s=size / per_op / 1e6)
            self.results["mask"].append(rec)
        c = self.classic_lookup("mask", size=self.classic_small)
        if c is not None:
            self.results["mask"].append(
                {
                    "impl": "classic Frame.mask",
                    "size": c["size"],
                    "seconds": c["seconds"],
                    "calls": c["calls"],
                    "mb_per_s": c["size"] / c["seconds"] / 1e6,
                }
            )

    def print_mask(self) -> None:
        ours = next((r for r in self.results["mask"] if r["impl"] == "ws4py C mask"), {})
        rows = []
        for r in self.results["mask"]:
            if "error" in r:
                rows.append([r["impl"], size_label(r["size"]), "-", "-", r["error"]])
                continue
            rows.append(
                [
                    r["impl"],
                    size_label(r["size"]),
                    fmt_time(r["seconds"]),
                    f"{r['mb_per_s']:.0f}",
                    fmt_ratio(ours.get("mb_per_s"), r["mb_per_s"]),
                ]
            )
        print_table(
            "3. Masking (XOR with a 4-byte key): time per call, MB/s, ws4py C / impl",
            ["implementation", "input", "time", "MB/s", "ws4py C / impl"],
            rows,
        )

    # -- 4. UTF-8 -----------------------------------------------------------

    def bench_utf8(self) -> None:
        from ws4py.utf8validator import Utf8Validator

        inputs = {"ascii": make_payload(MiB, OP_TEXT), "mixed": make_mixed_utf8(MiB)}
        for text, data in inputs.items():
            fns: dict[str, Callable[[], Any] | str] = {}
            ours = Utf8Validator()

            def ours_fn(v: Any = ours, data: bytes = data) -> Any:
                v.reset()
                return v.validate(data)

            fns["ws4py Utf8Validator.validate"] = ours_fn
            fns["bytes.decode('utf-8')"] = lambda data=data: data.decode("utf-8")
            try:
                from wsaccel.utf8validator import Utf8Validator as WsaccelValidator

                wv = WsaccelValidator()

                def wsaccel_fn(v: Any = wv, data: bytes = data) -> Any:
                    v.reset()
                    return v.validate(data)

                fns["wsaccel Utf8Validator.validate"] = wsaccel_fn
            except ImportError as exc:
                fns["wsaccel Utf8Validator.validate"] = f"unavailable: {exc}"
            for name, fn in list(fns.items()):
                if not isinstance(fn, str):
                    res = fn()
                    if isinstance(res, tuple) and not (res[0] and res[1]):
                        fns[name] = f"wrong result {res}"
            timed = time_ops(
                {name: fn for name, fn in fns.items() if not isinstance(fn, str)}, self.budget
            )
            for name, fn in fns.items():
                rec: dict[str, Any] = {"impl": name, "text": text, "size": len(data)}
                t = {"error": fn} if isinstance(fn, str) else timed[name]
                if "error" in t:
                    rec["error"] = t["error"]
                else:
                    per_op = t["seconds"]
                    rec.update(seconds=per_op, calls=t["calls"], mb_per_s=len(data) / per_op / 1e6)
                self.results["utf8"].append(rec)
            c = self.classic_lookup("utf8", text=text)
            if c is not None:
                self.results["utf8"].append(
                    {
                        "impl": "classic Utf8Validator.validate",
                        "text": text,
                        "size": c["size"],
                        "seconds": c["seconds"],
                        "calls": c["calls"],
                        "mb_per_s": c["size"] / c["seconds"] / 1e6,
                    }
                )

    def print_utf8(self) -> None:
        rows = []
        for text in ("ascii", "mixed"):
            recs = [r for r in self.results["utf8"] if r["text"] == text]
            ours = next((r for r in recs if r["impl"].startswith("ws4py")), {})
            for r in recs:
                if "error" in r:
                    rows.append([text, r["impl"], size_label(r["size"]), "-", "-", r["error"]])
                    continue
                rows.append(
                    [
                        text,
                        r["impl"],
                        f"{r['size'] / MiB:.2f} MiB" if r["size"] >= MiB else size_label(r["size"]),
                        fmt_time(r["seconds"]),
                        f"{r['mb_per_s']:.0f}",
                        fmt_ratio(ours.get("mb_per_s"), r["mb_per_s"]),
                    ]
                )
        print_table(
            "4. UTF-8 validation: time per call, MB/s, ws4py / impl",
            ["text", "implementation", "input", "time", "MB/s", "ws4py / impl"],
            rows,
        )

    # -- targets ------------------------------------------------------------

    def targets(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []

        def add(name: str, ok: bool | None, detail: str) -> None:
            out.append({"target": name, "ok": ok, "detail": detail})

        for who in self.ours:
            tag = "" if who == "ws4py" else f"[{who}] "
            for kind, _ in KINDS:
                for size in SIZES:
                    ours = self.parse_rec(who, kind, size) or {}
                    ws = self.parse_rec("websockets", kind, size) or {}
                    a, b = ours.get("frames_per_s"), ws.get("frames_per_s")
                    add(
                        f"{tag}parse frames/s >= websockets ({kind} {size_label(size)})",
                        None if not (a and b) else a >= b,
                        "-" if not (a and b) else f"{fmt_rate(a)} vs {fmt_rate(b)} ({a / b:.2f}x)",
                    )
                    if size >= 64 * KiB:
                        pc = self.parse_rec("picows", kind, size) or {}
                        a, b = ours.get("mb_per_s"), pc.get("mb_per_s")
                        add(
                            f"{tag}parse MB/s >= picows ({kind} {size_label(size)})",
                            None if not (a and b) else a >= b,
                            "-" if not (a and b) else f"{a:.0f} vs {b:.0f} MB/s ({a / b:.2f}x)",
                        )
        m = {r["impl"]: r.get("seconds") for r in self.results["mask"]}
        a, b = m.get("ws4py C mask"), m.get("websockets.speedups.apply_mask")
        add(
            "mask 1 MiB within 2x of websockets C",
            None if not (a and b) else a <= 2 * b,
            "-" if not (a and b) else f"{fmt_time(a)} vs {fmt_time(b)} ({a / b:.2f}x the time)",
        )
        for text in ("ascii", "mixed"):
            u = {r["impl"]: r.get("seconds") for r in self.results["utf8"] if r["text"] == text}
            a, b = u.get("ws4py Utf8Validator.validate"), u.get("bytes.decode('utf-8')")
            add(
                f"UTF-8 {text} within 1.5x of bytes.decode",
                None if not (a and b) else a <= 1.5 * b,
                "-" if not (a and b) else f"{fmt_time(a)} vs {fmt_time(b)} ({a / b:.2f}x the time)",
            )
        return out

    def print_targets(self, targets: list[dict[str, Any]]) -> None:
        rows = [
            [t["target"], {True: "PASS", False: "MISS", None: "n/a"}[t["ok"]], t["detail"]]
            for t in targets
        ]
        print_table("Targets (same run)", ["target", "result", "detail"], rows)


METHODOLOGY = """\
What is measured (per library):
  ws4py      Stream(expect_masking=True, max_message_size=None).feed(chunk) -> list of
             messages; text checked as UTF-8 (RFC 6455 8.1). build: framing.build_frame.
  websockets websockets.protocol.Protocol(Side.SERVER, state=OPEN, max_size=None):
             receive_data(chunk) then events_received(); text frames .decode()d by the
             bench (websockets' sans-I/O layer leaves that to its connection layer).
             build: websockets.frames.Frame(BINARY, payload).serialize(mask=...).
  wsproto    WSConnection(SERVER) after a real handshake: receive_data(chunk), events();
             wsproto streams frames in pieces, the bench joins them per message; text
             arrives already decoded. build: FrameProtocol(client=masked).send_data().
  picows     its Cython WSProtocol (server side, after a real upgrade request) driven as
             asyncio drives a BufferedProtocol: copy the chunk into get_buffer(), call
             buffer_updated(); a Python WSListener.on_ws_frame takes each payload out
             (get_payload_as_bytes, or get_payload_as_utf8_text for text: picows never
             checks UTF-8 itself). Fake transport, no socket I/O.
             build: WSTransport.send() into a fake transport; the frame ends up as a
             bytes object passed to write(), except unmasked frames > 8 KiB, which
             picows hands over zero-copy as writelines([header, payload]).
  classic    ws4py 0.6.0 in its own venv/subprocess, fed as its WebSocket.once() does
             (at most the bytes its parser asks for); fewer frames (it is pure Python).
             build: Frame(...).build(); mask/UTF-8 on 64 KiB only.
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short budgets, smaller streams")
    ap.add_argument("--json", metavar="PATH", help="write all results to this JSON file")
    ap.add_argument("--no-classic", action="store_true", help="skip classic ws4py 0.6.0")
    ap.add_argument(
        "--candidate",
        metavar="FILE",
        help="also parse with the Stream of a modified copy of src/ws4py/streaming.py",
    )
    ap.add_argument("--classic-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.classic_worker:
        return classic_worker()

    import ws4py
    from ws4py import masking

    t_start = time.perf_counter()
    load_start = loadavg()
    versions = lib_versions()
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}) "
        f"on {platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, "
        f"load average {load_start}"
    )
    print(f"ws4py from {Path(ws4py.__file__).parent}, C speedups: {masking.HAS_SPEEDUPS}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(METHODOLOGY)

    bench = Bench(args.quick, classic=not args.no_classic, candidate=args.candidate)
    bench.run_classic()
    print("[1/4] parsing ...", flush=True)
    bench.bench_parse()
    print("[2/4] building ...", flush=True)
    bench.bench_build()
    print("[3/4] masking ...", flush=True)
    bench.bench_mask()
    print("[4/4] UTF-8 ...", flush=True)
    bench.bench_utf8()

    bench.print_parse()
    bench.print_build()
    bench.print_mask()
    bench.print_utf8()
    targets = bench.targets()
    bench.print_targets(targets)
    elapsed = time.perf_counter() - t_start
    load_end = loadavg()
    print(f"\nTotal time: {elapsed:.0f} s (load average at start {load_start}, at end {load_end})")

    if args.json:
        doc = {
            "meta": {
                "python": platform.python_version(),
                "implementation": platform.python_implementation(),
                "machine": platform.machine(),
                "system": platform.system(),
                "cpus": os.cpu_count(),
                "loadavg_start": load_start,
                "loadavg_end": load_end,
                "versions": versions,
                "ws4py_speedups": masking.HAS_SPEEDUPS,
                "classic": None
                if bench.classic is None
                else {
                    "version": bench.classic["version"],
                    "python": bench.classic["python"],
                },
                "quick": args.quick,
                "candidate": args.candidate,
                "chunk": CHUNK,
                "budget_s": bench.budget,
                "mb": 1_000_000,
                "elapsed_s": elapsed,
                "methodology": METHODOLOGY,
            },
            **bench.results,
            "targets": targets,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"Results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
