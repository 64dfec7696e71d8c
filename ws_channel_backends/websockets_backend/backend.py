"""``WebsocketsBackend``: ``connect()`` and ``serve()`` over websockets' asyncio or trio implementation.

The running event loop picks the implementation: ``websockets.asyncio`` on asyncio (uvloop too),
``websockets.trio`` on trio (imported only then). Any other loop raises :class:`UnsupportedEventLoop`.
"""

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
from ws_channel_core.registry import UnsupportedEventLoop, check_event_loop, running_library
from ws_channel_core.uri import WebSocketURI

from ._errors import map_handshake_errors
from ._fixes import FixedClientConnection, FixedServerConnection
from ._options import client_kwargs, server_kwargs
from .channel import WebsocketsChannel

__all__ = ["WebsocketsBackend", "WebsocketsServer", "UnsupportedEventLoop", "EVENT_LOOPS"]

#: How long leaving ``serve()`` waits for handlers after closing their connections, when the server
#: has no ``close_timeout``; handlers still running then are cancelled.
DEFAULT_SHUTDOWN_GRACE = 10.0

#: The event loops (anyio backend names) this backend runs on.
EVENT_LOOPS: tuple[str, ...] = ("asyncio", "trio")


def _on_trio(backend: WebsocketsBackend) -> bool:
    """Whether the running loop is trio; the core's clear error for a loop this backend lacks.

    ``connect()`` / ``serve()`` already check; this covers a caller using the backend object directly.

    Raises:
        UnsupportedEventLoop: the running loop is neither asyncio nor trio.
    """
    check_event_loop(backend)
    return running_library() == "trio"


class WebsocketsServer:
    """The :class:`~ws_channel_core.channel.WebSocketServer` yielded by ``serve()``."""

    def __init__(self, server: Server) -> None:
        self._server = server
        # Read once: the listening sockets are gone after the server closed; the port stays known.
        self._addresses = [
            (str(name[0]), int(name[1])) for name in (sock.getsockname() for sock in server.sockets)
        ]

    @property
    def server(self) -> Server:
        """The websockets ``Server`` underneath."""
        return self._server

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return list(self._addresses)

    @property
    def port(self) -> int:
        return self._addresses[0][1]

    async def serve_forever(self) -> None:
        """Serve until cancelled (or until the server is closed)."""
        await self._server.wait_closed()


class WebsocketsBackend:
    """The ws-channel backend over websockets (asyncio and trio)."""

    name = "websockets"
    version: str = websockets_version
    event_loops: tuple[str, ...] = EVENT_LOOPS
    #: Conformance cases the library underneath cannot pass: none.
    expected_failures: Mapping[str, str] = {}
    #: Autobahn cases websockets fails (7.1.5, 9.3.x, 9.4.x) are fixed in the adapter (see _fixes).
    autobahn_expected_failures: Mapping[str, str] = {}

    async def connect(self, uri: WebSocketURI, options: ClientOptions) -> WebsocketsChannel:
        """Open a client connection; see :meth:`ws_channel_core.backend.Backend.connect`.

        Raises:
            InvalidHandshake: or a subclass, with websockets' (or the OS's) exception as cause;
                ``ServerUnreachable`` when the server could not be reached.
            ValueError: ``options.extra`` has a key this backend does not know.
            UnsupportedEventLoop: the running event loop is neither asyncio nor trio.
        """
        if _on_trio(self):
            from . import _trio

            return await _trio.connect(uri, options)  # type: ignore[return-value]
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
            UnsupportedEventLoop: (when entered) the running event loop is neither asyncio nor trio.
        """
        kwargs = server_kwargs(options)  # checks the options at the call
        grace = options.close_timeout if options.close_timeout is not None else DEFAULT_SHUTDOWN_GRACE
        return _serving(self, handler, host, port, options, kwargs, grace)


@asynccontextmanager
async def _serving(
    backend: WebsocketsBackend,
    handler: Handler,
    host: str,
    port: int,
    options: ServerOptions,
    kwargs: dict[str, object],
    grace: float,
) -> AsyncIterator[WebSocketServer]:
    if _on_trio(backend):
        from . import _trio

        async with _trio.serving(handler, host, port, options, grace) as trio_server:
            yield trio_server
        return
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
