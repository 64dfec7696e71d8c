"""The raw backend's sans-I/O engine: RFC 6455 frames, the HTTP upgrade, permessage-deflate.

Nothing here performs I/O or imports an event loop, ``socket`` or ``ssl`` (a test enforces it):
bytes go in, events and bytes come out. :class:`Engine` (:mod:`.engine`) is one connection's protocol
state; :mod:`.frames`, :mod:`.mask`, :mod:`.utf8` and :mod:`.deflate` are its parts, :mod:`.events`
what it reports, :mod:`.handshake` the opening handshake as bytes. The drivers beside this package
(``asyncio_driver``, ``anyio_driver``) run it over real transports.
"""

from __future__ import annotations

from .engine import DEFAULT_MAX_SIZE, Engine, State
from .events import BinaryMessage, CloseReceived, Event, Fragment, Ping, Pong, ProtocolFailure, TextMessage

__all__ = [
    "DEFAULT_MAX_SIZE",
    "Engine",
    "State",
    "Event",
    "TextMessage",
    "BinaryMessage",
    "Fragment",
    "Ping",
    "Pong",
    "CloseReceived",
    "ProtocolFailure",
]
