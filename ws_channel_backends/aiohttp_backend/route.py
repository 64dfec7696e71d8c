"""``websocket_route()``: a ws-channel handler as an ``aiohttp.web`` route handler, in one call.

::

    app = web.Application()
    app.router.add_get("/echo", websocket_route(echo))

Import it from this module (``ws_channel_backends.aiohttp_backend.route``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from ws_channel_core.base import run_handler
from ws_channel_core.channel import Handler
from ws_channel_core.options import DEFAULT_MAX_SIZE, Options

from .options import aiohttp_max_size
from .wrap import wrap

__all__ = ["websocket_route"]

_DEFAULTS = Options()


def websocket_route(
    handler: Handler,
    *,
    protocols: Iterable[str] = (),
    compression: bool = True,
    max_size: int | None = DEFAULT_MAX_SIZE,
    close_timeout: float | None = _DEFAULTS.close_timeout,
    max_queue: int = _DEFAULTS.max_queue,
    ping_interval: float | None = _DEFAULTS.ping_interval,
    ping_timeout: float | None = _DEFAULTS.ping_timeout,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An aiohttp route handler that upgrades the request and runs ``handler(channel)`` on it.

    The channel is closed with 1000 when ``handler`` returns, 1011 when it raises (``run_handler``);
    the route returns once the connection is closed. ``protocols`` are the subprotocols supported
    (the client's order of preference wins), ``compression`` turns permessage-deflate on or off.

    Raises:
        TypeError: ``handler`` is not callable; ValueError: an option is out of range.
    """
    if not callable(handler):
        raise TypeError("handler must be an async callable taking a channel")
    supported = tuple(protocols)
    Options(protocols=supported, max_size=max_size, close_timeout=close_timeout, max_queue=max_queue,
            ping_interval=ping_interval, ping_timeout=ping_timeout)  # the same checks as serve()

    async def handle(request: web.Request) -> web.StreamResponse:
        ws: web.WebSocketResponse[bool] = web.WebSocketResponse(
            protocols=supported,
            compress=compression,
            max_msg_size=aiohttp_max_size(max_size),
            autoclose=False,
            autoping=False,
            timeout=close_timeout or 10.0,
        )
        await ws.prepare(request)
        channel = wrap(
            ws,
            close_timeout=close_timeout,
            max_queue=max_queue,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
        )
        await run_handler(handler, channel)
        await channel.done
        return ws

    return handle
