"""``WebsocketsChannel``: a ws-channel channel over a websockets asyncio connection, and ``wrap()``.

The websockets connection does the protocol work (framing, pings, the closing handshake and its
timeout); this class adds the shared policies of :class:`~ws_channel_core.base.ChannelBase`. A done
callback on the connection's ``connection_lost_waiter`` records the close frames and the cause of a
failure once the TCP connection ends, so ``done`` completes even when nobody reads the stream. It is a
callback rather than a watcher task: a task, its coroutine and ``wait_closed()``'s shield would cost
about 1.7 KiB per idle connection, a third of what websockets itself needs.
"""

from __future__ import annotations

import asyncio
from typing import cast

import anyio
from websockets import exceptions as ws_exc
from websockets.asyncio.connection import Connection
from websockets.frames import Close, CloseCode
from websockets.protocol import OPEN

from ws_channel_core.base import ChannelBase
from ws_channel_core.channel import Message
from ws_channel_core.errors import CloseFrame, KeepaliveTimeout

from ._errors import close_cause
from ._fixes import install_fixes

__all__ = ["WebsocketsChannel", "wrap"]

# websockets fails the connection with exactly this frame when a keepalive pong is late.
_KEEPALIVE_CLOSE = Close(1011, "keepalive ping timeout")


def _frame(close: Close) -> CloseFrame:
    return CloseFrame(int(close.code), close.reason)


class WebsocketsChannel(ChannelBase):
    """A :class:`~ws_channel_core.channel.WebSocketChannel` over a websockets ``Connection``.

    Create it with :func:`wrap` (or through ``connect()`` / ``serve()`` with ``backend="websockets"``).
    ``close()`` finishes within the connection's ``close_timeout``, then aborts the TCP connection.
    """

    __slots__ = ("_connection", "_close_timeout", "_close_requested", "_linger_timer")

    def __init__(self, connection: Connection) -> None:
        super().__init__(protocol=connection.subprotocol)
        self._connection = connection
        self._close_timeout = connection.close_timeout
        self._close_requested: CloseFrame | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        install_fixes(connection, self._on_close_frame)
        # websockets sets this future in connection_lost(); it is never cancelled.
        connection.connection_lost_waiter.add_done_callback(self._on_connection_lost)

    @property
    def connection(self) -> Connection:
        """The websockets connection underneath (like Dart's ``IOWebSocketChannel.innerWebSocket``)."""
        return self._connection

    # -- ChannelBase primitives -------------------------------------------------------------------

    async def _receive_message(self) -> Message | None:
        if self._closing:
            return None
        try:
            message: Message | None = await self._connection.recv_messages.get()
        except Exception as exc:
            await self._receive_failed(exc)
            return None
        if self._closing:
            return None  # the local close started while waiting: the stream is over
        return message

    async def _receive_failed(self, exc: Exception) -> None:
        """What ``Connection.recv()`` does when the assembler raises, ending in ``None``.

        The assembler raises ``EOFError`` at the end of the frames, ``UnicodeDecodeError`` for a bad
        text message (the connection fails with 1007) and, on an assembler that is not ours,
        ``TooManyFragments`` (1009). Either way the stream ends once the TCP connection is closed;
        ``close_code`` is final then, without waiting for the ``connection_lost`` callback.

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
        await asyncio.shield(connection.connection_lost_waiter)
        if not self._is_closed:
            self._record_close()
        return None

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

    async def _close_connection(self, code: int | None, reason: str) -> None:
        connection = self._connection
        self._close_requested = CloseFrame(1005 if code is None else code, reason)
        # websockets bounds the wait for the peer's close by close_timeout, but not the wait for
        # write-buffer space before the close frame goes out: bound the whole of it here.
        with anyio.move_on_after(self._close_timeout) as scope:
            # close() types its code as int but hands it to Protocol.send_close(), where None sends
            # a close frame without a code (RFC 6455 5.5.1 allows an empty body). On a connection
            # that is already closing, close() waits for the end and does not raise.
            await connection.close(cast("int", code), reason)
            await connection.wait_closed()
        if scope.cancelled_caught:
            connection.transport.abort()
            await connection.wait_closed()
        self._record_close()

    def _abort_connection(self) -> None:
        self._connection.transport.abort()

    def _record_close(self) -> None:
        self._sync_close_state()
        super()._record_close()

    # -- close bookkeeping --------------------------------------------------------------------------

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

    def _on_close_frame(self) -> None:
        # The peer's close frame arrived: the TCP connection must end within close_timeout, even if
        # the peer keeps it open after the closing handshake (websockets alone would wait for ever).
        if self._linger_timer is None and self._close_timeout is not None:
            loop = asyncio.get_running_loop()
            self._linger_timer = loop.call_later(self._close_timeout, self._abort_connection)

    def _on_connection_lost(self, _waiter: asyncio.Future[None]) -> None:
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        if not self._is_closed:
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
    return WebsocketsChannel(connection)
