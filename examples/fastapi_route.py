"""A ws-channel handler as a FastAPI route, tested in memory and then served by uvicorn.

Run it: ``python examples/fastapi_route.py [--client-backend NAME]`` (``pip install
'ws-channel[asgi]' fastapi``). The handler is written against ``WebSocketChannel`` only; the route
hands FastAPI's ``WebSocket`` to it with ``wrap()``.

1. ``connect_app(app, url)`` talks to the application object in memory: no server, no socket (what a
   test of the route would do).
2. The same application runs under uvicorn on a free port of 127.0.0.1, and a ws-channel client
   (``--client-backend``, default: the first installed client backend) talks to it over TCP.
"""

from __future__ import annotations

import argparse
import socket

import anyio
import uvicorn
from fastapi import FastAPI, WebSocket

from ws_channel_backends.asgi import connect_app, wrap
from ws_channel_core import InvalidStatus, WebSocketChannel, connect, run_handler


async def greet(channel: WebSocketChannel, name: str) -> None:
    """Answer every message with a greeting; the route's path parameter is an ordinary argument."""
    async for message in channel.stream:
        text = message if isinstance(message, str) else message.decode("utf-8", "replace")
        await channel.sink.add(f"{text}, {name}!")


app = FastAPI()


@app.websocket("/greet/{name}")
async def greet_route(websocket: WebSocket, name: str) -> None:
    # run_handler closes the channel when greet returns (1000), or with 1011 if it raises.
    await run_handler(lambda channel: greet(channel, name), await wrap(websocket))


async def talk(channel: WebSocketChannel, how: str) -> None:
    await channel.sink.add("hello")
    print(f"{how}: received {await anext(channel.stream)!r}")


async def main(client_backend: str | None) -> None:
    # 1. In memory: the application object itself, as in a test.
    async with connect_app(app, "ws://testserver/greet/memory") as in_memory:
        await talk(in_memory, "in memory")
    try:
        async with connect_app(app, "ws://testserver/nowhere"):
            pass
    except InvalidStatus as error:  # no such route: the upgrade is refused
        print(f"in memory: /nowhere refused with HTTP {error.response.status}")

    # 2. Over TCP: uvicorn serves the application on a socket bound here (port 0: a free port).
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, ws="websockets-sansio", lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(server.serve, [sock])
        while not server.started:  # noqa: ASYNC110 (uvicorn offers a flag, not an event)
            await anyio.sleep(0.01)
        async with connect(f"ws://127.0.0.1:{port}/greet/uvicorn", backend=client_backend) as channel:
            await talk(channel, "over TCP")
        server.should_exit = True
    print(f"over TCP: closed with code {channel.close_code}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--client-backend", help="the client's backend (default: the first installed)")
    anyio.run(main, parser.parse_args().client_backend)
