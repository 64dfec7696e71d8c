"""Interoperability with the websockets and aiohttp libraries used directly (asyncio only)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import anyio
import pytest
from aiohttp import web
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve

import ws_channel_core as wc

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]
TIMEOUT = 10
MESSAGES: list[wc.Message] = [
    "",
    b"",
    "Hello World!",
    b"\x01\x02\x03",
    "🎨⛳🌈",
    "y" * 70_000,
    b"\x07" * 300_000,
]
COMPRESSION = pytest.mark.parametrize("compression", ["deflate", None])


async def raw_echo(channel: wc.WebSocketChannel) -> None:
    async for message in channel.stream:
        await channel.sink.add(message)


async def check_raw_client(url: str, compression: str | None) -> None:
    async with wc.connect(url, backend="raw", compression=compression) as channel:  # type: ignore[arg-type]
        for message in MESSAGES:
            await channel.sink.add(message)
            assert await anext(channel.stream) == message
        await channel.sink.add("fragments please")
        assert await anext(channel.stream) == "fragmented message"
        await channel.sink.close(3678, "raisin")
    assert channel.close_sent == wc.CloseFrame(3678, "raisin")
    # websockets echoes the code; aiohttp answers any close with 1000.
    assert channel.close_code in (3678, 1000)


@COMPRESSION
async def test_raw_client_with_websockets_server(anyio_backend: str, compression: str | None) -> None:
    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            if message == "fragments please":
                await ws.send(["fragmented ", "message"])
            else:
                await ws.send(message)

    with anyio.fail_after(TIMEOUT):
        async with ws_serve(handler, "127.0.0.1", 0, compression=compression) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            await check_raw_client(f"ws://127.0.0.1:{port}/", compression)


@asynccontextmanager
async def aiohttp_server(compress: bool) -> AsyncIterator[str]:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=compress)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str("fragmented message" if msg.data == "fragments please" else msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        yield f"ws://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


@COMPRESSION
async def test_raw_client_with_aiohttp_server(anyio_backend: str, compression: str | None) -> None:
    with anyio.fail_after(TIMEOUT):
        async with aiohttp_server(compression is not None) as url:
            await check_raw_client(url, compression)


@asynccontextmanager
async def raw_server(compression: str | None) -> AsyncIterator[str]:
    async with wc.serve(raw_echo, backend="raw", compression=compression) as server:  # type: ignore[arg-type]
        yield f"ws://127.0.0.1:{server.port}/"


@COMPRESSION
async def test_websockets_client_with_raw_server(anyio_backend: str, compression: str | None) -> None:
    with anyio.fail_after(TIMEOUT):
        async with raw_server(compression) as url, ws_connect(url, compression=compression) as ws:
            if compression:
                assert "permessage-deflate" in (ws.response.headers.get("Sec-WebSocket-Extensions") or "")
            for message in MESSAGES:
                await ws.send(message)
                assert await ws.recv() == message
            await ws.send(["fragmented ", "message"])
            assert await ws.recv() == "fragmented message"
            await ws.close(4000, "bye")
            assert ws.close_code == 4000


@COMPRESSION
async def test_aiohttp_client_with_raw_server(anyio_backend: str, compression: str | None) -> None:
    with anyio.fail_after(TIMEOUT):
        async with raw_server(compression) as url, aiohttp.ClientSession() as session:
            async with session.ws_connect(url, compress=15 if compression else 0) as ws:
                for message in MESSAGES:
                    if isinstance(message, str):
                        await ws.send_str(message)
                        assert (await ws.receive()).data == message
                    else:
                        await ws.send_bytes(message)
                        assert (await ws.receive()).data == message
                await ws.close(code=4001, message=b"bye")
            assert ws.close_code == 4001
