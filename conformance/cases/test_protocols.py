"""protocols: subprotocols offered by the client, chosen by the server, exposed as ``protocol``."""

from __future__ import annotations

import pytest

from conformance.peers import scripted_server
from conformance.peers.scripts import upgrade
from conformance.support import connect, fail_after
from ws_channel_core import InvalidHandshake, NegotiationError

pytestmark = pytest.mark.anyio


async def test_without_subprotocols_no_header_is_sent_and_protocol_is_none(ws_backend: str) -> None:
    async with scripted_server(upgrade()) as server:
        with fail_after():
            async with connect(server.url, ws_backend) as channel:
                assert channel.protocol is None
            await server.wait_finished()
    request = server.connection.request
    assert request is not None
    assert request.header_values("Sec-WebSocket-Protocol") == []


async def test_one_offered_subprotocol_accepted_by_the_server_is_exposed(ws_backend: str) -> None:
    async with scripted_server(upgrade(protocol="chat.v1")) as server:
        with fail_after():
            async with connect(server.url, ws_backend, protocols=["chat.v1"]) as channel:
                assert channel.protocol == "chat.v1"
            await server.wait_finished()
    request = server.connection.request
    assert request is not None
    assert request.header_values("Sec-WebSocket-Protocol") == ["chat.v1"]


async def test_two_offered_subprotocols_arrive_in_one_header_and_the_choice_is_exposed(
    ws_backend: str
) -> None:
    async with scripted_server(upgrade(protocol="b")) as server:
        with fail_after():
            async with connect(server.url, ws_backend, protocols=("a", "b")) as channel:
                assert channel.protocol == "b"
            await server.wait_finished()
    request = server.connection.request
    assert request is not None
    values = request.header_values("Sec-WebSocket-Protocol")
    assert [item.strip() for value in values for item in value.split(",")] == ["a", "b"]
    assert len(values) == 1


async def test_offered_subprotocols_the_server_ignores_leave_protocol_none(ws_backend: str) -> None:
    async with scripted_server(upgrade()) as server:
        with fail_after():
            async with connect(server.url, ws_backend, protocols=("a", "b")) as channel:
                assert channel.protocol is None


async def test_a_subprotocol_the_client_did_not_offer_fails_the_handshake(ws_backend: str) -> None:
    async with scripted_server(upgrade(protocol="c")) as server:
        with fail_after(), pytest.raises(NegotiationError):
            await connect(server.url, ws_backend, protocols=("a", "b"))


async def test_a_subprotocol_when_none_was_offered_fails_the_handshake(ws_backend: str) -> None:
    async with scripted_server(upgrade(protocol="c")) as server:
        with fail_after(), pytest.raises(InvalidHandshake):
            await connect(server.url, ws_backend)
