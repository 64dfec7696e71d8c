"""The front doors: ``connect()`` for clients, ``serve()`` for servers, backend chosen by the registry.

Both check the URL and every option when called, before any I/O, so mistakes raise ``ValueError`` or
``TypeError`` at the call site.
"""

from __future__ import annotations

import functools
import random
import ssl as ssl_module
from collections.abc import AsyncIterator, Generator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any

import anyio

from . import logs
from .base import run_handler
from .channel import Handler, WebSocketChannel, WebSocketServer
from .errors import HandshakeTimeout, ServerUnreachable, WebSocketChannelError
from .hooks import ProcessRequest, ProcessResponse
from .http import HeadersLike
from .options import (
    DEFAULT_MAX_SIZE,
    ClientOptions,
    Compression,
    ServerOptions,
    normalize_headers,
)
from .reconnect import Backoff, Reconnecting
from .registry import check_event_loop, get_backend
from .uri import WebSocketURI, parse_uri

__all__ = ["connect", "serve", "Connect"]


class Connect:
    """The result of :func:`connect`: await it for a channel, or use it with ``async with``."""

    def __init__(self, uri: WebSocketURI, options: ClientOptions, backend: str | None) -> None:
        self.uri = uri
        self.options = options
        self.backend = backend
        self._channel: WebSocketChannel | None = None

    def __await__(self) -> Generator[Any, None, WebSocketChannel]:
        return self._open().__await__()

    async def _open(self) -> WebSocketChannel:
        backend = get_backend(self.backend, role="client")
        check_event_loop(backend)
        try:
            with anyio.fail_after(self.options.connect_timeout):
                channel = await backend.connect(self.uri, self.options)
        except WebSocketChannelError:
            raise
        except TimeoutError as exc:
            raise HandshakeTimeout(
                f"could not connect to {self.uri.url} within {self.options.connect_timeout} s"
            ) from exc
        except OSError as exc:
            raise ServerUnreachable(f"could not connect to {self.uri.url}: {exc}") from exc
        await channel.ready
        logs.opened(channel)
        return channel

    def __aiter__(self) -> Reconnecting:
        """``async for channel in connect(url):`` reconnects with the default :class:`Backoff`."""
        return self.reconnecting()

    def reconnecting(
        self, backoff: Backoff | None = None, *, rng: random.Random | None = None
    ) -> Reconnecting:
        """An async iterator of channels that reconnects after a drop or a retryable failure.

        ``backoff`` sets the delays and the attempts allowed in a row; ``rng`` the jitter's source.
        A refusal retrying cannot fix (4xx other than 408 and 429, a bad handshake) is raised.
        """
        return Reconnecting(self._open, self.uri.url, backoff or Backoff(), rng)

    async def __aenter__(self) -> WebSocketChannel:
        self._channel = await self._open()
        return self._channel

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        channel, self._channel = self._channel, None
        if channel is None:
            return
        if exc_type is None or not issubclass(exc_type, Exception):
            await channel.sink.close(1000)
        else:
            await channel.sink.close(1011)


def _resolve_ssl(
    uri: WebSocketURI, ssl: ssl_module.SSLContext | bool | None
) -> ssl_module.SSLContext | None:
    if not uri.secure:
        if ssl:
            raise ValueError("ssl was given for a ws:// URL; use wss:// for TLS")
        return None
    if ssl is False:
        raise ValueError("a wss:// URL needs TLS; ssl=False is not allowed")
    if isinstance(ssl, ssl_module.SSLContext):
        return ssl
    return ssl_module.create_default_context()


def connect(
    url: str,
    *,
    protocols: tuple[str, ...] | list[str] = (),
    headers: HeadersLike = None,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
    connect_timeout: float | None = 10.0,
    close_timeout: float | None = 10.0,
    max_size: int | None = DEFAULT_MAX_SIZE,
    max_queue: int = 16,
    write_limit: int = 2**16,
    compression: Compression = "deflate",
    ssl: ssl_module.SSLContext | bool | None = None,
    backend: str | None = None,
    extra: Mapping[str, object] | None = None,
) -> Connect:
    """Connect to a WebSocket server.

    ``channel = await connect(url)`` returns an open channel; ``async with connect(url) as channel:``
    also closes it on exit (1000, or 1011 when the block raised); ``async for channel in
    connect(url):`` reconnects after each drop (see :meth:`Connect.reconnecting`).

    Raises:
        ValueError: (``InvalidURI``) the URL is not ws:// or wss://; an option is out of range.
        InvalidHandshake: when awaited. ``ServerUnreachable`` for a refused connection, DNS or TLS
            failure, or a timeout (``HandshakeTimeout``): retrying later may help. ``InvalidStatus``
            (with the whole ``response``) when the server answered without upgrading; otherwise a
            bad accept value, an unexpected subprotocol...
        LookupError: the backend is unknown, its library is missing, or it cannot act as a client;
            ``UnsupportedEventLoop`` (when awaited) if it cannot run on the running event loop.
    """
    uri = parse_uri(url)
    options = ClientOptions(
        protocols=tuple(protocols),
        headers=normalize_headers(headers),
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        connect_timeout=connect_timeout,
        close_timeout=close_timeout,
        max_size=max_size,
        max_queue=max_queue,
        write_limit=write_limit,
        compression=compression,
        ssl=_resolve_ssl(uri, ssl),
        extra=dict(extra or {}),
    )
    return Connect(uri, options, backend)


def serve(
    handler: Handler,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    protocols: tuple[str, ...] | list[str] = (),
    headers: HeadersLike = None,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
    connect_timeout: float | None = 10.0,
    close_timeout: float | None = 10.0,
    max_size: int | None = DEFAULT_MAX_SIZE,
    max_queue: int = 16,
    write_limit: int = 2**16,
    compression: Compression = "deflate",
    ssl: ssl_module.SSLContext | None = None,
    process_request: ProcessRequest | None = None,
    process_response: ProcessResponse | None = None,
    backend: str | None = None,
    extra: Mapping[str, object] | None = None,
) -> AbstractAsyncContextManager[WebSocketServer]:
    """Serve WebSocket connections: ``async with serve(handler, port=0) as server:``.

    Each connection is handed to ``await handler(channel)``; when the handler returns the channel is
    closed with 1000 (1011 if it raised). The server picks the first subprotocol, in the client's
    order of preference, that is in ``protocols``. Leaving the block stops accepting and closes open
    connections with 1001.

    ``process_request(request)`` (plain or async) sees every upgrade request first: return ``None``
    to upgrade, or a :class:`Response` to send instead (401, 403, 404, a 200 health check).
    ``process_response(request, response)`` may add headers to the 101 (``response.headers.add``)
    or return a replacement. A hook that raises is answered 500 and logged. A request that is not a
    valid upgrade gets 426 (no upgrade asked, or not version 13) or 400 (bad key or headers).

    Raises:
        ValueError: an option is out of range; LookupError: the backend is unavailable or cannot serve.
    """
    if not callable(handler):
        raise TypeError("handler must be an async callable taking a channel")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an int in 0-65535, not {port!r}")
    options = ServerOptions(
        protocols=tuple(protocols),
        headers=normalize_headers(headers),
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        connect_timeout=connect_timeout,
        close_timeout=close_timeout,
        max_size=max_size,
        max_queue=max_queue,
        write_limit=write_limit,
        compression=compression,
        ssl=ssl,
        process_request=process_request,
        process_response=process_response,
        extra=dict(extra or {}),
    )
    chosen = get_backend(backend, role="server")
    handle = functools.partial(run_handler, handler)  # no extra coroutine frame per connection

    @asynccontextmanager
    async def serving() -> AsyncIterator[WebSocketServer]:
        check_event_loop(chosen)
        async with chosen.serve(handle, host, port, options) as server:
            yield server

    return serving()
