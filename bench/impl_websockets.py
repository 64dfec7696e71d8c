"""websockets used directly (its asyncio API), configured like ws-channel's websockets backend."""

from __future__ import annotations

from typing import Any

from bench.common import HOST, MAX_SIZE, WRITE_LIMIT, Config, Ready

__all__ = ["serve", "open_client", "OPTIONS"]

#: Compression and keepalive off, the same limits as every other stack.
OPTIONS: dict[str, Any] = {
    "compression": None,
    "max_size": MAX_SIZE,
    "ping_interval": None,
    "max_queue": 16,
    "write_limit": WRITE_LIMIT,
}


async def serve(config: Config, ready: Ready) -> None:
    """Echo every message with ``websockets.asyncio.server.serve``."""
    from websockets.asyncio.server import ServerConnection
    from websockets.asyncio.server import serve as ws_serve
    from websockets.exceptions import ConnectionClosed

    async def echo(connection: ServerConnection) -> None:
        try:
            async for message in connection:
                await connection.send(message)
        except ConnectionClosed:
            pass

    async with ws_serve(echo, HOST, 0, **OPTIONS) as server:
        ready(next(iter(server.sockets)).getsockname()[1])
        await server.serve_forever()


class _Conn:
    def __init__(self, connection: Any) -> None:
        self._connection = connection

    async def send(self, message: str | bytes) -> None:
        await self._connection.send(message)

    async def receive(self) -> int:
        from websockets.exceptions import ConnectionClosed

        try:
            message = await self._connection.recv()
        except ConnectionClosed as exc:
            raise EOFError(str(exc)) from exc
        return len(message)

    async def close(self) -> None:
        await self._connection.close()


class Client:
    """Connections with ``websockets.asyncio.client.connect``."""

    async def connect(self, port: int) -> _Conn:
        from websockets.asyncio.client import connect

        return _Conn(await connect(f"ws://{HOST}:{port}/", **OPTIONS))

    async def aclose(self) -> None:
        return None


async def open_client(config: Config) -> Client:
    return Client()
