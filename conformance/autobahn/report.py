"""Read wstest's report (``index.json`` plus one JSON file per case), tabulate it, and judge it.

Verdicts follow the case's ``behavior`` (what Autobahn's own report shows): OK, NON-STRICT,
INFORMATIONAL and UNIMPLEMENTED pass; FAILED fails unless the backend lists the case as an expected
failure. Expected failures are strict: one that passes fails the run too, so the map cannot go stale.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cases import case_group, case_sort_key

__all__ = [
    "BEHAVIORS",
    "ReportError",
    "CaseResult",
    "RunResult",
    "Verdict",
    "load_index",
    "failure_reason",
    "group_counts",
    "expected_failures_for",
    "judge",
    "format_table",
    "format_verdicts",
]

#: The behaviours Autobahn reports, in table order.
BEHAVIORS: tuple[str, ...] = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED")
_PASSING = frozenset(BEHAVIORS[:-1])


class ReportError(ValueError):
    """The report is missing or not what wstest writes."""


@dataclass(frozen=True)
class CaseResult:
    """One case of one agent, as ``index.json`` lists it, with the reason when it failed."""

    case: str
    behavior: str
    behavior_close: str
    remote_close_code: int | None = None
    duration_ms: int | None = None
    reason: str = ""

    @property
    def failed(self) -> bool:
        """True unless the behaviour is one of the passing ones (an unknown one counts as failed)."""
        return self.behavior not in _PASSING


@dataclass
class RunResult:
    """One wstest run: a backend in one role, its cases, and any trouble the harness itself had."""

    backend: str
    role: str
    results: dict[str, CaseResult] = field(default_factory=dict)
    #: A harness-level problem (wstest died, timeout, cases missing from the report); fails the run.
    error: str | None = None
    wall_time: float = 0.0
    report_dir: Path | None = None


@dataclass(frozen=True)
class Verdict:
    """What a run's cases mean against the backend's expected failures."""

    unexpected_failures: tuple[CaseResult, ...]
    unexpected_passes: tuple[tuple[str, str], ...]
    expected_failures: tuple[tuple[CaseResult, str], ...]
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when nothing fails the run."""
        return not self.unexpected_failures and not self.unexpected_passes and self.error is None


def _as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def failure_reason(case_report: Mapping[str, Any]) -> str:
    """One line saying why a case failed, from its per-case JSON report."""
    result = str(case_report.get("result") or "no result recorded")
    parts = [result]
    close = case_report.get("resultClose")
    behavior_close = case_report.get("behaviorClose")
    if close and close != result:
        parts.append(f"close: {close}" + (f" ({behavior_close})" if behavior_close else ""))
    elif behavior_close:
        parts.append(f"close: {behavior_close}")
    code = _as_int(case_report.get("remoteCloseCode"))
    if code is not None:
        reason = case_report.get("remoteCloseReason")
        parts.append(f"testee closed with {code}" + (f" {reason!r}" if reason else ""))
    return "; ".join(parts)


def _read_case_report(report_dir: Path, filename: object) -> Mapping[str, Any] | None:
    if not isinstance(filename, str) or "/" in filename or filename.startswith("."):
        return None
    try:
        data = json.loads((report_dir / filename).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def load_index(report_dir: Path, agent: str) -> dict[str, CaseResult]:
    """The cases of ``agent`` in ``report_dir/index.json``; failed ones carry their reason.

    Raises:
        ReportError: no index, malformed JSON, or no entry for the agent.
    """
    index_path = report_dir / "index.json"
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportError(f"no report at {index_path}: {exc}") from exc
    except ValueError as exc:
        raise ReportError(f"{index_path} is not JSON: {exc}") from exc
    if not isinstance(index, dict):
        raise ReportError(f"{index_path}: expected an object of agents")
    cases = index.get(agent)
    if not isinstance(cases, dict):
        raise ReportError(f"{index_path} has no results for agent {agent!r} (has: {sorted(index)})")
    results: dict[str, CaseResult] = {}
    for case_id in sorted(cases, key=case_sort_key):
        entry = cases[case_id]
        if not isinstance(entry, dict) or "behavior" not in entry:
            raise ReportError(f"{index_path}: case {case_id} of {agent!r} has no behavior")
        behavior = str(entry["behavior"])
        result = CaseResult(
            case=case_id,
            behavior=behavior,
            behavior_close=str(entry.get("behaviorClose", "")),
            remote_close_code=_as_int(entry.get("remoteCloseCode")),
            duration_ms=_as_int(entry.get("duration")),
        )
        if result.failed:
            report = _read_case_report(report_dir, entry.get("reportfile"))
            reason = failure_reason(report) if report is not None else "case report missing"
            if behavior not in BEHAVIORS:
                reason = f"unknown behavior {behavior!r}; {reason}"
            result = CaseResult(
                result.case, behavior, result.behavior_close, result.remote_close_code,
                result.duration_ms, reason,
            )  # fmt: skip
        results[case_id] = result
    return results


def group_counts(results: Iterable[CaseResult]) -> dict[int, Counter[str]]:
    """Per case group, how many cases had each behaviour (unknown behaviours count as FAILED)."""
    counts: dict[int, Counter[str]] = {}
    for result in results:
        behavior = result.behavior if result.behavior in BEHAVIORS else "FAILED"
        counts.setdefault(case_group(result.case), Counter())[behavior] += 1
    return dict(sorted(counts.items()))


def expected_failures_for(mapping: Mapping[str, str], role: str) -> dict[str, str]:
    """The expected failures of one role: keys ``"7.1.5"`` (both roles) or ``"client:7.1.5"``.

    Raises:
        ValueError: a key names an unknown role or is not a case id; a reason is empty.
    """
    selected: dict[str, str] = {}
    for key, reason in mapping.items():
        key_role, _, case_id = key.rpartition(":")
        if key_role not in ("", "client", "server"):
            raise ValueError(f"autobahn_expected_failures key {key!r}: role must be client or server")
        case_group(case_id)
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"autobahn_expected_failures[{key!r}] needs a reason")
        if key_role in ("", role):
            selected[case_id] = reason
    return selected


def judge(run: RunResult, expected: Mapping[str, str]) -> Verdict:
    """Compare a run with its role's expected failures (strict in both directions).

    An expected failure that did not run (not selected) is neither a pass nor a failure.
    """
    unexpected: list[CaseResult] = []
    known: list[tuple[CaseResult, str]] = []
    passes: list[tuple[str, str]] = []
    for case_id, result in run.results.items():
        if result.failed:
            if case_id in expected:
                known.append((result, expected[case_id]))
            else:
                unexpected.append(result)
        elif case_id in expected:
            passes.append((case_id, f"passed ({result.behavior}) but is listed: {expected[case_id]}"))
    return Verdict(tuple(unexpected), tuple(passes), tuple(known), run.error)


def _cell(counter: Counter[str], behavior: str) -> str:
    return str(counter.get(behavior, 0))


def format_table(runs: Sequence[RunResult]) -> str:
    """A text table: one row per backend x role x case group, plus a total row per run."""
    header = ("backend", "role", "group", *BEHAVIORS)
    rows: list[tuple[str, ...]] = []
    for run in runs:
        total: Counter[str] = Counter()
        for group, counter in group_counts(run.results.values()).items():
            rows.append((run.backend, run.role, str(group), *(_cell(counter, b) for b in BEHAVIORS)))
            total.update(counter)
        label = f"all ({run.wall_time:.0f} s)"
        rows.append((run.backend, run.role, label, *(_cell(total, b) for b in BEHAVIORS)))
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = []
    for row in (header, *rows):
        cells = [
            value.ljust(width) if i < 3 else value.rjust(width)
            for i, (value, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def format_verdicts(verdicts: Sequence[tuple[RunResult, Verdict]]) -> str:
    """Every FAILED case with its reason, every stale expected failure, every harness error."""
    lines: list[str] = []
    for run, verdict in verdicts:
        where = f"{run.backend} {run.role}"
        if verdict.error:
            lines.append(f"ERROR {where}: {verdict.error}")
        for result in verdict.unexpected_failures:
            lines.append(f"FAILED {where} {result.case}: {result.reason}")
        for known, why in verdict.expected_failures:
            lines.append(f"expected failure {where} {known.case}: {why} [{known.reason}]")
        for case_id, why in verdict.unexpected_passes:
            lines.append(f"UNEXPECTED PASS {where} {case_id}: {why}")
    return "\n".join(lines)
