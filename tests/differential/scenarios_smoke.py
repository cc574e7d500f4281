"""Scenarios that check the harness itself."""

from __future__ import annotations

from typing import Any


def identity() -> Any:
    import ws4py

    return (ws4py.__name__, ws4py.WS_KEY)


def version() -> str:
    import ws4py

    return ws4py.__version__
