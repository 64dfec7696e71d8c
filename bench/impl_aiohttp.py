"""aiohttp used directly (``web.WebSocketResponse`` and ``ClientSession.ws_connect``)."""

from __future__ import annotations

from typing import Any

from bench.common import HOST, MAX_SIZE, Config, Ready

__all__ = ["serve", "open_client"]


async def serve(config: Config, ready: Ready) -> None:
    """Echo every message with an aiohttp application, compression off, no heartbeat."""
    import anyio
    from aiohttp import WSMsgType, web

    async def echo(request: web.Request) -> web.WebSocketResponse:
        response = web.WebSocketResponse(compress=False, max_msg_size=MAX_SIZE)
        await response.prepare(request)
        async for message in response:
            if message.type is WSMsgType.TEXT:
                await response.send_str(message.data)
            elif message.type is WSMsgType.BINARY:
                await response.send_bytes(message.data)
        return response

    application = web.Application()
    application.router.add_get("/", echo)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, HOST, 0)
        await site.start()
        ready(runner.addresses[0][1])
        await anyio.sleep_forever()
    finally:
        await runner.cleanup()


class _Conn:
    def __init__(self, response: Any) -> None:
        self._response = response

    async def send(self, message: str | bytes) -> None:
        if isinstance(message, str):
            await self._response.send_str(message)
        else:
            await self._response.send_bytes(message)

    async def receive(self) -> int:
        from aiohttp import WSMsgType

        message = await self._response.receive()
        if message.type is WSMsgType.TEXT or message.type is WSMsgType.BINARY:
            return len(message.data)
        raise EOFError(f"connection closed ({message.type!r})")

    async def close(self) -> None:
        await self._response.close()


class Client:
    """Connections from one ``ClientSession`` with no connection limit."""

    def __init__(self) -> None:
        import aiohttp

        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def connect(self, port: int) -> _Conn:
        response = await self._session.ws_connect(
            f"ws://{HOST}:{port}/", compress=0, max_msg_size=MAX_SIZE
        )
        return _Conn(response)

    async def aclose(self) -> None:
        await self._session.close()


async def open_client(config: Config) -> Client:
    return Client()
