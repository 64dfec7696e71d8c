"""disconnect_after_upgrade: the peer drops TCP after a valid 101, without any close frame."""

from __future__ import annotations

import contextlib

import anyio
import pytest

from conformance.peers import scripted_server
from conformance.peers.scripts import drop_after_upgrade
from conformance.support import collect, connect, drain, fail_after
from ws_channel_core import ConnectionClosed, ConnectionClosedError

pytestmark = pytest.mark.anyio

_ABNORMAL = {1006, 1005, 1002}


@pytest.mark.parametrize("reset", [False, True], ids=["FIN", "RST"])
async def test_a_dropped_connection_ends_the_stream_with_1006(ws_backend: str, reset: bool) -> None:
    async with scripted_server(drop_after_upgrade(reset=reset)) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            assert await drain(channel) == []
    assert channel.close_code == 1006
    assert channel.close_reason == ""
    assert channel.close_received is None


@pytest.mark.parametrize("reset", [False, True], ids=["FIN", "RST"])
async def test_sending_on_a_dropped_connection_eventually_raises_connection_closed(
    ws_backend: str, reset: bool
) -> None:
    async with scripted_server(drop_after_upgrade(reset=reset)) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            await server.wait_finished()
            with pytest.raises(ConnectionClosed):
                for _ in range(1000):
                    await channel.sink.add("into the void")
                    await anyio.sleep(0.001)
            await channel.sink.done
    assert channel.close_code in _ABNORMAL


async def test_after_a_send_the_channel_ends_and_done_completes(ws_backend: str) -> None:
    async with scripted_server(drop_after_upgrade()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            with contextlib.suppress(ConnectionClosed):
                await channel.sink.add("hello")
            await channel.sink.done
            assert await collect(channel) == []
    assert channel.close_code in _ABNORMAL
    with pytest.raises(ConnectionClosedError):
        await channel.sink.add("after")


async def test_close_after_the_peer_dropped_completes_without_raising(ws_backend: str) -> None:
    async with scripted_server(drop_after_upgrade()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            await server.wait_finished()
            await channel.sink.close(1000)
            await channel.sink.done
    assert channel.close_code in _ABNORMAL
