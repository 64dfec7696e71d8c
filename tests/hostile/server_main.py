"""An echo server for the hostile-peer tests, run in its own process: ``python -m tests.hostile.server_main``.

Arguments: the backend name and a JSON object of ``serve()`` options. Prints the port, then serves until
its standard input closes. Its own process, so that its memory (RSS) and descriptors are its own.
"""

from __future__ import annotations

import json
import sys

import anyio
import anyio.to_thread

from ws_channel_core import WebSocketChannel, serve


async def echo(channel: WebSocketChannel) -> None:
    """Answer every message with itself."""
    async for message in channel.stream:
        await channel.sink.add(message)


async def main(backend: str, options: dict[str, float]) -> None:
    """Serve on 127.0.0.1 until stdin closes."""
    async with serve(echo, "127.0.0.1", 0, backend=backend, **options) as server:  # type: ignore[arg-type]
        print(server.port, flush=True)
        await anyio.to_thread.run_sync(sys.stdin.read)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], json.loads(sys.argv[2]))
