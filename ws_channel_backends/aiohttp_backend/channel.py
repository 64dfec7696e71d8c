"""``AiohttpChannel``: a ``WebSocketChannel`` over an aiohttp WebSocket object (client or server side).

One receive task per connection reads aiohttp's parsed messages and does what the shared behaviour
needs, whether or not anyone reads ``stream``:

- ``TEXT`` / ``BINARY`` go to a bounded queue of ``max_queue`` messages (reading pauses when it is full,
  and aiohttp then stops reading the socket);
- ``PING`` is answered with a ``PONG`` carrying the same payload; ``PONG`` completes keepalive pings;
- ``CLOSE`` is checked (RFC 6455 7.4: codes that may not appear on the wire fail with 1002, which
  aiohttp does not check for 1006), recorded and echoed with the same code and reason;
- a parser error (aiohttp's ``WebSocketError``) fails the connection with its code (1002, 1007, 1009)
  and is recorded as ``ProtocolError`` / ``PayloadTooBig``.

aiohttp's own ``WSMsgType.CLOSING``, ``CLOSED`` and ``ERROR`` are library states, not frames: they only
appear if aiohttp's ``close()`` or heartbeat acted on the socket, and end the channel.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from collections import deque
from contextlib import suppress

import anyio
from aiohttp import ClientSession, ClientWebSocketResponse, EofStream, WebSocketError, WSMsgType, web

from ws_channel_core.base import ChannelBase
from ws_channel_core.channel import Message
from ws_channel_core.errors import (
    CloseFrame,
    KeepaliveTimeout,
    PayloadTooBig,
    ProtocolError,
    WebSocketChannelError,
)
from ws_channel_core.status import is_valid_on_wire

from . import _native
from ._native import NativeWebSocket

__all__ = ["AiohttpChannel"]

logger = logging.getLogger("ws_channel.aiohttp")

_CLOSE_CODE = struct.Struct("!H")
#: How long to wait for the receive task to notice an aborted connection.
_ABORT_GRACE = 1.0


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class _MessageQueue:
    """Incoming messages waiting for the stream's consumer: bounded, single producer, single consumer."""

    __slots__ = ("_items", "_limit", "_ended", "_getter", "_putter")

    def __init__(self, limit: int) -> None:
        self._items: deque[Message] = deque()
        self._limit = limit
        self._ended = False
        self._getter: asyncio.Future[None] | None = None
        self._putter: asyncio.Future[None] | None = None

    async def put(self, item: Message) -> None:
        """Append ``item``, waiting while the queue is full; dropped once the queue has ended."""
        while len(self._items) >= self._limit and not self._ended:
            self._putter = asyncio.get_running_loop().create_future()
            try:
                await self._putter
            finally:
                self._putter = None
        if not self._ended:
            self._items.append(item)
            _wake(self._getter)

    async def get(self) -> Message | None:
        """The next message, or ``None`` once the queue has ended and is empty."""
        while not self._items:
            if self._ended:
                return None
            self._getter = asyncio.get_running_loop().create_future()
            try:
                await self._getter
            finally:
                self._getter = None
        item = self._items.popleft()
        _wake(self._putter)
        return item

    def end(self, *, discard: bool) -> None:
        """No more messages will come; ``discard`` also drops those not read yet."""
        self._ended = True
        if discard:
            self._items.clear()
        _wake(self._getter)
        _wake(self._putter)


def _utf8_size_over(text: str, limit: int) -> bool:
    if len(text) > limit:
        return True
    if 4 * len(text) <= limit:
        return False
    return len(text.encode("utf-8")) > limit


class AiohttpChannel(ChannelBase):
    """A channel over ``aiohttp.ClientWebSocketResponse`` or ``aiohttp.web.WebSocketResponse``.

    Made by the backend's ``connect()`` and ``serve()``, and by :func:`wrap` for sockets an aiohttp
    application opened itself. Nobody else may receive from the aiohttp object once it is wrapped.
    """

    def __init__(
        self,
        ws: NativeWebSocket,
        *,
        close_timeout: float | None,
        max_queue: int,
        max_size: int | None = None,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        session: ClientSession | None = None,
        request: web.BaseRequest | None = None,
    ) -> None:
        if isinstance(ws, ClientWebSocketResponse):
            protocol = ws.protocol
            compressed = bool(ws.compress)
        else:
            protocol = ws.ws_protocol
            compressed = bool(ws.compress)
        super().__init__(protocol=protocol)
        self._ws = ws
        self._is_client = isinstance(ws, ClientWebSocketResponse)
        self._incoming = _native.message_queue(ws)
        self._transport = _native.transport(ws)
        self._messages = _MessageQueue(max_queue)
        self._close_timeout = close_timeout
        # aiohttp enforces the limit exactly on raw frames; a compressed message may inflate one byte
        # past it (see backend._aiohttp_max_size), so the channel checks those itself.
        self._max_size = max_size if compressed else None
        self._session = session
        #: The HTTP request that opened a server-side connection (``None`` on the client side).
        self.request = request
        self._loop = asyncio.get_running_loop()
        self._pings: dict[bytes, asyncio.Future[None]] = {}
        self._abort_handle: asyncio.TimerHandle | None = None
        self._keepalive_task: asyncio.Task[None] | None = None
        if ping_interval is not None:
            self._keepalive_task = self._loop.create_task(self._keepalive(ping_interval, ping_timeout))
        self._reader_task = self._loop.create_task(self._read_loop())

    @property
    def native(self) -> NativeWebSocket:
        """The aiohttp WebSocket object underneath (for information; do not receive from it)."""
        return self._ws

    # -- ChannelBase primitives ---------------------------------------------------------------

    async def _receive_message(self) -> Message | None:
        return await self._messages.get()

    async def _send_message(self, message: Message) -> None:
        try:
            if isinstance(message, str):
                await self._ws.send_str(message)
            else:
                await self._ws.send_bytes(message)
        except (ConnectionError, OSError, RuntimeError) as exc:
            # aiohttp raises ClientConnectionResetError / ConnectionResetError once the transport is
            # closing or gone; the cause recorded by the receive task (if any) wins.
            error = self._closed_error()
            if error.__cause__ is None:
                raise error from exc
            raise error from error.__cause__

    async def _close_connection(self, code: int | None, reason: str) -> None:
        # Our close: nothing more is delivered, even messages already queued.
        self._messages.end(discard=True)
        try:
            with anyio.fail_after(self._close_timeout):
                await self._send_close(code, reason)
                await self._done_event.wait()
        except TimeoutError:
            self._abort_connection()
            with anyio.move_on_after(_ABORT_GRACE):
                await self._done_event.wait()

    def _abort_connection(self) -> None:
        self._transport.abort()

    # -- the receive task ---------------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            await self._read_frames()
        except Exception as exc:  # a bug here must not leave the channel open forever
            logger.exception("aiohttp backend: unexpected error in the receive task")
            error = WebSocketChannelError("internal error in the aiohttp backend")
            error.__cause__ = exc
            self._note_error(error)
        finally:
            await self._finish()

    async def _read_frames(self) -> None:
        while True:
            try:
                msg = await self._incoming.read()
            except EofStream:
                return
            except WebSocketError as exc:
                error = PayloadTooBig(str(exc)) if exc.code == 1009 else ProtocolError(str(exc), exc.code)
                await self._fail(exc.code, error, exc)
                return
            except Exception:  # the connection was lost (reset, payload error, cancelled response)
                return
            kind = msg.type
            if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
                if not await self._deliver(kind, msg.data):
                    return
            elif kind is WSMsgType.PING:
                await self._answer_ping(bytes(msg.data))
            elif kind is WSMsgType.PONG:
                self._acknowledge(bytes(msg.data))
            elif kind is WSMsgType.CLOSE:
                if not await self._on_close_frame(int(msg.data), msg.extra or ""):
                    return
            else:  # CLOSING, CLOSED, ERROR: aiohttp itself closed or failed the socket
                return

    async def _deliver(self, kind: WSMsgType, data: object) -> bool:
        message: Message
        if kind is WSMsgType.TEXT and not isinstance(data, str):
            # A wrapped socket created with decode_text=False hands over raw bytes.
            try:
                message = bytes(data).decode("utf-8")  # type: ignore[call-overload]
            except UnicodeDecodeError as exc:
                await self._fail(1007, ProtocolError("invalid UTF-8 in a text message", 1007), exc)
                return False
        elif isinstance(data, str):
            message = data
        else:
            message = bytes(data)  # type: ignore[call-overload]
        limit = self._max_size
        if limit is not None and (
            _utf8_size_over(message, limit) if isinstance(message, str) else len(message) > limit
        ):
            await self._fail(1009, PayloadTooBig(f"message exceeds max_size of {limit} bytes"), None)
            return False
        await self._messages.put(message)
        return True

    async def _answer_ping(self, payload: bytes) -> None:
        # RFC 6455 5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in
        # response, unless it already received a Close frame."
        if self._close_sent is not None or self._close_received is not None:
            return
        if self._transport.is_closing():
            return
        with suppress(ConnectionError, OSError, RuntimeError):
            await self._ws.pong(payload)

    def _acknowledge(self, payload: bytes) -> None:
        """A pong acknowledges the ping with its payload and every earlier one."""
        if payload not in self._pings:
            return  # unsolicited pong (RFC 6455 5.5.3): ignored
        for key in list(self._pings):
            _wake(self._pings.pop(key))
            if key == payload:
                break

    async def _on_close_frame(self, code: int, reason: str) -> bool:
        """Handle the peer's close frame; return whether to keep reading (until the TCP close)."""
        if code == 0:
            frame = CloseFrame(1005, "")  # no status code (RFC 6455 7.1.5)
        elif not is_valid_on_wire(code):
            # RFC 6455 7.4: 1004-1006, 1015 and unassigned codes may not be sent (Autobahn 7.9.*).
            await self._fail(1002, ProtocolError(f"invalid close code {code} in a close frame"), None)
            return False
        else:
            frame = CloseFrame(code, reason)
        self._note_close_received(frame)
        self._messages.end(discard=False)
        # RFC 6455 5.5.1: the endpoint "MUST send a Close frame in response"; we echo the peer's.
        await self._send_close(None if code == 0 else code, reason)
        if not self._is_client:
            # RFC 6455 7.1.1: the server should close the TCP connection first.
            self._transport.close()
        self._arm_abort()
        return True

    async def _send_close(self, code: int | None, reason: str) -> None:
        if self._close_sent is not None or self._transport.is_closing():
            return
        payload = b"" if code is None else _CLOSE_CODE.pack(code) + reason.encode("utf-8")
        self._note_close_sent(CloseFrame(1005 if code is None else code, reason))
        try:
            await self._ws.send_frame(payload, WSMsgType.CLOSE)
        except (ConnectionError, OSError, RuntimeError):
            self._transport.abort()

    async def _fail(
        self, code: int, error: WebSocketChannelError, cause: BaseException | None
    ) -> None:
        """Fail the connection (RFC 6455 7.1.7): record why, send a close frame, close TCP."""
        if cause is not None:
            error.__cause__ = cause
        self._note_error(error)
        self._messages.end(discard=False)
        await self._send_close(code, "")
        self._transport.close()
        self._arm_abort()

    def _arm_abort(self) -> None:
        """Abort the connection if it is still open after ``close_timeout``."""
        if self._abort_handle is None and self._close_timeout is not None:
            self._abort_handle = self._loop.call_later(self._close_timeout, self._transport.abort)

    async def _keepalive(self, interval: float, pong_timeout: float | None) -> None:
        while True:
            await asyncio.sleep(interval)
            if self._close_started or self._close_sent or self._close_received:
                return
            if self._transport.is_closing():
                return
            payload = os.urandom(4)
            while payload in self._pings:
                payload = os.urandom(4)
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._pings[payload] = waiter
            try:
                await self._ws.ping(payload)
            except (ConnectionError, OSError, RuntimeError):
                return
            if pong_timeout is None:
                continue
            try:
                with anyio.fail_after(pong_timeout):
                    await waiter
            except TimeoutError:
                error = KeepaliveTimeout(f"no pong within {pong_timeout} s of a keepalive ping")
                await self._fail(1011, error, None)
                return

    async def _finish(self) -> None:
        """Release everything and mark the channel closed; runs once, at the end of the receive task."""
        if self._abort_handle is not None:
            self._abort_handle.cancel()
        self._messages.end(discard=False)
        keepalive = self._keepalive_task
        if keepalive is not None and keepalive is not asyncio.current_task():
            keepalive.cancel()
            with suppress(asyncio.CancelledError):
                await keepalive
        for waiter in self._pings.values():
            waiter.cancel()
        self._pings.clear()
        native_error = self._ws.exception()
        if isinstance(native_error, TimeoutError):  # aiohttp's own heartbeat, on a wrapped socket
            error = KeepaliveTimeout(f"aiohttp heartbeat: {native_error}")
            error.__cause__ = native_error
            self._note_error(error)
        _native.mark_closed(self._ws)
        _native.release(self._ws)
        if self._session is not None:
            with anyio.CancelScope(shield=True):
                await self._session.close()
        self._record_close()
