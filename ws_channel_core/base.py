"""``ChannelBase``: the behaviour every backend shares, written once.

A backend subclasses it and implements its primitives (receive one message, send one message, queue one
message without waiting, report the bytes waiting to be written, ping, start the closing handshake, abort;
optionally send and receive one message in fragments). The base class supplies the rest of the interface
with the shared policies: argument checks before anything is sent, idempotent ``close()``,
``ConnectionClosed`` from ``add`` after either side closed, a single-consumer ``stream`` that ends without
raising, ``close_code`` and ``close_reason`` as RFC 6455 7.1.5-7.1.6 define them, ``state``, the handshake
metadata (``request``, ``response``, addresses, ``id``), connection logging, a ``done`` that may be awaited
many times, the bookkeeping of pings waiting for their pong (``latency``), and the argument checks and
one-sender rule of fragmented messages. It uses anyio events only, so it works on asyncio and trio.
"""

from __future__ import annotations

import os
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Coroutine,
    Generator,
    Iterable,
    Iterator,
)
from typing import Any

import anyio

from . import logs
from .channel import Handler, Message, State, WebSocketChannel
from .errors import BufferFull, CloseFrame, ConnectionClosed, WebSocketChannelError
from .handshake import check_close_arguments
from .http import Address, Request, Response

__all__ = ["ChannelBase", "PendingPing", "as_message", "run_handler", "MAX_PING_PAYLOAD"]

#: RFC 6455 5.5: "All control frames MUST have a payload length of 125 bytes or less".
MAX_PING_PAYLOAD = 125


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
    """The single-consumer async iterator behind ``channel.stream`` (and ``receive_fragments``).

    ``_partial`` is the fragment iterator whose message was not read to its end: the next read (of
    either kind) first skips the rest of that message.
    """

    __slots__ = ("_channel", "_reading", "_ended", "_partial")

    def __init__(self, channel: ChannelBase) -> None:
        self._channel = channel
        self._reading = False
        self._ended = False
        self._partial: _FragmentIterator | None = None

    def __aiter__(self) -> _MessageStream:
        return self

    async def __anext__(self) -> Message:
        if self._ended:
            raise StopAsyncIteration
        if self._reading:
            raise RuntimeError("another task is already reading this channel's stream")
        channel = self._channel
        message = None
        if self._partial is None:
            # A message already buffered is handed out without awaiting another coroutine.
            message = channel._receive_message_nowait()
        if message is None:
            self._reading = True
            try:
                if self._partial is not None:
                    await self._skip_partial()
                message = await channel._receive_message() if not self._ended else None
            finally:
                self._reading = False
        if message is None:
            self._ended = True
            raise StopAsyncIteration
        return message

    async def _skip_partial(self) -> None:
        """Discard the rest of a message whose fragments were not all read."""
        while self._partial is not None:
            piece = await self._channel._receive_fragment()
            if piece is None:
                self._ended = True
            if piece is None or piece[1]:
                self._partial = None


class _FragmentIterator:
    """What ``receive_fragments()`` returns: the chunks of the next message, as they arrive."""

    __slots__ = ("_stream", "_started", "_done")

    def __init__(self, stream: _MessageStream) -> None:
        self._stream = stream
        self._started = False
        self._done = False

    def __aiter__(self) -> _FragmentIterator:
        return self

    async def __anext__(self) -> Message:
        stream = self._stream
        if self._done or (self._started and stream._partial is not self):
            self._done = True  # ended, or another read skipped the rest of this message
            raise StopAsyncIteration
        if stream._reading:
            raise RuntimeError("another task is already reading this channel's stream")
        stream._reading = True
        try:
            if not self._started:
                if stream._partial is not None:
                    await stream._skip_partial()
                self._started = True
            piece = None if stream._ended else await stream._channel._receive_fragment()
        finally:
            stream._reading = False
        if piece is None:
            stream._ended = True
            stream._partial = None
            self._done = True
            raise StopAsyncIteration
        chunk, final = piece
        stream._partial = None if final else self
        self._done = final
        return chunk


class _Chunks:
    """The chunks given to ``add_fragments`` as an async iterator, each checked to be of the first
    one's kind (``str`` or bytes-like, the latter turned into ``bytes``). A class, not an async
    generator: one left unfinished must not need finalizing."""

    __slots__ = ("_sync", "_async", "_text", "_head")

    def __init__(self, chunks: Iterable[object] | AsyncIterable[object]) -> None:
        self._sync: Iterator[object] | None = None
        self._async: AsyncIterator[object] | None = None
        if isinstance(chunks, AsyncIterable):
            self._async = aiter(chunks)
        else:
            self._sync = iter(chunks)
        self._text: bool | None = None
        self._head: Message | None = None

    def __aiter__(self) -> _Chunks:
        return self

    async def first(self) -> Message | None:
        """Read and keep the first chunk (iteration starts with it); ``None`` when there is none."""
        try:
            self._head = await self.__anext__()
        except StopAsyncIteration:
            return None
        return self._head

    async def __anext__(self) -> Message:
        head = self._head
        if head is not None:
            self._head = None
            return head
        if self._sync is not None:
            try:
                chunk = next(self._sync)
            except StopIteration:
                raise StopAsyncIteration from None
        else:
            assert self._async is not None
            chunk = await self._async.__anext__()
        text = isinstance(chunk, str)
        if self._text is None and isinstance(chunk, (str, bytes, bytearray, memoryview)):
            self._text = text
        if text is not self._text or not isinstance(chunk, (str, bytes, bytearray, memoryview)):
            kind = "a chunk" if self._text is None else "every chunk of this message"
            must = "str or bytes-like" if self._text is None else ("str" if self._text else "bytes-like")
            raise TypeError(f"{kind} must be {must}, not {type(chunk).__name__}")
        return chunk if type(chunk) is str or type(chunk) is bytes else bytes(chunk)  # type: ignore[arg-type]


class _Sink:
    """``channel.sink``: a thin view of the channel's sending half."""

    __slots__ = ("_channel",)

    def __init__(self, channel: ChannelBase) -> None:
        self._channel = channel

    def add(self, message: Message) -> Coroutine[Any, Any, None]:
        # Hands back the channel's own coroutine: no extra coroutine frame per message sent.
        return self._channel.send(message)

    def add_nowait(self, message: Message) -> None:
        channel = self._channel
        message = as_message(message)
        if channel._closing:
            raise channel._closed_error()
        if channel._fragmenting is not None:
            raise BufferFull("a fragmented message is being sent: nothing can be queued before its end")
        if not channel._send_message_nowait(message):
            raise BufferFull(f"the outgoing buffer is above write_limit ({channel._buffered_amount()} bytes)")

    async def add_fragments(self, chunks: Iterable[Message] | AsyncIterable[Message]) -> None:
        if isinstance(chunks, (str, bytes, bytearray, memoryview)):
            raise TypeError("add_fragments takes an iterable of chunks; send one message with add()")
        if not isinstance(chunks, (Iterable, AsyncIterable)):
            raise TypeError(f"add_fragments takes an iterable of chunks, not {type(chunks).__name__}")
        channel = self._channel
        await channel._wait_for_fragments()
        done = channel._fragmenting = anyio.Event()  # one sender until the message is complete
        try:
            checked = _Chunks(chunks)
            if await checked.first() is None:
                return  # no chunk: nothing is sent
            try:
                await channel._send_fragments(checked)
            except BaseException as exc:
                # The message cannot be completed: RFC 6455 offers no way to abandon it but failing
                # the connection (1011, as websockets does).
                if not isinstance(exc, ConnectionClosed) and not channel._closing:
                    channel.close(1011, "a fragmented message could not be completed")
                raise
        finally:
            channel._fragmenting = None
            done.set()

    async def add_stream(self, messages: AsyncIterable[Message]) -> None:
        async for message in messages:
            await self._channel.send(message)

    def close(self, code: int | None = None, reason: str | None = None) -> Awaitable[None]:
        return self._channel.close(code, reason)

    @property
    def done(self) -> Awaitable[None]:
        return self._channel.done

    @property
    def buffered_amount(self) -> int:
        return self._channel._buffered_amount()


class PendingPing:
    """A ping waiting for its pong; ``latency`` is set when a pong acknowledged it."""

    __slots__ = ("sent", "latency", "event", "keepalive")

    def __init__(self, keepalive: bool) -> None:
        self.sent = time.perf_counter()
        self.latency: float | None = None
        self.event: anyio.Event | None = None
        self.keepalive = keepalive


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
        "_latency", "_pings", "_fragmenting", "__weakref__",
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
        self._latency: float | None = None
        self._pings: dict[bytes, PendingPing] | None = None  # pings waiting for a pong, oldest first
        self._fragmenting: anyio.Event | None = None  # set while a fragmented message is being sent

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

    @abstractmethod
    def _send_message_nowait(self, message: Message) -> bool:
        """Queue one message without waiting, unless the outgoing buffer is above ``write_limit``.

        Returns ``False`` (and sends nothing) when the buffer is above ``write_limit``.

        Raises:
            ConnectionClosed: the connection is closing or gone.
        """

    @abstractmethod
    def _buffered_amount(self) -> int:
        """Bytes accepted by a send but not yet handed to the operating system; never raises."""

    @abstractmethod
    async def _ping(self, payload: bytes) -> float:
        """Send a ping with ``payload`` (checked, not pending) and return the round trip in seconds.

        A backend that sees pongs itself tracks the ping with :meth:`_track_ping`, calls
        :meth:`_acknowledge_pong` for every pong, and returns :meth:`_await_pong`.

        Raises:
            ConnectionClosed: the channel closed before the pong arrived.
        """

    async def _send_fragments(self, chunks: AsyncIterator[Message]) -> None:
        """Send ``chunks`` (at least one, all ``str`` or all ``bytes``, checked) as one message.

        The default joins them and sends one whole message: memory then holds all of it. A backend
        that can write fragments (a first frame, then continuation frames) overrides it. No other
        message is sent on the channel meanwhile (the base makes other senders wait).

        Raises:
            ConnectionClosed: the channel closed.
        """
        first = await anext(chunks)
        if isinstance(first, str):
            text = [first]
            text.extend([chunk async for chunk in chunks])  # type: ignore[misc]
            await self._send_message("".join(text))
        else:
            binary = [first]
            binary.extend([chunk async for chunk in chunks])  # type: ignore[misc]
            await self._send_message(b"".join(binary))

    async def _receive_fragment(self) -> tuple[Message, bool] | None:
        """The next chunk of the incoming message and whether it is its last; ``None`` at the end.

        Never raises (as :meth:`_receive_message`); after the last chunk of a message the next call
        starts the next message. The default hands out each whole message as one chunk: a backend
        whose transport delivers messages in pieces overrides it to bound memory by the piece size.
        """
        message = await self._receive_message()
        return None if message is None else (message, True)

    @abstractmethod
    def _start_close(self, code: int | None, reason: str) -> None:
        """Start the closing handshake now (arguments already checked); must not block or raise.

        Queue or write the close frame at once and make sure the connection ends within
        ``close_timeout`` whether or not anyone awaits; call :meth:`_record_close` when it has.
        """

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
        pings = self._pings
        if pings:
            for pending in pings.values():
                if pending.event is not None:
                    pending.event.set()  # no pong will come: ``ping()`` raises ConnectionClosed
            pings.clear()
        logs.closed(self)

    def _track_ping(self, payload: bytes, *, keepalive: bool = False) -> PendingPing:
        """Remember a ping just queued or sent, until a pong acknowledges it.

        A keepalive ping replaces the previous keepalive ping still waiting (so an unanswered
        keepalive never accumulates).

        Raises:
            RuntimeError: a ping with the same payload is already waiting for its pong.
        """
        pings = self._pings
        if pings is None:
            pings = self._pings = {}
        elif payload in pings:
            raise RuntimeError("a ping with this payload is already waiting for its pong")
        if keepalive:
            for key in [key for key, pending in pings.items() if pending.keepalive]:
                del pings[key]
        pending = pings[payload] = PendingPing(keepalive)
        return pending

    def _acknowledge_pong(self, payload: bytes) -> bool:
        """A pong arrived: it acknowledges the ping with its payload and every earlier one (RFC 6455
        5.5.3); ``latency`` becomes that ping's round trip. Returns ``False`` for an unsolicited pong."""
        pings = self._pings
        if not pings or payload not in pings:
            return False
        now = time.perf_counter()
        for key in list(pings):
            pending = pings.pop(key)
            pending.latency = now - pending.sent
            if pending.event is not None:
                pending.event.set()
            if key == payload:
                self._latency = pending.latency
                break
        return True

    async def _await_pong(self, pending: PendingPing) -> float:
        """Wait until ``pending`` is acknowledged; raise ``ConnectionClosed`` if the channel closed."""
        if pending.latency is None and not self._closed:
            event = pending.event = anyio.Event()
            try:
                await event.wait()
            finally:
                if pending.latency is None and self._pings:  # cancelled: forget the ping
                    for key, value in list(self._pings.items()):
                        if value is pending:
                            del self._pings[key]
        if pending.latency is None:
            raise self._closed_error()
        return pending.latency

    def _skip_rest_of_message(self) -> None:
        """Make the next read skip the rest of the incoming message (pieces nobody will claim)."""
        stream = self._stream
        if isinstance(stream, _MessageStream) and stream._partial is None:
            stream._partial = _FragmentIterator(stream)

    async def _wait_for_fragments(self) -> None:
        """Wait while another task sends a fragmented message; raise if the channel closed."""
        while self._fragmenting is not None:
            await self._fragmenting.wait()
        if self._closing:
            raise self._closed_error()

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

    @property
    def latency(self) -> float | None:
        return self._latency

    def receive_fragments(self) -> AsyncIterator[Message]:
        """The chunks of the next message; see :meth:`WebSocketChannel.receive_fragments`."""
        stream = self._stream
        if not isinstance(stream, _MessageStream):
            raise TypeError("this channel's stream does not support receive_fragments()")
        return _FragmentIterator(stream)

    async def ping(self, payload: bytes | None = None) -> float:
        """Ping the peer; see :meth:`WebSocketChannel.ping`."""
        if payload is None:
            payload = os.urandom(4)
            while self._pings and payload in self._pings:
                payload = os.urandom(4)
        elif isinstance(payload, (bytes, bytearray, memoryview)):
            payload = bytes(payload)
            if len(payload) > MAX_PING_PAYLOAD:
                raise ValueError(f"a ping payload is at most {MAX_PING_PAYLOAD} bytes, not {len(payload)}")
        else:
            raise TypeError(f"a ping payload must be bytes-like, not {type(payload).__name__}")
        if self._closing:
            raise self._closed_error()
        latency = await self._ping(payload)
        self._latency = latency
        return latency

    async def send(self, message: Message) -> None:
        """Send one message; see :meth:`WebSocketSink.add`."""
        message = as_message(message)
        if self._closing:
            raise self._closed_error()
        if self._fragmenting is not None:
            await self._wait_for_fragments()
        await self._send_message(message)

    def close(self, code: int | None = None, reason: str | None = None) -> Awaitable[None]:
        """Close the channel; see :meth:`WebSocketSink.close`. Arguments are checked right here."""
        check_close_arguments(code, reason)
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
