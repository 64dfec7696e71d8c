"""Run the Autobahn|Testsuite against backends in both roles, print the table, return an exit status.

One wstest at a time (it is single-threaded and CPU heavy). Exit status: 0 when every run passed
against its expected failures, 1 when a case FAILED unexpectedly, an expected failure passed or a run
broke, 2 when nothing could run (no wstest, unknown backend).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import anyio

from ws_channel_core.registry import available_backends, get_backend, roles_of

from .cases import select_cases
from .drivers import RunLimits, run_client_role, run_server_role
from .report import RunResult, Verdict, expected_failures_for, format_table, format_verdicts, judge
from .wstest import Wstest, WstestUnavailable, find_wstest

__all__ = ["ROLES", "run", "run_one", "FAST_LIMITS", "FULL_LIMITS"]

ROLES: tuple[str, ...] = ("client", "server")
FAST_LIMITS = RunLimits(overall=900.0, per_case=120.0)
FULL_LIMITS = RunLimits(overall=2700.0, per_case=300.0)


def run_one(
    wstest: Wstest, backend: str, role: str, cases: Sequence[str], limits: RunLimits
) -> tuple[RunResult, Path]:
    """Run one backend in one role; return the result and the work directory holding its report."""
    driver = {"client": run_client_role, "server": run_server_role}[role]
    with wstest.workdir(prefix=f"{backend}-{role}-") as workdir:
        result = anyio.run(driver, wstest, backend, list(cases), workdir, limits)
    return result, workdir


def _expected(backend: str, role: str) -> dict[str, str]:
    mapping = getattr(get_backend(backend), "autobahn_expected_failures", {}) or {}
    return expected_failures_for(mapping, role)


def _keep_report(workdir: Path, report_dir: Path | None, backend: str, role: str, ok: bool) -> str | None:
    """Copy the report where asked; drop the work directory unless the run failed. Returns where it is."""
    kept: str | None = None
    if report_dir is not None and (workdir / "reports").is_dir():
        target = report_dir / f"{backend}-{role}"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(workdir / "reports", target)
        kept = str(target)
    if ok:
        shutil.rmtree(workdir, ignore_errors=True)
        return kept
    return f"{kept} (log: {workdir / 'wstest.log'})" if kept else str(workdir)


def run(
    backends: list[str] | None = None,
    *,
    roles: Sequence[str] = ROLES,
    full: bool = False,
    cases: Sequence[str] | None = None,
    report_dir: Path | None = None,
    out: TextIO | None = None,
) -> int:
    """Run wstest against ``backends`` (default: every installed one) in ``roles``; print the results.

    ``full`` runs cases 1-13 entirely (about 7-9 minutes per backend and role); otherwise the fast
    subset. ``cases`` overrides both with explicit wstest case patterns. Reports are copied to
    ``report_dir/BACKEND-ROLE`` when given.
    """
    stream = out if out is not None else sys.stdout
    for role in roles:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    names = list(backends) if backends else available_backends()
    if not names:
        print("autobahn: no ws-channel backend is installed", file=stream)
        return 2
    try:
        for name in names:
            get_backend(name)
            for role in roles:
                _expected(name, role)
    except (LookupError, ValueError) as exc:
        print(f"autobahn: {exc}", file=stream)
        return 2
    try:
        wstest = find_wstest()
    except WstestUnavailable as exc:
        print(f"autobahn: cannot get wstest: {exc}", file=stream)
        return 2
    selection = select_cases(full=full, cases=cases)
    limits = FULL_LIMITS if full else FAST_LIMITS
    print(f"autobahn: {wstest.describe()}", file=stream)
    print(f"autobahn: cases {' '.join(selection)}", file=stream, flush=True)
    verdicts: list[tuple[RunResult, Verdict]] = []
    for name in names:
        for role in roles:
            if role not in roles_of(get_backend(name)):
                print(f"autobahn: {name} cannot act as a {role}: skipped", file=stream, flush=True)
                continue
            print(f"autobahn: running {name} {role} ...", file=stream, flush=True)
            result, workdir = run_one(wstest, name, role, selection, limits)
            verdict = judge(result, _expected(name, role))
            verdicts.append((result, verdict))
            kept = _keep_report(workdir, report_dir, name, role, verdict.ok)
            status = "ok" if verdict.ok else "FAILED"
            where = f", report in {kept}" if kept else ""
            print(
                f"autobahn: {name} {role}: {status}, {len(result.results)} cases in "
                f"{result.wall_time:.1f} s{where}",
                file=stream,
                flush=True,
            )
    print("", file=stream)
    print(format_table([result for result, _ in verdicts]), file=stream)
    details = format_verdicts(verdicts)
    if details:
        print("", file=stream)
        print(details, file=stream)
    passed = all(verdict.ok for _, verdict in verdicts)
    print("", file=stream)
    print(f"autobahn: {'PASSED' if passed else 'FAILED'}", file=stream, flush=True)
    return 0 if passed else 1
