"""A ws-channel backend through the public front doors ``ws_channel_core.connect`` / ``serve``."""

from __future__ import annotations

from collections.abc import AsyncIterator
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
    """Echo every message with ``ws_channel_core.serve`` on ``config["backend"]``."""
    from ws_channel_core import ConnectionClosed, WebSocketChannel
    from ws_channel_core import serve as channel_serve

    async def echo(channel: WebSocketChannel) -> None:
        try:
            async for message in channel.stream:
                await channel.sink.add(message)
        except ConnectionClosed:
            pass

    async with channel_serve(echo, HOST, 0, backend=config["backend"], **OPTIONS) as server:
        ready(server.port)
        await server.serve_forever()


class _Conn:
    def __init__(self, channel: Any) -> None:
        self._channel = channel
        self._sink = channel.sink
        self._stream: AsyncIterator[str | bytes] = channel.stream

    async def send(self, message: str | bytes) -> None:
        await self._sink.add(message)

    async def receive(self) -> int:
        try:
            message = await self._stream.__anext__()
        except StopAsyncIteration:
            raise EOFError(f"connection closed ({self._channel.close_code})") from None
        return len(message)

    async def close(self) -> None:
        await self._sink.close(1000)


class Client:
    """Connections with ``ws_channel_core.connect`` on ``config["backend"]``."""

    def __init__(self, backend: str) -> None:
        self._backend = backend

    async def connect(self, port: int) -> _Conn:
        from ws_channel_core import connect

        return _Conn(await connect(f"ws://{HOST}:{port}/", backend=self._backend, **OPTIONS))

    async def aclose(self) -> None:
        return None


async def open_client(config: Config) -> Client:
    # A server-only backend (asgi) is measured with another backend's client.
    return Client(config.get("client_backend", config["backend"]))
