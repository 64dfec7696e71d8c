"""Orchestration: start servers, run clients in interleaved rounds, measure memory, print the table.

Each round of a stack is preceded by a round of the reference (its anchor), and a stack's ratio is
the median of its round-by-round ratios to those anchors: on a shared machine the load drifts over
seconds, and a reference measured a minute earlier says little about the conditions of this round.

Usage: ``python -m bench [--quick | --smoke] [--json PATH] [--rounds N] [--connections N]
[--stack NAME]... [--backend NAME]... [--placement split|shared|free]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench.placement import PLACEMENTS, Placement, choose, pin
from bench.procstat import rss_kib
from bench.stacks import REFERENCE, Stack, discover
from bench.workloads import WORKLOADS

__all__ = ["Profile", "PROFILES", "main"]

ROOT = Path(__file__).resolve().parent.parent
#: What every WebSocket stack is configured with, so that they compare fairly.
SETTINGS = "compression off, keepalive pings off, max_size 2 MiB, write limit 64 KiB, max_queue 16"


@dataclass(frozen=True)
class Profile:
    """How long and how often: seconds per workload, interleaved rounds, idle connections."""

    duration: float
    rounds: int
    connections: int


PROFILES = {
    "full": Profile(duration=1.0, rounds=3, connections=10000),
    "quick": Profile(duration=0.12, rounds=2, connections=100),
    "smoke": Profile(duration=0.02, rounds=1, connections=10),
}


class BenchError(Exception):
    """A stack failed to start or to finish a round."""


@dataclass
class Measurements:
    """Everything measured for one stack across rounds."""

    throughput: dict[str, list[float]] = field(default_factory=dict)
    client_cpu_us: dict[str, list[float]] = field(default_factory=dict)
    server_cpu_us: dict[str, list[float]] = field(default_factory=dict)
    idle_kib: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: The reference's throughput measured right before each of this stack's rounds (its anchor).
    anchor: dict[str, list[float]] = field(default_factory=dict)


def _environment(stack: Stack) -> dict[str, str]:
    environment = {**os.environ, **stack.env}
    environment["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [environment.get("PYTHONPATH")])])
    return environment


def _read_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    """The next stdout line of ``process``, waiting at most ``timeout`` seconds."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        raise BenchError(f"no answer within {timeout:.0f} s")
    line = process.stdout.readline()
    if not line:
        raise BenchError(f"exited with status {process.wait()}")
    return line.decode().strip()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            pipe.close()


class Server:
    """An echo server process for one stack."""

    def __init__(self, stack: Stack, placement: Placement) -> None:
        self.stack = stack
        self.placement = placement
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.server", stack.to_json()],
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=_environment(stack),
        )
        pin(self.process.pid, placement.server)
        self.port = 0

    def wait_ready(self, timeout: float = 60.0) -> None:
        try:
            line = _read_line(self.process, timeout)
        except BenchError as exc:
            raise BenchError(f"server did not start: {exc}{self.log_tail()}") from None
        if not line.startswith("PORT "):
            raise BenchError(f"server said {line!r} instead of its port")
        self.port = int(line.split()[1])

    def log_tail(self) -> str:
        self.log.seek(0)
        lines = self.log.read().decode(errors="replace").strip().splitlines()
        return f": {lines[-1]}" if lines else ""

    def stop(self) -> None:
        _stop(self.process)
        self.log.close()


def _client(stack: Stack, server: Server, plan: dict[str, Any]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.client", stack.to_json(), str(server.port), str(server.process.pid),
         json.dumps(plan)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_environment(stack),
    )
    pin(process.pid, server.placement.client)
    return process


def _measure_round(stack: Stack, server: Server, profile: Profile, into: Measurements) -> None:
    plan = {"mode": "measure", "duration": profile.duration, "workloads": [w.name for w in WORKLOADS]}
    process = _client(stack, server, plan)
    timeout = 20 + 20 * profile.duration * len(WORKLOADS)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        done = [json.loads(line)["workload"] for line in out.decode().splitlines()]
        names = [w.name for w in WORKLOADS]
        stuck = names[len(done)] if len(done) < len(names) else "closing"
        detail = f"client hung in {stuck} (no result within {timeout:.0f} s)"
        raise BenchError(f"{detail}{server.log_tail()}") from None
    if process.returncode != 0:
        last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no error output"]
        raise BenchError(f"client failed ({process.returncode}): {last[0]}")
    for line in out.decode().splitlines():
        result = json.loads(line)
        name, count = result["workload"], result["count"]
        workload = next(w for w in WORKLOADS if w.name == name)
        value = count / result["elapsed"] if workload.kind == "rt" else result["payload_bytes"] / result[
            "elapsed"] / 1e6
        into.throughput.setdefault(name, []).append(value)
        into.client_cpu_us.setdefault(name, []).append(result["client_cpu"] / count * 1e6)
        into.server_cpu_us.setdefault(name, []).append(result["server_cpu"] / count * 1e6)


def _measure_anchor(reference: Server, profile: Profile, into: Measurements) -> None:
    """Measure the reference right before a stack's round: the load on a shared machine drifts over
    seconds, so each round's ratio is taken against the reference measured next to it in time."""
    anchor = Measurements()
    try:
        _measure_round(REFERENCE, reference, profile, anchor)
    except BenchError as exc:  # this round's ratio falls back to the reference's median
        _progress(f"  {REFERENCE.name} (anchor): FAILED {exc}")
        return
    for name, values in anchor.throughput.items():
        into.anchor.setdefault(name, []).extend(values)


def _settled_rss(pid: int) -> int:
    """The server's RSS once it stopped changing (two equal reads 50 ms apart, at most 2 s)."""
    previous = rss_kib(pid)
    for _ in range(40):
        time.sleep(0.05)
        current = rss_kib(pid)
        if current == previous:
            return current
        previous = current
    return previous


def _measure_idle(stack: Stack, server: Server, count: int) -> float:
    """KiB of server RSS per idle connection, with ``count`` connections open."""
    process = _client(stack, server, {"mode": "idle", "count": count})
    try:
        if _read_line(process, 60) != "WARM":
            raise BenchError("idle client did not warm up")
        before = _settled_rss(server.process.pid)
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        process.stdin.flush()
        line = _read_line(process, 60 + count * 0.1)
        if not line.startswith("OPEN "):
            raise BenchError(f"idle client said {line!r}")
        opened = int(line.split()[1])
        after = _settled_rss(server.process.pid)
    except BenchError as exc:
        assert process.stderr is not None
        _stop(process)
        last = process.stderr.read().decode(errors="replace").strip().splitlines()[-1:]
        process.stderr.close()
        raise BenchError(f"{exc}{': ' + last[0] if last else ''}{server.log_tail()}") from None
    _stop(process)
    assert process.stderr is not None
    process.stderr.close()
    return (after - before) / opened


def _start_all(
    stacks: Sequence[Stack], results: dict[str, Measurements], placement: Placement
) -> dict[str, Server]:
    servers = {stack.name: Server(stack, placement) for stack in stacks}
    for name, server in list(servers.items()):
        try:
            server.wait_ready()
        except BenchError as exc:
            results[name].errors.append(str(exc))
            server.stop()
            del servers[name]
    return servers


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run(
    stacks: Sequence[Stack], profile: Profile, placement: Placement, memory: bool = True
) -> dict[str, Measurements]:
    """Measure every stack: throughput rounds, then memory rounds, both interleaved across stacks."""
    results = {stack.name: Measurements() for stack in stacks}
    servers = _start_all(stacks, results, placement)
    try:
        for round_index in range(profile.rounds):
            shift = round_index % len(stacks)
            order = [*stacks[shift:], *stacks[:shift]]
            _progress(f"round {round_index + 1}/{profile.rounds}: throughput")
            for stack in order:
                if stack.name not in servers or results[stack.name].errors:
                    continue
                started = time.perf_counter()
                try:
                    if stack.name != REFERENCE.name and REFERENCE.name in servers:
                        _measure_anchor(servers[REFERENCE.name], profile, results[stack.name])
                    _measure_round(stack, servers[stack.name], profile, results[stack.name])
                except BenchError as exc:
                    results[stack.name].errors.append(str(exc))
                    _progress(f"  {stack.name}: FAILED {exc}")
                else:
                    _progress(f"  {stack.name}: {time.perf_counter() - started:.1f} s")
    finally:
        for server in servers.values():
            server.stop()
    if not memory:
        return results
    for round_index in range(profile.rounds):
        _progress(f"round {round_index + 1}/{profile.rounds}: {profile.connections} idle connections")
        alive = [stack for stack in stacks if not results[stack.name].errors]
        fresh = _start_all(alive, results, placement)
        try:
            shift = round_index % max(len(alive), 1)
            for stack in [*alive[shift:], *alive[:shift]]:
                idle_server = fresh.get(stack.name)
                if idle_server is None:
                    continue
                try:
                    kib = _measure_idle(stack, idle_server, profile.connections)
                except BenchError as exc:
                    results[stack.name].errors.append(f"idle connections: {exc}")
                    _progress(f"  {stack.name}: FAILED {exc}")
                else:
                    results[stack.name].idle_kib.append(kib)
                    _progress(f"  {stack.name}: {kib:.1f} KiB per connection")
                finally:
                    idle_server.stop()
        finally:
            for idle_server in fresh.values():
                idle_server.stop()
    return results


# -- statistics and reports ---------------------------------------------------------------------


def _summary(values: list[float]) -> dict[str, Any] | None:
    if not values:
        return None
    median = statistics.median(values)
    spread = (max(values) - min(values)) / median * 100 if median else 0.0
    return {"median": median, "min": min(values), "max": max(values), "spread_percent": spread}


def _ratio(
    measured: Measurements, reference: Measurements | None, workload: str, is_reference: bool
) -> float | None:
    """The median of the round-by-round ratios to the reference measured right before each round
    (paired); without anchors (the reference failed), the ratio of the medians."""
    if is_reference:
        return 1.0
    values = measured.throughput.get(workload, [])
    anchors = measured.anchor.get(workload, [])
    if len(anchors) == len(values) and values and all(anchors):
        return statistics.median(value / anchor for value, anchor in zip(values, anchors, strict=True))
    base = _summary(reference.throughput.get(workload, [])) if reference else None
    return statistics.median(values) / base["median"] if base and base["median"] and values else None


def summarize(stacks: Sequence[Stack], results: dict[str, Measurements]) -> dict[str, Any]:
    """Medians, spreads, ratios to the reference and CPU per message, as a JSON-ready dict."""
    reference = results.get(REFERENCE.name)
    table: dict[str, Any] = {}
    for stack in stacks:
        measured = results[stack.name]
        row: dict[str, Any] = {"label": stack.label, "loop": stack.loop, "errors": measured.errors}
        for workload in WORKLOADS:
            summary = _summary(measured.throughput.get(workload.name, []))
            if summary is None:
                continue
            summary["ratio"] = _ratio(measured, reference, workload.name, stack.name == REFERENCE.name)
            summary["unit"] = "round trips/s" if workload.kind == "rt" else "MB/s"
            summary["values"] = measured.throughput[workload.name]
            summary["anchor_values"] = measured.anchor.get(workload.name, [])
            summary["client_cpu_us_per_message"] = statistics.median(measured.client_cpu_us[workload.name])
            summary["server_cpu_us_per_message"] = statistics.median(measured.server_cpu_us[workload.name])
            row[workload.name] = summary
        idle = _summary(measured.idle_kib)
        if idle is not None:
            idle["values"] = measured.idle_kib
            idle["unit"] = "KiB per idle connection (server RSS)"
            row["idle"] = idle
        table[stack.name] = row
    return table


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(header)) + " |"]
    rules = ("-" * (width + 1) + ":" if i else "-" * (width + 2) for i, width in enumerate(widths))
    lines.append("|" + "|".join(rules) + "|")
    for row in rows:
        lines.append("| " + " | ".join(
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ) + " |")
    return "\n".join(lines)


def format_tables(table: dict[str, Any]) -> str:
    """Three Markdown tables: ratio (absolute), spread, CPU per message."""
    titles = [w.title for w in WORKLOADS]
    header = ["stack", *titles, "KiB per idle conn"]
    ratios, spreads, cpu = [], [], []
    for name, row in table.items():
        ratio_cells, spread_cells, cpu_cells = [name], [name], [name]
        for workload in WORKLOADS:
            cell = row.get(workload.name)
            if cell is None:
                ratio_cells.append("failed" if row["errors"] else "-")
                spread_cells.append("-")
                cpu_cells.append("-")
                continue
            ratio = f"{cell['ratio']:.2f}" if cell["ratio"] is not None else "-"
            ratio_cells.append(f"{ratio} ({_number(cell['median'])})")
            spread_cells.append(f"{cell['spread_percent']:.0f}%")
            client_cpu, server_cpu = cell["client_cpu_us_per_message"], cell["server_cpu_us_per_message"]
            cpu_cells.append(f"{client_cpu:.0f} / {server_cpu:.0f}")
        idle = row.get("idle")
        ratio_cells.append(f"{idle['median']:.1f}" if idle else ("failed" if row["errors"] else "-"))
        spread_cells.append(f"{idle['spread_percent']:.0f}%" if idle else "-")
        ratios.append(ratio_cells)
        spreads.append(spread_cells)
        cpu.append(cpu_cells)
    return "\n\n".join([
        "Median ratio to asyncio streams, each round paired with the reference measured right before it "
        "(absolute median: round trips/s, MB/s of payload echoed; KiB per idle connection of server "
        "RSS):\n\n" + _markdown(header, ratios),
        "Spread across rounds ((max - min) / median):\n\n" + _markdown(header, spreads),
        "CPU time per message, microseconds, client / server:\n\n" + _markdown(header[:-1], cpu),
    ])


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Echo benchmark of every ws-channel backend against the libraries it wraps and "
        "plain asyncio streams (the reference, 1.00). Server and client run in separate processes.",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="short rounds, 100 idle connections (~1 min)")
    size.add_argument("--smoke", action="store_true", help="tiny counts, to check that it runs")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--rounds", type=int, metavar="N", help="interleaved rounds (default: 3, quick 2)")
    parser.add_argument("--duration", type=float, metavar="S", help="seconds per workload (default: 1)")
    parser.add_argument("--connections", type=int, metavar="N", help="idle connections (default: 10,000)")
    parser.add_argument("--no-memory", action="store_true", help="skip the idle-connection measurement")
    parser.add_argument("--stack", action="append", metavar="NAME",
                        help="measure only this stack (repeatable; the reference is always included)")
    parser.add_argument("--backend", action="append", metavar="NAME",
                        help="ws-channel backends to measure (default: every installed one)")
    parser.add_argument("--placement", choices=PLACEMENTS,
                        help="CPUs of server and client: split (one each, the default on 2+ CPUs), "
                        "shared (both on one) or free (the scheduler's choice)")
    parser.add_argument("--list", action="store_true", help="list the stacks and exit")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the tables; return the exit status (1 when a stack failed)."""
    args = _parse(argv)
    base = PROFILES["quick" if args.quick else "smoke" if args.smoke else "full"]
    profile = Profile(
        duration=args.duration or base.duration,
        rounds=args.rounds or base.rounds,
        connections=args.connections or base.connections,
    )
    if profile.rounds < 1 or profile.connections < 1 or profile.duration <= 0:
        print("bench: error: rounds, connections and duration must be positive", file=sys.stderr)
        return 2
    try:
        placement = choose(args.placement)
    except ValueError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    stacks, notes = discover(args.backend)
    if args.list:
        for stack in stacks:
            print(f"{stack.name:<28} {stack.label}")
        for note in notes:
            print(f"skipped: {note}")
        return 0
    if args.stack:
        known = {stack.name for stack in stacks}
        unknown = [name for name in args.stack if name not in known]
        if unknown:
            print(f"bench: error: unknown stack {', '.join(unknown)}; available: {', '.join(sorted(known))}",
                  file=sys.stderr)
            return 2
        stacks = [s for s in stacks if s.name in args.stack or s.name == REFERENCE.name]
    started = time.perf_counter()
    results = run(stacks, profile, placement, memory=not args.no_memory)
    table = summarize(stacks, results)
    print(format_tables(table))
    for note in notes:
        print(f"note: {note}")
    failed = {name: row["errors"] for name, row in table.items() if row["errors"]}
    for name, errors in failed.items():
        print(f"FAILED {name}: {errors[0]}")
    elapsed = time.perf_counter() - started
    print(f"({profile.rounds} rounds, {profile.duration} s per workload, {profile.connections} idle "
          f"connections; {placement.describe()}; Python {platform.python_version()}, {os.cpu_count()} CPUs; "
          f"{elapsed:.0f} s)")
    if args.json:
        document = {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "profile": profile.__dict__,
            "settings": SETTINGS,
            "placement": placement.describe(),
            "reference": REFERENCE.name,
            "notes": notes,
            "stacks": table,
            "elapsed_seconds": elapsed,
        }
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 1 if failed else 0
