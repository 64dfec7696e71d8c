"""Test a handler without a network: a connected pair of channels in memory (the raw backend).

Run it: ``python examples/memory_pair.py`` (asyncio) or ``python examples/memory_pair.py --trio``.
``open_memory_pair()`` yields a connected ``(client, server)`` pair speaking real WebSocket frames over
an in-memory byte pipe: no socket, no HTTP handshake, nothing to install beyond ws-channel. The
handler under test is ordinary application code written against ``WebSocketChannel``.
"""

from __future__ import annotations

import argparse

import anyio

from ws_channel_backends.raw.streams import open_memory_pair
from ws_channel_core import ConnectionClosed, WebSocketChannel, run_handler, status


async def shout(channel: WebSocketChannel) -> None:
    """The code under test: answers every text message in capitals, refuses binary with 1003."""
    async for message in channel.stream:
        if isinstance(message, bytes):
            await channel.sink.close(status.UNSUPPORTED_DATA, "text only")
            return
        await channel.sink.add(message.upper())


async def main() -> None:
    async with open_memory_pair() as (client, server), anyio.create_task_group() as task_group:
        task_group.start_soon(run_handler, shout, server)  # what serve() does for each connection
        await client.sink.add("hello")
        assert await anext(client.stream) == "HELLO"
        print("text: answered in capitals")

        await client.sink.add(b"\x00")
        assert [message async for message in client.stream] == []  # the stream ends at the close
        assert (client.close_code, client.close_reason) == (1003, "text only")
        print(f"binary: closed with {client.close_code} ({client.close_reason})")
        try:
            await client.sink.add("too late")
        except ConnectionClosed as error:
            print(f"sending after the close raises {type(error).__name__}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--trio", action="store_true", help="run on trio instead of asyncio")
    anyio.run(main, backend="trio" if parser.parse_args().trio else "asyncio")
