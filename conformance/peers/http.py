"""Just enough HTTP/1.1 for scripted peers: build and parse upgrade requests and responses by hand."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ws_channel_core.handshake import sign_key

__all__ = [
    "Request",
    "Response",
    "parse_request",
    "parse_response",
    "build_request",
    "build_response",
    "upgrade_response",
]


def _find_all(headers: Sequence[tuple[str, str]], name: str) -> list[str]:
    wanted = name.lower()
    return [value for key, value in headers if key.lower() == wanted]


@dataclass(frozen=True)
class Request:
    """An HTTP request head as received: method, target and headers in arrival order."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...] = ()

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        found = _find_all(self.headers, name)
        return found[0] if found else None

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name``, one per header line."""
        return _find_all(self.headers, name)


@dataclass(frozen=True)
class Response:
    """An HTTP response head (and body, when one was read)."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = field(default=b"")

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        found = _find_all(self.headers, name)
        return found[0] if found else None

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name``, one per header line."""
        return _find_all(self.headers, name)


def _parse_headers(lines: list[str]) -> tuple[tuple[str, str], ...]:
    headers = []
    for line in lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed header line {line!r}")
        headers.append((name.strip(), value.strip()))
    return tuple(headers)


def parse_request(head: bytes) -> Request:
    """Parse a request head (everything before the blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    return Request(method, target, _parse_headers(lines[1:]))


def parse_response(head: bytes) -> Response:
    """Parse a response head (everything before the blank line); the body is read separately."""
    lines = head.decode("latin-1").split("\r\n")
    _version, status, *rest = lines[0].split(" ", 2)
    return Response(int(status), rest[0] if rest else "", _parse_headers(lines[1:]))


def _head(first_line: str, headers: Iterable[tuple[str, str]]) -> bytes:
    lines = [first_line, *(f"{name}: {value}" for name, value in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def build_request(
    host_header: str,
    resource: str = "/",
    *,
    key: str,
    protocols: Sequence[str] = (),
    extensions: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    """An upgrade request as a client sends it (RFC 6455 4.1)."""
    fields = [
        ("Host", host_header),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    if protocols:
        fields.append(("Sec-WebSocket-Protocol", ", ".join(protocols)))
    if extensions:
        fields.append(("Sec-WebSocket-Extensions", extensions))
    fields.extend(headers)
    return _head(f"GET {resource} HTTP/1.1", fields)


def build_response(
    status: int,
    reason: str,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> bytes:
    """Any HTTP response; ``Content-Length`` is added when there is a body."""
    fields = list(headers)
    if body or status != 101:
        fields.append(("Content-Length", str(len(body))))
    return _head(f"HTTP/1.1 {status} {reason}", fields) + body


def upgrade_response(
    key: str,
    *,
    protocol: str | None = None,
    extensions: str | None = None,
    accept: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    """A 101 answer to an upgrade request; ``accept`` overrides the correct Sec-WebSocket-Accept."""
    fields = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept if accept is not None else sign_key(key)),
    ]
    if protocol is not None:
        fields.append(("Sec-WebSocket-Protocol", protocol))
    if extensions is not None:
        fields.append(("Sec-WebSocket-Extensions", extensions))
    fields.extend(headers)
    return build_response(101, "Switching Protocols", fields)
