"""load: many messages in both directions at once; nothing lost, order kept, then a clean close."""

from __future__ import annotations

import anyio
import pytest

from conformance.peers import scripted_server
from conformance.peers.scripts import echo
from conformance.support import collect, connect, drain, fail_after, serve
from ws_channel_core import Message, WebSocketChannel

pytestmark = pytest.mark.anyio

COUNT = 10_000


def _messages(prefix: str) -> list[Message]:
    return [f"{prefix} {index}" if index % 3 else f"{prefix} {index}".encode() for index in range(COUNT)]


async def exchange(channel: WebSocketChannel, outgoing: list[Message], expected: int) -> list[Message]:
    """Send ``outgoing`` while receiving ``expected`` messages; return what was received."""
    received: list[Message] = []

    async def send_all() -> None:
        for message in outgoing:
            await channel.sink.add(message)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(send_all)
        received.extend(await collect(channel, expected))
    return received


async def test_ten_thousand_messages_each_way_at_once_arrive_complete_and_in_order(ws_backend: str) -> None:
    server_received: list[Message] = []

    async def handler(channel: WebSocketChannel) -> None:
        server_received.extend(await exchange(channel, _messages("from server"), COUNT))

    async with serve(handler, ws_backend) as server:
        with fail_after(20):
            channel = await connect(f"ws://127.0.0.1:{server.port}/", ws_backend)
            received = await exchange(channel, _messages("from client"), COUNT)
            assert await drain(channel) == []
    assert received == _messages("from server")
    assert server_received == _messages("from client")
    assert channel.close_code == 1000


async def test_ten_thousand_pipelined_messages_come_back_from_an_echo_peer_in_order(ws_backend: str) -> None:
    messages = _messages("echo")
    async with scripted_server(echo()) as server:
        with fail_after(20):
            channel = await connect(server.url, ws_backend)
            received = await exchange(channel, messages, COUNT)
            await channel.sink.close()
    assert received == messages
