"""Run one scenario through this package and through classic ws4py 0.6.0.

A scenario is a plain function in a ``differential.scenarios_*`` module that
imports ``ws4py`` when called and returns plain data.  :meth:`Classic.run`
calls it in a worker process of ``.venv-classic`` (``oracle.py``), where
``ws4py`` is classic ws4py 0.6.0 from the package index; the test calls it
in-process for ours.  Nothing of the classic package is copied here: only
its observable behaviour is compared.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("WS4PY_CLASSIC_VENV", ROOT / ".venv-classic"))
ORACLE = Path(__file__).with_name("oracle.py")
TIMEOUT = 60.0  # seconds one classic scenario may take


class ClassicError(AssertionError):
    """The classic worker broke (not an exception a scenario observed)."""


def ensure_venv() -> Path:
    """The classic interpreter, installing ws4py 0.6.0 on first use."""
    python = VENV / "bin" / "python"
    script = ROOT / "scripts" / "classic-venv.sh"
    subprocess.run([str(script), sys.executable, str(VENV)], check=True, timeout=600)
    return python


class Classic:
    """A persistent worker running scenarios under classic ws4py 0.6.0."""

    def __init__(self, python: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        self._proc = subprocess.Popen(
            [str(python), "-I", str(ORACLE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=str(ORACLE.parent),
        )

    def run(self, scenario: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        request = pickle.dumps((scenario.__module__, scenario.__name__, args, kwargs), 4)
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(struct.pack("!I", len(request)) + request)
        proc.stdin.flush()
        head = self._read(4)
        status, value = pickle.loads(self._read(struct.unpack("!I", head)[0]))
        if status != "ok":
            raise ClassicError(f"classic scenario {scenario.__name__} broke:\n{value}")
        return value

    def _read(self, size: int) -> bytes:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        chunks = bytearray()
        while len(chunks) < size:
            ready, _, _ = select.select([fd], [], [], TIMEOUT)
            if not ready:
                self.close()
                raise ClassicError(f"the classic worker gave no answer in {TIMEOUT} s")
            chunk = os.read(fd, size - len(chunks))
            if not chunk:
                raise ClassicError(f"the classic worker exited ({self._proc.wait()})")
            chunks += chunk
        return bytes(chunks)

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()


class Differential:
    """The fixture's face: compare, or fetch both sides of a documented difference."""

    def __init__(self, classic: Classic) -> None:
        self.classic = classic

    def both(self, scenario: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        """``(ours, classic)`` for the same scenario and inputs."""
        ours = scenario(*args, **kwargs)
        return ours, self.classic.run(scenario, *args, **kwargs)

    def same(self, scenario: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run both sides and require the same result; return it."""
        ours, classic = self.both(scenario, *args, **kwargs)
        assert ours == classic, (
            f"{scenario.__name__}{args!r}: ours differs from ws4py 0.6.0\n"
            f"  ours:    {ours!r}\n  classic: {classic!r}"
        )
        return ours
