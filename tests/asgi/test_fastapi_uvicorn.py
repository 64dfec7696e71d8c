"""A FastAPI application under uvicorn serves a handler written only against ``ws_channel_core``;
every client backend talks to it."""

from __future__ import annotations

import pytest

from ws_channel_core import InvalidStatus, available_backends, connect

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from fastapi import FastAPI, WebSocket

from ws_channel_backends.asgi import wrap

from ._support import make_app, uvicorn_running

pytestmark = pytest.mark.anyio

CLIENTS = available_backends(role="client")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # uvicorn runs on asyncio


@pytest.mark.parametrize("client", CLIENTS)
async def test_every_client_backend_talks_to_a_fastapi_route(client: str) -> None:
    async with uvicorn_running(make_app()) as port:
        url = f"ws://127.0.0.1:{port}/echo"
        async with connect(url, backend=client, protocols=["chat"]) as channel:
            assert channel.protocol == "chat"
            for message in ["hello", b"\x00\x01", "é" * 1000]:
                await channel.sink.add(message)
                assert await anext(channel.stream) == message
        assert channel.close_code == 1000


@pytest.mark.parametrize("client", CLIENTS)
async def test_every_client_backend_talks_to_an_asgi_app_mounted_in_fastapi(client: str) -> None:
    async with uvicorn_running(make_app()) as port:
        async with connect(f"ws://127.0.0.1:{port}/mounted/", backend=client) as channel:
            assert channel.response is not None
            assert channel.response.headers.get("X-Served-By") == "ws-channel"
            await channel.sink.add("through the mount")
            assert await anext(channel.stream) == "through the mount"


async def test_a_route_refusing_before_the_accept_is_a_403() -> None:
    async with uvicorn_running(make_app()) as port:
        with pytest.raises(InvalidStatus) as caught:
            await connect(f"ws://127.0.0.1:{port}/private", backend="raw")
        assert caught.value.response.status == 403
        async with connect(
            f"ws://127.0.0.1:{port}/private", backend="raw", headers={"Authorization": "Bearer sesame"}
        ) as channel:
            await channel.sink.add("let in")
            assert await anext(channel.stream) == "let in"


async def test_the_server_channel_knows_the_request_from_the_scope() -> None:
    seen: list[object] = []
    app = FastAPI()

    @app.websocket("/where")
    async def where(websocket: WebSocket) -> None:
        channel = await wrap(websocket, headers={"Set-Cookie": "a=1"})
        seen.extend([channel.request, channel.response, channel.remote_address, channel.server_side])
        await channel.close(3000, "bye")

    async with uvicorn_running(app) as port:
        async with connect(f"ws://127.0.0.1:{port}/where?x=1&x=2", backend="raw") as channel:
            assert await anext(channel.stream, None) is None
            assert (channel.close_code, channel.close_reason) == (3000, "bye")
            assert channel.response is not None and channel.response.headers.get("Set-Cookie") == "a=1"
    request, response, remote, server_side = seen
    assert request.raw_path == "/where?x=1&x=2" and request.query == {"x": ["1", "2"]}  # type: ignore[attr-defined]
    assert request.headers.get("Host") == f"127.0.0.1:{port}"  # type: ignore[attr-defined]
    assert response.status == 101 and response.headers.get("Set-Cookie") == "a=1"  # type: ignore[attr-defined]
    assert remote is not None and remote[0] == "127.0.0.1"  # type: ignore[index]
    assert server_side is True
