"""The raw backend: our own RFC 6455 implementation, with no WebSocket library underneath.

One sans-I/O engine, the package :mod:`.engine` (class :class:`~.engine.Engine`; frames, handshake,
deflate; no I/O import), and two drivers beside it sharing :mod:`.engine_channel`:
:mod:`.asyncio_driver` (an ``asyncio.BufferedProtocol``, the fast path, used whenever the running loop
is asyncio or uvloop) and :mod:`.anyio_driver` (any anyio ``ByteStream``: trio, TLS, Unix). The public
module :mod:`.streams` runs a channel over a stream someone already upgraded, or an in-memory pair.
"""

from __future__ import annotations

from .backend import RawBackend, backend

__all__ = ["RawBackend", "backend"]
