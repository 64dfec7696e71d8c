"""The exception tree every backend raises; native library errors are chained as ``__cause__``.

::

    WebSocketChannelError
    ├── InvalidURI (also ValueError)            the URL is not ws:// or wss://, or is malformed
    ├── InvalidHandshake                        the opening handshake failed
    │   ├── ServerUnreachable                   could not reach the server: worth retrying later
    │   │   └── HandshakeTimeout (also TimeoutError) no complete answer within connect_timeout
    │   ├── InvalidStatus                       the server answered HTTP without upgrading (rejected)
    │   ├── InvalidHeader                       a required header is missing or wrong
    │   └── NegotiationError                    subprotocol or extension negotiation failed
    ├── BufferFull                              ``add_nowait``: the outgoing buffer is above write_limit
    ├── ConnectionClosed                        the channel is closed (raised by ``add``)
    │   ├── ConnectionClosedOK                  ... after a clean close (1000, 1001, 1005)
    │   └── ConnectionClosedError               ... after an error or an abrupt end
    ├── ProtocolError                           the peer broke RFC 6455; carries the close code
    │   └── PayloadTooBig                       a message exceeded ``max_size`` (1009)
    └── KeepaliveTimeout (also TimeoutError)    the peer stopped answering pings

Bad arguments raise the builtin ``ValueError`` or ``TypeError``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .http import Headers, Response

__all__ = [
    "CloseFrame",
    "WebSocketChannelError",
    "InvalidURI",
    "InvalidHandshake",
    "ServerUnreachable",
    "InvalidStatus",
    "InvalidHeader",
    "NegotiationError",
    "HandshakeTimeout",
    "BufferFull",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "ProtocolError",
    "PayloadTooBig",
    "KeepaliveTimeout",
    "OK_CLOSE_CODES",
]

#: Codes that mark a clean close: normal closure, going away, and a close frame without a code.
OK_CLOSE_CODES = frozenset({1000, 1001, 1005})


@dataclass(frozen=True)
class CloseFrame:
    """The content of a close frame: ``code`` is 1005 when the frame carried no code."""

    code: int
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.code} ({self.reason})" if self.reason else str(self.code)


class WebSocketChannelError(Exception):
    """Root of every error ws-channel raises about a connection."""


class InvalidURI(WebSocketChannelError, ValueError):
    """The URL is not a valid ``ws://`` or ``wss://`` URL; raised before any I/O."""


class InvalidHandshake(WebSocketChannelError):
    """The opening handshake failed."""


class ServerUnreachable(InvalidHandshake):
    """The server could not be reached: DNS failure, connection refused, TLS failure, or no answer.

    Retrying later may help, unlike :class:`InvalidStatus` (the server answered and refused).
    """


class InvalidStatus(InvalidHandshake):
    """The server answered the upgrade request with an HTTP response other than 101.

    ``response`` is the whole answer: status, reason, every header (``get_all("Set-Cookie")``) and
    the body, read up to :data:`ws_channel_core.http.MAX_BODY_BYTES`.
    """

    def __init__(self, response: Response) -> None:
        self.response = response
        super().__init__(f"server rejected WebSocket connection: HTTP {response.status}")

    @property
    def status_code(self) -> int:
        """The HTTP status of the refusal."""
        return self.response.status

    @property
    def headers(self) -> Headers:
        """The headers of the refusal."""
        return self.response.headers

    @property
    def body(self) -> bytes:
        """The body of the refusal (at most ``MAX_BODY_BYTES``)."""
        return self.response.body


class InvalidHeader(InvalidHandshake):
    """A header required by RFC 6455 is missing or has a wrong value."""

    def __init__(self, name: str, value: str | None = None, detail: str = "") -> None:
        self.name = name
        self.value = value
        if value is None:
            message = f"missing {name} header"
        else:
            message = f"invalid {name} header: {value!r}"
        super().__init__(f"{message}: {detail}" if detail else message)


class NegotiationError(InvalidHandshake):
    """Subprotocol or extension negotiation failed (for example a subprotocol nobody offered)."""


class HandshakeTimeout(ServerUnreachable, TimeoutError):
    """The connection or the opening handshake did not complete within ``connect_timeout``."""


class BufferFull(WebSocketChannelError):
    """``add_nowait`` could not queue the message: the outgoing buffer is above ``write_limit`` (or a
    fragmented message is being sent). Nothing was sent; ``await add()`` would wait for room instead."""


class ConnectionClosed(WebSocketChannelError):
    """The channel is closed; raised when sending on it.

    ``received`` and ``sent`` are the close frames received and sent (``None`` when there was none);
    ``received_first`` tells which came first when both exist.
    """

    def __init__(
        self,
        received: CloseFrame | None,
        sent: CloseFrame | None,
        received_first: bool | None = None,
    ) -> None:
        self.received = received
        self.sent = sent
        self.received_first = received_first
        super().__init__(self._describe())

    @property
    def code(self) -> int:
        """The close code the channel reports: the received one, else 1006."""
        return self.received.code if self.received is not None else 1006

    @property
    def reason(self) -> str:
        """The close reason the channel reports."""
        return self.received.reason if self.received is not None else ""

    def _describe(self) -> str:
        if self.received is None and self.sent is None:
            return "connection closed abnormally (1006): no close frame received or sent"
        if self.received is None:
            return f"sent close frame {self.sent}; no close frame received"
        if self.sent is None:
            return f"received close frame {self.received}; no close frame sent"
        order = "received then sent" if self.received_first else "sent then received"
        return f"close frames {order}: received {self.received}, sent {self.sent}"

    @staticmethod
    def for_frames(
        received: CloseFrame | None, sent: CloseFrame | None, received_first: bool | None = None
    ) -> ConnectionClosed:
        """Build the OK or Error variant that fits the close frames."""
        clean = received is not None and received.code in OK_CLOSE_CODES
        if received is None and sent is not None and sent.code in OK_CLOSE_CODES:
            clean = True  # a local clean close still in progress
        cls = ConnectionClosedOK if clean else ConnectionClosedError
        return cls(received, sent, received_first)


class ConnectionClosedOK(ConnectionClosed):
    """The channel closed cleanly (1000, 1001 or a close frame without a code)."""


class ConnectionClosedError(ConnectionClosed):
    """The channel closed with an error code, or the connection dropped (1006)."""


class ProtocolError(WebSocketChannelError):
    """The peer violated RFC 6455; ``close_code`` is the code the connection fails with."""

    def __init__(self, message: str, close_code: int = 1002) -> None:
        self.close_code = close_code
        super().__init__(message)


class PayloadTooBig(ProtocolError):
    """A message or frame exceeded the configured ``max_size`` (close code 1009)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, close_code=1009)


class KeepaliveTimeout(WebSocketChannelError, TimeoutError):
    """The peer did not answer a keepalive ping within ``ping_timeout``."""
