"""Where the server and client processes run: pinned to CPUs, so that every stack gets the same placement.

On a small machine the scheduler's choice dominates a round trip: with the server and client on one
CPU a 16 B round trip costs about a third of what it costs across two CPUs (no cross-CPU wake-up), and
the choice sticks to a process for its life. Left to the scheduler, one stack may run a whole round
on one CPU and the next across two, which made the ratios swing by 20-50% between runs. Pinning
removes that: every stack, the reference included, runs with the same placement.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["Placement", "PLACEMENTS", "choose", "pin"]

#: The placements ``--placement`` accepts.
PLACEMENTS = ("split", "shared", "free")


@dataclass(frozen=True)
class Placement:
    """The CPUs of the server and the client process (``None``: left to the scheduler)."""

    name: str
    server: frozenset[int] | None
    client: frozenset[int] | None

    def describe(self) -> str:
        if self.server is None or self.client is None:
            return "processes placed by the scheduler"
        if self.server == self.client:
            return f"server and client pinned together to CPU {_cpus(self.server)}"
        return f"server pinned to CPU {_cpus(self.server)}, client to CPU {_cpus(self.client)}"


def _cpus(cpus: frozenset[int]) -> str:
    return ",".join(map(str, sorted(cpus)))


def _available() -> list[int]:
    affinity = getattr(os, "sched_getaffinity", None)
    return sorted(affinity(0)) if affinity is not None else []


def choose(name: str | None) -> Placement:
    """The placement called ``name``; by default ``split`` where there are two CPUs, else ``free``.

    ``split`` puts the server on one CPU and the client on another (as a server and its remote
    clients are); ``shared`` puts both on one CPU (a round trip then costs the CPU time of both
    sides and nothing else); ``free`` leaves it to the scheduler.
    """
    cpus = _available()
    if name is None:
        name = "split" if len(cpus) >= 2 else "free"
    if name == "free" or not cpus:
        return Placement("free", None, None)
    if name == "shared":
        return Placement(name, frozenset(cpus[:1]), frozenset(cpus[:1]))
    if name == "split":
        if len(cpus) < 2:
            raise ValueError("placement 'split' needs two CPUs; this process may use one")
        return Placement(name, frozenset(cpus[:1]), frozenset(cpus[1:2]))
    raise ValueError(f"unknown placement {name!r}; choose one of {', '.join(PLACEMENTS)}")


def pin(pid: int, cpus: frozenset[int] | None) -> None:
    """Pin the process ``pid`` (right after it started, before it made threads) to ``cpus``."""
    if cpus is not None:
        os.sched_setaffinity(pid, cpus)
