"""WebSocket frames (RFC 6455 section 5.2): header parsing in place, serialization, close payloads.

::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-------+-+-------------+-------------------------------+
    |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
    |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
    |N|V|V|V|       |S|             |   (if payload len==126/127)   |
    +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
    |     Extended payload length continued, if payload len == 127  |
    + - - - - - - - - - - - - - - - +-------------------------------+
    |                               | Masking-key, if MASK set to 1 |
    +-------------------------------+-------------------------------+

The parser reads headers straight from the caller's buffer and never copies it; :class:`FrameParser`
is a small stand-alone frame reader (no message reassembly) for tests and tools, while
:mod:`.protocol` drives :func:`parse_header` itself to stream payloads.
"""

from __future__ import annotations

import secrets
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

from ws_channel_core.errors import CloseFrame, PayloadTooBig, ProtocolError
from ws_channel_core.status import is_valid_on_wire

from .mask import apply_mask, mask_in_place
from .utf8 import decode_text

__all__ = [
    "Opcode",
    "Frame",
    "Header",
    "FrameParser",
    "parse_header",
    "serialize_frame",
    "frame_header",
    "serialize_close",
    "parse_close",
    "new_mask_key",
    "MAX_CONTROL_PAYLOAD",
]

#: RFC 6455 5.5: "All control frames MUST have a payload length of 125 bytes or less".
MAX_CONTROL_PAYLOAD = 125

_PACK_16 = struct.Struct("!BBH").pack
_PACK_64 = struct.Struct("!BBQ").pack
_UNPACK_16 = struct.Struct("!H").unpack_from
_UNPACK_64 = struct.Struct("!Q").unpack_from


class Opcode(IntEnum):
    """Frame opcodes (RFC 6455 5.2); 3-7 and 11-15 are reserved and rejected."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    @property
    def is_control(self) -> bool:
        """Control frames have the high bit of the opcode set."""
        return self >= 0x8


_KNOWN_OPCODES = frozenset(int(op) for op in Opcode)


class _KeyPool:
    """Masking keys cut from 4 KiB blocks of ``secrets.token_bytes``: one system call per 1024 frames
    instead of one per frame, with the same entropy source. The lock keeps event loops in different
    threads from ever being handed the same key."""

    __slots__ = ("_block", "_pos", "_lock")

    def __init__(self) -> None:
        self._block = b""
        self._pos = 0
        self._lock = threading.Lock()

    def next(self) -> bytes:
        with self._lock:
            pos = self._pos
            if pos >= len(self._block):
                self._block = secrets.token_bytes(4096)
                pos = 0
            self._pos = pos + 4
            return self._block[pos : pos + 4]


_key_pool = _KeyPool()


def new_mask_key() -> bytes:
    """Return a fresh masking key from a secure random source.

    RFC 6455 5.3: the key "MUST be derived from a strong source of entropy" (the OS's CSPRNG, read
    in blocks), and must not be predictable from earlier frames: every key is unused random bytes.
    """
    return _key_pool.next()


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame, payload unmasked."""

    opcode: Opcode
    payload: bytes
    fin: bool = True
    rsv1: bool = False


class Header(NamedTuple):
    """A parsed frame header; ``end`` is the offset of the first payload byte in the buffer.

    A named tuple rather than a frozen dataclass: one is built per frame, and a tuple is several times
    cheaper to create.
    """

    fin: bool
    rsv1: bool
    opcode: int
    length: int
    mask: bytes | None
    end: int


def parse_header(
    buf: bytes | bytearray | memoryview,
    pos: int,
    *,
    expect_mask: bool,
    allow_rsv1: bool = False,
    max_frame_size: int | None = None,
) -> Header | None:
    """Parse the frame header starting at ``buf[pos]``; return ``None`` when it is incomplete.

    ``expect_mask`` is ``True`` on a server (client frames MUST be masked, RFC 6455 5.1) and ``False``
    on a client (a client MUST close on a masked frame). ``allow_rsv1`` is ``True`` when an extension
    that uses RSV1 (permessage-deflate) was negotiated.

    Raises:
        ProtocolError: (1002) reserved bits or opcodes, wrong masking, bad control frame, or a
            non-minimal 64-bit length with the high bit set.
        PayloadTooBig: (1009) the frame is longer than ``max_frame_size``.
    """
    available = len(buf) - pos
    if available < 2:
        return None
    first = buf[pos]
    second = buf[pos + 1]
    opcode = first & 0x0F
    # RFC 6455 5.2: "MUST be 0 unless an extension is negotiated that defines meanings".
    if first & 0x30:
        raise ProtocolError("reserved bits RSV2/RSV3 set")
    rsv1 = bool(first & 0x40)
    if opcode not in _KNOWN_OPCODES:
        raise ProtocolError(f"reserved opcode {opcode:#x}")
    fin = bool(first & 0x80)
    if opcode >= 0x8:
        if rsv1:
            raise ProtocolError("RSV1 set on a control frame")
        if not fin:
            raise ProtocolError("fragmented control frame")  # RFC 6455 5.5
    elif rsv1 and not allow_rsv1:
        raise ProtocolError("RSV1 set without a negotiated extension")
    masked = bool(second & 0x80)
    if masked != expect_mask:
        raise ProtocolError("unmasked frame from client" if expect_mask else "masked frame from server")
    length = second & 0x7F
    end = pos + 2
    if length == 126:
        if available < 4:
            return None
        (length,) = _UNPACK_16(buf, end)
        end += 2
    elif length == 127:
        if available < 10:
            return None
        (length,) = _UNPACK_64(buf, end)
        if length >> 63:
            raise ProtocolError("64-bit payload length with the most significant bit set")
        end += 8
    if opcode >= 0x8 and length > MAX_CONTROL_PAYLOAD:
        raise ProtocolError(f"control frame payload of {length} bytes (limit 125)")
    if max_frame_size is not None and length > max_frame_size:
        raise PayloadTooBig(f"frame of {length} bytes exceeds the limit of {max_frame_size}")
    key: bytes | None = None
    if masked:
        if len(buf) < end + 4:
            return None
        key = bytes(buf[end : end + 4])
        end += 4
    return Header(fin, rsv1, opcode, length, key, end)


def frame_header(
    opcode: int, size: int, *, fin: bool = True, rsv1: bool = False, mask: bool = False
) -> bytes:
    """Return the header of a frame with a ``size``-byte payload (without the masking key)."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    mask_bit = 0x80 if mask else 0
    if size < 126:
        return bytes((first, mask_bit | size))
    if size < 65536:
        return _PACK_16(first, mask_bit | 126, size)
    return _PACK_64(first, mask_bit | 127, size)


def serialize_frame(
    opcode: int,
    payload: bytes | bytearray | memoryview = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask: bool = False,
    mask_key: bytes | None = None,
) -> bytes:
    """Return the bytes of one frame.

    A client passes ``mask=True`` (RFC 6455 5.3: every client frame is masked); the key comes from
    :func:`new_mask_key` unless ``mask_key`` is given (tests use a fixed key).
    """
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    size = len(payload)
    mask_bit = 0x80 if mask else 0
    if size < 126:
        header = bytes((first, mask_bit | size))
    elif size < 65536:
        header = _PACK_16(first, mask_bit | 126, size)
    else:
        header = _PACK_64(first, mask_bit | 127, size)
    if not mask:
        return header + payload if isinstance(payload, bytes) else header + bytes(payload)
    key = mask_key if mask_key is not None else new_mask_key()
    if size < 1024:
        return header + key + apply_mask(payload, key)
    frame = bytearray(header)
    frame += key
    frame += payload
    mask_in_place(frame, len(header) + 4, key)  # one copy of a large payload, not three
    return bytes(frame)


def serialize_close(code: int | None, reason: str = "") -> bytes:
    """Return a close frame's payload: empty without a code, else the code and the UTF-8 reason."""
    if code is None:
        return b""
    return code.to_bytes(2, "big") + reason.encode("utf-8")


def parse_close(payload: bytes) -> CloseFrame:
    """Parse a received close frame's payload (RFC 6455 5.5.1).

    Raises:
        ProtocolError: 1002 for a 1-byte payload or a code not allowed on the wire, 1007 for a
            reason that is not UTF-8.
    """
    if not payload:
        return CloseFrame(1005, "")
    if len(payload) == 1:
        raise ProtocolError("close frame with a 1-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if not is_valid_on_wire(code):
        raise ProtocolError(f"invalid close code {code}")
    return CloseFrame(code, decode_text(payload[2:]))


class FrameParser:
    """A stand-alone incremental frame reader: bytes in, whole frames out (no reassembly).

    Enforces everything :func:`parse_header` does. Use it to inspect traffic or in tests; a
    connection uses :class:`~.engine.Engine`, which streams payloads instead.
    """

    def __init__(
        self, *, expect_mask: bool, allow_rsv1: bool = False, max_frame_size: int | None = None
    ) -> None:
        self._buf = bytearray()
        self._expect_mask = expect_mask
        self._allow_rsv1 = allow_rsv1
        self._max_frame_size = max_frame_size

    def feed(self, data: bytes | bytearray | memoryview) -> Iterator[Frame]:
        """Add ``data`` and yield every frame it completes; raises :class:`ProtocolError`."""
        buf = self._buf
        buf += data
        pos = 0
        try:
            while True:
                header = parse_header(
                    buf,
                    pos,
                    expect_mask=self._expect_mask,
                    allow_rsv1=self._allow_rsv1,
                    max_frame_size=self._max_frame_size,
                )
                if header is None or len(buf) < header.end + header.length:
                    return
                stop = header.end + header.length
                payload = buf[header.end : stop]
                pos = stop
                data_out = apply_mask(payload, header.mask) if header.mask else bytes(payload)
                yield Frame(Opcode(header.opcode), data_out, header.fin, header.rsv1)
        finally:
            del buf[:pos]
