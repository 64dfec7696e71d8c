"""``AsgiBackend``: the object the ``asgi`` entry point of ``ws_channel.backends`` resolves to."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from types import MappingProxyType

import uvicorn

from ws_channel_core.channel import Handler, WebSocketChannel, WebSocketServer
from ws_channel_core.options import ClientOptions, ServerOptions
from ws_channel_core.uri import WebSocketURI

from . import server

__all__ = ["AsgiBackend"]


class AsgiBackend:
    """ws-channel as an ASGI application, served by uvicorn; a server only."""

    name = "asgi"
    #: uvicorn runs on asyncio.
    event_loops: tuple[str, ...] = ("asyncio",)
    #: ASGI is the server side of a web application: there is no ASGI client.
    roles: tuple[str, ...] = ("server",)
    #: Conformance cases that ASGI or uvicorn, not this backend, decides differently.
    expected_failures: Mapping[str, str] = MappingProxyType({
        "application/a_pong_acknowledges_its_ping_and_every_earlier_one": (
            "ASGI has no event to send a ping or to see a pong (the server answers pings and runs "
            "keepalive itself), so ping() raises NotImplementedError"
        ),
    })
    #: Autobahn cases uvicorn cannot pass.
    autobahn_expected_failures: Mapping[str, str] = MappingProxyType({})

    @property
    def version(self) -> str:
        return f"uvicorn {uvicorn.__version__}"

    async def connect(self, uri: WebSocketURI, options: ClientOptions) -> WebSocketChannel:
        """There is no ASGI client: always raises ``LookupError``.

        To test an ASGI application without a network, use ``ws_channel_backends.asgi.connect_app``.
        """
        raise LookupError(
            "the asgi backend is server-only: connect with another backend, or test an ASGI "
            "application in memory with ws_channel_backends.asgi.connect_app(app, url)"
        )

    def serve(
        self, handler: Handler, host: str, port: int, options: ServerOptions
    ) -> AbstractAsyncContextManager[WebSocketServer]:
        """Serve ``handler`` as an ASGI application under uvicorn (port 0 picks a free port).

        Raises:
            ValueError: unknown ``extra`` keys, or an ``ssl`` that is not an ``SSLContext``.
        """
        return server.serve(handler, host, port, options)

    def __repr__(self) -> str:
        return f"<AsgiBackend {self.version}>"
