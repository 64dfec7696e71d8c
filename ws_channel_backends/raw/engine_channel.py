"""``EngineChannel``: what the channels of both raw drivers share, turning engine events into state."""

from __future__ import annotations

import logging
import os
from abc import abstractmethod
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from ws_channel_core.base import ChannelBase
from ws_channel_core.channel import Message
from ws_channel_core.errors import KeepaliveTimeout, WebSocketChannelError
from ws_channel_core.http import Request, Response
from ws_channel_core.options import Options

from .engine import Engine
from .engine.events import BinaryMessage, CloseReceived, Event, Fragment, Pong, ProtocolFailure, TextMessage
from .engine.handshake import accept_request, parse_request

__all__ = ["EngineChannel", "DRAIN_QUIET"]

logger = logging.getLogger("ws_channel.raw")

#: After failing a connection, a driver reads and discards what the peer still sends, and closes TCP
#: once nothing arrived for this many seconds (or at the peer's EOF, or after ``close_timeout``):
#: closing with unread data makes the kernel send a reset that can destroy our close frame in the
#: peer's buffers before it reads it.
DRAIN_QUIET = 0.25


#: The queue of a channel that never received a message: one shared empty deque, replaced by the
#: channel's own on the first message (a deque costs ~700 bytes, and most idle connections never
#: receive anything). ``maxlen=0``: should anything append to it by mistake, it keeps nothing.
_NO_QUEUE: deque[Message] = deque(maxlen=0)


def _is_fragment(item: object) -> bool:
    """Whether a queued item is a piece of a message (a reader asked for pieces), not a message."""
    return type(item) is Fragment


class EngineChannel(ChannelBase):
    """A channel run by the sans-I/O engine; a driver supplies the I/O and the timers.

    Incoming messages wait in ``_queue``; ``_ended`` becomes true when no more will be queued (the
    peer's close frame arrived, the peer broke the protocol, or the transport is closing).

    Closing (the design's "Closing" section): after a local close, messages keep arriving until the
    peer's close frame and are delivered. ``_consuming`` tells whether the application reads the
    stream since it closed: if it does, a full queue pauses reading as usual; if it does not, reading
    goes on (the peer's close frame must be seen) and messages beyond ``max_queue`` are dropped.

    Sending and closing run here, once for both drivers (as websockets' one ``send_context``): the
    engine frames the message (its check is the only "closed?" check after the core's), the driver
    writes or queues the pieces without blocking (:meth:`_write_pieces`), and only when that left the
    write buffer above ``write_limit`` does the sender wait (:meth:`_wait_for_room`): a send that fits
    completes without a suspension. Closing (:meth:`_start_close`), the deferred failure policy and
    the keepalive ping/pong bookkeeping are shared the same way; drivers supply timers and I/O.

    Idle memory: a server whose handshake ran without hooks keeps only the request's head bytes
    (``request_head``); ``request`` and ``response`` are parsed from them, and the 101 rebuilt from
    the request and the options (the same deterministic ``accept_request``), on first access.
    """

    __slots__ = (
        "_engine", "_queue", "_ended", "_max_queue", "_consuming", "_dropped",
        "_ping_payload", "_sent_noted", "_request_head",
    )

    # Set by each driver's channel (its own slot): the options the connection was opened with.
    _options: Options

    def __init__(
        self,
        engine: Engine,
        *,
        protocol: str | None,
        max_queue: int,
        request_head: bytes | None = None,
        **metadata: Any,
    ) -> None:
        super().__init__(protocol=protocol, **metadata)
        self._engine = engine
        self._request_head = request_head
        self._queue = _NO_QUEUE  # the channel's own deque on the first message (see _NO_QUEUE)
        self._ended = False
        self._max_queue = max_queue
        self._consuming = False
        self._dropped = 0
        self._ping_payload: bytes | None = None  # the keepalive ping awaiting its pong
        self._sent_noted = False  # our close frame is recorded in the channel's bookkeeping

    # -- the handshake, kept as bytes until asked for --------------------------------------------

    @property
    def request(self) -> Request | None:
        if self._request_head is not None:
            self._load_handshake()
        return self._request

    @property
    def response(self) -> Response | None:
        if self._request_head is not None:
            self._load_handshake()
        return self._response

    def _load_handshake(self) -> None:
        head = self._request_head
        assert head is not None
        request = parse_request(head, self._remote_address)
        options = self._options
        self._request = request
        self._response = accept_request(
            request,
            protocols=options.protocols,
            compression=options.compression is not None,
            headers=options.headers,
        ).response
        self._request_head = None

    # -- what a driver supplies ----------------------------------------------------------------

    @abstractmethod
    def _write_pieces(self, pieces: list[bytes]) -> bool:
        """Write (or queue, in engine order) the pieces of one outgoing message; never blocks.

        Returns ``True`` when the sender must then await :meth:`_wait_for_room`.
        """

    @abstractmethod
    async def _wait_for_room(self) -> None:
        """Wait until the bytes waiting to be written fall to ``write_limit``; raise
        ``self._closed_error()`` when writing became impossible meanwhile."""

    @abstractmethod
    def _transport_gone(self) -> bool:
        """Whether the connection is already gone (nothing can be written any more)."""

    @abstractmethod
    def _close_queued(self) -> None:
        """Our close frame is queued in the engine: let reading go on, write it, arm the close timer."""

    @abstractmethod
    def _arm_failure_timer(self, timeout: float) -> None:
        """Call the engine's ``fail_pending`` (and flush) after ``timeout`` unless it already ran."""

    @abstractmethod
    def _pong_received(self) -> None:
        """The pong of the keepalive ping arrived."""

    @abstractmethod
    def _above_write_limit(self) -> bool:
        """Whether the bytes waiting to be written are above ``write_limit`` (``add`` would wait)."""

    @abstractmethod
    def _write_buffer_size(self) -> int:
        """Bytes the driver holds or the transport buffers, not yet handed to the operating system."""

    @abstractmethod
    def _reader_waiting(self) -> bool:
        """Whether a task waits in ``_receive_message`` for the next message."""

    @abstractmethod
    def _write_soon(self) -> None:
        """Make sure what :meth:`_write_pieces` queued gets written with no sender waiting."""

    # -- sending and closing, shared ----------------------------------------------------------

    def _queue_message(self, message: Message) -> bool:
        """Frame ``message`` in the engine and hand its pieces to the driver; return whether the
        sender must then wait for room (what :meth:`_write_pieces` says)."""
        engine = self._engine
        try:
            if type(message) is str:
                engine.send_text(message)
            else:
                engine.send_binary(message)  # type: ignore[arg-type]
        except WebSocketChannelError:
            raise self._closed_error() from None
        return self._write_pieces(engine.pieces_to_send())

    async def _send_message(self, message: Message) -> None:
        if self._queue_message(message):
            await self._wait_for_room()

    def _send_message_nowait(self, message: Message) -> bool:
        if self._above_write_limit():
            return False
        if self._queue_message(message):
            self._write_soon()
        return True

    def _buffered_amount(self) -> int:
        return self._engine.bytes_pending + self._write_buffer_size()

    async def _send_fragments(self, chunks: AsyncIterator[Message]) -> None:
        # The engine sends a fragmented message uncompressed (RFC 7692 allows it per message).
        previous = await anext(chunks)
        text = isinstance(previous, str)
        first = True
        async for chunk in chunks:
            await self._send_fragment(previous, text, first, False)
            first = False
            previous = chunk
        await self._send_fragment(previous, text, first, True)

    async def _send_fragment(self, chunk: Message, text: bool, first: bool, fin: bool) -> None:
        engine = self._engine
        try:
            if not first:
                engine.send_continuation(chunk.encode() if isinstance(chunk, str) else chunk, fin=fin)
            elif text:
                engine.send_text(chunk, fin=fin)
            else:
                engine.send_binary(chunk, fin=fin)  # type: ignore[arg-type]
        except WebSocketChannelError:
            raise self._closed_error() from None
        if self._write_pieces(engine.pieces_to_send()):
            await self._wait_for_room()

    async def _receive_fragment(self) -> tuple[Message, bool] | None:
        engine = self._engine
        if not self._queue and not self._ended:
            engine.stream_fragments = True  # the next message, if it comes in several frames
        try:
            item: object = await self._receive_message()
        except BaseException:
            if engine.stream_fragments and not self._queue:
                engine.stream_fragments = False  # nothing of it was reported yet
            elif self._queue and _is_fragment(self._queue[0]):
                self._skip_rest_of_message()  # its first piece arrived as the wait was cancelled
            raise
        if item is None:
            return None
        if type(item) is Fragment:
            return item.data, item.final
        return item, True  # type: ignore[return-value]

    async def _ping(self, payload: bytes) -> float:
        engine = self._engine
        pending = self._track_ping(payload)
        try:
            engine.send_ping(payload)
        except WebSocketChannelError:
            raise self._closed_error() from None
        if self._write_pieces(engine.pieces_to_send()):
            await self._wait_for_room()
        return await self._await_pong(pending)

    def _start_close(self, code: int | None, reason: str) -> None:
        if self._transport_gone():
            return
        engine = self._engine
        if engine.close_sent is None and not engine.should_close_transport:
            engine.send_close(code, reason)
        self._note_sent()
        self._closing_started()
        self._close_queued()

    def _note_sent(self) -> None:
        """Record our close frame as soon as the engine queued it (it is the next thing written)."""
        engine = self._engine
        if not self._sent_noted and engine.close_sent is not None:
            self._sent_noted = True
            self._note_close_sent(engine.close_sent)

    def _defer_failure(self) -> None:
        """The peer broke the protocol: fail now, or once the messages before the error are read.

        The engine holds the close frame back (``defer_failure``) so that the application can answer
        the complete messages that arrived before the bad frame; it is sent when the stream is read
        past them, when the application closes, or after ``close_timeout`` (see :mod:`.engine.engine`).
        """
        timeout = self._close_timeout
        if not self._queue or not timeout:
            self._engine.fail_pending()
        else:
            self._arm_failure_timer(timeout)

    # -- keepalive, shared ---------------------------------------------------------------------

    def _queue_keepalive_ping(self) -> bool:
        """Queue a keepalive ping in the engine; ``False`` when none is due (closing, or failing)."""
        engine = self._engine
        if engine.close_expected() or engine.failure_pending:
            return False
        payload = os.urandom(4)
        while self._pings and payload in self._pings:
            payload = os.urandom(4)
        self._ping_payload = payload
        self._track_ping(payload, keepalive=True)
        engine.send_ping(payload)
        return True

    def _pong(self, payload: bytes) -> None:
        # A pong acknowledges its ping and every earlier one (RFC 6455 5.5.3), the keepalive's too.
        if not self._acknowledge_pong(payload):
            return
        keepalive = self._ping_payload
        if keepalive is not None and not (self._pings and keepalive in self._pings):
            self._ping_payload = None
            self._pong_received()

    def _keepalive_failed(self, timeout: float | None) -> None:
        """No pong came within ``timeout``: record why and fail the connection (1011) in the engine."""
        self._note_error(KeepaliveTimeout(f"no pong within {timeout} s (keepalive)"))
        self._engine.fail(1011, "keepalive ping timeout")

    def _queue_blocks_reading(self) -> bool:
        """Whether a full queue should pause reading now (never while closing with nobody reading)."""
        return (
            len(self._queue) >= self._max_queue
            and not self._ended
            and (not self._closing or self._consuming)
        )

    def _closing_started(self) -> None:
        """A local close began: remember whether the application is reading the stream."""
        self._consuming = self._reader_waiting()

    def _took_message(self) -> None:
        """The application took a message from the queue (the slow path of the receive calls)."""
        if self._closing:
            self._consuming = True

    def _dispatch(self, events: list[Event]) -> None:
        """Apply the events the engine produced from the bytes just fed to it."""
        queue = self._queue
        if queue is _NO_QUEUE and events:
            queue = self._queue = deque()
        for event in events:
            kind = type(event)
            if kind is TextMessage or kind is BinaryMessage:
                if self._ended:
                    continue
                if self._closing and not self._consuming and len(queue) >= self._max_queue:
                    self._dropped += 1
                    if self._dropped == 1:
                        logger.debug("closing and nobody reads: dropping messages beyond max_queue")
                    continue
                queue.append(event.data)  # type: ignore[union-attr]
            elif kind is Fragment:
                if not self._ended:
                    queue.append(event)  # type: ignore[arg-type]  # taken by _receive_fragment only
            elif kind is Pong:
                self._pong(event.payload)  # type: ignore[union-attr]
            elif kind is CloseReceived:
                self._note_close_received(event.frame)  # type: ignore[union-attr]
                self._ended = True
            elif kind is ProtocolFailure:
                self._note_error(event.error)  # type: ignore[union-attr]
                self._ended = True
                self._defer_failure()
        engine = self._engine
        if engine.stream_fragments and queue and not _is_fragment(queue[-1]):
            engine.stream_fragments = False  # a whole message came first: it is what the reader gets

    def _stream_ended(self) -> None:
        """The stream is about to end: log what was dropped while closing."""
        if self._dropped:
            logger.debug("dropped %d message(s) received after a local close that nobody read", self._dropped)
            self._dropped = 0

    async def _bookkeeping_final(self) -> None:
        """Before the stream ends: wait until ``close_code`` is final (the peer's close frame arrived
        or the connection is gone; bounded by the driver's close timer)."""
        self._stream_ended()
        if self._close_received is None and not self._closed:
            await self._done_event.wait()
