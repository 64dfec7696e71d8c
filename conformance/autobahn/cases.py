"""Which Autobahn cases run, and the limits the echo testees need for them.

wstest reads case selections as patterns: one with ``*`` matches as a regular-expression prefix
(``"12.*.1"`` also matches ``12.1.10``), one without is an exact case id. So exact cases are listed
one by one here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = [
    "FULL_CASES",
    "FAST_CASES",
    "GROUPS",
    "ALL_CASE_IDS",
    "resolve_cases",
    "select_cases",
    "case_group",
    "case_sort_key",
    "MAX_MESSAGE_SIZE",
]

#: The case groups of the suite (there are no groups 8 and 11).
GROUPS: tuple[int, ...] = tuple(range(1, 14))

# The 517 cases of autobahntestsuite 25.10.1: (prefix, number of cases). A prefix with a dot has
# numbered sub-cases ("1.1" -> 1.1.1 ... 1.1.8); one without is a numbered case itself ("2" -> 2.1 ...).
_LAYOUT: tuple[tuple[str, int], ...] = (
    ("1.1", 8), ("1.2", 8), ("2", 11), ("3", 7), ("4.1", 5), ("4.2", 5), ("5", 20),
    ("6.1", 3), ("6.2", 4), ("6.3", 2), ("6.4", 4), ("6.5", 5), ("6.6", 11), ("6.7", 4), ("6.8", 2),
    ("6.9", 4), ("6.10", 3), ("6.11", 5), ("6.12", 8), ("6.13", 5), ("6.14", 10), ("6.15", 1),
    ("6.16", 3), ("6.17", 5), ("6.18", 5), ("6.19", 5), ("6.20", 7), ("6.21", 8), ("6.22", 34),
    ("6.23", 7), ("7.1", 6), ("7.3", 6), ("7.5", 1), ("7.7", 13), ("7.9", 9), ("7.13", 2),
    ("9.1", 6), ("9.2", 6), ("9.3", 9), ("9.4", 9), ("9.5", 6), ("9.6", 6), ("9.7", 6), ("9.8", 6),
    ("10.1", 1),
    ("12.1", 18), ("12.2", 18), ("12.3", 18), ("12.4", 18), ("12.5", 18),
    ("13.1", 18), ("13.2", 18), ("13.3", 18), ("13.4", 18), ("13.5", 18), ("13.6", 18), ("13.7", 18),
)  # fmt: skip

#: Every case id of the suite, in wstest's order.
ALL_CASE_IDS: tuple[str, ...] = tuple(
    f"{prefix}.{number}" for prefix, count in _LAYOUT for number in range(1, count + 1)
)

#: Everything: framing, pings, reserved bits, opcodes, fragmentation, UTF-8, close, limits and
#: performance (9.*), auto-fragmentation (10.*), permessage-deflate (12.*, 13.*).
FULL_CASES: tuple[str, ...] = ("*",)

#: A subset for CI: everything but the slow 9.* (up to 16 MiB messages) and most of the slow
#: permessage-deflate groups, of which a few exact cases stay so compression is exercised: small
#: messages of each payload kind (12.1-12.5), and one case for each parameter offer of 13.1-13.7
#: (context takeover, window bits).
FAST_CASES: tuple[str, ...] = (
    "1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*",
    "12.1.1", "12.1.2", "12.1.3", "12.1.4", "12.1.5",
    "12.2.1", "12.3.1", "12.4.1", "12.5.1",
    "13.1.1", "13.1.2", "13.2.1", "13.3.1", "13.4.1", "13.5.1", "13.6.1", "13.7.1",
)  # fmt: skip

#: Incoming message limit of the echo testees: 9.1.6 and 9.2.6 send 16 MiB messages.
MAX_MESSAGE_SIZE = 32 * 2**20


def select_cases(*, full: bool = False, cases: Sequence[str] | None = None) -> list[str]:
    """The wstest ``cases`` list: ``cases`` when given, else the full set or the fast subset."""
    if cases is not None:
        chosen = [str(case).strip() for case in cases if str(case).strip()]
        if not chosen:
            raise ValueError("an explicit case selection may not be empty")
        unknown = [case for case in chosen if "*" not in case and case not in ALL_CASE_IDS]
        if unknown:
            raise ValueError(f"unknown Autobahn case ids: {', '.join(unknown)}")
        return chosen
    return list(FULL_CASES if full else FAST_CASES)


def case_group(case_id: str) -> int:
    """The group of a case id: ``case_group("12.1.3") == 12``.

    Raises:
        ValueError: the id does not start with a group number.
    """
    head = case_id.split(".", 1)[0]
    if not head.isdigit():
        raise ValueError(f"not an Autobahn case id: {case_id!r}")
    return int(head)


def case_sort_key(case_id: str) -> tuple[int, ...]:
    """Sort key putting ``2.10`` after ``2.9``; ids with non-numeric parts sort last."""
    try:
        return tuple(int(part) for part in case_id.split("."))
    except ValueError:
        return (1 << 30,)


def resolve_cases(patterns: Sequence[str]) -> list[str]:
    """The case ids wstest runs for ``patterns``, resolved the way wstest does, in its order.

    A pattern with ``*`` matches as a regular-expression prefix (``.`` literal, ``*`` any text); one
    without names an exact case. Lets the harness notice a case missing from a report.
    """
    chosen: set[str] = set()
    for pattern in patterns:
        if "*" in pattern:
            regex = re.compile(re.escape(pattern).replace(r"\*", ".*"))
            chosen.update(case for case in ALL_CASE_IDS if regex.match(case))
        elif pattern in ALL_CASE_IDS:
            chosen.add(pattern)
    return sorted(chosen, key=case_sort_key)
