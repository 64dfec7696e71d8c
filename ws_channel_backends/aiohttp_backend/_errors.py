"""The one boundary where aiohttp's handshake exceptions become ws-channel errors.

``raise ours from native``: the aiohttp exception stays available as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import ClientError, WSServerHandshakeError

from ws_channel_core.errors import (
    HandshakeTimeout,
    InvalidHandshake,
    InvalidHeader,
    InvalidStatus,
    NegotiationError,
    WebSocketChannelError,
)
from ws_channel_core.http import MAX_BODY_BYTES, Response

__all__ = ["handshake_errors", "translate_handshake_error"]


def _from_refused_upgrade(exc: WSServerHandshakeError, body: bytes) -> InvalidHandshake:
    headers = dict(exc.headers.items()) if exc.headers is not None else {}
    if exc.status != 101:
        pairs = list(exc.headers.items()) if exc.headers is not None else []
        return InvalidStatus(Response(exc.status, pairs, body[:MAX_BODY_BYTES]))
    message = exc.message.lower()
    for name in ("Upgrade", "Connection"):
        if name.lower() in message:
            return InvalidHeader(name, headers.get(name))
    if "challenge" in message:
        return InvalidHeader("Sec-WebSocket-Accept", headers.get("Sec-WebSocket-Accept"))
    return NegotiationError(f"permessage-deflate negotiation failed: {exc.message}")


def translate_handshake_error(exc: BaseException, url: str, body: bytes = b"") -> BaseException:
    """Return the ws-channel error for ``exc`` raised while connecting, or ``exc`` itself.

    ``body`` is the body of a refused upgrade when it could be read (aiohttp discards it).
    """
    if isinstance(exc, WebSocketChannelError):
        return exc
    if isinstance(exc, WSServerHandshakeError):
        return _from_refused_upgrade(exc, body)
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError and aiohttp's ServerTimeoutError too
        return HandshakeTimeout(f"could not connect to {url} in time: {exc}")
    if isinstance(exc, (ClientError, OSError)):
        return InvalidHandshake(f"could not connect to {url}: {exc}")
    return exc


@contextmanager
def handshake_errors(url: str, body: list[bytes] | None = None) -> Iterator[None]:
    """Translate what the opening handshake raises; ``body[-1]``, if any, is a refused upgrade's body."""
    try:
        yield
    except Exception as exc:
        translated = translate_handshake_error(exc, url, body[-1] if body else b"")
        if translated is exc:
            raise
        raise translated from exc
