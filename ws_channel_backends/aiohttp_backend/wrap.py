"""``wrap()``: hand a WebSocket an aiohttp application opened itself to code written for the interface."""

from __future__ import annotations

from aiohttp import ClientWebSocketResponse, web

from ws_channel_core.options import Options

from . import _native
from .channel import AiohttpChannel

__all__ = ["wrap"]

_DEFAULTS = Options()


def wrap(
    ws: ClientWebSocketResponse[bool] | web.WebSocketResponse[bool],
    *,
    close_timeout: float | None = _DEFAULTS.close_timeout,
    max_queue: int = _DEFAULTS.max_queue,
    ping_interval: float | None = None,
    ping_timeout: float | None = _DEFAULTS.ping_timeout,
) -> AiohttpChannel:
    """Return a ``WebSocketChannel`` over an open aiohttp WebSocket; call it from a running event loop.

    ``ws`` is a ``ClientWebSocketResponse`` from ``ClientSession.ws_connect`` or a prepared
    ``web.WebSocketResponse``. From then on the channel owns it: do not call its ``receive()`` or
    ``close()``. A server handler must keep running until the channel is closed (``await
    channel.done``): aiohttp closes the socket when the handler returns. Pings are answered by the
    channel; aiohttp's own ``heartbeat``, if set on ``ws``, keeps running (its timeout is reported as
    ``KeepaliveTimeout``). ``ping_interval`` adds the channel's keepalive; ``max_size`` and compression
    are whatever ``ws`` was opened with. The mask-bit check (RFC 6455 5.1) that ``connect()`` and
    ``serve()`` put in front of aiohttp's parser cannot be added to a socket already open, so a
    wrapped socket accepts wrongly masked frames, as aiohttp does.

    Raises:
        TypeError: ``ws`` is not an aiohttp WebSocket object.
        ValueError: ``ws`` is not prepared, already closed, or being read by ``receive()``;
            an option is out of range.
    """
    if not isinstance(ws, (ClientWebSocketResponse, web.WebSocketResponse)):
        raise TypeError(
            "wrap() takes an aiohttp ClientWebSocketResponse or web.WebSocketResponse, "
            f"not {type(ws).__name__}"
        )
    Options(close_timeout=close_timeout, max_queue=max_queue, ping_interval=ping_interval,
            ping_timeout=ping_timeout)  # the same range checks as connect() and serve()
    if isinstance(ws, web.WebSocketResponse) and not ws.prepared:
        raise ValueError("the WebSocketResponse is not prepared: await ws.prepare(request) first")
    if ws.closed:
        raise ValueError("the aiohttp WebSocket is already closed")
    if _native.is_receiving(ws):
        raise ValueError("another task is inside receive() on this aiohttp WebSocket")
    return AiohttpChannel(
        ws,
        close_timeout=close_timeout,
        max_queue=max_queue,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
    )
