"""``scripted_client``: a hand-written WebSocket client for testing a backend's server side."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio

from ws_channel_core.handshake import generate_key, sign_key

from .connection import PeerConnection
from .http import build_request

__all__ = ["open_connection", "scripted_client", "handshake"]


@asynccontextmanager
async def open_connection(port: int, host: str = "127.0.0.1") -> AsyncIterator[PeerConnection]:
    """A plain TCP connection wrapped as a client-side :class:`PeerConnection`, closed on exit."""
    stream = await anyio.connect_tcp(host, port)
    try:
        yield PeerConnection(stream, client=True)
    finally:
        with contextlib.suppress(Exception):
            await stream.aclose()


async def handshake(
    connection: PeerConnection,
    port: int,
    *,
    resource: str = "/",
    protocols: Sequence[str] = (),
    extensions: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> int:
    """Send an upgrade request and read the answer; return the HTTP status.

    With a 101 the accept value is checked (an ``AssertionError`` if wrong) and a negotiated
    permessage-deflate is enabled for reading.
    """
    key = generate_key()
    await connection.send_raw(
        build_request(
            f"127.0.0.1:{port}",
            resource,
            key=key,
            protocols=protocols,
            extensions=extensions,
            headers=headers,
        )
    )
    response = await connection.read_response()
    if response.status == 101:
        assert response.header("Sec-WebSocket-Accept") == sign_key(key), "wrong Sec-WebSocket-Accept"
        negotiated = response.header("Sec-WebSocket-Extensions") or ""
        if negotiated.startswith("permessage-deflate"):
            connection.enable_inflate()
    return response.status


@asynccontextmanager
async def scripted_client(
    port: int,
    *,
    resource: str = "/",
    protocols: Sequence[str] = (),
    extensions: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> AsyncIterator[PeerConnection]:
    """Connect to ``127.0.0.1:port`` and complete the upgrade (a 101 is asserted)."""
    async with open_connection(port) as connection:
        status = await handshake(
            connection, port, resource=resource, protocols=protocols, extensions=extensions, headers=headers
        )
        assert status == 101, f"expected 101 Switching Protocols, got {status}"
        yield connection
