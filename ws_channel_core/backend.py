"""What a backend is: the object an entry point in the ``ws_channel.backends`` group resolves to.

A backend package exposes one object satisfying :class:`Backend` and registers it::

    [project.entry-points."ws_channel.backends"]
    mybackend = "my_package.module:backend [my-extra]"

The extra in brackets names what to install when the backend's library is missing.

Optional attributes, read with ``getattr`` by the registry, the conformance suite and the CLI (never
by cases):

- ``event_loops: tuple[str, ...]``: the anyio backends it runs on; default ``("asyncio",)``.
- ``roles: tuple[str, ...]``: what it can be, ``"client"`` and/or ``"server"``; default both.
  ``connect()`` / ``serve()`` with a backend lacking the role raise ``LookupError`` naming those that
  have it; ``ws-channel backends`` shows it.
- ``expected_failures: Mapping[str, str]``: conformance case id -> why the library underneath cannot
  pass it. Strict: a listed case that passes fails the run.
- ``autobahn_expected_failures: Mapping[str, str]``: Autobahn case id (``"7.1.5"``) -> reason, per role
  as ``"client:7.1.5"`` / ``"server:7.1.5"`` or for both as ``"7.1.5"``.
- ``open_pair(client_options, server_options)``: an async context manager yielding a connected
  ``(client, server)`` pair of channels without a network; the conformance suite then runs its
  channel-level cases on it as well as over TCP.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

from .channel import Handler, WebSocketChannel, WebSocketServer
from .options import ClientOptions, ServerOptions
from .uri import WebSocketURI

__all__ = ["Backend"]


@runtime_checkable
class Backend(Protocol):
    """A WebSocket implementation behind the interface."""

    @property
    def name(self) -> str:
        """The registry name, for example ``"websockets"``."""
        ...

    @property
    def version(self) -> str:
        """The version of the library underneath (or of the backend itself)."""
        ...

    async def connect(self, uri: WebSocketURI, options: ClientOptions) -> WebSocketChannel:
        """Open a client connection and complete the handshake.

        The front door has already checked the URL and options and applies ``connect_timeout``
        around this call; it also turns a stray ``OSError`` into ``InvalidHandshake``.

        Raises:
            InvalidHandshake: or a subclass, with the library's exception as ``__cause__``.
            ValueError: an option this backend cannot honour was asked for.
        """
        ...

    def serve(
        self, handler: Handler, host: str, port: int, options: ServerOptions
    ) -> AbstractAsyncContextManager[WebSocketServer]:
        """Listen on ``host:port`` and run ``handler(channel)`` for each accepted connection.

        Leaving the context stops accepting and closes open connections with 1001. Every upgrade
        request goes through :func:`ws_channel_core.hooks.answer_upgrade_request` (the user's
        ``options.process_request``, then the shared 426/400 checks) before the upgrade, and the 101
        through :func:`ws_channel_core.hooks.run_process_response`; a refusal is sent as is.
        Channels carry ``request``, ``response`` and the addresses.

        Raises:
            ValueError: an option this backend cannot honour was asked for.
        """
        ...
