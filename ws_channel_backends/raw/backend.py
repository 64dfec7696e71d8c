"""The ``raw`` backend object registered under the ``ws_channel.backends`` entry point."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import MappingProxyType

from ws_channel_core.channel import Handler, WebSocketChannel, WebSocketServer
from ws_channel_core.options import ClientOptions, ServerOptions
from ws_channel_core.uri import WebSocketURI

from ._common import check_extras, running_library

__all__ = ["RawBackend", "backend", "VERSION"]

#: The version of this backend (it has no library underneath).
VERSION = "0.1.0"


class RawBackend:
    """Our own RFC 6455 stack: the asyncio driver on asyncio, the anyio driver elsewhere (trio)."""

    name = "raw"
    version = VERSION
    event_loops: tuple[str, ...] = ("asyncio", "uvloop", "trio")
    expected_failures: Mapping[str, str] = MappingProxyType({})
    autobahn_expected_failures: Mapping[str, str] = MappingProxyType({})

    async def connect(self, uri: WebSocketURI, options: ClientOptions) -> WebSocketChannel:
        """Connect and complete the handshake; see :class:`ws_channel_core.backend.Backend`."""
        check_extras(options.extra)
        if running_library() == "asyncio":
            from . import asyncio_driver

            return await asyncio_driver.connect(uri, options)
        from . import anyio_driver

        return await anyio_driver.connect(uri, options)

    @asynccontextmanager
    async def _serve(
        self, handler: Handler, host: str, port: int, options: ServerOptions
    ) -> AsyncIterator[WebSocketServer]:
        if running_library() == "asyncio":
            from . import asyncio_driver

            async with asyncio_driver.serve(handler, host, port, options) as server:
                yield server
        else:
            from . import anyio_driver

            async with anyio_driver.serve(handler, host, port, options) as server:
                yield server

    def serve(
        self, handler: Handler, host: str, port: int, options: ServerOptions
    ) -> AbstractAsyncContextManager[WebSocketServer]:
        """Listen on ``host:port``; see :class:`ws_channel_core.backend.Backend`."""
        check_extras(options.extra)
        return self._serve(handler, host, port, options)

    def open_pair(
        self, client_options: ClientOptions, server_options: ServerOptions
    ) -> AbstractAsyncContextManager[tuple[WebSocketChannel, WebSocketChannel]]:
        """A connected (client, server) pair in memory, no network: what the conformance suite's
        channel-level cases run on besides TCP (``streams.open_memory_pair``)."""
        from . import streams

        return streams.open_memory_pair(client_options=client_options, server_options=server_options)


backend = RawBackend()
