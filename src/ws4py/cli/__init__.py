"""The ``ws4py`` command (``python -m ws4py``): servers and a client for the shell.

``echo``
    an echo server; logs each connection (opened, closed with its code).
``chat``
    a chat room: a page at ``/`` and its websocket at ``/ws`` on one port
    (:mod:`ws4py.demo.chat`).  ``--redis URL`` shares the room with every
    chat server on that Redis; ``--workers N`` runs N processes on the port
    (``SO_REUSEPORT``), which needs ``--redis`` (refused without it: each
    process has its own members, only Redis connects them);
    ``--redis-streams`` uses Redis Streams (replay after a disconnection).
``connect URL``
    an interactive client: each line typed (or piped) is sent as text; what
    arrives is printed with a timestamp; ``/help`` lists the commands.

Servers log through the ``ws4py`` logger (stdout) and exit non-zero with a
clear message when they cannot start (port in use, bad certificate).
``connect`` prints received messages on stdout and everything else on
stderr; it exits with 0 after a normal close (by us, or by the peer with
1000 or 1001), 1 when it cannot connect (refused, TLS, handshake), 2 for
usage errors, 3 when the connection ends abnormally or with another code.

One job per module: :mod:`ws4py.cli.parser` (the argument parser and
:func:`main`), :mod:`ws4py.cli.serve` (``echo``, ``chat``),
:mod:`ws4py.cli.connect` (the client) and :mod:`ws4py.cli.common` (exit
statuses, errors).  This package re-exports the names ``ws4py.cli`` had.
"""

from __future__ import annotations

from ws4py.cli.common import (
    EXIT_ABNORMAL,
    EXIT_CONNECT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
)
from ws4py.cli.connect import (
    CONNECT_HELP,
    HEX_PREVIEW,
    NORMAL_CLOSE_CODES,
    Console,
    ConsoleClient,
    check_url,
    describe_binary,
    parse_header,
)
from ws4py.cli.parser import build_parser, main
from ws4py.cli.serve import LoggingEchoWebSocket

__all__ = [
    "CONNECT_HELP",
    "EXIT_ABNORMAL",
    "EXIT_CONNECT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "HEX_PREVIEW",
    "NORMAL_CLOSE_CODES",
    "Console",
    "ConsoleClient",
    "LoggingEchoWebSocket",
    "build_parser",
    "check_url",
    "describe_binary",
    "main",
    "parse_header",
]
