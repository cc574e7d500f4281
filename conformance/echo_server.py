#!/usr/bin/env python3
"""Autobahn echo server written with ws4py's public API.

usage: echo_server.py [--host 127.0.0.1] [--port 9010] [--mode manager|thread|asyncio|gevent]

``manager``: the wsgiref server with upgraded connections on one
WebSocketManager thread; ``thread``: one thread per websocket;
``asyncio``: ws4py.async_websocket.serve; ``gevent``: ws4py.server.geventserver
(without monkey patching).  CherryPy is run with the shared tool's own
``echo_server_ws4py.py --impl cherrypy``, the classic usage verbatim.
Messages up to 64 MiB are accepted (Autobahn's 9.* cases send 16 MiB ones).
Prints ``READY host:port`` once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from ws4py import async_websocket
from ws4py.server.wsgirefserver import make_server
from ws4py.websocket import EchoWebSocket


class ConformanceEcho(EchoWebSocket):
    max_message_size = 64 * 1024 * 1024
    max_write_buffer = 64 * 1024 * 1024


class AsyncConformanceEcho(async_websocket.EchoWebSocket):
    max_message_size = 64 * 1024 * 1024


async def serve_asyncio(host: str, port: int) -> None:
    server = await async_websocket.serve(AsyncConformanceEcho, host, port)
    print(f"READY {host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9010)
    parser.add_argument(
        "--mode", choices=["manager", "thread", "asyncio", "gevent"], default="manager"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.mode == "asyncio":
        try:
            asyncio.run(serve_asyncio(args.host, args.port))
        except KeyboardInterrupt:
            pass
        return 0
    if args.mode == "gevent":
        from ws4py.server.geventserver import WSGIServer
        from ws4py.server.wsgiutils import WebSocketWSGIApplication

        gevent_server = WSGIServer(
            (args.host, args.port), WebSocketWSGIApplication(handler_cls=ConformanceEcho)
        )
        print(f"READY {args.host}:{args.port}", flush=True)
        try:
            gevent_server.serve_forever()
        except KeyboardInterrupt:
            pass
        return 0
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
