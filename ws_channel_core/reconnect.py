"""A client that reconnects: ``async for channel in connect(url):``, with exponential backoff and jitter.

Each iteration yields an open channel. When the body comes back for the next one (the connection
dropped, or the server closed it), the previous channel is closed if it is still open, and a new
connection is opened after a delay. Failures that retrying may fix (the server is unreachable, timed
out, or answered 5xx / 429 / 408) are retried with a growing delay; a refusal that retrying cannot
fix (any other 4xx, a bad handshake) is raised.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import anyio

from .channel import WebSocketChannel
from .errors import InvalidStatus, ServerUnreachable

__all__ = ["Backoff", "Reconnecting", "is_retryable"]

logger = logging.getLogger("ws_channel.client")

#: HTTP statuses of a refusal that may go away by itself: timeout, too many requests.
RETRYABLE_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class Backoff:
    """How long to wait before each new attempt: ``min(max_delay, initial_delay * factor**n)``.

    The wait is drawn uniformly between half of that and all of it (jitter), so clients dropped at
    the same moment do not all come back at the same moment. ``max_attempts`` bounds the attempts
    in a row that fail (``None``: keep trying).
    """

    initial_delay: float = 1.0
    max_delay: float = 60.0
    factor: float = 2.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.initial_delay < 0 or self.max_delay < self.initial_delay:
            raise ValueError("delays must satisfy 0 <= initial_delay <= max_delay")
        if self.factor < 1:
            raise ValueError(f"factor must be at least 1, not {self.factor}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")

    def delay(self, failures: int, rng: random.Random) -> float:
        """The wait before the next attempt after ``failures`` failures in a row (0: after a drop)."""
        ceiling = min(self.max_delay, self.initial_delay * self.factor**failures)
        return rng.uniform(ceiling / 2, ceiling)


def is_retryable(error: Exception) -> bool:
    """Whether connecting again later may succeed after ``error``."""
    if isinstance(error, ServerUnreachable):
        return True
    if isinstance(error, InvalidStatus):
        return error.status_code >= 500 or error.status_code in RETRYABLE_STATUSES
    return False


class Reconnecting:
    """The async iterator behind ``async for channel in connect(url)``."""

    def __init__(
        self,
        open_channel: Callable[[], Awaitable[WebSocketChannel]],
        url: str,
        backoff: Backoff,
        rng: random.Random | None = None,
    ) -> None:
        self._open = open_channel
        self._url = url
        self._backoff = backoff
        self._rng = rng or random.Random()
        self._channel: WebSocketChannel | None = None

    def __aiter__(self) -> AsyncIterator[WebSocketChannel]:
        return self

    async def __anext__(self) -> WebSocketChannel:
        previous, self._channel = self._channel, None
        if previous is not None:
            await previous.sink.close(1000)  # waits for the end when the peer already closed
            await anyio.sleep(self._backoff.delay(0, self._rng))
        failures = 0
        while True:
            try:
                channel = await self._open()
            except Exception as exc:
                if not is_retryable(exc):
                    raise
                failures += 1
                limit = self._backoff.max_attempts
                if limit is not None and failures >= limit:
                    raise
                delay = self._backoff.delay(failures, self._rng)
                logger.info("%s (attempt %d); retrying in %.1f s", exc, failures, delay)
                await anyio.sleep(delay)
                continue
            self._channel = channel
            return channel

    async def aclose(self) -> None:
        """Close the channel handed out last, if it is still open."""
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.sink.close(1000)
