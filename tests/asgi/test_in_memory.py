"""FastAPI and plain ASGI routes tested in memory through ``connect_app``: no socket, no server."""

from __future__ import annotations

import socket

import pytest

from ws_channel_core import (
    InvalidStatus,
    NegotiationError,
    Request,
    Response,
    State,
    WebSocketChannel,
    run_handler,
)

pytest.importorskip("fastapi")

from fastapi import FastAPI, WebSocket

from ws_channel_backends.asgi import asgi_app, connect_app, wrap_asgi
from ws_channel_backends.asgi._types import Receive, Scope, Send

from ._support import echo, make_app

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    if request.param == "trio":
        pytest.importorskip("trio")
    return str(request.param)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any socket connecting or listening during the test fails it."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the in-memory client used the network")

    for method in ("connect", "connect_ex", "bind", "listen"):
        monkeypatch.setattr(socket.socket, method, refuse)


async def test_a_fastapi_route_is_tested_in_memory(no_network: None) -> None:
    async with connect_app(make_app(), "ws://testserver/echo", protocols=["chat"]) as channel:
        assert channel.protocol == "chat" and channel.state is State.OPEN
        assert channel.response is not None and channel.response.status == 101
        for message in ["text", b"binary"]:
            await channel.sink.add(message)
            assert await anext(channel.stream) == message
    assert channel.close_code == 1000
    assert channel.state is State.CLOSED


async def test_a_route_refusing_before_the_accept_raises_invalid_status_403() -> None:
    with pytest.raises(InvalidStatus) as caught:
        await connect_app(make_app(), "ws://testserver/private")
    assert caught.value.response.status == 403
    async with connect_app(
        make_app(), "ws://testserver/private", headers={"Authorization": "Bearer sesame"}
    ) as channel:
        await channel.sink.add("in")
        assert await anext(channel.stream) == "in"


async def test_a_refusal_through_the_http_response_extension_keeps_status_headers_and_body() -> None:
    def refuse(request: Request) -> Response | None:
        return Response(401, [("WWW-Authenticate", "Bearer"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")],
                        "token required\n")

    with pytest.raises(InvalidStatus) as caught:
        await connect_app(asgi_app(echo, process_request=refuse), "ws://testserver/")
    response = caught.value.response
    assert response.status == 401
    assert response.headers.get("WWW-Authenticate") == "Bearer"
    assert response.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert response.body == b"token required\n"


async def test_process_response_adds_headers_to_the_accept() -> None:
    def add_cookie(request: Request, response: Response) -> None:
        response.headers.add("Set-Cookie", f"path={request.path}")

    app = asgi_app(echo, process_response=add_cookie)
    async with connect_app(app, "ws://testserver/room?id=7") as channel:
        assert channel.response is not None
        assert channel.response.headers.get("Set-Cookie") == "path=/room"


async def test_the_handler_sees_the_request_and_the_client_close() -> None:
    seen: list[WebSocketChannel] = []

    async def handler(channel: WebSocketChannel) -> None:
        seen.append(channel)
        async for _ in channel.stream:
            pass

    async with connect_app(asgi_app(handler), "ws://testserver/a/b?x=1", headers={"X-Token": "t"}) as channel:
        await channel.close(3001, "done")
    server = seen[0]
    await server.done
    assert server.request is not None and server.request.raw_path == "/a/b?x=1"
    assert server.request.headers.get("x-token") == "t"
    assert server.remote_address == ("127.0.0.1", 50000)
    assert (server.close_code, server.close_reason) == (3001, "done")
    assert (channel.close_code, channel.close_reason) == (3001, "done")


async def test_a_server_close_reaches_the_client_with_its_code_and_reason() -> None:
    async def handler(channel: WebSocketChannel) -> None:
        await channel.sink.add("bye soon")
        await channel.close(4000, "go away")

    channel = await connect_app(asgi_app(handler), "ws://testserver/")
    assert [message async for message in channel.stream] == ["bye soon"]
    assert (channel.close_code, channel.close_reason) == (4000, "go away")


async def test_a_subprotocol_the_client_did_not_offer_raises_negotiation_error() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept", "subprotocol": "other"})
        await receive()

    with pytest.raises(NegotiationError):
        await connect_app(app, "ws://testserver/", protocols=["chat"])


async def test_an_exception_in_the_route_after_the_accept_is_raised_at_exit() -> None:
    app = FastAPI()

    @app.websocket("/boom")
    async def boom(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()
        raise RuntimeError("route failed")

    with pytest.raises(RuntimeError, match="route failed"):
        async with connect_app(app, "ws://testserver/boom") as channel:
            await channel.sink.add("trigger")
            assert await anext(channel.stream, None) is None  # the connection dropped
    assert channel.close_code == 1006


async def test_a_route_raising_before_the_accept_is_a_500_with_the_cause() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise ValueError("broken route")

    with pytest.raises(InvalidStatus) as caught:
        await connect_app(app, "ws://testserver/")
    assert caught.value.response.status == 500
    assert isinstance(caught.value.__cause__, ValueError)


async def test_wrap_asgi_serves_a_plain_asgi_route() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await run_handler(echo, await wrap_asgi(scope, receive, send, protocols=["v2", "v1"]))

    async with connect_app(app, "ws://testserver/", protocols=["v1", "v2"]) as channel:
        assert channel.protocol == "v1"  # the client's order of preference
        await channel.sink.add("plain")
        assert await anext(channel.stream) == "plain"


async def test_a_bad_url_raises_value_error_before_anything_runs() -> None:
    with pytest.raises(ValueError):
        connect_app(make_app(), "http://testserver/")
