"""Demos served by ``python -m ws4py``: the chat room (:mod:`ws4py.demo.chat`).

The chat page (``static/``: plain HTML, CSS and JavaScript, no build step)
ships as package data and is served by the same server as its websocket.
"""

from __future__ import annotations

__all__: list[str] = []
