#!/usr/bin/env python3
"""Autobahn echo server written with ws4py's public API.

usage: echo_server.py [--host 127.0.0.1] [--port 9010] [--mode manager|thread]

``manager``: the wsgiref server with upgraded connections on one
WebSocketManager thread; ``thread``: one thread per websocket.
Messages up to 64 MiB are accepted (Autobahn's 9.* cases send 16 MiB ones).
Prints ``READY host:port`` once listening.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ws4py.server.wsgirefserver import make_server
from ws4py.websocket import EchoWebSocket


class ConformanceEcho(EchoWebSocket):
    max_message_size = 64 * 1024 * 1024
    max_write_buffer = 64 * 1024 * 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9010)
    parser.add_argument("--mode", choices=["manager", "thread"], default="manager")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    server = make_server(args.host, args.port, ConformanceEcho, websocket_mode=args.mode)
    print(f"READY {args.host}:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
