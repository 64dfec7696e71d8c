"""The asgi backend in the registry: a server only; serve() options it cannot take raise ValueError."""

from __future__ import annotations

import pytest

from ws_channel_core import available_backends, connect, get_backend, serve

pytest.importorskip("uvicorn")

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_the_asgi_backend_is_a_server_only() -> None:
    assert get_backend("asgi").roles == ("server",)  # type: ignore[attr-defined]
    assert "asgi" in available_backends(role="server")
    assert "asgi" not in available_backends(role="client")


async def test_connect_with_the_asgi_backend_is_a_clear_lookup_error() -> None:
    with pytest.raises(LookupError, match="cannot act as a client"):
        await connect("ws://127.0.0.1:1/", backend="asgi")


async def test_an_unknown_extra_raises_value_error() -> None:
    async def handler(channel: object) -> None:
        return None

    with pytest.raises(ValueError, match="unknown extra"):
        async with serve(handler, backend="asgi", extra={"workers": 2}):
            pass
    with pytest.raises(ValueError, match="extra"):
        async with serve(handler, backend="asgi", extra={"ws": "websockets"}):
            pass


@pytest.mark.parametrize("ws", ["websockets-sansio", "wsproto"])
async def test_serve_runs_on_either_uvicorn_websocket_implementation(ws: str) -> None:
    async def echo(channel):  # type: ignore[no-untyped-def]
        async for message in channel.stream:
            await channel.sink.add(message)

    async with serve(echo, backend="asgi", extra={"ws": ws}) as server:
        async with connect(f"ws://127.0.0.1:{server.port}/", backend="raw") as channel:
            await channel.sink.add("over " + ws)
            assert await anext(channel.stream) == "over " + ws


async def test_aiohttp_route_serves_a_handler() -> None:
    pytest.importorskip("aiohttp")
    from aiohttp import web

    from ws_channel_backends.aiohttp_backend.route import websocket_route

    from ._support import echo

    app = web.Application()
    app.router.add_get("/echo", websocket_route(echo, protocols=["chat"]))
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        for client in available_backends(role="client"):
            async with connect(f"ws://127.0.0.1:{port}/echo", backend=client, protocols=["chat"]) as channel:
                assert channel.protocol == "chat"
                await channel.sink.add(client)
                assert await anext(channel.stream) == client
            assert channel.close_code == 1000
    finally:
        await runner.cleanup()
