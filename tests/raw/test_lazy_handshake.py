"""A server without hooks keeps only the request's head bytes; ``request`` and ``response`` are parsed
(the 101 rebuilt) on first access, and must be exactly what the hook path keeps as objects."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import ws_channel_core as wc
from ws_channel_core.http import Request, Response

pytestmark = pytest.mark.anyio
TIMEOUT = 10


def _snapshot(channel: wc.WebSocketChannel) -> dict[str, Any]:
    request, response = channel.request, channel.response
    assert request is not None and response is not None
    assert channel.request is request and channel.response is response  # parsed once
    return {
        "method": request.method,
        "raw_path": request.raw_path,
        "path": request.path,
        "query": request.query,
        "subprotocols": request.subprotocols,
        "request_headers": list(request.headers),
        "remote_address": request.remote_address,
        "status": response.status,
        "reason": response.reason,
        "response_headers": list(response.headers),
        "body": response.body,
    }


def _keep(request: Request, response: Response) -> Response:
    return response


@pytest.mark.parametrize("hooks", [False, True], ids=["no-hooks", "hooks"])
@pytest.mark.parametrize("compression", ["deflate", None])
async def test_server_request_and_response_match_the_wire(hooks: bool, compression: Any) -> None:
    seen: list[dict[str, Any]] = []
    remote: list[Any] = []

    async def handler(channel: wc.WebSocketChannel) -> None:
        remote.append(channel.remote_address)
        seen.append(_snapshot(channel))
        await channel.sink.add("ok")

    extra: dict[str, Any] = {"process_response": _keep} if hooks else {}
    with anyio.fail_after(TIMEOUT):
        async with wc.serve(
            handler,
            backend="raw",
            protocols=["chat", "superchat"],
            compression=compression,
            headers=[("X-Server", " spaced value "), ("X-Server", "twice")],
            **extra,
        ) as server:
            channel = await wc.connect(
                f"ws://127.0.0.1:{server.port}/room/1?a=1&a=2&b=",
                backend="raw",
                protocols=["superchat", "chat"],
                compression=compression,
                headers=[("X-Client", "yes"), ("Cookie", "k=v")],
            )
            assert [message async for message in channel.stream] == ["ok"]
    (server_side,) = seen
    client_request, client_response = channel.request, channel.response
    assert client_request is not None and client_response is not None
    assert server_side["method"] == "GET"
    assert server_side["raw_path"] == "/room/1?a=1&a=2&b="
    assert server_side["path"] == "/room/1"
    assert server_side["query"] == {"a": ["1", "2"], "b": [""]}
    assert server_side["subprotocols"] == ("superchat", "chat")
    assert server_side["request_headers"] == list(client_request.headers)
    assert server_side["remote_address"] == remote[0]
    assert server_side["status"] == 101 and server_side["reason"] == "Switching Protocols"
    # The server's 101 is the one it built (values as given); the client's parser strips them.
    assert ("X-Server", " spaced value ") in server_side["response_headers"]
    stripped = [(name, value.strip()) for name, value in server_side["response_headers"]]
    assert stripped == list(client_response.headers)
    assert ("Sec-WebSocket-Protocol", "superchat") in server_side["response_headers"]
    assert ("X-Server", "twice") in server_side["response_headers"]
    has_extensions = any(name == "Sec-WebSocket-Extensions" for name, _ in server_side["response_headers"])
    assert has_extensions is (compression is not None)
    assert server_side["body"] == b""
