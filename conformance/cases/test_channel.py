"""channel: ``ready``, headers, timeouts, the single-consumer stream and the sink's contract."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from contextlib import aclosing

import anyio
import pytest

from conformance.peers import PeerConnection, scripted_server
from conformance.peers.scripts import delay_upgrade, echo, respond_without_upgrade, upgrade
from conformance.support import CONNECT_TIMEOUT, SLACK, collect, connect, drain, fail_after
from ws_channel_core import (
    ConnectionClosed,
    HandshakeTimeout,
    InvalidStatus,
    WebSocketChannel,
    WebSocketSink,
)

pytestmark = pytest.mark.anyio


async def test_ready_completes_once_connect_returned_and_may_be_awaited_again(ws_backend: str) -> None:
    async with scripted_server(upgrade()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            await channel.ready
            await channel.ready
            assert isinstance(channel, WebSocketChannel)
            assert isinstance(channel.sink, WebSocketSink)
            assert channel.close_code is None
            assert channel.close_reason is None
            assert channel.close_sent is None
            assert channel.close_received is None
            await channel.sink.close()


async def test_async_with_connect_raises_the_handshake_error_of_a_404(ws_backend: str) -> None:
    async with scripted_server(respond_without_upgrade(404, "Not Found")) as server:
        with fail_after(), pytest.raises(InvalidStatus) as raised:
            async with connect(server.url, ws_backend):
                pytest.fail("the block must not run")  # pragma: no cover
    assert raised.value.status_code == 404


async def test_async_with_connect_closes_with_1000_on_exit(ws_backend: str) -> None:
    async with scripted_server(upgrade()) as server:
        with fail_after():
            async with connect(server.url, ws_backend) as channel:
                pass
            await channel.sink.done
            await server.wait_finished()
    assert server.connection.received_close_code() == (1000, "")


async def test_a_message_added_right_after_connect_is_delivered(ws_backend: str) -> None:
    async with scripted_server(echo()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            await channel.sink.add("first")
            assert await collect(channel, 1) == ["first"]
            await channel.sink.close()


async def test_close_right_after_connect_sends_the_code_and_reason(ws_backend: str) -> None:
    async with scripted_server(upgrade()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            await channel.sink.close(3678, "raisin")
            await server.wait_finished()
    assert server.connection.received_close_code() == (3678, "raisin")


async def test_cancelling_connect_before_the_handshake_ends_the_tcp_connection(ws_backend: str) -> None:
    ended = anyio.Event()

    async def script(connection: PeerConnection) -> None:
        await connection.read_request()
        await connection.read_to_eof()
        ended.set()

    async with scripted_server(script) as server:
        with fail_after():
            with anyio.move_on_after(0.2):
                await connect(server.url, ws_backend)
                pytest.fail("the handshake cannot complete")  # pragma: no cover
            await ended.wait()


async def test_a_101_delayed_past_connect_timeout_raises_handshake_timeout(ws_backend: str) -> None:
    release = anyio.Event()
    timeout = 0.3
    async with scripted_server(delay_upgrade(release)) as server:
        with fail_after():
            started = time.monotonic()
            with pytest.raises(HandshakeTimeout) as raised:
                await connect(server.url, ws_backend, connect_timeout=timeout)
            elapsed = time.monotonic() - started
            release.set()
    assert isinstance(raised.value, TimeoutError)
    assert timeout * 0.9 <= elapsed <= timeout + SLACK


async def test_a_101_within_connect_timeout_succeeds(ws_backend: str) -> None:
    release = anyio.Event()
    async with scripted_server(delay_upgrade(release)) as server:
        with fail_after():
            async with anyio.create_task_group() as tasks:

                async def let_go() -> None:
                    await server.wait_connected()
                    await anyio.sleep(0.1)
                    release.set()

                tasks.start_soon(let_go)
                channel = await connect(server.url, ws_backend, connect_timeout=CONNECT_TIMEOUT)
            await channel.sink.close()


async def test_extra_headers_reach_the_server(ws_backend: str) -> None:
    headers = {"User-Agent": "conformance-suite/1.0", "Authorization": "Bearer s3cret", "X-Custom": "yes"}
    async with scripted_server(upgrade()) as server:
        with fail_after():
            async with connect(server.url, ws_backend, headers=headers):
                pass
            await server.wait_finished()
    request = server.connection.request
    assert request is not None
    assert request.header("Authorization") == "Bearer s3cret"
    assert request.header("X-Custom") == "yes"
    assert "conformance-suite/1.0" in request.header_values("User-Agent")


async def test_the_upgrade_request_carries_the_resource_and_host(ws_backend: str) -> None:
    async with scripted_server(upgrade()) as server:
        with fail_after():
            async with connect(f"ws://127.0.0.1:{server.port}/path/to?x=1&y=2", ws_backend):
                pass
            await server.wait_finished()
    request = server.connection.request
    assert request is not None
    assert (request.method, request.target) == ("GET", "/path/to?x=1&y=2")
    assert request.header("Host") == f"127.0.0.1:{server.port}"
    assert request.header("Sec-WebSocket-Version") == "13"


async def test_the_stream_has_one_consumer(ws_backend: str) -> None:
    async with scripted_server(upgrade()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            reading = anyio.Event()

            async def first_reader() -> None:
                reading.set()
                await collect(channel)

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(first_reader)
                await reading.wait()
                await anyio.sleep(0.05)
                with pytest.raises(RuntimeError):
                    await channel.stream.__anext__()
                await channel.sink.close()


async def test_cancelling_the_consumer_does_not_close_the_channel(ws_backend: str) -> None:
    async with scripted_server(echo()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            with anyio.move_on_after(0.1):
                await collect(channel, 1)
            assert channel.close_code is None
            await channel.sink.add("still open")
            assert await collect(channel, 1) == ["still open"]
            await channel.sink.close()


async def test_add_stream_sends_every_message_in_order(ws_backend: str) -> None:
    async def produce() -> AsyncGenerator[str | bytes, None]:
        for index in range(20):
            yield f"m{index}" if index % 2 else bytes([index])

    async with scripted_server(echo()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            async with aclosing(produce()) as messages:
                await channel.sink.add_stream(messages)
            received = await collect(channel, 20)
            await channel.sink.close()
    assert received == [f"m{index}" if index % 2 else bytes([index]) for index in range(20)]


async def test_bytes_like_messages_are_sent_as_binary_and_other_types_raise_type_error(
    ws_backend: str
) -> None:
    async with scripted_server(echo()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            await channel.sink.add(bytearray(b"array"))  # type: ignore[arg-type]
            await channel.sink.add(memoryview(b"view"))  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                await channel.sink.add(42)  # type: ignore[arg-type]
            assert await collect(channel, 2) == [b"array", b"view"]
            await channel.sink.close()


async def test_add_stream_after_close_raises_connection_closed(ws_backend: str) -> None:
    async def produce() -> AsyncGenerator[str, None]:
        yield "late"

    async with scripted_server(upgrade()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            await channel.sink.close()
            assert await drain(channel) == []
            async with aclosing(produce()) as messages:
                with pytest.raises(ConnectionClosed):
                    await channel.sink.add_stream(messages)
