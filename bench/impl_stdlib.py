"""Plain asyncio, no WebSocket: streams (the reference) and Protocol/Transport echo."""

from __future__ import annotations

import asyncio
import contextlib

from bench.common import HOST, Config, Ready

__all__ = ["serve_streams", "open_streams_client", "serve_protocol", "open_protocol_client"]

READ_SIZE = 2**18


async def _echo_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(READ_SIZE):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def serve_streams(config: Config, ready: Ready) -> None:
    """Echo with ``asyncio.start_server``: the reference every ratio is relative to."""
    server = await asyncio.start_server(_echo_stream, HOST, 0)
    async with server:
        ready(server.sockets[0].getsockname()[1])
        await server.serve_forever()


class _StreamsConn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def send(self, message: str | bytes) -> None:
        self._writer.write(message.encode() if isinstance(message, str) else message)
        await self._writer.drain()

    async def receive(self) -> int:
        data = await self._reader.read(READ_SIZE)
        if not data:
            raise EOFError("connection closed")
        return len(data)

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


class StreamsClient:
    """Connections with ``asyncio.open_connection``."""

    async def connect(self, port: int) -> _StreamsConn:
        reader, writer = await asyncio.open_connection(HOST, port)
        return _StreamsConn(reader, writer)

    async def aclose(self) -> None:
        return None


async def open_streams_client(config: Config) -> StreamsClient:
    return StreamsClient()


class _EchoProtocol(asyncio.Protocol):
    """Writes back what it reads; stops reading while the transport's write buffer is full."""

    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()


async def serve_protocol(config: Config, ready: Ready) -> None:
    """Echo with ``loop.create_server`` and a Protocol: no stream layer at all."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_EchoProtocol, HOST, 0)
    async with server:
        ready(server.sockets[0].getsockname()[1])
        await server.serve_forever()


class _ClientProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.received = 0
        self.waiter: asyncio.Future[None] | None = None
        self.drain: asyncio.Future[None] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        self.drain = self.loop.create_future()

    def resume_writing(self) -> None:
        drain, self.drain = self.drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        for future in (self.waiter, self.drain):
            if future is not None and not future.done():
                future.set_exception(EOFError("connection closed"))


class _ProtocolConn:
    def __init__(self, transport: asyncio.Transport, protocol: _ClientProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def send(self, message: str | bytes) -> None:
        self._transport.write(message.encode() if isinstance(message, str) else message)
        if self._protocol.drain is not None:
            await self._protocol.drain

    async def receive(self) -> int:
        protocol = self._protocol
        if not protocol.received:
            if protocol.lost:
                raise EOFError("connection closed")
            protocol.waiter = protocol.loop.create_future()
            await protocol.waiter
        received, protocol.received = protocol.received, 0
        return received

    async def close(self) -> None:
        self._transport.close()


class ProtocolClient:
    """Connections with ``loop.create_connection`` and a Protocol."""

    async def connect(self, port: int) -> _ProtocolConn:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_connection(_ClientProtocol, HOST, port)
        assert isinstance(transport, asyncio.Transport)
        return _ProtocolConn(transport, protocol)

    async def aclose(self) -> None:
        return None


async def open_protocol_client(config: Config) -> ProtocolClient:
    return ProtocolClient()
