"""``AiohttpBackend``: the object the ``aiohttp`` entry point of ``ws_channel.backends`` resolves to."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from types import MappingProxyType

import aiohttp

from ws_channel_core.channel import Handler, WebSocketServer
from ws_channel_core.options import ClientOptions, ServerOptions
from ws_channel_core.uri import WebSocketURI

from . import client, server
from ._loops import EVENT_LOOPS
from .channel import AiohttpChannel

__all__ = ["AiohttpBackend"]


class AiohttpBackend:
    """ws-channel over aiohttp: ``ClientSession.ws_connect`` and ``aiohttp.web``; asyncio only."""

    name = "aiohttp"
    #: aiohttp runs on asyncio only.
    event_loops: tuple[str, ...] = EVENT_LOOPS
    #: Conformance cases aiohttp cannot pass (none known).
    expected_failures: Mapping[str, str] = MappingProxyType({})
    #: Autobahn cases aiohttp cannot pass. Its one stock failure, 7.9.5 (reserved close code 1006
    #: answered with 1000), is fixed here: the channel validates received close codes itself.
    autobahn_expected_failures: Mapping[str, str] = MappingProxyType({})

    @property
    def version(self) -> str:
        return aiohttp.__version__

    async def connect(self, uri: WebSocketURI, options: ClientOptions) -> AiohttpChannel:
        """Open a client connection over ``ClientSession.ws_connect``.

        One ``ClientSession`` per channel, closed with it, unless ``options.extra["session"]`` gives
        one (then the caller closes it).

        Raises:
            InvalidStatus: the server answered without upgrading (status, reason, every header, body).
            InvalidHeader: a bad ``Upgrade``, ``Connection`` or ``Sec-WebSocket-Accept`` header.
            NegotiationError: a subprotocol or extension that was not offered.
            HandshakeTimeout: not done within ``connect_timeout``.
            ServerUnreachable: the server could not be reached (refused, DNS, TLS, dropped).
            InvalidHandshake: the answer was not HTTP.
            LookupError: the running event loop is not asyncio.
            ValueError, TypeError: unknown ``extra`` keys, a bad session, ssl for ws://.
        """
        return await client.connect(uri, options)

    def serve(
        self, handler: Handler, host: str, port: int, options: ServerOptions
    ) -> AbstractAsyncContextManager[WebSocketServer]:
        """Serve over ``aiohttp.web`` (a ``ServerRunner`` and a ``TCPSite``; port 0 picks a free port).

        ``options.process_request`` / ``process_response`` run before aiohttp judges the request.

        Raises:
            ValueError: unknown ``extra`` keys.
            LookupError: (on entering) the running event loop is not asyncio.
        """
        return server.serve(handler, host, port, options)

    def __repr__(self) -> str:
        return f"<AiohttpBackend aiohttp {self.version}>"
