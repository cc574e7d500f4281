"""A scripted HTTP peer for the client tests: answers each request head with chosen bytes.

Used where a real server cannot say what the test needs (a redirect, a
redirect loop): test_redirects.py and test_reconnect.py.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

HOST = "127.0.0.1"
WAIT = 10.0


class Redirector:
    """Answers request number ``n`` (from 1) with ``respond(n)``, then closes; keeps the heads."""

    def __init__(self, respond: Callable[[int], bytes], unix_path: str | None = None) -> None:
        self.respond = respond
        self.requests: list[bytes] = []
        if unix_path is None:
            self.listener = socket.create_server((HOST, 0))
            self.port = int(self.listener.getsockname()[1])
        else:
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(unix_path)
            self.listener.listen()
            self.port = 0
        self.listener.settimeout(0.05)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def url(self, path: str = "/") -> str:
        return f"ws://{HOST}:{self.port}{path}"

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(WAIT)
                head = b""
                try:
                    while b"\r\n\r\n" not in head:
                        data = conn.recv(4096)
                        if not data:
                            break
                        head += data
                    self.requests.append(head)
                    conn.sendall(self.respond(len(self.requests)))
                except OSError:
                    pass

    def header(self, number: int, name: str) -> str | None:
        """The value of header ``name`` in request ``number`` (from 1)."""
        for line in self.requests[number - 1].decode("latin-1").split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(WAIT)
        self.listener.close()


def moved(status: int, location: str) -> bytes:
    return (
        f"HTTP/1.1 {status} Moved\r\nLocation: {location}\r\nContent-Length: 0\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
