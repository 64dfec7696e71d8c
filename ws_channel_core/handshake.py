"""Handshake helpers shared by every backend: keys, accept values, close arguments.

RFC 6455 section 4: the client sends a random 16-byte ``Sec-WebSocket-Key`` (base64); the server
proves it understood the request by answering ``base64(sha1(key + GUID))`` as ``Sec-WebSocket-Accept``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Iterable

from .errors import InvalidHeader
from .http import Request, Response
from .status import is_sendable

__all__ = [
    "WEBSOCKET_GUID",
    "MAX_CLOSE_REASON_BYTES",
    "sign_key",
    "generate_key",
    "validate_client_key",
    "check_accept",
    "check_close_arguments",
    "check_upgrade_request",
    "error_response",
    "upgrade_required",
]

#: The GUID of RFC 6455 section 1.3, appended to the client's key before hashing.
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: A control frame payload is at most 125 bytes; two of them carry the code (RFC 6455 5.5, 5.5.1).
MAX_CLOSE_REASON_BYTES = 123


def sign_key(key: str) -> str:
    """Return the ``Sec-WebSocket-Accept`` value for a client's ``Sec-WebSocket-Key``.

    >>> sign_key("dGhlIHNhbXBsZSBub25jZQ==")
    's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
    """
    digest = hashlib.sha1((key + WEBSOCKET_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def generate_key() -> str:
    """Return a fresh ``Sec-WebSocket-Key``: 16 bytes from a secure random source, base64-encoded."""
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


def validate_client_key(key: str | None) -> str:
    """Check a client's ``Sec-WebSocket-Key``; return it, or raise :class:`InvalidHeader`.

    RFC 6455 section 4.2.1: the value "when decoded, is 16 bytes in length".
    """
    if key is None:
        raise InvalidHeader("Sec-WebSocket-Key")
    try:
        raw = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise InvalidHeader("Sec-WebSocket-Key", key, "not base64") from exc
    if len(raw) != 16:
        raise InvalidHeader("Sec-WebSocket-Key", key, "does not decode to 16 bytes")
    return key


def check_accept(key: str, accept: str | None) -> None:
    """Check a server's ``Sec-WebSocket-Accept`` against the key the client sent.

    Raises:
        InvalidHeader: the header is missing or does not match ``sign_key(key)``.
    """
    if accept is None:
        raise InvalidHeader("Sec-WebSocket-Accept")
    if accept.strip() != sign_key(key):
        raise InvalidHeader("Sec-WebSocket-Accept", accept, "does not match the key sent")


def check_close_arguments(code: int | None, reason: str | None) -> None:
    """Validate the arguments of ``close()``; raise before anything is sent.

    Raises:
        TypeError: ``code`` is not an int or ``reason`` is not a str.
        ValueError: the code is not one an application may send (1000-1003, 1007-1014,
            3000-4999), the reason is longer than 123 UTF-8 bytes, or a reason comes without a code.
    """
    if code is None:
        if reason:
            raise ValueError("a close reason requires a close code")
        return
    if isinstance(code, bool) or not isinstance(code, int):
        raise TypeError(f"close code must be an int, not {type(code).__name__}")
    if not is_sendable(code):
        raise ValueError(
            f"close code {code} may not be sent: use 1000-1003, 1007-1014 or 3000-4999"
        )
    if reason is None:
        return
    if not isinstance(reason, str):
        raise TypeError(f"close reason must be a str, not {type(reason).__name__}")
    size = len(reason.encode("utf-8", errors="surrogatepass"))
    if size > MAX_CLOSE_REASON_BYTES:
        raise ValueError(
            f"close reason is {size} bytes in UTF-8; at most {MAX_CLOSE_REASON_BYTES} are allowed"
        )
    try:
        reason.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("close reason is not encodable as UTF-8") from exc


#: The body of every refused upgrade names the problem in one line (same text on every backend).
_REJECT_BODY = "Failed to open a WebSocket connection: {}.\n"


def error_response(status: int, detail: str, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """Build the plain-text HTTP answer that refuses an upgrade, in the shape every backend sends."""
    response = Response(status, [("Content-Type", "text/plain; charset=utf-8"), *headers])
    response.body = _REJECT_BODY.format(detail).encode("utf-8")
    return response


def upgrade_required(detail: str) -> Response:
    """426 with ``Upgrade: websocket`` and ``Sec-WebSocket-Version: 13`` (RFC 6455 4.2.2, 4.4)."""
    return error_response(
        426, detail, [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")]
    )


def check_upgrade_request(request: Request) -> Response | None:
    """Check a client's upgrade request (RFC 6455 4.2.1); return the refusal to send, or ``None``.

    Every backend runs this before its library sees the request, so the same bad upgrade gets the same
    answer everywhere: 426 when no WebSocket upgrade is asked for or the version is not 13, 400 for a
    wrong method, a missing ``Host``, ``Connection`` without ``Upgrade`` or a bad key.
    """
    headers = request.headers
    if "websocket" not in headers.tokens("Upgrade"):
        return upgrade_required("expected an 'Upgrade: websocket' request")
    version = headers.get("Sec-WebSocket-Version")
    if version is None or version.strip() != "13":
        return upgrade_required("only WebSocket version 13 is supported")
    if request.method != "GET":
        return error_response(400, f"the upgrade request method is {request.method}, not GET")
    if headers.get("Host") is None:
        return error_response(400, "missing Host header")
    if "upgrade" not in headers.tokens("Connection"):
        return error_response(400, "expected 'Connection: Upgrade'")
    try:
        validate_client_key(headers.get("Sec-WebSocket-Key"))
    except InvalidHeader as exc:
        return error_response(400, str(exc))
    if len(headers.get_all("Sec-WebSocket-Key")) > 1:
        return error_response(400, "more than one Sec-WebSocket-Key header")
    return None
