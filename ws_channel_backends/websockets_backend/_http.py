"""Handshake data between websockets and ws-channel, and the server hooks that run the core's checks.

websockets calls ``process_request(connection, request)`` before it judges the request and
``process_response(connection, request, response)`` with the response about to be sent (asyncio and
trio alike). :func:`server_hooks` builds both from the server's options: the first runs
:func:`~ws_channel_core.hooks.answer_upgrade_request` (the user's hook, then the shared 426/400
checks), so a plain GET gets ws-channel's answer, not websockets'; the second adds ``headers`` to
the 101 and runs the user's ``process_response``. Conversions keep every header, in order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from websockets.datastructures import Headers as WsHeaders
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse

from ws_channel_core.hooks import answer_upgrade_request, run_process_response
from ws_channel_core.http import MAX_BODY_BYTES, Address, Headers, Request, Response
from ws_channel_core.options import ServerOptions

__all__ = ["core_request", "core_response", "ws_response", "refusal", "server_hooks"]

#: Attribute of a websockets server connection holding the refusal ws-channel decided on.
_REFUSAL = "_ws_channel_refusal"


def core_request(request: WsRequest, remote_address: Address) -> Request:
    """The websockets request as a core :class:`Request` (headers in wire order, duplicates kept)."""
    return Request(request.path, Headers(request.headers.raw_items()), remote_address, request.method)


def core_response(response: WsResponse) -> Response:
    """The websockets response as a core :class:`Response` (body cut at ``MAX_BODY_BYTES``)."""
    return Response(
        response.status_code,
        Headers(response.headers.raw_items()),
        bytes(response.body or b"")[:MAX_BODY_BYTES],
        response.reason_phrase,
    )


def ws_response(response: Response) -> WsResponse:
    """A core response as websockets sends it: exactly its headers, in order, and its body."""
    return WsResponse(response.status, response.reason, WsHeaders(response.headers.items()), response.body)


def refusal(response: Response) -> WsResponse:
    """A refusal as sent: its headers, ``Content-Length``, ``Connection: close`` unless set, the body."""
    headers = WsHeaders([(k, v) for k, v in response.headers if k.lower() != "content-length"])
    headers["Content-Length"] = str(len(response.body))
    if "Connection" not in response.headers:
        headers["Connection"] = "close"
    return WsResponse(response.status, response.reason, headers, response.body)


ProcessRequest = Callable[[Any, WsRequest], Awaitable[WsResponse | None]]
ProcessResponse = Callable[[Any, WsRequest, WsResponse], Awaitable[WsResponse | None]]


def server_hooks(options: ServerOptions) -> tuple[ProcessRequest, ProcessResponse]:
    """websockets' ``process_request`` and ``process_response`` for a server with ``options``."""
    user_request_hook = options.process_request
    user_response_hook = options.process_response
    extra_headers = options.headers
    extra_names = {name.lower() for name, _ in extra_headers}

    async def process_request(connection: Any, request: WsRequest) -> WsResponse | None:
        answer = await answer_upgrade_request(
            user_request_hook, core_request(request, connection.remote_address)
        )
        if answer is None:
            return None
        setattr(connection, _REFUSAL, answer)
        return refusal(answer)

    async def process_response(
        connection: Any, request: WsRequest, response: WsResponse
    ) -> WsResponse | None:
        if response.status_code != 101:
            # Ours: send exactly what was decided (websockets added its Server header since).
            # websockets' own refusal (an accept() failure): as it is.
            answer: Response | None = connection.__dict__.pop(_REFUSAL, None)
            return refusal(answer) if answer is not None else None
        if user_response_hook is None and not extra_headers:
            return None
        headers = Headers(
            (k, v) for k, v in response.headers.raw_items() if k.lower() not in extra_names
        )
        for name, value in extra_headers:
            headers.add(name, value)
        upgrade = Response(101, headers, b"", response.reason_phrase)
        final = await run_process_response(
            user_response_hook, core_request(request, connection.remote_address), upgrade
        )
        return ws_response(final) if final.status == 101 else refusal(final)

    return process_request, process_response
