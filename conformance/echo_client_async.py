#!/usr/bin/env python3
"""Autobahn fuzzingserver echo client on ws4py's asyncio client.

usage: echo_client_async.py [--url ws://127.0.0.1:9001] [--agent NAME]
(--url/--agent default to $AUTOBAHN_URL/$AUTOBAHN_AGENT, set by test-client.sh)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from urllib.parse import quote

from ws4py import async_websocket
from ws4py.messaging import Message


class Echo(async_websocket.EchoWebSocket):
    max_message_size = 64 * 1024 * 1024


async def first_message(url: str) -> bytes:
    ws = await async_websocket.connect(url)
    message: Message | None = await ws.receive()
    await ws.wait_closed()
    return bytes(message.data) if message is not None else b""


async def run(url: str, agent: str, case_timeout: float) -> int:
    count = int(await first_message(f"{url}/getCaseCount") or b"0")
    print(f"running {count} cases against {url} as {agent!r}", flush=True)
    started = time.monotonic()
    problems = 0
    for case in range(1, count + 1):
        try:
            ws = await async_websocket.connect(
                f"{url}/runCase?case={case}&agent={quote(agent)}", Echo
            )
            await asyncio.wait_for(ws.wait_closed(), case_timeout)
        except Exception as exc:  # a refused handshake is a finding, not a crash
            problems += 1
            print(f"case {case}: {type(exc).__name__}: {exc}", flush=True)
    ws = await async_websocket.connect(f"{url}/updateReports?agent={quote(agent)}")
    await asyncio.wait_for(ws.wait_closed(), 120)
    print(f"done: {count} cases in {time.monotonic() - started:.1f}s, {problems} problems")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=os.environ.get("AUTOBAHN_URL", "ws://127.0.0.1:9001"))
    parser.add_argument("--agent", default=os.environ.get("AUTOBAHN_AGENT", "ws4py-asyncio"))
    parser.add_argument("--case-timeout", type=float, default=60.0)
    args = parser.parse_args()
    return asyncio.run(run(args.url.rstrip("/"), args.agent, args.case_timeout))


if __name__ == "__main__":
    sys.exit(main())
