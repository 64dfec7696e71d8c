"""permessage-deflate (RFC 7692): negotiation in both roles, and bounded (de)compression.

Negotiation: the client offers ``permessage-deflate; client_max_window_bits``; the server accepts the
first offer whose parameters it understands and answers with the parameters it agreed to. Both sides
then build a :class:`PerMessageDeflate` that compresses outgoing and decompresses incoming messages.

Decompression is bounded: zlib is asked for at most ``limit + 1`` bytes, so a tiny frame that would
inflate to gigabytes fails with :class:`PayloadTooBig` after ``limit`` bytes of output.

zlib cannot compress with a 256-byte window (``window_bits=8``). When the peer demands it, we accept
and simply send our messages uncompressed, which RFC 7692 allows (compression is per message).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from ws_channel_core.errors import NegotiationError, PayloadTooBig, ProtocolError

__all__ = [
    "EXTENSION_NAME",
    "DeflateParameters",
    "PerMessageDeflate",
    "parse_extensions",
    "client_offer",
    "accept_offer",
    "accept_response",
]

EXTENSION_NAME = "permessage-deflate"
_TAIL = b"\x00\x00\xff\xff"
_PARAMS = frozenset(
    {
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
    }
)


def parse_extensions(values: Iterable[str]) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Parse ``Sec-WebSocket-Extensions`` header values into (name, [(param, value or None)]).

    Raises:
        NegotiationError: the header is malformed.
    """
    result: list[tuple[str, list[tuple[str, str | None]]]] = []
    for value in values:
        for item in value.split(","):
            parts = [part.strip() for part in item.split(";")]
            if not parts[0]:
                if len(parts) == 1:
                    continue
                raise NegotiationError(f"malformed Sec-WebSocket-Extensions header: {value!r}")
            params: list[tuple[str, str | None]] = []
            for part in parts[1:]:
                if not part:
                    raise NegotiationError(f"malformed Sec-WebSocket-Extensions header: {value!r}")
                name, sep, raw = part.partition("=")
                param_value = raw.strip().strip('"') if sep else None
                params.append((name.strip().lower(), param_value))
            result.append((parts[0].lower(), params))
    return result


@dataclass(frozen=True)
class DeflateParameters:
    """The agreed permessage-deflate parameters, as named by RFC 7692 section 7.1."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | None = None

    def header_value(self) -> str:
        """Render these parameters as a ``Sec-WebSocket-Extensions`` element (the server's answer)."""
        parts = [EXTENSION_NAME]
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.server_max_window_bits is not None:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.client_max_window_bits is not None:
            parts.append(f"client_max_window_bits={self.client_max_window_bits}")
        return "; ".join(parts)


def _window_bits(value: str | None) -> int | None:
    """Parse a max_window_bits value (8-15, no leading zeros or signs); ``None`` when invalid."""
    if value is None or not value.isdigit() or value != str(int(value)):
        return None
    bits = int(value)
    return bits if 8 <= bits <= 15 else None


def client_offer() -> str:
    """The offer a client sends: permessage-deflate, and it accepts a client window limit."""
    return f"{EXTENSION_NAME}; client_max_window_bits"


def accept_offer(values: Iterable[str]) -> DeflateParameters | None:
    """Server side: return the parameters of the first acceptable offer, or ``None`` to decline.

    An offer with an unknown or repeated parameter, or an invalid value, is declined (RFC 7692 5).
    """
    for name, params in parse_extensions(values):
        if name != EXTENSION_NAME:
            continue
        seen: set[str] = set()
        accepted: dict[str, object] = {}
        ok = True
        for param, value in params:
            if param not in _PARAMS or param in seen:
                ok = False
                break
            seen.add(param)
            if param.endswith("no_context_takeover"):
                if value is not None:
                    ok = False
                    break
                accepted[param] = True
            elif param == "server_max_window_bits":
                bits = _window_bits(value)
                if bits is None:
                    ok = False
                    break
                accepted[param] = bits
            elif value is not None and _window_bits(value) is None:  # client_max_window_bits
                ok = False
                break
        if ok:
            return DeflateParameters(
                server_no_context_takeover=bool(accepted.get("server_no_context_takeover", False)),
                client_no_context_takeover=bool(accepted.get("client_no_context_takeover", False)),
                server_max_window_bits=accepted.get("server_max_window_bits"),  # type: ignore[arg-type]
            )
    return None


def accept_response(values: Iterable[str]) -> DeflateParameters | None:
    """Client side: check the server's answer to :func:`client_offer`; ``None`` when it declined.

    Raises:
        NegotiationError: the server accepted an extension we did not offer, accepted ours twice, or
            answered with unknown, repeated or invalid parameters.
    """
    extensions = parse_extensions(values)
    if not extensions:
        return None
    if len(extensions) > 1 or extensions[0][0] != EXTENSION_NAME:
        names = ", ".join(name for name, _ in extensions)
        raise NegotiationError(f"server accepted extensions that were not offered: {names}")
    seen: set[str] = set()
    found: dict[str, object] = {}
    for param, value in extensions[0][1]:
        if param not in _PARAMS:
            raise NegotiationError(f"unknown permessage-deflate parameter {param!r}")
        if param in seen:
            raise NegotiationError(f"repeated permessage-deflate parameter {param!r}")
        seen.add(param)
        if param.endswith("no_context_takeover"):
            if value is not None:
                raise NegotiationError(f"{param} takes no value")
            found[param] = True
        else:
            bits = _window_bits(value)
            if bits is None:
                raise NegotiationError(f"invalid {param} value {value!r}")
            found[param] = bits
    return DeflateParameters(
        server_no_context_takeover=bool(found.get("server_no_context_takeover", False)),
        client_no_context_takeover=bool(found.get("client_no_context_takeover", False)),
        server_max_window_bits=found.get("server_max_window_bits"),  # type: ignore[arg-type]
        client_max_window_bits=found.get("client_max_window_bits"),  # type: ignore[arg-type]
    )


class PerMessageDeflate:
    """Compress outgoing and decompress incoming messages for one side of a connection.

    zlib objects are created on first use and dropped after each message when context takeover is
    off, so an idle connection holds no zlib state.
    """

    __slots__ = (
        "parameters",
        "_send_reset",
        "_recv_reset",
        "_send_bits",
        "_compressor",
        "_decompressor",
    )

    def __init__(self, parameters: DeflateParameters, *, server_side: bool) -> None:
        self.parameters = parameters
        if server_side:
            self._send_reset = parameters.server_no_context_takeover
            self._recv_reset = parameters.client_no_context_takeover
            send_bits = parameters.server_max_window_bits
        else:
            self._send_reset = parameters.client_no_context_takeover
            self._recv_reset = parameters.server_no_context_takeover
            send_bits = parameters.client_max_window_bits
        self._send_bits = send_bits if send_bits is not None else 15
        self._compressor: zlib._Compress | None = None
        self._decompressor: zlib._Decompress | None = None

    def compress(self, data: bytes) -> bytes | None:
        """Return the compressed payload of one message, or ``None`` to send it uncompressed."""
        if self._send_bits < 9:
            return None  # zlib has no 256-byte window; an uncompressed message is always allowed
        compressor = self._compressor
        if compressor is None:
            compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self._send_bits)
        out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        # RFC 7692 7.2.1: remove the 4 octets 0x00 0x00 0xff 0xff at the tail end.
        if out.endswith(_TAIL):
            out = out[:-4]
        self._compressor = None if self._send_reset else compressor
        return out

    def decompress(self, data: bytes | bytearray | memoryview, limit: int | None, final: bool) -> bytes:
        """Inflate one piece of a compressed message; ``final`` on its last piece.

        ``limit`` is how many more bytes the message may grow by (``None``: unbounded).

        Raises:
            PayloadTooBig: the output would exceed ``limit``.
            ProtocolError: (1007) the data is not valid deflate.
        """
        decompressor = self._decompressor
        if decompressor is None:
            decompressor = self._decompressor = zlib.decompressobj(-15)
        try:
            out = self._inflate(decompressor, data, limit)
            if final:
                rest = None if limit is None else limit - len(out)
                out += self._inflate(decompressor, _TAIL, rest)
        except zlib.error as exc:
            self._decompressor = None
            raise ProtocolError("invalid compressed data", 1007) from exc
        if final and self._recv_reset:
            self._decompressor = None
        return out

    @staticmethod
    def _inflate(
        decompressor: zlib._Decompress, data: bytes | bytearray | memoryview, limit: int | None
    ) -> bytes:
        if limit is None:
            return decompressor.decompress(data)
        out = decompressor.decompress(data, limit + 1)
        if len(out) > limit or decompressor.unconsumed_tail:
            raise PayloadTooBig("decompressed message exceeds max_size")
        return out
