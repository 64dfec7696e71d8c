"""``python -m conformance [--backend NAME]...``: run the conformance suite and print the table."""

from __future__ import annotations

import argparse
import sys

from .runner import run

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the suite; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m conformance", description="Run the ws-channel conformance suite against backends."
    )
    parser.add_argument(
        "--backend",
        action="append",
        dest="backends",
        metavar="NAME",
        help="backend to test (repeatable; default: every available backend)",
    )
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    return run(args.backends, extra_pytest_args=args.pytest_args)


if __name__ == "__main__":
    sys.exit(main())
