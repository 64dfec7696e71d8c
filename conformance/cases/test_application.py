"""application: what applications use next to the stream and the sink, on a backend's server side.

A scripted client (plain sockets) talks to the backend's server, so server-only backends are covered
too (the channel-level cases in ``pair`` need a client of the same backend): ``add_nowait`` and
``broadcast`` against a client that stops reading, ``ping`` acknowledged by a later pong (RFC 6455
5.5.3), ``receive_fragments`` on text split inside a character, ``add_fragments`` as the client sees it.
"""

from __future__ import annotations

import anyio
import pytest

from conformance.peers import OP_BINARY, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT, scripted_client
from conformance.support import Recorder, fail_after, serve
from ws_channel_core import BufferFull, Message, WebSocketChannel, broadcast

pytestmark = pytest.mark.anyio

#: The default ``write_limit`` (64 KiB).
WRITE_LIMIT = 2**16


async def test_add_nowait_refuses_once_a_client_that_stopped_reading_is_behind(ws_backend: str) -> None:
    chunk = b"x" * 2**18
    filled = anyio.Event()
    seen: dict[str, object] = {}

    async def body(channel: WebSocketChannel) -> None:
        sent = 0
        while sent < 1000:  # the client reads nothing until ``filled``
            try:
                channel.sink.add_nowait(chunk)
            except BufferFull:
                break
            sent += 1
        seen["sent"], seen["buffered"] = sent, channel.sink.buffered_amount
        seen["skipped"] = broadcast([channel], b"not sent").skipped == (channel,)
        filled.set()
        while channel.sink.buffered_amount:  # noqa: ASYNC110 - there is no event for it
            await anyio.sleep(0.01)
        await channel.sink.add("drained")
        assert [message async for message in channel.stream] == []  # until the client closes

    recorder = Recorder()
    async with serve(recorder.handler(body), ws_backend, compression=None, ping_interval=None) as server:
        with fail_after(20):
            async with scripted_client(server.port) as client:
                await filled.wait()
                assert isinstance(seen["sent"], int) and seen["sent"] >= 1
                assert isinstance(seen["buffered"], int) and seen["buffered"] > WRITE_LIMIT
                assert seen["skipped"] is True
                for _ in range(seen["sent"]):
                    assert await client.read_message() == chunk
                assert await client.read_message() == "drained"
                await client.close_handshake()
            await recorder.finished.wait()


async def test_a_pong_acknowledges_its_ping_and_every_earlier_one(ws_backend: str) -> None:
    latencies: list[float] = []

    async def body(channel: WebSocketChannel) -> None:
        async def ping(payload: bytes) -> None:
            latencies.append(await channel.ping(payload))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(ping, b"first")
            await anyio.wait_all_tasks_blocked()
            tasks.start_soon(ping, b"second")
        assert channel.latency == latencies[-1]

    recorder = Recorder()
    async with serve(recorder.handler(body), ws_backend, ping_interval=None) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                for payload in (b"first", b"second"):
                    frame = await client.read_frame()
                    assert (frame.opcode, frame.payload) == (OP_PING, payload)
                await client.send_frame(OP_PONG, b"second")  # answers both (RFC 6455 5.5.3)
                await client.read_until_close()
                await client.close_handshake()
            await recorder.finished.wait()
    assert recorder.errors == [] and len(latencies) == 2


async def test_receive_fragments_decodes_text_split_inside_a_character(ws_backend: str) -> None:
    received: list[list[Message]] = []

    async def body(channel: WebSocketChannel) -> None:
        for _ in range(2):
            received.append([chunk async for chunk in channel.receive_fragments()])

    recorder = Recorder()
    async with serve(recorder.handler(body), ws_backend) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                encoded = "é🎨!".encode()  # split inside both characters
                await client.send_frame(OP_TEXT, encoded[:1], fin=False)
                await client.send_frame(OP_CONTINUATION, encoded[1:4], fin=False)
                await client.send_frame(OP_CONTINUATION, encoded[4:], fin=True)
                await client.send_frame(OP_BINARY, b"\x00\xff", fin=False)
                await client.send_frame(OP_CONTINUATION, b"", fin=False)
                await client.send_frame(OP_CONTINUATION, b"\x01", fin=True)
                await recorder.finished.wait()
                await client.read_until_close()
    text, binary = received
    assert {type(chunk) for chunk in text} == {str}
    assert "".join(chunk for chunk in text if isinstance(chunk, str)) == "é🎨!"
    assert {type(chunk) for chunk in binary} == {bytes}
    assert b"".join(chunk for chunk in binary if isinstance(chunk, bytes)) == b"\x00\xff\x01"


async def test_add_fragments_reaches_the_client_as_one_message(ws_backend: str) -> None:
    async def body(channel: WebSocketChannel) -> None:
        await channel.sink.add_fragments(["Hé", "llo", " 🎨"])
        await channel.sink.add_fragments([b"\x00" * 70_000, b"\x01" * 70_000])
        await channel.sink.add("then a whole one")

    recorder = Recorder()
    async with serve(recorder.handler(body), ws_backend) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                assert await client.read_message() == "Hé" + "llo" + " 🎨"
                assert await client.read_message() == b"\x00" * 70_000 + b"\x01" * 70_000
                assert await client.read_message() == "then a whole one"
                await client.read_until_close()
            await recorder.finished.wait()
    starts = [frame.opcode for frame in client.frames if frame.opcode in (OP_TEXT, OP_BINARY)]
    assert starts == [OP_TEXT, OP_BINARY, OP_TEXT]  # continuation frames only after a first frame
