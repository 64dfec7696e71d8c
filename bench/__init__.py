"""The ws-channel echo benchmark: every backend against the libraries it wraps and plain asyncio.

Server and client run in separate processes on 127.0.0.1. For each stack (a server and client
implementation on one event loop) it measures sequential round trips (16 B and 1 KiB text), pipelined
throughput (1 KiB, 64 KiB and 1 MiB binary) and the server's memory per idle connection. Rounds are
interleaved across stacks and repeated; the table reports medians as ratios to plain asyncio streams
echoing without WebSocket (the reference, 1.00), the spread, and the CPU time per message of client and
server. Run it with ``python -m bench`` (``--quick`` for a short run) or ``ws-channel bench``.

Modules: ``stacks`` (what is measured), ``impl_*`` (one echo server and client per library),
``workloads`` (the measurements, on anyio), ``server`` / ``client`` (the process entry points),
``procstat`` (CPU and memory of a process from /proc), ``runner`` (orchestration, statistics, table).
"""

from __future__ import annotations

__all__: list[str] = []
