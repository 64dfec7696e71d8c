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
import struct
from collections import deque
from collections.abc import Callable
from typing import Any, TypeAlias

from aiohttp import ClientResponse, ClientWebSocketResponse, web
from aiohttp._websocket.helpers import websocket_mask
from aiohttp._websocket.reader import WebSocketDataQueue
from aiohttp.http_websocket import WebSocketWriter
from multidict import CIMultiDictProxy

__all__ = [
    "NativeWebSocket",
    "message_queue",
    "transport",
    "mark_closed",
    "release",
    "client_response",
    "server_request",
    "response_headers",
    "set_write_limit",
    "is_receiving",
    "buffered",
    "frame_writer",
    "write_control_frame",
    "write_message_now",
    "write_fragment",
    "write_limit",
    "drain",
    "send_in_progress",
    "wait_for_send",
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


def write_control_frame(writer: WebSocketWriter, payload: bytes, opcode: int) -> None:
    """Write a control frame to the transport now, without a coroutine (what ``send_frame`` does first).

    Raises ``ClientConnectionResetError`` (a ``ConnectionError``) when the transport is closing.
    """
    writer._write_websocket_frame(payload, opcode, 0)


def write_message_now(writer: WebSocketWriter, payload: bytes, opcode: int) -> None:
    """Write a whole data message now, without a coroutine (``add_nowait``): what ``send_frame`` does
    for a message it compresses in the event loop, for any size. The caller has checked that no
    compressed message is half-way out (:func:`send_in_progress`).

    Raises ``ClientConnectionResetError`` (a ``ConnectionError``) when the transport is closing.
    """
    if writer.compress:
        writer._send_compressed_frame_sync(payload, opcode, None)
    else:
        writer._write_websocket_frame(payload, opcode, 0)


_HEADER_SHORT = struct.Struct("!BB")
_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")
_MASK_KEY = struct.Struct("!I")


def write_fragment(writer: WebSocketWriter, payload: bytes, opcode: int, fin: bool) -> None:
    """Write one frame of a fragmented message, uncompressed (aiohttp's writer sets FIN on every
    frame it writes, so the frame is built here, masked with the writer's own random source).

    Raises ``ConnectionResetError`` when the transport is closing.
    """
    transport = writer.transport
    if transport.is_closing():
        raise ConnectionResetError("cannot write to a closing transport")
    first = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if writer.use_mask else 0
    length = len(payload)
    if length < 126:
        header = _HEADER_SHORT.pack(first, length | mask_bit)
    elif length < 65536:
        header = _HEADER_16.pack(first, 126 | mask_bit, length)
    else:
        header = _HEADER_64.pack(first, 127 | mask_bit, length)
    if mask_bit:
        key = _MASK_KEY.pack(writer.get_random_bits())
        masked = bytearray(payload)
        websocket_mask(key, masked)
        transport.write(header + key)
        transport.write(masked)
    else:
        transport.write(header)
        transport.write(payload)


def write_limit(writer: WebSocketWriter) -> int:
    """The ``write_limit`` the writer was given (:func:`set_write_limit`)."""
    return writer._limit


async def drain(writer: WebSocketWriter) -> None:
    """Wait while the transport's buffer is above its high-water mark (what ``send_frame`` waits for)."""
    protocol = writer.protocol
    if protocol._paused:
        await protocol._drain_helper()


def send_in_progress(writer: WebSocketWriter) -> bool:
    """Tell whether a compressed message is being compressed and written.

    aiohttp compresses a large message in a task of its own (holding a lock while it compresses and
    writes); a frame written meanwhile would overtake that message, so a close frame waits for it.
    """
    return writer._send_lock.locked() or bool(writer._background_tasks)


async def wait_for_send(writer: WebSocketWriter) -> None:
    """Wait until the compressed messages being written (see :func:`send_in_progress`) are out."""
    while send_in_progress(writer):
        if writer._background_tasks:
            await asyncio.wait(set(writer._background_tasks))
        else:
            async with writer._send_lock:
                pass


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


def client_response(ws: ClientWebSocketResponse[bool]) -> ClientResponse:
    """The server's 101 response on a client connection (status line, headers, the request sent)."""
    return ws._response


def server_request(ws: web.WebSocketResponse[bool]) -> web.BaseRequest | None:
    """The request a prepared server ``WebSocketResponse`` answered."""
    return ws._req


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
    """Stands in front of the connection's frame parser: ``on_input`` after each chunk, ``on_eof`` at the end.

    ``on_input(before)`` gets the length the message queue had before the chunk was parsed, so it can
    look at exactly the messages the chunk added. Both run synchronously in ``data_received`` /
    ``connection_lost``, so watching costs no task. A parser error is never reported to aiohttp as the
    end of input (the error is on the message queue already): aiohttp's client would otherwise drop the
    parser and never tell it when the connection ends, and the channel needs that moment to finish.
    """

    __slots__ = ("_parser", "_buffer", "_on_input", "_on_eof")

    def __init__(
        self,
        parser: Any,
        buffer: deque[tuple[Any, int]],
        on_input: Callable[[int], None],
        on_eof: Callable[[], None],
    ) -> None:
        self._parser = parser
        self._buffer = buffer
        self._on_input = on_input
        self._on_eof = on_eof

    def feed_data(self, data: bytes | bytearray | memoryview) -> tuple[bool, bytes]:
        before = len(self._buffer)
        self._parser.feed_data(data)
        self._on_input(before)
        return False, b""

    def feed_eof(self) -> None:
        self._parser.feed_eof()
        self._on_eof()


def install_input_hook(
    ws: NativeWebSocket, on_input: Callable[[int], None], on_eof: Callable[[], None]
) -> bool:
    """Call ``on_input`` whenever bytes of ``ws``'s connection were parsed, ``on_eof`` when it ends.

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
    owner._payload_parser = _InputHook(parser, buffered(message_queue(ws)), on_input, on_eof)
    return True
