#!/usr/bin/env python3
"""Autobahn fuzzingserver echo client written with ws4py's threaded client.

usage: echo_client.py [--url ws://127.0.0.1:9001] [--agent NAME]

--url and --agent default to $AUTOBAHN_URL and $AUTOBAHN_AGENT (set by the
shared test-client.sh).  Runs every case, then asks for the report.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from urllib.parse import quote

from ws4py.client.threadedclient import WebSocketClient
from ws4py.messaging import Message


class EchoClient(WebSocketClient):
    max_message_size = 64 * 1024 * 1024

    def received_message(self, message: Message) -> None:
        self.send(message.data, message.is_binary)  # type: ignore[attr-defined]


class FirstMessage(WebSocketClient):
    first: bytes | None = None

    def received_message(self, message: Message) -> None:
        if self.first is None:
            self.first = bytes(message.data)


def run(ws: WebSocketClient, timeout: float) -> bool:
    ws.connect()
    return ws.join(timeout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=os.environ.get("AUTOBAHN_URL", "ws://127.0.0.1:9001"))
    parser.add_argument("--agent", default=os.environ.get("AUTOBAHN_AGENT", "ws4py-client"))
    parser.add_argument("--case-timeout", type=float, default=60.0)
    args = parser.parse_args()
    url = args.url.rstrip("/")
    agent = quote(args.agent)

    counter = FirstMessage(f"{url}/getCaseCount")
    run(counter, 30)
    count = int(counter.first or b"0")
    print(f"running {count} cases against {url} as {args.agent!r}", flush=True)
    started = time.monotonic()
    problems = 0
    for case in range(1, count + 1):
        ws = EchoClient(f"{url}/runCase?case={case}&agent={agent}")
        try:
            if not run(ws, args.case_timeout):
                problems += 1
                print(f"case {case}: timeout", flush=True)
                ws.close_connection()
        except Exception as exc:  # a refused handshake is a finding, not a crash
            problems += 1
            print(f"case {case}: {type(exc).__name__}: {exc}", flush=True)
    run(WebSocketClient(f"{url}/updateReports?agent={agent}"), 120)
    print(f"done: {count} cases in {time.monotonic() - started:.1f}s, {problems} problems")
    return 0


if __name__ == "__main__":
    sys.exit(main())
