"""``EventChannel``: a channel whose incoming side is a stream of ASGI events, read one at a time.

Both ends of an ASGI WebSocket see the other as events (the server's channel reads ``receive()``, the
in-memory client reads what the application sent): one task at a time pulls an event, only when a
message is wanted (or while closing, to reach the end), and the subclass turns it into buffered
messages or close bookkeeping.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import deque
from typing import Any

import anyio

from ws_channel_core.base import ChannelBase
from ws_channel_core.channel import Message

from ._types import Message as Event

__all__ = ["EventChannel"]


class EventChannel(ChannelBase):
    """Incoming messages from an event source; see the module docstring."""

    __slots__ = ("_buffer", "_ended", "_read_lock", "_read_scope")

    def __init__(self, **channel: Any) -> None:
        super().__init__(**channel)
        self._buffer: deque[Message] = deque()
        self._ended = False  # no more events will be read
        self._read_lock = anyio.Lock()
        self._read_scope: anyio.CancelScope | None = None  # cancelled to wake a reader on abort

    @abstractmethod
    async def _next_event(self) -> Event | None:
        """The next event; ``None`` when the source failed (after ending the channel)."""

    @abstractmethod
    def _handle(self, event: Event) -> None:
        """Apply one event: buffer a message, or record the close."""

    def _receive_message_nowait(self) -> Message | None:
        return self._buffer.popleft() if self._buffer else None

    async def _receive_message(self) -> Message | None:
        while True:
            if self._buffer:
                return self._buffer.popleft()
            if self._ended:
                return None
            await self._pull()

    async def _pull(self) -> None:
        """Read and handle one event, unless another task is doing so (then wait for it)."""
        async with self._read_lock:
            if self._ended or (self._buffer and not self._closing):
                return
            with anyio.CancelScope() as scope:
                self._read_scope = scope
                try:
                    event = await self._next_event()
                finally:
                    self._read_scope = None
            if scope.cancelled_caught or event is None:  # aborted, or the source failed
                return
            self._handle(event)
