"""The opening handshake (RFC 6455 section 4) as sans-I/O code: build and check HTTP/1.1 upgrades.

Client: :func:`build_request`, feed the answer to an :class:`HttpReader`, then :func:`check_response`.
Server: feed the request to an :class:`HttpReader`, then :func:`accept_request` (which returns the 101
response) or, when it raises, :func:`reject_response`. Every missing or wrong header raises its own
typed error from :mod:`ws_channel_core.errors`; the head of a request or response is limited in size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ws_channel_core.errors import InvalidHandshake, InvalidHeader, InvalidStatus, NegotiationError
from ws_channel_core.handshake import check_accept, sign_key, validate_client_key
from ws_channel_core.http import Response as CoreResponse

from . import deflate
from .deflate import DeflateParameters

__all__ = [
    "MAX_HEAD_BYTES",
    "MAX_BODY_BYTES",
    "Headers",
    "Request",
    "Response",
    "HttpReader",
    "ClientResult",
    "ServerResult",
    "build_request",
    "check_response",
    "accept_request",
    "reject_response",
]

#: Largest request or response head (start line and headers) accepted.
MAX_HEAD_BYTES = 16384
#: Largest body kept from a non-101 response (for :class:`InvalidStatus`).
MAX_BODY_BYTES = 65536
_MAX_HEADERS = 128
_USER_AGENT = "ws-channel-raw"


class Headers:
    """HTTP headers in order, looked up without regard to case."""

    __slots__ = ("items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self.items: list[tuple[str, str]] = list(items)

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in order."""
        lowered = name.lower()
        return [value for key, value in self.items if key.lower() == lowered]

    def get(self, name: str) -> str | None:
        """The values of ``name`` joined with ", " (RFC 9110 5.3), or ``None`` when absent."""
        values = self.get_all(name)
        return ", ".join(values) if values else None

    def tokens(self, name: str) -> list[str]:
        """The comma-separated tokens of ``name``, lowercased."""
        return [t.strip().lower() for v in self.get_all(name) for t in v.split(",") if t.strip()]

    def as_dict(self) -> dict[str, str]:
        """A plain dict (repeated headers joined), for error reports."""
        result: dict[str, str] = {}
        for key, value in self.items:
            result[key] = f"{result[key]}, {value}" if key in result else value
        return result


@dataclass(frozen=True)
class Request:
    """A parsed HTTP request head."""

    method: str
    target: str
    headers: Headers


@dataclass(frozen=True)
class Response:
    """A parsed HTTP response; ``body`` only for non-101 answers."""

    status: int
    reason: str
    headers: Headers
    body: bytes = b""


def _parse_head(head: bytes) -> tuple[list[str], Headers]:
    try:
        text = head.decode("iso-8859-1")
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes anything
        raise InvalidHandshake("undecodable HTTP head") from exc
    lines = text.split("\r\n")
    start = lines[0].split(" ", 2)
    if len(lines) - 1 > _MAX_HEADERS:
        raise InvalidHandshake(f"more than {_MAX_HEADERS} HTTP headers")
    items: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or any(c in name for c in " \t"):
            raise InvalidHandshake(f"malformed HTTP header line {line!r}")
        items.append((name, value.strip(" \t")))
    return start, Headers(items)


class HttpReader:
    """Accumulates bytes until a complete HTTP head (and, for a refusal, its body) arrived."""

    def __init__(self, max_head_bytes: int = MAX_HEAD_BYTES) -> None:
        self.buffer = bytearray()
        self.max_head_bytes = max_head_bytes
        self.eof = False

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes read from the peer."""
        self.buffer += data

    def feed_eof(self) -> None:
        """Record that the peer closed its side."""
        self.eof = True

    def _head(self) -> tuple[bytes, int] | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > self.max_head_bytes:
                raise InvalidHandshake(f"HTTP head exceeds {self.max_head_bytes} bytes")
            if self.eof:
                raise InvalidHandshake("connection closed during the opening handshake")
            return None
        if end > self.max_head_bytes:
            raise InvalidHandshake(f"HTTP head exceeds {self.max_head_bytes} bytes")
        return bytes(self.buffer[:end]), end + 4

    def read_request(self) -> Request | None:
        """Return the request once its head is complete (``None`` before); bytes after it stay buffered.

        Raises:
            InvalidHandshake: the head is malformed, too big, or the peer closed before finishing.
        """
        found = self._head()
        if found is None:
            return None
        head, end = found
        start, headers = _parse_head(head)
        if len(start) != 3 or not start[2].startswith("HTTP/"):
            raise InvalidHandshake(f"malformed HTTP request line {' '.join(start)!r}")
        del self.buffer[:end]
        return Request(start[0], start[1], headers)

    def read_response(self) -> Response | None:
        """Return the response once complete (``None`` before); bytes after a 101 stay buffered.

        For a status other than 101, the body is read up to ``Content-Length`` (or the end of the
        stream), at most :data:`MAX_BODY_BYTES`.

        Raises:
            InvalidHandshake: the head is malformed, too big, or the peer closed before finishing.
        """
        found = self._head()
        if found is None:
            return None
        head, end = found
        start, headers = _parse_head(head)
        if len(start) < 2 or not start[0].startswith("HTTP/") or not start[1].isdigit():
            raise InvalidHandshake(f"malformed HTTP status line {' '.join(start)!r}")
        status = int(start[1])
        reason = start[2] if len(start) > 2 else ""
        if status == 101:
            del self.buffer[:end]
            return Response(status, reason, headers)
        length_header = headers.get("Content-Length")
        available = len(self.buffer) - end
        if length_header is not None and length_header.isdigit():
            wanted = min(int(length_header), MAX_BODY_BYTES)
            if available < wanted and not self.eof:
                return None
        elif not self.eof and available < MAX_BODY_BYTES:
            return None
        else:
            wanted = MAX_BODY_BYTES
        body = bytes(self.buffer[end : end + wanted])
        del self.buffer[:]
        return Response(status, reason, headers, body)


def _head_bytes(start_line: str, headers: Sequence[tuple[str, str]]) -> bytes:
    lines = [start_line, *(f"{name}: {value}" for name, value in headers), "", ""]
    return "\r\n".join(lines).encode("iso-8859-1")


def build_request(
    host_header: str,
    resource: str,
    key: str,
    *,
    protocols: Sequence[str] = (),
    compression: bool = True,
    headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """Return the client's upgrade request (RFC 6455 4.1)."""
    names = {name.lower() for name, _ in headers}
    items: list[tuple[str, str]] = [("Host", host_header)] if "host" not in names else []
    items += [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    if protocols:
        items.append(("Sec-WebSocket-Protocol", ", ".join(protocols)))
    if compression:
        items.append(("Sec-WebSocket-Extensions", deflate.client_offer()))
    if "user-agent" not in names:
        items.append(("User-Agent", _USER_AGENT))
    items += headers
    return _head_bytes(f"GET {resource} HTTP/1.1", items)


@dataclass(frozen=True)
class ClientResult:
    """What the client learned from a successful handshake."""

    protocol: str | None
    deflate: DeflateParameters | None
    headers: Headers = field(default_factory=Headers)


def _check_upgrade_headers(headers: Headers) -> None:
    if "websocket" not in headers.tokens("Upgrade"):
        raise InvalidHeader("Upgrade", headers.get("Upgrade"), "expected 'websocket'")
    if "upgrade" not in headers.tokens("Connection"):
        raise InvalidHeader("Connection", headers.get("Connection"), "expected 'Upgrade'")


def check_response(
    response: Response, key: str, *, protocols: Sequence[str] = (), compression: bool = True
) -> ClientResult:
    """Check the server's answer to :func:`build_request`.

    Raises:
        InvalidStatus: the status is not 101 (with the headers and body).
        InvalidHeader: Upgrade, Connection or Sec-WebSocket-Accept is missing or wrong.
        NegotiationError: a subprotocol or extension that was not offered.
    """
    headers = response.headers
    if response.status != 101:
        raise InvalidStatus(
            CoreResponse(response.status, headers.items, response.body, response.reason)
        )
    _check_upgrade_headers(headers)
    check_accept(key, headers.get("Sec-WebSocket-Accept"))
    chosen = headers.get_all("Sec-WebSocket-Protocol")
    protocol: str | None = None
    if chosen:
        if len(chosen) > 1 or "," in chosen[0]:
            raise NegotiationError(f"server chose several subprotocols: {', '.join(chosen)}")
        protocol = chosen[0].strip()
        if protocol not in protocols:
            raise NegotiationError(f"server chose subprotocol {protocol!r}, which was not offered")
    extension_values = headers.get_all("Sec-WebSocket-Extensions")
    params: DeflateParameters | None = None
    if extension_values:
        if not compression:
            raise NegotiationError(f"server accepted extensions that were not offered: {extension_values}")
        params = deflate.accept_response(extension_values)
    return ClientResult(protocol, params, headers)


@dataclass(frozen=True)
class ServerResult:
    """What the server agreed to, and the 101 response to send."""

    protocol: str | None
    deflate: DeflateParameters | None
    response: bytes
    request: Request


def accept_request(
    request: Request,
    *,
    protocols: Sequence[str] = (),
    compression: bool = True,
    headers: Sequence[tuple[str, str]] = (),
) -> ServerResult:
    """Check a client's upgrade request (RFC 6455 4.2.1) and build the 101 response.

    The subprotocol is the first one, in the client's order of preference, that ``protocols`` lists.

    Raises:
        InvalidHandshake: not a GET over HTTP/1.1.
        InvalidHeader: Host, Upgrade, Connection, Sec-WebSocket-Key or Sec-WebSocket-Version is
            missing or wrong (``reject_response`` picks the matching HTTP status).
    """
    if request.method != "GET":
        raise InvalidHandshake(f"upgrade request method is {request.method}, not GET")
    request_headers = request.headers
    if request_headers.get("Host") is None:
        raise InvalidHeader("Host")
    _check_upgrade_headers(request_headers)
    key = validate_client_key(request_headers.get("Sec-WebSocket-Key"))
    version = request_headers.get("Sec-WebSocket-Version")
    if version is None:
        raise InvalidHeader("Sec-WebSocket-Version")
    if version.strip() != "13":
        raise InvalidHeader("Sec-WebSocket-Version", version, "only version 13 is supported")
    offered = [
        token.strip()
        for value in request_headers.get_all("Sec-WebSocket-Protocol")
        for token in value.split(",")
        if token.strip()
    ]
    protocol = next((p for p in offered if p in protocols), None)
    params: DeflateParameters | None = None
    if compression:
        params = deflate.accept_offer(request_headers.get_all("Sec-WebSocket-Extensions"))
    items: list[tuple[str, str]] = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", sign_key(key)),
    ]
    if protocol is not None:
        items.append(("Sec-WebSocket-Protocol", protocol))
    if params is not None:
        items.append(("Sec-WebSocket-Extensions", params.header_value()))
    items += headers
    response = _head_bytes("HTTP/1.1 101 Switching Protocols", items)
    return ServerResult(protocol, params, response, request)


def reject_response(error: InvalidHandshake) -> bytes:
    """Return the HTTP error response for a refused upgrade (426 for a wrong version, else 400)."""
    if isinstance(error, InvalidHeader) and error.name == "Sec-WebSocket-Version":
        status, reason, extra = 426, "Upgrade Required", [("Sec-WebSocket-Version", "13")]
    else:
        status, reason, extra = 400, "Bad Request", []
    body = f"Failed to open a WebSocket connection: {error}.\n".encode()
    items = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
        *extra,
    ]
    return _head_bytes(f"HTTP/1.1 {status} {reason}", items) + body
