"""``connect_app()``: a client for an ASGI application object, in memory, without a network.

Test a FastAPI or Starlette WebSocket route (or any ASGI application) through the ``WebSocketChannel``
interface, as httpx-ws and Starlette's ``TestClient`` do for their own APIs::

    async with connect_app(app, "ws://testserver/echo") as channel:
        await channel.sink.add("hello")
        assert await anext(channel.stream) == "hello"

The application runs as a task on the current event loop (asyncio or trio). This client plays both the
client and the ASGI server: it sends ``websocket.connect``, and answers like uvicorn does:

- ``websocket.accept`` opens the channel (``channel.response`` is the 101 with the accept's headers);
- a refusal raises :class:`~ws_channel_core.InvalidStatus` with the response: the one sent through
  ``websocket.http.response.*``, 403 for a ``websocket.close`` before the accept, 500 when the
  application returned or raised before accepting (its exception is the ``__cause__``);
- a close frame either side sends is answered at once with the same code, as servers do; an
  application that returns without closing drops the connection (1006);
- an exception the application raises after the accept is raised again when the ``async with``
  block exits (``app_error`` holds it), so a failing route fails the test.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator, Iterable
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio

from ws_channel_core import logs
from ws_channel_core.channel import Message
from ws_channel_core.errors import (
    CloseFrame,
    HandshakeTimeout,
    InvalidStatus,
    NegotiationError,
)
from ws_channel_core.handshake import generate_key, sign_key
from ws_channel_core.http import MAX_BODY_BYTES, Address, Headers, HeadersLike, Request, Response
from ws_channel_core.options import ClientOptions, normalize_headers
from ws_channel_core.uri import parse_uri

from ._event_channel import EventChannel
from ._types import ASGIApp, logger, spawn
from ._types import Message as Event

__all__ = ["connect_app", "ConnectApp", "AppClientChannel", "AppDisconnected"]

_APP_DONE = "ws_channel.app_done"  # internal event: the application's coroutine ended


class AppDisconnected(OSError):
    """Raised from the application's ``send`` once the client is gone (like uvicorn's ``ClientDisconnected``).

    An ``OSError``, so Starlette turns it into ``WebSocketDisconnect`` as it does for a real server.
    """


class _Queue:
    """An in-memory queue of ASGI events; ``put`` waits while ``limit`` messages are waiting."""

    __slots__ = ("_items", "_limit", "_changed")

    def __init__(self, limit: int) -> None:
        self._items: deque[Event] = deque()
        self._limit = limit
        self._changed = anyio.Event()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    def put_nowait(self, item: Event) -> None:
        self._items.append(item)
        self._notify()

    def full(self) -> bool:
        return len(self._items) >= self._limit

    def pending_bytes(self) -> int:
        """The size of the messages waiting (UTF-8 for text)."""
        total = 0
        for item in self._items:
            data = item.get("text")
            if data is None:
                data = item.get("bytes")
            if isinstance(data, str):
                total += len(data.encode("utf-8"))
            elif isinstance(data, bytes):
                total += len(data)
        return total

    async def put(self, item: Event) -> None:
        while len(self._items) >= self._limit:
            await self._changed.wait()
        self.put_nowait(item)

    async def get(self) -> Event:
        while not self._items:
            await self._changed.wait()
        item = self._items.popleft()
        self._notify()
        return item


class AppClientChannel(EventChannel):
    """The client side of an in-memory ASGI WebSocket connection."""

    __slots__ = (
        "_to_app", "_from_app", "_gone",
        "_max_queue", "app_error", "_app_done",
    )

    def __init__(
        self,
        to_app: _Queue,
        from_app: _Queue,
        *,
        protocol: str | None,
        request: Request,
        response: Response,
        remote_address: Address,
        local_address: Address,
        close_timeout: float | None,
        max_queue: int,
    ) -> None:
        super().__init__(
            protocol=protocol,
            request=request,
            response=response,
            remote_address=remote_address,
            local_address=local_address,
            close_timeout=close_timeout,
        )
        self._to_app = to_app
        self._from_app = from_app
        self._gone = False  # the application may no longer send (the connection is closing or gone)
        self._max_queue = max_queue
        self._app_done = False
        #: The exception the application raised after the accept, if any.
        self.app_error: BaseException | None = None

    # -- the application's side -----------------------------------------------------------------

    async def app_receive(self) -> Event:
        return await self._to_app.get()

    async def app_send(self, event: Event) -> None:
        if self._gone:
            raise AppDisconnected("the client is gone")
        kind = event.get("type")
        if kind == "websocket.send":
            await self._from_app.put(dict(event))
            if self._gone:  # closed while waiting for room: the message is lost, as on a network
                raise AppDisconnected("the client is gone")
        elif kind == "websocket.close":
            self._gone = True
            code = event.get("code")
            reason = event.get("reason") or ""
            # What uvicorn does: the application sees its own close as the disconnect at once.
            self._to_app.put_nowait({"type": "websocket.disconnect", "code": code or 1000, "reason": reason})
            self._from_app.put_nowait(dict(event))
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} after the accept")

    # -- receiving ------------------------------------------------------------------------------

    async def _next_event(self) -> Event:
        return await self._from_app.get()

    def _handle(self, event: Event) -> None:
        kind = event.get("type")
        if kind == "websocket.send":
            text = event.get("text")
            message: Message = text if text is not None else bytes(event.get("bytes") or b"")
            if self._closing and len(self._buffer) >= self._max_queue:
                logger.debug("closing: dropped an unread message from the application")
                return
            self._buffer.append(message)
        elif kind == "websocket.close":
            code = event.get("code")
            frame = CloseFrame(1000 if code is None else int(code), event.get("reason") or "")
            self._note_close_received(frame)
            self._note_close_sent(frame)  # the answer, as a client library sends it
            self._end()
        elif kind == "ws_channel.echo":  # the server's answer to our close frame
            self._note_close_received(CloseFrame(event["code"], event["reason"]))
            self._end()
        elif kind == _APP_DONE:  # the application returned without closing: the server drops TCP
            self._end()

    def _end(self) -> None:
        self._ended = True
        self._gone = True
        self._record_close()

    # -- sending and closing --------------------------------------------------------------------

    async def _send_message(self, message: Message) -> None:
        if self._gone:
            raise self._closed_error()
        key = "text" if isinstance(message, str) else "bytes"
        await self._to_app.put({"type": "websocket.receive", key: message})

    def _send_message_nowait(self, message: Message) -> bool:
        if self._gone:
            raise self._closed_error()
        if self._to_app.full():
            return False  # the application is that far behind: ``add`` would wait
        key = "text" if isinstance(message, str) else "bytes"
        self._to_app.put_nowait({"type": "websocket.receive", key: message})
        return True

    def _buffered_amount(self) -> int:
        """Bytes of the messages the application has not received yet (the in-memory write buffer)."""
        return self._to_app.pending_bytes()

    async def _ping(self, payload: bytes) -> float:
        raise NotImplementedError("ASGI has no ping: an in-memory ASGI connection cannot be pinged")

    def _start_close(self, code: int | None, reason: str) -> None:
        frame = CloseFrame(1005 if code is None else code, reason)
        self._note_close_sent(frame)
        if self._gone:  # the application is already gone: nobody will answer
            self._end()
            return
        self._gone = True
        self._to_app.put_nowait({"type": "websocket.disconnect", "code": frame.code, "reason": reason})
        # The server echoes the close frame at once, after what the application already sent.
        self._from_app.put_nowait({"type": "ws_channel.echo", "code": frame.code, "reason": reason})
        spawn(self._drain)

    async def _drain(self) -> None:
        with anyio.move_on_after(self._close_timeout):
            while not self._ended:
                await self._pull()
        if not self._ended:
            self._abort_connection()
            self._end()

    def _abort_connection(self) -> None:
        self._ended = True
        scope = self._read_scope
        if scope is not None:
            scope.cancel()
        if not self._gone:
            self._gone = True
            self._to_app.put_nowait({"type": "websocket.disconnect", "code": 1006, "reason": ""})

    def _app_finished(self, error: BaseException | None) -> None:
        self._app_done = True
        if error is not None and self.app_error is None:
            self.app_error = error
        self._from_app.put_nowait({"type": _APP_DONE})


class ConnectApp:
    """The result of :func:`connect_app`: await it for a channel, or use it with ``async with``."""

    def __init__(
        self,
        app: ASGIApp,
        url: str,
        options: ClientOptions,
        client: tuple[str, int],
        raise_app_exceptions: bool,
    ) -> None:
        self.app = app
        self.url = url
        self.options = options
        self.client = client
        self.raise_app_exceptions = raise_app_exceptions
        self._channel: AppClientChannel | None = None

    def __await__(self) -> Generator[Any, None, AppClientChannel]:
        return self._open().__await__()

    def _scope(self, key: str) -> tuple[dict[str, Any], Request]:
        uri = parse_uri(self.url)
        split = urlsplit(uri.resource)
        headers = Headers([
            ("host", uri.host_header),
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-key", key),
            ("sec-websocket-version", "13"),
        ])
        if self.options.protocols:
            headers.add("sec-websocket-protocol", ", ".join(self.options.protocols))
        for name, value in self.options.headers:
            headers.add(name, value)
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": "wss" if uri.secure else "ws",
            "server": (uri.host, uri.port),
            "client": self.client,
            "root_path": "",
            "path": unquote(split.path or "/"),
            "raw_path": (split.path or "/").encode("ascii"),
            "query_string": split.query.encode("ascii"),
            "headers": [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in headers],
            "subprotocols": list(self.options.protocols),
            "extensions": {"websocket.http.response": {}},
            "state": {},
        }
        return scope, Request(uri.resource, headers, (uri.host, uri.port))

    async def _open(self) -> AppClientChannel:
        options = self.options
        key = generate_key()
        scope, request = self._scope(key)
        to_app = _Queue(options.max_queue)
        from_app = _Queue(options.max_queue)
        to_app.put_nowait({"type": "websocket.connect"})
        started: list[AppClientChannel] = []
        failure: list[BaseException] = []

        async def run_app() -> None:
            error: BaseException | None = None
            try:
                await self.app(scope, receive, send)
            except Exception as exc:
                error = exc
                logger.error("the ASGI application raised", exc_info=exc)
            finally:
                if started:
                    started[0]._app_finished(error)
                else:
                    if error is not None:
                        failure.append(error)
                    from_app.put_nowait({"type": _APP_DONE})

        async def receive() -> Event:
            if started:
                return await started[0].app_receive()
            return await to_app.get()

        async def send(event: Event) -> None:
            if started:
                await started[0].app_send(event)
            else:
                await from_app.put(dict(event))

        spawn(run_app)
        try:
            with anyio.fail_after(options.connect_timeout):
                event = await from_app.get()
                kind = event.get("type")
                if kind == "websocket.accept":
                    channel = self._accepted(event, key, request, to_app, from_app)
                    started.append(channel)
                    return channel
                if kind == "websocket.http.response.start":
                    status = int(event["status"])
                    headers = Headers(
                        (bytes(n).decode("latin-1"), bytes(v).decode("latin-1"))
                        for n, v in event.get("headers") or ()
                    )
                    body = b""
                    while True:
                        part = await from_app.get()
                        if part.get("type") != "websocket.http.response.body":
                            break
                        body += bytes(part.get("body") or b"")
                        if not part.get("more_body", False):
                            break
                    response = Response(status, headers, body[:MAX_BODY_BYTES])
                elif kind == "websocket.close":
                    response = Response(403, [("Content-Type", "text/plain; charset=utf-8")])
                else:  # the application ended (or misbehaved) before accepting: the server's 500
                    response = Response(500, [("Content-Type", "text/plain; charset=utf-8")],
                                        "Internal Server Error")
        except TimeoutError as exc:
            to_app.put_nowait({"type": "websocket.disconnect", "code": 1006})
            raise HandshakeTimeout(
                f"the ASGI application did not accept within {options.connect_timeout} s"
            ) from exc
        to_app.put_nowait({"type": "websocket.disconnect", "code": 1006})
        error = InvalidStatus(response)
        if failure:
            raise error from failure[0]
        raise error

    def _accepted(
        self, event: Event, key: str, request: Request, to_app: _Queue, from_app: _Queue
    ) -> AppClientChannel:
        protocol = event.get("subprotocol")
        headers = Headers([
            ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", sign_key(key)),
        ])
        if protocol is not None:
            headers.add("Sec-WebSocket-Protocol", str(protocol))
        for name, value in event.get("headers") or ():
            headers.add(bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
        if protocol is not None and protocol not in self.options.protocols:
            to_app.put_nowait({"type": "websocket.disconnect", "code": 1006})
            raise NegotiationError(f"the application chose subprotocol {protocol!r}, which was not offered")
        channel = AppClientChannel(
            to_app,
            from_app,
            protocol=None if protocol is None else str(protocol),
            request=request,
            response=Response(101, headers),
            remote_address=request.remote_address,
            local_address=self.client,
            close_timeout=self.options.close_timeout,
            max_queue=self.options.max_queue,
        )
        logs.opened(channel)
        return channel

    async def __aenter__(self) -> AppClientChannel:
        self._channel = await self._open()
        return self._channel

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        channel, self._channel = self._channel, None
        if channel is None:
            return
        failed = exc_type is not None and issubclass(exc_type, Exception)
        await channel.sink.close(1011 if failed else 1000)
        if not failed and self.raise_app_exceptions and channel.app_error is not None:
            raise channel.app_error


def connect_app(
    app: ASGIApp,
    url: str = "ws://testserver/",
    *,
    protocols: Iterable[str] = (),
    headers: HeadersLike = None,
    connect_timeout: float | None = 10.0,
    close_timeout: float | None = 10.0,
    max_queue: int = 16,
    client: tuple[str, int] = ("127.0.0.1", 50000),
    raise_app_exceptions: bool = True,
) -> ConnectApp:
    """Connect to the ASGI application ``app`` in memory: no socket, no server.

    ``channel = await connect_app(app, url)`` returns an open channel; ``async with`` also closes it
    on exit (1000, or 1011 when the block raised), then raises what the application raised, if it
    did (``raise_app_exceptions=False`` keeps it in ``channel.app_error`` only). ``url`` gives the
    path, query and ``Host`` of the request; ``client`` is the address the application sees.

    Raises:
        ValueError: the URL is not ws:// or wss://; an option is out of range.
        InvalidStatus: (when awaited) the application refused the WebSocket; the response is the one
            it sent, 403 for a close before the accept, 500 when it ended or raised first.
        NegotiationError: the application chose a subprotocol that was not offered.
        HandshakeTimeout: the application did not answer within ``connect_timeout``.
    """
    options = ClientOptions(
        protocols=tuple(protocols),
        headers=normalize_headers(headers),
        connect_timeout=connect_timeout,
        close_timeout=close_timeout,
        max_queue=max_queue,
    )
    parse_uri(url)  # a bad URL raises here, before anything runs
    return ConnectApp(app, url, options, client, raise_app_exceptions)

