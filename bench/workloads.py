"""The measurements, written once on anyio for every stack: round trips, pipelining, idle connections.

Each timed workload runs until its duration elapsed and at least ``min_count`` messages went through,
after a short warm-up, and reports the message count, the elapsed time and the CPU time of this
process (``time.process_time``) and of the server process (from /proc).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import anyio

from bench.common import Client, Conn
from bench.procstat import cpu_seconds

__all__ = ["Workload", "Result", "WORKLOADS", "payload", "run_workload", "open_idle"]


@dataclass(frozen=True)
class Workload:
    """One measurement: ``kind`` is ``"rt"`` (sequential round trips) or ``"pipe"`` (pipelined)."""

    name: str
    title: str
    kind: str
    size: int
    text: bool
    min_count: int


#: The workloads, in table order.
WORKLOADS: tuple[Workload, ...] = (
    Workload("rt16", "16 B round trips", "rt", 16, True, 50),
    Workload("rt1k", "1 KiB round trips", "rt", 1024, True, 50),
    Workload("pipe1k", "1 KiB pipelined", "pipe", 1024, False, 200),
    Workload("pipe64k", "64 KiB pipelined", "pipe", 2**16, False, 20),
    Workload("pipe1m", "1 MiB pipelined", "pipe", 2**20, False, 4),
)


@dataclass(frozen=True)
class Result:
    """What one workload measured in one round."""

    workload: str
    count: int
    elapsed: float
    payload_bytes: int
    client_cpu: float
    server_cpu: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def payload(workload: Workload) -> str | bytes:
    """The message a workload sends: ASCII text, or a fixed byte pattern (nothing compresses anyway)."""
    if workload.text:
        return ("0123456789abcdef" * (workload.size // 16 + 1))[: workload.size]
    return (bytes(range(256)) * (workload.size // 256 + 1))[: workload.size]


async def _round_trip(conn: Conn, message: str | bytes, size: int) -> None:
    await conn.send(message)
    received = 0
    while received < size:
        received += await conn.receive()


async def _round_trips(conn: Conn, message: str | bytes, size: int, duration: float, minimum: int) -> int:
    count = 0
    deadline = time.perf_counter() + duration
    while count < minimum or time.perf_counter() < deadline:
        await _round_trip(conn, message, size)
        count += 1
    return count


async def _pipelined(conn: Conn, message: str | bytes, size: int, duration: float, minimum: int) -> int:
    """Send without waiting while a second task reads the echoes; return the messages echoed."""
    sent = 0
    received = 0
    sending_done = False
    deadline = time.perf_counter() + duration
    with anyio.CancelScope() as reading:

        async def send_all() -> None:
            nonlocal sent, sending_done
            while sent < minimum or time.perf_counter() < deadline:
                await conn.send(message)
                sent += 1
            sending_done = True
            if received >= sent * size:
                reading.cancel()

        async with anyio.create_task_group() as group:
            group.start_soon(send_all)
            while not (sending_done and received >= sent * size):
                received += await conn.receive()
            reading.cancel()
    return sent


async def run_workload(conn: Conn, workload: Workload, duration: float, server_pid: int) -> Result:
    """Warm up, then measure ``workload`` on ``conn`` for about ``duration`` seconds."""
    message = payload(workload)
    for _ in range(3 if workload.size >= 2**16 else 20):
        await _round_trip(conn, message, workload.size)
    server_before = cpu_seconds(server_pid)
    client_before = time.process_time()
    start = time.perf_counter()
    if workload.kind == "rt":
        count = await _round_trips(conn, message, workload.size, duration, workload.min_count)
    else:
        count = await _pipelined(conn, message, workload.size, duration, workload.min_count)
    elapsed = time.perf_counter() - start
    return Result(
        workload=workload.name,
        count=count,
        elapsed=elapsed,
        payload_bytes=count * workload.size,
        client_cpu=time.process_time() - client_before,
        server_cpu=cpu_seconds(server_pid) - server_before,
    )


async def open_idle(client: Client, port: int, count: int, concurrency: int = 32) -> list[Conn]:
    """Open ``count`` connections, ``concurrency`` handshakes at a time, and leave them idle."""
    conns: list[Conn] = []
    limiter = anyio.Semaphore(concurrency)

    async def open_one() -> None:
        async with limiter:
            conns.append(await client.connect(port))

    async with anyio.create_task_group() as group:
        for _ in range(count):
            group.start_soon(open_one)
    return conns
