"""Echo: a server that sends every message back, and a client that talks to it.

Run it: ``python examples/echo.py [--backend NAME] [--client-backend NAME]``. It starts the server on
a free port of 127.0.0.1, runs the client against it, prints what happened and exits. ``--backend``
picks the server's backend (default: ``WS_CHANNEL_BACKEND``, else the first installed one); the client
uses the same backend when it can act as a client, else the default client backend (``asgi`` is a
server only).
"""

from __future__ import annotations

import argparse

import anyio

from ws_channel_core import WebSocketChannel, available_backends, connect, serve, status


async def echo(channel: WebSocketChannel) -> None:
    """The server's handler: runs once per connection; the channel closes (1000) when it returns."""
    async for message in channel.stream:  # str for text, bytes for binary; ends when the peer closes
        await channel.sink.add(message)


async def talk(channel: WebSocketChannel) -> None:
    """The client: send a text and a binary message, print the answers, then close."""
    await channel.sink.add("hello")
    await channel.sink.add(b"\x00\x01\x02")
    replies = 0
    async for message in channel.stream:
        print(f"client received {message!r}")
        replies += 1
        if replies == 2:
            await channel.sink.close(status.NORMAL_CLOSURE, "done")  # the stream then ends


async def main(backend: str | None, client_backend: str | None) -> None:
    async with serve(echo, "127.0.0.1", 0, backend=backend) as server:
        print(f"server listening on port {server.port}")
        async with connect(f"ws://127.0.0.1:{server.port}/", backend=client_backend) as channel:
            await talk(channel)
        print(f"closed with code {channel.close_code} ({channel.close_reason})")


def client_backend_for(backend: str | None) -> str | None:
    """The server's backend when it can be a client too, else ``None`` (the default client backend)."""
    return backend if backend in available_backends(role="client") else None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--backend", help="the server's backend")
    parser.add_argument("--client-backend", help="the client's backend (default: see above)")
    args = parser.parse_args()
    anyio.run(main, args.backend, args.client_backend or client_backend_for(args.backend))
