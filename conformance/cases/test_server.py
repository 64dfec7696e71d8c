"""server: a backend's ``serve()`` driven by scripted clients: echo, close codes, policies, negotiation."""

from __future__ import annotations

import time

import anyio
import pytest

from conformance.peers import (
    OP_CONTINUATION,
    OP_TEXT,
    PeerClosed,
    handshake,
    open_connection,
    scripted_client,
)
from conformance.peers.http import build_request
from conformance.support import CLOSE_TIMEOUT, SLACK, Recorder, collect, fail_after, serve
from ws_channel_core import ConnectionClosed, WebSocketChannel, WebSocketServer, generate_key

pytestmark = pytest.mark.anyio


async def _echo(channel: WebSocketChannel) -> None:
    async for message in channel.stream:
        await channel.sink.add(message)


async def test_the_server_listens_on_a_free_port_and_echoes_text_and_binary(ws_backend: str) -> None:
    async with serve(_echo, ws_backend) as server:
        assert isinstance(server, WebSocketServer)
        assert server.port > 0
        assert ("127.0.0.1", server.port) in [(host, port) for host, port in server.addresses]
        with fail_after():
            async with scripted_client(server.port) as client:
                messages: list[str | bytes] = ["hello", b"\x00\x01", "", b"", "🎨⛳🌈"]
                for message in messages:
                    if isinstance(message, str):
                        await client.send_text(message)
                    else:
                        await client.send_binary(message)
                    assert await client.read_message() == message
                assert await client.close_handshake(1000) is not None
    assert client.received_close_code() == (1000, "")
    assert all(not frame.masked for frame in client.frames)  # RFC 6455 5.1: a server never masks


async def test_the_server_joins_a_fragmented_client_message(ws_backend: str) -> None:
    async with serve(_echo, ws_backend) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                await client.send_frame(OP_TEXT, b"frag", fin=False)
                await client.send_frame(OP_CONTINUATION, b"men", fin=False)
                await client.send_frame(OP_CONTINUATION, b"ted")
                assert await client.read_message() == "fragmented"
                await client.close_handshake(1000)


async def test_a_handler_that_returns_closes_with_1000(ws_backend: str) -> None:
    async def handler(channel: WebSocketChannel) -> None:
        await channel.sink.add("bye")

    async with serve(handler, ws_backend) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                assert await client.read_message() == "bye"
                assert await client.answer_close() is not None
    assert client.received_close_code() == (1000, "")


async def test_a_handler_that_raises_closes_with_1011(ws_backend: str) -> None:
    async def handler(channel: WebSocketChannel) -> None:
        raise RuntimeError("handler failed on purpose")

    async with serve(handler, ws_backend) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                assert await client.answer_close() is not None
    received = client.received_close_code()
    assert received is not None and received[0] == 1011
    assert "handler failed on purpose" not in received[1]  # no exception text on the wire


async def test_leaving_the_serve_block_closes_open_connections_with_1001(ws_backend: str) -> None:
    recorder = Recorder()
    ports: list[int] = []
    listening = anyio.Event()
    stop = anyio.Event()

    async def body(channel: WebSocketChannel) -> None:
        await collect(channel)

    async def run_server() -> None:
        async with serve(recorder.handler(body), ws_backend) as server:
            ports.append(server.port)
            listening.set()
            await stop.wait()

    with fail_after():
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run_server)
            await listening.wait()
            async with scripted_client(ports[0]) as client:
                await recorder.started.wait()
                stop.set()
                await client.answer_close()
    received = client.received_close_code()
    assert received is not None and received[0] == 1001
    assert recorder.channel.close_code in {1001, 1006}


async def test_the_handler_sees_the_client_close_code_and_reason(ws_backend: str) -> None:
    recorder = Recorder()

    async def body(channel: WebSocketChannel) -> None:
        recorder.messages.extend(await collect(channel))

    async with serve(recorder.handler(body), ws_backend) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                await client.send_text("before")
                await client.close_handshake(3678, "raisin")
                await recorder.finished.wait()
    channel = recorder.channel
    assert recorder.messages == ["before"]
    assert (channel.close_code, channel.close_reason) == (3678, "raisin")
    with pytest.raises(ConnectionClosed):
        await channel.sink.add("after")


async def test_the_handler_sees_1005_when_the_client_closes_without_a_code(ws_backend: str) -> None:
    recorder = Recorder()

    async def body(channel: WebSocketChannel) -> None:
        await collect(channel)

    async with serve(recorder.handler(body), ws_backend) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                await client.close_handshake(None)
                await recorder.finished.wait()
    assert (recorder.channel.close_code, recorder.channel.close_reason) == (1005, "")


async def test_the_handler_sees_1006_when_the_client_drops_tcp(ws_backend: str) -> None:
    recorder = Recorder()

    async def body(channel: WebSocketChannel) -> None:
        await collect(channel)
        await channel.sink.done

    async with serve(recorder.handler(body), ws_backend) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                await client.send_text("then gone")
                await client.abort()
                await recorder.finished.wait()
    assert recorder.channel.close_code == 1006


async def test_a_handler_close_with_code_and_reason_reaches_the_client(ws_backend: str) -> None:
    async def handler(channel: WebSocketChannel) -> None:
        await channel.sink.close(3678, "raisin")

    async with serve(handler, ws_backend) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                assert await client.answer_close() is not None
    assert client.received_close_code() == (3678, "raisin")


async def test_a_handler_close_returns_within_close_timeout_when_the_client_never_answers(
    ws_backend: str,
) -> None:
    durations: list[float] = []

    async def handler(channel: WebSocketChannel) -> None:
        started = time.monotonic()
        await channel.sink.close(1000)
        durations.append(time.monotonic() - started)

    async with serve(handler, ws_backend) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                try:
                    while True:
                        await client.read_frame()  # read everything, answer nothing
                except PeerClosed:
                    pass
    assert len(durations) == 1
    assert durations[0] <= CLOSE_TIMEOUT + SLACK


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [((), None), (("superchat", "chat"), "superchat"), (("chat",), "chat"), (("other",), None)],
    ids=["none offered", "client order wins", "one match", "no match"],
)
async def test_the_server_picks_the_first_offered_subprotocol_it_supports(
    ws_backend: str, offered: tuple[str, ...], chosen: str | None
) -> None:
    recorder = Recorder()

    async def body(channel: WebSocketChannel) -> None:
        await collect(channel)

    async with serve(recorder.handler(body), ws_backend, protocols=("chat", "superchat")) as server:
        with fail_after():
            async with scripted_client(server.port, protocols=offered) as client:
                response = client.response
                assert response is not None
                await recorder.started.wait()
                await client.close_handshake(1000)
    expected = [chosen] if chosen else []
    assert response.header_values("Sec-WebSocket-Protocol") == expected
    assert recorder.channel.protocol == chosen


async def test_extra_server_headers_are_sent_in_the_101(ws_backend: str) -> None:
    async with serve(_echo, ws_backend, headers={"X-Served-By": "conformance"}) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                response = client.response
                assert response is not None
                assert response.header("X-Served-By") == "conformance"
                await client.close_handshake(1000)


@pytest.mark.parametrize(
    "headers",
    [
        (("Host", "x"),),
        (("Host", "x"), ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13")),
    ],
    ids=["plain GET", "missing key"],
)
async def test_a_request_that_is_not_a_valid_upgrade_gets_an_http_error_and_the_server_goes_on(
    ws_backend: str, headers: tuple[tuple[str, str], ...]
) -> None:
    async with serve(_echo, ws_backend) as server:
        with fail_after():
            async with open_connection(server.port) as connection:
                head = "\r\n".join(["GET / HTTP/1.1", *(f"{k}: {v}" for k, v in headers), "", ""])
                await connection.send_raw(head.encode())
                response = await connection.read_response()
                assert 400 <= response.status < 500
            async with scripted_client(server.port) as client:
                await client.send_text("still serving")
                assert await client.read_message() == "still serving"
                await client.close_handshake(1000)


async def test_a_wrong_websocket_version_gets_an_http_error(ws_backend: str) -> None:
    async with serve(_echo, ws_backend) as server:
        with fail_after():
            async with open_connection(server.port) as connection:
                request = build_request(
                    f"127.0.0.1:{server.port}", key=generate_key(), headers=()
                ).replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8")
                await connection.send_raw(request)
                response = await connection.read_response()
    assert 400 <= response.status < 500


async def test_the_server_handles_concurrent_connections(ws_backend: str) -> None:
    async with serve(_echo, ws_backend) as server:
        with fail_after():

            async def one_client(index: int) -> None:
                async with open_connection(server.port) as client:
                    assert await handshake(client, server.port) == 101
                    await client.send_text(f"client {index}")
                    assert await client.read_message() == f"client {index}"
                    await client.close_handshake(1000)

            async with anyio.create_task_group() as tasks:
                for index in range(20):
                    tasks.start_soon(one_client, index)


async def test_the_handler_stream_ends_within_close_timeout_when_the_client_keeps_tcp_open(
    ws_backend: str,
) -> None:
    recorder = Recorder()

    async def body(channel: WebSocketChannel) -> None:
        await collect(channel)

    async with serve(recorder.handler(body), ws_backend) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                started = time.monotonic()
                await client.send_close(3000, "lingering")
                await client.read_until_close()
                # The closing handshake is complete; this client never closes its end of TCP.
                await recorder.finished.wait()
                elapsed = time.monotonic() - started
    assert elapsed <= CLOSE_TIMEOUT + SLACK
    assert recorder.channel.close_code == 3000
