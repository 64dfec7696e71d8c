"""Masking of frame payloads (RFC 6455 section 5.3), done as one big-integer XOR, not per byte.

``int.from_bytes`` / ``int.to_bytes`` run in C over the whole buffer, so unmasking 1 MiB costs a few
linear passes instead of a million Python-level operations.
"""

from __future__ import annotations

__all__ = ["apply_mask"]


def apply_mask(data: bytes | bytearray | memoryview, key: bytes, offset: int = 0) -> bytes:
    """Return ``data`` XORed with the 4-byte ``key`` repeated (masking and unmasking are the same).

    ``offset`` is the position of ``data[0]`` within the frame payload, for payloads processed in
    pieces: octet ``i`` of the payload is XORed with ``key[i % 4]``.
    """
    size = len(data)
    if size == 0:
        return b""
    shift = offset & 3
    if shift:
        key = key[shift:] + key[:shift]
    stream = (key * ((size >> 2) + 1))[:size]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(size, "little")
