"""``broadcast()``: one message to many channels, without waiting on any of them.

A chat room or a live feed sends each message to every connected client. Awaiting ``add`` on each in
turn lets the slowest client set everyone's pace; ``broadcast`` queues the message on each channel
with ``add_nowait`` instead, so the sender never waits. A channel whose outgoing buffer is already
above its ``write_limit`` (a client that does not read fast enough) is skipped for this message and
listed in the result; what to do about it (drop it, close it, tell it) is the application's choice.
Channels that are closing or closed are skipped silently: ``broadcast`` never raises for them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from . import logs
from .base import as_message
from .channel import Message, WebSocketChannel
from .errors import BufferFull, ConnectionClosed

__all__ = ["BroadcastResult", "broadcast"]


@dataclass(frozen=True, slots=True)
class BroadcastResult:
    """What :func:`broadcast` did: how many channels got the message, which were skipped."""

    #: Channels that accepted the message.
    sent: int = 0
    #: Channels closing or closed: not sent to, no error.
    closed: int = 0
    #: Channels whose outgoing buffer was above ``write_limit``: this message was not sent to them.
    skipped: tuple[WebSocketChannel, ...] = field(default=())


def broadcast(channels: Iterable[WebSocketChannel], message: Message) -> BroadcastResult:
    """Send ``message`` to every open channel of ``channels`` without waiting on any.

    Each channel gets the message through ``sink.add_nowait``: a slow client never slows the sender
    or the other clients. A channel whose buffer is above its ``write_limit`` is skipped (listed in
    ``skipped`` and logged at DEBUG on ``ws_channel``); closing and closed channels are counted in
    ``closed``. Compression, where negotiated, runs once per channel.

    Raises:
        TypeError: ``message`` is neither ``str`` nor bytes-like (before anything is sent).
    """
    message = as_message(message)
    sent = closed = 0
    skipped: list[WebSocketChannel] = []
    for channel in channels:
        try:
            channel.sink.add_nowait(message)
        except ConnectionClosed:
            closed += 1
        except BufferFull:
            skipped.append(channel)
            if logs.logger.isEnabledFor(logging.DEBUG):
                logs.logger.debug(
                    "%s broadcast skipped: %d bytes already waiting to be sent",
                    logs.context(channel), channel.sink.buffered_amount,
                )
        else:
            sent += 1
    return BroadcastResult(sent, closed, tuple(skipped))
