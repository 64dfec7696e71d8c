"""Incremental UTF-8 validation and decoding of text messages that fails at the first invalid byte.

RFC 6455 section 8.1: an endpoint that receives invalid UTF-8 in a text message MUST fail the
connection (1007). Checking each fragment as it arrives, rather than the whole message at its end,
lets the connection fail mid-message (Autobahn 6.4.x). The standard library's incremental decoder
already reports an invalid sequence as soon as its first bytes rule out every valid continuation, with
one gap: a pending ``ED A0..BF`` prefix (a UTF-16 surrogate, never valid) waits for its third byte.
:class:`Utf8Decoder` closes that gap.
"""

from __future__ import annotations

import codecs

from ws_channel_core.errors import ProtocolError

__all__ = ["Utf8Decoder", "decode_text"]

_INVALID_UTF8 = 1007


def decode_text(data: bytes | bytearray | memoryview) -> str:
    """Decode a complete text payload; raise :class:`ProtocolError` (1007) when it is not UTF-8."""
    try:
        return str(data, "utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("invalid UTF-8 in text payload", _INVALID_UTF8) from exc


class Utf8Decoder:
    """Decode a text message piece by piece, failing as early as the bytes allow."""

    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()

    def decode(self, data: bytes | bytearray | memoryview, final: bool = False) -> str:
        """Return the text decoded so far from ``data``; ``final`` marks the end of the message.

        Raises:
            ProtocolError: (1007) the bytes received so far cannot start a valid UTF-8 text.
        """
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            raise ProtocolError("invalid UTF-8 in text message", _INVALID_UTF8) from exc
        if not final:
            pending = self._decoder.getstate()[0]
            if len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0:
                raise ProtocolError("invalid UTF-8 in text message (surrogate)", _INVALID_UTF8)
        return text

    def check(self, data: bytes | bytearray | memoryview, final: bool = False) -> None:
        """Validate the next piece of a message without keeping its text (the caller keeps the bytes).

        Raises:
            ProtocolError: (1007) as :meth:`decode`.
        """
        self.decode(data, final)

    def reset(self) -> None:
        """Forget any pending bytes, for the next message."""
        self._decoder.reset()
