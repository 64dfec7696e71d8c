"""``EngineChannel``: what the channels of both raw drivers share, turning engine events into state."""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections import deque
from typing import Any

from ws_channel_core.base import ChannelBase
from ws_channel_core.channel import Message

from .engine import Engine
from .engine.events import BinaryMessage, CloseReceived, Event, Pong, ProtocolFailure, TextMessage

__all__ = ["EngineChannel", "DRAIN_QUIET"]

logger = logging.getLogger("ws_channel.raw")

#: After failing a connection, a driver reads and discards what the peer still sends, and closes TCP
#: once nothing arrived for this many seconds (or at the peer's EOF, or after ``close_timeout``):
#: closing with unread data makes the kernel send a reset that can destroy our close frame in the
#: peer's buffers before it reads it.
DRAIN_QUIET = 0.25


class EngineChannel(ChannelBase):
    """A channel run by the sans-I/O engine; a driver supplies the I/O and the timers.

    Incoming messages wait in ``_queue``; ``_ended`` becomes true when no more will be queued (the
    peer's close frame arrived, the peer broke the protocol, or the transport is closing).

    Closing (the design's "Closing" section): after a local close, messages keep arriving until the
    peer's close frame and are delivered. ``_consuming`` tells whether the application reads the
    stream since it closed: if it does, a full queue pauses reading as usual; if it does not, reading
    goes on (the peer's close frame must be seen) and messages beyond ``max_queue`` are dropped.
    """

    __slots__ = ("_engine", "_queue", "_ended", "_max_queue", "_consuming", "_awaiting", "_dropped")

    def __init__(self, engine: Engine, *, protocol: str | None, max_queue: int, **metadata: Any) -> None:
        super().__init__(protocol=protocol, **metadata)
        self._engine = engine
        self._queue: deque[Message] = deque()
        self._ended = False
        self._max_queue = max_queue
        self._consuming = False
        self._awaiting = False  # a task waits in _receive_message for the next message
        self._dropped = 0

    @abstractmethod
    def _pong(self, payload: bytes) -> None:
        """A pong arrived: the driver matches it against its keepalive ping."""

    @abstractmethod
    def _defer_failure(self) -> None:
        """The peer broke the protocol: the driver fails now or once earlier messages are read."""

    def _queue_blocks_reading(self) -> bool:
        """Whether a full queue should pause reading now (never while closing with nobody reading)."""
        return (
            len(self._queue) >= self._max_queue
            and not self._ended
            and (not self._closing or self._consuming)
        )

    def _closing_started(self) -> None:
        """A local close began: remember whether the application is reading the stream."""
        self._consuming = self._awaiting

    def _took_message(self) -> None:
        """The application took a message from the queue (the slow path of the receive calls)."""
        if self._closing:
            self._consuming = True

    def _dispatch(self, events: list[Event]) -> None:
        """Apply the events the engine produced from the bytes just fed to it."""
        queue = self._queue
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
            elif kind is Pong:
                self._pong(event.payload)  # type: ignore[union-attr]
            elif kind is CloseReceived:
                self._note_close_received(event.frame)  # type: ignore[union-attr]
                self._ended = True
            elif kind is ProtocolFailure:
                self._note_error(event.error)  # type: ignore[union-attr]
                self._ended = True
                self._defer_failure()

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
