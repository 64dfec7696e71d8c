"""The anyio driver: the engine over any anyio ``ByteStream`` (trio, asyncio, TLS, Unix, in memory).

Each channel runs two background tasks: a reader (receive, feed the engine, answer pings, queue
messages, pause when ``max_queue`` messages wait) and, with ``ping_interval``, a keepalive pinger.
Where they live follows structured concurrency:

- given a ``task_group`` (``streams.channel_over_stream(..., task_group=tg)``), they run in it; the
  ``async with`` forms (:func:`.streams.open_channel_over_stream`, :func:`.streams.open_memory_pair`,
  :func:`serve`) own one;
- otherwise (plain ``await connect()`` on trio, or :func:`.streams.channel_over_stream` without a
  group) they run as a trio *system task* (``trio.lowlevel.spawn_system_task``) or an asyncio task.
  Either way the channel cancels them when it closes, and they never let an exception escape.

Writing. Every outgoing frame is appended, whole and in engine order, to one pending buffer; one task
at a time (whichever sender finds nobody writing) hands that buffer to ``stream.send`` until it is
empty, so frames from concurrent senders never interleave and small messages are coalesced into one
write. ``write_limit`` is honoured as a byte count, as in the asyncio driver: ``add()`` returns once its
frame is queued and no more than ``write_limit`` bytes wait in the pending buffer; above that it waits
for the writer to make progress. Below us, anyio's streams keep no write buffer of their own (on
asyncio anyio sets the transport's high-water mark to 0; on trio ``send_all`` returns once the kernel
took every byte), so the bytes this driver holds for a connection are bounded by ``write_limit`` plus
the frame being written.

Cancellation. A cancelled ``add()`` that was only waiting for room has already queued its frame: it
is still sent, whole (as on the asyncio driver, whose transport keeps what was written). A
cancellation that lands while a task is inside ``stream.send`` may leave part of a frame on the wire
(trio writes in pieces), after which the byte stream can never be parsed again: the connection is
then failed at once (aborted, ``close_code`` 1006, ``close_error`` saying why), so the peer sees a
dropped connection, never a corrupt frame.

Fragmented messages exist only at the engine level (``Engine.send_text(..., fin=False)``; the
channel API sends whole messages) and are sent uncompressed: see :meth:`.Engine.send_text`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl as ssl_module
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
from anyio.streams.tls import TLSListener

from ws_channel_core.channel import Handler, Message
from ws_channel_core.errors import InvalidHandshake, WebSocketChannelError
from ws_channel_core.handshake import error_response, generate_key
from ws_channel_core.hooks import answer_upgrade_request, run_process_response
from ws_channel_core.http import Address, Request, Response
from ws_channel_core.options import ClientOptions, Options, ServerOptions
from ws_channel_core.uri import WebSocketURI

from ._common import READ_SIZE, make_engine, running_library
from .engine import Engine
from .engine.handshake import (
    HttpReader,
    accept_request,
    build_request,
    check_response,
    reject_response,
    request_bytes,
    upgrade_response_bytes,
)
from .engine_channel import DRAIN_QUIET, EngineChannel

__all__ = [
    "StreamChannel",
    "connect",
    "serve",
    "AnyioServer",
]

logger = logging.getLogger("ws_channel.raw")

_STREAM_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)
_asyncio_tasks: set[asyncio.Task[None]] = set()


def _spawn_detached(function: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``function`` in the background when no task group was given (see the module docstring)."""
    if running_library() == "trio":
        import trio

        trio.lowlevel.spawn_system_task(function)
    else:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(function())
        _asyncio_tasks.add(task)
        task.add_done_callback(_asyncio_tasks.discard)


def _addresses(stream: anyio.abc.ByteStream) -> tuple[Address, Address]:
    """The peer's and our own address, when the stream is a socket (or wraps one)."""
    remote = stream.extra(anyio.abc.SocketAttribute.remote_address, None)
    local = stream.extra(anyio.abc.SocketAttribute.local_address, None)
    return remote, local


class StreamChannel(EngineChannel):
    """A WebSocket channel over an already-upgraded anyio byte stream (frames only, no HTTP).

    Build it with :func:`.streams.channel_over_stream`, or get it from :func:`connect` / :func:`serve`.
    """

    __slots__ = (
        "_aborting", "_awaiting", "_bytes", "_bytes_closed", "_changed", "_close_timer_started", "_draining",
        "_finished", "_in_process", "_initial", "_options", "_pending", "_pong_event",
        "_receive_scope", "_scopes", "_task_group", "_write_broken", "_write_limit", "_writing",
        "_write_scheduled",
        "_written",
    )

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        engine: Engine,
        *,
        protocol: str | None = None,
        options: Options,
        task_group: anyio.abc.TaskGroup | None = None,
        initial_data: bytes = b"",
        request: Request | None = None,
        response: Response | None = None,
        request_head: bytes | None = None,
    ) -> None:
        remote, local = _addresses(stream)
        super().__init__(
            engine,
            protocol=protocol,
            max_queue=options.max_queue,
            request_head=request_head,
            server_side=engine.server_side,
            request=request,
            response=response,
            remote_address=remote,
            local_address=local,
            close_timeout=options.close_timeout,
        )
        self._bytes = stream
        self._options = options
        self._changed = anyio.Event()
        self._finished = False
        self._bytes_closed = False
        # The write path (see the module docstring): frames queued for writing, whether a task is
        # writing them, an event renewed after each write (made when a sender first waits: idle
        # connections need none), and whether writing failed for good.
        self._pending = bytearray()
        self._writing = False
        self._awaiting = False  # a task waits in _receive_message for the next message
        self._write_scheduled = False
        self._written: anyio.Event | None = None  # made when a sender first waits for the writer
        self._write_broken = False
        self._write_limit = options.write_limit
        self._aborting = False
        self._scopes: list[anyio.CancelScope] = []
        self._pong_event: anyio.Event | None = None
        self._close_timer_started = False
        # After failing: read and discard until the peer goes quiet (see DRAIN_QUIET).
        self._draining = False
        self._in_process = False
        self._receive_scope: anyio.CancelScope | None = None
        self._initial = initial_data
        self._task_group = task_group
        self._start_soon(self._reader)  # guards itself (see _reader)
        if options.ping_interval is not None:
            self._spawn(self._keepalive)

    # -- task plumbing -------------------------------------------------------------------------

    def _spawn(self, function: Callable[[], Awaitable[None]]) -> None:
        self._start_soon(self._guarded(function))

    def _start_soon(self, function: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if self._task_group is not None:
            self._task_group.start_soon(function)
        else:
            _spawn_detached(function)

    def _guarded(self, function: Callable[[], Awaitable[None]]) -> Callable[[], Coroutine[Any, Any, None]]:
        async def run() -> None:
            if self._finished:
                return
            with anyio.CancelScope() as scope:
                self._scopes.append(scope)
                try:
                    await function()
                except Exception:  # a bug in this driver must not crash the caller's task group
                    logger.exception("raw backend: background task failed")
                    self._abort_connection()

        return run

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    # -- reading -------------------------------------------------------------------------------

    async def _reader(self) -> None:
        """The reader task, guarded like the others (:meth:`_guarded`) but with one cancel scope for
        both of its reasons to stop reading: an abort cancels it (as every task's), and so does
        :meth:`_start_drain`, to switch a reader waiting in ``receive`` to draining. Draining, which
        few connections ever do, then runs in a scope of its own (a cancel scope costs ~0.7 KiB per
        idle connection on trio)."""
        if self._finished:
            return
        try:
            with anyio.CancelScope() as scope:
                self._scopes.append(scope)
                self._receive_scope = scope
                try:
                    if self._initial:
                        self._engine.receive_data(self._initial)
                        self._initial = b""
                        await self._process()
                    await self._read_frames()
                except Exception:  # a bug in this driver must not crash the caller's task group
                    logger.exception("raw backend: background task failed")
                    self._abort_connection()
            self._receive_scope = None
            if self._draining and not self._aborting and not self._finished:
                await self._guarded(self._drain)()
        finally:
            with anyio.CancelScope(shield=True):
                await self._finish()

    async def _read_frames(self) -> None:
        engine = self._engine
        stream = self._bytes
        while not self._bytes_closed and not self._draining:
            if self._queue_blocks_reading():
                await self._changed.wait()
                continue
            try:
                data = await stream.receive(READ_SIZE)
            except _STREAM_ERRORS:
                engine.receive_eof()
                await self._process()
                return
            engine.receive_data(data)
            await self._process()

    async def _drain(self) -> None:
        """After failing: discard what arrives until EOF or a quiet ``DRAIN_QUIET``, then close.

        The close timer (``close_timeout``) bounds it against a peer that never stops sending.
        """
        stream = self._bytes
        while not self._bytes_closed:
            data = b""
            with anyio.move_on_after(DRAIN_QUIET), contextlib.suppress(*_STREAM_ERRORS):
                data = await stream.receive(READ_SIZE)
            if not data:
                break
        await self._close_stream()

    async def _process(self) -> None:
        events = self._engine.events_received()
        self._dispatch(events)
        if events or self._ended:
            self._notify()
        self._in_process = True
        try:
            await self._flush()
        finally:
            self._in_process = False

    def _pong_received(self) -> None:
        if self._pong_event is not None:
            self._pong_event.set()

    def _arm_failure_timer(self, timeout: float) -> None:
        async def failure_timer() -> None:
            await anyio.sleep(timeout)
            await self._fail_pending()

        self._spawn(failure_timer)

    async def _fail_pending(self) -> None:
        if self._engine.failure_pending and not self._finished:
            self._engine.fail_pending()
            await self._flush()

    async def _flush(self) -> None:
        engine = self._engine
        data = engine.data_to_send()
        self._note_sent()
        closing = engine.should_close_transport
        if closing and not self._ended:
            self._ended = True
            self._notify()
        if engine.close_expected() and not self._close_timer_started:
            self._close_timer_started = True
            self._spawn(self._close_timer)
        # Before closing the stream, every queued byte (the close frame last) must be written.
        await self._write(data, wait_all=closing)
        if closing:
            if engine.close_received is None and not engine.eof_received and not self._write_broken:
                await self._start_drain()
            else:
                await self._close_stream()

    async def _start_drain(self) -> None:
        """We failed the connection and the peer may still be sending: half-close, then drain.

        Closing with unread data would make the kernel reset the connection, which can destroy our
        close frame before the peer reads it; the reader discards what arrives instead (``_drain``).
        """
        if self._draining or self._bytes_closed:
            return
        self._draining = True
        try:
            await self._bytes.send_eof()
        except (NotImplementedError, *_STREAM_ERRORS):
            pass  # TLS cannot half-close: the close frame is followed by nothing until we close
        scope = self._receive_scope
        if scope is not None and not self._in_process:
            scope.cancel()  # the reader waits in receive(): switch it to draining now

    async def _write(self, data: bytes, *, wait_all: bool = False) -> bool:
        """Queue ``data`` (whole frames) for writing and see it written; see the module docstring.

        Returns once the data is written, or queued behind a running writer with no more than
        ``write_limit`` bytes pending (``wait_all``: once nothing is pending at all). Returns ``False``
        when writing is no longer possible (the data is then lost with the connection).
        """
        if self._write_broken or self._bytes_closed:
            return False
        pending = self._pending
        if data:
            pending += data
        while self._writing:
            if not wait_all and len(pending) <= self._write_limit:
                return True
            written = self._written
            if written is None:
                written = self._written = anyio.Event()
            await written.wait()
            if self._write_broken:
                return False
        if not pending:
            return True
        self._writing = True
        completed = False
        try:
            while pending and not self._write_broken:
                chunk = bytes(pending)
                pending.clear()
                await self._bytes.send(chunk)
                self._wake_senders()
            completed = True
        except _STREAM_ERRORS:
            completed = True  # the stream is gone: nothing half-written can be seen any more
            self._write_failed(None)
            self._engine.receive_eof()
        finally:
            self._writing = False
            if not completed:
                # Cancelled (or failed) inside stream.send: part of a frame may be on the wire.
                self._write_failed(
                    WebSocketChannelError(
                        "a send was interrupted while writing a frame; the connection was aborted"
                    )
                )
            self._wake_senders()
        return not self._write_broken

    def _wake_senders(self) -> None:
        """Tell senders waiting for room (or for the writer to finish) that the writer progressed."""
        written = self._written
        if written is not None:
            self._written = None
            written.set()

    def _write_failed(self, error: WebSocketChannelError | None) -> None:
        """Writing can no longer go on: drop what is queued, wake the waiters, fail the connection."""
        self._write_broken = True
        self._pending.clear()
        if error is not None and not self._aborting and not self._finished:
            self._note_error(error)
        self._abort_connection()

    async def _close_stream(self) -> None:
        if not self._bytes_closed:
            self._bytes_closed = True
            await anyio.aclose_forcefully(self._bytes)

    async def _close_timer(self) -> None:
        if self._options.close_timeout is not None:
            await anyio.sleep(self._options.close_timeout)
            self._abort_connection()

    async def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self._ended = True
        self._notify()
        for scope in self._scopes:
            scope.cancel()
        await self._close_stream()
        self._record_close()

    async def _receive_message(self) -> Message | None:
        queue = self._queue
        while not queue:
            if self._ended:
                if self._engine.failure_pending:
                    await self._fail_pending()  # every message before the peer's error was read
                await self._bookkeeping_final()
                return None
            self._awaiting = True
            try:
                await self._changed.wait()
            finally:
                self._awaiting = False
            queue = self._queue  # the first message replaces the shared empty queue
        message = queue.popleft()
        if self._closing:
            self._consuming = True
        if len(queue) == self._max_queue - 1:
            self._notify()  # the reader may be waiting for room
        return message

    # -- writing -------------------------------------------------------------------------------

    def _write_pieces(self, pieces: list[bytes]) -> bool:
        # No checkpoint between the engine and the queue: frames keep the engine's order.
        if self._write_broken or self._bytes_closed:
            return True  # _wait_for_room raises
        pending = self._pending
        for piece in pieces:
            pending += piece
        return True  # the sender writes (or waits behind the writer): see _write

    async def _wait_for_room(self) -> None:
        if not await self._write(b""):
            raise self._closed_error()

    def _above_write_limit(self) -> bool:
        return len(self._pending) > self._write_limit

    def _write_buffer_size(self) -> int:
        return len(self._pending)

    def _reader_waiting(self) -> bool:
        return self._awaiting

    def _write_soon(self) -> None:
        if not self._writing and not self._write_scheduled:
            self._write_scheduled = True
            self._spawn(self._write_queued)

    async def _write_queued(self) -> None:
        """Write what ``add_nowait`` queued (a short task: nobody waits on it)."""
        self._write_scheduled = False
        await self._write(b"")

    def _transport_gone(self) -> bool:
        return self._finished

    def _close_queued(self) -> None:
        self._notify()  # a reader waiting for room re-checks: closing may stop the pause
        self._spawn(self._flush)  # writes the close frame and arms the close timer

    def _abort_connection(self) -> None:
        self._aborting = True
        self._ended = True
        self._notify()
        for scope in self._scopes:
            scope.cancel()  # the reader's cleanup closes the stream and records the close

    # -- keepalive -----------------------------------------------------------------------------

    async def _keepalive(self) -> None:
        interval = self._options.ping_interval
        timeout = self._options.ping_timeout
        assert interval is not None
        engine = self._engine
        while True:
            await anyio.sleep(interval)
            if engine.close_expected() or self._finished:
                return
            pong = self._pong_event = anyio.Event()
            if not self._queue_keepalive_ping():
                continue  # a peer error is pending: the connection is failing
            await self._flush()
            if timeout is None:
                continue
            with anyio.move_on_after(timeout):
                await pong.wait()
            if not pong.is_set():
                if engine.close_expected():
                    return
                self._keepalive_failed(timeout)
                await self._flush()
                return


# -- the HTTP upgrade over anyio streams ------------------------------------------------------


async def _read_until(stream: anyio.abc.ByteStream, reader: HttpReader, done: Callable[[], bool]) -> None:
    while not done():
        try:
            data = await stream.receive(READ_SIZE)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            reader.feed_eof()
            continue
        reader.feed(data)


async def connect(uri: WebSocketURI, options: ClientOptions) -> StreamChannel:
    """Open a client connection with anyio streams (TCP, TLS or Unix) and complete the handshake."""
    ssl: ssl_module.SSLContext | None = None
    if uri.secure:
        given = options.ssl
        ssl = given if isinstance(given, ssl_module.SSLContext) else ssl_module.create_default_context()
    path = options.extra.get("unix_socket")
    stream: anyio.abc.ByteStream
    if isinstance(path, str):
        stream = await anyio.connect_unix(path)
        if ssl is not None:
            from anyio.streams.tls import TLSStream

            stream = await TLSStream.wrap(
                stream, hostname=uri.host, ssl_context=ssl, standard_compatible=False
            )
    elif ssl is not None:
        stream = await anyio.connect_tcp(
            uri.host, uri.port, ssl_context=ssl, tls_standard_compatible=False, tls_hostname=uri.host
        )
    else:
        stream = await anyio.connect_tcp(uri.host, uri.port)
    try:
        key = generate_key()
        request = build_request(
            uri.host_header,
            uri.resource,
            key,
            protocols=options.protocols,
            compression=options.compression is not None,
            headers=options.headers,
        )
        await stream.send(request_bytes(request))
        reader = HttpReader()
        found: list[Response] = []

        def done() -> bool:
            if not found:
                response = reader.read_response()
                if response is not None:
                    found.append(response)
            return bool(found)

        await _read_until(stream, reader, done)
        result = check_response(
            found[0], key, protocols=options.protocols, compression=options.compression is not None
        )
    except BaseException:
        await anyio.aclose_forcefully(stream)
        raise
    engine = make_engine(options, server_side=False, deflate=result.deflate)
    return StreamChannel(
        stream,
        engine,
        protocol=result.protocol,
        options=options,
        initial_data=bytes(reader.buffer),
        request=request,
        response=found[0],
    )


class AnyioServer:
    """A listening server (the ``WebSocketServer`` interface) on anyio listeners."""

    def __init__(self, addresses: list[tuple[str, int]]) -> None:
        self._addresses = addresses

    @property
    def port(self) -> int:
        return self._addresses[0][1] if self._addresses else 0

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return list(self._addresses)

    async def serve_forever(self) -> None:
        await anyio.sleep_forever()


class _Agreed:
    """What a server handshake agreed on: the engine, the subprotocol, the request and the 101."""

    __slots__ = ("engine", "protocol", "leftover", "request", "response", "head")

    def __init__(
        self,
        engine: Engine,
        protocol: str | None,
        leftover: bytes,
        request: Request | None,
        response: Response | None,
        head: bytes | None,
    ) -> None:
        self.engine = engine
        self.protocol = protocol
        self.leftover = leftover
        self.request = request
        self.response = response
        self.head = head  # the request's head bytes, kept instead of request and response


async def _server_handshake(stream: anyio.abc.ByteStream, options: ServerOptions) -> _Agreed | None:
    """Read the upgrade request, run the hooks and answer; ``None`` when the upgrade was refused."""
    reader = HttpReader()
    remote, _ = _addresses(stream)
    found: list[Request] = []

    def done() -> bool:
        if not found:
            request = reader.read_request(remote)
            if request is not None:
                found.append(request)
        return bool(found)

    try:
        with anyio.fail_after(options.connect_timeout):
            await _read_until(stream, reader, done)
            request = found[0]
            refusal = await answer_upgrade_request(options.process_request, request)
            if refusal is None:
                result = accept_request(
                    request,
                    protocols=options.protocols,
                    compression=options.compression is not None,
                    headers=options.headers,
                )
                response = await run_process_response(options.process_response, request, result.response)
                if response.status != 101:
                    refusal = response
            if refusal is not None:
                await stream.send(reject_response(refusal))
                return None
            await stream.send(upgrade_response_bytes(response))
    except InvalidHandshake as exc:  # a malformed or oversized HTTP head
        try:
            with anyio.move_on_after(1):
                await stream.send(reject_response(error_response(400, str(exc))))
        except _STREAM_ERRORS:
            pass
        return None
    except (TimeoutError, *_STREAM_ERRORS):
        return None
    engine = make_engine(options, server_side=True, deflate=result.deflate)
    if options.process_request is None and options.process_response is None:
        # No hook saw them: keep only the head bytes, parsed again (the 101 rebuilt) on first use.
        return _Agreed(engine, result.protocol, bytes(reader.buffer), None, None, reader.head)
    return _Agreed(engine, result.protocol, bytes(reader.buffer), request, response, None)


@asynccontextmanager
async def serve(handler: Handler, host: str, port: int, options: ServerOptions) -> AsyncIterator[AnyioServer]:
    """Listen with anyio (TCP, TLS or Unix); leaving the block closes open connections with 1001."""
    channels: set[StreamChannel] = set()
    path = options.extra.get("unix_socket")
    listener: anyio.abc.Listener[Any]
    addresses: list[tuple[str, int]] = []
    if isinstance(path, str):
        listener = await anyio.create_unix_listener(path)
    else:
        tcp = await anyio.create_tcp_listener(local_host=host, local_port=port)
        for one in tcp.listeners:
            address = one.extra(anyio.abc.SocketAttribute.local_address)
            addresses.append((str(address[0]), int(address[1])))
        listener = tcp
    if isinstance(options.ssl, ssl_module.SSLContext):
        listener = TLSListener(listener, options.ssl, standard_compatible=False)

    async def handle(stream: anyio.abc.ByteStream) -> None:
        try:
            async with stream:
                agreed = await _server_handshake(stream, options)
                if agreed is None:
                    return
                async with anyio.create_task_group() as task_group:
                    channel = StreamChannel(
                        stream,
                        agreed.engine,
                        protocol=agreed.protocol,
                        options=options,
                        task_group=task_group,
                        initial_data=agreed.leftover,
                        request=agreed.request,
                        response=agreed.response,
                        request_head=agreed.head,
                    )
                    del agreed  # not kept in this frame for the connection's lifetime
                    channels.add(channel)
                    try:
                        await handler(channel)  # the front door wrapped it (run_handler)
                    finally:
                        channels.discard(channel)
                        channel.close(1000)  # no-op when the handler closed it
        except Exception:  # one broken connection must not stop the server
            logger.exception("raw backend: connection failed")

    async with listener, anyio.create_task_group() as task_group:
        task_group.start_soon(listener.serve, handle, task_group)
        try:
            yield AnyioServer(addresses)
        finally:
            with anyio.CancelScope(shield=True):
                async with anyio.create_task_group() as closing:
                    for channel in list(channels):
                        closing.start_soon(_close_going_away, channel)
            task_group.cancel_scope.cancel()


async def _close_going_away(channel: StreamChannel) -> None:
    await channel.close(1001)
