"""Server hooks around the opening handshake: ``process_request`` and ``process_response``.

They are part of the backend contract: every backend runs them through :func:`run_process_request`
and :func:`run_process_response`, so a hook sees the same :class:`Request`, may answer with the same
:class:`Response`, and a hook that raises gets the same 500 and log line everywhere.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TypeAlias

from .handshake import check_upgrade_request, error_response
from .http import Request, Response

__all__ = [
    "ProcessRequest",
    "ProcessResponse",
    "run_process_request",
    "run_process_response",
    "answer_upgrade_request",
]

#: ``process_request(request)``: ``None`` to go on with the upgrade, or a ``Response`` sent instead.
ProcessRequest: TypeAlias = Callable[[Request], Response | Awaitable[Response | None] | None]
#: ``process_response(request, response)``: change the 101 in place, or return a replacement.
ProcessResponse: TypeAlias = Callable[
    [Request, Response], Response | Awaitable[Response | None] | None
]

logger = logging.getLogger("ws_channel.server")


def _internal_error() -> Response:
    return error_response(500, "the server failed to process the upgrade request")


async def run_process_request(hook: ProcessRequest | None, request: Request) -> Response | None:
    """Run ``hook`` (plain or async); a ``Response`` it returns refuses the upgrade.

    An exception in the hook is logged and answered with 500; it never reaches the server's loop.
    """
    if hook is None:
        return None
    try:
        result = hook(request)
        if inspect.isawaitable(result):
            result = await result
    except Exception:
        logger.exception("process_request failed for %s from %s", request.path, request.remote_address)
        return _internal_error()
    if result is not None and not isinstance(result, Response):
        logger.error("process_request returned %r, not a Response or None", type(result).__name__)
        return _internal_error()
    return result


async def run_process_response(
    hook: ProcessResponse | None, request: Request, response: Response
) -> Response:
    """Run ``hook`` on the 101 about to be sent; return the response to send (maybe a replacement).

    An exception in the hook is logged and answered with 500 instead of the upgrade.
    """
    if hook is None:
        return response
    try:
        result = hook(request, response)
        if inspect.isawaitable(result):
            result = await result
    except Exception:
        logger.exception("process_response failed for %s from %s", request.path, request.remote_address)
        return _internal_error()
    if result is None:
        return response
    if not isinstance(result, Response):
        logger.error("process_response returned %r, not a Response or None", type(result).__name__)
        return _internal_error()
    return result


async def answer_upgrade_request(
    hook: ProcessRequest | None, request: Request
) -> Response | None:
    """Everything a server decides before upgrading: a bad upgrade's 426/400, then ``process_request``.

    ``process_request`` runs first, so a plain HTTP ``GET /healthz`` can be answered 200 before the
    request is checked as an upgrade. Returns the refusal to send, or ``None`` to upgrade.
    """
    response = await run_process_request(hook, request)
    if response is None:
        response = check_upgrade_request(request)
    if response is not None:
        logger.info(
            "rejected %s %s from %s: HTTP %d",
            request.method, request.path, request.remote_address, response.status,
        )
    return response
