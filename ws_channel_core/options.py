"""Connection options shared by every backend, with the safe defaults the design prescribes."""

from __future__ import annotations

import ssl as ssl_module
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from .hooks import ProcessRequest, ProcessResponse
from .http import Headers, HeadersLike

__all__ = [
    "Compression",
    "HeadersLike",
    "Options",
    "ClientOptions",
    "ServerOptions",
    "DEFAULT_MAX_SIZE",
    "normalize_headers",
]

#: ``"deflate"`` for permessage-deflate (RFC 7692), ``None`` for no compression.
Compression: TypeAlias = Literal["deflate"] | None

DEFAULT_MAX_SIZE = 2**20


def normalize_headers(headers: HeadersLike) -> tuple[tuple[str, str], ...]:
    """Return headers as a tuple of pairs; reject names or values that could split the request."""
    return tuple(Headers(headers).items())


def _check_positive(name: str, value: float | None, allow_none: bool = True) -> None:
    if value is None:
        if not allow_none:
            raise ValueError(f"{name} may not be None")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number")
    if value <= 0:
        raise ValueError(f"{name} must be positive, not {value}")


@dataclass(frozen=True, kw_only=True)
class Options:
    """Options common to both roles. Every limit has a safe default; ``None`` lifts a limit."""

    #: Subprotocols: offered by a client (in order of preference), supported by a server.
    protocols: tuple[str, ...] = ()
    #: Extra headers: on the upgrade request (client) or the 101 response (server).
    headers: tuple[tuple[str, str], ...] = ()
    #: Seconds between keepalive pings; ``None`` disables keepalive.
    ping_interval: float | None = 20.0
    #: Seconds to wait for the pong before failing the connection (keepalive timeout).
    ping_timeout: float | None = 20.0
    #: Seconds for connecting and the opening handshake (on a server: the handshake only).
    connect_timeout: float | None = 10.0
    #: Seconds to wait for the closing handshake before aborting the connection.
    close_timeout: float | None = 10.0
    #: Largest incoming message in bytes (after decompression); ``None`` for no limit.
    max_size: int | None = DEFAULT_MAX_SIZE
    #: Incoming messages buffered while nobody reads the stream.
    max_queue: int = 16
    #: Bytes buffered for writing before ``add`` waits (backpressure).
    write_limit: int = 2**16
    #: permessage-deflate on (``"deflate"``) or off (``None``).
    compression: Compression = "deflate"
    #: TLS: a context, or ``True`` for the default context (client); ``None`` for plain TCP.
    ssl: ssl_module.SSLContext | bool | None = None
    #: Backend-specific extras, passed through unchanged; a backend rejects keys it does not know.
    extra: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for protocol in self.protocols:
            if not isinstance(protocol, str) or not protocol or any(
                c in protocol for c in ' \t,;"()<>@:/[]?={}\\\r\n'
            ):
                raise ValueError(f"invalid subprotocol name {protocol!r}")
        _check_positive("ping_interval", self.ping_interval)
        _check_positive("ping_timeout", self.ping_timeout)
        _check_positive("connect_timeout", self.connect_timeout)
        _check_positive("close_timeout", self.close_timeout)
        _check_positive("max_size", self.max_size)
        _check_positive("max_queue", self.max_queue, allow_none=False)
        _check_positive("write_limit", self.write_limit, allow_none=False)
        if self.compression not in ("deflate", None):
            raise ValueError(f"compression must be 'deflate' or None, not {self.compression!r}")
        if self.ssl is not None and not isinstance(self.ssl, (bool, ssl_module.SSLContext)):
            raise TypeError("ssl must be an SSLContext, a bool or None")


@dataclass(frozen=True, kw_only=True)
class ClientOptions(Options):
    """Options of ``connect()``."""


@dataclass(frozen=True, kw_only=True)
class ServerOptions(Options):
    """Options of ``serve()``."""

    #: Called with each upgrade request; ``None`` upgrades, a ``Response`` is sent instead.
    process_request: ProcessRequest | None = None
    #: Called with the request and the 101 about to be sent; may change it or return a replacement.
    process_response: ProcessResponse | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("process_request", "process_response"):
            hook = getattr(self, name)
            if hook is not None and not callable(hook):
                raise TypeError(f"{name} must be a callable or None")
        if self.ssl is True:
            raise ValueError("a server needs an ssl.SSLContext with its certificate, not True")
