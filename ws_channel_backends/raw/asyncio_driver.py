"""The asyncio driver, the fast path: an ``asyncio.BufferedProtocol`` feeding the engine.

The transport reads into a 256 KiB buffer this driver owns (``get_buffer`` / ``buffer_updated``), so
no read allocates a fresh 256 KiB bytes object, and the engine parses frames straight out of it. The
buffer is shared by every connection of the thread: ``buffer_updated`` hands the bytes to the engine
at once and the engine copies whatever it keeps (a partial header, message parts), so nothing refers
to the buffer between two reads, and an idle connection costs no 64 KiB of its own.
Timers (handshake, keepalive, close) are ``loop.call_later`` handles; the incoming queue is a deque
whose size pauses and resumes reading; sending waits while the transport's write buffer is above
``write_limit`` (``pause_writing`` / ``resume_writing``), and reading pauses meanwhile too, whatever
filled it.

Transports are used by duck typing (``write``, ``pause_reading``, ``get_extra_info``...), so the driver
runs on uvloop as well, whose transports are not ``asyncio.Transport`` subclasses.

The server's handshake runs inside ``buffer_updated`` when no hook is set (no task, no allocation
beyond the request); with ``process_request`` or ``process_response`` it runs in a task, reading
paused meanwhile.

Write coalescing: a frame sent while received messages still wait in the queue (the application is
working through a batch, as an echo or a request/response server does), or sent right after another
one with no wait and no input in between (a sender in a loop), is held in a small "cork" list instead
of costing one ``send`` system call per frame; the cork is written as one piece when the application
comes back to an empty queue, before any other write, at the end of the current event-loop step at
the latest, or as soon as it holds ``write_limit`` bytes. The first frame after a wait or after input
(a round trip, a reply) is written at once, so latency never grows by more than the rest of a step.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

from ws_channel_core.channel import Handler, Message
from ws_channel_core.errors import (
    InvalidHandshake,
)
from ws_channel_core.handshake import error_response, generate_key
from ws_channel_core.hooks import answer_upgrade_request, run_process_response
from ws_channel_core.http import Request, Response
from ws_channel_core.options import ClientOptions, Options, ServerOptions
from ws_channel_core.uri import WebSocketURI

from ._common import make_engine
from .engine import Engine
from .engine.handshake import (
    HttpReader,
    ServerResult,
    accept_request,
    build_request,
    check_response,
    reject_response,
    request_bytes,
    upgrade_response_bytes,
)
from .engine_channel import DRAIN_QUIET, EngineChannel

__all__ = ["AsyncioChannel", "connect", "serve", "AsyncioServer"]

_thread_state = threading.local()
#: Size of the shared read buffer. Reading into a buffer we own costs no allocation, so it can be as
#: large as the transport's own reads (256 KiB): a 1 MiB message then takes 4 trips through the
#: engine instead of 16, and idle connections still pay nothing for it.
BUFFER_SIZE = 2**18
#: A frame with at least this much payload still to come is read into its own buffer directly.
DIRECT_READ_MIN = 2**16

logger = logging.getLogger("ws_channel.raw")
_T = TypeVar("_T")


def _result_now(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine that completes without suspending (the core's hook runners with no hook).

    It keeps the no-hook server handshake synchronous inside ``buffer_updated`` while using the very
    code (checks, answers, log lines) every backend uses.
    """
    try:
        coroutine.send(None)
    except StopIteration as done:
        return cast(_T, done.value)
    coroutine.close()
    raise RuntimeError("a handshake step suspended without a hook")  # pragma: no cover


def _read_buffer() -> memoryview:
    """The read buffer shared by the connections of this thread (see the module docstring)."""
    view: memoryview | None = getattr(_thread_state, "view", None)
    if view is None:
        view = _thread_state.view = memoryview(bytearray(BUFFER_SIZE))
    return view


class _WireProtocol(asyncio.BufferedProtocol):
    """One TCP/TLS/Unix connection: the HTTP upgrade first, then WebSocket frames via the engine."""

    __slots__ = (
        "_direct", "_timer", "_view", "channel", "engine", "handshake_done", "handshaking", "hooks",
        "key", "loop", "lost", "on_open", "options", "reader", "registry", "request", "server_side",
        "transport", "uri",
    )

    def __init__(self, options: Options, *, server_side: bool) -> None:
        self.options = options
        self.server_side = server_side
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self._view = _read_buffer()
        self._direct = False  # the last get_buffer handed out the engine's frame buffer
        self.reader: HttpReader | None = HttpReader()
        self.engine: Engine | None = None
        self.channel: AsyncioChannel | None = None
        self.handshaking = True  # until the upgrade succeeded or failed
        # What connect() awaits (a client's only: nobody awaits a server's handshake).
        self.handshake_done: asyncio.Future[None] | None = None if server_side else self.loop.create_future()
        # A server's set of connections still in their handshake (to abort them when it closes);
        # a connection leaves it once upgraded or lost, so idle connections cost it nothing.
        self.registry: set[_WireProtocol] | None = None
        self.lost = False
        self.key = ""
        self.uri: WebSocketURI | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.on_open: Callable[[AsyncioChannel], None] | None = None
        self.request: Request | None = None  # the client's, until the channel holds it
        self.hooks: asyncio.Task[None] | None = None  # the server's hooks, while they run

    # -- asyncio callbacks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Duck-typed: uvloop's transports have the same methods but are not asyncio.Transport.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=self.options.write_limit)
        if self.server_side:
            timeout = self.options.connect_timeout
            if timeout is not None:
                self._timer = self.loop.call_later(timeout, transport.abort)
        else:
            assert self.uri is not None
            self.key = generate_key()
            self.request = build_request(
                self.uri.host_header,
                self.uri.resource,
                self.key,
                protocols=self.options.protocols,
                compression=self.options.compression is not None,
                headers=self.options.headers,
            )
            transport.write(request_bytes(self.request))

    def get_buffer(self, sizehint: int) -> memoryview:
        engine = self.engine
        if engine is not None:
            # The rest of a large frame is read straight into its message buffer (no copy).
            view = engine.payload_buffer(DIRECT_READ_MIN)
            if view is not None:
                self._direct = True
                return view
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        channel = self.channel
        if self._direct:
            self._direct = False
            assert channel is not None
            channel._feed_direct(nbytes)
        elif channel is not None:
            channel._feed(self._view[:nbytes])
        else:
            self._handshake_data(self._view[:nbytes])

    def eof_received(self) -> bool | None:
        channel = self.channel
        if channel is not None:
            channel._eof()
        elif self.reader is not None:
            self.reader.feed_eof()
            self._handshake_data(b"")
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._timer is not None:
            self._timer.cancel()
        if self.hooks is not None:
            self.hooks.cancel()
        if self.registry is not None:
            self.registry.discard(self)
        if self._in_handshake():
            error = InvalidHandshake("connection lost during the opening handshake")
            error.__cause__ = exc
            self._handshake_failed(error)
        if self.channel is not None:
            self.channel._connection_lost()

    def pause_writing(self) -> None:
        if self.channel is not None:
            self.channel._write_paused = True  # reading reacts in _feed (see _update_reading)

    def resume_writing(self) -> None:
        channel = self.channel
        if channel is not None:
            channel._resume_writing()
            if not self.lost:
                channel._flush()  # the pong held while the buffer was full
                channel._update_reading()

    # -- the opening handshake -----------------------------------------------------------------

    def _handshake_data(self, data: bytes | memoryview) -> None:
        reader = self.reader
        transport = self.transport
        if reader is None or transport is None or not self._in_handshake():
            return
        reader.feed(data)
        if self.hooks is not None:
            return  # the server's hooks run; what arrives meanwhile waits in the reader
        try:
            if self.server_side:
                self._server_handshake(reader, transport)
            else:
                self._client_handshake(reader)
        except InvalidHandshake as exc:
            if self.server_side:
                self._refuse(error_response(400, str(exc)), exc)
            else:
                transport.abort()
                self._handshake_failed(exc)

    def _in_handshake(self) -> bool:
        """Whether the handshake still runs (not upgraded, not failed, no client gave up waiting)."""
        done = self.handshake_done
        return self.handshaking and (done is None or not done.done())

    def _handshake_failed(self, error: InvalidHandshake) -> None:
        self.handshaking = False
        done = self.handshake_done
        if done is not None:
            done.set_exception(error)
            done.exception()  # the waiter may be gone: do not warn about it

    def _refuse(self, response: Response, error: InvalidHandshake | None = None) -> None:
        """Send a refusal (426/400, or a hook's answer) and close the connection."""
        transport = self.transport
        assert transport is not None
        transport.write(reject_response(response))
        transport.close()
        self._handshake_failed(error or InvalidHandshake(f"upgrade refused with HTTP {response.status}"))

    def _client_handshake(self, reader: HttpReader) -> None:
        response = reader.read_response()
        if response is None:
            return
        options = self.options
        result = check_response(
            response, self.key, protocols=options.protocols, compression=options.compression is not None
        )
        request, self.request = self.request, None
        engine = make_engine(options, server_side=False, deflate=result.deflate)
        self._start(engine, result.protocol, request, response)

    def _server_handshake(self, reader: HttpReader, transport: asyncio.Transport) -> None:
        request = reader.read_request(transport.get_extra_info("peername"))
        if request is None:
            return
        options = cast(ServerOptions, self.options)
        if options.process_request is not None or options.process_response is not None:
            transport.pause_reading()
            self.hooks = self.loop.create_task(self._run_hooks(request))
            return
        # No hook: the same checks and answers, run to completion right here.
        refusal = _result_now(answer_upgrade_request(None, request))
        if refusal is not None:
            self._refuse(refusal)
            return
        result = self._accept(request)
        # Only the request's head bytes are kept: the channel parses them again (and rebuilds the
        # 101, which no hook changed) on first access of request / response.
        self._upgrade(None, result, result.response, reader.head)

    async def _run_hooks(self, request: Request) -> None:
        """The server handshake with ``process_request`` / ``process_response`` (reading paused)."""
        options = cast(ServerOptions, self.options)
        try:
            refusal = await answer_upgrade_request(options.process_request, request)
            result: ServerResult | None = None
            response: Response | None = None
            if refusal is None:
                result = self._accept(request)
                response = await run_process_response(options.process_response, request, result.response)
                if response.status != 101:
                    refusal = response
        except Exception:  # pragma: no cover - the core's runners already turn hook errors into 500
            logger.exception("raw backend: server handshake failed")
            refusal = error_response(500, "the server failed to process the upgrade request")
        self.hooks = None
        transport = self.transport
        if self.lost or transport is None:
            return
        if refusal is not None:
            self._refuse(refusal)
            return
        assert result is not None and response is not None
        transport.resume_reading()  # takes effect from the next loop iteration
        self._upgrade(request, result, response)

    def _accept(self, request: Request) -> ServerResult:
        options = self.options
        return accept_request(
            request,
            protocols=options.protocols,
            compression=options.compression is not None,
            headers=options.headers,
        )

    def _upgrade(
        self, request: Request | None, result: ServerResult, response: Response, head: bytes | None = None
    ) -> None:
        transport = self.transport
        assert transport is not None
        transport.write(upgrade_response_bytes(response))
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        engine = make_engine(self.options, server_side=True, deflate=result.deflate)
        if head is not None:
            self._start(engine, result.protocol, None, None, head)
        else:
            self._start(engine, result.protocol, request, response)

    def _start(
        self,
        engine: Engine,
        protocol: str | None,
        request: Request | None,
        response: Response | None,
        head: bytes | None = None,
    ) -> None:
        reader = self.reader
        assert reader is not None
        self.reader = None
        self.engine = engine
        self.handshaking = False
        if self.registry is not None:
            self.registry.discard(self)
            self.registry = None
        channel = AsyncioChannel(self, engine, protocol, request, response, head)
        self.channel = channel
        if self.handshake_done is not None:
            self.handshake_done.set_result(None)
        if self.on_open is not None:
            self.on_open(channel)
        leftover = bytes(reader.buffer)
        if leftover:
            channel._feed(leftover)
        if reader.eof:
            channel._eof()


class AsyncioChannel(EngineChannel):
    """A WebSocket channel run by the asyncio driver."""

    __slots__ = (
        "_burst", "_close_timer", "_cork", "_cork_scheduled", "_cork_size", "_drain_seen", "_drain_timer",
        "_drain_waiters", "_draining", "_failure_timer", "_loop", "_options", "_ping_timer",
        "_reading_paused", "_transport", "_waiter", "_wire", "_write_paused",
    )

    def __init__(
        self,
        wire: _WireProtocol,
        engine: Engine,
        protocol: str | None,
        request: Request | None,
        response: Response | None,
        request_head: bytes | None = None,
    ) -> None:
        transport = wire.transport
        assert transport is not None
        options = wire.options
        super().__init__(
            engine,
            protocol=protocol,
            max_queue=options.max_queue,
            request_head=request_head,
            server_side=wire.server_side,
            request=request,
            response=response,
            remote_address=transport.get_extra_info("peername"),
            local_address=transport.get_extra_info("sockname"),
            close_timeout=options.close_timeout,
        )
        self._wire = wire
        self._transport = transport
        self._loop = wire.loop
        self._options = options
        self._waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._cork: list[bytes] = []
        self._cork_size = 0
        self._cork_scheduled = False
        self._burst = False  # a frame went straight to the transport and this task has not waited since
        self._close_timer: asyncio.TimerHandle | None = None
        self._failure_timer: asyncio.TimerHandle | None = None
        self._drain_timer: asyncio.TimerHandle | None = None
        self._draining = False
        self._drain_seen = False
        self._ping_timer: asyncio.TimerHandle | None = None
        if options.ping_interval is not None:
            self._ping_timer = self._loop.call_later(options.ping_interval, self._keepalive_ping)

    # -- incoming ------------------------------------------------------------------------------

    def _feed_direct(self, nbytes: int) -> None:
        """``nbytes`` of a frame's payload were read into the engine's frame buffer."""
        engine = self._engine
        engine.payload_received(nbytes)
        self._after_input(engine)

    def _feed(self, data: bytes | memoryview) -> None:
        engine = self._engine
        engine.receive_data(data)
        self._after_input(engine)

    def _after_input(self, engine: Engine) -> None:
        self._burst = False  # a new loop step: the next frame sent goes out at once
        self._dispatch(engine.events_received())
        queue = self._queue
        if queue or self._ended:
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        closing = engine.close_expected()
        if (self._cork or engine.output_pending or closing) and (not self._write_paused or closing):
            self._flush()  # while the write buffer is full, the pong waits in the engine's slot
        if (len(queue) >= self._max_queue or self._write_paused) and not self._reading_paused:
            self._update_reading()

    def _arm_failure_timer(self, timeout: float) -> None:
        if self._failure_timer is None:
            self._failure_timer = self._loop.call_later(timeout, self._fail_pending)

    def _fail_pending(self) -> None:
        if self._engine.failure_pending and not self._wire.lost:
            self._engine.fail_pending()
            self._flush()

    def _flush(self) -> None:
        if self._cork:
            self._uncork()  # frames already sent by the application go first
        engine = self._engine
        data = engine.data_to_send()
        transport = self._transport
        if data and not transport.is_closing():
            transport.write(data)
        self._note_sent()
        if engine.should_close_transport:
            self._end_stream()
            if self._draining:
                self._drain_seen = True  # bytes still arrive (each read ends in a flush)
                if engine.eof_received:
                    transport.close()
            elif not transport.is_closing():
                if engine.close_received is None and not engine.eof_received:
                    self._drain_then_close()
                else:
                    transport.close()
            self._arm_close_timer()
        elif engine.close_expected():
            self._arm_close_timer()

    def _drain_then_close(self) -> None:
        """After failing, stop writing and drain what still arrives, then close TCP.

        Closing with unread data makes the kernel send a reset, which can destroy our close frame in
        the peer's buffers; so we half-close (FIN after the close frame), read and discard until the
        peer's EOF or ``DRAIN_QUIET`` seconds without data, then close; the close timer bounds it.
        """
        self._draining = True
        transport = self._transport
        if transport.can_write_eof():
            transport.write_eof()
        self._reading_paused = False
        transport.resume_reading()
        self._drain_timer = self._loop.call_later(DRAIN_QUIET, self._drain_check)

    def _drain_check(self) -> None:
        if self._drain_seen:
            self._drain_seen = False
            self._drain_timer = self._loop.call_later(DRAIN_QUIET, self._drain_check)
        else:
            self._drain_timer = None
            self._transport.close()

    def _arm_close_timer(self) -> None:
        if self._close_timer is None and not self._wire.lost:
            timeout = self._options.close_timeout
            if timeout is not None:
                self._close_timer = self._loop.call_later(timeout, self._transport.abort)

    def _eof(self) -> None:
        self._engine.receive_eof()
        self._flush()

    def _end_stream(self) -> None:
        self._ended = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _connection_lost(self) -> None:
        if not self._engine.eof_received:
            self._engine.receive_eof()
        for timer in (self._close_timer, self._ping_timer, self._failure_timer, self._drain_timer):
            if timer is not None:
                timer.cancel()
        self._end_stream()
        self._resume_writing()
        self._record_close()

    def _receive_message_nowait(self) -> Message | None:
        queue = self._queue
        if not queue:
            return None
        message = queue.popleft()
        if self._closing:
            self._consuming = True
        if self._reading_paused and len(queue) < self._max_queue:
            self._update_reading()
        return message

    async def _receive_message(self) -> Message | None:
        queue = self._queue
        while not queue:
            if self._cork:
                self._uncork()  # the batch is answered: write it before waiting
            if self._ended:
                if self._engine.failure_pending:
                    self._fail_pending()  # every message before the peer's error was read
                await self._bookkeeping_final()
                return None
            self._burst = False
            waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
            queue = self._queue  # the first message replaces the shared empty queue
        message = queue.popleft()
        if self._closing:
            self._consuming = True
        if self._reading_paused and len(queue) < self._max_queue:
            self._update_reading()
        return message

    def _reader_waiting(self) -> bool:
        return self._waiter is not None

    def _update_reading(self) -> None:
        """Pause or resume reading (``_reading_paused`` is the transport's state, whatever the cause).

        Reading pauses while ``max_queue`` messages wait (except while closing with nobody reading,
        see :class:`EngineChannel`), and while the write buffer is above ``write_limit`` with no
        sender waiting for room: then only the peer fills it (pongs, a close answer), and a peer
        that sends without reading cannot grow our memory. With a sender waiting, reading goes on
        (holding the pong): two peers that both stopped reading while both send would wait forever.
        Never while draining after a failure.
        """
        if self._wire.lost:
            return
        pause = not self._draining and (
            self._queue_blocks_reading() or (self._write_paused and not self._drain_waiters)
        )
        if pause != self._reading_paused:
            self._reading_paused = pause
            if pause:
                self._transport.pause_reading()
            else:
                self._transport.resume_reading()

    # -- outgoing ------------------------------------------------------------------------------

    def _write_pieces(self, pieces: list[bytes]) -> bool:
        if len(pieces) == 1:
            data = pieces[0]
            cork = self._cork
            if self._queue or cork or self._burst:
                # More received messages wait to be handled, or the sender sends again without having
                # waited: coalesce (see the module docstring).
                cork.append(data)
                self._cork_size += len(data)
                if self._cork_size >= self._options.write_limit:
                    self._uncork()
                elif not self._cork_scheduled:
                    self._cork_scheduled = True
                    self._loop.call_soon(self._uncork_soon)
            else:
                self._transport.write(data)
                self._burst = True
        else:
            # A large frame (header, payload) or frames behind a pong: each piece as it is, no join.
            if self._cork:
                self._uncork()
            write = self._transport.write
            for piece in pieces:
                write(piece)
        return self._write_paused

    def _above_write_limit(self) -> bool:
        return self._write_paused

    def _write_buffer_size(self) -> int:
        return self._cork_size + self._transport.get_write_buffer_size()

    def _write_soon(self) -> None:
        pass  # written to the transport, or coalesced and written on the next loop iteration

    async def _wait_for_room(self) -> None:
        self._burst = False
        waiter = self._loop.create_future()
        self._drain_waiters.append(waiter)
        if self._reading_paused:
            self._update_reading()  # a sender waits for room: reading must go on
        await waiter

    def _uncork(self) -> None:
        """Write the coalesced frames as one piece."""
        cork = self._cork
        data = cork[0] if len(cork) == 1 else b"".join(cork)
        cork.clear()
        self._cork_size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def _uncork_soon(self) -> None:
        self._cork_scheduled = False
        self._burst = False
        if self._cork:
            self._uncork()

    def _resume_writing(self) -> None:
        self._write_paused = False
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _transport_gone(self) -> bool:
        return self._wire.lost

    def _close_queued(self) -> None:
        if self._reading_paused:
            self._update_reading()  # nobody reads: the peer's close frame must still be seen
        self._flush()  # writes the close frame and arms the close timer

    def _abort_connection(self) -> None:
        self._transport.abort()

    # -- keepalive -----------------------------------------------------------------------------

    def _keepalive_ping(self) -> None:
        if self._wire.lost or not self._queue_keepalive_ping():
            return
        self._flush()
        timeout = self._options.ping_timeout
        if timeout is not None:
            self._ping_timer = self._loop.call_later(timeout, self._keepalive_timeout)

    def _pong_received(self) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
        interval = self._options.ping_interval
        if interval is not None:
            self._ping_timer = self._loop.call_later(interval, self._keepalive_ping)

    def _keepalive_timeout(self) -> None:
        if self._wire.lost:
            return
        self._keepalive_failed(self._options.ping_timeout)
        self._flush()


def _ssl_for_client(uri: WebSocketURI, options: ClientOptions) -> ssl_module.SSLContext | None:
    if not uri.secure:
        return None
    if isinstance(options.ssl, ssl_module.SSLContext):
        return options.ssl
    return ssl_module.create_default_context()


async def connect(uri: WebSocketURI, options: ClientOptions) -> AsyncioChannel:
    """Open a client connection on the running asyncio loop and complete the handshake."""
    loop = asyncio.get_running_loop()
    wire = _WireProtocol(options, server_side=False)
    wire.uri = uri
    ssl = _ssl_for_client(uri, options)
    path = options.extra.get("unix_socket")
    if isinstance(path, str):
        transport, _ = await loop.create_unix_connection(
            lambda: wire, path, ssl=ssl, server_hostname=uri.host if ssl else None
        )
    else:
        transport, _ = await loop.create_connection(
            lambda: wire, uri.host, uri.port, ssl=ssl, server_hostname=uri.host if ssl else None
        )
    assert wire.handshake_done is not None
    try:
        await wire.handshake_done
    except BaseException:
        transport.abort()
        raise
    assert wire.channel is not None
    return wire.channel


class AsyncioServer:
    """A listening server (the ``WebSocketServer`` interface) on asyncio."""

    def __init__(self, server: asyncio.Server) -> None:
        self._server = server
        # Taken now: the sockets are gone once the server is closed, the addresses stay readable.
        self._addresses: list[tuple[str, int]] = []
        for sock in server.sockets:
            name = sock.getsockname()
            if isinstance(name, tuple):
                self._addresses.append((str(name[0]), int(name[1])))

    @property
    def port(self) -> int:
        return self._addresses[0][1] if self._addresses else 0

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return list(self._addresses)

    async def serve_forever(self) -> None:
        await asyncio.Event().wait()


@asynccontextmanager
async def serve(
    handler: Handler, host: str, port: int, options: ServerOptions
) -> AsyncIterator[AsyncioServer]:
    """Listen with the asyncio driver; leaving the block closes open connections with 1001."""
    loop = asyncio.get_running_loop()
    # The handler task of each open connection, and its channel. No wrapper coroutine per
    # connection: a done callback does its end (idle memory).
    running: dict[asyncio.Future[None], AsyncioChannel] = {}
    handshaking: set[_WireProtocol] = set()  # connections still in their opening handshake

    def finished(task: asyncio.Future[None]) -> None:
        channel = running.pop(task, None)
        if channel is not None:
            channel.close(1000)  # no-op when the handler closed it

    def on_open(channel: AsyncioChannel) -> None:
        task = asyncio.ensure_future(handler(channel), loop=loop)  # the front door wrapped it (run_handler)
        running[task] = channel
        task.add_done_callback(finished)

    def factory() -> _WireProtocol:
        wire = _WireProtocol(options, server_side=True)
        wire.on_open = on_open
        wire.registry = handshaking
        handshaking.add(wire)
        return wire

    ssl = options.ssl if isinstance(options.ssl, ssl_module.SSLContext) else None
    path = options.extra.get("unix_socket")
    make: Callable[[], _WireProtocol] = factory
    if isinstance(path, str):
        server = await loop.create_unix_server(make, path, ssl=ssl)
    else:
        server = await loop.create_server(make, host, port, ssl=ssl)
    try:
        yield AsyncioServer(server)
    finally:
        server.close()
        for wire in list(handshaking):
            if wire.channel is None and wire.transport is not None:
                wire.transport.abort()  # a handshake still in progress
        closing = [asyncio.ensure_future(_close(ch, 1001)) for ch in list(running.values())]
        if closing:
            await asyncio.gather(*closing, return_exceptions=True)
        if running:
            _, pending = await asyncio.wait(set(running), timeout=options.close_timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        await server.wait_closed()


async def _close(channel: AsyncioChannel, code: int) -> None:
    await channel.close(code)
