"""pair: channel-level behaviour between two channels of the same backend, over TCP and in memory.

These cases need no scripted peer, so they also run on a backend's in-memory pair (its optional
``open_pair``): a backend author can check a channel implementation without a network.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
import pytest

from conformance.support import CASE_TIMEOUT as CASE_SECONDS
from conformance.support import collect, fail_after, open_pair
from ws_channel_core import BufferFull, ConnectionClosed, State, WebSocketChannel, broadcast

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


# -- buffered_amount, add_nowait, broadcast ------------------------------------------------------

#: The default ``write_limit`` (64 KiB).
WRITE_LIMIT = 2**16


async def _fill(channel: WebSocketChannel, chunk: bytes, limit: int = 1000) -> int:
    """``add_nowait`` until ``BufferFull``; return how many messages were accepted."""
    for sent in range(limit):
        try:
            channel.sink.add_nowait(chunk)
        except BufferFull:
            return sent
    raise AssertionError(f"add_nowait accepted {limit} messages that nobody read")


async def _drained(channel: WebSocketChannel) -> None:
    while channel.sink.buffered_amount:  # noqa: ASYNC110 - there is no event for it
        await anyio.sleep(0.01)


async def test_add_nowait_refuses_above_write_limit_and_buffered_amount_shows_the_backlog(
    ws_backend: str, ws_transport: str
) -> None:
    chunk = b"x" * 2**18
    with fail_after(4 * CASE_SECONDS):
        async with open_pair(ws_backend, ws_transport, max_queue=1, compression=None) as (client, server):
            assert client.sink.buffered_amount == 0
            sent = await _fill(client, chunk)  # the server reads nothing meanwhile
            assert sent >= 1
            assert client.sink.buffered_amount > WRITE_LIMIT
            result = broadcast([client], b"skipped")
            assert (result.sent, result.closed, result.skipped) == (0, 0, (client,))
            for _ in range(sent):
                assert await server.stream.__anext__() == chunk
            await _drained(client)
            client.sink.add_nowait("after the backlog")
            assert await collect(server, 1) == ["after the backlog"]


async def test_broadcast_sends_to_open_channels_and_counts_closed_ones_without_raising(
    ws_backend: str, ws_transport: str
) -> None:
    with fail_after():
        async with open_pair(ws_backend, ws_transport) as (client, server):
            result = broadcast([server, server], "twice")
            assert (result.sent, result.closed, result.skipped) == (2, 0, ())
            assert await collect(client, 2) == ["twice", "twice"]
            await client.sink.close(1000)
            await server.sink.done
            result = broadcast([client, server], b"too late")
            assert (result.sent, result.closed, result.skipped) == (0, 2, ())
            with pytest.raises(ConnectionClosed):
                server.sink.add_nowait("too late")


# -- ping and latency ----------------------------------------------------------------------------


async def test_ping_waits_for_the_pong_and_sets_latency_without_a_reader(
    ws_backend: str, ws_transport: str
) -> None:
    with fail_after():
        async with open_pair(ws_backend, ws_transport, ping_interval=None) as (client, server):
            assert client.latency is None
            latency = await client.ping(b"payload")
            assert 0 < latency < CASE_SECONDS and client.latency == latency
            async with anyio.create_task_group() as tasks:  # concurrent pings, random payloads
                for _ in range(3):
                    tasks.start_soon(server.ping)
            assert server.latency is not None
            with pytest.raises(ValueError):
                await client.ping(b"x" * 126)


async def test_ping_raises_connection_closed_after_close(ws_backend: str, ws_transport: str) -> None:
    with fail_after():
        async with open_pair(ws_backend, ws_transport) as (client, server):
            await client.sink.close(1000)
            await server.sink.done
            for channel in (client, server):
                with pytest.raises(ConnectionClosed):
                    await channel.ping()


# -- messages in fragments -----------------------------------------------------------------------


async def _chunks(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        await anyio.lowlevel.checkpoint()
        yield chunk


async def _fragments(channel: WebSocketChannel) -> list[str | bytes]:
    return [chunk async for chunk in channel.receive_fragments()]


async def test_add_fragments_sends_one_message_from_chunks(ws_backend: str, ws_transport: str) -> None:
    payload = [bytes([n]) * 50_000 for n in range(8)]
    with fail_after():
        async with open_pair(ws_backend, ws_transport) as (client, server):
            await client.sink.add_fragments(["Hé", "llo ", "🎨"])
            await client.sink.add_fragments(_chunks(*payload))
            await client.sink.add_fragments([])  # sends nothing
            await client.sink.add_fragments([b""])
            await client.sink.add("whole")
            assert await collect(server, 4) == ["Héllo 🎨", b"".join(payload), b"", "whole"]


async def test_receive_fragments_yields_the_chunks_of_the_next_message(
    ws_backend: str, ws_transport: str
) -> None:
    payload = [bytes([n]) * 50_000 for n in range(8)]
    with fail_after():
        async with open_pair(ws_backend, ws_transport) as (client, server):
            await server.sink.add_fragments(_chunks(*payload))
            await server.sink.add_fragments(["a" * 70_000, "é" * 70_000])
            await server.sink.add("")
            await server.sink.add(b"after")
            binary = await _fragments(client)
            assert {type(chunk) for chunk in binary} == {bytes}
            assert b"".join(chunk for chunk in binary if isinstance(chunk, bytes)) == b"".join(payload)
            text = await _fragments(client)
            assert {type(chunk) for chunk in text} == {str}
            assert "".join(chunk for chunk in text if isinstance(chunk, str)) == "a" * 70_000 + "é" * 70_000
            assert await _fragments(client) == [""]
            assert await collect(client, 1) == [b"after"]
            await server.sink.close(1000)
            assert await _fragments(client) == []


async def test_a_message_not_read_to_its_end_is_skipped_by_the_next_read(
    ws_backend: str, ws_transport: str
) -> None:
    with fail_after():
        async with open_pair(ws_backend, ws_transport) as (client, server):
            await server.sink.add_fragments(_chunks(b"1" * 70_000, b"2" * 70_000, b"3" * 70_000))
            await server.sink.add("next")
            async for chunk in client.receive_fragments():
                assert chunk[:1] == b"1"
                break
            assert await collect(client, 1) == ["next"]


async def test_receive_fragments_shares_the_streams_single_consumer(
    ws_backend: str, ws_transport: str
) -> None:
    pair = open_pair(ws_backend, ws_transport)
    with fail_after():
        async with pair as (client, server), anyio.create_task_group() as tasks:
            tasks.start_soon(collect, client, 1)
            await anyio.wait_all_tasks_blocked()
            with pytest.raises(RuntimeError):
                await client.receive_fragments().__anext__()
            await server.sink.add("for the first reader")


async def test_other_senders_wait_for_the_end_of_a_fragmented_message(
    ws_backend: str, ws_transport: str
) -> None:
    release = anyio.Event()

    async def slow() -> AsyncIterator[str]:
        yield "first half, "
        await release.wait()
        yield "second half"

    pair = open_pair(ws_backend, ws_transport)
    with fail_after():
        async with pair as (client, server), anyio.create_task_group() as tasks:
            tasks.start_soon(client.sink.add_fragments, slow())
            await anyio.wait_all_tasks_blocked()
            tasks.start_soon(client.sink.add, "after")
            await anyio.wait_all_tasks_blocked()
            with pytest.raises(BufferFull):
                client.sink.add_nowait("cannot be queued in the middle")
            release.set()
            assert await collect(server, 2) == ["first half, second half", "after"]


async def test_a_chunk_of_the_wrong_type_fails_the_connection_with_1011(
    ws_backend: str, ws_transport: str
) -> None:
    with fail_after():
        async with open_pair(ws_backend, ws_transport) as (client, server):
            with pytest.raises(TypeError):
                await client.sink.add_fragments([b"bytes", "then text"])
            assert await collect(server) == []
            await server.sink.done
            assert server.close_code == 1011


async def test_max_size_applies_to_a_message_received_in_fragments(
    ws_backend: str, ws_transport: str
) -> None:
    with fail_after():
        async with open_pair(ws_backend, ws_transport, max_size=1000, compression=None) as (client, server):
            with contextlib.suppress(ConnectionClosed):  # the client may fail the message early
                await server.sink.add_fragments([b"x" * 400, b"x" * 400, b"x" * 400])
            received = await _fragments(client)
            assert sum(len(chunk) for chunk in received) <= 1000
            assert await collect(client) == []
            await client.sink.done
            assert client.close_sent is not None and client.close_sent.code == 1009
