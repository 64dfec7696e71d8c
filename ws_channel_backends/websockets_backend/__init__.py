"""The ws-channel backend over the websockets library (its asyncio implementation).

Use it through ``ws_channel_core.connect(url, backend="websockets")`` and
``ws_channel_core.serve(handler, backend="websockets")``, or turn a websockets connection you already
have into a channel with :func:`wrap`. Runs on asyncio only.
"""

from __future__ import annotations

from .backend import WebsocketsBackend, WebsocketsServer
from .channel import WebsocketsChannel, wrap

__all__ = ["WebsocketsBackend", "WebsocketsChannel", "WebsocketsServer", "backend", "wrap"]

backend = WebsocketsBackend()
