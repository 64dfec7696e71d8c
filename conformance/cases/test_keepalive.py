"""keepalive: pings go out every ``ping_interval``, a silent peer is detected, pings are answered."""

from __future__ import annotations

import time

import anyio
import pytest

from conformance.peers import OP_PING, OP_PONG, PeerConnection, scripted_client, scripted_server
from conformance.peers.scripts import never_answer_pings
from conformance.support import CLOSE_TIMEOUT, SLACK, Recorder, collect, connect, drain, fail_after, serve
from ws_channel_core import KeepaliveTimeout, WebSocketChannel

pytestmark = pytest.mark.anyio

INTERVAL = 0.1
TIMEOUT = 0.1


async def test_a_peer_that_stops_answering_pings_is_detected_within_interval_plus_timeout(
    ws_backend: str,
) -> None:
    async with scripted_server(never_answer_pings()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend, ping_interval=INTERVAL, ping_timeout=TIMEOUT)
            started = time.monotonic()
            assert await drain(channel) == []
            elapsed = time.monotonic() - started
    assert elapsed <= INTERVAL + TIMEOUT + SLACK
    assert isinstance(channel.close_error, KeepaliveTimeout)
    assert channel.close_code in {1011, 1006}
    assert any(frame.opcode == OP_PING for frame in server.connection.frames)


async def test_keepalive_pings_are_sent_and_answered_while_nobody_reads(ws_backend: str) -> None:
    pings = anyio.Event()

    async def script(connection: PeerConnection) -> None:
        await connection.accept()
        count = 0
        while True:
            frame = await connection.read_frame()
            if frame.opcode == OP_PING:
                await connection.send_frame(OP_PONG, frame.payload)
                count += 1
                if count == 3:
                    pings.set()
            elif frame.opcode == 0x8:
                await connection.echo_close(frame)
                return

    async with scripted_server(script) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend, ping_interval=INTERVAL, ping_timeout=TIMEOUT)
            await pings.wait()
            assert channel.close_code is None
            assert channel.close_error is None
            await channel.sink.close()


async def test_a_ping_from_the_peer_is_answered_while_nobody_reads_the_stream(ws_backend: str) -> None:
    pongs: list[bytes] = []
    answered = anyio.Event()

    async def script(connection: PeerConnection) -> None:
        await connection.accept()
        for index in range(3):
            await connection.send_frame(OP_PING, f"ping {index}".encode())
            frame = await connection.read_frame()
            pongs.append(frame.payload if frame.opcode == OP_PONG else b"not a pong")
        answered.set()
        frame_or_none = await connection.read_until_close()
        if frame_or_none is not None:
            await connection.echo_close(frame_or_none)

    async with scripted_server(script) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend, ping_interval=None)
            await answered.wait()
            await channel.sink.close()
    assert pongs == [b"ping 0", b"ping 1", b"ping 2"]


async def test_a_server_detects_a_client_that_stops_answering_pings(ws_backend: str) -> None:
    recorder = Recorder()

    async def body(channel: WebSocketChannel) -> None:
        await collect(channel)
        await channel.sink.done

    async with serve(
        recorder.handler(body), ws_backend, ping_interval=INTERVAL, ping_timeout=TIMEOUT
    ) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                started = time.monotonic()
                frame = await client.read_until_close(answer_pings=False)
                detected = time.monotonic() - started
                # The dead client answers nothing: the server gives up on the close after close_timeout.
                await recorder.finished.wait()
                finished = time.monotonic() - started
    assert frame is None or frame.opcode == 0x8  # a close frame (1011), or TCP dropped (1006)
    assert detected <= INTERVAL + TIMEOUT + SLACK
    assert finished <= INTERVAL + TIMEOUT + CLOSE_TIMEOUT + SLACK
    assert isinstance(recorder.channel.close_error, KeepaliveTimeout)
    assert recorder.channel.close_code in {1011, 1006}


async def test_a_server_answers_pings_while_its_handler_does_not_read(ws_backend: str) -> None:
    release = anyio.Event()

    async def body(channel: WebSocketChannel) -> None:
        await release.wait()

    async with serve(body, ws_backend, ping_interval=None) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                for index in range(3):
                    await client.send_frame(OP_PING, f"ping {index}".encode())
                    frame = await client.read_frame()
                    assert (frame.opcode, frame.payload) == (OP_PONG, f"ping {index}".encode())
                release.set()
                frame_or_none = await client.read_until_close()
                assert frame_or_none is not None
                await client.echo_close(frame_or_none)
    assert client.received_close_code() == (1000, "")
