"""payload_transfer: messages round trip through an echo peer with their type, content and order."""

from __future__ import annotations

import random

import pytest

from conformance.peers import OP_CONTINUATION, OP_TEXT, PeerConnection, encode_frame, scripted_server
from conformance.peers.scripts import close_with, echo
from conformance.support import collect, connect, drain, fail_after
from ws_channel_core import Message

pytestmark = pytest.mark.anyio


async def _round_trip(backend: str, messages: list[Message], **options: object) -> list[Message]:
    async with scripted_server(echo()) as server:
        with fail_after():
            channel = await connect(server.url, backend, **options)
            for message in messages:
                await channel.sink.add(message)
            received = await collect(channel, len(messages))
            await channel.sink.close()
            await channel.sink.done
    return received


@pytest.mark.parametrize(
    "message",
    ["", b"", "Hello World!", bytes([1, 2, 3, 4, 5]), "🎨⛳🌈", "é" * 200, bytes(range(256)) * 300],
    ids=["empty text", "empty bytes", "hello", "bytes 1-5", "emoji", "accented 400 B", "binary 76 KB"],
)
async def test_a_message_round_trips_with_its_type(ws_backend: str, message: Message) -> None:
    received = await _round_trip(ws_backend, [message])
    assert received == [message]
    assert type(received[0]) is type(message)


async def test_a_120_kb_text_and_a_1_mb_binary_message_round_trip(ws_backend: str) -> None:
    messages: list[Message] = ["Hello World!" * 10_000, bytes(random.Random(1).randbytes(1_000_000))]
    assert await _round_trip(ws_backend, messages, max_size=2**21) == messages


async def test_interleaved_binary_and_text_come_back_in_order_with_their_types(ws_backend: str) -> None:
    messages: list[Message] = [b"\x00", "one", b"\x01\x02", "two", b"", "", b"three", "four"]
    received = await _round_trip(ws_backend, messages)
    assert received == messages
    assert [type(message) for message in received] == [type(message) for message in messages]


async def test_a_thousand_messages_of_random_sizes_round_trip_in_order(ws_backend: str) -> None:
    rng = random.Random(20240517)
    messages: list[Message] = []
    for _ in range(1000):
        size = rng.choice([0, 1, 125, 126, 127, 65535, 65536]) if rng.random() < 0.05 else rng.randrange(300)
        data = rng.randbytes(size)
        messages.append(data if rng.random() < 0.5 else data.hex()[:size])
    assert await _round_trip(ws_backend, messages) == messages


async def test_a_fragmented_message_from_the_peer_arrives_whole(ws_backend: str) -> None:
    text = "fragmented 🎨 message"
    raw = text.encode("utf-8")
    # Split inside the four-byte emoji, so the backend must join before decoding.
    cut = raw.index("🎨".encode()) + 2
    frames = (
        encode_frame(OP_TEXT, raw[:5], fin=False)
        + encode_frame(OP_CONTINUATION, raw[5:cut], fin=False)
        + encode_frame(OP_CONTINUATION, b"", fin=False)
        + encode_frame(OP_CONTINUATION, raw[cut:])
    )

    async def script(connection: PeerConnection) -> None:
        await connection.accept()
        await connection.send_raw(frames)
        await connection.send_close(1000)
        await connection.read_until_close()

    async with scripted_server(script) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            assert await drain(channel) == [text]
    assert channel.close_code == 1000


async def test_a_ping_between_fragments_is_answered_and_the_message_arrives_whole(ws_backend: str) -> None:
    pongs: list[bytes] = []

    async def script(connection: PeerConnection) -> None:
        await connection.accept()
        await connection.send_raw(encode_frame(OP_TEXT, b"first ", fin=False))
        await connection.send_raw(encode_frame(0x9, b"in between"))
        await connection.send_raw(encode_frame(OP_CONTINUATION, b"second"))
        frame = await connection.read_frame()
        pongs.append(frame.payload if frame.opcode == 0xA else b"not a pong")
        await connection.send_close(1000)
        await connection.read_until_close()

    async with scripted_server(script) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            assert await drain(channel) == ["first second"]
    assert pongs == [b"in between"]


async def test_messages_sent_just_before_the_peer_closes_are_all_delivered(ws_backend: str) -> None:
    after = tuple(f"last words {index}" for index in range(50))
    async with scripted_server(close_with(1000, "done", after=after)) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            assert await drain(channel) == list(after)
