"""The HTTP side of the opening handshake as plain data: ``Headers``, ``Request``, ``Response``.

Every backend fills these in the same shape, so a server hook, a log line or a client's error handler
reads a request or a response the same way whatever library parsed it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeAlias, overload
from urllib.parse import parse_qs, urlsplit

__all__ = ["Address", "Headers", "HeadersLike", "Request", "Response", "MAX_BODY_BYTES"]

#: A peer's or a socket's address: ``(host, port)`` for TCP (IPv6 keeps its extra fields), a path
#: for a Unix socket, ``None`` when the transport does not tell.
Address: TypeAlias = tuple[Any, ...] | str | None

#: Largest body of a refused upgrade kept in ``InvalidStatus.response.body``; the rest is dropped.
MAX_BODY_BYTES = 65536

_MISSING: Any = object()


class Headers:
    """HTTP headers: ordered, case-insensitive, multi-valued.

    ``headers["Name"]`` is the first value (``KeyError`` when absent); ``get_all("Set-Cookie")`` every
    value in wire order; iterating yields ``(name, value)`` pairs in wire order, names as sent.
    """

    __slots__ = ("_items",)

    def __init__(self, items: HeadersLike = None) -> None:
        self._items: list[tuple[str, str]] = []
        if items is None:
            return
        pairs = items.items() if isinstance(items, (Mapping, Headers)) else items
        for name, value in pairs:
            self.add(name, value)

    # -- reading --------------------------------------------------------------------------------

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in the order they came."""
        lowered = name.lower()
        return [value for key, value in self._items if key.lower() == lowered]

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, or ``default`` when absent."""
        lowered = name.lower()
        for key, value in self._items:
            if key.lower() == lowered:
                return value
        return default

    def tokens(self, name: str) -> list[str]:
        """The comma-separated tokens of every ``name`` header, stripped and lowercased."""
        return [t.strip().lower() for v in self.get_all(name) for t in v.split(",") if t.strip()]

    def __getitem__(self, name: str) -> str:
        value = self.get(name, _MISSING)
        if value is _MISSING:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name, _MISSING) is not _MISSING

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, str]]:
        """Every ``(name, value)`` pair in wire order (a copy)."""
        return list(self._items)

    def keys(self) -> list[str]:
        """Each header name once, in order of first appearance (so ``dict(headers)`` works)."""
        seen: dict[str, str] = {}
        for key, _ in self._items:
            seen.setdefault(key.lower(), key)
        return list(seen.values())

    # -- changing -------------------------------------------------------------------------------

    def add(self, name: str, value: str) -> None:
        """Append one ``name: value`` line, keeping the values already there."""
        _check_header(name, value)
        self._items.append((name, value))

    def __setitem__(self, name: str, value: str) -> None:
        """Replace every value of ``name`` with ``value``."""
        _check_header(name, value)
        self.remove(name)
        self._items.append((name, value))

    def remove(self, name: str) -> None:
        """Drop every value of ``name`` (no error when absent)."""
        lowered = name.lower()
        self._items = [(key, value) for key, value in self._items if key.lower() != lowered]

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self.remove(name)

    def copy(self) -> Headers:
        """An independent copy."""
        return Headers(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return [(k.lower(), v) for k, v in self._items] == [(k.lower(), v) for k, v in other._items]
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


#: What the API accepts wherever it takes headers: a ``Headers``, a mapping, or ``(name, value)`` pairs.
HeadersLike: TypeAlias = Headers | Mapping[str, str] | Iterable[tuple[str, str]] | None


def _check_header(name: object, value: object) -> None:
    """Refuse names and values that are not ``str`` or that could split an HTTP head."""
    if not isinstance(name, str) or not isinstance(value, str):
        raise TypeError("header names and values must be str")
    if not name or any(c in name for c in "\r\n:\0 \t"):
        raise ValueError(f"invalid header name {name!r}")
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"invalid value for header {name!r}")


@dataclass(frozen=True, eq=False)
class Request:
    """The upgrade request: received by a server, sent by a client.

    ``path`` is the path without the query (not percent-decoded), ``raw_path`` the request target as
    sent, ``query`` the parsed query string (every value of a repeated parameter, blank values kept),
    ``subprotocols`` the offered subprotocols in the client's order of preference.
    """

    raw_path: str
    headers: Headers = field(default_factory=Headers)
    remote_address: Address = None
    method: str = "GET"

    @property
    def path(self) -> str:
        """The path of the request target, without the query string."""
        return urlsplit(self.raw_path).path or "/"

    @property
    def query(self) -> dict[str, list[str]]:
        """The query string parsed into lists of values (``?a=1&a=2`` gives ``{"a": ["1", "2"]}``)."""
        return parse_qs(urlsplit(self.raw_path).query, keep_blank_values=True)

    def query_value(self, name: str) -> str | None:
        """The first value of query parameter ``name``, or ``None``."""
        values = self.query.get(name)
        return values[0] if values else None

    @property
    def subprotocols(self) -> tuple[str, ...]:
        """The subprotocols the client offered, in its order of preference."""
        return tuple(
            token.strip()
            for value in self.headers.get_all("Sec-WebSocket-Protocol")
            for token in value.split(",")
            if token.strip()
        )

    def __repr__(self) -> str:
        return f"Request({self.method} {self.raw_path!r}, remote_address={self.remote_address!r})"


@dataclass(eq=False)
class Response:
    """An HTTP response: the 101 of an upgrade, or the answer that refuses it.

    ``reason`` defaults to the standard phrase of ``status``; a ``str`` body is sent as UTF-8.
    ``Response(401, headers={"WWW-Authenticate": "Bearer"}, body="token required\\n")``.
    """

    status: int
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    reason: str = ""

    def __init__(
        self,
        status: int,
        headers: HeadersLike = None,
        body: bytes | str = b"",
        reason: str | None = None,
    ) -> None:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"status must be an int in 100-599, not {status!r}")
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif isinstance(body, (bytearray, memoryview)):
            body = bytes(body)
        elif not isinstance(body, bytes):
            raise TypeError(f"body must be bytes or str, not {type(body).__name__}")
        if reason is None:
            try:
                reason = HTTPStatus(status).phrase
            except ValueError:
                reason = ""
        if any(c in reason for c in "\r\n\0"):
            raise ValueError(f"invalid reason phrase {reason!r}")
        self.status = status
        self.headers = headers.copy() if isinstance(headers, Headers) else Headers(headers)
        self.body = body
        self.reason = reason

    def __repr__(self) -> str:
        return f"Response({self.status} {self.reason!r}, {len(self.body)} bytes of body)"
