"""limits: ``max_size`` bounds incoming messages (close 1009), compressed ones included."""

from __future__ import annotations

import pytest

from conformance.peers import (
    OP_BINARY,
    OP_CONTINUATION,
    OP_TEXT,
    PeerConnection,
    deflate_payload,
    encode_frame,
    scripted_client,
    scripted_server,
)
from conformance.peers.scripts import send_then_echo_close
from conformance.support import Recorder, collect, connect, drain, fail_after, serve
from ws_channel_core import PayloadTooBig, WebSocketChannel

pytestmark = pytest.mark.anyio

LIMIT = 64 * 1024


def _check_too_big(channel: WebSocketChannel, received: tuple[int | None, str] | None) -> None:
    assert received is not None and received[0] == 1009, f"the peer received {received}"
    assert channel.close_code in {1009, 1006}
    assert isinstance(channel.close_error, PayloadTooBig)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
async def test_a_message_over_max_size_closes_with_1009(ws_backend: str, opcode: int) -> None:
    oversized = encode_frame(opcode, b"a" * (LIMIT + 1))
    async with scripted_server(send_then_echo_close(oversized)) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend, max_size=LIMIT)
            assert await drain(channel) == []
            await server.wait_finished()
    _check_too_big(channel, server.connection.received_close_code())


async def test_a_message_of_exactly_max_size_is_delivered(ws_backend: str) -> None:
    async def script(connection: PeerConnection) -> None:
        await connection.accept()
        await connection.send_binary(b"b" * LIMIT)
        await connection.send_close(1000)
        await connection.read_until_close()

    async with scripted_server(script) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend, max_size=LIMIT)
            assert await drain(channel) == [b"b" * LIMIT]


async def test_a_fragmented_message_over_max_size_closes_with_1009(ws_backend: str) -> None:
    chunk = b"c" * (LIMIT // 4)
    frames = encode_frame(OP_BINARY, chunk, fin=False)
    frames += b"".join(encode_frame(OP_CONTINUATION, chunk, fin=False) for _ in range(4))
    frames += encode_frame(OP_CONTINUATION, chunk)
    async with scripted_server(send_then_echo_close(frames)) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend, max_size=LIMIT)
            assert await drain(channel) == []
            await server.wait_finished()
    _check_too_big(channel, server.connection.received_close_code())


async def test_a_small_compressed_frame_inflating_past_max_size_closes_with_1009(ws_backend: str) -> None:
    bomb = deflate_payload(b"\x00" * (16 * 2**20))  # 16 MiB of zeros in about 16 KB
    assert len(bomb) < LIMIT
    frame = encode_frame(OP_BINARY, bomb, rsv1=True)

    async def script(connection: PeerConnection) -> None:
        request = await connection.read_request()
        offered = request.header("Sec-WebSocket-Extensions") or ""
        assert "permessage-deflate" in offered, f"deflate was not offered: {offered!r}"
        await send_then_echo_close(
            frame, extensions="permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        )(connection)

    async with scripted_server(script) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend, max_size=LIMIT, compression="deflate")
            assert await drain(channel) == []
            await server.wait_finished()
    assert server.errors == []
    _check_too_big(channel, server.connection.received_close_code())


async def test_no_limit_accepts_a_message_over_the_default_max_size(ws_backend: str) -> None:
    size = 2**20 + 1

    async def script(connection: PeerConnection) -> None:
        await connection.accept()
        await connection.send_binary(b"d" * size)
        await connection.send_close(1000)
        await connection.read_until_close()

    async with scripted_server(script) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend, max_size=None)
            messages = await drain(channel)
    assert [len(message) for message in messages] == [size]


async def test_the_default_max_size_is_one_mebibyte(ws_backend: str) -> None:
    async with scripted_server(send_then_echo_close(encode_frame(OP_BINARY, b"e" * (2**20 + 1)))) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            assert await drain(channel) == []
            await server.wait_finished()
    _check_too_big(channel, server.connection.received_close_code())


async def test_a_server_closes_with_1009_when_a_client_message_exceeds_max_size(ws_backend: str) -> None:
    recorder = Recorder()

    async def body(channel: WebSocketChannel) -> None:
        recorder.messages.extend(await collect(channel))
        await channel.sink.done

    async with serve(recorder.handler(body), ws_backend, max_size=LIMIT) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                await client.send_frame(OP_BINARY, b"f" * (LIMIT + 1))
                frame = await client.read_until_close()
                if frame is not None:
                    await client.echo_close(frame)
                await client.wait_closed()
                await client.close_tcp()
                await recorder.finished.wait()
    assert recorder.messages == []
    _check_too_big(recorder.channel, client.received_close_code())
