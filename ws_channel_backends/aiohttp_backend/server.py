"""The server role: aiohttp's low-level ``web.Server`` with one WebSocket handler for every path.

No ``web.Application``: without a router there is no per-request match info and no middleware
machinery, which saves about 0.4 KiB per connection.

Every request is first turned into the core ``Request`` and answered by the core's
``answer_upgrade_request`` (the user's ``process_request``, then the 426/400 checks every backend
shares) before aiohttp sees it; the 101 aiohttp negotiates goes through ``process_response`` and is
sent exactly as the hook left it (:mod:`._http`).

Each upgrade becomes an :class:`AiohttpChannel` handed to the handler. Leaving ``serve()`` stops the
listening sockets, closes open connections with 1001, then lets aiohttp shut down, which cancels
handlers still running ``close_timeout`` later.
"""

from __future__ import annotations

import ssl as ssl_module
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from aiohttp import web

from ws_channel_core import logs
from ws_channel_core.channel import Handler
from ws_channel_core.handshake import error_response
from ws_channel_core.hooks import answer_upgrade_request, run_process_response
from ws_channel_core.http import Response
from ws_channel_core.options import ServerOptions

from . import _native
from ._http import UpgradeResponse, core_request, refusal
from ._loops import check_event_loop
from .channel import AiohttpChannel
from .options import aiohttp_max_size, check_server_extras

__all__ = ["AiohttpServer", "serve"]

#: The logger run_handler() uses, so a failing handler is reported the same way on every backend.
logger = logs.server_logger

#: aiohttp's shutdown wait for handlers when ``close_timeout`` is None.
_DEFAULT_SHUTDOWN_TIMEOUT = 10.0


class AiohttpServer:
    """The ``WebSocketServer`` yielded by :func:`serve`."""

    def __init__(self, runner: web.BaseRunner) -> None:
        self._runner = runner
        # Kept: the runner forgets its addresses once it stops, and a caller may still ask.
        self._addresses = [(str(name[0]), int(name[1])) for name in runner.addresses]

    @property
    def runner(self) -> web.BaseRunner:
        """The aiohttp runner underneath."""
        return self._runner

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return list(self._addresses)

    @property
    def port(self) -> int:
        addresses = self.addresses
        if not addresses:
            raise RuntimeError("the server is not listening")
        return addresses[0][1]

    async def serve_forever(self) -> None:
        await anyio.sleep_forever()


class _Connections:
    """The per-server state: the handler, the options and the open channels."""

    def __init__(self, handler: Handler, options: ServerOptions) -> None:
        self.handler = handler
        self.options = options
        self.channels: set[AiohttpChannel] = set()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        ws = await self._upgrade(request)
        if not isinstance(ws, UpgradeResponse):
            return ws  # the upgrade was refused
        options = self.options
        channel = AiohttpChannel(
            ws,
            close_timeout=options.close_timeout,
            max_queue=options.max_queue,
            max_size=options.max_size,
            ping_interval=options.ping_interval,
            ping_timeout=options.ping_timeout,
            native_request=request,  # the channel's request and 101 are made from it when asked for
        )
        self.channels.add(channel)
        try:
            # ws_channel_core.serve() hands over the handler wrapped in run_handler(), which logs and
            # closes (1000, or 1011 when it raises) and never raises: this is for direct callers.
            try:
                await self.handler(channel)
            except Exception:
                logger.exception("%s connection handler failed", logs.context(channel))
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

    async def _upgrade(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer the request: a refusal, or the prepared :class:`UpgradeResponse` (101 sent).

        A coroutine of its own so the handshake's objects are freed once it is done (an idle
        connection keeps only what aiohttp keeps).
        """
        options = self.options
        transport = request.transport
        remote = transport.get_extra_info("peername") if transport is not None else None
        try:
            core = core_request(request, remote)
        except ValueError:  # a header aiohttp's parser let through that no backend accepts
            return refusal(error_response(400, "invalid header"))
        # Before aiohttp judges the request: the user's hook, then the checks every backend shares.
        refused = await answer_upgrade_request(options.process_request, core)
        if refused is not None:
            return refusal(refused)
        ws = UpgradeResponse(
            timeout=options.close_timeout or _DEFAULT_SHUTDOWN_TIMEOUT,
            autoclose=False,
            autoping=False,
            heartbeat=None,
            protocols=options.protocols,
            compress=options.compression == "deflate",
            max_msg_size=aiohttp_max_size(options.max_size),
            writer_limit=options.write_limit,
        )
        try:
            headers = ws.negotiate(request)
        except web.HTTPException as exc:  # pragma: no cover - check_upgrade_request refuses first
            return refusal(error_response(exc.status, exc.text or exc.reason))
        response = await run_process_response(
            options.process_response, core, Response(101, [*headers, *options.headers])
        )
        if response.status != 101:
            return refusal(response)
        ws.send_as(response)
        await ws.prepare(request)
        _native.set_write_limit(ws, options.write_limit)
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
    check_event_loop()
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
