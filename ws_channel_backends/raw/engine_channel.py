"""``EngineChannel``: what the channels of both raw drivers share, turning engine events into state."""

from __future__ import annotations

from abc import abstractmethod
from collections import deque

from ws_channel_core.base import ChannelBase
from ws_channel_core.channel import Message

from .events import BinaryMessage, CloseReceived, Event, Pong, ProtocolFailure, TextMessage
from .protocol import Connection

__all__ = ["EngineChannel"]


class EngineChannel(ChannelBase):
    """A channel run by the sans-I/O engine; a driver supplies the I/O and the timers.

    Incoming messages wait in ``_queue``; ``_ended`` becomes true when no more will be queued (the
    peer's close frame arrived or the peer broke the protocol).
    """

    __slots__ = ("_engine", "_queue", "_ended")

    def __init__(self, engine: Connection, *, protocol: str | None) -> None:
        super().__init__(protocol=protocol)
        self._engine = engine
        self._queue: deque[Message] = deque()
        self._ended = False

    @abstractmethod
    def _pong(self, payload: bytes) -> None:
        """A pong arrived: the driver matches it against its keepalive ping."""

    @abstractmethod
    def _defer_failure(self) -> None:
        """The peer broke the protocol: the driver fails now or once earlier messages are read."""

    def _dispatch(self, events: list[Event]) -> None:
        """Apply the events the engine produced from the bytes just fed to it."""
        queue = self._queue
        for event in events:
            kind = type(event)
            if kind is TextMessage or kind is BinaryMessage:
                if not self._ended:
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
