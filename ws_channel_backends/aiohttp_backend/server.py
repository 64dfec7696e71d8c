"""The server role: aiohttp's low-level ``web.Server`` with one WebSocket handler for every path.

No ``web.Application``: without a router there is no per-request match info and no middleware
machinery, which saves about 0.4 KiB per connection; the handler answers what the router did (405 to
methods other than GET).

Each upgrade becomes an :class:`AiohttpChannel` handed to the handler. Leaving ``serve()`` stops the
listening sockets, closes open connections with 1001, then lets aiohttp shut down, which cancels
handlers still running ``close_timeout`` later.
"""

from __future__ import annotations

import logging
import ssl as ssl_module
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from aiohttp import web

from ws_channel_core.channel import Handler
from ws_channel_core.options import ServerOptions

from . import _native
from ._mask import MaskCheckedWebSocketResponse
from .channel import AiohttpChannel
from .options import aiohttp_max_size, check_server_extras

__all__ = ["AiohttpServer", "serve"]

#: The logger run_handler() uses, so a failing handler is reported the same way on every backend.
logger = logging.getLogger("ws_channel")

#: aiohttp's shutdown wait for handlers when ``close_timeout`` is None.
_DEFAULT_SHUTDOWN_TIMEOUT = 10.0


class AiohttpServer:
    """The ``WebSocketServer`` yielded by :func:`serve`."""

    def __init__(self, runner: web.BaseRunner) -> None:
        self._runner = runner

    @property
    def runner(self) -> web.BaseRunner:
        """The aiohttp runner underneath."""
        return self._runner

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [(str(name[0]), int(name[1])) for name in self._runner.addresses]

    @property
    def port(self) -> int:
        addresses = self.addresses
        if not addresses:
            raise RuntimeError("the server is not listening")
        return addresses[0][1]

    async def serve_forever(self) -> None:
        await anyio.sleep_forever()


def _refuse_upgrade(request: web.BaseRequest) -> web.Response | None:
    """The HTTP answer to a request that is not a WebSocket upgrade we accept, or None.

    aiohttp also accepts versions 7 and 8 and answers a missing ``Connection: Upgrade`` with 400;
    like the other backends, we answer 426 to what is not an upgrade and 400 to a version other than
    13 (RFC 6455 4.2.2 asks for ``Sec-WebSocket-Version: 13`` in that answer).
    """
    if request.method != "GET":
        # RFC 6455 4.1: "The method of the request MUST be GET".
        return web.Response(status=405, headers={"Allow": "GET"}, text="Method Not Allowed\n")
    connection = {token.strip().lower() for token in request.headers.get("Connection", "").split(",")}
    if request.headers.get("Upgrade", "").strip().lower() != "websocket" or "upgrade" not in connection:
        return web.Response(
            status=426,
            headers={"Upgrade": "websocket", "Connection": "Upgrade"},
            text="Upgrade Required: this is a WebSocket endpoint\n",
        )
    if request.headers.get("Sec-WebSocket-Version", "").strip() != "13":
        return web.Response(
            status=400,
            headers={"Sec-WebSocket-Version": "13"},
            text="Unsupported Sec-WebSocket-Version: only 13 is supported\n",
        )
    return None


class _Connections:
    """The per-server state: the handler, the options and the open channels."""

    def __init__(self, handler: Handler, options: ServerOptions) -> None:
        self.handler = handler
        self.options = options
        self.channels: set[AiohttpChannel] = set()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        options = self.options
        refusal = _refuse_upgrade(request)
        if refusal is not None:
            return refusal
        ws: web.WebSocketResponse[bool] = MaskCheckedWebSocketResponse(
            timeout=options.close_timeout or _DEFAULT_SHUTDOWN_TIMEOUT,
            autoclose=False,
            autoping=False,
            heartbeat=None,
            protocols=options.protocols,
            compress=options.compression == "deflate",
            max_msg_size=aiohttp_max_size(options.max_size),
            writer_limit=options.write_limit,
        )
        for name in {name for name, _ in options.headers}:
            ws.headers.popall(name, None)  # ours replace aiohttp's (Server, for example)
        for name, value in options.headers:
            ws.headers.add(name, value)
        await ws.prepare(request)  # a bad upgrade request raises HTTPBadRequest: aiohttp answers 400
        _native.set_write_limit(ws, options.write_limit)
        channel = AiohttpChannel(
            ws,
            close_timeout=options.close_timeout,
            max_queue=options.max_queue,
            max_size=options.max_size,
            ping_interval=options.ping_interval,
            ping_timeout=options.ping_timeout,
            request=request,
        )
        self.channels.add(channel)
        try:
            # What run_handler() does (close 1000 after return, 1011 on raise, log the error), written
            # out: ws_channel_core.serve() already wraps the handler in it, and one coroutine frame
            # less per connection is about 0.2 KiB.
            try:
                await self.handler(channel)
            except Exception:
                logger.exception("connection handler failed")
                await channel.close(1011)
            else:
                await channel.close(1000)
        finally:
            self.channels.discard(channel)
            if not channel._is_closed:  # cancelled (shutdown): drop the connection now
                channel._abort_connection()
                with anyio.CancelScope(shield=True), anyio.move_on_after(1.0):
                    await channel.done
        return ws

    async def close_all(self) -> None:
        """Close every open connection with 1001 (going away), each within ``close_timeout``."""
        async with anyio.create_task_group() as group:
            for channel in list(self.channels):
                group.start_soon(self._going_away, channel)

    @staticmethod
    async def _going_away(channel: AiohttpChannel) -> None:
        await channel.close(1001)


def _server_ssl(options: ServerOptions) -> ssl_module.SSLContext | None:
    if options.ssl is None or isinstance(options.ssl, ssl_module.SSLContext):
        return options.ssl
    raise ValueError("a server needs an ssl.SSLContext with its certificate")


@asynccontextmanager
async def serve(
    handler: Handler, host: str, port: int, options: ServerOptions
) -> AsyncIterator[AiohttpServer]:
    """Listen on ``host:port``; see ``AiohttpBackend.serve``."""
    check_server_extras(options.extra)
    connections = _Connections(handler, options)
    low_level = web.Server(
        connections.handle,
        access_log=None,
        # No request within connect_timeout: aiohttp drops the connection (0 disables the timer).
        keepalive_timeout=options.connect_timeout or 0,
    )
    runner = web.ServerRunner(
        low_level,
        handle_signals=False,
        shutdown_timeout=options.close_timeout or _DEFAULT_SHUTDOWN_TIMEOUT,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=_server_ssl(options))
        await site.start()
        yield AiohttpServer(runner)
    finally:
        with anyio.CancelScope(shield=True):
            # Stop accepting, then close connections while aiohttp still reads them (its shutdown
            # stops reading at once, so a peer's answer to our close frame would never be seen).
            for listening in list(runner.sites):
                await listening.stop()
            await connections.close_all()
            await runner.cleanup()
