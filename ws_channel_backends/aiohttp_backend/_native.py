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
from collections import deque
from collections.abc import Callable
from typing import Any, TypeAlias

from aiohttp import ClientWebSocketResponse, web
from aiohttp._websocket.reader import WebSocketDataQueue
from aiohttp.http_websocket import WebSocketWriter
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
    "buffered",
    "frame_writer",
    "install_input_hook",
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


def frame_writer(ws: NativeWebSocket) -> WebSocketWriter:
    """The frame writer ``send_str`` / ``send_bytes`` end in (the channel calls it directly)."""
    writer = ws._writer
    if writer is None:
        raise ValueError("the aiohttp WebSocketResponse is not prepared yet")
    return writer


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


def buffered(queue: WebSocketDataQueue) -> deque[tuple[Any, int]]:
    """The messages parsed and not read yet, oldest first (a public attribute of the compiled queue)."""
    return queue._buffer


class _InputHook:
    """Stands in front of the connection's frame parser and calls ``hook`` after every chunk and at EOF.

    ``hook(before)`` gets the length the message queue had before the chunk was parsed, so it can
    look at exactly the messages the chunk added. It runs synchronously in ``data_received`` /
    ``connection_lost``, so watching costs no task.
    """

    __slots__ = ("_parser", "_buffer", "_hook")

    def __init__(self, parser: Any, buffer: deque[tuple[Any, int]], hook: Callable[[int], None]) -> None:
        self._parser = parser
        self._buffer = buffer
        self._hook = hook

    def feed_data(self, data: bytes | bytearray | memoryview) -> tuple[bool, bytes]:
        before = len(self._buffer)
        result: tuple[bool, bytes] = self._parser.feed_data(data)
        self._hook(before)
        return result

    def feed_eof(self) -> None:
        self._parser.feed_eof()
        self._hook(len(self._buffer))


def install_input_hook(ws: NativeWebSocket, hook: Callable[[int], None]) -> bool:
    """Call ``hook`` whenever bytes of ``ws``'s connection were parsed, and when it ends.

    Returns False when the connection has no frame parser any more (it already ended or failed);
    the queue's ``is_eof()`` is then true or about to be.
    """
    if isinstance(ws, ClientWebSocketResponse):
        owner: Any = ws._response._protocol
    else:
        request = ws._req
        owner = request.protocol if request is not None else None
    parser = getattr(owner, "_payload_parser", None)
    if parser is None:
        return False
    owner._payload_parser = _InputHook(parser, buffered(message_queue(ws)), hook)
    return True
