"""``WebsocketsChannel``: a ws-channel channel over a websockets asyncio connection, and ``wrap()``.

The websockets connection does the protocol work (framing, pings, the closing handshake); this module
adds the shared policies of :class:`~ws_channel_core.base.ChannelBase`. :class:`ConnectionChannel`
holds what the asyncio and trio flavours share: close bookkeeping read from websockets' protocol,
the handshake metadata (converted on first use: an idle connection keeps websockets' objects only),
receiving, sending and the start of the closing handshake.

The protocol's ``on_closing`` hook (see ``_fixes``) tells the channel as soon as a close frame is sent
or received or the connection fails: the frames are recorded at once and the end of the connection is
bounded by ``close_timeout`` from then on, whatever the peer does. On asyncio a done callback on
``connection_lost_waiter`` records the end of the TCP connection, so ``done`` completes even when
nobody reads; a callback costs far less per idle connection than a watcher task.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, cast

from websockets import exceptions as ws_exc
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import ServerConnection
from websockets.frames import Close, CloseCode
from websockets.protocol import CLOSED, OPEN

from ws_channel_core import logs
from ws_channel_core.base import ChannelBase
from ws_channel_core.channel import Message
from ws_channel_core.errors import CloseFrame, KeepaliveTimeout
from ws_channel_core.http import Address, Request, Response

from ._errors import close_cause
from ._fixes import AssemblerFixes, fix_connection_class, start_draining
from ._http import core_request, core_response

__all__ = ["ConnectionChannel", "WebsocketsChannel", "wrap"]

# websockets fails the connection with exactly this frame when a keepalive pong is late.
_KEEPALIVE_CLOSE = Close(1011, "keepalive ping timeout")


def _frame(close: Close) -> CloseFrame:
    return CloseFrame(int(close.code), close.reason)


class ConnectionChannel(ChannelBase):
    """What the asyncio and trio channels over a websockets connection share.

    A subclass implements :meth:`_flush` (write what the protocol queued), :meth:`_arm_close_timer`,
    :meth:`_wait_gone` and :meth:`_abort_connection`, and calls :meth:`_attach` at the end of
    ``__init__``.
    """

    __slots__ = ("_connection", "_close_requested")

    _connection: Any

    def __init__(self, connection: Any, server_side: bool) -> None:
        super().__init__(
            protocol=connection.subprotocol,
            server_side=server_side,
            close_timeout=connection.close_timeout,
        )
        self._connection = connection
        self._close_requested: CloseFrame | None = None

    def _attach(self) -> None:
        """Listen to the protocol's closing events; catch up on any that happened already."""
        protocol = self._connection.protocol
        if hasattr(type(protocol), "on_closing"):
            protocol.on_closing = self._on_closing
        if protocol.state is not OPEN:
            self._on_closing()

    @property
    def connection(self) -> Any:
        """The websockets connection underneath (like Dart's ``IOWebSocketChannel.innerWebSocket``)."""
        return self._connection

    # -- handshake metadata, converted on first use -------------------------------------------------

    @property
    def request(self) -> Request | None:
        if self._request is None and self._connection.request is not None:
            self._request = core_request(self._connection.request, self.remote_address)
        return self._request

    @property
    def response(self) -> Response | None:
        if self._response is None and self._connection.response is not None:
            self._response = core_response(self._connection.response)
        return self._response

    @property
    def remote_address(self) -> Address:
        if self._remote_address is None:
            try:
                self._remote_address = self._connection.remote_address
            except Exception:  # a trio stream closed under us no longer tells
                return None
        return self._remote_address

    @property
    def local_address(self) -> Address:
        if self._local_address is None:
            try:
                self._local_address = self._connection.local_address
            except Exception:
                return None
        return self._local_address

    @property
    def id(self) -> uuid.UUID:
        return cast("uuid.UUID", self._connection.id)

    # -- ChannelBase primitives -------------------------------------------------------------------

    async def _receive_message(self) -> Message | None:
        # Messages queued before the peer's close frame are returned whatever happened locally; the
        # assembler ends (EOFError) once the connection is gone and its queue is empty.
        try:
            message: Message = await self._connection.recv_messages.get()
        except Exception as exc:
            await self._receive_failed(exc)
            return None
        return message

    async def _receive_failed(self, exc: Exception) -> None:
        """What ``Connection.recv()`` does when the assembler raises; returns once closed.

        The assembler raises ``EOFError`` at the end of the frames, ``UnicodeDecodeError`` for a bad
        text message (the connection fails with 1007) and, on an assembler that is not ours,
        ``TooManyFragments`` (1009). Either way the stream ends once the connection is gone, with
        ``close_code`` final.

        Raises:
            RuntimeError: another task is reading the connection.
        """
        connection = self._connection
        if isinstance(exc, ws_exc.ConcurrencyError):
            raise RuntimeError("another task is already reading this websockets connection") from exc
        try:
            if isinstance(exc, UnicodeDecodeError):
                connection.set_connection_exc(exc)
                async with connection.send_context():
                    connection.protocol.fail(
                        CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}"
                    )
            elif isinstance(exc, ws_exc.TooManyFragments):
                connection.set_connection_exc(exc)
                async with connection.send_context():
                    connection.protocol.fail(CloseCode.MESSAGE_TOO_BIG, "too many fragments")
            elif not isinstance(exc, EOFError):
                raise exc
        except ws_exc.ConnectionClosed:
            pass
        await self._wait_gone()
        self._record_close()

    async def _send_message(self, message: Message) -> None:
        connection = self._connection
        # websockets' send() on a closing connection waits until it is closed; fail at once instead.
        if connection.protocol.state is not OPEN:
            self._sync_close_state()
            raise self._closed_error()
        try:
            await connection.send(message)
        except ws_exc.ConnectionClosed as exc:
            self._sync_close_state()
            raise self._closed_error() from exc

    def _send_message_nowait(self, message: Message) -> bool:
        connection = self._connection
        protocol = connection.protocol
        if protocol.state is not OPEN:
            self._sync_close_state()
            raise self._closed_error()
        if connection.send_in_progress is not None or self._buffered_amount() > self._write_limit():
            return False
        if isinstance(message, str):
            protocol.send_text(message.encode())
        else:
            protocol.send_binary(message)
        self._flush()
        return True

    def _write_limit(self) -> int:
        """The connection's ``write_limit`` (the transport's high-water mark on asyncio)."""
        raise NotImplementedError

    async def _send_fragments(self, chunks: AsyncIterator[Message]) -> None:
        # websockets sends an (async) iterable as one fragmented message, compressed with
        # permessage-deflate when negotiated; an error in the middle fails the connection (1011).
        connection = self._connection
        if connection.protocol.state is not OPEN:
            self._sync_close_state()
            raise self._closed_error()
        try:
            await connection.send(chunks)
        except ws_exc.ConnectionClosed as exc:
            self._sync_close_state()
            raise self._closed_error() from exc

    async def _receive_fragment(self) -> tuple[Message, bool] | None:
        assembler = self._connection.recv_messages
        if not isinstance(assembler, AssemblerFixes):  # someone else's assembler: whole messages
            return await super()._receive_fragment()
        try:
            return await assembler.get_piece()
        except Exception as exc:
            await self._receive_failed(exc)
            return None

    async def _ping(self, payload: bytes) -> float:
        connection = self._connection
        if connection.protocol.state is not OPEN:
            self._sync_close_state()
            raise self._closed_error()
        start = time.perf_counter()
        try:
            waiter = await connection.ping(payload, **self._PING_OPTIONS)
            if hasattr(waiter, "wait"):  # trio: an event, set on the pong or at the close
                await waiter.wait()
                if connection.protocol.state is CLOSED:
                    raise ws_exc.ConnectionClosed(None, None)
                latency = time.perf_counter() - start
            else:
                latency = float(await waiter)  # asyncio: a future of the round trip
        except ws_exc.ConcurrencyError as exc:
            raise RuntimeError("a ping with this payload is already waiting for its pong") from exc
        except ws_exc.ConnectionClosed as exc:
            self._sync_close_state()
            raise self._closed_error() from exc
        connection.latency = latency  # what ``latency`` reports, until the next keepalive pong
        return latency

    #: Extra arguments of ``connection.ping()`` (trio: also wake at the close).
    _PING_OPTIONS: ClassVar[Mapping[str, Any]] = MappingProxyType({})

    @property
    def latency(self) -> float | None:
        # websockets measures its keepalive pings (0 until the first); ping() writes there too.
        measured = float(self._connection.latency)
        return measured if measured > 0 else None

    def _buffered_amount(self) -> int:
        raise NotImplementedError

    def _start_close(self, code: int | None, reason: str) -> None:
        connection = self._connection
        protocol = connection.protocol
        self._close_requested = CloseFrame(1005 if code is None else code, reason)
        # Keep reading until the peer's close frame, whether or not anyone reads messages.
        start_draining(connection.recv_messages)
        if protocol.state is OPEN:
            if connection.send_in_progress is not None:
                protocol.fail(CloseCode.INTERNAL_ERROR, "close during fragmented message")
            else:
                # None sends a close frame without a code (RFC 6455 5.5.1 allows an empty body).
                protocol.send_close(code, reason)
            self._flush()
        self._on_closing()

    def _flush(self) -> None:
        """Hand what the protocol queued to the network now, without blocking."""
        raise NotImplementedError

    def _arm_close_timer(self) -> None:
        """Make sure the connection ends within ``close_timeout`` from now (idempotent)."""
        raise NotImplementedError

    async def _wait_gone(self) -> None:
        """Wait until the connection is closed (bounded by the close timer)."""
        raise NotImplementedError

    def _record_close(self) -> None:
        if self._closed:
            return
        self._sync_close_state()
        dropped = getattr(self._connection.recv_messages, "dropped", 0)
        if dropped:
            logs.logger.debug(
                "%s dropped %d message(s) that arrived after close() and were never read",
                logs.context(self), dropped,
            )
        super()._record_close()

    # -- close bookkeeping --------------------------------------------------------------------------

    def _on_closing(self) -> None:
        """A close frame was sent or received, or the connection failed: record it, bound the rest."""
        self._sync_close_state()
        if self._connection.protocol.state is not CLOSED:
            self._arm_close_timer()

    def _sync_close_state(self) -> None:
        """Copy the close frames (in the order they happened) and the failure cause from websockets."""
        protocol = self._connection.protocol
        received, sent = protocol.close_rcvd, protocol.close_sent
        if received is not None and sent is not None and protocol.close_rcvd_then_sent is False:
            self._note_close_sent(_frame(sent))
            self._note_close_received(_frame(received))
        else:
            if received is not None:
                self._note_close_received(_frame(received))
            if sent is not None:
                self._note_close_sent(_frame(sent))
        if (
            sent == _KEEPALIVE_CLOSE
            and protocol.close_rcvd_then_sent is not True
            and self._close_requested != _frame(_KEEPALIVE_CLOSE)
        ):
            self._note_error(KeepaliveTimeout("the peer did not answer a keepalive ping in time"))
        for cause in (protocol.parser_exc, self._connection.connection_exc):
            error = close_cause(cause)
            if error is not None:
                self._note_error(error)


class WebsocketsChannel(ConnectionChannel):
    """A :class:`~ws_channel_core.channel.WebSocketChannel` over a websockets asyncio ``Connection``.

    Create it with :func:`wrap` (or through ``connect()`` / ``serve()`` with ``backend="websockets"``).
    Once closing starts, the connection ends within its ``close_timeout``, then TCP is aborted.
    """

    __slots__ = ("_close_timer",)

    _connection: Connection

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection, isinstance(connection, ServerConnection))
        self._close_timer: asyncio.TimerHandle | None = None
        # websockets sets this future in connection_lost(); it is never cancelled.
        connection.connection_lost_waiter.add_done_callback(self._on_connection_lost)
        self._attach()

    def _flush(self) -> None:
        connection = self._connection
        try:
            connection.send_data()
        except Exception as exc:  # the transport is broken: nothing more can be sent
            connection.set_connection_exc(exc)
            connection.transport.abort()

    def _arm_close_timer(self) -> None:
        if self._close_timer is not None or self._closed:
            return
        connection = self._connection
        timeout = connection.close_timeout
        if timeout is None:
            return
        # Our own timer: websockets' close_deadline belongs to its send_context(), which may be
        # running right now (this is called from inside protocol.fail()).
        self._close_timer = connection.loop.call_later(timeout, self._close_timed_out)

    def _close_timed_out(self) -> None:
        self._connection.set_connection_exc(TimeoutError("timed out while closing connection"))
        self._connection.transport.abort()

    async def _wait_gone(self) -> None:
        await asyncio.shield(self._connection.connection_lost_waiter)

    def _abort_connection(self) -> None:
        self._connection.transport.abort()

    def _buffered_amount(self) -> int:
        transport = self._connection.transport
        return sum(map(len, self._connection.protocol.writes)) + transport.get_write_buffer_size()

    def _write_limit(self) -> int:
        return int(self._connection.transport.get_write_buffer_limits()[1])

    def _on_connection_lost(self, _waiter: asyncio.Future[None]) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self._record_close()


def wrap(connection: Connection) -> WebsocketsChannel:
    """Turn an open websockets asyncio connection (client or server side) into a channel.

    The connection's own settings (``ping_interval``, ``close_timeout``, ``max_size``...) stay in
    force. Call it from the event loop that runs the connection, before anything else reads from it.

    Raises:
        TypeError: ``connection`` is not a ``websockets.asyncio`` connection.
    """
    if not isinstance(connection, Connection):
        raise TypeError(f"expected a websockets.asyncio connection, not {type(connection).__name__}")
    fix_connection_class(connection)
    return WebsocketsChannel(connection)
