"""pair: channel-level behaviour between two channels of the same backend, over TCP and in memory.

These cases need no scripted peer, so they also run on a backend's in-memory pair (its optional
``open_pair``): a backend author can check a channel implementation without a network.
"""

from __future__ import annotations

import anyio
import pytest

from conformance.support import collect, fail_after, open_pair
from ws_channel_core import ConnectionClosed, State, WebSocketChannel

pytestmark = pytest.mark.anyio


def _state(channel: WebSocketChannel) -> State:
    """Read ``state`` afresh (a plain attribute read would be narrowed by the type checker)."""
    return channel.state


async def test_messages_keep_their_type_and_order_both_ways(ws_backend: str, ws_transport: str) -> None:
    messages: list[str | bytes] = ["text", b"\x00binary", "", b"", "🎨" * 100, bytes(range(256)) * 64]
    with fail_after():
        async with open_pair(ws_backend, ws_transport) as (client, server):
            for sender, receiver in ((client, server), (server, client)):
                for message in messages:
                    await sender.sink.add(message)
                received = await collect(receiver, len(messages))
                assert received == messages
                assert [type(m) for m in received] == [type(m) for m in messages]


async def test_a_large_message_crosses_intact(ws_backend: str, ws_transport: str) -> None:
    payload = bytes(range(256)) * 2048  # 512 KiB
    with fail_after():
        async with open_pair(ws_backend, ws_transport) as (client, server):
            await client.sink.add(payload)
            assert await collect(server, 1) == [payload]


@pytest.mark.parametrize("closer", ["client", "server"])
async def test_a_close_code_and_reason_reach_the_other_side(
    ws_backend: str, ws_transport: str, closer: str
) -> None:
    with fail_after():
        async with open_pair(ws_backend, ws_transport) as (client, server):
            local, remote = (client, server) if closer == "client" else (server, client)
            closing = local.sink.close(4321, "bye now")
            assert _state(local) is State.CLOSING
            assert await collect(remote) == []
            await remote.sink.done
            await closing
            assert (remote.close_code, remote.close_reason) == (4321, "bye now")
            assert (local.close_code, local.close_reason) == (4321, "bye now")
            assert local.close_received_first is False
            assert remote.close_received_first is True
            assert _state(local) is State.CLOSED and _state(remote) is State.CLOSED


async def test_messages_sent_before_the_peers_close_frame_are_delivered_after_a_local_close(
    ws_backend: str, ws_transport: str
) -> None:
    with fail_after():
        async with open_pair(ws_backend, ws_transport) as (client, server):
            for text in ("one", "two", "three"):
                await server.sink.add(text)
            client.sink.close(1000)  # not awaited: the reader below sees the end
            assert await collect(client) == ["one", "two", "three"]
            await client.sink.done


async def test_add_after_either_side_closed_raises_connection_closed(
    ws_backend: str, ws_transport: str
) -> None:
    with fail_after():
        async with open_pair(ws_backend, ws_transport) as (client, server):
            await client.sink.close(1000)
            await server.sink.done
            for channel in (client, server):
                with pytest.raises(ConnectionClosed):
                    await channel.sink.add("too late")


async def test_close_is_idempotent_and_done_may_be_awaited_many_times(
    ws_backend: str, ws_transport: str
) -> None:
    with fail_after():
        async with open_pair(ws_backend, ws_transport) as (client, server):
            first = client.sink.close(1000)
            second = client.sink.close(4000, "ignored")
            await first
            await second
            await client.sink.done
            await client.sink.done
            assert server.close_code == 1000


async def test_a_pairs_stream_has_one_consumer(ws_backend: str, ws_transport: str) -> None:
    pair = open_pair(ws_backend, ws_transport)
    with fail_after():
        async with pair as (client, server), anyio.create_task_group() as tasks:
            tasks.start_soon(collect, client, 1)
            await anyio.wait_all_tasks_blocked()
            with pytest.raises(RuntimeError):
                await client.stream.__anext__()
            await server.sink.add("for the first reader")


async def test_a_message_over_max_size_closes_the_pair_with_1009(ws_backend: str, ws_transport: str) -> None:
    with fail_after():
        async with open_pair(ws_backend, ws_transport, max_size=1000, compression=None) as (client, server):
            await server.sink.add(b"x" * 1000)
            assert await collect(client, 1) == [b"x" * 1000]
            await server.sink.add(b"x" * 1001)
            assert await collect(client) == []
            await client.sink.done
            assert client.close_sent is not None and client.close_sent.code == 1009
            await server.sink.done
            assert server.close_code == 1009
