"""interop: every backend's client against every backend's server, through the interface only.

Parametrized over (client backend, server backend) pairs by the plugin (``ws_server_backend``).
"""

from __future__ import annotations

import pytest

from conformance.cases.test_load import COUNT, exchange
from conformance.support import collect, connect, drain, fail_after, serve
from ws_channel_core import CloseFrame, InvalidStatus, Message, Request, Response, WebSocketChannel

pytestmark = pytest.mark.anyio

_MESSAGES: list[Message] = ["text", b"binary", "", b"", "🎨⛳🌈", "x" * 70_000, bytes(range(256)) * 4000]


async def _echo(channel: WebSocketChannel) -> None:
    async for message in channel.stream:
        await channel.sink.add(message)


@pytest.mark.parametrize("compression", ["deflate", None], ids=["compressed", "uncompressed"])
async def test_messages_round_trip_between_client_and_server_backends(
    ws_backend: str, ws_server_backend: str, compression: str | None
) -> None:
    async with serve(_echo, ws_server_backend, compression=compression) as server:
        with fail_after():
            url = f"ws://127.0.0.1:{server.port}/"
            async with connect(url, ws_backend, compression=compression) as channel:
                for message in _MESSAGES:
                    await channel.sink.add(message)
                assert await collect(channel, len(_MESSAGES)) == _MESSAGES


async def test_compression_negotiated_on_one_side_only_still_works(
    ws_backend: str, ws_server_backend: str
) -> None:
    async with serve(_echo, ws_server_backend, compression=None) as server:
        with fail_after():
            url = f"ws://127.0.0.1:{server.port}/"
            async with connect(url, ws_backend, compression="deflate") as channel:
                await channel.sink.add("hello " * 100)
                assert await collect(channel, 1) == ["hello " * 100]
    async with serve(_echo, ws_server_backend, compression="deflate") as server:
        with fail_after():
            async with connect(f"ws://127.0.0.1:{server.port}/", ws_backend, compression=None) as channel:
                await channel.sink.add("hello " * 100)
                assert await collect(channel, 1) == ["hello " * 100]


async def test_a_client_close_code_and_reason_reach_the_server(
    ws_backend: str, ws_server_backend: str
) -> None:
    seen: list[tuple[int | None, str | None]] = []

    async def handler(channel: WebSocketChannel) -> None:
        await drain(channel)
        seen.append((channel.close_code, channel.close_reason))

    async with serve(handler, ws_server_backend) as server:
        with fail_after():
            channel = await connect(f"ws://127.0.0.1:{server.port}/", ws_backend)
            await channel.sink.close(3678, "raisin")
            await channel.sink.done
    assert seen == [(3678, "raisin")]
    assert channel.close_sent == CloseFrame(3678, "raisin")
    assert channel.close_code == 3678


async def test_a_server_close_code_and_reason_reach_the_client(
    ws_backend: str, ws_server_backend: str
) -> None:
    async def handler(channel: WebSocketChannel) -> None:
        await channel.sink.add("goodbye")
        await channel.sink.close(4321, "server says so")

    async with serve(handler, ws_server_backend) as server:
        with fail_after():
            channel = await connect(f"ws://127.0.0.1:{server.port}/", ws_backend)
            assert await drain(channel) == ["goodbye"]
    assert (channel.close_code, channel.close_reason) == (4321, "server says so")
    assert channel.close_received_first is True


async def test_subprotocols_are_negotiated_across_backends(ws_backend: str, ws_server_backend: str) -> None:
    chosen: list[str | None] = []

    async def handler(channel: WebSocketChannel) -> None:
        chosen.append(channel.protocol)

    async with serve(handler, ws_server_backend, protocols=("v2", "v1")) as server:
        with fail_after():
            url = f"ws://127.0.0.1:{server.port}/"
            channel = await connect(url, ws_backend, protocols=("v1", "v2"))
            assert channel.protocol == "v1"
            await drain(channel)
    assert chosen == ["v1"]


async def test_ten_thousand_messages_each_way_between_backends(
    ws_backend: str, ws_server_backend: str
) -> None:
    outgoing: list[Message] = [f"c{index}" if index % 2 else str(index).encode() for index in range(COUNT)]
    incoming: list[Message] = [f"s{index}" if index % 2 else bytes([index % 256]) for index in range(COUNT)]
    server_received: list[Message] = []

    async def handler(channel: WebSocketChannel) -> None:
        server_received.extend(await exchange(channel, incoming, COUNT))

    async with serve(handler, ws_server_backend) as server:
        with fail_after(20):
            channel = await connect(f"ws://127.0.0.1:{server.port}/", ws_backend)
            assert await exchange(channel, outgoing, COUNT) == incoming
            await drain(channel)
    assert server_received == outgoing
    assert channel.close_code == 1000


async def test_the_handshake_metadata_crosses_between_client_and_server_backends(
    ws_backend: str, ws_server_backend: str
) -> None:
    seen: list[Request] = []
    paths: list[str | None] = []

    def authenticate(request: Request) -> Response | None:
        seen.append(request)
        if request.headers.get("Authorization") != "Bearer good":
            return Response(401, {"WWW-Authenticate": "Bearer"}, "token required\n")
        return None

    def cookies(request: Request, response: Response) -> None:
        response.headers.add("Set-Cookie", "a=1")
        response.headers.add("Set-Cookie", "b=2")

    async def handler(channel: WebSocketChannel) -> None:
        paths.append(channel.request.path if channel.request is not None else None)
        await _echo(channel)

    async with serve(
        handler, ws_server_backend, process_request=authenticate, process_response=cookies
    ) as server:
        url = f"ws://127.0.0.1:{server.port}/room/7?lang=fr"
        with fail_after():
            with pytest.raises(InvalidStatus) as refused:
                await connect(url, ws_backend)
            async with connect(url, ws_backend, headers={"Authorization": "Bearer good"}) as channel:
                response = channel.response
                await channel.sink.add("hi")
                assert await collect(channel, 1) == ["hi"]
    assert refused.value.response.status == 401
    assert refused.value.response.body == b"token required\n"
    assert refused.value.response.headers["WWW-Authenticate"] == "Bearer"
    assert response is not None and response.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert [request.path for request in seen] == ["/room/7", "/room/7"]
    assert seen[1].query == {"lang": ["fr"]}
    assert paths == ["/room/7"]
