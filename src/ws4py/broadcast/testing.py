"""A throwaway Redis server for tests and benchmarks: :class:`RedisServer`.

.. code-block:: python

    with RedisServer() as server:          # redis-server on a free loopback port
        backend = RedisBackend(server.url)
        server.kill()                       # SIGKILL, as a crash would
        server.start()                      # again, on the same port

Runs Debian's ``redis-server`` (``scripts/install-redis.sh`` installs it)
with a configuration of its own in a temporary directory: loopback only,
no persistence, in the foreground; the process is stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["RedisServer", "RedisServerMissing", "find_redis_server", "free_port"]

_CANDIDATES = ("/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server")


class RedisServerMissing(RuntimeError):
    """No ``redis-server`` executable on this machine."""


def find_redis_server() -> str:
    """The path of ``redis-server``; :class:`RedisServerMissing` says how to install it."""
    found = shutil.which("redis-server")
    if found:
        return found
    for candidate in _CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    raise RedisServerMissing(
        "redis-server is not installed: run scripts/install-redis.sh "
        "(Debian's redis-server package; apt-get install -y redis-server)"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` process on ``127.0.0.1``; start, kill and restart it by PID."""

    def __init__(self, port: int | None = None, directory: str | Path | None = None) -> None:
        self.executable = find_redis_server()
        self.host = "127.0.0.1"
        self.port = port or free_port(self.host)
        self._own_directory = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="ws4py-redis-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.config = self.directory / "redis.conf"
        self.log = self.directory / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def _write_config(self) -> None:
        self.config.write_text(
            "\n".join(
                [
                    f"port {self.port}",
                    f"bind {self.host}",
                    'save ""',
                    "appendonly no",
                    f"dir {self.directory}",
                    "daemonize no",
                    f"logfile {self.log}",
                    "protected-mode yes",
                    "",
                ]
            )
        )

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the server (again, on the same port) and wait until it answers PING."""
        if self.running:
            return self
        self._write_config()
        self.process = subprocess.Popen(
            [
                self.executable,
                str(self.config),
                "--port", str(self.port),
                "--bind", self.host,
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.directory),
                "--daemonize", "no",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self.process.returncode}: {self._log_tail()}"
                )
            if self.ping():
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer in {timeout}s: {self._log_tail()}")
            time.sleep(0.02)

    def ping(self) -> bool:
        """True when the server answers PING."""
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the server (a crash: connections reset, nothing saved) and reap it."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM the server, SIGKILL after 5 s; reap it."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def close(self) -> None:
        """Stop the server and remove its directory (when it made it)."""
        self.stop()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _log_tail(self) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").splitlines()[-5:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
