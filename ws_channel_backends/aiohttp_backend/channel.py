"""``AiohttpChannel``: a ``WebSocketChannel`` over an aiohttp WebSocket object (client or server side).

Whoever reads ``stream`` reads aiohttp's parsed-message queue directly, as aiohttp's own ``receive()``
does: one await per message, no task and no second queue in between. What the shared behaviour needs
when nobody reads is done by a short-lived *pump* task, started only when there is something to do:

- an input hook in front of aiohttp's frame parser (:func:`_native.install_input_hook`) looks, after
  every chunk, at the messages it added; a control frame (``PING``, ``PONG``, ``CLOSE``), a parser
  error or the end of the connection starts the pump if nobody is reading;
- the pump takes the buffered messages in order: control frames are handled, data messages move to a
  list of at most ``max_queue`` (reading pauses when it is full, and aiohttp then stops reading the
  socket); it ends once the control frames are handled, so an idle connection has no task at all;
- while closing (after ``close()`` or a close frame) reading never pauses: the peer's close frame
  must be seen. Messages that arrive before it are still delivered; beyond ``max_queue`` unread ones
  are dropped (counted in a debug log), so memory stays bounded when nobody reads;
- once the input has ended (the peer's close frame, a failure) what still arrives is discarded until
  the TCP connection closes (``close_timeout`` bounds the wait: then the connection is aborted); then
  everything is released and ``done`` completes, whether or not anyone reads. ``stream`` ends only then,
  so the close bookkeeping is final when it does.

Control frames: ``PING`` is answered with a ``PONG`` carrying the same payload, one at a time (a peer
that floods pings while never reading stalls on our write buffer, and reading pauses); ``PONG``
acknowledges keepalive pings and ``ping()`` (the core's ping bookkeeping); ``CLOSE`` is checked
(RFC 6455 7.4: codes that may not appear on the wire fail with 1002, which aiohttp does not check
for 1006), recorded and echoed with the same code and reason; a parser error (aiohttp's
``WebSocketError``) fails the connection with its code (1002, 1007, 1009) and is recorded as
``ProtocolError`` / ``PayloadTooBig``.

aiohttp's own ``WSMsgType.CLOSING``, ``CLOSED`` and ``ERROR`` are library states, not frames: they only
appear if aiohttp's ``close()`` or heartbeat acted on the socket, and end the channel.

Messages in pieces: ``add_fragments`` writes a first frame and continuation frames, uncompressed
(aiohttp's writer compresses only whole messages). aiohttp's parser delivers whole messages only, so
``receive_fragments`` yields each message as one chunk: memory is bounded by ``max_size`` there.
``buffered_amount`` is the transport's write buffer (aiohttp keeps no queue of its own).
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import NoReturn

import anyio
from aiohttp import ClientSession, ClientWebSocketResponse, WebSocketError, WSMessage, WSMsgType, web
from aiohttp.http_websocket import WSMessageTextBytes

from ws_channel_core.base import ChannelBase, PendingPing
from ws_channel_core.channel import Message
from ws_channel_core.errors import (
    CloseFrame,
    KeepaliveTimeout,
    PayloadTooBig,
    ProtocolError,
    WebSocketChannelError,
)
from ws_channel_core.http import Request, Response
from ws_channel_core.status import is_valid_on_wire

from . import _http, _native
from ._native import NativeWebSocket

__all__ = ["AiohttpChannel"]

logger = logging.getLogger("ws_channel.aiohttp")

_CLOSE_CODE = struct.Struct("!H")
_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_CLOSE = WSMsgType.CLOSE


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


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

    # Slots keep the per-connection state out of the instance dict: with this many attributes the
    # dict alone would cost about 1.5 KiB per connection.
    __slots__ = (
        "_ws", "_writer", "_is_client", "_queue", "_buffer", "_transport", "_max_size",
        "_session", "native_request", "_loop", "_max_queue", "_pending", "_pump", "_receiving", "_controls",
        "_input_ended", "_stop_reading", "_finished", "_keepalive_ping", "_abort_handle", "_lost",
        "_lost_waiter",
        "_dropped", "_close_task", "_keepalive_task", "_keepalive_handle", "_ping_interval", "_ping_timeout",
    )

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
        request: Request | None = None,
        response: Response | None = None,
        native_request: web.BaseRequest | None = None,
    ) -> None:
        is_client = isinstance(ws, ClientWebSocketResponse)
        transport = _native.transport(ws)
        if isinstance(ws, ClientWebSocketResponse):
            protocol = ws.protocol
        else:
            protocol = ws.ws_protocol
        super().__init__(
            protocol=protocol,
            server_side=not is_client,
            request=request,
            response=response,
            remote_address=transport.get_extra_info("peername"),
            local_address=transport.get_extra_info("sockname"),
            close_timeout=close_timeout,
        )
        self._ws = ws
        self._is_client = is_client
        self._queue = _native.message_queue(ws)
        self._buffer = _native.buffered(self._queue)
        self._transport = transport
        self._writer = _native.frame_writer(ws)
        # aiohttp enforces the limit exactly on raw frames; a compressed message may inflate one byte
        # past it (see options.aiohttp_max_size), so the channel checks those itself.
        self._max_size = max_size if ws.compress else None
        self._session = session
        #: aiohttp's own request on a server channel (``None`` on the client side): an escape hatch
        #: for what the core ``request`` does not carry (the transport, aiohttp's ``app``...).
        self.native_request = native_request
        if native_request is None and isinstance(ws, web.WebSocketResponse):
            self.native_request = _native.server_request(ws)  # a wrapped server socket
        self._loop = asyncio.get_running_loop()
        # Reading state (see the module docstring).
        self._max_queue = max_queue
        self._pending: list[Message] = []  # data messages the pump took while nobody was reading
        self._pump: asyncio.Task[None] | None = None
        self._receiving = False  # a task is inside _receive_message: it handles everything
        self._controls = 0  # control frames (and errors) parsed and not handled yet
        self._input_ended = False  # no more messages are delivered (peer's close frame, failure)
        self._stop_reading = False  # aiohttp itself closed the socket: release the connection now
        self._finished = False
        self._lost = False  # the TCP connection is gone (aiohttp's parser saw the end)
        self._lost_waiter: asyncio.Future[None] | None = None
        self._dropped = 0  # messages dropped while closing because nobody read them
        self._close_task: asyncio.Task[None] | None = None
        self._keepalive_ping: PendingPing | None = None
        self._abort_handle: asyncio.TimerHandle | None = None
        # Keepalive runs on timers; a task exists only while a ping is written.
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._keepalive_task: asyncio.Task[None] | None = None
        self._keepalive_handle: asyncio.TimerHandle | None = None
        if ping_interval is not None:
            self._keepalive_handle = self._loop.call_later(ping_interval, self._keepalive_due)
        if not _native.install_input_hook(ws, self._on_input, self._on_lost):
            self._lost = self._input_ended = True  # already ended: read what is left, then finish
            self._start_pump()
        else:
            self._on_input(0)  # a wrapped socket may hold messages already

    # The request and the 101 are made from aiohttp's objects on first use (the handshake's own
    # copies are not kept): idle connections stay within a few percent of plain aiohttp.

    @property
    def request(self) -> Request | None:
        request = self._request
        if request is None:
            ws = self._ws
            if isinstance(ws, ClientWebSocketResponse):
                request = _http.client_request(_native.client_response(ws))
            elif self.native_request is not None:
                with suppress(ValueError):  # a header no backend accepts: refused at the handshake
                    request = _http.core_request(self.native_request, self.remote_address)
            self._request = request
        return request

    @property
    def response(self) -> Response | None:
        response = self._response
        if response is None:
            ws = self._ws
            if isinstance(ws, ClientWebSocketResponse):
                response = _http.client_response(_native.client_response(ws))
            else:
                response = _http.sent_response(ws)
            self._response = response
        return response

    @property
    def native(self) -> NativeWebSocket:
        """The aiohttp WebSocket object underneath (for information; do not receive from it)."""
        return self._ws

    # -- ChannelBase primitives ---------------------------------------------------------------

    async def _receive_message(self) -> Message | None:
        # The core's stream guarantees one reader at a time; ``_receiving`` tells the input hook that
        # this reader handles control frames itself.
        self._receiving = True
        try:
            while True:
                if self._pending:
                    return self._pending.pop(0)
                if self._pump is not None:  # it is handling a control frame: let it finish
                    await asyncio.wait((self._pump,))
                    continue
                if self._finished:
                    return None
                if self._input_ended or self._stop_reading:
                    await self._drain_input()
                    continue
                try:
                    msg = await self._queue.read()
                except Exception as exc:  # EofStream, WebSocketError, a lost connection
                    self._input_failed(exc)
                    continue
                kind = msg.type
                if kind is _TEXT or kind is _BINARY:
                    if self._input_ended:
                        continue  # after a failure nothing more is delivered
                    data = msg.data
                    if self._max_size is None and (
                        (type(data) is str and kind is _TEXT) or (type(data) is bytes and kind is _BINARY)
                    ):
                        return data
                    message = self._convert(kind, data)
                    if message is not None:
                        return message
                else:
                    await self._control(msg)
        finally:
            self._receiving = False
            if self._pump is None and not self._finished and (
                self._controls or self._closing or self._input_ended or self._queue.is_eof()
            ):
                self._start_pump()

    async def _send_message(self, message: Message) -> None:
        try:
            if isinstance(message, str):
                await self._writer.send_frame(message.encode("utf-8"), _TEXT)
            else:
                await self._writer.send_frame(message, _BINARY)
        except (ConnectionError, OSError, RuntimeError) as exc:
            self._raise_closed(exc)

    def _send_message_nowait(self, message: Message) -> bool:
        writer = self._writer
        transport = self._transport
        if transport.is_closing():
            raise self._closed_error()
        if transport.get_write_buffer_size() > _native.write_limit(writer):
            return False
        if _native.send_in_progress(writer):
            return False  # a compressed message is still being written: this one must not overtake it
        try:
            if isinstance(message, str):
                _native.write_message_now(writer, message.encode("utf-8"), _TEXT)
            else:
                _native.write_message_now(writer, message, _BINARY)
        except (ConnectionError, OSError, RuntimeError) as exc:
            self._raise_closed(exc)
        return True

    def _buffered_amount(self) -> int:
        return self._transport.get_write_buffer_size()

    async def _send_fragments(self, chunks: AsyncIterator[Message]) -> None:
        writer = self._writer
        await _native.wait_for_send(writer)  # a compressed message still on its way goes first
        opcode: int = _TEXT
        previous = await anext(chunks)
        if not isinstance(previous, str):
            opcode = _BINARY
        try:
            async for chunk in chunks:
                self._write_fragment(previous, opcode, False)
                opcode = 0  # continuation
                await _native.drain(writer)
                previous = chunk
            self._write_fragment(previous, opcode, True)
            await _native.drain(writer)
        except (ConnectionError, OSError, RuntimeError) as exc:
            self._raise_closed(exc)

    def _write_fragment(self, chunk: Message, opcode: int, fin: bool) -> None:
        if self._closing and self._close_sent is not None:
            raise self._closed_error()
        data = chunk.encode("utf-8") if isinstance(chunk, str) else chunk
        _native.write_fragment(self._writer, data, opcode, fin)

    async def _ping(self, payload: bytes) -> float:
        pending = self._track_ping(payload)
        try:
            await self._writer.send_frame(payload, WSMsgType.PING)
        except (ConnectionError, OSError, RuntimeError) as exc:
            self._raise_closed(exc)
        return await self._await_pong(pending)

    def _raise_closed(self, exc: Exception) -> NoReturn:
        """Raise ``ConnectionClosed`` for a send that failed with ``exc``.

        aiohttp raises ClientConnectionResetError / ConnectionResetError once the transport is closing
        or gone; the cause recorded on the receiving side (if any) wins.
        """
        error = self._closed_error()
        if error.__cause__ is None:
            raise error from exc
        raise error from error.__cause__

    def _start_close(self, code: int | None, reason: str) -> None:
        # The close frame goes out now; reading goes on (messages sent before the peer's close frame
        # are still delivered) until the peer answers or close_timeout passes.
        self._send_close(code, reason)
        self._arm_abort()
        self._ensure_reader()

    def _abort_connection(self) -> None:
        self._transport.abort()

    # -- reading without a reader: the input hook and the pump -----------------------------------

    def _on_input(self, before: int) -> None:
        """Called by the input hook after each parsed chunk: start the pump if something needs it."""
        buffer = self._buffer
        added = len(buffer) - before
        for index in range(-added, 0):
            kind = buffer[index][0].type
            if kind is not _TEXT and kind is not _BINARY:
                self._controls += 1
        if self._receiving or self._pump is not None or self._finished:
            return
        if self._controls or self._closing or self._queue.is_eof():
            self._start_pump()

    def _on_lost(self) -> None:
        """Called by the input hook when the TCP connection has ended."""
        self._lost = True
        _wake(self._lost_waiter)
        self._on_input(len(self._buffer))

    def _ensure_reader(self) -> None:
        """Make sure someone reads until the connection ends (after the input ended)."""
        if not self._receiving and self._pump is None and not self._finished:
            self._start_pump()

    def _start_pump(self) -> None:
        self._pump = self._loop.create_task(self._run_pump())

    async def _run_pump(self) -> None:
        try:
            await self._pump_messages()
        except Exception as exc:  # a bug here must not leave the channel open forever
            logger.exception("aiohttp backend: unexpected error while reading")
            error = WebSocketChannelError("internal error in the aiohttp backend")
            error.__cause__ = exc
            self._note_error(error)
            self._abort_connection()
            await self._finish()
        finally:
            self._pump = None

    async def _pump_messages(self) -> None:
        queue = self._queue
        pending = self._pending
        while not self._finished:
            if self._input_ended or self._stop_reading:
                await self._drain_input()
                return
            lost = self._lost
            if self._closing or lost:
                # Reading never pauses while closing, nor once the connection is gone (what is left
                # is in memory already); a reader that came along reads on itself.
                if self._receiving and not self._controls:
                    return
            elif len(pending) >= self._max_queue or not (self._controls or queue.is_eof()):
                return  # nothing needs handling now, or the reader must catch up first
            try:
                msg = await queue.read()
            except Exception as exc:  # EofStream, WebSocketError, a lost connection
                self._input_failed(exc)
                continue
            kind = msg.type
            if kind is _TEXT or kind is _BINARY:
                if self._input_ended:
                    continue
                message = self._convert(kind, msg.data)
                if message is None:
                    continue
                if len(pending) < self._max_queue or lost or not self._closing:
                    pending.append(message)
                else:
                    self._dropped += 1  # closing and nobody reads: keep memory bounded
            else:
                await self._control(msg)

    async def _drain_input(self) -> None:
        """The input has ended: discard what still arrives until the connection is gone, then finish.

        A server that failed the connection thereby keeps reading what a still-sending peer sends, so
        the peer sees our close frame rather than a reset; ``close_timeout`` bounds the wait.
        """
        queue = self._queue
        if not self._lost:
            self._arm_abort()
        while not self._stop_reading and not self._lost:
            try:
                msg = await queue.read()
            except Exception:  # the end, or a parser error: wait for the connection to go
                break
            kind = msg.type
            if kind is not _TEXT and kind is not _BINARY:
                await self._control(msg)
        if not self._stop_reading and not self._lost:
            waiter = self._lost_waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._lost_waiter = None
        await self._finish()

    def _input_failed(self, exc: Exception) -> None:
        """The queue raised: a parser error fails the connection; either way the input is over."""
        if isinstance(exc, WebSocketError):
            error = PayloadTooBig(str(exc)) if exc.code == 1009 else ProtocolError(str(exc), exc.code)
            if self._controls:
                self._controls -= 1
            self._fail(exc.code, error, exc)
        self._input_ended = True

    # -- messages --------------------------------------------------------------------------------

    def _convert(self, kind: WSMsgType, data: object) -> Message | None:
        """The message to deliver for aiohttp's ``data``, or None when it failed the connection."""
        message: Message
        if kind is _TEXT and not isinstance(data, str):
            # A wrapped socket created with decode_text=False hands over raw bytes.
            try:
                message = bytes(data).decode("utf-8")  # type: ignore[call-overload]
            except UnicodeDecodeError as exc:
                self._fail(1007, ProtocolError("invalid UTF-8 in a text message", 1007), exc)
                return None
        elif isinstance(data, str):
            message = data
        else:
            message = bytes(data)  # type: ignore[call-overload]
        limit = self._max_size
        if limit is not None and (
            _utf8_size_over(message, limit) if isinstance(message, str) else len(message) > limit
        ):
            self._fail(1009, PayloadTooBig(f"message exceeds max_size of {limit} bytes"), None)
            return None
        return message

    async def _control(self, msg: WSMessage | WSMessageTextBytes) -> None:
        """Handle a message that is not data: a control frame, or one of aiohttp's own states."""
        if self._controls:
            self._controls -= 1
        kind = msg.type
        if kind is WSMsgType.PING:
            await self._answer_ping(bytes(msg.data))
        elif kind is WSMsgType.PONG:
            self._on_pong(bytes(msg.data))
        elif kind is _CLOSE:
            self._on_close_frame(int(msg.data), msg.extra or "")
        else:  # CLOSING, CLOSED, ERROR: aiohttp itself closed or failed the socket
            self._input_ended = self._stop_reading = True

    async def _answer_ping(self, payload: bytes) -> None:
        # RFC 6455 5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in
        # response, unless it already received a Close frame." One pong at a time: while it waits
        # for buffer space nothing more is read, so a ping flood cannot queue pongs without bound.
        if self._close_sent is not None or self._close_received is not None or self._input_ended:
            return
        if self._transport.is_closing():
            return
        with suppress(ConnectionError, OSError, RuntimeError):
            await self._writer.send_frame(payload, WSMsgType.PONG)

    def _on_pong(self, payload: bytes) -> None:
        """A pong acknowledges the ping with its payload and every earlier one (unsolicited: ignored)."""
        if self._acknowledge_pong(payload):
            pending = self._keepalive_ping
            if pending is not None and pending.latency is not None:
                self._keepalive_ping = None
                self._keepalive_answered()

    def _on_close_frame(self, code: int, reason: str) -> None:
        """Handle the peer's close frame: record it, answer it; then wait for the TCP connection to end."""
        if self._input_ended:
            # After a failure nothing received counts; a peer's answer completes the handshake.
            if not self._is_client:
                self._transport.close()
            return
        frame = CloseFrame(code or 1005, reason)  # 1005: no status code (RFC 6455 7.1.5)
        if code != 0 and not is_valid_on_wire(code):
            # RFC 6455 7.4: 1004-1006, 1015 and unassigned codes may not be sent (Autobahn 7.9.*).
            self._fail(1002, ProtocolError(f"invalid close code {code} in a close frame"), None)
            return
        self._note_close_received(frame)
        self._input_ended = True
        # RFC 6455 5.5.1: the endpoint "MUST send a Close frame in response"; we echo the peer's.
        self._send_close(None if code == 0 else code, reason)
        if not self._is_client:
            # RFC 6455 7.1.1: the server should close the TCP connection first.
            self._transport.close()
        self._arm_abort()

    def _send_close(self, code: int | None, reason: str) -> None:
        """Write our close frame now (once) and record it; never blocks."""
        if self._close_sent is not None or self._close_task is not None or self._transport.is_closing():
            return
        payload = b"" if code is None else _CLOSE_CODE.pack(code) + reason.encode("utf-8")
        frame = CloseFrame(1005 if code is None else code, reason)
        if _native.send_in_progress(self._writer):
            # A compressed message is half-way out: the close frame must not overtake it.
            self._close_task = self._loop.create_task(self._send_close_after_message(payload, frame))
            return
        self._write_close(payload, frame)

    def _write_close(self, payload: bytes, frame: CloseFrame) -> None:
        try:
            _native.write_control_frame(self._writer, payload, _CLOSE)
        except (ConnectionError, OSError, RuntimeError):
            self._transport.abort()
            return
        self._note_close_sent(frame)

    async def _send_close_after_message(self, payload: bytes, frame: CloseFrame) -> None:
        with suppress(Exception):
            await _native.wait_for_send(self._writer)
        if not self._transport.is_closing():
            self._write_close(payload, frame)

    def _fail(self, code: int, error: WebSocketChannelError, cause: BaseException | None) -> None:
        """Fail the connection (RFC 6455 7.1.7): record why, send a close frame, stop delivering.

        The connection then ends when the peer closes it, or after ``close_timeout``. A server also
        shuts its sending side (a FIN after the close frame) and keeps reading, so a peer that is
        still sending sees the close frame, not a reset.
        """
        if cause is not None:
            error.__cause__ = cause
        self._note_error(error)
        self._input_ended = True
        self._send_close(code, "")
        transport = self._transport
        if not self._is_client and not transport.is_closing() and self._close_task is None:
            with suppress(Exception):
                if transport.can_write_eof():
                    transport.write_eof()
        self._arm_abort()
        self._ensure_reader()

    def _arm_abort(self) -> None:
        """Abort the connection if it is still open after ``close_timeout``."""
        if self._abort_handle is None and self._close_timeout is not None and not self._finished:
            self._abort_handle = self._loop.call_later(self._close_timeout, self._transport.abort)

    # -- keepalive: a timer per interval, no task in between -------------------------------------

    def _keepalive_due(self) -> None:
        """The interval elapsed: send a ping, then wait for its pong (or the next interval)."""
        self._keepalive_handle = None
        if self._finished or self._closing:
            return
        if self._transport.is_closing():
            return
        if self._keepalive_task is not None:  # the last ping is still being written: skip this one
            self._schedule_keepalive()
            return
        payload = os.urandom(4)
        while self._pings and payload in self._pings:
            payload = os.urandom(4)
        pending = self._keepalive_ping = self._track_ping(payload, keepalive=True)
        # The frame writer is a coroutine (it waits when the write buffer is full): one short task.
        self._keepalive_task = self._loop.create_task(self._send_ping(payload))
        if self._ping_timeout is None:
            self._schedule_keepalive()
        else:
            self._keepalive_handle = self._loop.call_later(
                self._ping_timeout, self._keepalive_expired, pending
            )

    def _schedule_keepalive(self) -> None:
        if self._ping_interval is not None and not self._finished:
            self._keepalive_handle = self._loop.call_later(self._ping_interval, self._keepalive_due)

    async def _send_ping(self, payload: bytes) -> None:
        try:
            await self._writer.send_frame(payload, WSMsgType.PING)
        except (ConnectionError, OSError, RuntimeError):
            # The connection is going away; reading notices it. No more keepalive pings.
            if self._keepalive_handle is not None:
                self._keepalive_handle.cancel()
                self._keepalive_handle = None
        finally:
            if self._keepalive_task is asyncio.current_task():
                self._keepalive_task = None

    def _keepalive_answered(self) -> None:
        if self._ping_timeout is None or self._keepalive_handle is None or self._finished:
            return  # the next ping is scheduled already, or the timeout already acted
        self._keepalive_handle.cancel()
        self._schedule_keepalive()

    def _keepalive_expired(self, pending: PendingPing) -> None:
        self._keepalive_handle = None
        if pending.latency is not None or self._finished or self._closing:
            return
        self._fail(1011, KeepaliveTimeout(f"no pong within {self._ping_timeout} s of a keepalive ping"), None)

    async def _finish(self) -> None:
        """Release everything and mark the channel closed; runs once, when reading is over."""
        if self._finished:
            return
        self._finished = self._input_ended = True
        if self._abort_handle is not None:
            self._abort_handle.cancel()
        if self._keepalive_handle is not None:
            self._keepalive_handle.cancel()
            self._keepalive_handle = None
        for task in (self._keepalive_task, self._close_task):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        if self._dropped:
            logger.debug(
                "dropped %d messages that arrived while closing and were never read", self._dropped
            )
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
