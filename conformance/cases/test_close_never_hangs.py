"""close_never_hangs: ``close()`` finishes within ``close_timeout`` whatever the peer does."""

from __future__ import annotations

import time

import anyio
import pytest

from conformance.peers import scripted_server
from conformance.peers.scripts import never_answer_close
from conformance.support import CLOSE_TIMEOUT, SLACK, collect, connect, fail_after

pytestmark = pytest.mark.anyio


async def test_close_returns_within_close_timeout_when_the_peer_never_answers(ws_backend: str) -> None:
    async with scripted_server(never_answer_close()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            started = time.monotonic()
            await channel.sink.close(1000)
            elapsed = time.monotonic() - started
            await channel.sink.done
            await server.wait_finished()  # the connection was aborted: the peer saw TCP end
    assert elapsed <= CLOSE_TIMEOUT + SLACK
    assert channel.close_code == 1006
    assert server.connection.received_close_code() == (1000, "")


async def test_close_wakes_a_pending_read_and_the_stream_ends(ws_backend: str) -> None:
    async with scripted_server(never_answer_close()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            received: list[object] = []
            reading = anyio.Event()

            async def reader() -> None:
                reading.set()
                received.extend(await collect(channel))

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(reader)
                await reading.wait()
                await anyio.sleep(0.01)
                started = time.monotonic()
                await channel.sink.close(3000, "bye")
            elapsed = time.monotonic() - started
    assert received == []
    assert elapsed <= CLOSE_TIMEOUT + SLACK


async def test_a_second_close_during_a_stalled_close_also_returns_in_time(ws_backend: str) -> None:
    async with scripted_server(never_answer_close()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            started = time.monotonic()
            async with anyio.create_task_group() as tasks:

                async def close_with_code() -> None:
                    await channel.sink.close(1000)

                async def close_without_code() -> None:
                    await channel.sink.close()

                tasks.start_soon(close_with_code)
                tasks.start_soon(close_without_code)
            elapsed = time.monotonic() - started
    assert elapsed <= CLOSE_TIMEOUT + SLACK


async def test_the_close_timeout_option_is_honoured(ws_backend: str) -> None:
    timeout = 0.2
    async with scripted_server(never_answer_close()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend, close_timeout=timeout)
            started = time.monotonic()
            await channel.sink.close()
            elapsed = time.monotonic() - started
    assert elapsed <= timeout + SLACK
