"""peer_protocol_errors: a peer that breaks RFC 6455 gets the right close code, on both sides.

Client side: a scripted server sends the offending bytes after a valid 101. Server side: a scripted
client sends them to the backend's server. Either way the victim's stream ends without raising, the
peer receives a close frame with the prescribed code, and ``close_error`` says why.
"""

from __future__ import annotations

import pytest

from conformance.peers import (
    CLIENT_ONLY,
    GARBAGE,
    OP_TEXT,
    SERVER_ONLY,
    SHARED,
    Misbehaviour,
    PeerClosed,
    scripted_client,
    scripted_server,
)
from conformance.peers.scripts import send_then_echo_close
from conformance.support import Recorder, collect, connect, drain, fail_after, serve
from ws_channel_core import ProtocolError, WebSocketChannel

pytestmark = pytest.mark.anyio


def _check_victim(
    channel: WebSocketChannel, case: Misbehaviour, received: tuple[int | None, str] | None
) -> None:
    if received is None:
        assert case.may_drop, f"the backend sent no close frame after {case.name}"
    else:
        assert received[0] in case.codes, f"close code {received[0]} after {case.name}"
    assert channel.close_code in case.codes | {1006}
    if received is not None and not case.may_drop:
        error = channel.close_error
        assert isinstance(error, ProtocolError), f"close_error is {error!r}"
        assert error.close_code == received[0]


@pytest.mark.parametrize("case", SHARED + SERVER_ONLY, ids=lambda case: case.name)
async def test_the_client_fails_the_connection_when_the_server_sends(
    ws_backend: str, case: Misbehaviour
) -> None:
    script = send_then_echo_close(case.frames(masked=False), answer_close=not case.is_close)
    async with scripted_server(script) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            assert await drain(channel) == []
            await server.wait_finished()
    _check_victim(channel, case, server.connection.received_close_code())


@pytest.mark.parametrize("send_first", [False, True], ids=["without a send", "after a send"])
async def test_garbage_after_the_upgrade_ends_the_client_channel(ws_backend: str, send_first: bool) -> None:
    async with scripted_server(send_then_echo_close(GARBAGE)) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend)
            if send_first:
                try:
                    await channel.sink.add("hello")
                except Exception as exc:  # a send racing the failure may only raise ConnectionClosed
                    assert type(exc).__name__.startswith("ConnectionClosed")
            assert await drain(channel) == []
    assert channel.close_code in {1002, 1006}


@pytest.mark.parametrize("case", SHARED + CLIENT_ONLY, ids=lambda case: case.name)
async def test_the_server_fails_the_connection_when_the_client_sends(
    ws_backend: str, case: Misbehaviour
) -> None:
    recorder = Recorder()

    async def body(channel: WebSocketChannel) -> None:
        recorder.messages.extend(await collect(channel))
        await channel.sink.done

    async with serve(recorder.handler(body), ws_backend) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                await client.send_raw(case.frames(masked=True))
                try:
                    frame = await client.read_until_close()
                    if frame is not None and not case.is_close:
                        await client.echo_close(frame)
                    await client.wait_closed()
                except PeerClosed:
                    pass
                await client.close_tcp()  # RFC 6455 7.1.1: the client closes TCP after the server did
                await recorder.finished.wait()
    assert recorder.messages == []
    _check_victim(recorder.channel, case, client.received_close_code())


async def test_the_server_keeps_serving_after_a_connection_failed(ws_backend: str) -> None:
    async def body(channel: WebSocketChannel) -> None:
        async for message in channel.stream:
            await channel.sink.add(message)

    async with serve(body, ws_backend) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                await client.send_raw(GARBAGE)
                await client.read_until_close()
            async with scripted_client(server.port) as client:
                await client.send_frame(OP_TEXT, b"still serving", mask=True)
                assert await client.read_message() == "still serving"
                await client.send_close(1000)
                await client.read_until_close()
