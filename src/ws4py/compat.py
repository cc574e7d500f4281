"""The names ws4py 0.6.0's ``ws4py.compat`` exported, for code that imports them.

0.6.0 smoothed over Python 2 and 3 here; this package is Python 3 only, so
each name is its Python 3 meaning.  Nothing in ws4py itself needs them.
"""

from __future__ import annotations

import builtins
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "basestring",
    "detach_connection",
    "get_connection",
    "ord",
    "py3k",
    "range",
    "unicode",
    "urlsplit",
]

#: Always True: there is no Python 2 side.
py3k = True
range = builtins.range
unicode = str
#: What 0.6.0 meant by "a string" on Python 3: text or bytes.
basestring = (bytes, str)
_ord = builtins.ord


def ord(c: str | bytes | int) -> int:
    """``ord()`` that also takes an ``int``: an item of ``bytes`` already is one."""
    if isinstance(c, int):
        return c
    return _ord(c)


def get_connection(fileobj: Any) -> Any:
    """The socket under a buffered socket file (``environ['wsgi.input']`` of wsgiref)."""
    return fileobj.raw._sock


def detach_connection(fileobj: Any) -> None:
    """Detach a buffered socket file from its raw stream, leaving the socket open."""
    fileobj.detach()
