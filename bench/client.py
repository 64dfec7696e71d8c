"""Client process: ``python -m bench.client STACK_JSON PORT SERVER_PID PLAN_JSON``.

Mode ``measure``: one connection runs every workload of the plan and prints one JSON line per result.
Mode ``idle``: one warm connection (a round trip), then ``WARM``; after a line on stdin, ``count``
more connections, then ``OPEN n``; then it waits for stdin to close and exits without cleaning up.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

import anyio
import anyio.to_thread

from bench.common import Client, ClientFactory
from bench.procstat import raise_fd_limit
from bench.stacks import Stack, run_on_loop
from bench.workloads import WORKLOADS, open_idle, run_workload

__all__ = ["main"]


async def _measure(client: Client, port: int, server_pid: int, plan: dict[str, Any]) -> None:
    conn = await client.connect(port)
    wanted = set(plan["workloads"])
    for workload in WORKLOADS:
        if workload.name in wanted:
            result = await run_workload(conn, workload, plan["duration"], server_pid)
            print(json.dumps(result.as_dict()), flush=True)
    await conn.close()


async def _idle(client: Client, port: int, plan: dict[str, Any]) -> None:
    warm = await client.connect(port)
    await warm.send("warm-up")
    await warm.receive()
    print("WARM", flush=True)
    await anyio.to_thread.run_sync(sys.stdin.readline)
    conns = await open_idle(client, port, plan["count"])
    print(f"OPEN {len(conns)}", flush=True)
    await anyio.to_thread.run_sync(sys.stdin.read)
    sys.stdout.flush()
    os._exit(0)  # a thousand closing handshakes would only slow the run down


async def _main(stack: Stack, port: int, server_pid: int, plan: dict[str, Any]) -> None:
    factory: ClientFactory = getattr(importlib.import_module(stack.module), stack.client)
    client = await factory(stack.config)
    try:
        if plan["mode"] == "idle":
            await _idle(client, port, plan)
        else:
            await _measure(client, port, server_pid, plan)
    finally:
        await client.aclose()


def main(argv: list[str]) -> int:
    raise_fd_limit()
    stack = Stack.from_json(argv[0])
    run_on_loop(stack.loop, _main, stack, int(argv[1]), int(argv[2]), json.loads(argv[3]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
