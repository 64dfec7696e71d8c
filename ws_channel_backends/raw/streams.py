"""WebSocket channels over byte streams someone else opened, and an in-memory pair for tests.

- :func:`channel_over_stream` / :func:`open_channel_over_stream`: frames over any already-upgraded
  anyio ``ByteStream`` (Dart's ``WebSocketChannel(channel, serverSide:)``); no HTTP;
- :func:`memory_pair` / :func:`open_memory_pair`: a connected (client, server) pair of channels in
  memory, speaking real frames, no network; :class:`MemoryByteStream` and
  :func:`memory_byte_stream_pair` are the byte pipe underneath.

The channels are the anyio driver's (:class:`.anyio_driver.StreamChannel`): where their background
tasks run is described in :mod:`.anyio_driver`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc

from ws_channel_core.options import ClientOptions, Options, ServerOptions

from ._common import make_engine
from .anyio_driver import StreamChannel
from .engine.deflate import DeflateParameters

__all__ = [
    "channel_over_stream",
    "open_channel_over_stream",
    "memory_pair",
    "open_memory_pair",
    "MemoryByteStream",
    "memory_byte_stream_pair",
]


def _default_options(server_side: bool) -> Options:
    return ServerOptions() if server_side else ClientOptions()


def channel_over_stream(
    stream: anyio.abc.ByteStream,
    *,
    server_side: bool,
    protocol: str | None = None,
    options: Options | None = None,
    deflate: DeflateParameters | None = None,
    task_group: anyio.abc.TaskGroup | None = None,
    initial_data: bytes = b"",
) -> StreamChannel:
    """Speak WebSocket frames over ``stream``, which someone already upgraded (Dart's
    ``WebSocketChannel(channel, serverSide:)``).

    Args:
        server_side: ``True`` when this end is the server (it expects masked frames).
        protocol: the subprotocol agreed during the upgrade, exposed as ``channel.protocol``.
        options: limits and timers (``max_size``, ``ping_interval``, ``close_timeout``,
            ``max_queue``...); defaults to the role's defaults.
        deflate: the permessage-deflate parameters agreed during the upgrade, if any.
        task_group: where the background tasks run; see the module docstring when omitted.
        initial_data: bytes already read from ``stream`` after the upgrade (the start of the frames).
    """
    opts = options if options is not None else _default_options(server_side)
    engine = make_engine(opts, server_side=server_side, deflate=deflate)
    return StreamChannel(
        stream, engine, protocol=protocol, options=opts, task_group=task_group, initial_data=initial_data
    )


@asynccontextmanager
async def open_channel_over_stream(
    stream: anyio.abc.ByteStream,
    *,
    server_side: bool,
    protocol: str | None = None,
    options: Options | None = None,
    deflate: DeflateParameters | None = None,
    initial_data: bytes = b"",
) -> AsyncIterator[StreamChannel]:
    """:func:`channel_over_stream` with its own task group; closes the channel (1000) on exit."""
    async with anyio.create_task_group() as task_group:
        channel = channel_over_stream(
            stream,
            server_side=server_side,
            protocol=protocol,
            options=options,
            deflate=deflate,
            task_group=task_group,
            initial_data=initial_data,
        )
        try:
            yield channel
        finally:
            with anyio.CancelScope(shield=True):
                await channel.close(1000)


class MemoryByteStream(anyio.abc.ByteStream):
    """One end of an in-memory byte pipe (bounded: a sender waits while 16 chunks are unread)."""

    def __init__(
        self,
        send: anyio.abc.ObjectSendStream[bytes],
        receive: anyio.abc.ObjectReceiveStream[bytes],
    ) -> None:
        self._send = send
        self._receive = receive
        self._leftover = b""

    async def receive(self, max_bytes: int = 65536) -> bytes:
        data = self._leftover
        if not data:
            try:
                data = await self._receive.receive()
            except anyio.EndOfStream:
                raise
        self._leftover = data[max_bytes:]
        return data[:max_bytes]

    async def send(self, item: bytes) -> None:
        if item:
            await self._send.send(bytes(item))

    async def send_eof(self) -> None:
        await self._send.aclose()

    async def aclose(self) -> None:
        await self._send.aclose()
        await self._receive.aclose()

    @property
    def extra_attributes(self) -> dict[Any, Callable[[], Any]]:
        return {}


def memory_byte_stream_pair() -> tuple[MemoryByteStream, MemoryByteStream]:
    """Two connected in-memory byte streams."""
    a_send, b_receive = anyio.create_memory_object_stream[bytes](16)
    b_send, a_receive = anyio.create_memory_object_stream[bytes](16)
    return MemoryByteStream(a_send, a_receive), MemoryByteStream(b_send, b_receive)


def memory_pair(
    *,
    client_options: Options | None = None,
    server_options: Options | None = None,
    task_group: anyio.abc.TaskGroup | None = None,
) -> tuple[StreamChannel, StreamChannel]:
    """A connected (client, server) pair of channels in memory, for users' tests; no handshake."""
    a, b = memory_byte_stream_pair()
    client = channel_over_stream(a, server_side=False, options=client_options, task_group=task_group)
    server = channel_over_stream(b, server_side=True, options=server_options, task_group=task_group)
    return client, server


@asynccontextmanager
async def open_memory_pair(
    *, client_options: Options | None = None, server_options: Options | None = None
) -> AsyncIterator[tuple[StreamChannel, StreamChannel]]:
    """:func:`memory_pair` with its own task group; both channels are closed on exit."""
    async with anyio.create_task_group() as task_group:
        client, server = memory_pair(
            client_options=client_options, server_options=server_options, task_group=task_group
        )
        try:
            yield client, server
        finally:
            with anyio.CancelScope(shield=True):
                async with anyio.create_task_group() as closing:
                    closing.start_soon(_close_normally, client)
                    closing.start_soon(_close_normally, server)


async def _close_normally(channel: StreamChannel) -> None:
    await channel.close(1000)
