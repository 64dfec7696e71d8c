"""Events the engine reports: what arrived from the peer, as immutable data."""

from __future__ import annotations

from dataclasses import dataclass

from ws_channel_core.errors import CloseFrame, ProtocolError

__all__ = [
    "TextMessage", "BinaryMessage", "Fragment", "Ping", "Pong", "CloseReceived", "ProtocolFailure", "Event",
]


@dataclass(frozen=True, slots=True)
class TextMessage:
    """A complete text message."""

    data: str


@dataclass(frozen=True, slots=True)
class BinaryMessage:
    """A complete binary message."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Fragment:
    """A piece of a message that arrives in several frames (only when ``Engine.stream_fragments``).

    ``data`` is ``str`` for a text message (decoded so far, UTF-8 checked) and ``bytes`` for a binary
    one; ``final`` marks the message's last piece.
    """

    data: str | bytes
    final: bool


@dataclass(frozen=True, slots=True)
class Ping:
    """A ping (the latest of a run of pings); the engine holds its pong (unless it is closing)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    """A pong, solicited or not."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class CloseReceived:
    """The peer's close frame (code 1005 when it had none); the engine has queued its answer."""

    frame: CloseFrame


@dataclass(frozen=True, slots=True)
class ProtocolFailure:
    """The peer broke the protocol; the engine queued a close frame with ``error.close_code``."""

    error: ProtocolError


Event = TextMessage | BinaryMessage | Fragment | Ping | Pong | CloseReceived | ProtocolFailure
