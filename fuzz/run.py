"""Run one fuzz harness under atheris (coverage-guided, libFuzzer).

    python fuzz/run.py stream [libFuzzer options] [CORPUS_DIR...]

The harness module ``fuzz/fuzz_<name>.py`` is imported with ws4py instrumented
for coverage; its ``test_one_input`` is the fuzz target.  Any exception it lets
out is a finding: libFuzzer saves the input (``-artifact_prefix=``) and stops.
``scripts/fuzz.sh`` runs every harness this way.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import atheris

HARNESSES = ("stream", "server_handshake", "client_handshake", "extensions")


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in HARNESSES:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(HARNESSES)}}} [libFuzzer options] [corpus...]")
    name = sys.argv.pop(1)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    assert "ws4py" not in sys.modules, "ws4py must be imported under instrumentation"
    with atheris.instrument_imports(include=["ws4py"]):
        module = importlib.import_module(f"fuzz_{name}")
    atheris.Setup(sys.argv, module.test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
