"""The typed interface: what code written against ws-channel may rely on, on any backend.

``WebSocketChannel`` mirrors Dart's ``WebSocketChannel``: a ``stream`` of incoming messages and a
``sink`` to send with. Text messages are ``str``, binary messages are ``bytes``.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
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

    async def add_stream(self, messages: AsyncIterable[Message]) -> None:
        """Send every message of ``messages`` in order; raises like :meth:`add`."""
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
