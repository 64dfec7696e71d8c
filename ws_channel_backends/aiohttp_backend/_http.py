"""The HTTP side of the server: aiohttp's request as the core's, and answers sent exactly as hooks left them.

aiohttp adds ``Date``, ``Server`` and ``Content-Type`` to every response and decides the 101's
headers inside ``prepare()``. A server hook (``process_request`` / ``process_response``) must instead
see, and may change, the very response that goes out, so the two classes here override aiohttp's
private ``_prepare_headers`` (and, for the upgrade, ``_handshake`` / ``_pre_start``): written against
aiohttp 3.14, like ``_native`` and ``_mask``.
"""

from __future__ import annotations

from aiohttp import ClientResponse, hdrs, web
from aiohttp.http_websocket import WebSocketWriter
from multidict import CIMultiDict

from ws_channel_core.http import Address, Headers, Request, Response

from ._mask import MaskCheckedWebSocketResponse

__all__ = [
    "RefusalResponse",
    "UpgradeResponse",
    "client_request",
    "client_response",
    "core_request",
    "refusal",
    "sent_response",
]


def core_request(request: web.BaseRequest, remote_address: Address) -> Request:
    """The core ``Request`` for aiohttp's: target as sent, headers in wire order (duplicates kept).

    Raises:
        ValueError: a header value no backend accepts (aiohttp's parser let it through).
    """
    return Request(request.raw_path, Headers(request.headers.items()), remote_address, request.method)


def sent_response(ws: web.WebSocketResponse[bool]) -> Response:
    """The 101 a prepared ``WebSocketResponse`` sent: its status line and headers (exactly, for ours)."""
    return Response(ws.status, ws.headers.items(), b"", ws.reason)


def client_request(response: ClientResponse) -> Request:
    """The upgrade request a client sent, as aiohttp wrote it (target, every header)."""
    sent = response.request_info
    return Request(sent.url.raw_path_qs, Headers(sent.headers.items()), None, sent.method)


def client_response(response: ClientResponse) -> Response:
    """The 101 a client received: every header in order, duplicates (two ``Set-Cookie``) kept."""
    return Response(response.status, response.headers.items(), b"", response.reason or "")


class RefusalResponse(web.Response):
    """A response that refuses the upgrade: the hook's status, reason, headers and body, unchanged.

    aiohttp adds ``Content-Length`` (when absent) and ``Connection: close`` (unless set); nothing else.
    """

    async def _prepare_headers(self) -> None:
        if hdrs.CONNECTION not in self._headers:
            self._headers[hdrs.CONNECTION] = "close"


def refusal(response: Response) -> RefusalResponse:
    """The aiohttp response that sends ``response`` and then closes the connection."""
    answer = RefusalResponse(
        status=response.status,
        reason=response.reason,
        headers=CIMultiDict(response.headers.items()),
        body=response.body,
    )
    answer.force_close()
    return answer


class UpgradeResponse(MaskCheckedWebSocketResponse):
    """The server's ``WebSocketResponse``: its 101 is negotiated first, then sent exactly as given.

    :meth:`negotiate` runs aiohttp's handshake (subprotocol, permessage-deflate, accept key) and returns
    the 101's headers; the caller lets the hooks see and change them and hands the final response to
    :meth:`send_as`; ``prepare()`` then writes exactly that status line and those headers.
    """

    _negotiated: tuple[str | None, int, bool] | None = None
    _final: Response | None = None
    _exact = False

    def negotiate(self, request: web.BaseRequest) -> list[tuple[str, str]]:
        """Negotiate the upgrade; return the 101's headers in order (aiohttp's checks may raise 400)."""
        headers, protocol, compress, notakeover = super()._handshake(request)
        self._negotiated = (protocol, compress, notakeover)
        return list(headers.items())

    def send_as(self, response: Response) -> None:
        """Send ``response`` (a 101) as the answer to the upgrade."""
        self._final = response

    def _handshake(self, request: web.BaseRequest) -> tuple[CIMultiDict[str], str | None, int, bool]:
        if self._negotiated is None:  # prepare() without negotiate(): aiohttp's own way
            return super()._handshake(request)
        protocol, compress, notakeover = self._negotiated
        return CIMultiDict(), protocol, compress, notakeover

    def _pre_start(self, request: web.BaseRequest) -> tuple[str | None, WebSocketWriter]:
        result = super()._pre_start(request)
        final = self._final
        if final is not None:
            headers = self._headers
            headers.clear()
            headers.extend(final.headers.items())
            self.set_status(final.status, final.reason)
            self._final = self._negotiated = None  # the channel keeps the response; free these
            self._exact = True
        return result

    async def _prepare_headers(self) -> None:
        if self._exact:
            return  # the 101 goes out exactly as the hooks left it: no Date, Server or Connection
        await super()._prepare_headers()
