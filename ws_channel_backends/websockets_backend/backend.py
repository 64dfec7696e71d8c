"""``WebsocketsBackend``: ``connect()`` and ``serve()`` over websockets' asyncio implementation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.version import version as websockets_version

from ws_channel_core.channel import Handler, WebSocketServer
from ws_channel_core.options import ClientOptions, ServerOptions
from ws_channel_core.uri import WebSocketURI

from ._errors import map_handshake_errors
from ._fixes import FixedClientConnection, FixedServerConnection
from ._options import client_kwargs, server_kwargs
from .channel import WebsocketsChannel

__all__ = ["WebsocketsBackend", "WebsocketsServer"]

#: How long leaving ``serve()`` waits for handlers after closing their connections, when the server
#: has no ``close_timeout``; handlers still running then are cancelled.
DEFAULT_SHUTDOWN_GRACE = 10.0


class WebsocketsServer:
    """The :class:`~ws_channel_core.channel.WebSocketServer` yielded by ``serve()``."""

    def __init__(self, server: Server) -> None:
        self._server = server

    @property
    def server(self) -> Server:
        """The websockets ``Server`` underneath."""
        return self._server

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [
            (str(name[0]), int(name[1])) for name in (sock.getsockname() for sock in self._server.sockets)
        ]

    @property
    def port(self) -> int:
        return self.addresses[0][1]

    async def serve_forever(self) -> None:
        """Serve until cancelled (or until the server is closed)."""
        await self._server.wait_closed()


class WebsocketsBackend:
    """The ws-channel backend over websockets (asyncio only)."""

    name = "websockets"
    version: str = websockets_version
    event_loops: tuple[str, ...] = ("asyncio",)
    #: Conformance cases the library underneath cannot pass: none.
    expected_failures: Mapping[str, str] = {}
    #: Autobahn cases websockets fails (7.1.5, 9.3.x, 9.4.x) are fixed in the adapter (see _fixes).
    autobahn_expected_failures: Mapping[str, str] = {}

    async def connect(self, uri: WebSocketURI, options: ClientOptions) -> WebsocketsChannel:
        """Open a client connection; see :meth:`ws_channel_core.backend.Backend.connect`.

        Raises:
            InvalidHandshake: or a subclass, with websockets' (or the OS's) exception as cause.
            ValueError: ``options.extra`` has a key this backend does not know.
        """
        kwargs = client_kwargs(options)
        with map_handshake_errors(uri.url):
            connection = await ws_connect(uri.url, create_connection=FixedClientConnection, **kwargs)
        return WebsocketsChannel(connection)

    def serve(
        self, handler: Handler, host: str, port: int, options: ServerOptions
    ) -> AbstractAsyncContextManager[WebSocketServer]:
        """Serve connections; see :meth:`ws_channel_core.backend.Backend.serve`.

        Leaving the context stops accepting, closes open connections with 1001, waits for their
        handlers up to ``close_timeout`` and cancels those still running. A failure to listen
        (address in use...) raises ``OSError``.

        Raises:
            ValueError: ``options.extra`` has a key this backend does not know.
        """
        kwargs = server_kwargs(options)
        grace = options.close_timeout if options.close_timeout is not None else DEFAULT_SHUTDOWN_GRACE
        return _serving(handler, host, port, kwargs, grace)


@asynccontextmanager
async def _serving(
    handler: Handler, host: str, port: int, kwargs: dict[str, object], grace: float
) -> AsyncIterator[WebSocketServer]:
    handler_tasks: set[asyncio.Task[object]] = set()

    async def handle(connection: ServerConnection) -> None:
        task = asyncio.current_task()
        assert task is not None
        handler_tasks.add(task)
        try:
            channel = WebsocketsChannel(connection)
            await handler(channel)
        finally:
            handler_tasks.discard(task)

    server = await ws_serve(
        handle, host, port, create_connection=FixedServerConnection, **kwargs  # type: ignore[arg-type]
    )
    try:
        yield WebsocketsServer(server)
    finally:
        with anyio.CancelScope(shield=True):
            server.close()  # stop accepting; open connections get 1001
            with anyio.move_on_after(grace):
                await server.wait_closed()
            for task in list(handler_tasks):
                task.cancel()
            await server.wait_closed()
