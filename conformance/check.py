#!/usr/bin/env python3
"""Strict verdict on an Autobahn report: every case OK, nothing else.

usage: check.py REPORT_DIR [--allow-unimplemented GROUPS]

Accepted besides OK: INFORMATIONAL for the cases Autobahn itself always
reports as informational (7.1.6, 7.13.1, 7.13.2), and UNIMPLEMENTED for the
groups named with --allow-unimplemented (none by default).
NON-STRICT, FAILED, a bad close behaviour or a missing case fail.
Exit status 0 when strict, 1 otherwise; prints one line per problem and a
one-line summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ALWAYS_INFORMATIONAL = {"7.1.6", "7.13.1", "7.13.2"}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("report_dir", type=Path)
    parser.add_argument("--allow-unimplemented", default="")
    parser.add_argument("--expect-cases", type=int, default=0)
    args = parser.parse_args()
    allowed_groups = {g.strip() for g in args.allow_unimplemented.split(",") if g.strip()}
    index = json.loads((args.report_dir / "index.json").read_text())
    problems = []
    counts: dict[str, int] = {}
    total = 0
    for agent, cases in index.items():
        for case_id, result in cases.items():
            total += 1
            group = case_id.split(".")[0]
            for key in ("behavior", "behaviorClose"):
                verdict = result[key]
                counts[verdict] = counts.get(verdict, 0) + (key == "behavior")
                if verdict == "OK":
                    continue
                if verdict == "INFORMATIONAL" and case_id in ALWAYS_INFORMATIONAL:
                    continue
                if verdict == "UNIMPLEMENTED" and group in allowed_groups:
                    continue
                problems.append(f"{agent} {case_id}: {key} {verdict}")
    if args.expect_cases and total < args.expect_cases:
        problems.append(f"only {total} cases reported, expected {args.expect_cases}")
    for line in problems:
        print("NOT OK:", line)
    summary = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
    print(f"{'STRICT' if not problems else 'NOT STRICT'}: {total} cases ({summary})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
