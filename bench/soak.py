"""Soak test: many connections on ONE manager, random traffic, nothing lost, nothing leaked.

    python bench/soak.py                                   # the full run: 10,000 x 10 min
    python bench/soak.py --connections 10000 --duration 120
    python bench/soak.py --connections 300 --duration 15 --rate 2 --session 8   # CI size

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
import contextlib
import gc
import hashlib
import json
import os
import random
import resource
import signal
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    srv = sub.add_parser("_serve")
    srv.add_argument("--stats", required=True)
    srv.add_argument("--fds", type=int, default=20000)
    srv.add_argument("--keepalive", type=float, default=10.0)
    srv.add_argument("--trace", action="store_true")
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
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    if args.command == "_serve":
        serve(args)
    elif args.command == "_client":
        client(args)
    else:
        if args.clients is None:
            args.clients = max(2, args.connections // 2500)
        sys.exit(run(args))


if __name__ == "__main__":
    main()
