"""Shared pieces of the asgi tests (import after ``pytest.importorskip("fastapi")``): a handler written
only against ``ws_channel_core``, a FastAPI application serving it, uvicorn started around any app."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI, WebSocket

from ws_channel_backends.asgi import asgi_app, wrap
from ws_channel_core import WebSocketChannel, run_handler


async def echo(channel: WebSocketChannel) -> None:
    """The handler under test: it knows nothing but the interface."""
    async for message in channel.stream:
        await channel.sink.add(message)


def make_app() -> FastAPI:
    app = FastAPI()

    @app.websocket("/echo")
    async def echo_route(websocket: WebSocket) -> None:
        await run_handler(echo, await wrap(websocket, protocols=["chat"]))

    @app.websocket("/private")
    async def private_route(websocket: WebSocket) -> None:
        if websocket.headers.get("authorization") != "Bearer sesame":
            await websocket.close()  # refused before the accept
            return
        await run_handler(echo, await wrap(websocket))

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    app.mount("/mounted", asgi_app(echo, headers={"X-Served-By": "ws-channel"}))
    return app


@asynccontextmanager
async def uvicorn_running(app: object) -> AsyncIterator[int]:
    """Run ``app`` under a stock uvicorn on a free loopback port; yield the port."""
    config = uvicorn.Config(app, log_config=None, lifespan="off", access_log=False)
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    sock = socket.create_server(("127.0.0.1", 0))
    await server.startup(sockets=[sock])
    try:
        yield sock.getsockname()[1]
    finally:
        await server.shutdown(sockets=[sock])
