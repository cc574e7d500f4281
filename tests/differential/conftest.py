"""The ``classic`` fixture: one ws4py 0.6.0 worker for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from differential.harness import Classic, Differential, ensure_venv


@pytest.fixture(scope="session")
def classic() -> Iterator[Differential]:
    worker = Classic(ensure_venv())
    try:
        yield Differential(worker)
    finally:
        worker.close()
