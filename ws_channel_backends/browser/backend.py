"""``BrowserBackend``: ``connect()`` through the page's ``WebSocket``; client only.

What the WHATWG API cannot do raises ``ValueError`` when asked for (the design's rule): custom
headers, choosing keepalive pings, turning compression off, a TLS context, ``extra=`` keys, the server
role. Options whose default the browser cannot change are accepted at their default and documented:

- ``ping_interval`` / ``ping_timeout``: the browser answers pings itself and decides on its own
  keepalive; ``ping_interval=None`` (no pings from this side) and the defaults (20 s) are accepted,
  any other value raises.
- ``compression``: ``"deflate"`` (the default) lets the browser negotiate permessage-deflate as it
  does anyway; ``None`` raises (the API cannot turn it off).
- ``ssl``: for ``wss://`` the browser's own TLS settings and trust store apply. ``connect()`` builds a
  default context for every ``wss://`` URL, so a context cannot be told apart from that default and
  is accepted; ``ssl`` with ``ws://`` already raises in ``connect()``.
- ``max_size`` is enforced when a message has arrived (the API cannot refuse one earlier);
  ``max_queue`` bounds the queue only while closing (the API cannot pause a socket).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from types import MappingProxyType

from ws_channel_core.channel import Handler, WebSocketChannel, WebSocketServer
from ws_channel_core.errors import InvalidHandshake
from ws_channel_core.http import Headers, Request
from ws_channel_core.options import ClientOptions, ServerOptions
from ws_channel_core.uri import WebSocketURI

from . import _js
from .channel import BrowserChannel

__all__ = ["BrowserBackend", "check_client_options", "DEFAULT_PING"]

#: The default of ``ping_interval`` and ``ping_timeout``: accepted, as the browser's own keepalive.
DEFAULT_PING = 20.0


def check_client_options(options: ClientOptions) -> None:
    """Raise ``ValueError`` for an option the browser's ``WebSocket`` cannot honour.

    Raises:
        ValueError: custom headers, a keepalive other than the default or ``None``, compression
            turned off, or an ``extra=`` key (this backend has none).
    """
    if options.headers:
        raise ValueError("the browser backend cannot send custom headers: the WebSocket API has none")
    if options.ping_interval not in (None, DEFAULT_PING):
        raise ValueError(
            "the browser backend cannot send keepalive pings: ping_interval must be None or the "
            f"default ({DEFAULT_PING:g}); the browser answers pings and keeps the connection alive itself"
        )
    if options.ping_interval is not None and options.ping_timeout != DEFAULT_PING:
        raise ValueError("the browser backend cannot set ping_timeout: the browser decides")
    if options.compression is None:
        raise ValueError(
            "the browser backend cannot turn compression off: the browser negotiates "
            "permessage-deflate itself"
        )
    if options.extra:
        raise ValueError(f"the browser backend takes no extra= keys, got {sorted(options.extra)}")


def _request(uri: WebSocketURI, protocols: tuple[str, ...]) -> Request:
    """The upgrade request as far as the page knows it (the browser adds its own headers)."""
    headers = Headers([("Host", uri.host_header)])
    if protocols:
        headers.add("Sec-WebSocket-Protocol", ", ".join(protocols))
    return Request(uri.resource, headers)


class BrowserBackend:
    """The ws-channel backend over the browser's ``WebSocket`` (Pyodide; asyncio only; client only)."""

    name = "browser"
    roles: tuple[str, ...] = ("client",)
    event_loops: tuple[str, ...] = ("asyncio",)
    #: Conformance cases the WHATWG ``WebSocket`` API cannot pass (the suite runs the browser backend
    #: only under Pyodide, see tests/browser).
    expected_failures: Mapping[str, str] = MappingProxyType({
        "pair/ping_waits_for_the_pong_and_sets_latency_without_a_reader": (
            "the WHATWG WebSocket API has no ping: ping() raises NotImplementedError"
        ),
    })

    @property
    def version(self) -> str:
        return _js.pyodide_version()

    async def connect(self, uri: WebSocketURI, options: ClientOptions) -> WebSocketChannel:
        check_client_options(options)
        websocket_class = _js.websocket_class()
        protocols = options.protocols
        try:
            if protocols:
                websocket = websocket_class.new(uri.url, _js.ffi().to_js(list(protocols)))
            else:
                websocket = websocket_class.new(uri.url)
        except _js.ffi().JsException as exc:  # SyntaxError: a URL or subprotocol the browser refuses
            raise InvalidHandshake(f"the browser refused to open {uri.url}: {exc}") from exc
        channel = BrowserChannel(
            websocket,
            max_size=options.max_size,
            max_queue=options.max_queue,
            write_limit=options.write_limit,
            close_timeout=options.close_timeout,
            request=_request(uri, protocols),
        )
        await channel._wait_open(uri.url)
        return channel

    def serve(
        self, handler: Handler, host: str, port: int, options: ServerOptions
    ) -> AbstractAsyncContextManager[WebSocketServer]:
        """Always raises: a page cannot listen for connections.

        Raises:
            ValueError: always.
        """
        raise ValueError("the browser backend is client-only: a web page cannot accept connections")
