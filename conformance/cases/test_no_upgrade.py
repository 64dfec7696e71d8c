"""no_upgrade: servers that answer HTTP without upgrading, or answer wrongly; every failure is typed."""

from __future__ import annotations

import pytest

from conformance.peers import scripted_server
from conformance.peers.scripts import close_without_answer, respond_without_upgrade, upgrade
from conformance.support import closed_port, connect, fail_after
from ws_channel_core import (
    InvalidHandshake,
    InvalidHeader,
    InvalidStatus,
    WebSocketChannelError,
)

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("status", "reason", "body"),
    [(200, "OK", b"hello, not a websocket"), (404, "Not Found", b"no such resource"), (500, "Oops", b"")],
    ids=["200", "404", "500"],
)
async def test_a_server_answering_without_upgrading_raises_invalid_status_with_the_answer(
    ws_backend: str, status: int, reason: str, body: bytes
) -> None:
    script = respond_without_upgrade(status, reason, body, headers=(("X-Answer", "plain"),))
    async with scripted_server(script) as server:
        with fail_after(), pytest.raises(InvalidStatus) as raised:
            await connect(server.url, ws_backend)
    error = raised.value
    assert error.status_code == status
    assert {name.lower(): value for name, value in error.headers.items()}.get("x-answer") == "plain"
    assert error.body == body


async def test_a_server_closing_without_an_answer_raises_invalid_handshake(ws_backend: str) -> None:
    async with scripted_server(close_without_answer()) as server:
        with fail_after(), pytest.raises(InvalidHandshake):
            await connect(server.url, ws_backend)


async def test_a_wrong_sec_websocket_accept_raises_invalid_header(ws_backend: str) -> None:
    async with scripted_server(upgrade(accept="s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")) as server:
        with fail_after(), pytest.raises(InvalidHandshake) as raised:
            await connect(server.url, ws_backend)
    assert isinstance(raised.value, InvalidHeader)
    assert raised.value.name.lower() == "sec-websocket-accept"


async def test_an_unreachable_port_raises_invalid_handshake(ws_backend: str) -> None:
    async with closed_port() as port:
        with fail_after(), pytest.raises(InvalidHandshake) as raised:
            await connect(f"ws://127.0.0.1:{port}/", ws_backend)
    assert raised.value.__cause__ is not None


async def test_a_host_name_that_does_not_resolve_raises_invalid_handshake(ws_backend: str) -> None:
    with fail_after(), pytest.raises(InvalidHandshake):
        await connect("ws://does-not-exist.invalid/", ws_backend)


@pytest.mark.parametrize(
    "script",
    [
        respond_without_upgrade(404, "Not Found"),
        close_without_answer(),
        upgrade(accept="wrong"),
        upgrade(protocol="unoffered"),
    ],
    ids=["404", "no answer", "wrong accept", "unoffered protocol"],
)
async def test_every_handshake_failure_is_a_websocket_channel_error_from_one_root(
    ws_backend: str, script: object
) -> None:
    async with scripted_server(script) as server:  # type: ignore[arg-type]
        with fail_after(), pytest.raises(WebSocketChannelError) as raised:
            await connect(server.url, ws_backend)
    assert isinstance(raised.value, InvalidHandshake)
