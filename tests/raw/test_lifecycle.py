"""The raw backend's handshake hooks, closing and lifecycle on every event loop (asyncio, uvloop, trio).

The conformance suite checks the shared behaviour (raw runs it on uvloop too); here is what only the
raw drivers promise: both hook flavours on both drivers, a failing server's close frame reaches a
peer that is still sending, and memory stays bounded while closing.
"""

from __future__ import annotations

import os
import struct

import anyio
import anyio.abc
import pytest

import ws_channel_core as wc
from ws_channel_backends.raw.engine.handshake import HttpReader, build_request, request_bytes
from ws_channel_core.handshake import generate_key
from ws_channel_core.http import Request, Response

pytestmark = pytest.mark.anyio
TIMEOUT = 10


async def echo(channel: wc.WebSocketChannel) -> None:
    async for message in channel.stream:
        await channel.sink.add(message)


@pytest.mark.parametrize("flavour", ["plain", "async"])
async def test_hooks_see_the_request_and_set_a_cookie(flavour: str) -> None:
    seen: list[Request] = []

    def plain_request(request: Request) -> Response | None:
        seen.append(request)
        return None if request.query_value("token") == "ok" else Response(401, body="token\n")

    async def async_request(request: Request) -> Response | None:
        await anyio.sleep(0.01)  # a hook that really suspends
        return plain_request(request)

    def add_cookie(request: Request, response: Response) -> None:
        response.headers.add("Set-Cookie", "a=1")
        response.headers.add("Set-Cookie", "b=2")

    hook = plain_request if flavour == "plain" else async_request
    with anyio.fail_after(TIMEOUT):
        async with wc.serve(echo, backend="raw", process_request=hook, process_response=add_cookie) as server:
            url = f"ws://127.0.0.1:{server.port}/chat"
            with pytest.raises(wc.InvalidStatus) as refused:
                await wc.connect(url + "?token=no", backend="raw")
            assert refused.value.response.status == 401
            assert refused.value.response.body == b"token\n"
            async with wc.connect(url + "?token=ok", backend="raw") as channel:
                await channel.sink.add("hi")
                assert await anext(channel.stream) == "hi"
                assert channel.response is not None
                assert channel.response.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
                assert channel.request is not None and channel.request.path == "/chat"
                assert isinstance(channel.local_address, tuple)
                assert channel.remote_address[:2] == ("127.0.0.1", server.port)  # type: ignore[index]
    assert [request.query_value("token") for request in seen] == ["no", "ok"]
    assert all(request.remote_address is not None for request in seen)


async def test_a_plain_get_is_answered_426() -> None:
    with anyio.fail_after(TIMEOUT):
        async with wc.serve(echo, backend="raw") as server:
            stream = await anyio.connect_tcp("127.0.0.1", server.port)
            async with stream:
                await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                reader = HttpReader()
                response = None
                while response is None:
                    try:
                        reader.feed(await stream.receive())
                    except anyio.EndOfStream:
                        reader.feed_eof()
                    response = reader.read_response()
    assert response.status == 426
    assert response.headers["Upgrade"] == "websocket"
    assert response.headers["Sec-WebSocket-Version"] == "13"


# -- a raw-socket peer ---------------------------------------------------------------------------------


async def _upgraded_socket(port: int) -> tuple[anyio.abc.SocketStream, bytes]:
    """Connect and upgrade without compression; return the stream and the bytes after the 101."""
    stream = await anyio.connect_tcp("127.0.0.1", port)
    request = build_request(f"127.0.0.1:{port}", "/", generate_key(), compression=False)
    await stream.send(request_bytes(request))
    reader = HttpReader()
    while (response := reader.read_response()) is None:
        reader.feed(await stream.receive())
    assert response.status == 101
    return stream, bytes(reader.buffer)


def _masked_header(opcode: int, length: int) -> bytes:
    return struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length) + os.urandom(4)


async def _read_close_code(stream: anyio.abc.SocketStream, data: bytes) -> int:
    """Read frames from the server until its close frame; return the code (a reset fails the test)."""
    buffer = bytearray(data)
    while True:
        while len(buffer) >= 2:
            opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
            start = 2 if length < 126 else 4 if length == 126 else 10
            if length >= 126:
                length = int.from_bytes(buffer[2:start], "big")
            if len(buffer) < start + length:
                break
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            if opcode == 8:
                return int.from_bytes(payload[:2], "big")
        buffer += await stream.receive()


@pytest.mark.parametrize("run", range(3))
async def test_a_failing_server_close_frame_reaches_a_peer_that_is_still_sending(run: int) -> None:
    # The header announces a frame beyond max_size: the server fails with 1009 at once, while the peer
    # goes on sending 4 MiB of it before reading. The server must drain, not reset the connection.
    with anyio.fail_after(TIMEOUT):
        async with wc.serve(echo, backend="raw", max_size=1000, compression=None) as server:
            stream, leftover = await _upgraded_socket(server.port)
            async with stream:
                await stream.send(_masked_header(2, 64 * 2**20))
                chunk = b"\x00" * 2**16
                for _ in range(64):
                    await stream.send(chunk)
                assert await _read_close_code(stream, leftover) == 1009


async def test_closing_without_reading_keeps_at_most_max_queue_messages() -> None:
    sent = anyio.Event()

    # 400 messages of 4 KiB, uncompressed: far more than one read (256 KiB) brings, however the server
    # batches its writes.
    async def flood(channel: wc.WebSocketChannel) -> None:
        for index in range(400):
            await channel.sink.add(f"message {index} ".ljust(4096, "."))
        sent.set()
        await anyio.sleep(0.2)  # the client's close frame waits in the kernel meanwhile

    with anyio.fail_after(TIMEOUT):
        async with wc.serve(flood, backend="raw") as server:
            channel = await wc.connect(
                f"ws://127.0.0.1:{server.port}/", backend="raw", max_queue=4, compression=None
            )
            await sent.wait()
            await channel.sink.close(1000)
    assert channel.close_code == 1000
    # Before the close, reading paused at max_queue (plus what the last read brought); after it,
    # nothing more was kept: what is queued is a prefix of what was sent, far from all of it.
    kept = [message async for message in channel.stream]
    assert 4 <= len(kept) < 100
    assert kept == [f"message {i} ".ljust(4096, ".") for i in range(len(kept))]


async def test_a_reader_waiting_when_close_is_called_gets_everything_before_the_peers_close() -> None:
    async def burst(channel: wc.WebSocketChannel) -> None:
        async for message in channel.stream:
            for index in range(100):
                await channel.sink.add(f"{message!s} {index}")

    with anyio.fail_after(TIMEOUT):
        async with wc.serve(burst, backend="raw") as server:
            channel = await wc.connect(f"ws://127.0.0.1:{server.port}/", backend="raw", max_queue=2)
            received: list[wc.Message] = []

            async def read() -> None:
                async for message in channel.stream:
                    received.append(message)

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(read)
                await channel.sink.add("go")
                await anyio.sleep(0.1)
                channel.sink.close(1000)
    assert received == [f"go {index}" for index in range(100)]
    assert channel.close_code == 1000
