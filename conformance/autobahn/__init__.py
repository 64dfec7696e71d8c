"""The Autobahn|Testsuite harness: every backend, client and server role, against ``wstest``.

``run(["websockets"], roles=("client", "server"), full=False)`` gets a ``wstest`` (PATH, Docker or a
cached Debian chroot), runs the fast subset or every case, prints a table of behaviours per case group
and returns an exit status; ``python -m conformance.autobahn --help`` is the command line.
"""

from __future__ import annotations

from .cases import FAST_CASES, FULL_CASES, select_cases
from .report import CaseResult, RunResult, Verdict, expected_failures_for, judge, load_index
from .runner import ROLES, run
from .wstest import Wstest, WstestUnavailable, find_wstest

__all__ = [
    "run",
    "ROLES",
    "FAST_CASES",
    "FULL_CASES",
    "select_cases",
    "find_wstest",
    "Wstest",
    "WstestUnavailable",
    "load_index",
    "judge",
    "expected_failures_for",
    "CaseResult",
    "RunResult",
    "Verdict",
]
