"""The masking rule aiohttp does not check, checked in front of its frame parser.

RFC 6455 5.1: "a client MUST mask all frames that it sends to the server"; "The server MUST close
the connection upon receiving a frame that is not masked", and "A client MUST close a connection if
it detects a masked frame". aiohttp's parser (compiled, so it cannot be hooked) unmasks what it is given
and never looks at the mask bit. :class:`MaskCheck` sits between the connection and that parser: it
follows the frame headers in the byte stream (only headers; payload bytes are skipped, not copied),
passes the bytes on unchanged, and at the first frame with the wrong mask bit stops feeding and puts
a 1002 ``WebSocketError`` on aiohttp's message queue, after the messages that came before it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import ClientResponse, ClientWebSocketResponse, WebSocketError, web
from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader
from aiohttp.http_websocket import WebSocketWriter

__all__ = ["MaskCheck", "MaskCheckedClientWebSocketResponse", "MaskCheckedWebSocketResponse"]

#: The longest frame header: 2 bytes, an 8-byte length, a 4-byte mask.
_MAX_HEADER = 14


def _header(buf: bytes | bytearray | memoryview, pos: int) -> tuple[bool, int, int] | None:
    """``(masked, header length, payload length)`` of the frame at ``buf[pos:]``, or None if cut short.

    The caller has checked that two bytes are there.
    """
    second = buf[pos + 1]
    masked = bool(second & 0x80)
    length = second & 0x7F
    size = 2 + (4 if masked else 0)
    if length == 126:
        size += 2
        if len(buf) - pos < size:
            return None
        length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
    elif length == 127:
        size += 8
        if len(buf) - pos < size:
            return None
        length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
    elif len(buf) - pos < size:
        return None
    return masked, size, length


class MaskCheck:
    """A stand-in for aiohttp's ``WebSocketReader`` that enforces the mask bit, then delegates."""

    __slots__ = ("_parser", "_queue", "_masked", "_head", "_skip", "_failed")

    def __init__(self, parser: WebSocketReader, queue: WebSocketDataQueue, *, masked: bool) -> None:
        self._parser = parser
        self._queue = queue
        self._masked = masked  # what every incoming frame must be: True on a server
        self._head = b""  # the start of a frame header cut by the end of the previous chunk
        self._skip = 0  # payload bytes of the current frame still to come
        self._failed = False

    def feed_eof(self) -> None:
        self._parser.feed_eof()

    def feed_data(self, data: bytes | bytearray | memoryview) -> tuple[bool, bytes]:
        # Never reports the end of input, even after the parser's own error (it is on the queue
        # already): aiohttp's client would drop the parser and never tell the channel when the
        # connection ends, which the channel waits for after failing it.
        if self._failed:
            return False, b""
        bad = self._scan(data)
        if bad is None:
            self._parser.feed_data(data)
            return False, b""
        self._failed = True
        if bad > 0:
            result = self._parser.feed_data(data[:bad])
            if result[0]:
                return False, b""  # the parser found an earlier error itself
        who = "server sent a masked" if self._masked is False else "client sent an unmasked"
        self._queue.set_exception(WebSocketError(1002, f"the {who} frame (RFC 6455 5.1)"))
        return False, b""

    def _scan(self, data: bytes | bytearray | memoryview) -> int | None:
        """Follow the frame headers in ``data``; return where the first bad frame starts, if any."""
        end = len(data)
        pos = 0
        skip = self._skip
        if self._head:
            # A header split across reads: join its start with the beginning of this chunk.
            joined = self._head + bytes(data[:_MAX_HEADER])
            if len(joined) >= 2 and bool(joined[1] & 0x80) is not self._masked:
                return 0
            parsed = _header(joined, 0) if len(joined) >= 2 else None
            if parsed is None:
                self._head = joined
                return None
            _, size, skip = parsed
            pos = size - len(self._head)
            self._head = b""
        # The loop below runs once per frame, so _header() is written out in it: this check is
        # per-message work aiohttp alone does not do.
        mask_bit = 0x80 if self._masked else 0
        mask_size = 4 if self._masked else 0
        pos += skip
        while pos < end:
            left = end - pos
            if left < 2:
                break
            second = data[pos + 1]
            if second & 0x80 != mask_bit:
                return pos
            length = second & 0x7F
            if length < 126:
                size = 2 + mask_size
                if left < size:
                    break
            elif length == 126:
                size = 4 + mask_size
                if left < size:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
            else:
                size = 10 + mask_size
                if left < size:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
            pos += size + length
        else:
            self._skip = pos - end  # payload bytes of the last frame still to come
            return None
        # A frame header cut by the end of the chunk: keep its start for the next one.
        self._head = bytes(data[pos:end])
        self._skip = 0
        return None


class MaskCheckedWebSocketResponse(web.WebSocketResponse):
    """A server ``WebSocketResponse`` whose incoming frames go through :class:`MaskCheck`."""

    def _post_start(self, request: web.BaseRequest, protocol: str | None, writer: WebSocketWriter) -> None:
        handler = request.protocol
        # Bytes that arrived with the upgrade request are fed when the parser is set: hold them back
        # and feed them through the check instead.
        tail, handler._message_tail = handler._message_tail, b""
        super()._post_start(request, protocol, writer)
        assert self._parser is not None and self._reader is not None
        check = MaskCheck(self._parser, self._reader, masked=True)
        handler._payload_parser = check
        if tail:
            check.feed_data(tail)


class MaskCheckedClientWebSocketResponse(ClientWebSocketResponse):
    """A ``ClientWebSocketResponse`` whose incoming frames go through :class:`MaskCheck`.

    ``ClientSession.ws_connect`` builds it, then sets the frame parser on the connection: the
    connection's ``set_parser`` is intercepted once to put the check in front.
    """

    def __init__(
        self,
        reader: WebSocketDataQueue,
        writer: WebSocketWriter,
        protocol: str | None,
        response: ClientResponse,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(reader, writer, protocol, response, *args, **kwargs)
        connection = response.connection
        if connection is None or connection.protocol is None:
            return
        handler = connection.protocol
        original = handler.set_parser

        def set_parser(parser: Any, payload: Any, data_received_cb: Callable[[], None] | None = None) -> None:
            delattr(handler, "set_parser")  # back to the class's method
            original(MaskCheck(parser, payload, masked=False), payload, data_received_cb)

        setattr(handler, "set_parser", set_parser)  # noqa: B010 - assigning to a method
