"""compression: permessage-deflate (RFC 7692) on and off, negotiated as a client and as a server."""

from __future__ import annotations

import pytest

from conformance.peers import (
    OP_BINARY,
    OP_TEXT,
    Frame,
    PeerConnection,
    deflate_payload,
    scripted_client,
    scripted_server,
)
from conformance.peers.scripts import echo, upgrade
from conformance.support import collect, connect, fail_after, serve
from ws_channel_core import Message, WebSocketChannel

pytestmark = pytest.mark.anyio

_MESSAGES: list[Message] = ["compress me " * 100, b"\x00\x01" * 3000, "", "short"]


def _compressing_echo() -> tuple[list[Frame], object]:
    received: list[Frame] = []

    async def script(connection: PeerConnection) -> None:
        request = await connection.read_request()
        assert "permessage-deflate" in (request.header("Sec-WebSocket-Extensions") or "")
        await connection.accept(extensions="permessage-deflate")
        while True:
            message = await connection.read_message()
            if isinstance(message, Frame):
                await connection.echo_close(message)
                break
            received.append(connection.frames[-1])
            opcode = OP_TEXT if isinstance(message, str) else OP_BINARY
            data = message.encode() if isinstance(message, str) else message
            await connection.send_frame(opcode, deflate_payload(data), rsv1=True)

    return received, script


async def test_compression_on_offers_permessage_deflate(ws_backend: str) -> None:
    async with scripted_server(upgrade()) as server:
        with fail_after():
            async with connect(server.url, ws_backend, compression="deflate"):
                pass
            await server.wait_finished()
    request = server.connection.request
    assert request is not None
    assert "permessage-deflate" in (request.header("Sec-WebSocket-Extensions") or "")


async def test_compression_is_on_by_default(ws_backend: str) -> None:
    async with scripted_server(upgrade()) as server:
        with fail_after():
            async with connect(server.url, ws_backend):
                pass
            await server.wait_finished()
    request = server.connection.request
    assert request is not None
    assert "permessage-deflate" in (request.header("Sec-WebSocket-Extensions") or "")


async def test_compression_off_offers_no_extension(ws_backend: str) -> None:
    async with scripted_server(upgrade()) as server:
        with fail_after():
            async with connect(server.url, ws_backend, compression=None):
                pass
            await server.wait_finished()
    request = server.connection.request
    assert request is not None
    assert request.header_values("Sec-WebSocket-Extensions") == []


async def test_compressed_messages_round_trip_when_the_server_accepts_deflate(ws_backend: str) -> None:
    received, script = _compressing_echo()
    async with scripted_server(script) as server:  # type: ignore[arg-type]
        with fail_after():
            channel = await connect(server.url, ws_backend, compression="deflate")
            for message in _MESSAGES:
                await channel.sink.add(message)
            assert await collect(channel, len(_MESSAGES)) == _MESSAGES
            await channel.sink.close()
            await server.wait_finished()
    assert server.errors == []
    assert any(frame.rsv1 for frame in received), "the client never compressed a message"


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_a_server_refusing_the_extension_still_works(ws_backend: str, compression: str | None) -> None:
    async with scripted_server(echo()) as server:
        with fail_after():
            channel = await connect(server.url, ws_backend, compression=compression)
            for message in _MESSAGES:
                await channel.sink.add(message)
            assert await collect(channel, len(_MESSAGES)) == _MESSAGES
            await channel.sink.close()
            await server.wait_finished()
    assert not any(frame.rsv1 for frame in server.connection.frames)


async def _echo(channel: WebSocketChannel) -> None:
    async for message in channel.stream:
        await channel.sink.add(message)


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_a_server_negotiates_deflate_only_when_enabled(
    ws_backend: str, compression: str | None
) -> None:
    async with serve(_echo, ws_backend, compression=compression) as server:
        with fail_after():
            async with scripted_client(
                server.port, extensions="permessage-deflate; client_max_window_bits"
            ) as client:
                response = client.response
                assert response is not None
                negotiated = response.header("Sec-WebSocket-Extensions") or ""
                assert ("permessage-deflate" in negotiated) == (compression == "deflate")
                payload = "squeeze " * 200
                if compression:
                    await client.send_frame(OP_TEXT, deflate_payload(payload.encode()), rsv1=True)
                else:
                    await client.send_text(payload)
                assert await client.read_message() == payload
                await client.send_close(1000)
                await client.read_until_close()


async def test_a_server_works_with_a_client_that_offers_no_extension(ws_backend: str) -> None:
    async with serve(_echo, ws_backend) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                response = client.response
                assert response is not None
                assert response.header_values("Sec-WebSocket-Extensions") == []
                await client.send_text("plain")
                assert await client.read_message() == "plain"
                assert not client.frames[-1].rsv1
                await client.send_close(1000)
                await client.read_until_close()
