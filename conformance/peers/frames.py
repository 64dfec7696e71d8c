"""Hand-built RFC 6455 frames: encode any frame, valid or deliberately broken, and decode the peer's.

Written from the RFC, not from any backend, so a scripted peer cannot share a bug with the backend it
tests. Masking XORs whole integers rather than byte by byte, so megabyte payloads stay cheap.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass

__all__ = [
    "OP_CONTINUATION",
    "OP_TEXT",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_PING",
    "OP_PONG",
    "Frame",
    "apply_mask",
    "encode_frame",
    "close_payload",
    "parse_close_payload",
    "deflate_payload",
    "inflate_payload",
]

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA


@dataclass(frozen=True)
class Frame:
    """One decoded frame; ``payload`` is already unmasked, ``masked`` tells whether it was."""

    opcode: int
    payload: bytes
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False
    masked: bool = False

    @property
    def is_control(self) -> bool:
        """Close, ping and pong are control frames (RFC 6455 5.5)."""
        return self.opcode >= 0x8


def apply_mask(data: bytes, key: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``key`` repeated (RFC 6455 5.3); masking and unmasking are equal."""
    if not data:
        return b""
    size = len(data)
    repeated = (key * (size // 4 + 1))[:size]
    masked = int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")
    return masked.to_bytes(size, "big")


def encode_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask: bool = False,
    mask_key: bytes | None = None,
) -> bytes:
    """Return the bytes of one frame. Nothing is checked: broken frames are the point.

    Args:
        opcode: any 4-bit value, reserved ones included.
        mask: mask the payload (a client must, a server must not); ``mask_key`` fixes the key.
    """
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0) | (0x10 if rsv3 else 0)
    first |= opcode & 0x0F
    mask_bit = 0x80 if mask else 0
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", first, mask_bit | size)
    elif size < 2**16:
        header = struct.pack("!BBH", first, mask_bit | 126, size)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, size)
    if not mask:
        return header + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    return header + key + apply_mask(payload, key)


def close_payload(code: int | None = None, reason: str | bytes = b"") -> bytes:
    """The payload of a close frame: empty without a code, else the code and the raw reason bytes."""
    if code is None:
        return b""
    raw = reason.encode("utf-8") if isinstance(reason, str) else reason
    return struct.pack("!H", code) + raw


def parse_close_payload(payload: bytes) -> tuple[int | None, bytes]:
    """Split a close payload into (code or ``None`` when absent, reason bytes)."""
    if len(payload) < 2:
        return None, b""
    return struct.unpack("!H", payload[:2])[0], payload[2:]


def deflate_payload(data: bytes) -> bytes:
    """Compress one message for permessage-deflate (RFC 7692 7.2.1): raw deflate, sync flush, trailer cut."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    compressed = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return compressed[:-4] if compressed.endswith(b"\x00\x00\xff\xff") else compressed


def inflate_payload(data: bytes, max_size: int = 2**26) -> bytes:
    """Undo :func:`deflate_payload` for a message sent without context takeover; bounded by ``max_size``."""
    decompressor = zlib.decompressobj(-15)
    result = decompressor.decompress(data + b"\x00\x00\xff\xff", max_size)
    if decompressor.unconsumed_tail:
        raise ValueError(f"compressed message inflates past {max_size} bytes")
    return result
