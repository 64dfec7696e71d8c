"""What every case shares: short timeouts, the front doors bound to the backend under test, helpers.

Timeouts are multiples of one factor, ``WS_CHANNEL_CONFORMANCE_SCALE`` (default 1), so a slow machine
can stretch them all at once.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from typing import Any

import anyio
from anyio.abc import SocketAttribute

from ws_channel_core import (
    ClientOptions,
    Connect,
    ServerOptions,
    WebSocketChannel,
    WebSocketServer,
    get_backend,
)
from ws_channel_core import connect as core_connect
from ws_channel_core import serve as core_serve
from ws_channel_core.channel import Handler, Message

__all__ = [
    "SCALE",
    "CASE_TIMEOUT",
    "CLOSE_TIMEOUT",
    "CONNECT_TIMEOUT",
    "SLACK",
    "connect",
    "serve",
    "fail_after",
    "collect",
    "drain",
    "Recorder",
    "closed_port",
    "open_pair",
]

#: Multiplies every timeout of the suite.
SCALE = float(os.environ.get("WS_CHANNEL_CONFORMANCE_SCALE", "1"))
#: Upper bound for any single case; a case that hangs fails instead.
CASE_TIMEOUT = 5.0 * SCALE
#: The ``close_timeout`` cases use, so that a peer that never answers costs half a second.
CLOSE_TIMEOUT = 0.5 * SCALE
#: The ``connect_timeout`` cases use.
CONNECT_TIMEOUT = 2.0 * SCALE
#: Extra time allowed on top of a deadline the backend must keep (scheduling, loopback latency).
SLACK = 0.5 * SCALE

_CLIENT_DEFAULTS: Mapping[str, Any] = {"close_timeout": CLOSE_TIMEOUT, "connect_timeout": CONNECT_TIMEOUT}
_SERVER_DEFAULTS: Mapping[str, Any] = {"close_timeout": CLOSE_TIMEOUT, "connect_timeout": CONNECT_TIMEOUT}


def connect(url: str, backend: str, **options: Any) -> Connect:
    """``ws_channel_core.connect`` on ``backend`` with the suite's short timeouts (overridable)."""
    return core_connect(url, backend=backend, **{**_CLIENT_DEFAULTS, **options})


def serve(handler: Handler, backend: str, **options: Any) -> AbstractAsyncContextManager[WebSocketServer]:
    """``ws_channel_core.serve`` on 127.0.0.1, a free port, ``backend``, short timeouts."""
    return core_serve(handler, "127.0.0.1", 0, backend=backend, **{**_SERVER_DEFAULTS, **options})


def fail_after(seconds: float = CASE_TIMEOUT) -> AbstractContextManager[anyio.CancelScope]:
    """``anyio.fail_after`` with the suite's default bound for a whole case."""
    return anyio.fail_after(seconds)


async def collect(channel: WebSocketChannel, count: int | None = None) -> list[Message]:
    """Read ``count`` messages (all of them until the stream ends when ``None``)."""
    messages: list[Message] = []
    if count == 0:
        return messages
    async for message in channel.stream:
        messages.append(message)
        if count is not None and len(messages) >= count:
            break
    return messages


async def drain(channel: WebSocketChannel) -> list[Message]:
    """Read until the stream ends, then wait for ``done``; return what was read."""
    messages = await collect(channel)
    await channel.sink.done
    return messages


class Recorder:
    """Collects what a server handler saw, so the case can assert on it after the connection ended.

    ``handler(body)`` wraps an async ``body(channel)``: the channel is recorded, and ``finished`` is
    set once the body returned or raised (the exception is kept in ``errors``, then re-raised so the
    server's own 1011 policy applies).
    """

    def __init__(self) -> None:
        self.channels: list[WebSocketChannel] = []
        self.messages: list[Message] = []
        self.errors: list[BaseException] = []
        self.finished = anyio.Event()
        self.started = anyio.Event()

    def handler(self, body: Callable[[WebSocketChannel], Any]) -> Handler:
        """An async handler for ``serve`` that records around ``body``."""

        async def handle(channel: WebSocketChannel) -> None:
            self.channels.append(channel)
            self.started.set()
            try:
                await body(channel)
            except BaseException as exc:
                self.errors.append(exc)
                raise
            finally:
                self.finished.set()

        return handle

    @property
    def channel(self) -> WebSocketChannel:
        """The first recorded channel."""
        return self.channels[0]


@asynccontextmanager
async def closed_port() -> AsyncIterator[int]:
    """A loopback port nothing listens on (bound then released, so refused connections are fast)."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)
    await listener.aclose()
    yield port


@asynccontextmanager
async def open_pair(
    backend: str, transport: str, **options: Any
) -> AsyncIterator[tuple[WebSocketChannel, WebSocketChannel]]:
    """A connected ``(client, server)`` pair of ``backend``'s channels, both closed on exit.

    ``transport`` is ``"tcp"`` (``serve`` and ``connect`` over loopback) or ``"memory"`` (the
    backend's own ``open_pair``, no network). ``options`` apply to both ends.
    """
    if transport == "memory":
        open_memory = get_backend(backend).open_pair  # type: ignore[attr-defined]
        settings = {**_CLIENT_DEFAULTS, **options}
        async with open_memory(ClientOptions(**settings), ServerOptions(**settings)) as pair:
            yield pair
        return
    if transport != "tcp":
        raise ValueError(f"unknown transport {transport!r}")
    accepted, incoming = anyio.create_memory_object_stream[WebSocketChannel](1)

    async def hand_over(channel: WebSocketChannel) -> None:
        await accepted.send(channel)
        await channel.sink.done  # the case drives the channel; returning would close it

    async with serve(hand_over, backend, **options) as server:
        client = await connect(f"ws://127.0.0.1:{server.port}/", backend, **options)
        try:
            with anyio.fail_after(CONNECT_TIMEOUT):
                server_channel = await incoming.receive()
            yield client, server_channel
        finally:
            with anyio.CancelScope(shield=True):
                await client.sink.close(1000)  # bounded by close_timeout
            accepted.close()
            incoming.close()
