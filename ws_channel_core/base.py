"""``ChannelBase``: the behaviour every backend shares, written once.

A backend subclasses it and implements four primitives (receive one message, send one message, start the
closing handshake, abort). The base class supplies the rest of the interface with the shared policies:
argument checks before anything is sent, idempotent ``close()``, ``ConnectionClosed`` from ``add`` after
either side closed, a single-consumer ``stream`` that ends without raising, ``close_code`` and
``close_reason`` as RFC 6455 7.1.5-7.1.6 define them, ``state``, the handshake metadata (``request``,
``response``, addresses, ``id``), connection logging, and a ``done`` that may be awaited many times.
It uses anyio events only, so it works on asyncio and trio.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Coroutine, Generator
from typing import Any

import anyio

from . import logs
from .channel import Handler, Message, State, WebSocketChannel
from .errors import CloseFrame, ConnectionClosed, WebSocketChannelError
from .handshake import check_close_arguments
from .http import Address, Request, Response

__all__ = ["ChannelBase", "as_message", "run_handler"]


def as_message(message: object) -> Message:
    """Return ``message`` as ``str`` (text) or ``bytes`` (binary); raise ``TypeError`` otherwise."""
    if isinstance(message, (str, bytes)):
        return message
    if isinstance(message, (bytearray, memoryview)):
        return bytes(message)
    raise TypeError(f"a message must be str or bytes-like, not {type(message).__name__}")


class _EventAwaitable:
    """An awaitable that completes when an event is set; it may be awaited any number of times."""

    __slots__ = ("_event",)

    def __init__(self, event: anyio.Event) -> None:
        self._event = event

    def __await__(self) -> Generator[Any, None, None]:
        return self._event.wait().__await__()


class _Ready:
    """``ready`` of a channel: channels exist only after a successful handshake, so it is complete.

    A failed handshake raises from ``connect()`` itself; there is never a channel whose ``ready`` fails.
    """

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # pragma: no cover - makes this a generator


_READY = _Ready()


class _MessageStream:
    """The single-consumer async iterator behind ``channel.stream``."""

    __slots__ = ("_channel", "_reading", "_ended")

    def __init__(self, channel: ChannelBase) -> None:
        self._channel = channel
        self._reading = False
        self._ended = False

    def __aiter__(self) -> _MessageStream:
        return self

    async def __anext__(self) -> Message:
        if self._ended:
            raise StopAsyncIteration
        if self._reading:
            raise RuntimeError("another task is already reading this channel's stream")
        channel = self._channel
        # A message already buffered is handed out without awaiting another coroutine.
        message = channel._receive_message_nowait()
        if message is None:
            self._reading = True
            try:
                message = await channel._receive_message()
            finally:
                self._reading = False
        if message is None:
            self._ended = True
            raise StopAsyncIteration
        return message


class _Sink:
    """``channel.sink``: a thin view of the channel's sending half."""

    __slots__ = ("_channel",)

    def __init__(self, channel: ChannelBase) -> None:
        self._channel = channel

    def add(self, message: Message) -> Coroutine[Any, Any, None]:
        # Hands back the channel's own coroutine: no extra coroutine frame per message sent.
        return self._channel.send(message)

    async def add_stream(self, messages: AsyncIterable[Message]) -> None:
        async for message in messages:
            await self._channel.send(message)

    def close(self, code: int | None = None, reason: str | None = None) -> Awaitable[None]:
        return self._channel.close(code, reason)

    @property
    def done(self) -> Awaitable[None]:
        return self._channel.done


class _Closing:
    """What ``close()`` returns: the closing handshake has already started; awaiting waits for the end.

    A plain object, not a coroutine, so dropping it unawaited is fine (no "never awaited" warning).
    """

    __slots__ = ("_channel",)

    def __init__(self, channel: ChannelBase) -> None:
        self._channel = channel

    def __await__(self) -> Generator[Any, None, None]:
        return self._channel._wait_closed().__await__()


#: Extra seconds ``close()`` waits beyond ``close_timeout`` before aborting on the backend's behalf.
_CLOSE_GRACE = 1.0


class ChannelBase(ABC):
    """Base class of every backend's channel; see the module docstring for what it provides.

    Subclasses implement :meth:`_receive_message`, :meth:`_send_message`, :meth:`_start_close` and
    :meth:`_abort_connection`, report close frames and failures with :meth:`_note_close_sent`,
    :meth:`_note_close_received` and :meth:`_note_error`, and call :meth:`_record_close` once the
    connection is gone.
    """

    # Slots: a server holds one channel per connection, and an instance dict costs several hundred
    # bytes each. A subclass without ``__slots__`` still gets a dict for its own attributes.
    __slots__ = (
        "_protocol", "_stream", "_sink", "_done_waiter", "_closed", "_closing", "_connecting",
        "_close_sent", "_close_received", "_close_received_first", "_close_error", "_close_timeout",
        "_request", "_response", "_remote_address", "_local_address", "_id", "_server_side",
        "__weakref__",
    )

    def __init__(
        self,
        *,
        protocol: str | None = None,
        server_side: bool = False,
        request: Request | None = None,
        response: Response | None = None,
        remote_address: Address = None,
        local_address: Address = None,
        close_timeout: float | None = None,
    ) -> None:
        self._protocol = protocol
        self._server_side = server_side
        self._stream: AsyncIterator[Message] = _MessageStream(self)  # a backend may put a faster one
        self._sink = _Sink(self)
        # The done event is created on first use: most connections never await ``done`` (saves ~1 KiB
        # per idle connection on asyncio); ``_closed`` is the flag the fast paths read.
        self._done_waiter: anyio.Event | None = None
        self._closed = False
        # True once a close frame was sent or received or close() was called: sending has ended.
        self._closing = False
        self._connecting = False
        self._close_sent: CloseFrame | None = None
        self._close_received: CloseFrame | None = None
        self._close_received_first: bool | None = None
        self._close_error: WebSocketChannelError | None = None
        self._close_timeout = close_timeout
        self._request = request
        self._response = response
        self._remote_address = remote_address
        self._local_address = local_address
        self._id: uuid.UUID | None = None  # made on first use: an idle connection may never need it

    # -- what a backend implements -------------------------------------------------------------

    @abstractmethod
    async def _receive_message(self) -> Message | None:
        """Return the next incoming message, or ``None`` once no more will come. Never raises.

        Messages that arrived before the peer's close frame are returned even after a local close.
        """

    def _receive_message_nowait(self) -> Message | None:
        """Return a message that is already buffered, or ``None``; a fast path a backend may offer."""
        return None

    @abstractmethod
    async def _send_message(self, message: Message) -> None:
        """Send one message, waiting for buffer space; raise ``ConnectionClosed`` if closed."""

    def _start_close(self, code: int | None, reason: str) -> None:
        """Start the closing handshake now (arguments already checked); must not block or raise.

        Queue or write the close frame at once and make sure the connection ends within
        ``close_timeout`` whether or not anyone awaits; call :meth:`_record_close` when it has.
        """
        raise NotImplementedError

    async def _close_connection(self, code: int | None, reason: str) -> None:
        """TRANSITIONAL (removed once every backend implements ``_start_close``)."""
        raise NotImplementedError

    async def _legacy_close(self, code: int | None, reason: str) -> None:
        """TRANSITIONAL: the old awaited close path for backends not yet on ``_start_close``."""
        try:
            await self._close_connection(code, reason)
        finally:
            if not self._closed:
                self._abort_connection()
                self._record_close()

    @abstractmethod
    def _abort_connection(self) -> None:
        """Drop the connection at once, without a closing handshake; must not block or raise."""

    # -- what a backend calls -----------------------------------------------------------------

    def _note_close_sent(self, frame: CloseFrame) -> None:
        """Record the close frame this side sent (first one wins)."""
        self._closing = True
        if self._close_sent is None:
            self._close_sent = frame
            if self._close_received_first is None and self._close_received is not None:
                self._close_received_first = True

    def _note_close_received(self, frame: CloseFrame) -> None:
        """Record the close frame the peer sent (first one wins)."""
        self._closing = True
        if self._close_received is None:
            self._close_received = frame
            if self._close_received_first is None and self._close_sent is not None:
                self._close_received_first = False

    def _note_error(self, error: WebSocketChannelError) -> None:
        """Record why the connection failed (first one wins), and log it."""
        if self._close_error is None:
            self._close_error = error
            logs.failed(self, error)

    def _record_close(self) -> None:
        """Mark the connection fully closed: ``done`` completes, ``close_code`` becomes final."""
        if self._closed:
            return
        self._closed = True
        self._closing = True
        if self._done_waiter is not None:
            self._done_waiter.set()
        logs.closed(self)

    @property
    def _done_event(self) -> anyio.Event:
        """The event set once the connection is fully closed (created on first use)."""
        event = self._done_waiter
        if event is None:
            event = self._done_waiter = anyio.Event()
            if self._closed:
                event.set()
        return event

    @property
    def _is_closed(self) -> bool:
        return self._closed

    def _closed_error(self) -> ConnectionClosed:
        """The ``ConnectionClosed`` to raise from a send on a closing or closed channel."""
        error = ConnectionClosed.for_frames(
            self._close_received, self._close_sent, self._close_received_first
        )
        if self._close_error is not None:
            error.__cause__ = self._close_error
        return error

    async def _wait_closed(self) -> None:
        """Wait until closed; past ``close_timeout`` (and a grace) abort on the backend's behalf."""
        if self._closed:
            return
        limit = None if self._close_timeout is None else self._close_timeout + _CLOSE_GRACE
        with anyio.move_on_after(limit):
            await self._done_event.wait()
        if not self._closed:
            self._abort_connection()
            self._record_close()

    # -- the interface --------------------------------------------------------------------------

    @property
    def stream(self) -> AsyncIterator[Message]:
        return self._stream

    @property
    def sink(self) -> _Sink:
        return self._sink

    @property
    def ready(self) -> Awaitable[None]:
        return _READY

    @property
    def protocol(self) -> str | None:
        return self._protocol

    @property
    def close_code(self) -> int | None:
        if self._close_received is not None:
            return self._close_received.code
        return 1006 if self._closed else None

    @property
    def close_reason(self) -> str | None:
        if self._close_received is not None:
            return self._close_received.reason
        return "" if self._closed else None

    @property
    def close_sent(self) -> CloseFrame | None:
        return self._close_sent

    @property
    def close_received(self) -> CloseFrame | None:
        return self._close_received

    @property
    def close_received_first(self) -> bool | None:
        return self._close_received_first

    @property
    def close_error(self) -> WebSocketChannelError | None:
        return self._close_error

    @property
    def state(self) -> State:
        if self._closed:
            return State.CLOSED
        if self._closing:
            return State.CLOSING
        return State.CONNECTING if self._connecting else State.OPEN

    @property
    def request(self) -> Request | None:
        return self._request

    @property
    def response(self) -> Response | None:
        return self._response

    @property
    def remote_address(self) -> Address:
        return self._remote_address

    @property
    def local_address(self) -> Address:
        return self._local_address

    @property
    def id(self) -> uuid.UUID:
        if self._id is None:
            self._id = uuid.uuid4()
        return self._id

    @property
    def server_side(self) -> bool:
        """``True`` for a channel a server accepted, ``False`` for a client's."""
        return self._server_side

    @property
    def done(self) -> Awaitable[None]:
        return _EventAwaitable(self._done_event)

    async def send(self, message: Message) -> None:
        """Send one message; see :meth:`WebSocketSink.add`."""
        message = as_message(message)
        if self._closing:
            raise self._closed_error()
        await self._send_message(message)

    def close(self, code: int | None = None, reason: str | None = None) -> Awaitable[None]:
        """Close the channel; see :meth:`WebSocketSink.close`. Arguments are checked right here."""
        check_close_arguments(code, reason)
        if type(self)._start_close is ChannelBase._start_close:  # TRANSITIONAL
            if not self._closing and not self._closed:
                self._closing = True
                return self._legacy_close(code, reason or "")
            return _Closing(self)
        if not self._closing and not self._closed:
            self._closing = True
            try:
                self._start_close(code, reason or "")
            except Exception:  # a backend bug must not leave the connection half-open
                logs.logger.exception("starting the closing handshake failed; aborting")
                self._abort_connection()
                self._record_close()
        return _Closing(self)


async def run_handler(handler: Handler, channel: WebSocketChannel) -> None:
    """Run a server handler, then close its channel: 1000 when it returns, 1011 when it raises.

    The exception is logged, never propagated: one failing connection must not stop the server. A
    ``ConnectionClosed`` escaping the handler is not a failure: the peer closed while the handler
    was still sending (an echo handler whose client closes right after its last message), so it is
    logged at debug level only.
    """
    logs.opened(channel)
    try:
        await handler(channel)
    except ConnectionClosed:
        logs.server_logger.debug(
            "%s handler stopped: the connection closed while it was sending", logs.context(channel)
        )
        await channel.sink.close()
    except Exception:
        logs.server_logger.exception("%s connection handler failed", logs.context(channel))
        await channel.sink.close(1011)
    else:
        await channel.sink.close(1000)
