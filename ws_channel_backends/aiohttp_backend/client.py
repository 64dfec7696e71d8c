"""The client role: ``aiohttp.ClientSession.ws_connect`` plus the checks aiohttp leaves out."""

from __future__ import annotations

import ssl as ssl_module
from contextlib import suppress
from types import SimpleNamespace

import anyio
from aiohttp import (
    ClientError,
    ClientResponse,
    ClientSession,
    ClientTimeout,
    ClientWebSocketResponse,
    ClientWSTimeout,
    TraceConfig,
    TraceRequestEndParams,
)

from ws_channel_core.errors import NegotiationError
from ws_channel_core.http import MAX_BODY_BYTES, Response
from ws_channel_core.options import ClientOptions
from ws_channel_core.uri import WebSocketURI

from . import _native
from ._errors import handshake_errors
from ._loops import check_event_loop
from ._mask import MaskCheckedClientWebSocketResponse
from .channel import AiohttpChannel
from .options import aiohttp_max_size, client_extras

__all__ = ["connect"]

def _ssl_argument(
    uri: WebSocketURI, ssl: ssl_module.SSLContext | bool | None
) -> ssl_module.SSLContext | bool:
    if not uri.secure:
        if ssl:
            raise ValueError("ssl was given for a ws:// URL; use wss:// for TLS")
        return True  # aiohttp's default; unused for plain TCP
    if ssl is False:
        raise ValueError("a wss:// URL needs TLS; ssl=False is not allowed")
    return ssl if isinstance(ssl, ssl_module.SSLContext) else True


def _refusal_keeper(refusals: list[Response]) -> TraceConfig:
    """A trace hook that keeps a refused upgrade whole (reason, body) before aiohttp discards it."""

    async def on_request_end(
        session: ClientSession, context: SimpleNamespace, params: TraceRequestEndParams
    ) -> None:
        response: ClientResponse = params.response
        if response.status == 101:
            return
        chunks: list[bytes] = []
        size = 0
        with suppress(ClientError, OSError):
            while size < MAX_BODY_BYTES:
                chunk = await response.content.read(MAX_BODY_BYTES - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        refusals.append(
            Response(response.status, response.headers.items(), b"".join(chunks), response.reason or "")
        )

    trace = TraceConfig()
    trace.on_request_end.append(on_request_end)
    return trace


def _check_negotiation(ws: ClientWebSocketResponse[bool], options: ClientOptions) -> None:
    """Fail on a subprotocol or extension the client did not offer (aiohttp accepts them silently)."""
    headers = _native.response_headers(ws)
    chosen = headers.getall("Sec-WebSocket-Protocol", [])
    if chosen:
        value = ", ".join(chosen)
        if len(chosen) > 1 or "," in value:
            raise NegotiationError(f"the server chose several subprotocols: {value}")
        if value.strip() not in options.protocols:
            offered = ", ".join(options.protocols) or "none"
            raise NegotiationError(f"the server chose subprotocol {value!r}; offered: {offered}")
    if options.compression is None and headers.get("Sec-WebSocket-Extensions"):
        raise NegotiationError(
            f"the server enabled extensions that were not offered: {headers['Sec-WebSocket-Extensions']}"
        )


async def connect(uri: WebSocketURI, options: ClientOptions) -> AiohttpChannel:
    """Open a client connection; see ``AiohttpBackend.connect``."""
    check_event_loop()
    extras = client_extras(options.extra)
    ssl = _ssl_argument(uri, options.ssl)
    refusals: list[Response] = []
    session = extras.session
    owned = session is None
    if session is None:
        session = ClientSession(
            timeout=ClientTimeout(),
            trace_configs=[_refusal_keeper(refusals)],
            ws_response_class=MaskCheckedClientWebSocketResponse,
        )
    try:
        with handshake_errors(uri.url, refusals), anyio.fail_after(options.connect_timeout):
            ws = await session.ws_connect(
                uri.url,
                protocols=options.protocols,
                headers=list(options.headers),
                timeout=ClientWSTimeout(ws_receive=None, ws_close=options.close_timeout),
                autoclose=False,
                autoping=False,
                heartbeat=None,
                compress=15 if options.compression == "deflate" else 0,
                max_msg_size=aiohttp_max_size(options.max_size),
                ssl=ssl,
            )
        try:
            _check_negotiation(ws, options)
        except NegotiationError:
            _native.mark_closed(ws)
            _native.release(ws)
            raise
        _native.set_write_limit(ws, options.write_limit)
        return AiohttpChannel(
            ws,
            close_timeout=options.close_timeout,
            max_queue=options.max_queue,
            max_size=options.max_size,
            ping_interval=options.ping_interval,
            ping_timeout=options.ping_timeout,
            session=session if owned else None,
        )
    except BaseException:
        if owned:
            with anyio.CancelScope(shield=True):
                await session.close()
        raise
