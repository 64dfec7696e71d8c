"""``serve(handler, backend="asgi")``: :func:`~.app.asgi_app` run by uvicorn, started in-process.

How the options map onto uvicorn (``uvicorn.Config``):

| option | uvicorn |
|---|---|
| ``protocols``, ``headers``, ``process_request``, ``process_response`` | the ASGI application |
| ``max_size`` | ``ws_max_size`` (``None``: no limit), and checked again by the channel |
| ``max_queue`` | the channel; uvicorn itself holds at most one unread message (it pauses reading) |
| ``ping_interval`` / ``ping_timeout`` | ``ws_ping_interval`` / ``ws_ping_timeout`` |
| ``compression`` | ``ws_per_message_deflate`` |
| ``close_timeout`` | the WebSocket protocol's close timer (fixed at 10 s in uvicorn; set per server here) |
| ``connect_timeout`` | a deadline from TCP accept to the upgrade, added to uvicorn's HTTP protocol |
| ``write_limit`` | the transport's write buffer high-water mark |
| ``ssl`` | the listening socket's ``SSLContext`` |

``extra``: ``ws`` picks uvicorn's WebSocket implementation, ``"websockets-sansio"`` (default, what
uvicorn's ``auto`` picks) or ``"wsproto"``. Anything else raises ``ValueError``.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl as ssl_module
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import uvicorn

from ws_channel_core.channel import Handler
from ws_channel_core.errors import KeepaliveTimeout, PayloadTooBig, ProtocolError
from ws_channel_core.handshake import check_upgrade_request
from ws_channel_core.options import ServerOptions

from .app import AppOptions, WebSocketApp, request_from_scope

__all__ = ["AsgiServer", "serve", "WS_IMPLEMENTATIONS", "server_extras"]

#: uvicorn's WebSocket implementations this backend drives (both have a settable close timer).
WS_IMPLEMENTATIONS: Mapping[str, str] = {
    "websockets-sansio": "uvicorn.protocols.websockets.websockets_sansio_impl:WebSocketsSansIOProtocol",
    "wsproto": "uvicorn.protocols.websockets.wsproto_impl:WSProtocol",
}
_EXTRA_KEYS = frozenset({"ws"})
_NO_LIMIT = 10**9  # seconds: "no timeout" for a timer that needs a number
#: Pings answered one by one within a single read; past this many, only the latest is kept.
_PENDING_PINGS = 32
#: After failing a connection, TCP is closed once the peer has been silent this long (seconds).
_DRAIN_IDLE = 0.25


def server_extras(extra: Mapping[str, object]) -> str:
    """Check ``extra``; return the uvicorn WebSocket implementation to use."""
    unknown = sorted(set(extra) - _EXTRA_KEYS)
    if unknown:
        raise ValueError(
            f"unknown extra option(s) for the asgi backend's server: {', '.join(unknown)} "
            f"(allowed: {', '.join(sorted(_EXTRA_KEYS))})"
        )
    ws = extra.get("ws", "websockets-sansio")
    if ws not in WS_IMPLEMENTATIONS:
        raise ValueError(f"extra['ws'] must be one of {', '.join(WS_IMPLEMENTATIONS)}, not {ws!r}")
    return str(ws)


class AsgiServer:
    """The ``WebSocketServer`` yielded by ``serve()``: uvicorn's ``Server`` and the ASGI application."""

    def __init__(self, server: uvicorn.Server, app: WebSocketApp, sockets: list[socket.socket]) -> None:
        self._server = server
        self._app = app
        self._addresses = [(str(name[0]), int(name[1])) for name in (s.getsockname() for s in sockets)]

    @property
    def server(self) -> uvicorn.Server:
        """The uvicorn server underneath."""
        return self._server

    @property
    def app(self) -> WebSocketApp:
        """The ASGI application uvicorn runs."""
        return self._app

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return list(self._addresses)

    @property
    def port(self) -> int:
        return self.addresses[0][1]

    async def serve_forever(self) -> None:
        await anyio.sleep_forever()


class _Events(asyncio.Queue[dict[str, Any]]):
    """uvicorn's queue of events for the application, keeping only the first ``websocket.disconnect``."""

    disconnected = False

    def put_nowait(self, item: dict[str, Any]) -> None:
        if item.get("type") == "websocket.disconnect":
            if self.disconnected:
                return
            self.disconnected = True
        super().put_nowait(item)


def _failure(code: int, reason: str, native: BaseException | None) -> ProtocolError:
    detail = str(native) if native is not None else reason or f"close code {code}"
    return PayloadTooBig(detail) if code == 1009 else ProtocolError(detail, code)


def _fix_sansio_protocol(connection: Any) -> None:
    """Fix two behaviours of uvicorn's websockets ``ServerProtocol``.

    websockets fails a close frame that ends a fragmented message with 1002 (Autobahn 7.1.5),
    although RFC 6455 5.4 lets control frames come between fragments; and a read full of pings keeps
    an event and a pong per ping (a ping flood costs about 130 bytes per ping). Only the stock class
    is switched; the subclass's state has class-level defaults.
    """
    from websockets.server import ServerProtocol

    if type(connection) is ServerProtocol:
        connection.__class__ = _bounded_protocol()


@functools.cache
def _bounded_protocol() -> type[Any]:
    """The ``ServerProtocol`` subclass of :func:`_fix_sansio_protocol` (websockets imported lazily)."""
    from websockets.frames import CLOSE, PING, Frame
    from websockets.server import ServerProtocol

    class BoundedServerProtocol(ServerProtocol):
        _last_ping: object = None
        _last_pong: bytes | None = None

        def recv_frame(self, frame: Frame) -> None:
            if frame.opcode is CLOSE:
                self.current_size = None  # the close ends the unfinished message
            if frame.opcode is not PING:
                super().recv_frame(frame)
                return
            super().recv_frame(frame)
            # A read full of pings would keep a Frame event and a pong per ping until uvicorn
            # handles them. Past a few pending ones, keep only the latest of each while they are
            # adjacent (RFC 6455 5.5.3); a handful of pings in one read all get their pongs.
            events, writes = self.events, self.writes
            if len(events) > _PENDING_PINGS and events[-2] is self._last_ping:
                del events[-2]
            self._last_ping = events[-1] if events else None
            if len(writes) > _PENDING_PINGS and writes[-2] is self._last_pong:
                del writes[-2]
            self._last_pong = writes[-1] if writes else None

    return BoundedServerProtocol


def _websocket_protocol(base: type[Any], options: ServerOptions) -> type[Any]:
    """uvicorn's WebSocket protocol with our close timeout and write limit (uvicorn fixes them).

    For uvicorn's websockets-sansio protocol, the disconnect event also says what uvicorn hides: a
    connection lost without a close frame is 1006 (uvicorn reports 1005, "a close frame without a
    code"), and when uvicorn fails the connection (protocol error, message too big, keepalive
    timeout) the event carries the error and the close frame uvicorn sent, under the keys
    ``ws_channel.error`` and ``ws_channel.close_sent``. A refusal sent through
    ``websocket.http.response`` completes the handshake (uvicorn would log an error).

    After the application's ``websocket.close``, uvicorn reports the disconnect at once and drops
    the messages still arriving; here reading goes on until the peer's close frame, whose code and
    reason the disconnect event then carries (with ``ws_channel.close_received``), as RFC 6455
    7.1.2-7.1.4 describe the closing handshake. Its websockets protocol gets the websockets
    backend's fixes (:func:`_fix_sansio_protocol`).
    """
    close_timeout = _NO_LIMIT if options.close_timeout is None else options.close_timeout
    write_limit = options.write_limit
    sansio = base.__name__ == "WebSocketsSansIOProtocol"

    class Protocol(base):  # type: ignore[misc]
        handshake_complete: bool
        read_paused: bool

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.close_timeout = close_timeout
            self.ws_channel_closing = False  # the application sent websocket.close first
            if sansio:
                self.queue = _Events()
                _fix_sansio_protocol(self.conn)

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            if isinstance(transport, asyncio.WriteTransport):
                transport.set_write_buffer_limits(high=write_limit)
            super().connection_made(transport)

        if sansio:

            def connection_lost(self, exc: Exception | None) -> None:
                if self.handshake_complete:
                    self.queue.put_nowait({"type": "websocket.disconnect", "code": 1006})
                super().connection_lost(exc)

            def keepalive_timeout(self) -> None:
                if not (self.close_sent or self.transport.is_closing()):
                    self.queue.put_nowait({
                        "type": "websocket.disconnect",
                        "code": 1006,
                        "ws_channel.error": KeepaliveTimeout(
                            f"no pong within ping_timeout ({options.ping_timeout} s)"
                        ),
                        "ws_channel.close_sent": (1011, "keepalive ping timeout"),
                    })
                super().keepalive_timeout()

            def handle_parser_exception(self) -> None:
                sent = self.conn.close_sent
                if sent is not None and not self.ws_channel_closing:
                    self.queue.put_nowait({
                        "type": "websocket.disconnect",
                        "code": 1006,
                        "ws_channel.error": _failure(sent.code, sent.reason, self.conn.parser_exc),
                        "ws_channel.close_sent": (sent.code, sent.reason),
                    })
                # uvicorn writes the close frame and closes TCP at once: a peer still sending then
                # gets a reset and may never read the close frame. Half-close and drain instead.
                self.transport.write(b"".join(self.conn.data_to_send()))
                self.close_sent = True
                self._drain_then_close()

            # -- failing cleanly: the close frame reaches a peer that is still sending -------------

            _drain_idle: asyncio.TimerHandle | None = None
            _drain_deadline: asyncio.TimerHandle | None = None

            def _drain_then_close(self) -> None:
                """Stop writing (FIN), discard what still arrives, close TCP at the peer's EOF, after
                a quarter second of silence, or at ``close_timeout``."""
                transport = self.transport
                if transport.is_closing() or self._drain_deadline is not None:
                    return
                if transport.can_write_eof():
                    transport.write_eof()
                self._drain_deadline = self.loop.call_later(close_timeout, transport.close)
                self._drain_idle = self.loop.call_later(_DRAIN_IDLE, transport.close)
                # uvicorn closes TCP when the application returns unless a close timer is armed.
                self.close_timer = self._drain_deadline

            def data_received(self, data: bytes) -> None:
                if self._drain_deadline is not None:
                    if self._drain_idle is not None:
                        self._drain_idle.cancel()
                    self._drain_idle = self.loop.call_later(_DRAIN_IDLE, self.transport.close)
                    return
                super().data_received(data)

            def eof_received(self) -> None:
                if self._drain_deadline is not None:
                    self.transport.close()
                    return
                super().eof_received()

            # -- bounded memory: one buffer per fragmented message, one pending pong --------------

            def handle_text(self, event: Any) -> None:
                self._start_message("text", event)

            def handle_bytes(self, event: Any) -> None:
                self._start_message("bytes", event)

            def _start_message(self, kind: str, event: Any) -> None:
                # uvicorn keeps one bytes object per fragment until the message ends (a 1 MB message
                # in one-byte frames costs over 100 MiB); one growing buffer costs the message size.
                self.curr_msg_data_type = kind
                if event.fin:
                    self.frames = [event.data]
                    self.send_receive_event_to_app()
                else:
                    self.frames = [bytearray(event.data)]

            def handle_cont(self, event: Any) -> None:
                self.frames[0] += event.data
                if event.fin:
                    self.frames = [bytes(self.frames[0])]
                    self.send_receive_event_to_app()

            _held_pong: bytes | None = None

            def handle_ping(self) -> None:
                # RFC 6455 5.5.3 allows answering only the latest ping: while the write buffer is
                # above write_limit (a peer that never reads), keep just the latest pong.
                pong = b"".join(self.conn.data_to_send())
                if self.writable.is_set():
                    self.transport.write(pong)
                else:
                    self._held_pong = pong

            def resume_writing(self) -> None:
                super().resume_writing()
                pong, self._held_pong = self._held_pong, None
                if pong and not self.transport.is_closing():
                    self.transport.write(pong)

            def send_receive_event_to_app(self) -> None:
                if not self.ws_channel_closing:
                    super().send_receive_event_to_app()
                    return
                self.close_sent = False  # uvicorn drops messages once it sent a close frame: keep them
                try:
                    super().send_receive_event_to_app()
                finally:
                    self.close_sent = True

            def handle_close(self, event: Any) -> None:
                received = self.conn.close_rcvd
                if self.ws_channel_closing and received is not None:
                    self.queue.put_nowait({
                        "type": "websocket.disconnect",
                        "code": received.code,
                        "reason": received.reason,
                        "ws_channel.close_received": True,
                    })
                super().handle_close(event)

            async def send(self, message: Any) -> None:
                if (
                    message.get("type") == "websocket.close"
                    and self.handshake_complete
                    and self.initial_response is None
                    and not (self.close_sent or self.disconnected)
                ):
                    await self._ws_channel_close(message)
                    return
                await super().send(message)
                if message.get("type") == "websocket.http.response.body" and not message.get("more_body"):
                    self.handshake_complete = True

            async def _ws_channel_close(self, message: Any) -> None:
                """uvicorn's ``websocket.close``, not reporting the disconnect before the peer's answer."""
                await self.writable.wait()
                if self.disconnected or self.close_sent or self.transport.is_closing():
                    return
                self.conn.send_close(message.get("code", 1000), message.get("reason") or "")
                self.transport.write(b"".join(self.conn.data_to_send()))
                self.close_sent = True
                self.ws_channel_closing = True
                if self.read_paused:
                    self.read_paused = False
                    self.transport.resume_reading()
                self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)

    Protocol.__name__ = Protocol.__qualname__ = f"WsChannel{base.__name__}"
    return Protocol


def _http_protocol(base: type[Any], connect_timeout: float | None) -> type[Any]:
    """uvicorn's h11 protocol with two changes.

    - A request asking for a WebSocket upgrade that the core's ``check_upgrade_request`` refuses
      (version 8, a bad key...) is not handed to uvicorn's WebSocket library, which would answer
      its own 400: it goes to the application as plain HTTP, which answers ``process_request``'s
      response or the shared 426/400 of every backend.
    - A connection not upgraded within ``connect_timeout`` (and not in the middle of an HTTP
      request) is dropped.
    """

    class Protocol(base):  # type: ignore[misc]
        _ws_channel_deadline: asyncio.TimerHandle | None = None

        def _should_upgrade(self) -> bool:
            if not super()._should_upgrade():
                return False
            return check_upgrade_request(request_from_scope(self.scope)) is None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            if connect_timeout is not None:
                loop = asyncio.get_running_loop()
                self._ws_channel_deadline = loop.call_later(
                    connect_timeout, self._ws_channel_expire, transport
                )

        def connection_lost(self, exc: Exception | None) -> None:
            if self._ws_channel_deadline is not None:
                self._ws_channel_deadline.cancel()
            super().connection_lost(exc)

        def _ws_channel_expire(self, transport: asyncio.BaseTransport) -> None:
            if transport.is_closing() or transport.get_protocol() is not self:
                return  # gone, or upgraded to WebSocket
            cycle = getattr(self, "cycle", None)
            if cycle is None or getattr(cycle, "response_complete", True):
                transport.close()

    Protocol.__name__ = Protocol.__qualname__ = f"WsChannel{base.__name__}"
    return Protocol


def _listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves: uvicorn calls ``sys.exit`` when it cannot bind."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    sock = socket.create_server((host, port), family=family, backlog=2048)
    sock.setblocking(False)
    return sock


def _config(app: WebSocketApp, options: ServerOptions, ws: str) -> uvicorn.Config:
    config = uvicorn.Config(
        app,
        ws=ws,
        ws_max_size=sys.maxsize if options.max_size is None else options.max_size,
        ws_ping_interval=options.ping_interval,
        ws_ping_timeout=options.ping_timeout,
        ws_per_message_deflate=options.compression == "deflate",
        http="h11",
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=int((options.close_timeout or 10.0) + 2),
    )
    config.load()
    implementation = uvicorn.importer.import_from_string(WS_IMPLEMENTATIONS[ws])
    config.ws_protocol_class = _websocket_protocol(implementation, options)
    config.http_protocol_class = _http_protocol(config.http_protocol_class, options.connect_timeout)
    if options.ssl is not None:
        if not isinstance(options.ssl, ssl_module.SSLContext):
            raise ValueError("a server needs an ssl.SSLContext with its certificate")
        config.ssl = options.ssl
    return config


@asynccontextmanager
async def serve(handler: Handler, host: str, port: int, options: ServerOptions) -> AsyncIterator[AsgiServer]:
    """Listen on ``host:port`` with uvicorn; see the module docstring for the option mapping."""
    ws = server_extras(options.extra)
    app = WebSocketApp(handler, AppOptions.from_server_options(options))
    config = _config(app, options, ws)
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    sock = _listen(host, port)
    try:
        await server.startup(sockets=[sock])
    except BaseException:
        sock.close()
        raise
    try:
        yield AsgiServer(server, app, [sock])
    finally:
        with anyio.CancelScope(shield=True):
            for listening in server.servers:
                listening.close()  # stop accepting first, then say goodbye
            await app.close_all(1001)
            server.should_exit = True
            await server.shutdown(sockets=[sock])
