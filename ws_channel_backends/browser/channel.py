"""``BrowserChannel``: a channel over the WHATWG ``WebSocket`` of the page, through ``pyodide.ffi``.

The browser runs the protocol (framing, masking, pings, the closing handshake, compression when it
negotiates it); this class turns its events into the channel's state:

- ``message`` events go into a queue that ``stream`` reads; ``str`` data is a text message,
  ``ArrayBuffer`` data (``binaryType = "arraybuffer"``) a binary one. A message over ``max_size`` fails
  the connection (close code 1009 where the API lets it through, see below): the browser has already
  received it, since the API offers no way to refuse a message before it is complete.
- The browser cannot pause a socket: messages keep arriving whether or not anyone reads ``stream``.
  While the channel is open they are all kept (``max_queue`` cannot hold the peer back); once closing
  started, those beyond ``max_queue`` that nobody reads are dropped and counted in a debug log.
- ``close`` event: the close code and reason the browser reports are those of the first close frame
  received (RFC 6455 7.1.5, as the WHATWG API defines ``CloseEvent.code``); 1006 when there was none.
- ``close(code, reason)`` calls the socket's ``close(code, reason)`` at once. Browsers accept only
  1000 and 3000-4999 there (and throw otherwise): any other code our policy allows (1001 GOING_AWAY,
  1009 after a message too big...) is sent as 1000 with the same reason, and ``close_sent`` says so.
  Node's ``ws`` package sends them as asked.
- ``add`` waits while ``bufferedAmount`` is above ``write_limit`` (polled: the API has no event for it);
  ``sink.buffered_amount`` is ``bufferedAmount``, and ``add_nowait`` refuses above ``write_limit``.
- What the WHATWG API cannot do: send a ping (``ping()`` raises ``NotImplementedError``; the browser
  answers the server's pings itself, and ``latency`` stays ``None``), send or receive fragments
  (``add_fragments`` sends the joined message, ``receive_fragments`` yields each message as one chunk:
  memory is bounded by ``max_size``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import Any

from ws_channel_core import logs
from ws_channel_core.base import ChannelBase
from ws_channel_core.channel import Message
from ws_channel_core.errors import (
    CloseFrame,
    InvalidHandshake,
    InvalidStatus,
    PayloadTooBig,
    ServerUnreachable,
    WebSocketChannelError,
)
from ws_channel_core.http import Headers, Request, Response
from ws_channel_core.options import DEFAULT_MAX_SIZE

from . import _js

__all__ = ["BrowserChannel", "wrap", "CONNECTING", "OPEN", "CLOSING", "CLOSED"]

#: ``WebSocket.readyState`` values (WHATWG).
CONNECTING, OPEN, CLOSING, CLOSED = 0, 1, 2, 3

#: Seconds between two looks at ``bufferedAmount`` while ``add`` waits for it to drop.
_DRAIN_POLL = 0.005

_EVENTS = ("open", "message", "error", "close")


class BrowserChannel(ChannelBase):
    """A :class:`~ws_channel_core.channel.WebSocketChannel` over a JavaScript ``WebSocket``.

    Build it with :func:`wrap` (a socket the page already has) or through
    ``ws_channel_core.connect()``, which picks this backend by default under Pyodide.
    """

    __slots__ = (
        "_ws", "_queue", "_waiter", "_listeners", "_max_size", "_max_queue", "_write_limit",
        "_close_timer", "_dropped", "_error_message", "_opened",
    )

    def __init__(
        self,
        websocket: Any,
        *,
        max_size: int | None = DEFAULT_MAX_SIZE,
        max_queue: int = 16,
        write_limit: int = 2**16,
        close_timeout: float | None = 10.0,
        request: Request | None = None,
    ) -> None:
        super().__init__(request=request, close_timeout=close_timeout)
        self._ws = websocket
        self._queue: collections.deque[Message] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._max_size = max_size
        self._max_queue = max_queue
        self._write_limit = write_limit
        self._close_timer: asyncio.TimerHandle | None = None
        self._dropped = 0
        self._error_message: str | None = None
        self._opened = False
        websocket.binaryType = "arraybuffer"
        create_proxy = _js.ffi().create_proxy
        handlers = {
            "open": self._on_open,
            "message": self._on_message,
            "error": self._on_error,
            "close": self._on_close,
        }
        self._listeners: list[tuple[str, Any]] = []
        for name in _EVENTS:
            proxy = create_proxy(handlers[name])
            websocket.addEventListener(name, proxy)
            self._listeners.append((name, proxy))
        state = int(websocket.readyState)
        if state == CONNECTING:
            self._connecting = True
        elif state == OPEN:
            self._opened = True
            self._protocol = str(websocket.protocol) or None
        else:  # already closing or closed: no event will tell more
            self._closing = True
            if state == CLOSED:
                self._detach()
                self._record_close()

    # -- the JavaScript events ------------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _on_open(self, event: Any) -> None:
        self._opened = True
        self._connecting = False
        self._protocol = str(self._ws.protocol) or None
        self._wake()

    def _on_message(self, event: Any) -> None:
        data = event.data
        if isinstance(data, str):
            message: Message = data
            # UTF-8 takes at least one byte per character and at most four.
            too_big = self._max_size is not None and 4 * len(data) > self._max_size and (
                len(data) > self._max_size or len(data.encode()) > self._max_size
            )
        else:
            size = int(data.byteLength)
            too_big = self._max_size is not None and size > self._max_size
            message = b"" if too_big else bytes(data.to_bytes())
        if self._closed:
            return
        if too_big:
            self._fail(PayloadTooBig(f"a message is over max_size ({self._max_size} bytes)"), 1009,
                       "message too big")
            return
        if self._closing and len(self._queue) >= self._max_queue:
            # Closing and nobody reads: keep memory bounded (the close event must still come).
            self._dropped += 1
            return
        self._queue.append(message)
        self._wake()

    def _on_error(self, event: Any) -> None:
        # Browsers say nothing about the cause; Node's ws package gives a message (and the status of
        # a refused upgrade). The close event that follows does the bookkeeping.
        message = getattr(event, "message", None)
        if isinstance(message, str) and message:
            self._error_message = message

    def _on_close(self, event: Any) -> None:
        code = int(event.code)
        if code != 1006:
            received = CloseFrame(code, str(event.reason))
            self._note_close_received(received)
            if self._close_sent is None:
                # The browser answered the peer's close frame itself, echoing its code.
                self._note_close_sent(CloseFrame(code, received.reason))
        self._finish()

    # -- internal -------------------------------------------------------------------------------

    def _detach(self) -> None:
        listeners, self._listeners = self._listeners, []
        for name, proxy in listeners:
            try:
                self._ws.removeEventListener(name, proxy)
            finally:
                proxy.destroy()

    def _finish(self) -> None:
        """The connection is gone: stop listening, record the close, wake the reader."""
        self._connecting = False
        self._detach()
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        if self._dropped:
            logs.logger.debug(
                "%s dropped %d message(s) received while closing that nobody read",
                logs.context(self), self._dropped,
            )
        self._record_close()
        self._wake()

    def _send_close(self, code: int | None, reason: str) -> None:
        """Call the socket's ``close()``, falling back to 1000 for codes browsers refuse."""
        ws = self._ws
        if int(ws.readyState) >= CLOSING:
            return  # the browser already sent (or answered) a close frame
        if int(ws.readyState) == CONNECTING:
            ws.close()  # fails the connection: no close frame goes out
            return
        try:
            if code is None:
                ws.close()
            else:
                ws.close(code, reason)
            sent = CloseFrame(1005 if code is None else code, reason)
        except _js.ffi().JsException:
            # InvalidAccessError: the WHATWG API sends only 1000 and 3000-4999.
            ws.close(1000, reason)
            sent = CloseFrame(1000, reason)
        self._note_close_sent(sent)

    def _arm_close_timer(self) -> None:
        if self._close_timeout is None or self._close_timer is not None or self._closed:
            return
        loop = asyncio.get_event_loop()
        self._close_timer = loop.call_later(self._close_timeout, self._on_close_timeout)

    def _on_close_timeout(self) -> None:
        self._close_timer = None
        if not self._closed:
            self._abort_connection()
            self._finish()

    def _fail(self, error: WebSocketChannelError, code: int, reason: str) -> None:
        self._note_error(error)
        if not self._closing:
            self._closing = True
            self._send_close(code, reason)
            self._arm_close_timer()

    async def _wait(self) -> None:
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    # -- ChannelBase primitives ---------------------------------------------------------------

    def _receive_message_nowait(self) -> Message | None:
        return self._queue.popleft() if self._queue else None

    async def _receive_message(self) -> Message | None:
        while True:
            if self._queue:
                return self._queue.popleft()
            if self._closed:
                return None
            await self._wait()

    async def _send_message(self, message: Message) -> None:
        while self._connecting and not self._closing:
            await self._wait()  # a wrapped socket that is still connecting
        if self._closing or int(self._ws.readyState) != OPEN:
            raise self._closed_error()
        if isinstance(message, str):
            self._ws.send(message)
        else:
            self._ws.send(_js.ffi().to_js(message))
        # The API has no event for a draining buffer: poll it (backpressure).
        while int(self._ws.bufferedAmount) > self._write_limit and int(self._ws.readyState) == OPEN:  # noqa: ASYNC110
            await asyncio.sleep(_DRAIN_POLL)

    def _send_message_nowait(self, message: Message) -> bool:
        if self._connecting:
            return False  # a wrapped socket still connecting: nothing can be sent yet
        ws = self._ws
        if int(ws.readyState) != OPEN:
            raise self._closed_error()
        if int(ws.bufferedAmount) > self._write_limit:
            return False
        ws.send(message if isinstance(message, str) else _js.ffi().to_js(message))
        return True

    def _buffered_amount(self) -> int:
        return int(self._ws.bufferedAmount)

    async def _ping(self, payload: bytes) -> float:
        raise NotImplementedError(
            "the browser's WebSocket API cannot send pings (the browser answers the server's pings itself)"
        )

    def _start_close(self, code: int | None, reason: str) -> None:
        self._send_close(code, reason)
        self._arm_close_timer()

    def _abort_connection(self) -> None:
        # The WHATWG API has no abort: stop listening and let the browser close the socket.
        # Best effort: the channel counts as closed whatever the socket does.
        with contextlib.suppress(Exception):
            if int(self._ws.readyState) < CLOSING:
                self._ws.close()
        self._detach()
        self._wake()

    # -- what only this backend has -----------------------------------------------------------

    @property
    def websocket(self) -> Any:
        """The JavaScript ``WebSocket`` underneath (a ``JsProxy``)."""
        return self._ws

    # -- the opening handshake ----------------------------------------------------------------

    async def _wait_open(self, url: str) -> None:
        """Wait for the ``open`` event; raise the handshake error when the socket closed instead."""
        try:
            while self._connecting:
                await self._wait()
        except BaseException:
            self._abort_connection()
            self._finish()
            raise
        if self._opened:
            return  # open, or opened and already closed again (both events came before we woke)
        raise _handshake_error(url, self._error_message)


def _handshake_error(url: str, detail: str | None) -> InvalidHandshake:
    """The error for a socket that closed before opening.

    Browsers never tell why (refused connection, DNS, TLS, an HTTP answer other than 101, a
    subprotocol nobody offered): that is ``InvalidHandshake``. Node's ``ws`` package does tell, and
    its message becomes ``InvalidStatus`` (status only) or ``ServerUnreachable``.
    """
    if detail is None:
        return InvalidHandshake(
            f"the browser could not open {url}; it does not say why (unreachable server, TLS failure, "
            "an HTTP answer other than 101, an unexpected subprotocol...): see the browser's console"
        )
    prefix = "Unexpected server response: "
    if detail.startswith(prefix) and detail[len(prefix):].strip().isdigit():
        status = int(detail[len(prefix):].strip())
        if 100 <= status <= 599:
            return InvalidStatus(Response(status, Headers()))
    if any(word in detail for word in ("ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ETIMEDOUT")):
        return ServerUnreachable(f"could not connect to {url}: {detail}")
    return InvalidHandshake(f"could not open {url}: {detail}")


def wrap(
    websocket: Any,
    *,
    max_size: int | None = DEFAULT_MAX_SIZE,
    max_queue: int = 16,
    write_limit: int = 2**16,
    close_timeout: float | None = 10.0,
) -> BrowserChannel:
    """Turn a JavaScript ``WebSocket`` the page already has into a channel (Dart's
    ``HtmlWebSocketChannel(WebSocket)``).

    The socket may still be connecting (``state`` is then CONNECTING and ``add`` waits for the
    ``open`` event); its ``binaryType`` is set to ``"arraybuffer"``. Messages that arrived before
    the call were delivered to the page's own listeners, not to the channel.

    Raises:
        ImportError: not running under Pyodide.
    """
    _js.require_pyodide()
    return BrowserChannel(
        websocket,
        max_size=max_size,
        max_queue=max_queue,
        write_limit=write_limit,
        close_timeout=close_timeout,
    )

