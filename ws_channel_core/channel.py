"""The typed interface: what code written against ws-channel may rely on, on any backend.

``WebSocketChannel`` mirrors Dart's ``WebSocketChannel``: a ``stream`` of incoming messages and a
``sink`` to send with. Text messages are ``str``, binary messages are ``bytes``.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import Protocol, TypeAlias, runtime_checkable

from .errors import CloseFrame, WebSocketChannelError
from .http import Address, Request, Response

__all__ = ["Message", "State", "WebSocketSink", "WebSocketChannel", "WebSocketServer", "Handler"]

#: A WebSocket message: ``str`` for text frames, ``bytes`` for binary frames.
Message: TypeAlias = str | bytes


class State(enum.Enum):
    """Where a channel is in its life; the transitions are the same on every backend.

    CONNECTING -> OPEN -> CLOSING -> CLOSED, or straight to CLOSED when the connection drops.
    """

    #: The opening handshake is in progress (only a channel wrapping a socket not yet open shows it).
    CONNECTING = 0
    #: Messages flow both ways.
    OPEN = 1
    #: A close frame was sent or received; messages that arrived before the peer's close frame are
    #: still delivered by ``stream``; ``add`` raises ``ConnectionClosed``.
    CLOSING = 2
    #: The connection is gone; ``close_code`` and ``close_reason`` are final.
    CLOSED = 3


@runtime_checkable
class WebSocketSink(Protocol):
    """The sending half of a channel."""

    async def add(self, message: Message) -> None:
        """Send one message: ``str`` as text, ``bytes``-like as binary.

        Waits while the write buffer is full (backpressure).

        Raises:
            ConnectionClosed: the channel was closed by either side.
            TypeError: ``message`` is neither ``str`` nor bytes-like.
        """
        ...

    def add_nowait(self, message: Message) -> None:
        """Queue one message without waiting (for fan-out: see :func:`~ws_channel_core.broadcast`).

        The message is accepted whole whenever the outgoing buffer is at or below ``write_limit``
        (:attr:`buffered_amount` then grows past it), and refused, with nothing sent, above it.

        Raises:
            ConnectionClosed: the channel is closing or closed.
            BufferFull: the outgoing buffer is above ``write_limit``, or a fragmented message
                (:meth:`add_fragments`) is being sent.
            TypeError: ``message`` is neither ``str`` nor bytes-like.
        """
        ...

    async def add_fragments(self, chunks: Iterable[Message] | AsyncIterable[Message]) -> None:
        """Send one message made of ``chunks``, in fragments: memory holds one chunk at a time.

        All chunks are ``str`` (a text message) or all bytes-like (binary); the message goes out as
        a first frame and continuation frames, one per chunk where the backend can write fragments
        (see the backend notes; a backend that cannot sends the joined message). Other senders wait
        until the last chunk is sent; control frames (pings, pongs, close) may go out in between.
        An empty iterable sends nothing. If the iterable raises, or a chunk has the wrong type,
        after the first chunk, the message cannot be completed: the connection is failed with 1011
        and the error propagates.

        Raises:
            ConnectionClosed: the channel was closed by either side.
            TypeError: ``chunks`` is not an iterable, or a chunk is not of the first chunk's kind.
        """
        ...

    async def add_stream(self, messages: AsyncIterable[Message]) -> None:
        """Send every message of ``messages`` in order; raises like :meth:`add`."""
        ...

    @property
    def buffered_amount(self) -> int:
        """Bytes accepted by :meth:`add` / :meth:`add_nowait` and not yet handed to the operating
        system (the browser's ``bufferedAmount``): how far the peer, or the network, is behind."""
        ...

    def close(self, code: int | None = None, reason: str | None = None) -> Awaitable[None]:
        """Start the closing handshake now; the returned awaitable completes when the channel is closed.

        The close frame is queued at the call, whether or not the result is awaited (not awaiting it
        is fine: no warning, nothing leaked). The arguments are checked at call time, before anything
        is sent. A second call waits for the same completion and never raises. It never hangs: after
        ``close_timeout`` the connection is aborted. Receiving goes on until the peer's close frame.

        Raises:
            ValueError: the code may not be sent (allowed: 1000-1003, 1007-1014, 3000-4999), the
                reason is over 123 UTF-8 bytes, or a reason is given without a code.
            TypeError: the code is not an ``int`` or the reason not a ``str``.
        """
        ...

    @property
    def done(self) -> Awaitable[None]:
        """Completes when the connection is fully closed; may be awaited any number of times."""
        ...


@runtime_checkable
class WebSocketChannel(Protocol):
    """A WebSocket connection seen as a stream of incoming messages and a sink for outgoing ones."""

    @property
    def stream(self) -> AsyncIterator[Message]:
        """Incoming messages in order; ends, without raising, when the connection closes.

        It has one consumer: a second task iterating at the same time gets ``RuntimeError``.
        Cancelling the consumer does not close the channel.
        """
        ...

    @property
    def sink(self) -> WebSocketSink:
        """Where outgoing messages go."""
        ...

    @property
    def ready(self) -> Awaitable[None]:
        """Completes when the opening handshake succeeded; raises the handshake error otherwise."""
        ...

    @property
    def protocol(self) -> str | None:
        """The negotiated subprotocol, or ``None``."""
        ...

    @property
    def close_code(self) -> int | None:
        """The code of the first close frame received (RFC 6455 7.1.5).

        1005 when that frame had no code, 1006 when the connection ended without one, ``None`` while
        the connection is open.
        """
        ...

    @property
    def close_reason(self) -> str | None:
        """The reason of the first close frame received; ``None`` while unknown."""
        ...

    @property
    def close_sent(self) -> CloseFrame | None:
        """The close frame this side sent, if any."""
        ...

    @property
    def close_received(self) -> CloseFrame | None:
        """The close frame received from the peer, if any."""
        ...

    @property
    def close_received_first(self) -> bool | None:
        """``True`` when the peer's close frame came before ours; ``None`` unless both exist."""
        ...

    @property
    def close_error(self) -> WebSocketChannelError | None:
        """Why the connection failed (protocol error, keepalive timeout...), or ``None``."""
        ...

    @property
    def state(self) -> State:
        """CONNECTING, OPEN, CLOSING or CLOSED (see :class:`State`)."""
        ...

    @property
    def request(self) -> Request | None:
        """The upgrade request: received (server side) or sent (client side).

        ``None`` only where the transport hides it (a channel over an already-upgraded stream).
        """
        ...

    @property
    def response(self) -> Response | None:
        """The 101 response: sent (server side) or received (client side); ``None`` where hidden."""
        ...

    @property
    def remote_address(self) -> Address:
        """The peer's address, ``(host, port)`` over TCP; ``None`` when the transport does not tell."""
        ...

    @property
    def local_address(self) -> Address:
        """This end's address, ``(host, port)`` over TCP; ``None`` when the transport does not tell."""
        ...

    @property
    def id(self) -> uuid.UUID:
        """A unique identifier of this connection, stable for its life (for logs and registries)."""
        ...

    @property
    def latency(self) -> float | None:
        """The last measured round trip in seconds (a keepalive ping's or :meth:`ping`'s); ``None``
        until a pong answered one."""
        ...

    async def ping(self, payload: bytes | None = None) -> float:
        """Send a ping and wait for its pong; return the round trip in seconds (also :attr:`latency`).

        ``payload`` defaults to 4 random bytes. A pong acknowledges its ping and every earlier one
        (RFC 6455 5.5.3).

        Raises:
            ConnectionClosed: the channel is closing, or closed before the pong arrived.
            ValueError: ``payload`` is over 125 bytes.
            TypeError: ``payload`` is not bytes-like.
            RuntimeError: a ping with the same payload is already waiting for its pong.
            NotImplementedError: the backend cannot send pings (the browser's WebSocket API).
        """
        ...

    def receive_fragments(self) -> AsyncIterator[Message]:
        """The next incoming message as an async iterator of its chunks, as they arrive.

        Chunks are ``str`` for a text message (decoded and validated as they come) and ``bytes`` for
        a binary one; an empty message is one empty chunk. Where the backend receives fragments,
        memory holds a few frames, not the whole message; elsewhere the whole message is one chunk
        (see the backend notes). ``max_size`` still applies: a message over it fails the connection
        with 1009 and the iterator ends. It shares :attr:`stream`'s single consumer (a concurrent
        read raises ``RuntimeError``); a message not read to its end is skipped by the next read.
        The iterator ends without raising at the end of the message, or when the connection closes.
        """
        ...


#: A server's per-connection callback; the channel is closed (1000) when it returns, 1011 if it raises.
Handler: TypeAlias = Callable[[WebSocketChannel], Awaitable[None]]


@runtime_checkable
class WebSocketServer(Protocol):
    """A listening WebSocket server, as yielded by ``async with serve(...)``."""

    @property
    def port(self) -> int:
        """The TCP port of the first listening socket (useful with ``port=0``)."""
        ...

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Host and port of every listening socket."""
        ...

    async def serve_forever(self) -> None:
        """Serve until cancelled."""
        ...
