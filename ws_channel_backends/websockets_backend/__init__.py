"""The ws-channel backend over the websockets library (its asyncio and trio implementations).

Use it through ``ws_channel_core.connect(url, backend="websockets")`` and
``ws_channel_core.serve(handler, backend="websockets")``, or turn a websockets connection you already
have into a channel with :func:`wrap`. Runs on asyncio (uvloop too) through ``websockets.asyncio`` and
on trio through ``websockets.trio``; any other event loop raises :class:`UnsupportedEventLoop`.
"""

from __future__ import annotations

from .backend import UnsupportedEventLoop, WebsocketsBackend, WebsocketsServer
from .channel import WebsocketsChannel, wrap

__all__ = [
    "UnsupportedEventLoop",
    "WebsocketsBackend",
    "WebsocketsChannel",
    "WebsocketsServer",
    "backend",
    "wrap",
]

backend = WebsocketsBackend()
