"""``python -m ws4py``: the command-line tool (see ``python -m ws4py --help``)."""

from __future__ import annotations

import sys

from ws4py.cli import main

if __name__ == "__main__":
    sys.exit(main())
