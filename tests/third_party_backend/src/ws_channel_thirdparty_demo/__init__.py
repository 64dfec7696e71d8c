"""A third-party ws-channel backend: one entry point, discovered by the registry, named by nobody.

It delegates every connection to the first built-in backend that is installed, which is enough to
show that discovery and the conformance suite work for a backend the core has never heard of.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager

from ws_channel_core import Backend, ClientOptions, ServerOptions, WebSocketChannel, WebSocketServer, WebSocketURI
from ws_channel_core.channel import Handler
from ws_channel_core.registry import DEFAULT_ORDER, available_backends, get_backend

__all__ = ["DelegatingBackend", "backend"]


class DelegatingBackend:
    """A :class:`~ws_channel_core.Backend` that hands everything to an installed built-in backend."""

    name = "thirdparty-demo"

    def _inner(self) -> Backend:
        installed = available_backends(_skip=self.name)
        for name in DEFAULT_ORDER:
            if name in installed:
                return get_backend(name)
        raise LookupError("the thirdparty-demo backend needs a built-in backend to delegate to")

    @property
    def version(self) -> str:
        return f"0.1.0 (over {self._inner().name})"

    @property
    def event_loops(self) -> tuple[str, ...]:
        return tuple(getattr(self._inner(), "event_loops", ("asyncio",)))

    @property
    def expected_failures(self) -> Mapping[str, str]:
        failures: Mapping[str, str] = getattr(self._inner(), "expected_failures", {})
        return failures

    async def connect(self, uri: WebSocketURI, options: ClientOptions) -> WebSocketChannel:
        return await self._inner().connect(uri, options)

    def serve(
        self, handler: Handler, host: str, port: int, options: ServerOptions
    ) -> AbstractAsyncContextManager[WebSocketServer]:
        return self._inner().serve(handler, host, port, options)


backend = DelegatingBackend()
