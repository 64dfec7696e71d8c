"""handshake: the opening handshake in the open, on both sides.

Server side: ``process_request`` sees the request and may refuse it (401 with a body, a 200 health
check), ``process_response`` may add headers to the 101, a hook that raises gives 500, bad upgrades
get the same 426/400 everywhere, and the channel knows its request, response, addresses and id.
Client side: the request sent and the 101 received are on the channel (duplicate headers kept), a
refusal carries the whole response, and an unreachable server is told apart from a refusal.
"""

from __future__ import annotations

import logging

import anyio
import pytest
from anyio.abc import SocketAttribute

from conformance.peers import open_connection, scripted_client, scripted_server
from conformance.peers.connection import PeerConnection
from conformance.peers.http import build_request, build_response
from conformance.peers.scripts import echo, upgrade
from conformance.support import Recorder, closed_port, collect, connect, fail_after, serve
from ws_channel_core import (
    Headers,
    InvalidStatus,
    Request,
    Response,
    ServerUnreachable,
    State,
    WebSocketChannel,
    check_upgrade_request,
    generate_key,
)

pytestmark = pytest.mark.anyio


async def _echo(channel: WebSocketChannel) -> None:
    async for message in channel.stream:
        await channel.sink.add(message)


async def _raw_exchange(port: int, head: bytes) -> tuple[int, PeerConnection]:
    """Send ``head`` on a fresh connection and read the HTTP answer; return its status."""
    async with open_connection(port) as connection:
        await connection.send_raw(head)
        response = await connection.read_response()
        return response.status, connection


def _host_port(address: object) -> tuple[str, int]:
    """The host and port of a TCP address (IPv6 addresses carry two more fields)."""
    assert isinstance(address, tuple), f"expected a (host, port) address, got {address!r}"
    return address[0], address[1]


def _upgrade_head(port: int, resource: str = "/", headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    return build_request(f"127.0.0.1:{port}", resource, key=generate_key(), headers=headers)


# -- server side: the request and the hooks --------------------------------------------------------


async def test_process_request_sees_path_query_headers_subprotocols_and_peer(ws_backend: str) -> None:
    seen: list[Request] = []

    def process_request(request: Request) -> None:
        seen.append(request)

    recorder = Recorder()
    async with serve(recorder.handler(_echo), ws_backend, process_request=process_request) as server:
        with fail_after():
            async with scripted_client(
                server.port,
                resource="/chat/room?token=s3cret&tag=a&tag=b",
                protocols=("chat.v2", "chat.v1"),
                headers=(("Authorization", "Bearer abc"), ("X-Trace", "1"), ("X-Trace", "2")),
            ) as client:
                await client.send_text("ping")
                assert await client.read_message() == "ping"
                client_port = client.stream.extra(SocketAttribute.local_port)
                await client.close_handshake(1000)
    (request,) = seen
    assert request.path == "/chat/room"
    assert request.raw_path == "/chat/room?token=s3cret&tag=a&tag=b"
    assert request.query == {"token": ["s3cret"], "tag": ["a", "b"]}
    assert request.query_value("token") == "s3cret"
    assert request.headers["authorization"] == "Bearer abc"
    assert request.headers.get_all("X-Trace") == ["1", "2"]
    assert request.subprotocols == ("chat.v2", "chat.v1")
    assert _host_port(request.remote_address) == ("127.0.0.1", client_port)
    channel = recorder.channel
    assert channel.request is not None
    assert channel.request.path == "/chat/room"
    assert channel.request.headers["Authorization"] == "Bearer abc"


@pytest.mark.parametrize("flavour", ["plain", "async"])
async def test_process_request_refuses_with_401_a_header_and_a_body(ws_backend: str, flavour: str) -> None:
    recorder = Recorder()

    def refuse(request: Request) -> Response | None:
        if request.headers.get("Authorization") == "Bearer good":
            return None
        return Response(401, {"WWW-Authenticate": 'Bearer realm="chat"'}, "a valid token is required\n")

    async def refuse_async(request: Request) -> Response | None:
        await anyio.lowlevel.checkpoint()
        return refuse(request)

    hook = refuse if flavour == "plain" else refuse_async
    async with serve(recorder.handler(_echo), ws_backend, process_request=hook) as server:
        with fail_after():
            async with open_connection(server.port) as connection:
                await connection.send_raw(_upgrade_head(server.port))
                refused = await connection.read_response()
            async with scripted_client(server.port, headers=(("Authorization", "Bearer good"),)) as client:
                await client.send_text("let me in")
                assert await client.read_message() == "let me in"
                await client.close_handshake(1000)
    assert refused.status == 401
    assert refused.header("WWW-Authenticate") == 'Bearer realm="chat"'
    assert refused.body == b"a valid token is required\n"
    assert len(recorder.channels) == 1  # the refused connection never reached the handler


async def test_a_health_check_is_answered_without_upgrading(ws_backend: str) -> None:
    def health(request: Request) -> Response | None:
        return Response(200, {"Content-Type": "text/plain"}, "ok\n") if request.path == "/healthz" else None

    async with serve(_echo, ws_backend, process_request=health) as server:
        with fail_after():
            async with open_connection(server.port) as connection:
                await connection.send_raw(
                    f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
                )
                response = await connection.read_response()
    assert response.status == 200
    assert response.body == b"ok\n"


async def test_process_request_routes_by_path_with_404(ws_backend: str) -> None:
    def route(request: Request) -> Response | None:
        return None if request.path == "/chat" else Response(404, body="no such endpoint\n")

    async with serve(_echo, ws_backend, process_request=route) as server:
        with fail_after():
            async with open_connection(server.port) as connection:
                await connection.send_raw(_upgrade_head(server.port, "/elsewhere"))
                missing = await connection.read_response()
            async with scripted_client(server.port, resource="/chat") as client:
                await client.close_handshake(1000)
    assert missing.status == 404
    assert missing.body == b"no such endpoint\n"


async def test_a_hook_that_raises_gives_500_and_the_server_goes_on(ws_backend: str) -> None:
    calls = 0

    def flaky(request: Request) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("hook bug")

    async with serve(_echo, ws_backend, process_request=flaky) as server:
        with fail_after():
            async with open_connection(server.port) as connection:
                await connection.send_raw(_upgrade_head(server.port))
                failed = await connection.read_response()
            async with scripted_client(server.port) as client:
                await client.send_text("still serving")
                assert await client.read_message() == "still serving"
                await client.close_handshake(1000)
    assert failed.status == 500


async def test_a_process_response_that_raises_gives_500(ws_backend: str) -> None:
    def broken(request: Request, response: Response) -> None:
        raise RuntimeError("hook bug")

    async with serve(_echo, ws_backend, process_response=broken) as server:
        with fail_after():
            async with open_connection(server.port) as connection:
                await connection.send_raw(_upgrade_head(server.port))
                failed = await connection.read_response()
    assert failed.status == 500


async def test_process_response_adds_two_cookies_to_the_101(ws_backend: str) -> None:
    recorder = Recorder()

    def cookies(request: Request, response: Response) -> None:
        assert response.status == 101
        response.headers.add("Set-Cookie", "session=abc; HttpOnly")
        response.headers.add("Set-Cookie", "theme=dark")

    async with serve(recorder.handler(_echo), ws_backend, process_response=cookies) as server:
        with fail_after():
            async with scripted_client(server.port) as client:
                await client.close_handshake(1000)
    assert client.response is not None
    assert client.response.header_values("Set-Cookie") == ["session=abc; HttpOnly", "theme=dark"]
    sent = recorder.channel.response
    assert sent is not None
    assert sent.status == 101
    assert sent.headers.get_all("Set-Cookie") == ["session=abc; HttpOnly", "theme=dark"]
    assert "Sec-WebSocket-Accept" in sent.headers


async def test_process_response_may_replace_the_101_with_a_refusal(ws_backend: str) -> None:
    recorder = Recorder()

    async def forbid(request: Request, response: Response) -> Response:
        await anyio.lowlevel.checkpoint()
        return Response(403, body="forbidden\n")

    async with serve(recorder.handler(_echo), ws_backend, process_response=forbid) as server:
        with fail_after():
            status, connection = await _raw_exchange(server.port, _upgrade_head(server.port))
    assert status == 403
    assert connection.response is not None
    assert connection.response.body == b"forbidden\n"
    assert recorder.channels == []


# -- server side: the same answer to the same bad upgrade --------------------------------------------


def _expected(raw_path: str, headers: list[tuple[str, str]]) -> Response:
    expected = check_upgrade_request(Request(raw_path, Headers(headers)))
    assert expected is not None
    return expected


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([("Host", "h")], 426),
        ([("Host", "h"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
          ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "8")], 426),
        ([("Host", "h"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
          ("Sec-WebSocket-Key", "not-a-valid-key"), ("Sec-WebSocket-Version", "13")], 400),
        ([("Host", "h"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
          ("Sec-WebSocket-Version", "13")], 400),
    ],
    ids=["plain GET", "version 8", "bad key", "no key"],
)
async def test_a_bad_upgrade_gets_the_shared_answer(
    ws_backend: str, headers: list[tuple[str, str]], status: int
) -> None:
    expected = _expected("/", headers)
    assert expected.status == status
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    async with serve(_echo, ws_backend) as server:
        with fail_after():
            async with open_connection(server.port) as connection:
                await connection.send_raw(f"GET / HTTP/1.1\r\n{head}\r\n".encode())
                answer = await connection.read_response()
    assert answer.status == status
    assert answer.body == expected.body
    if status == 426:
        assert "websocket" in (answer.header("Upgrade") or "").lower()
        assert answer.header("Sec-WebSocket-Version") == "13"


# -- server side: the channel's metadata ----------------------------------------------------------------


async def test_a_server_channel_knows_its_request_response_addresses_id_and_state(ws_backend: str) -> None:
    recorder = Recorder()
    states: list[State] = []

    async def body(channel: WebSocketChannel) -> None:
        states.append(channel.state)
        await _echo(channel)

    async with serve(recorder.handler(body), ws_backend) as server:
        with fail_after():
            ports = []
            for _ in range(2):
                async with scripted_client(server.port, resource="/a?b=c") as client:
                    ports.append(client.stream.extra(SocketAttribute.local_port))
                    await client.send_text("x")
                    assert await client.read_message() == "x"
                    await client.close_handshake(1000)
            await recorder.finished.wait()
    first, second = recorder.channels
    assert states == [State.OPEN, State.OPEN]
    assert first.id != second.id
    assert first.id == first.id
    assert first.request is not None and first.request.raw_path == "/a?b=c"
    assert first.response is not None and first.response.status == 101
    assert _host_port(first.remote_address) == ("127.0.0.1", ports[0])
    assert _host_port(first.local_address)[1] == server.port


# -- client side ------------------------------------------------------------------------------------------


async def test_the_client_sends_its_path_query_and_headers_and_keeps_them_on_the_channel(
    ws_backend: str,
) -> None:
    async with scripted_server(upgrade()) as server:
        url = f"ws://127.0.0.1:{server.port}/chat/room?token=s3cret"
        with fail_after():
            async with connect(url, ws_backend, headers=[("X-Token", "s3cret"), ("X-Trace", "1")]) as channel:
                request = channel.request
                assert channel.state is State.OPEN
    received = server.connection.request
    assert received is not None
    assert received.target == "/chat/room?token=s3cret"
    assert received.header("X-Token") == "s3cret"
    assert request is not None
    assert request.path == "/chat/room"
    assert request.query_value("token") == "s3cret"
    assert request.headers["X-Token"] == "s3cret"


async def test_the_client_reads_the_101s_headers_with_duplicate_cookies(ws_backend: str) -> None:
    cookies = (("Set-Cookie", "session=abc; HttpOnly"), ("Set-Cookie", "theme=dark"), ("X-Server", "s"))
    async with scripted_server(upgrade(headers=cookies)) as server:
        with fail_after():
            async with connect(server.url, ws_backend) as channel:
                response = channel.response
                remote = channel.remote_address
                local = channel.local_address
    assert response is not None
    assert response.status == 101
    assert response.headers.get_all("Set-Cookie") == ["session=abc; HttpOnly", "theme=dark"]
    assert response.headers["x-server"] == "s"
    assert _host_port(remote) == ("127.0.0.1", server.port)
    assert _host_port(local)[0] == "127.0.0.1"


async def test_a_refusal_carries_the_whole_response(ws_backend: str) -> None:
    headers = (
        ("WWW-Authenticate", 'Bearer realm="chat"'),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    )
    body = b"a valid token is required\n"

    async def refuse(connection: PeerConnection) -> None:
        await connection.read_request()
        await connection.send_raw(build_response(401, "Unauthorized", headers, body))

    async with scripted_server(refuse) as server:
        with fail_after(), pytest.raises(InvalidStatus) as raised:
            await connect(server.url, ws_backend)
    response = raised.value.response
    assert response.status == 401
    assert raised.value.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="chat"'
    assert response.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert response.body == body


async def test_an_unreachable_server_is_not_a_refusal(ws_backend: str) -> None:
    async with closed_port() as port:
        with fail_after(), pytest.raises(ServerUnreachable):
            await connect(f"ws://127.0.0.1:{port}/", ws_backend)
    with fail_after(), pytest.raises(ServerUnreachable):
        await connect("ws://does-not-exist.invalid/", ws_backend)


# -- logging ------------------------------------------------------------------------------------------------


async def test_connections_are_logged_with_their_id_and_path_never_their_messages(
    ws_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()

    def refuse_elsewhere(request: Request) -> Response | None:
        return None if request.path == "/logged" else Response(403)

    caplog.set_level(logging.INFO, logger="ws_channel")
    async with serve(recorder.handler(_echo), ws_backend, process_request=refuse_elsewhere) as server:
        with fail_after():
            async with scripted_client(server.port, resource="/logged") as client:
                await client.send_text("secret-payload")
                assert await client.read_message() == "secret-payload"
                await client.close_handshake(1000)
            await _raw_exchange(server.port, _upgrade_head(server.port, "/refused"))
            await recorder.channel.sink.done
    lines = [record.getMessage() for record in caplog.records if record.name.startswith("ws_channel")]
    ours = [line for line in lines if str(recorder.channel.id) in line]
    assert any("open" in line for line in ours), lines
    assert any("closed" in line for line in ours), lines
    assert all("/logged" in line for line in ours)
    assert any("403" in line and "/refused" in line for line in lines), lines
    assert not any("secret-payload" in line for line in lines)
    assert not any(record.levelno >= logging.WARNING for record in caplog.records)


async def test_a_client_channel_is_usable_after_reading_metadata(ws_backend: str) -> None:
    async with scripted_server(echo()) as server:
        with fail_after():
            async with connect(server.url, ws_backend) as channel:
                assert channel.request is not None and channel.response is not None
                await channel.sink.add("hi")
                assert await collect(channel, 1) == ["hi"]
