"""The one place where websockets' exceptions become ws-channel's, always chained as ``__cause__``.

Two kinds of translation live here: :func:`map_handshake_errors`, around opening a connection, and
:func:`close_cause`, which explains why an open connection failed (read once it has closed).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from websockets import exceptions as ws_exc

from ws_channel_core.errors import (
    HandshakeTimeout,
    InvalidHandshake,
    InvalidHeader,
    InvalidStatus,
    InvalidURI,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    ServerUnreachable,
    WebSocketChannelError,
)

from ._http import core_response

__all__ = ["map_handshake_errors", "translate_handshake_error", "close_cause"]


def translate_handshake_error(exc: Exception, url: str) -> Exception:
    """Return the ws-channel exception for an error raised while opening a connection to ``url``.

    Order matters: ``TimeoutError`` is a subclass of ``OSError`` on Python 3.11. Failing to reach
    the server (DNS, refused, TLS, no answer in time) is :class:`ServerUnreachable`; on trio a TLS
    failure arrives as ``trio.BrokenResourceError``.
    """
    if isinstance(exc, WebSocketChannelError):
        return exc
    if isinstance(exc, ws_exc.InvalidStatus):
        return InvalidStatus(core_response(exc.response))
    if isinstance(exc, ws_exc.InvalidHeader):
        return InvalidHeader(exc.name, exc.value, str(exc))
    if isinstance(exc, ws_exc.NegotiationError):
        return NegotiationError(str(exc))
    if isinstance(exc, ws_exc.InvalidHandshake):
        return InvalidHandshake(f"opening handshake with {url} failed: {exc}")
    if isinstance(exc, ws_exc.InvalidURI):
        return InvalidURI(f"{url!r} is not a valid WebSocket URL: {exc}")
    if isinstance(exc, ws_exc.InvalidProxy):
        return ValueError(f"invalid proxy: {exc}")
    if isinstance(exc, TimeoutError):
        return HandshakeTimeout(f"could not connect to {url} in time: {exc}")
    if isinstance(exc, OSError) or type(exc).__name__ == "BrokenResourceError":
        return ServerUnreachable(f"could not connect to {url}: {exc}")
    if isinstance(exc, ws_exc.WebSocketException):
        return InvalidHandshake(f"opening handshake with {url} failed: {exc}")
    return exc


@contextmanager
def map_handshake_errors(url: str) -> Iterator[None]:
    """Translate any error raised inside the block by :func:`translate_handshake_error`."""
    try:
        yield
    except Exception as exc:
        translated = translate_handshake_error(exc, url)
        if translated is exc:
            raise
        raise translated from exc


def close_cause(exc: BaseException | None) -> WebSocketChannelError | None:
    """Explain a connection failure recorded by websockets (parser or connection error).

    Returns ``None`` for an abrupt end of the TCP connection: ``close_code`` 1006 says it already.
    """
    error: WebSocketChannelError
    if exc is None or isinstance(exc, (EOFError, OSError)):
        return None
    if isinstance(exc, (ws_exc.PayloadTooBig, ws_exc.TooManyFragments)):
        error = PayloadTooBig(str(exc))
    elif isinstance(exc, ws_exc.ProtocolError):
        error = ProtocolError(str(exc), close_code=1002)
    elif isinstance(exc, UnicodeDecodeError):
        error = ProtocolError(f"invalid UTF-8: {exc.reason} at position {exc.start}", close_code=1007)
    elif isinstance(exc, WebSocketChannelError):
        return exc
    else:
        error = WebSocketChannelError(f"connection failed: {type(exc).__name__}")
    error.__cause__ = exc
    return error
