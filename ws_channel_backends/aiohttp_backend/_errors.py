"""The one boundary where aiohttp's handshake exceptions become ws-channel errors.

``raise ours from native``: the aiohttp exception stays available as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import ClientConnectionError, ClientError, WSServerHandshakeError

from ws_channel_core.errors import (
    HandshakeTimeout,
    InvalidHandshake,
    InvalidHeader,
    InvalidStatus,
    NegotiationError,
    ServerUnreachable,
    WebSocketChannelError,
)
from ws_channel_core.http import Response

__all__ = ["handshake_errors", "translate_handshake_error"]


def _from_refused_upgrade(exc: WSServerHandshakeError, refused: Response | None) -> InvalidHandshake:
    headers = list(exc.headers.items()) if exc.headers is not None else []
    if exc.status != 101:
        if refused is None or refused.status != exc.status:  # a caller's session: no body kept
            refused = Response(exc.status, headers)
        return InvalidStatus(refused)
    found = dict(headers)
    message = exc.message.lower()
    for name in ("Upgrade", "Connection"):
        if name.lower() in message:
            return InvalidHeader(name, found.get(name))
    if "challenge" in message:
        return InvalidHeader("Sec-WebSocket-Accept", found.get("Sec-WebSocket-Accept"))
    return NegotiationError(f"permessage-deflate negotiation failed: {exc.message}")


def translate_handshake_error(
    exc: BaseException, url: str, refused: Response | None = None
) -> BaseException:
    """Return the ws-channel error for ``exc`` raised while connecting, or ``exc`` itself.

    ``refused`` is the whole refused upgrade (reason and body) when it could be kept: aiohttp's
    exception carries only the status and headers.
    """
    if isinstance(exc, WebSocketChannelError):
        return exc
    if isinstance(exc, WSServerHandshakeError):
        return _from_refused_upgrade(exc, refused)
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError and aiohttp's ServerTimeoutError too
        return HandshakeTimeout(f"could not connect to {url} in time: {exc}")
    if isinstance(exc, (ClientConnectionError, OSError)):  # DNS, refused, TLS, dropped before answering
        return ServerUnreachable(f"could not connect to {url}: {exc}")
    if isinstance(exc, ClientError):  # an answer that is not HTTP
        return InvalidHandshake(f"invalid answer from {url}: {exc}")
    return exc


@contextmanager
def handshake_errors(url: str, refusals: list[Response] | None = None) -> Iterator[None]:
    """Translate what the opening handshake raises; ``refusals[-1]``, if any, is a refused upgrade."""
    try:
        yield
    except Exception as exc:
        translated = translate_handshake_error(exc, url, refusals[-1] if refusals else None)
        if translated is exc:
            raise
        raise translated from exc
