"""The opening handshake (RFC 6455 section 4) as sans-I/O code over the core's HTTP types.

Requests and responses are the core's :class:`~ws_channel_core.http.Request` and
:class:`~ws_channel_core.http.Response`; this module parses them from bytes and writes them as bytes.

Client: :func:`build_request`, send :func:`request_bytes`, feed the answer to an :class:`HttpReader`,
then :func:`check_response`. Server: feed the request to an :class:`HttpReader`, let the core's
``answer_upgrade_request`` judge it (426/400, or the ``process_request`` hook's answer), then
:func:`accept_request` builds the 101 (:func:`upgrade_response_bytes` writes it) and
:func:`reject_response` writes a refusal. The head of a request or response is limited in size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ws_channel_core.errors import InvalidHandshake, InvalidHeader, InvalidStatus, NegotiationError
from ws_channel_core.handshake import check_accept, sign_key, validate_client_key
from ws_channel_core.http import MAX_BODY_BYTES, Address, Headers, Request, Response

from . import deflate
from .deflate import DeflateParameters

__all__ = [
    "MAX_HEAD_BYTES",
    "MAX_BODY_BYTES",
    "HttpReader",
    "parse_request",
    "ClientResult",
    "ServerResult",
    "build_request",
    "request_bytes",
    "check_response",
    "accept_request",
    "upgrade_response_bytes",
    "reject_response",
]

#: Largest request or response head (start line and headers) accepted.
MAX_HEAD_BYTES = 16384
_MAX_HEADERS = 128
_USER_AGENT = "ws-channel-raw"


def _parse_head(head: bytes) -> tuple[list[str], Headers]:
    text = head.decode("iso-8859-1")  # latin-1 decodes any byte
    lines = text.split("\r\n")
    start = lines[0].split(" ", 2)
    if len(lines) - 1 > _MAX_HEADERS:
        raise InvalidHandshake(f"more than {_MAX_HEADERS} HTTP headers")
    headers = Headers()
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or any(c in name for c in " \t"):
            raise InvalidHandshake(f"malformed HTTP header line {line!r}")
        try:
            headers.add(name, value.strip(" \t"))
        except ValueError as exc:  # a NUL byte in the value
            raise InvalidHandshake(f"malformed HTTP header line {line!r}") from exc
    return start, headers


def parse_request(head: bytes, remote_address: Address = None) -> Request:
    """Parse a request head (without its final blank line), as :meth:`HttpReader.read_request` does.

    A server may keep the head bytes of a connection instead of its :class:`Request` and parse them
    again on first use: the same bytes always give the same request.

    Raises:
        InvalidHandshake: the head is malformed.
    """
    start, headers = _parse_head(head)
    if len(start) != 3 or not start[2].startswith("HTTP/") or not start[0] or not start[1]:
        raise InvalidHandshake(f"malformed HTTP request line {' '.join(start)!r}")
    return Request(start[1], headers, remote_address, start[0])


class HttpReader:
    """Accumulates bytes until a complete HTTP head (and, for a refusal, its body) arrived.

    ``head`` is the head of the request :meth:`read_request` returned (start line and headers,
    without the blank line), for a server that keeps those bytes rather than the parsed request.
    """

    __slots__ = ("buffer", "max_head_bytes", "eof", "head")

    def __init__(self, max_head_bytes: int = MAX_HEAD_BYTES) -> None:
        self.buffer = bytearray()
        self.max_head_bytes = max_head_bytes
        self.eof = False
        self.head = b""

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

    def read_request(self, remote_address: Address = None) -> Request | None:
        """Return the request once its head is complete (``None`` before); bytes after it stay buffered.

        Raises:
            InvalidHandshake: the head is malformed, too big, or the peer closed before finishing.
        """
        found = self._head()
        if found is None:
            return None
        head, end = found
        request = parse_request(head, remote_address)
        del self.buffer[:end]
        self.head = head
        return request

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
        body = b""
        if status == 101:
            del self.buffer[:end]
        else:
            length_header = headers.get("Content-Length")
            available = len(self.buffer) - end
            if length_header is not None and length_header.strip().isdigit():
                wanted = min(int(length_header), MAX_BODY_BYTES)
                if available < wanted and not self.eof:
                    return None
            elif not self.eof and available < MAX_BODY_BYTES:
                return None
            else:
                wanted = MAX_BODY_BYTES
            body = bytes(self.buffer[end : end + wanted])
            del self.buffer[:]
        try:
            return Response(status, headers, body, reason)
        except ValueError as exc:  # a status outside 100-599, a NUL in the reason
            raise InvalidHandshake(f"malformed HTTP status line {' '.join(start)!r}") from exc


def _head_bytes(start_line: str, headers: Headers | Sequence[tuple[str, str]]) -> bytes:
    lines = [start_line, *(f"{name}: {value}" for name, value in headers), "", ""]
    return "\r\n".join(lines).encode("iso-8859-1", errors="replace")


def build_request(
    host_header: str,
    resource: str,
    key: str,
    *,
    protocols: Sequence[str] = (),
    compression: bool = True,
    headers: Sequence[tuple[str, str]] = (),
) -> Request:
    """Return the client's upgrade request (RFC 6455 4.1); :func:`request_bytes` writes it."""
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
    return Request(resource, Headers(items))


def request_bytes(request: Request) -> bytes:
    """The request head as sent on the wire."""
    return _head_bytes(f"{request.method} {request.raw_path} HTTP/1.1", request.headers)


@dataclass(frozen=True)
class ClientResult:
    """What the client learned from a successful handshake."""

    protocol: str | None
    deflate: DeflateParameters | None


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
        InvalidStatus: the status is not 101 (with the whole response).
        InvalidHeader: Upgrade, Connection or Sec-WebSocket-Accept is missing or wrong.
        NegotiationError: a subprotocol or extension that was not offered.
    """
    headers = response.headers
    if response.status != 101:
        raise InvalidStatus(response)
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
    return ClientResult(protocol, params)


@dataclass(frozen=True)
class ServerResult:
    """What the server agreed to, and the 101 response to send (``process_response`` may change it)."""

    protocol: str | None
    deflate: DeflateParameters | None
    response: Response


def accept_request(
    request: Request,
    *,
    protocols: Sequence[str] = (),
    compression: bool = True,
    headers: Sequence[tuple[str, str]] = (),
) -> ServerResult:
    """Build the 101 for a request the core's ``check_upgrade_request`` accepted.

    The subprotocol is the first one, in the client's order of preference, that ``protocols`` lists.

    Raises:
        InvalidHeader: ``Sec-WebSocket-Key`` is missing or malformed (a request that was not checked).
    """
    key = validate_client_key(request.headers.get("Sec-WebSocket-Key"))
    protocol = next((p for p in request.subprotocols if p in protocols), None)
    params: DeflateParameters | None = None
    if compression:
        params = deflate.accept_offer(request.headers.get_all("Sec-WebSocket-Extensions"))
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
    return ServerResult(protocol, params, Response(101, items))


def upgrade_response_bytes(response: Response) -> bytes:
    """The 101 as written: its status line and exactly its headers, in order."""
    return _head_bytes(f"HTTP/1.1 {response.status} {response.reason}", response.headers)


def reject_response(response: Response) -> bytes:
    """A refusal as written: status line with its reason, every header in order (duplicates kept),
    ``Content-Length`` of the body, ``Connection: close`` unless the response set it, then the body."""
    headers = response.headers
    items = [(name, value) for name, value in headers if name.lower() != "content-length"]
    items.append(("Content-Length", str(len(response.body))))
    if "Connection" not in headers:
        items.append(("Connection", "close"))
    return _head_bytes(f"HTTP/1.1 {response.status} {response.reason}", items) + response.body
