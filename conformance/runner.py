"""Run the conformance suite in-process and print a table: groups x backends, with counts per cell.

``run()`` is what ``python -m conformance`` and ``ws-channel conformance`` call.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

import pytest

from .cases import GROUPS
from .plugin import BACKEND_FIXTURE, GROUP

__all__ = ["run", "Collector", "Cell", "format_table", "format_skips"]

_OUTCOMES = ("passed", "failed", "skipped", "xfailed")


@dataclass
class Cell:
    """Counts of one group on one backend."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    xfailed: int = 0

    def __str__(self) -> str:
        text = f"{self.passed}/{self.failed}/{self.skipped}"
        return f"{text}/{self.xfailed}" if self.xfailed else text


@dataclass(eq=False)  # pytest keeps plugins in sets: identity hashing
class Collector:
    """A pytest plugin that counts outcomes per (group, backend) and prints a line per group."""

    out: TextIO = sys.stdout
    cells: dict[tuple[str, str], Cell] = field(default_factory=lambda: defaultdict(Cell))
    backends: list[str] = field(default_factory=list)
    #: Why cases were skipped (for example a backend or event loop that is not installed) -> count.
    skip_reasons: dict[str, int] = field(default_factory=dict)
    _keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    _current_group: str | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            group = item.stash.get(GROUP, None)
            callspec = getattr(item, "callspec", None)
            if group is None or callspec is None:
                continue
            backend = str(callspec.params[BACKEND_FIXTURE])
            self._keys[item.nodeid] = (group, backend)
            if backend not in self.backends:
                self.backends.append(backend)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        key = self._keys.get(report.nodeid)
        if key is None:
            return
        cell = self.cells[key]
        if report.when == "call" or (report.when == "setup" and not report.passed):
            if hasattr(report, "wasxfail"):
                if report.skipped:
                    cell.xfailed += 1
                else:
                    cell.failed += 1  # an unexpected pass of a strict xfail
            elif report.passed:
                cell.passed += 1
            elif report.skipped:
                cell.skipped += 1
                reason = _skip_reason(report)
                self.skip_reasons[reason] = self.skip_reasons.get(reason, 0) + 1
            else:
                cell.failed += 1
        elif report.when == "teardown" and report.failed:
            cell.failed += 1
        if key[0] != self._current_group and report.when == "call":
            self._current_group = key[0]

    @property
    def failed(self) -> int:
        """Number of failed cases over every cell."""
        return sum(cell.failed for cell in self.cells.values())


def _skip_reason(report: pytest.TestReport) -> str:
    """The reason pytest recorded for a skipped case (``longrepr`` is ``(path, line, reason)``)."""
    if isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return str(report.longrepr)


def format_skips(reasons: dict[str, int]) -> str:
    """One line per distinct reason cases were skipped, with how many; empty when none were."""
    return "\n".join(f"skipped {count}: {reason}" for reason, count in sorted(reasons.items()))


def format_table(cells: dict[tuple[str, str], Cell], backends: Sequence[str]) -> str:
    """The results as a text table: rows the groups, columns the backends."""
    groups = [group for group in GROUPS if any((group, b) in cells for b in backends)]
    groups += sorted({group for group, _ in cells} - set(groups))
    header = ["group", *backends]
    rows = [[group, *(str(cells[(group, b)]) if (group, b) in cells else "-" for b in backends)]
            for group in groups]
    totals = Cell()
    for cell in cells.values():
        totals.passed += cell.passed
        totals.failed += cell.failed
        totals.skipped += cell.skipped
        totals.xfailed += cell.xfailed
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines.append(f"cells: passed/failed/skipped[/xfailed]; total {totals}")
    return "\n".join(lines)


def run(
    backends: list[str] | None = None,
    *,
    extra_pytest_args: Sequence[str] = (),
    out: TextIO | None = None,
) -> int:
    """Run the whole suite against ``backends`` (default: every registered one) and print the table.

    Cases of a backend or event loop whose library is missing are skipped, and the reasons printed.

    Progress is pytest's own quiet dot line; the table follows. In the interop group a pair counts in
    its client backend's column.

    Returns:
        0 when nothing failed, else a non-zero pytest exit code (1 when cases failed).
    """
    stream = out if out is not None else sys.stdout
    args = ["--pyargs", "conformance.cases", "-q", "-p", "no:cacheprovider", "-o", "xfail_strict=true"]
    # This package is imported before pytest starts, so its plugin module cannot be assertion-rewritten.
    args += ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    for name in backends or ():
        args += ["--ws-backend", name]
    args += list(extra_pytest_args)
    collector = Collector(out=stream)
    code = int(pytest.main(args, plugins=[collector]))
    print(file=stream)
    print(format_table(collector.cells, collector.backends), file=stream)
    if collector.skip_reasons:
        print(format_skips(collector.skip_reasons), file=stream)
    if code == 0 and collector.failed:
        return 1
    return code
