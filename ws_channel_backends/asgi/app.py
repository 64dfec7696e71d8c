"""Serve a handler from any ASGI server or framework: :func:`asgi_app`, :func:`wrap_asgi`, :func:`wrap`.

The opening handshake over ASGI:

- The server has parsed and checked the upgrade request before the application sees a ``websocket``
  scope, so only ``process_request`` runs there (the core's 426/400 checks are the server's job). A
  plain HTTP request reaching :func:`asgi_app` (``http`` scope) gets the same answers as on every
  backend: ``process_request``'s response (a 200 health check), else the shared 426.
- A refusal (``process_request`` or ``process_response`` returning a response) is sent through the
  ASGI "websocket.http.response" extension (``websocket.http.response.start`` / ``body``) when the
  server lists it in ``scope["extensions"]`` (uvicorn and hypercorn do): status, headers and body as
  given. A server without it can only refuse with ``websocket.close`` before the accept, which it
  answers with **403** and no body: that is the closest ASGI allows.
- The 101 the channel reports (``channel.response``) is built here: ``Upgrade``, ``Connection``,
  ``Sec-WebSocket-Accept``, the chosen ``Sec-WebSocket-Protocol``, then ``headers``, then whatever
  ``process_response`` changed. The headers beyond the first four are sent with ``websocket.accept``;
  the server adds its own (``Sec-WebSocket-Extensions`` when it negotiated compression, ``Date``...).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from ws_channel_core.base import run_handler
from ws_channel_core.channel import Handler
from ws_channel_core.errors import ConnectionClosed, InvalidHandshake
from ws_channel_core.handshake import sign_key
from ws_channel_core.hooks import (
    ProcessRequest,
    ProcessResponse,
    answer_upgrade_request,
    run_process_request,
    run_process_response,
)
from ws_channel_core.http import Address, Headers, HeadersLike, Request, Response
from ws_channel_core.options import DEFAULT_MAX_SIZE, ServerOptions, normalize_headers

from ._types import ASGIApp, Receive, Scope, Send, logger
from .channel import AsgiChannel

__all__ = ["AppOptions", "asgi_app", "wrap_asgi", "wrap", "request_from_scope", "HTTP_RESPONSE_EXTENSION"]

#: The ASGI extension that lets an application answer a WebSocket request with an HTTP response.
HTTP_RESPONSE_EXTENSION = "websocket.http.response"

#: Headers of the 101 the server writes itself; the others go into ``websocket.accept``.
_SERVER_MADE = frozenset(
    {"upgrade", "connection", "sec-websocket-accept", "sec-websocket-protocol", "sec-websocket-extensions"}
)


@dataclass(frozen=True, kw_only=True)
class AppOptions:
    """What an ASGI application controls per connection (the rest is the server's configuration)."""

    protocols: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    close_timeout: float | None = 10.0
    max_size: int | None = DEFAULT_MAX_SIZE
    max_queue: int = 16
    process_request: ProcessRequest | None = None
    process_response: ProcessResponse | None = None
    write_limit: int = 2**16

    @classmethod
    def build(
        cls,
        *,
        protocols: Iterable[str] = (),
        headers: HeadersLike = None,
        close_timeout: float | None = 10.0,
        max_size: int | None = DEFAULT_MAX_SIZE,
        max_queue: int = 16,
        process_request: ProcessRequest | None = None,
        process_response: ProcessResponse | None = None,
    ) -> AppOptions:
        """Check every value as ``serve()`` does (``ValueError`` / ``TypeError``), then build."""
        checked = ServerOptions(
            protocols=tuple(protocols),
            headers=normalize_headers(headers),
            close_timeout=close_timeout,
            max_size=max_size,
            max_queue=max_queue,
            process_request=process_request,
            process_response=process_response,
        )
        return cls.from_server_options(checked)

    @classmethod
    def from_server_options(cls, options: ServerOptions) -> AppOptions:
        return cls(
            protocols=options.protocols,
            headers=options.headers,
            close_timeout=options.close_timeout,
            max_size=options.max_size,
            max_queue=options.max_queue,
            process_request=options.process_request,
            process_response=options.process_response,
            write_limit=options.write_limit,
        )


# -- the scope as a core Request ------------------------------------------------------------------


def _address(value: object) -> Address:
    if isinstance(value, (list, tuple)) and len(value) >= 2:
        return tuple(value)
    return None


def request_from_scope(scope: Scope) -> Request:
    """The core :class:`Request` of an ASGI ``websocket`` or ``http`` scope.

    ``raw_path`` is the request target as sent (``raw_path`` and ``query_string`` of the scope; the
    percent-encoded ``path`` when the server gives no ``raw_path``); header names keep the case the
    server passes (most lowercase them).
    """
    raw = scope.get("raw_path")
    target = raw.decode("latin-1") if raw else quote(str(scope.get("path") or "/"))
    query = scope.get("query_string") or b""
    if query:
        target += "?" + bytes(query).decode("latin-1")
    headers = Headers(
        (bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
        for name, value in scope.get("headers") or ()
    )
    method = str(scope.get("method", "GET")) if scope.get("type") == "http" else "GET"
    return Request(target, headers, _address(scope.get("client")), method)


def _raw_headers(headers: Headers) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


# -- refusing and accepting -----------------------------------------------------------------------


async def _refuse(scope: Scope, send: Send, response: Response) -> None:
    """Answer a WebSocket request with ``response``, or with 403 when the server cannot send one."""
    if HTTP_RESPONSE_EXTENSION in (scope.get("extensions") or {}):
        await send({
            "type": "websocket.http.response.start",
            "status": response.status,
            "headers": _raw_headers(response.headers),
        })
        await send({"type": "websocket.http.response.body", "body": response.body})
    else:
        logger.debug("the ASGI server cannot send HTTP %d: refusing with 403", response.status)
        await send({"type": "websocket.close", "code": 1000})


async def _answer_http(scope: Scope, send: Send, response: Response) -> None:
    headers = response.headers.copy()
    if "Content-Length" not in headers:
        headers.add("Content-Length", str(len(response.body)))
    await send({"type": "http.response.start", "status": response.status, "headers": _raw_headers(headers)})
    await send({"type": "http.response.body", "body": response.body})


def _choose_protocol(offered: Iterable[str], supported: tuple[str, ...]) -> str | None:
    """The first subprotocol the client offered (its order of preference) that the server supports."""
    return next((protocol for protocol in offered if protocol in supported), None)


def _upgrade_response(request: Request, protocol: str | None, options: AppOptions) -> Response:
    headers = Headers([("Upgrade", "websocket"), ("Connection", "Upgrade")])
    key = request.headers.get("Sec-WebSocket-Key")
    if key is not None:
        headers.add("Sec-WebSocket-Accept", sign_key(key.strip()))
    if protocol is not None:
        headers.add("Sec-WebSocket-Protocol", protocol)
    for name, value in options.headers:
        headers.add(name, value)
    return Response(101, headers)


async def _handshake(
    scope: Scope, receive: Receive, send: Send, options: AppOptions, *, hooks: bool
) -> AsgiChannel | None:
    """Accept (or refuse) the WebSocket of ``scope``; ``None`` when refused or already gone."""
    if scope.get("type") != "websocket":
        raise ValueError(f"expected an ASGI 'websocket' scope, not {scope.get('type')!r}")
    event = await receive()
    if event.get("type") != "websocket.connect":  # the client left before the accept
        return None
    request = request_from_scope(scope)
    if hooks:
        refusal = await run_process_request(options.process_request, request)
        if refusal is not None:
            logger.info("rejected %s from %s: HTTP %d", request.path, request.remote_address, refusal.status)
            await _refuse(scope, send, refusal)
            return None
    offered = [str(p) for p in scope.get("subprotocols") or ()] or list(request.subprotocols)
    protocol = _choose_protocol(offered, options.protocols)
    response = _upgrade_response(request, protocol, options)
    if hooks:
        response = await run_process_response(options.process_response, request, response)
        if response.status != 101:
            await _refuse(scope, send, response)
            return None
        protocol = response.headers.get("Sec-WebSocket-Protocol")
    accept: dict[str, object] = {
        "type": "websocket.accept",
        "subprotocol": protocol,
        "headers": [
            (name, value)
            for name, value in _raw_headers(response.headers)
            if name.decode("latin-1") not in _SERVER_MADE
        ],
    }
    await send(accept)
    return AsgiChannel(
        receive,
        send,
        protocol=protocol,
        request=request,
        response=response,
        remote_address=_address(scope.get("client")),
        local_address=_address(scope.get("server")),
        close_timeout=options.close_timeout,
        max_size=options.max_size,
        max_queue=options.max_queue,
        write_limit=options.write_limit,
    )


async def wrap_asgi(
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    protocols: Iterable[str] = (),
    headers: HeadersLike = None,
    close_timeout: float | None = 10.0,
    max_size: int | None = DEFAULT_MAX_SIZE,
    max_queue: int = 16,
) -> AsgiChannel:
    """Accept the WebSocket of a plain ASGI ``websocket`` scope and return it as a channel.

    ``protocols`` are the subprotocols this endpoint supports (the client's order of preference
    wins); ``headers`` are added to the 101. The caller then owns the channel: run a handler with
    ``await run_handler(handler, channel)`` (closes with 1000, or 1011 if it raises).

    Raises:
        ValueError: ``scope`` is not a ``websocket`` scope, or an option is out of range.
        ConnectionClosed: the client left before it could be accepted.
    """
    options = AppOptions.build(
        protocols=protocols, headers=headers, close_timeout=close_timeout, max_size=max_size,
        max_queue=max_queue,
    )
    channel = await _handshake(scope, receive, send, options, hooks=False)
    if channel is None:
        raise ConnectionClosed.for_frames(None, None, None)
    return channel


async def wrap(
    websocket: object,
    *,
    protocols: Iterable[str] = (),
    headers: HeadersLike = None,
    close_timeout: float | None = 10.0,
    max_size: int | None = DEFAULT_MAX_SIZE,
    max_queue: int = 16,
) -> AsgiChannel:
    """Turn a Starlette / FastAPI ``WebSocket`` into a channel, accepting it if the route has not.

    ``await run_handler(handler, await wrap(websocket))`` in a route serves a handler written
    against ``WebSocketChannel``. When the route already called ``websocket.accept()``, the channel
    is built over it as it is (``protocols`` and ``headers`` then do nothing and ``response`` is
    ``None``: what was sent is not known). From then on the channel owns the socket: do not call its
    ``receive_*`` / ``send_*`` methods.

    Raises:
        TypeError: ``websocket`` is not a Starlette ``WebSocket``.
        ConnectionClosed: the client left before it could be accepted.
    """
    from starlette.websockets import WebSocket, WebSocketState

    if not isinstance(websocket, WebSocket):
        raise TypeError(f"wrap() takes a Starlette/FastAPI WebSocket, not {type(websocket).__name__}")
    options = AppOptions.build(
        protocols=protocols, headers=headers, close_timeout=close_timeout, max_size=max_size,
        max_queue=max_queue,
    )
    scope = websocket.scope
    if websocket.client_state == WebSocketState.CONNECTING:
        channel = await _handshake(scope, websocket.receive, websocket.send, options, hooks=False)
        if channel is None:
            raise ConnectionClosed.for_frames(None, None, None)
        return channel
    if websocket.client_state != WebSocketState.CONNECTED:
        raise ConnectionClosed.for_frames(None, None, None)
    return AsgiChannel(
        websocket.receive,
        websocket.send,
        request=request_from_scope(scope),
        remote_address=_address(scope.get("client")),
        local_address=_address(scope.get("server")),
        close_timeout=options.close_timeout,
        max_size=options.max_size,
        max_queue=options.max_queue,
    )


# -- the application ------------------------------------------------------------------------------


class WebSocketApp:
    """The ASGI application :func:`asgi_app` returns; ``channels`` are the connections it serves."""

    def __init__(self, handler: Handler, options: AppOptions) -> None:
        self.handler = handler
        self.options = options
        self.channels: set[AsgiChannel] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "http":
            response = await answer_upgrade_request(self.options.process_request, request_from_scope(scope))
            assert response is not None  # a plain HTTP request is never a valid upgrade
            await _answer_http(scope, send, response)
        elif kind == "lifespan":
            await _lifespan(receive, send)
        else:
            raise ValueError(f"unsupported ASGI scope type {kind!r}")

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            channel = await _handshake(scope, receive, send, self.options, hooks=True)
        except (OSError, InvalidHandshake) as exc:  # the client left during the handshake
            logger.debug("handshake ended early: %r", exc)
            return
        if channel is None:
            return
        self.channels.add(channel)
        try:
            await run_handler(self.handler, channel)
        finally:
            self.channels.discard(channel)

    async def close_all(self, code: int = 1001) -> None:
        """Close every open connection with ``code`` (1001, going away), each within its close timeout."""
        import anyio

        async with anyio.create_task_group() as group:
            for channel in list(self.channels):
                group.start_soon(functools.partial(_close, channel, code))


async def _close(channel: AsgiChannel, code: int) -> None:
    await channel.close(code)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        event = await receive()
        kind = event.get("type")
        if kind == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif kind == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def asgi_app(
    handler: Handler,
    *,
    protocols: Iterable[str] = (),
    headers: HeadersLike = None,
    close_timeout: float | None = 10.0,
    max_size: int | None = DEFAULT_MAX_SIZE,
    max_queue: int = 16,
    process_request: ProcessRequest | None = None,
    process_response: ProcessResponse | None = None,
) -> ASGIApp:
    """An ASGI application that runs ``handler(channel)`` for each WebSocket connection.

    Mount it in any ASGI server (``uvicorn module:app``) or framework (Starlette ``Mount``, FastAPI
    ``app.mount``). Each connection is handed to ``handler`` through ``run_handler`` (closed with
    1000 when it returns, 1011 when it raises). ``process_request`` / ``process_response`` work as
    in ``serve()``; a plain HTTP request gets ``process_request``'s answer or 426. ``lifespan`` is
    acknowledged.

    Only what an application controls is here. Keepalive pings, compression, the server's own size
    limit and the handshake timeout are the ASGI server's settings (``uvicorn --ws-ping-interval``);
    ``serve(handler, backend="asgi")`` maps every option onto uvicorn.

    Raises:
        ValueError, TypeError: an option is out of range.
    """
    if not callable(handler):
        raise TypeError("handler must be an async callable taking a channel")
    options = AppOptions.build(
        protocols=protocols,
        headers=headers,
        close_timeout=close_timeout,
        max_size=max_size,
        max_queue=max_queue,
        process_request=process_request,
        process_response=process_response,
    )
    return WebSocketApp(handler, options)
