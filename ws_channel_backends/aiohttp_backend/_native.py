"""The few aiohttp internals the adapter touches, kept in one place.

aiohttp's public ``receive()`` cannot give us what the shared behaviour needs: it drops the reason of a
close frame that answers ours, always puts a code in the close frames it sends (so "no code" cannot be
sent), swallows pongs when ``autoping`` is on, and sends its own close frames on errors. The adapter
therefore reads aiohttp's message queue itself, sends close frames with the public ``send_frame()``, and
uses the helpers below for the rest. Every private attribute used is named here or in ``_mask`` (the
masking check in front of aiohttp's parser), so a change in aiohttp breaks one small module. Written
against aiohttp 3.14.
"""

from __future__ import annotations

import asyncio
from typing import TypeAlias

from aiohttp import ClientWebSocketResponse, web
from aiohttp._websocket.reader import WebSocketDataQueue
from multidict import CIMultiDictProxy

__all__ = [
    "NativeWebSocket",
    "message_queue",
    "transport",
    "mark_closed",
    "release",
    "response_headers",
    "set_write_limit",
    "is_receiving",
]

#: The two aiohttp WebSocket objects the adapter can drive.
NativeWebSocket: TypeAlias = "ClientWebSocketResponse[bool] | web.WebSocketResponse[bool]"


def message_queue(ws: NativeWebSocket) -> WebSocketDataQueue:
    """The queue aiohttp's frame parser feeds (``TEXT``/``BINARY``/``PING``/``PONG``/``CLOSE`` messages)."""
    reader = ws._reader
    if reader is None:
        raise ValueError("the aiohttp WebSocketResponse is not prepared yet")
    return reader


def transport(ws: NativeWebSocket) -> asyncio.Transport:
    """The transport under the connection (both roles keep it on their frame writer)."""
    writer = ws._writer
    if writer is None:
        raise ValueError("the aiohttp WebSocketResponse is not prepared yet")
    return writer.transport


def is_receiving(ws: NativeWebSocket) -> bool:
    """Tell whether some task is inside aiohttp's own ``receive()`` on this socket."""
    return ws._waiting


def mark_closed(ws: NativeWebSocket) -> None:
    """Tell aiohttp the connection is closed: stops its heartbeat, makes its ``close()`` a no-op.

    A server handler returning the response triggers ``write_eof()``, which would otherwise send a
    second close frame.
    """
    if not ws._closed:
        ws._set_closed()


def release(ws: NativeWebSocket) -> None:
    """Close the connection under ``ws``; on the client this also returns it to the session."""
    if isinstance(ws, ClientWebSocketResponse):
        ws._response.close()
    else:
        transport(ws).close()


def response_headers(ws: ClientWebSocketResponse[bool]) -> CIMultiDictProxy[str]:
    """The headers of the server's 101 response (for the negotiation checks aiohttp skips)."""
    return ws._response.headers


def set_write_limit(ws: NativeWebSocket, limit: int) -> None:
    """Make ``send`` wait once about ``limit`` bytes are buffered (the ``write_limit`` option)."""
    writer = ws._writer
    if writer is not None:
        writer._limit = limit
        writer.transport.set_write_buffer_limits(high=limit)
