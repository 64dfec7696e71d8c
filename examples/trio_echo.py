"""The echo server and client of ``echo.py``, on trio: the same ws-channel code under ``trio.run``.

Run it: ``python examples/trio_echo.py [--backend NAME]`` (``pip install 'ws-channel[trio]'``).
Backends that run on trio: ``raw`` (the default here) and ``websockets``; ``ws-channel backends``
shows each backend's event loops. trio's own nurseries and ws-channel's context managers nest freely.
"""

from __future__ import annotations

import argparse

import trio

from ws_channel_core import WebSocketChannel, connect, serve, status


async def echo(channel: WebSocketChannel) -> None:
    async for message in channel.stream:
        await channel.sink.add(message)


async def client(url: str, name: str, backend: str) -> None:
    async with connect(url, backend=backend) as channel:
        await channel.sink.add(f"hello from {name}")
        print(f"{name} received {await anext(channel.stream)!r}")
        await channel.sink.close(status.NORMAL_CLOSURE)
    print(f"{name} closed with code {channel.close_code}")


async def main(backend: str) -> None:
    async with serve(echo, "127.0.0.1", 0, backend=backend) as server:
        print(f"server listening on port {server.port} (trio {trio.__version__})")
        async with trio.open_nursery() as nursery:  # three clients at once
            for name in ("client 1", "client 2", "client 3"):
                nursery.start_soon(client, f"ws://127.0.0.1:{server.port}/", name, backend)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--backend", default="raw", help="a backend that runs on trio (default: raw)")
    trio.run(main, parser.parse_args().backend)
