"""Soak test: many connections on ONE manager, random traffic, nothing lost, nothing leaked.

    python bench/soak.py                                   # the full run: 10,000 x 10 min
    python bench/soak.py --connections 10000 --duration 120
    python bench/soak.py --connections 300 --duration 15 --rate 2 --session 8   # CI size
    python bench/soak.py --churn                           # churn: 10,000 x 10 min (issue #20)

The server is ws4py's wsgiref server in manager mode (one manager thread polls every
websocket), in a subprocess of its own.  Client processes (asyncio, the ``websockets``
library: an independent implementation checks our server) keep ``--connections``
connections open for ``--duration`` seconds, each one a loop of sessions:

* connect (a quarter of the connections negotiate permessage-deflate), then send
  random messages: text (with non-ASCII characters), binary, fragmented (a generator
  send on the server's side too: it echoes those in fragments), pings;
* every message carries a sequence number and the blake2b digest of its payload;
  the server checks both (in order, exactly once, intact) and echoes; the client
  checks the echo against the message it expects next: exactly once, in order,
  intact, same type;
* end the session: close from the client (random code), ask the server to close
  (random code; every echo must come before its close), or vanish (abort, no close
  at all); then reconnect.

The parent samples the server's RSS, open fds (/proc/PID/fd) and threads
(/proc/PID/status) before the clients start, during the run, right before the end
and after every connection closed; and compares both sides' counts: messages, and
close codes (each end must agree on every one).  It fails (exit status 1) when a
message is lost, duplicated, reordered or corrupted, a connect fails, close codes
disagree, an fd or thread is left behind, or RSS grows after warm-up by more than
``--max-rss-growth-mb``.  ``--json PATH`` writes every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import hashlib
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import weakref
from collections import Counter, deque
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
HEADER = 50  # f"{seq:016x}{flag}{digest:32}|"
CLIENT_CLOSE_CODES = [1000, 1001, 3000, 3999, 4000, 4321, 4999]
SERVER_CLOSE_CODES = [1000, 1001, 1011, 3001, 4001, 4444]
TEXT_ALPHABET = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ0123456789 éüñ✓€𝄞"


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def raise_fd_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---------------------------------------------------------------------------
# The server (a subprocess): wsgiref server, manager mode, checking echo handler
# ---------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(HERE.parent.parent / "src"))
    from ws4py.messaging import Message
    from ws4py.server.wsgirefserver import make_server
    from ws4py.websocket import WebSocket

    raise_fd_limit(args.fds)
    if args.trace:
        tracemalloc.start(10)
    live: weakref.WeakSet[WebSocket] = weakref.WeakSet()  # handlers not freed yet
    lock = threading.Lock()
    stats: dict[str, Any] = {
        "opened": 0, "closed": Counter(), "messages": 0, "bytes": 0, "fragmented_echoes": 0,
        "close_requests": 0, "bad_digest": 0, "bad_order": 0, "bad_header": 0, "errors": [],
    }  # fmt: skip

    def problem(kind: str, text: str) -> None:
        with lock:
            stats[kind] += 1
            if len(stats["errors"]) < 20:
                stats["errors"].append(text)

    class SoakEcho(WebSocket):
        keepalive_interval = args.keepalive
        keepalive_timeout = args.keepalive

        def opened(self) -> None:
            self.next_seq = 0
            with lock:
                stats["opened"] += 1
                live.add(self)

        def received_message(self, message: Message) -> None:
            data = bytes(message.data)
            try:
                seq = int(data[:16], 16)
                flag = chr(data[16])
                expected = data[17:49].decode("ascii")
            except (ValueError, IndexError, UnicodeDecodeError):
                problem("bad_header", f"header {data[:HEADER]!r}")
                self.close(1008, "bad header")
                return
            body = data[HEADER:]
            if digest(body) != expected:
                problem("bad_digest", f"seq {seq}: digest mismatch ({len(body)} bytes)")
            if seq != self.next_seq:
                problem("bad_order", f"seq {seq}, expected {self.next_seq}")
            self.next_seq = seq + 1
            with lock:
                stats["messages"] += 1
                stats["bytes"] += len(data)
            if flag == "C":  # the client asks us to close, with this code
                with lock:
                    stats["close_requests"] += 1
                self.close(int(body), "soak")
            elif flag == "F":  # echo in fragments: a generator send
                with lock:
                    stats["fragmented_echoes"] += 1
                size = max(1, len(data) // 4)
                pieces = (data[i : i + size] for i in range(0, len(data), size))
                self.send(pieces, message.is_binary)
            else:
                self.send(data, message.is_binary)

        def closed(self, code: int, reason: str | None = None) -> None:
            with lock:
                stats["closed"][code] += 1

    server = make_server("127.0.0.1", 0, SoakEcho, websocket_mode="manager")
    manager = server.manager
    assert manager is not None

    def write_stats(final: bool = False) -> None:
        with lock:
            snapshot = dict(stats, closed=dict(stats["closed"]), live_websockets=len(live))
        snapshot.update(
            port=server.server_address[1],
            managed=len(manager),
            open_connections=server.connection_count,
            final=final,
        )
        if final:  # what is left once every connection is gone and garbage collected
            gc.collect()
            snapshot["live_websockets"] = len(live)
            snapshot["live_ws4py_objects"] = sum(
                1 for obj in gc.get_objects()
                if type(obj).__module__.startswith("ws4py.")
                and type(obj).__name__ in ("Connection", "Stream", "PerMessageDeflate")
            )  # fmt: skip
        tmp = args.stats + ".tmp"
        Path(tmp).write_text(json.dumps(snapshot))
        os.replace(tmp, args.stats)

    stop = threading.Event()

    def stats_loop() -> None:
        while not stop.wait(0.5):
            write_stats()

    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    traces: list[tracemalloc.Snapshot] = []

    def trace(*_: Any) -> None:
        """SIGUSR1 (with --trace): where memory grew since the first snapshot."""
        gc.collect()
        traces.append(tracemalloc.take_snapshot())
        if len(traces) > 1:
            top = traces[-1].compare_to(traces[0], "lineno")[:15]
            total = [sum(stat.size for stat in snap.statistics("filename")) for snap in traces]
            lines = [f"traced Python memory: {total[0] // 1024} KiB at warm-up, "
                     f"{total[-1] // 1024} KiB at the end", *(str(line) for line in top)]
            Path(args.stats + ".trace").write_text("\n".join(lines))

    if args.trace:
        signal.signal(signal.SIGUSR1, lambda *_: threading.Thread(target=trace).start())
    write_stats()
    threading.Thread(target=stats_loop, name="soak-stats", daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
        stop.set()
        write_stats(final=True)


# ---------------------------------------------------------------------------
# A client process: asyncio, the websockets library
# ---------------------------------------------------------------------------


class Slot:
    """One connection slot: sessions one after the other until the deadline."""

    def __init__(self, worker: Worker, index: int) -> None:
        self.worker = worker
        self.rng = random.Random(f"{worker.seed}-{worker.index}-{index}")
        self.compression = "deflate" if index % 4 == 0 else None

    def make_payload(self, text: bool) -> str | bytes:
        rng = self.rng
        roll = rng.random()
        size = rng.randint(0, 64) if roll < 0.3 else rng.randint(64, 2048)
        if roll > 0.99:
            size = rng.randint(64 * 1024, 256 * 1024)
        elif roll > 0.95:
            size = rng.randint(2048, 64 * 1024)
        if text:
            if size > 4096:  # cheap to build, compressible
                return ("".join(rng.choices(TEXT_ALPHABET, k=256)) * (size // 256 + 1))[:size]
            return "".join(rng.choices(TEXT_ALPHABET, k=size))
        if size > 4096:
            return os.urandom(size)
        return rng.randbytes(size)

    async def session(self, url: str, deadline: float) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        w = self.worker
        rng = self.rng
        try:
            ws = await connect(url, compression=self.compression, open_timeout=60,
                               ping_interval=None, close_timeout=30, max_size=1 << 24,
                               max_queue=64)  # fmt: skip
        except Exception as exc:
            w.error("connect_failures", f"connect: {exc!r}")
            await asyncio.sleep(1)
            return
        w.count["sessions"] += 1
        pending: deque[tuple[int, bool, str]] = deque()
        broken = asyncio.Event()

        async def reader() -> None:
            try:
                async for message in ws:
                    data = message.encode() if isinstance(message, str) else message
                    if not pending:
                        w.error("unexpected", f"an echo nobody sent: {data[:HEADER]!r}")
                        broken.set()
                        return
                    seq, text, expected = pending[0]
                    if (int(data[:16], 16), isinstance(message, str)) != (seq, text) or digest(
                        data[HEADER:]
                    ) != expected:
                        w.error("mismatch", f"expected seq {seq} ({'text' if text else 'bin'}), "
                                            f"got {data[:17]!r} ({type(message).__name__})")
                        broken.set()
                        return
                    pending.popleft()
                    w.count["verified"] += 1
            except ConnectionClosed:
                pass

        reading = asyncio.ensure_future(reader())
        seq = 0
        ending = "client-close"
        try:
            messages = max(1, int(rng.expovariate(1 / w.session)))
            for _ in range(messages):
                await asyncio.sleep(rng.expovariate(w.rate))
                if time.time() >= deadline or broken.is_set():
                    break
                roll = rng.random()
                if roll < 0.05:
                    pong = await ws.ping()
                    await asyncio.wait_for(pong, 30)
                    w.count["pings"] += 1
                    continue
                text = roll < 0.5
                fragmented = roll > 0.85
                payload = self.make_payload(text)
                body = payload.encode() if isinstance(payload, str) else payload
                head = f"{seq:016x}{'F' if fragmented else 'E'}{digest(body)}|"
                pending.append((seq, text, digest(body)))
                seq += 1
                w.count["sent"] += 1
                message: str | bytes = head + payload if isinstance(payload, str) else (
                    head.encode() + payload
                )  # fmt: skip
                if fragmented:
                    size = max(1, len(message) // 3)
                    await ws.send([message[i : i + size] for i in range(0, len(message), size)])
                else:
                    await ws.send(message)
            roll = rng.random()
            if time.time() >= deadline:
                ending = "client-close"
                code = 1000
            elif roll < 0.45:
                ending, code = "client-close", rng.choice(CLIENT_CLOSE_CODES)
            elif roll < 0.9:
                ending, code = "server-close", rng.choice(SERVER_CLOSE_CODES)
            else:
                ending, code = "abort", 1006
            if ending == "client-close":
                await ws.close(code, "soak")
            elif ending == "server-close":
                body = str(code).encode()
                await ws.send(f"{seq:016x}C{digest(body)}|{code}")
            else:
                ws.transport.abort()
            await asyncio.wait_for(reading, 60)
            await asyncio.wait_for(ws.wait_closed(), 60)
        except Exception as exc:  # a failure of the session itself
            close = getattr(exc, "rcvd", None)
            if close is not None and close.reason == "keepalive ping timeout":
                # The server found us unresponsive: the machine is overloaded.
                w.error("keepalive_timeouts", f"{ending}: server keepalive closed the session")
            else:
                w.error("session_errors", f"{ending}: {exc!r}")
            w.count["unverified_in_failed_sessions"] += len(pending)
            reading.cancel()
            ws.transport.abort()
            return
        if ws.close_reason == "keepalive ping timeout":
            # The server's keepalive closed while we closed: the machine is overloaded.
            w.error("keepalive_timeouts", f"{ending}: crossed a keepalive close")
            w.closes[str(ws.close_code)] += 1
            w.count["unverified_in_failed_sessions"] += len(pending)
            return
        w.closes[str(code)] += 1
        w.count[ending] += 1
        if ending == "abort":
            w.count["abandoned"] += len(pending)  # in flight when the peer vanished
            return
        if pending:
            w.error("lost", f"{len(pending)} echo(es) missing at {ending} (first seq "
                            f"{pending[0][0]})")  # fmt: skip
        if ws.close_code != code:
            w.error("close_code", f"{ending} with {code}, the peer said {ws.close_code}")

    async def run(self, url: str, start: float, deadline: float) -> None:
        await asyncio.sleep(max(0.0, start - time.time()))
        while time.time() < deadline:
            await self.session(url, deadline)


class Worker:
    def __init__(self, args: argparse.Namespace) -> None:
        self.index = args.index
        self.seed = args.seed
        self.rate = args.rate
        self.session = args.session
        self.count: Counter[str] = Counter()
        self.closes: Counter[str] = Counter()
        self.errors: dict[str, list[str]] = {}

    def error(self, kind: str, text: str) -> None:
        self.count[kind] += 1
        examples = self.errors.setdefault(kind, [])
        if len(examples) < 5:
            examples.append(text)


def client(args: argparse.Namespace) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    raise_fd_limit(args.connections + 256)
    worker = Worker(args)
    url = f"ws://127.0.0.1:{args.port}/"

    async def main() -> None:
        slots = [Slot(worker, i) for i in range(args.connections)]
        ramp = args.ramp
        await asyncio.gather(*(
            slot.run(url, args.start + ramp * i / max(1, len(slots)), args.deadline)
            for i, slot in enumerate(slots)
        ))  # fmt: skip

    asyncio.run(main())
    print(json.dumps({"count": dict(worker.count), "closes": dict(worker.closes),
                      "errors": worker.errors}))  # fmt: skip


# ---------------------------------------------------------------------------
# The parent: orchestration, measurements, verdict
# ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status(pid: int) -> dict[str, int]:
    out = {"fds": len(os.listdir(f"/proc/{pid}/fd"))}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "VmRSS":
            out["rss_kib"] = int(value.split()[0])
        elif key == "Threads":
            out["threads"] = int(value)
    return out


def read_stats(path: str) -> dict[str, Any]:
    for _ in range(50):
        try:
            return dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError):
            time.sleep(0.05)
    raise RuntimeError("the server wrote no stats")


def run(args: argparse.Namespace) -> int:
    raise_fd_limit(args.connections + 1024)
    workdir = Path(tempfile.mkdtemp(prefix="ws4py-soak-"))
    stats_path = str(workdir / "stats.json")
    log = print if not args.quiet else (lambda *a, **k: None)
    py = sys.executable
    server = subprocess.Popen(
        [py, str(HERE), "_serve", "--stats", stats_path, "--fds", str(args.connections + 1024),
         "--keepalive", str(args.keepalive), *(["--trace"] if args.trace else [])],
        stderr=subprocess.DEVNULL if args.quiet else None,
    )  # fmt: skip
    report: dict[str, Any] = {"connections": args.connections, "duration_s": args.duration,
                              "clients": args.clients, "rate": args.rate,
                              "session": args.session}  # fmt: skip
    failures: list[str] = []
    workers: list[subprocess.Popen[str]] = []
    try:
        deadline = time.monotonic() + 30
        while not Path(stats_path).exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        port = read_stats(stats_path)["port"]
        time.sleep(0.5)
        before = proc_status(server.pid)
        report["server_before"] = before
        log(f"server pid {server.pid} on port {port}: {before}")

        ramp = args.ramp if args.ramp is not None else min(60.0, max(1.0, args.connections / 200))
        start = time.time() + 1.0
        end = start + args.duration
        # Warm-up: every connection opened (95 %: sessions end and reconnect all the
        # time) and the ramp over, then 10 % of the duration (5 s at least) more.
        settle_for = max(5.0, 0.1 * args.duration)
        warm_at: float | None = None
        per = [args.connections // args.clients + (i < args.connections % args.clients)
               for i in range(args.clients)]  # fmt: skip
        for i, n in enumerate(per):
            workers.append(subprocess.Popen(
                [py, str(HERE), "_client", "--port", str(port), "--connections", str(n),
                 "--index", str(i), "--seed", str(args.seed), "--rate", str(args.rate),
                 "--session", str(args.session), "--start", str(start), "--deadline", str(end),
                 "--ramp", str(ramp)],
                stdout=subprocess.PIPE, text=True,
            ))  # fmt: skip
        samples: list[dict[str, Any]] = []
        cpu_start, cpu_at = cpu_seconds(server.pid), time.monotonic()
        clients_cpu_start = sum(cpu_seconds(proc.pid) for proc in workers)
        warm: dict[str, int] | None = None
        last: dict[str, int] | None = None
        peak = {"fds": 0, "threads": 0, "managed": 0, "rss_kib": 0}
        while time.time() < end - 1.0:
            time.sleep(min(args.sample, max(0.0, end - 1.0 - time.time())))
            status = proc_status(server.pid)
            stats = read_stats(stats_path)
            cpu, now = cpu_seconds(server.pid), time.monotonic()
            clients_cpu = sum(cpu_seconds(proc.pid) for proc in workers if proc.poll() is None)
            elapsed = max(now - cpu_at, 1e-3)
            # CPU: the server's and the client processes' (% of one core), and the
            # machine's load average: a stall of everything is the machine, not ws4py.
            sample = {"t": round(time.time() - start, 1), **status, "managed": stats["managed"],
                      "messages": stats["messages"],
                      "cpu_pct": round(100 * (cpu - cpu_start) / elapsed),
                      "clients_cpu_pct": round(100 * (clients_cpu - clients_cpu_start) / elapsed),
                      "load": os.getloadavg()[0]}  # fmt: skip
            cpu_start, cpu_at, clients_cpu_start = cpu, now, clients_cpu
            samples.append(sample)
            for key in peak:
                peak[key] = max(peak[key], sample[key])
            if warm_at is None and time.time() >= start + ramp and (
                stats["managed"] >= 0.95 * args.connections
            ):
                warm_at = time.time() + settle_for
                report["all_open_at_s"] = sample["t"]
                log(f"all connections open at {sample['t']}s: {sample}")
            if warm is None and warm_at is not None and time.time() >= warm_at:
                warm = status
                report["warm_at_s"] = sample["t"]
                if args.trace:
                    server.send_signal(signal.SIGUSR1)
                log(f"warm-up done at {sample['t']}s: {sample}")
            elif not args.quiet and len(samples) % max(1, int(30 / args.sample)) == 0:
                log(f"{sample}")
            last = status
        report["server_warm"], report["server_end"], report["server_peak"] = warm, last, peak
        if args.trace:
            server.send_signal(signal.SIGUSR1)
        cpus = [s["cpu_pct"] for s in samples]
        report["server_cpu_pct_mean"] = round(sum(cpus) / len(cpus)) if cpus else None
        report["samples"] = samples
        results = []
        for proc in workers:
            out, _ = proc.communicate(timeout=args.duration + 300)
            if proc.returncode != 0:
                failures.append(f"client worker exited with {proc.returncode}")
                continue
            results.append(json.loads(out.strip().splitlines()[-1]))
        count: Counter[str] = Counter()
        closes: Counter[str] = Counter()
        errors: dict[str, list[str]] = {}
        for result in results:
            count.update(result["count"])
            closes.update(result["closes"])
            for kind, examples in result["errors"].items():
                errors.setdefault(kind, []).extend(examples[: 5 - len(errors.get(kind, []))])
        report["clients_total"] = dict(count)
        report["client_closes"] = dict(closes)
        # Every connection is closed now: the server must let go of everything.
        settle = time.monotonic() + 60
        while True:
            stats = read_stats(stats_path)
            after = proc_status(server.pid)
            settled = (stats["managed"] == 0 and stats["open_connections"] == 0
                       and after["fds"] <= before["fds"] and after["threads"] <= before["threads"])
            if settled or time.monotonic() > settle:
                break
            time.sleep(0.25)
        report["server_after"] = after
        report["server_stats"] = stats
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            failures.append("the server did not stop on SIGTERM")
    final = read_stats(stats_path)
    report["server_exit"] = server.returncode
    report["server_final"] = final

    # -- the verdict ------------------------------------------------------------------
    c = count
    if c["verified"] + c["abandoned"] + c["unverified_in_failed_sessions"] != c["sent"]:
        missing = c["sent"] - c["verified"] - c["abandoned"] - c["unverified_in_failed_sessions"]
        failures.append(f"sent {c['sent']}, verified {c['verified']}, abandoned "
                        f"{c['abandoned']}: {missing} unaccounted")
    for kind in ("connect_failures", "session_errors", "keepalive_timeouts", "mismatch",
                 "unexpected", "lost", "close_code"):  # fmt: skip
        if c[kind]:
            failures.append(f"{c[kind]} {kind}")
    for kind in ("bad_digest", "bad_order", "bad_header"):
        if final[kind]:
            failures.append(f"server: {final[kind]} {kind}")
    server_closes = {str(k): v for k, v in final["closed"].items()}
    if server_closes != dict(closes):
        failures.append(f"close codes disagree: server {server_closes}, clients {dict(closes)}")
    if final["opened"] != c["sessions"]:
        failures.append(f"server opened {final['opened']}, clients had {c['sessions']} sessions")
    # Every message sent reached the server (close requests are messages too), except
    # some of those in flight when a client vanished: at most the ones it abandoned.
    delta = final["messages"] - (c["sent"] + c["server-close"])
    if not -c["abandoned"] <= delta <= 0:
        failures.append(f"server got {final['messages']} messages, clients sent {c['sent']} "
                        f"(+{c['server-close']} close requests, {c['abandoned']} abandoned)")
    if final["close_requests"] != c["server-close"]:
        failures.append(f"server saw {final['close_requests']} close requests, clients sent "
                        f"{c['server-close']}")
    if after["fds"] != before["fds"]:
        failures.append(f"server fds: {before['fds']} before, {after['fds']} after")
    if after["threads"] != before["threads"]:
        failures.append(f"server threads: {before['threads']} before, {after['threads']} after")
    if stats["managed"] or stats["open_connections"]:
        failures.append(f"still managed: {stats['managed']}, open: {stats['open_connections']}")
    if warm and last:
        growth = (last["rss_kib"] - warm["rss_kib"]) / 1024
        report["rss_growth_mib"] = round(growth, 1)
        if growth > args.max_rss_growth_mb:
            failures.append(f"RSS grew {growth:.1f} MiB after warm-up (> {args.max_rss_growth_mb})")
    else:
        failures.append("the run was too short to measure RSS after warm-up")
    if server.returncode != 0:
        failures.append(f"server exit status {server.returncode}")
    if final.get("live_websockets") or final.get("live_ws4py_objects"):
        failures.append(f"left alive after the end: {final.get('live_websockets')} websockets, "
                        f"{final.get('live_ws4py_objects')} Connection/Stream/extension objects")
    with contextlib.suppress(OSError):
        report["trace_top_growth"] = Path(stats_path + ".trace").read_text().splitlines()
    report["failures"] = failures
    report["errors_sample"] = {**errors, "server": final["errors"][:20]}
    summary = (
        f"{args.connections} connections x {args.duration:.0f}s (server CPU "
        f"{report.get('server_cpu_pct_mean')}% of a core): {c['sent']} messages sent, "
        f"{c['verified']} verified (exactly once, in order, intact), {c['abandoned']} abandoned "
        f"in aborts; {c['sessions']} sessions ({c['client-close']} client closes, "
        f"{c['server-close']} server closes, {c['abort']} aborts), {c['pings']} pings; "
        f"server RSS warm {warm and warm['rss_kib'] // 1024} MiB -> end "
        f"{last and last['rss_kib'] // 1024} MiB (growth {report.get('rss_growth_mib')} MiB); "
        f"fds {before['fds']} -> peak {peak['fds']} -> {after['fds']}; threads "
        f"{before['threads']} -> peak {peak['threads']} -> {after['threads']}"
    )
    report["summary"] = summary
    print(summary)
    for failure in failures:
        print("FAILED:", failure)
    for kind, examples in report["errors_sample"].items():
        for example in examples[:2]:
            print(f"  e.g. {kind}: {example}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    return 1 if failures else 0


# ---------------------------------------------------------------------------
# --churn: connection churn (issue #20), the long form of tests/test_churn.py
# ---------------------------------------------------------------------------
#
# The classic setup (make_server(..., server_class=WSGIServer, handler_class=
# WebSocketWSGIRequestHandler, app=WebSocketWSGIApplication(handler_cls=...)) and
# initialize_websockets_manager()) in a subprocess.  Client processes open their
# share of --connections at once, each connection echoing one unique message, then
# close them all at once (a close frame, a TCP close, a reset, a reset with output
# left unread on the server), again and again until the end.  A witness connects a
# fresh client every --witness-interval seconds (100 ms): a unique message must
# come back to it alone, intact, then its close (1000) must be answered 1000.
# Counted on every client: refused (a connect, handshake or echo answered by
# anything but the echo: a close, an error), misrouted (an echo that is not this
# client's message) and lost (no answer in time): all must be 0.  The parent
# samples the server's RSS, fds, threads and managed websockets over time.


def _ws_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame."""
    key = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 0x10000:
        head = bytes([0x80 | opcode, 0xFE]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0xFF]) + n.to_bytes(8, "big")
    stream = (key * (n // 4 + 1))[:n]
    body = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
    return head + key + body


async def _ws_connect(
    port: int, rcvbuf: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:  # a small window: what the server sends back piles up on its side
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    reader, writer = await asyncio.open_connection(sock=sock)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())  # fmt: skip
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        writer.transport.abort()
        raise ConnectionError(f"handshake answered {head[:40]!r}")
    return reader, writer


async def _ws_read(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return b0 & 0x0F, await reader.readexactly(n)


async def _echo_once(
    port: int, payload: bytes, count: Counter[str], errors: dict[str, list[str]], timeout: float,
    rcvbuf: int | None = None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    """Connect, send ``payload``, check its echo; the open connection, or None (counted)."""

    def error(kind: str, text: str) -> None:
        count[kind] += 1
        if len(errors.setdefault(kind, [])) < 5:
            errors[kind].append(text)

    try:
        reader, writer = await asyncio.wait_for(_ws_connect(port, rcvbuf), timeout)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
        error("refused", f"connect: {exc!r}")
        return None
    try:
        writer.write(_ws_frame(0x1, payload))
        opcode, data = await asyncio.wait_for(_ws_read(reader), timeout)
    except asyncio.TimeoutError:
        error("lost", f"no echo of {payload[:40]!r} in {timeout}s")
        writer.transport.abort()
        return None
    except (OSError, asyncio.IncompleteReadError) as exc:
        error("refused", f"echo of {payload[:40]!r}: {exc!r}")
        writer.transport.abort()
        return None
    if opcode == 0x8:
        error("refused", f"answered close {data[:2].hex()} {data[2:]!r}")
        writer.transport.abort()
        return None
    if (opcode, data) != (0x1, payload):
        error("misrouted", f"sent {payload[:40]!r}, got {opcode} {data[:40]!r}")
        writer.transport.abort()
        return None
    count["echoed"] += 1
    return reader, writer


async def _close_1000(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: Counter[str],
    errors: dict[str, list[str]], timeout: float,
) -> None:
    writer.write(_ws_frame(0x8, (1000).to_bytes(2, "big")))
    try:
        opcode, data = await asyncio.wait_for(_ws_read(reader), timeout)
        if opcode != 0x8 or data[:2] != (1000).to_bytes(2, "big"):
            count["close_code"] += 1
            errors.setdefault("close_code", []).append(f"{opcode} {data[:20]!r}")
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
        count["close_code"] += 1
        errors.setdefault("close_code", []).append(repr(exc))
    finally:
        writer.close()


def churn_serve(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(HERE.parent.parent / "src"))
    from wsgiref.simple_server import make_server

    from ws4py.server.wsgirefserver import WebSocketWSGIRequestHandler, WSGIServer
    from ws4py.server.wsgiutils import WebSocketWSGIApplication
    from ws4py.websocket import EchoWebSocket

    raise_fd_limit(args.fds)
    lock = threading.Lock()
    stats: dict[str, Any] = {"opened": 0, "closed": Counter()}

    class CountingEcho(EchoWebSocket):
        def opened(self) -> None:
            with lock:
                stats["opened"] += 1

        def closed(self, code: int, reason: Any = None) -> None:
            with lock:
                stats["closed"][code] += 1

    server = make_server("127.0.0.1", 0, server_class=WSGIServer,
                         handler_class=WebSocketWSGIRequestHandler,
                         app=WebSocketWSGIApplication(handler_cls=CountingEcho))  # fmt: skip
    assert isinstance(server, WSGIServer)
    server.initialize_websockets_manager()
    manager = server.manager
    assert manager is not None
    stop = threading.Event()

    def write_stats() -> None:
        with lock:
            snapshot = dict(stats, closed=dict(stats["closed"]))
        snapshot.update(port=server.server_address[1], managed=len(manager),
                        open_connections=server.connection_count,
                        manager_alive=manager.is_alive())  # fmt: skip
        tmp = args.stats + ".tmp"
        Path(tmp).write_text(json.dumps(snapshot))
        os.replace(tmp, args.stats)

    def stats_loop() -> None:
        while not stop.wait(0.5):
            write_stats()

    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    write_stats()
    threading.Thread(target=stats_loop, name="churn-stats", daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
        stop.set()
        write_stats()


def _way(i: int) -> int:
    """How connection ``i`` ends: 0 close frame, 1 TCP close, 2 reset, 3 (1 in 40) reset
    after flooding the server with messages whose echoes it never reads (each such peer
    holds up to ~1 MiB of output on the server: 1 in 40 keeps the server's RSS sane)."""
    return 3 if i % 40 == 39 else i % 3


def churn_client(args: argparse.Namespace) -> None:
    """Cycles: open every connection at once (each echoes a unique message), close all at once."""
    raise_fd_limit(args.connections + 256)
    count: Counter[str] = Counter()
    errors: dict[str, list[str]] = {}
    flood = _ws_frame(0x2, b"\0" * 65536)

    async def one(cycle: int, i: int, gate: asyncio.Semaphore) -> Any:
        payload = f"churn {args.index}/{cycle}/{i} {os.urandom(8).hex()}".encode()
        rcvbuf = 4096 if _way(i) == 3 else None  # the ones that end flooding, unread
        async with gate:
            return await _echo_once(args.port, payload, count, errors, args.timeout, rcvbuf)

    async def end(i: int, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        reader, writer = conn
        way = _way(i)
        if way == 0:
            await _close_1000(reader, writer, count, errors, args.timeout)
        elif way == 1:
            writer.close()
        elif way == 2:
            writer.transport.abort()
        else:  # output the server cannot deliver: we never read, then reset
            for _ in range(96):
                writer.write(flood)
            await asyncio.sleep(1.0)
            writer.transport.abort()
        count[("close-frame", "fin", "reset", "flood-reset")[way]] += 1

    async def main() -> None:
        gate = asyncio.Semaphore(args.concurrency)
        cycle = 0
        while time.time() < args.deadline - 5 or cycle < args.min_cycles:
            conns = await asyncio.gather(*(one(cycle, i, gate) for i in range(args.connections)))
            opened = [(i, c) for i, c in enumerate(conns) if c is not None]
            count["cycles"] += 1
            count["peak"] = max(count["peak"], len(opened))
            await asyncio.sleep(args.hold)
            await asyncio.gather(*(end(i, c) for i, c in opened))
            cycle += 1

    asyncio.run(main())
    print(json.dumps({"count": dict(count), "errors": errors}))


def churn_witness(args: argparse.Namespace) -> None:
    """A fresh client every --interval seconds: unique echo, then close 1000 answered 1000."""
    count: Counter[str] = Counter()
    errors: dict[str, list[str]] = {}

    async def witness(n: int) -> None:
        payload = f"witness {n} {os.urandom(8).hex()}".encode()
        conn = await _echo_once(args.port, payload, count, errors, args.timeout)
        if conn is not None:
            await _close_1000(*conn, count, errors, args.timeout)

    async def main() -> None:
        tasks = []
        n = 0
        next_at = time.monotonic()
        while time.time() < args.deadline:
            tasks.append(asyncio.ensure_future(witness(n)))
            n += 1
            next_at += args.interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await asyncio.gather(*tasks)
        count["witnesses"] = n

    asyncio.run(main())
    print(json.dumps({"count": dict(count), "errors": errors}))


def run_churn(args: argparse.Namespace) -> int:
    raise_fd_limit(args.connections + 1024)
    workdir = Path(tempfile.mkdtemp(prefix="ws4py-churn-"))
    stats_path = str(workdir / "stats.json")
    log = print if not args.quiet else (lambda *a, **k: None)
    py = sys.executable
    server = subprocess.Popen(
        [py, str(HERE), "_churn_serve", "--stats", stats_path, "--fds",
         str(args.connections + 2048)],
        stderr=subprocess.DEVNULL if args.quiet else None,
    )  # fmt: skip
    report: dict[str, Any] = {"mode": "churn", "connections": args.connections,
                              "duration_s": args.duration, "clients": args.clients,
                              "witness_interval_s": args.witness_interval}  # fmt: skip
    failures: list[str] = []
    procs: list[subprocess.Popen[str]] = []
    samples: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 30
        while not Path(stats_path).exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        port = read_stats(stats_path)["port"]
        time.sleep(0.5)
        before = proc_status(server.pid)
        report["server_before"] = before
        log(f"churn: server pid {server.pid} on port {port}: {before}")
        start = time.time()
        end = start + args.duration
        per = [args.connections // args.clients + (i < args.connections % args.clients)
               for i in range(args.clients)]  # fmt: skip
        for i, n in enumerate(per):
            procs.append(subprocess.Popen(
                [py, str(HERE), "_churn_client", "--port", str(port), "--connections", str(n),
                 "--index", str(i), "--deadline", str(end), "--hold", str(args.hold),
                 "--min-cycles", str(args.min_cycles),
                 "--concurrency", str(max(1, 1000 // args.clients)),
                 "--timeout", str(args.timeout)],
                stdout=subprocess.PIPE, text=True,
            ))  # fmt: skip
        procs.append(subprocess.Popen(
            [py, str(HERE), "_churn_witness", "--port", str(port), "--deadline", str(end),
             "--interval", str(args.witness_interval), "--timeout", str(args.timeout)],
            stdout=subprocess.PIPE, text=True,
        ))  # fmt: skip
        while time.time() < end:
            time.sleep(min(args.sample, max(0.0, end - time.time())))
            status = proc_status(server.pid)
            stats = read_stats(stats_path)
            sample = {"t": round(time.time() - start, 1), **status, "managed": stats["managed"],
                      "opened": stats["opened"], "manager_alive": stats["manager_alive"],
                      "load": os.getloadavg()[0]}  # fmt: skip
            samples.append(sample)
            if len(samples) % max(1, int(30 / args.sample)) == 0:
                log(f"{sample}")
        report["samples"] = samples
        totals: Counter[str] = Counter()
        errors: dict[str, list[str]] = {}
        for proc in procs:
            out, _ = proc.communicate(timeout=args.timeout * 4 + 120)
            if proc.returncode != 0:
                failures.append(f"a client process exited with {proc.returncode}")
                continue
            result = json.loads(out.strip().splitlines()[-1])
            role = "witness" if proc is procs[-1] else "churn"
            for key, value in result["count"].items():
                totals[f"{role}_{key}"] += value
            for kind, examples in result["errors"].items():
                errors.setdefault(f"{role}_{kind}", []).extend(examples[:3])
        report["totals"] = dict(totals)
        settle = time.monotonic() + 60
        while True:
            stats = read_stats(stats_path)
            after = proc_status(server.pid)
            if (stats["managed"] == 0 and stats["open_connections"] == 0
                    and after["fds"] <= before["fds"]) or time.monotonic() > settle:  # fmt: skip
                break
            time.sleep(0.25)
        report["server_after"], report["server_stats"] = after, stats
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            failures.append("the server did not stop on SIGTERM")
    t = totals
    for role in ("witness", "churn"):
        for kind in ("refused", "misrouted", "lost", "close_code"):
            if t[f"{role}_{kind}"]:
                failures.append(f"{t[f'{role}_{kind}']} {role} {kind}")
    if not t["witness_echoed"] or t["witness_echoed"] != t["witness_witnesses"]:
        failures.append(f"witnesses served {t['witness_echoed']} of {t['witness_witnesses']}")
    if not all(s["manager_alive"] for s in samples):
        failures.append("the manager's thread died")
    if stats["managed"] or stats["open_connections"]:
        failures.append(f"still managed: {stats['managed']}, open: {stats['open_connections']}")
    if after["fds"] > before["fds"]:
        failures.append(f"server fds: {before['fds']} before, {after['fds']} after")
    rss = [s["rss_kib"] for s in samples]
    if rss:
        report["rss_mib"] = {"first": rss[0] // 1024, "peak": max(rss) // 1024,
                             "last": rss[-1] // 1024,
                             "by_minute": [s["rss_kib"] // 1024 for s in samples
                                           if int(s["t"]) % 60 < args.sample]}  # fmt: skip
    report["failures"] = failures
    report["errors_sample"] = errors
    summary = (
        f"churn: {args.connections} connections x {args.duration:.0f}s, "
        f"{t['churn_cycles']} cycles ({t['churn_echoed']} churn echoes; closes: "
        f"{t['churn_close-frame']} close frames, {t['churn_fin']} FIN, {t['churn_reset']} "
        f"resets, {t['churn_flood-reset']} resets with unread output); witnesses "
        f"{t['witness_echoed']}/{t['witness_witnesses']} served; refused "
        f"{t['witness_refused'] + t['churn_refused']}, misrouted "
        f"{t['witness_misrouted'] + t['churn_misrouted']}, lost "
        f"{t['witness_lost'] + t['churn_lost']}; server RSS {report.get('rss_mib')}; fds "
        f"{before['fds']} -> peak {max((s['fds'] for s in samples), default=0)} -> {after['fds']}"
    )
    report["summary"] = summary
    print(summary)
    for failure in failures:
        print("FAILED:", failure)
    for kind, examples in errors.items():
        for example in examples[:2]:
            print(f"  e.g. {kind}: {example}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    return 1 if failures else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    srv = sub.add_parser("_serve")
    srv.add_argument("--stats", required=True)
    srv.add_argument("--fds", type=int, default=20000)
    srv.add_argument("--keepalive", type=float, default=10.0)
    srv.add_argument("--trace", action="store_true")
    csrv = sub.add_parser("_churn_serve")
    csrv.add_argument("--stats", required=True)
    csrv.add_argument("--fds", type=int, default=20000)
    ccli = sub.add_parser("_churn_client")
    for name, kind in (("--port", int), ("--connections", int), ("--index", int),
                       ("--deadline", float), ("--hold", float), ("--concurrency", int),
                       ("--timeout", float), ("--min-cycles", int)):  # fmt: skip
        ccli.add_argument(name, type=kind, required=True)
    wit = sub.add_parser("_churn_witness")
    for name, kind in (("--port", int), ("--deadline", float), ("--interval", float),
                       ("--timeout", float)):  # fmt: skip
        wit.add_argument(name, type=kind, required=True)
    cli = sub.add_parser("_client")
    for name, kind in (("--port", int), ("--connections", int), ("--index", int),
                       ("--seed", int), ("--rate", float), ("--session", float),
                       ("--start", float), ("--deadline", float), ("--ramp", float)):  # fmt: skip
        cli.add_argument(name, type=kind, required=True)
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds (default 600)")
    parser.add_argument("--clients", type=int, default=None,
                        help="client processes (default: one per 2,500 connections, 2 at least)")
    parser.add_argument("--rate", type=float, default=0.1,
                        help="messages per second per connection (default 0.1)")
    parser.add_argument("--session", type=float, default=30.0,
                        help="mean messages per session before it closes (default 30)")
    parser.add_argument("--ramp", type=float, default=None, help="seconds to open every connection")
    parser.add_argument("--keepalive", type=float, default=30.0,
                        help="server keepalive_interval/timeout (default 30 s)")
    parser.add_argument("--sample", type=float, default=2.0, help="seconds between samples")
    parser.add_argument("--max-rss-growth-mb", type=float, default=64.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--trace", action="store_true",
                        help="tracemalloc in the server: top growth after warm-up in the report")
    parser.add_argument("--churn", action="store_true",
                        help="the churn form (issue #20): cycles of every connection opened "
                        "and closed at once, a witness client every --witness-interval")
    parser.add_argument("--witness-interval", type=float, default=0.1)
    parser.add_argument("--min-cycles", type=int, default=0,
                        help="churn: each client process runs at least this many cycles, "
                             "past --duration if the machine is slow")
    parser.add_argument("--hold", type=float, default=1.0,
                        help="--churn: seconds the connections stay open each cycle")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="--churn: seconds an answer may take before it counts as lost")
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    if args.command == "_serve":
        serve(args)
    elif args.command == "_client":
        client(args)
    elif args.command == "_churn_serve":
        churn_serve(args)
    elif args.command == "_churn_client":
        churn_client(args)
    elif args.command == "_churn_witness":
        churn_witness(args)
    elif args.churn:
        if args.clients is None:
            args.clients = max(2, args.connections // 2500)
        sys.exit(run_churn(args))
    else:
        if args.clients is None:
            args.clients = max(2, args.connections // 2500)
        sys.exit(run(args))


if __name__ == "__main__":
    main()
