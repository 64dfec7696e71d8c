"""The raw backend: our own RFC 6455 implementation, with no WebSocket library underneath.

One sans-I/O engine (:mod:`.protocol`, :mod:`.frames`, :mod:`.handshake`, :mod:`.deflate`) and two
drivers: :mod:`.asyncio_driver` (an ``asyncio.BufferedProtocol``, the fast path, used whenever the
running loop is asyncio) and :mod:`.anyio_driver` (any anyio ``ByteStream``: trio, in-memory streams,
already-upgraded streams).
"""

from __future__ import annotations

from .backend import RawBackend, backend

__all__ = ["RawBackend", "backend"]
