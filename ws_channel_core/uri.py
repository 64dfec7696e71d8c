"""Parsing and checking of ``ws://`` and ``wss://`` URLs, before any I/O happens."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import InvalidURI

__all__ = ["WebSocketURI", "parse_uri"]


@dataclass(frozen=True)
class WebSocketURI:
    """A parsed WebSocket URL (RFC 6455 section 3)."""

    secure: bool
    host: str
    port: int
    resource: str
    url: str

    @property
    def host_header(self) -> str:
        """The ``Host`` header value: the port is left out when it is the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.secure else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_uri(url: str) -> WebSocketURI:
    """Parse and check a WebSocket URL.

    Raises:
        InvalidURI: (a ``ValueError``) the scheme is not ``ws``/``wss``, the host is missing, the port
            is not a number, or the URL has a fragment (RFC 6455 section 3 forbids it).
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURI(f"{url!r} is not a valid URL: {exc}") from exc
    if parts.scheme not in ("ws", "wss"):
        raise InvalidURI(f"{url!r} is not a WebSocket URL: the scheme must be ws:// or wss://")
    if not parts.hostname:
        raise InvalidURI(f"{url!r} has no host")
    if parts.fragment or url.endswith("#"):
        raise InvalidURI(f"{url!r} has a fragment, which WebSocket URLs may not have")
    secure = parts.scheme == "wss"
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    return WebSocketURI(
        secure=secure,
        host=parts.hostname,
        port=port if port is not None else (443 if secure else 80),
        resource=resource,
        url=url,
    )
