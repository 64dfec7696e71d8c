"""The aiohttp backend: ws-channel over ``aiohttp`` (client ``ClientSession.ws_connect``, server
``aiohttp.web``), for asyncio.

Besides the backend object the entry point loads, it offers :func:`wrap`, which turns a
``ClientWebSocketResponse`` or ``web.WebSocketResponse`` an aiohttp application already has into a
``WebSocketChannel``. Option mapping: see :mod:`.options`.
"""

from __future__ import annotations

from .backend import AiohttpBackend
from .channel import AiohttpChannel
from .server import AiohttpServer
from .wrap import wrap

__all__ = ["AiohttpBackend", "AiohttpChannel", "AiohttpServer", "backend", "wrap"]

backend = AiohttpBackend()
