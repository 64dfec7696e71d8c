"""The websockets backend on trio, through websockets' own trio implementation (``websockets.trio``).

Imported only when the running event loop is trio. websockets' trio connections need a nursery for
their reader and keepalive tasks: a server has one per connection; a client started by a plain
``await connect()`` gets one opened in a trio *system task* that lives as long as the connection
(the connection's tasks never raise, so the system task never crashes the run).
"""

from __future__ import annotations

import contextlib
import functools
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from types import MappingProxyType
from typing import Any, ClassVar

import trio
from websockets.frames import Frame
from websockets.trio.client import ClientConnection
from websockets.trio.client import connect as ws_connect
from websockets.trio.connection import Connection
from websockets.trio.messages import Assembler
from websockets.trio.server import Server, ServerConnection
from websockets.trio.server import serve as ws_serve

from ws_channel_core.channel import Handler, WebSocketServer
from ws_channel_core.options import ClientOptions, ServerOptions
from ws_channel_core.uri import WebSocketURI

from ._errors import map_handshake_errors
from ._fixes import AssemblerFixes, install_fixes
from ._options import client_kwargs, server_kwargs
from .channel import ConnectionChannel

__all__ = ["TrioChannel", "TrioServer", "connect", "serving", "fix_trio_assembler"]


class UncappedTrioAssembler(AssemblerFixes, Assembler):
    """The trio ``Assembler`` with the fixes of :class:`~._fixes.AssemblerFixes`."""

    async def _next_frame(self) -> Frame:
        try:
            return await self.recv_frames.receive()
        except trio.EndOfChannel:
            raise EOFError("stream of frames ended") from None

    def _queue(self) -> deque[Frame]:
        # websockets itself reads this private deque (Assembler.maybe_pause) for the same reason.
        queue: deque[Frame] = self.send_frames._state.data
        return queue

    def put(self, frame: Frame) -> None:
        if self.draining and not self.closed and self._drain_frame(frame):
            return
        super().put(frame)


def fix_trio_assembler(assembler: Any) -> None:
    """Switch a stock trio assembler to :class:`UncappedTrioAssembler`."""
    if type(assembler) is Assembler:
        assembler.__class__ = UncappedTrioAssembler


class _TrioConnectionFixes:
    """Fixes for websockets' trio connections.

    - Tell the channel when the stream is closed (trio has no future to hang a callback on).
    - Never let the reader wait for the send lock: websockets' reader calls ``send_data()`` after
      every read, and ``send_data()`` takes the send lock even with nothing to send. While a sender
      holds the lock in ``send_all()`` (the peer is not reading because it is itself blocked sending
      to us), the reader then stops reading, and two peers pipelining large messages both ways wait
      for each other for ever. Here ``send_data()`` returns at once when nothing is queued, and the
      reader leaves what it queued (at most one pong, or the close reply) to the lock holder, which
      sends until nothing is left.
    """

    on_stream_closed: Callable[[], None] | None = None
    _reader: trio.lowlevel.Task | None = None

    # Provided by websockets' Connection.
    protocol: Any
    stream: trio.abc.Stream
    send_lock: trio.Lock
    debug: bool
    logger: Any

    async def recv_events(self) -> None:
        self._reader = trio.lowlevel.current_task()
        await super().recv_events()  # type: ignore[misc]

    async def send_data(self) -> None:
        protocol = self.protocol
        if not protocol.writes:
            return
        if self.send_lock.locked() and trio.lowlevel.current_task() is self._reader:
            return  # the task holding the lock sends it when its own write is done
        async with self.send_lock:
            while protocol.writes:
                for data in protocol.data_to_send():
                    if data:
                        await self.stream.send_all(data)
                    elif isinstance(self.stream, trio.abc.HalfCloseableStream):
                        with contextlib.suppress(Exception):  # half-close TCP, as websockets does
                            await self.stream.send_eof()
                    else:  # pragma: no cover - TLS: no half-close
                        await self.stream.aclose()

    async def close_stream(self) -> None:
        try:
            await super().close_stream()  # type: ignore[misc]
        finally:
            if self.on_stream_closed is not None:
                self.on_stream_closed()


class FixedTrioClientConnection(_TrioConnectionFixes, ClientConnection):
    """A trio ``ClientConnection`` with the fixes installed before its reader starts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # the reader task starts at the next checkpoint
        install_fixes(self)


class FixedTrioServerConnection(_TrioConnectionFixes, ServerConnection):
    """A trio ``ServerConnection`` with the fixes installed before its reader starts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        install_fixes(self)


class TrioChannel(ConnectionChannel):
    """A channel over a websockets trio connection; see :class:`~.channel.ConnectionChannel`."""

    __slots__ = ("_timer_started",)

    _connection: Connection

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection, isinstance(connection, ServerConnection))
        self._timer_started = False
        # Read now: a closed trio socket no longer tells its addresses.
        _ = self.remote_address, self.local_address
        if isinstance(connection, _TrioConnectionFixes):
            connection.on_stream_closed = self._record_close
        if connection.stream_closed.is_set():
            self._record_close()
        self._attach()

    def _spawn(self, function: Callable[[], Awaitable[None]]) -> bool:
        try:
            self._connection.nursery.start_soon(function)
        except RuntimeError:  # the connection's nursery has already finished
            return False
        return True

    #: Wake ``ping()`` at the close too (trio's pong events are never set otherwise).
    _PING_OPTIONS: ClassVar[Mapping[str, Any]] = MappingProxyType({"ack_on_close": True})

    def _flush(self) -> None:
        self._spawn(self._send_pending)

    def _buffered_amount(self) -> int:
        # Bytes the protocol queued and no send_all() took yet (what trio's stream holds is hidden).
        return sum(map(len, self._connection.protocol.writes))

    def _write_limit(self) -> int:
        return int(getattr(self._connection, "write_limit", 2**16))

    async def _send_pending(self) -> None:
        connection = self._connection
        timeout = connection.close_timeout
        with trio.move_on_after(timeout if timeout is not None else float("inf")):
            try:
                await connection.send_data()
            except Exception as exc:  # the stream is broken: nothing more can be sent
                connection.set_connection_exc(exc)
                await trio.aclose_forcefully(connection.stream)

    def _arm_close_timer(self) -> None:
        if self._timer_started or self._closed:
            return
        connection = self._connection
        if connection.close_timeout is None:
            return
        # Our own deadline: websockets' close_deadline belongs to its send_context().
        self._timer_started = self._spawn(
            functools.partial(self._close_timer, trio.current_time() + connection.close_timeout)
        )

    async def _close_timer(self, deadline: float) -> None:
        connection = self._connection
        with trio.move_on_at(deadline):
            await connection.stream_closed.wait()
            return
        connection.set_connection_exc(TimeoutError("timed out while closing connection"))
        await trio.aclose_forcefully(connection.stream)

    async def _wait_gone(self) -> None:
        await self._connection.stream_closed.wait()

    def _abort_connection(self) -> None:
        connection = self._connection
        if not self._spawn(functools.partial(trio.aclose_forcefully, connection.stream)):
            stream = getattr(connection.stream, "transport_stream", connection.stream)
            socket = getattr(stream, "socket", None)
            if socket is not None:
                socket.close()


async def _detached_nursery() -> tuple[trio.Nursery, trio.Event]:
    """A nursery living in a system task; set the returned event once its first task is started."""
    ready = trio.Event()
    release = trio.Event()
    box: list[trio.Nursery] = []

    async def host() -> None:
        async with trio.open_nursery() as nursery:
            box.append(nursery)
            ready.set()
            await release.wait()

    trio.lowlevel.spawn_system_task(host)
    await ready.wait()
    return box[0], release


async def connect(uri: WebSocketURI, options: ClientOptions) -> TrioChannel:
    """Open a client connection on trio; see :meth:`.WebsocketsBackend.connect`."""
    kwargs = client_kwargs(options, trio=True)
    connector = ws_connect(uri.url, create_connection=FixedTrioClientConnection, **kwargs)
    nursery, release = await _detached_nursery()
    try:
        with map_handshake_errors(uri.url):
            connection = await connector.connect(nursery)
    finally:
        release.set()  # the nursery now lives as long as the connection's tasks
    return TrioChannel(connection)


class TrioServer:
    """The :class:`~ws_channel_core.channel.WebSocketServer` yielded by ``serve()`` on trio."""

    def __init__(self, server: Server) -> None:
        self._server = server
        # Read once: the listeners are closed after the server closed; the port stays known.
        names = (listener.socket.getsockname() for listener in server.listeners)
        self._addresses = [(str(name[0]), int(name[1])) for name in names]

    @property
    def server(self) -> Server:
        """The websockets trio ``Server`` underneath."""
        return self._server

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return list(self._addresses)

    @property
    def port(self) -> int:
        return self._addresses[0][1]

    async def serve_forever(self) -> None:
        """Serve until cancelled (or until the server is closed)."""
        await self._server.handlers_waiter.wait()


@asynccontextmanager
async def serving(
    handler: Handler, host: str, port: int, options: ServerOptions, grace: float
) -> AsyncIterator[WebSocketServer]:
    """Serve on trio; see :meth:`.WebsocketsBackend.serve`."""
    kwargs = server_kwargs(options, trio=True)

    async def handle(connection: ServerConnection) -> None:
        await handler(TrioChannel(connection))

    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(
            functools.partial(
                ws_serve, handle, port, host=host,
                create_connection=FixedTrioServerConnection, **kwargs,
            )
        )
        try:
            yield TrioServer(server)
        finally:
            with trio.CancelScope(shield=True):
                with trio.move_on_after(grace):
                    await server.aclose()  # stop accepting, 1001 to open connections, wait
                server.handler_nursery.cancel_scope.cancel()
                await server.handlers_waiter.wait()
            nursery.cancel_scope.cancel()
