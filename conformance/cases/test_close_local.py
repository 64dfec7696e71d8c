"""close_local: this side closes; what the peer sees, and what the channel does afterwards."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from conformance.peers import OP_CLOSE, OP_TEXT, scripted_server
from conformance.peers.scripts import stream_messages, upgrade
from conformance.support import collect, connect, drain, fail_after
from ws_channel_core import CloseFrame, ConnectionClosed

pytestmark = pytest.mark.anyio


async def test_what_the_peer_streamed_before_its_close_frame_comes_in_order_after_a_local_close(
    ws_backend: str,
) -> None:
    # RFC 6455 5.5.1: after sending a close frame an endpoint still receives until the peer's close
    # frame. Whatever was in flight is delivered in order, without gaps, then the stream ends.
    async with scripted_server(stream_messages(10_000)) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            first = await collect(channel, 1)
            closing = channel.sink.close(1000)
            rest = await collect(channel)
            await closing
    assert first == ["message 0"]
    assert rest == [f"message {index}" for index in range(1, len(rest) + 1)]
    assert channel.close_code == 1000


@pytest.mark.parametrize("code", [1004, 1005, 1006, 1015, 999, 2999, 5000, 0, 65535])
async def test_close_with_a_code_that_may_not_be_sent_raises_value_error_and_sends_nothing(
    ws_backend: str, code: int
) -> None:
    async with scripted_server(upgrade()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            with pytest.raises(ValueError):
                channel.sink.close(code)
            await channel.sink.add("still open")
            await channel.sink.close(1000)
            await server.wait_finished()
    frames = server.connection.frames
    assert [frame.opcode for frame in frames] == [OP_TEXT, OP_CLOSE]
    assert server.connection.received_close_code() == (1000, "")


async def test_close_with_a_reason_of_124_utf8_bytes_raises_value_error(ws_backend: str) -> None:
    async with scripted_server(upgrade()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            with pytest.raises(ValueError):
                channel.sink.close(3000, "é" * 62)
            await channel.sink.close(3000, "é" * 61 + "a")
            await server.wait_finished()
    assert server.connection.received_close_code() == (3000, "é" * 61 + "a")


async def test_close_with_a_reason_but_no_code_raises_value_error(ws_backend: str) -> None:
    async with scripted_server(upgrade()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            with pytest.raises(ValueError):
                channel.sink.close(None, "why")
            with pytest.raises(TypeError):
                channel.sink.close("1000")  # type: ignore[arg-type]
            await channel.sink.close()


async def test_close_without_a_code_sends_an_empty_close_frame_and_ends_the_stream(ws_backend: str) -> None:
    async with scripted_server(upgrade()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            await channel.sink.close()
            assert await drain(channel) == []
            await server.wait_finished()
    assert server.connection.received_close_code() == (None, "")
    assert channel.close_code == 1005
    assert channel.close_reason == ""


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999])
async def test_close_with_an_allowed_code_sends_that_code_and_an_empty_reason(
    ws_backend: str, code: int
) -> None:
    async with scripted_server(upgrade()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            await channel.sink.close(code)
            await channel.sink.done
            await server.wait_finished()
    assert server.connection.received_close_code() == (code, "")
    assert channel.close_code == code  # the peer echoed the code
    assert channel.close_reason == ""


async def test_close_with_a_code_and_reason_sends_both_and_records_the_frames(ws_backend: str) -> None:
    async with scripted_server(upgrade()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            await channel.sink.close(3000, "Client initiated closure")
            await channel.sink.done
            await server.wait_finished()
    assert server.connection.received_close_code() == (3000, "Client initiated closure")
    assert channel.close_sent == CloseFrame(3000, "Client initiated closure")
    assert channel.close_received == CloseFrame(3000, "")
    assert channel.close_received_first is False
    assert channel.close_error is None


async def test_a_second_close_waits_for_the_same_completion_and_does_not_raise(ws_backend: str) -> None:
    async with scripted_server(upgrade()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)

            async def close(code: int, reason: str) -> None:
                await channel.sink.close(code, reason)

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(close, 3001, "first")
                await anyio.lowlevel.checkpoint()
                tasks.start_soon(close, 3002, "second")
            await channel.sink.close()
            await channel.sink.done
            await server.wait_finished()
    closes = [frame for frame in server.connection.frames if frame.opcode == OP_CLOSE]
    assert len(closes) == 1
    assert server.connection.received_close_code() == (3001, "first")


@pytest.mark.parametrize("message", ["text", b"bytes"], ids=["text", "bytes"])
async def test_sending_after_a_local_close_raises_connection_closed(
    ws_backend: str, message: str | bytes
) -> None:
    async with scripted_server(upgrade()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            await channel.sink.close(1000)
            with pytest.raises(ConnectionClosed):
                await channel.sink.add(message)
            await server.wait_finished()
    assert [frame.opcode for frame in server.connection.frames] == [OP_CLOSE]


async def test_done_completes_after_a_local_close_and_may_be_awaited_again(ws_backend: str) -> None:
    async with scripted_server(upgrade()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            await channel.sink.close(1000)
            await channel.sink.done
            await channel.sink.done
            await channel.sink.done
