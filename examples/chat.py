"""Chat: a room that broadcasts every message to everyone in it, and clients that reconnect.

Run it: ``python examples/chat.py [--backend NAME] [--client-backend NAME]``. Alice and Bob join a
room on 127.0.0.1; the server restarts their connections once (1012) and they come back by
themselves; then the server says bye. ``broadcast`` never waits on a client: one that does not read
fast enough is skipped, not waited for.
"""

from __future__ import annotations

import argparse

import anyio

from ws_channel_core import Backoff, WebSocketChannel, available_backends, broadcast, connect, serve, status

room: set[WebSocketChannel] = set()
present: set[str] = set()  # members who heard their own arrival (how the demo knows who is in)


async def chat(channel: WebSocketChannel) -> None:
    """The server's handler: everything a member says goes to every member."""
    room.add(channel)
    try:
        async for message in channel.stream:
            broadcast(room, message)
    finally:
        room.discard(channel)


async def member(url: str, name: str, backend: str | None) -> None:
    """A client that joins, prints what it hears, and comes back whenever it is dropped."""
    async for channel in connect(url, backend=backend).reconnecting(Backoff(initial_delay=0.05)):
        await channel.sink.add(f"{name} is here")
        async for message in channel.stream:
            print(f"{name} heard: {message!s}")
            if message == f"{name} is here":
                present.add(name)
            if message == "bye":
                return await channel.sink.close()


async def everyone_in() -> None:
    while len(present) < 2:  # noqa: ASYNC110 - a demo: polling is the shortest wait
        await anyio.sleep(0.01)
    present.clear()


async def main(backend: str | None, client_backend: str | None) -> None:
    async with serve(chat, "127.0.0.1", 0, backend=backend) as server, anyio.create_task_group() as members:
        for name in ("alice", "bob"):
            members.start_soon(member, f"ws://127.0.0.1:{server.port}/", name, client_backend)
        await everyone_in()
        for channel in list(room):
            channel.sink.close(status.SERVICE_RESTART)  # they come back by themselves
        await everyone_in()
        broadcast(room, "bye")  # closed channels still in the room are skipped


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--backend", help="the server's backend")
    parser.add_argument("--client-backend", help="the clients' backend (default: the server's if it can)")
    args = parser.parse_args()
    can_be_client = args.backend in available_backends(role="client")
    anyio.run(main, args.backend, args.client_backend or (args.backend if can_be_client else None))
