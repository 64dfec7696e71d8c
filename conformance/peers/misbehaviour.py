"""Protocol errors a scripted peer can commit, each with the close codes RFC 6455 prescribes for it.

The same catalogue serves both directions: :meth:`Misbehaviour.frames` builds the bytes as a server
(unmasked) or as a client (masked) would send them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_TEXT,
    close_payload,
    encode_frame,
)

__all__ = ["Misbehaviour", "SHARED", "SERVER_ONLY", "CLIENT_ONLY", "GARBAGE"]

#: Bytes that cannot start a valid frame: FIN, all three reserved bits and reserved opcode 0xF.
GARBAGE = b"\xff" * 16


@dataclass(frozen=True)
class Misbehaviour:
    """One protocol error: how to commit it and the close codes the victim may answer with."""

    name: str
    build: Callable[[bool], bytes]
    codes: frozenset[int]
    #: The victim may also just drop TCP (1006) instead of sending a close frame.
    may_drop: bool = False
    #: The offending bytes are themselves a close frame: the peer must not send another one.
    is_close: bool = False

    def frames(self, *, masked: bool) -> bytes:
        """The offending bytes; ``masked`` as a client sends them."""
        return self.build(masked)


_1002 = frozenset({1002})
_1007 = frozenset({1007})


def _reserved_bit(masked: bool) -> bytes:
    return encode_frame(OP_TEXT, b"hello", rsv2=True, mask=masked)


def _rsv1_without_extension(masked: bool) -> bytes:
    return encode_frame(OP_BINARY, b"hello", rsv1=True, mask=masked)


def _reserved_data_opcode(masked: bool) -> bytes:
    return encode_frame(0x3, b"hello", mask=masked)


def _reserved_control_opcode(masked: bool) -> bytes:
    return encode_frame(0xB, b"", mask=masked)


def _fragmented_ping(masked: bool) -> bytes:
    return encode_frame(OP_PING, b"ping", fin=False, mask=masked)


def _oversized_ping(masked: bool) -> bytes:
    return encode_frame(OP_PING, b"x" * 126, mask=masked)


def _invalid_utf8_text(masked: bool) -> bytes:
    return encode_frame(OP_TEXT, b"caf\xc3\x28 \xff\xfe", mask=masked)


def _invalid_utf8_across_fragments(masked: bool) -> bytes:
    return encode_frame(OP_TEXT, b"valid \xe2\x82", fin=False, mask=masked) + encode_frame(
        OP_CONTINUATION, b"\x28 end", mask=masked
    )


def _invalid_utf8_close_reason(masked: bool) -> bytes:
    return encode_frame(OP_CLOSE, b"\x10\x1b\xff", mask=masked)


def _reserved_close_code(masked: bool) -> bytes:
    return encode_frame(OP_CLOSE, close_payload(1004, "reserved"), mask=masked)


def _one_byte_close_payload(masked: bool) -> bytes:
    return encode_frame(OP_CLOSE, b"\x03", mask=masked)


def _continuation_without_start(masked: bool) -> bytes:
    return encode_frame(OP_CONTINUATION, b"orphan", mask=masked)


def _new_message_inside_fragmented_one(masked: bool) -> bytes:
    return encode_frame(OP_TEXT, b"first ", fin=False, mask=masked) + encode_frame(
        OP_TEXT, b"second", mask=masked
    )


def _garbage(masked: bool) -> bytes:
    return GARBAGE


def _unmasked(masked: bool) -> bytes:
    return encode_frame(OP_TEXT, b"unmasked", mask=False)


def _masked(masked: bool) -> bytes:
    return encode_frame(OP_TEXT, b"masked", mask=True)


#: Errors either side can commit; the victim is the backend under test.
SHARED: tuple[Misbehaviour, ...] = (
    Misbehaviour("a reserved bit set", _reserved_bit, _1002),
    Misbehaviour("RSV1 without a negotiated extension", _rsv1_without_extension, _1002),
    Misbehaviour("a reserved data opcode", _reserved_data_opcode, _1002),
    Misbehaviour("a reserved control opcode", _reserved_control_opcode, _1002),
    Misbehaviour("a fragmented control frame", _fragmented_ping, _1002),
    Misbehaviour("a control frame over 125 bytes", _oversized_ping, _1002),
    Misbehaviour("invalid UTF-8 in a text message", _invalid_utf8_text, _1007),
    Misbehaviour("invalid UTF-8 split across fragments", _invalid_utf8_across_fragments, _1007),
    Misbehaviour(
        "invalid UTF-8 in a close reason", _invalid_utf8_close_reason, frozenset({1002, 1007}), is_close=True
    ),
    Misbehaviour("a reserved close code", _reserved_close_code, _1002, is_close=True),
    Misbehaviour("a one-byte close payload", _one_byte_close_payload, _1002, is_close=True),
    Misbehaviour("a continuation frame without a start", _continuation_without_start, _1002),
    Misbehaviour("a new message inside a fragmented one", _new_message_inside_fragmented_one, _1002),
    Misbehaviour("garbage bytes", _garbage, _1002, may_drop=True),
)

#: Errors only a server can commit (the victim is a client).
SERVER_ONLY: tuple[Misbehaviour, ...] = (Misbehaviour("a masked server frame", _masked, _1002),)

#: Errors only a client can commit (the victim is a server).
CLIENT_ONLY: tuple[Misbehaviour, ...] = (Misbehaviour("an unmasked client frame", _unmasked, _1002),)
