"""close_remote: the peer closes; the stream ends after the last message and the peer's code is kept."""

from __future__ import annotations

import pytest

from conformance.peers import OP_CLOSE, encode_frame, scripted_server
from conformance.peers.scripts import close_with, send_then_echo_close
from conformance.support import connect, drain, fail_after
from ws_channel_core import CloseFrame, ConnectionClosed, ConnectionClosedError, ConnectionClosedOK

pytestmark = pytest.mark.anyio


async def test_the_peer_closing_with_a_code_and_reason_ends_the_stream_without_error(ws_backend: str) -> None:
    script = close_with(4123, "server closed the connection", after=("one", b"two"))
    async with scripted_server(script) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            assert await drain(channel) == ["one", b"two"]
    assert channel.close_code == 4123
    assert channel.close_reason == "server closed the connection"
    assert channel.close_error is None


async def test_the_peer_closing_without_a_code_is_reported_as_1005(ws_backend: str) -> None:
    async with scripted_server(close_with(None)) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            assert await drain(channel) == []
    assert channel.close_code == 1005
    assert channel.close_reason == ""


async def test_the_close_frames_of_a_remote_close_are_recorded_in_order(ws_backend: str) -> None:
    async with scripted_server(close_with(3678, "raisin")) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            await drain(channel)
            await server.wait_finished()
    assert channel.close_received == CloseFrame(3678, "raisin")
    assert channel.close_sent is not None
    assert channel.close_sent.code == 3678  # RFC 6455 5.5.1: the endpoint echoes the status code
    assert channel.close_received_first is True
    assert server.connection.received_close_code() == (3678, channel.close_sent.reason)


@pytest.mark.parametrize("message", ["text", b"bytes"], ids=["text", "bytes"])
async def test_sending_after_the_peer_closed_raises_connection_closed(
    ws_backend: str, message: str | bytes
) -> None:
    async with scripted_server(close_with(4123, "bye")) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            await drain(channel)
            with pytest.raises(ConnectionClosedError) as raised:
                await channel.sink.add(message)
    assert raised.value.code == 4123
    assert raised.value.reason == "bye"


async def test_sending_after_a_clean_remote_close_raises_connection_closed_ok(ws_backend: str) -> None:
    async with scripted_server(close_with(1000)) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            await drain(channel)
            with pytest.raises(ConnectionClosedOK):
                await channel.sink.add("late")


async def test_close_after_the_peer_closed_completes_without_raising(ws_backend: str) -> None:
    async with scripted_server(close_with(4123, "bye")) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            await drain(channel)
            await channel.sink.close(3000, "too late")
            await channel.sink.close()
    assert channel.close_code == 4123
    assert channel.close_reason == "bye"


async def test_a_peer_close_reason_with_invalid_utf8_fails_the_connection(ws_backend: str) -> None:
    bad_close = encode_frame(OP_CLOSE, bytes.fromhex("101bff"))
    async with scripted_server(send_then_echo_close(bad_close, answer_close=False)) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            assert await drain(channel) == []
            await server.wait_finished()
            with pytest.raises(ConnectionClosed):
                await channel.sink.add("after")
    assert channel.close_code in {1002, 1006, 1007}
    received = server.connection.received_close_code()
    assert received is None or received[0] in {1002, 1007}
