"""lifecycle: closing never drops what was received, close() starts at the call, state is observable.

RFC 6455 lets an endpoint keep receiving after it sent its close frame: every message that arrived
before the peer's close frame is delivered by ``stream``, whether or not ``close()`` was called
locally. ``close()`` queues the close frame at the call; not awaiting it is allowed. ``state`` goes
OPEN -> CLOSING -> CLOSED the same way on every backend, and the close bookkeeping is final when
``stream`` ends.
"""

from __future__ import annotations

import time

import anyio
import pytest

from conformance.peers import PeerClosed, Script, scripted_client, scripted_server
from conformance.peers.connection import PeerConnection
from conformance.peers.scripts import close_with, drop_after_upgrade, echo
from conformance.support import CLOSE_TIMEOUT, Recorder, collect, connect, fail_after, serve
from ws_channel_core import ConnectionClosed, State, WebSocketChannel, status

pytestmark = pytest.mark.anyio


def _send_after_echoing(count: int, sent: anyio.Event) -> Script:
    """Upgrade, echo ``count`` messages, set ``sent``, then answer the client's close frame."""

    async def script(connection: PeerConnection) -> None:
        await connection.accept()
        for _ in range(count):
            message = await connection.read_message()
            assert isinstance(message, str)
            await connection.send_text(message)
        sent.set()
        frame = await connection.read_until_close()
        if frame is not None:
            await connection.echo_close(frame)

    return script


def _burst_then_echo_close(count: int, size: int = 1024) -> Script:
    """Upgrade, send ``count`` binary messages at once, then answer the client's close frame."""

    async def script(connection: PeerConnection) -> None:
        await connection.accept()
        for index in range(count):
            await connection.send_binary(index.to_bytes(4, "big") * (size // 4))
        frame = await connection.read_until_close()
        if frame is not None:
            await connection.echo_close(frame)

    return script


def _state(channel: WebSocketChannel) -> State:
    """Read ``state`` afresh (a plain attribute read would be narrowed by the type checker)."""
    return channel.state


# -- nothing received is dropped -------------------------------------------------------------------------


async def test_echoes_that_arrived_before_a_local_close_are_still_delivered(ws_backend: str) -> None:
    sent = anyio.Event()
    async with scripted_server(_send_after_echoing(2, sent)) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            await channel.sink.add("a")
            await channel.sink.add("b")
            await sent.wait()
            closing = channel.sink.close(1000)
            received = await collect(channel)
            await closing
    assert received == ["a", "b"]
    assert channel.close_code == 1000
    assert channel.close_sent is not None and channel.close_sent.code == 1000


async def test_a_burst_in_flight_during_a_local_close_is_delivered_to_a_reader(ws_backend: str) -> None:
    async with scripted_server(_burst_then_echo_close(200)) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend, max_queue=256)
            first = await collect(channel, 1)
            channel.sink.close(1000)
            rest = await collect(channel)
            await channel.sink.done
    received = first + rest
    assert len(received) == 200
    assert all(isinstance(message, bytes) for message in received)
    assert [message[:4] for message in received] == [i.to_bytes(4, "big") for i in range(200)]
    assert channel.close_code == 1000


async def test_a_server_handler_reads_what_arrived_before_its_close(ws_backend: str) -> None:
    recorder = Recorder()
    received: list[str | bytes] = []

    async def body(channel: WebSocketChannel) -> None:
        async for message in channel.stream:
            received.append(message)
            if len(received) == 1:
                channel.sink.close(status.GOING_AWAY)  # the seed's pattern: close without waiting

    async with serve(recorder.handler(body), ws_backend) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                for text in ("a", "b", "c"):
                    await client.send_text(text)
                frame = await client.read_until_close()
                assert frame is not None
                await client.echo_close(frame)
            await recorder.finished.wait()
    assert received == ["a", "b", "c"]
    assert recorder.channel.close_sent is not None
    assert recorder.channel.close_sent.code == status.GOING_AWAY


async def test_closing_without_reading_still_sees_the_peers_close_frame(ws_backend: str) -> None:
    # 100 KiB arrive after the local close; the application never reads. Reading must not pause for
    # the full queue, or the peer's close frame would only be seen after close_timeout.
    async with scripted_server(_burst_then_echo_close(100)) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend, max_queue=4, close_timeout=4 * CLOSE_TIMEOUT)
            started = time.monotonic()
            await channel.sink.close(1000)
            elapsed = time.monotonic() - started
    assert channel.close_received is not None, "the peer's close frame was never read"
    assert channel.close_code == 1000
    assert elapsed < 4 * CLOSE_TIMEOUT


# -- close() starts at the call ----------------------------------------------------------------------------


async def test_close_sends_the_close_frame_without_being_awaited(ws_backend: str) -> None:
    async with scripted_server(echo()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            channel.sink.close(4000, "not awaited")
            assert _state(channel) is State.CLOSING
            assert await collect(channel) == []
            await channel.sink.done
    assert _state(channel) is State.CLOSED
    assert channel.close_code == 4000  # the peer echoed the code (RFC 6455 5.5.1)
    assert channel.close_sent is not None
    assert (channel.close_sent.code, channel.close_sent.reason) == (4000, "not awaited")
    peer = server.connection.received_close_code()
    assert peer == (4000, "not awaited")


async def test_a_reader_waiting_on_stream_ends_when_close_is_called_without_await(ws_backend: str) -> None:
    async with scripted_server(echo()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            ended = anyio.Event()

            async def read() -> None:
                await collect(channel)
                ended.set()

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(read)
                await anyio.lowlevel.checkpoint()
                channel.sink.close(status.GOING_AWAY)
                await ended.wait()
    assert channel.close_code == status.GOING_AWAY


async def test_add_after_close_was_called_raises_at_once(ws_backend: str) -> None:
    async with scripted_server(echo()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            closing = channel.sink.close()
            with pytest.raises(ConnectionClosed):
                await channel.sink.add("too late")
            await closing


# -- state ---------------------------------------------------------------------------------------------------


async def test_state_goes_open_closing_closed_on_a_local_close(ws_backend: str) -> None:
    async with scripted_server(echo()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            assert _state(channel) is State.OPEN
            closing = channel.sink.close(1000)
            assert _state(channel) is State.CLOSING
            await closing
    assert _state(channel) is State.CLOSED


async def test_state_after_a_remote_close(ws_backend: str) -> None:
    async with scripted_server(close_with(1001, "bye", after=("last",))) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            assert await collect(channel) == ["last"]
            assert channel.state in (State.CLOSING, State.CLOSED)
            await channel.sink.done
    assert _state(channel) is State.CLOSED


async def test_a_server_channel_is_open_in_the_handler_and_closed_after(ws_backend: str) -> None:
    recorder = Recorder()
    seen: list[State] = []

    async def body(channel: WebSocketChannel) -> None:
        seen.append(channel.state)

    async with serve(recorder.handler(body), ws_backend) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                frame = await client.read_until_close()
                assert frame is not None
                await client.echo_close(frame)
            await recorder.channel.sink.done
    assert seen == [State.OPEN]
    assert _state(recorder.channel) is State.CLOSED


# -- bookkeeping is final when stream ends -------------------------------------------------------------------


async def test_a_remote_close_is_fully_recorded_when_stream_ends(ws_backend: str) -> None:
    async with scripted_server(close_with(1001, "bye")) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            await collect(channel)
            code, reason = channel.close_code, channel.close_reason
            received, sent = channel.close_received, channel.close_sent
            await channel.sink.done
    assert (code, reason) == (1001, "bye")
    assert received is not None and received.code == 1001
    assert sent is not None and sent.code == 1001


async def test_a_dropped_connection_reads_1006_when_stream_ends(ws_backend: str) -> None:
    async with scripted_server(drop_after_upgrade()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            await collect(channel)
            code, reason = channel.close_code, channel.close_reason
            await channel.sink.done
    assert code == 1006
    assert reason == ""


async def test_a_local_close_is_fully_recorded_when_stream_ends(ws_backend: str) -> None:
    async with scripted_server(echo()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            channel.sink.close(4001, "done here")
            await collect(channel)
            code, sent, received_first = channel.close_code, channel.close_sent, channel.close_received_first
            await channel.sink.done
    assert code == 4001
    assert sent is not None and sent.code == 4001
    assert received_first is False


async def test_the_peer_going_away_mid_close_is_recorded(ws_backend: str) -> None:
    async def drop_on_close(connection: PeerConnection) -> None:
        await connection.accept()
        try:
            await connection.read_until_close()
        except PeerClosed:
            return
        await connection.close_tcp()

    async with scripted_server(drop_on_close) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            await channel.sink.close(1000)
    assert _state(channel) is State.CLOSED
    assert channel.close_code == 1006
    assert channel.close_sent is not None and channel.close_sent.code == 1000
