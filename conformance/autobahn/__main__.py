"""Command line: ``python -m conformance.autobahn [--full] [--backend NAME]... [--role ROLE]...``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .runner import ROLES, run
from .wstest import WstestUnavailable, find_wstest

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.autobahn",
        description="Run the Autobahn|Testsuite against ws-channel backends, as client and as server.",
    )
    parser.add_argument(
        "--backend", "-b", action="append", dest="backends", metavar="NAME",
        help="a backend to test (repeatable; default: every installed backend)",
    )  # fmt: skip
    parser.add_argument(
        "--role", "-r", action="append", dest="roles", choices=ROLES,
        help="client or server (repeatable; default: both)",
    )  # fmt: skip
    selection = parser.add_mutually_exclusive_group()
    selection.add_argument("--full", action="store_true", help="all cases 1-13 (minutes per run)")
    selection.add_argument(
        "--cases", nargs="+", metavar="PATTERN",
        help="explicit wstest case patterns (exact ids, or with * as a prefix pattern)",
    )  # fmt: skip
    parser.add_argument("--report-dir", type=Path, help="copy each report to DIR/BACKEND-ROLE")
    parser.add_argument(
        "--setup-only", action="store_true", help="only find or build wstest, then print how it runs"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run; the exit status is :func:`~conformance.autobahn.runner.run`'s."""
    args = _parser().parse_args(argv)
    if args.setup_only:
        try:
            print(find_wstest().describe())
        except WstestUnavailable as exc:
            print(f"autobahn: cannot get wstest: {exc}", file=sys.stderr)
            return 2
        return 0
    return run(
        args.backends,
        roles=tuple(args.roles or ROLES),
        full=args.full,
        cases=args.cases,
        report_dir=args.report_dir,
    )


if __name__ == "__main__":
    sys.exit(main())
