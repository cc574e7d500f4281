"""What the ``ws4py`` subcommands share: exit statuses, the two errors main() reports, helpers."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = [
    "EXIT_ABNORMAL",
    "EXIT_CONNECT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "StartError",
    "UsageError",
    "compression_options",
    "reason_text",
]

#: ``connect`` exit statuses.
EXIT_OK = 0
EXIT_CONNECT = 1  # could not connect: refused, unreachable, TLS, handshake
EXIT_USAGE = 2  # bad arguments or URL (argparse uses 2 too)
EXIT_ABNORMAL = 3  # the connection ended abnormally, or the peer closed with an error code
EXIT_INTERRUPTED = 130  # Ctrl+C


class UsageError(Exception):
    """Bad arguments: reported with exit status 2."""


class StartError(Exception):
    """A server cannot start: reported with exit status 1."""


def reason_text(reason: bytes | str | None) -> str:
    """A close reason for display: ``closed()`` is given the peer's as bytes (classic)."""
    if isinstance(reason, bytes):
        return reason.decode("utf-8", "replace")
    return reason or ""


def compression_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for ``--no-compression`` (server and client alike).

    No ``extensions`` argument keeps the library's default (compression on).
    """
    return {} if args.compression else {"extensions": []}
