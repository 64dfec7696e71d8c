"""The sans-I/O WebSocket engine: bytes in, events and bytes out; no I/O, no event loop, no clock.

Drive it from any I/O layer::

    engine = Engine(server_side=True, deflate=...)
    engine.receive_data(chunk)           # bytes read from the socket
    for event in engine.events_received():  # TextMessage, BinaryMessage, Ping, Pong, CloseReceived...
        ...
    sock.sendall(engine.data_to_send())   # bytes to write (pongs and close answers are queued for you)
    if engine.should_close_transport:     # the closing handshake is over (or the peer broke a rule)
        sock.close()
    if engine.close_expected():           # arm a timer: abort the transport if it does not end in time
        ...

Call :meth:`Engine.receive_eof` when the peer closes its side. Payloads are streamed: a data
frame is processed as its bytes arrive (UTF-8 checked, inflated, size-checked), so the engine's own
buffer never holds more than one partial header or one control frame (at most 139 bytes), whatever
the message size.

Bounded memory against a hostile peer. A fragmented message is gathered in one growing ``bytearray`` (no
object per fragment), checked against ``max_size`` before it grows (after inflating, when compressed), so
a message costs at most ``max_size`` bytes however it is cut. Set :attr:`Engine.stream_fragments` to get
the next message that arrives in several frames as :class:`~.events.Fragment` events instead, each piece
as it comes (then memory holds one piece). Control frames cannot grow memory either: only the latest
ping's pong is kept, in one slot that becomes bytes only when the driver calls :meth:`Engine.data_to_send`
(RFC 6455 5.5.3 allows answering only the most recent ping; up to :data:`PENDING_PONGS` earlier pings of
the same read still get theirs), and consecutive pings are reported as one
:class:`~.events.Ping` event. The driver learns its engine backlog from :attr:`Engine.bytes_pending`; it
stops reading while its own write buffer is above ``write_limit``. Peer errors never raise out of
:meth:`receive_data`: they become a :class:`~.events.ProtocolFailure` event, a queued close frame with the
right code (1002, 1007, 1009) and :attr:`Engine.should_close_transport`.

Deferred failure (``defer_failure=True``, what both drivers use): a peer error still stops all input
at once and is still reported as :class:`~.events.ProtocolFailure`, after the complete messages that
preceded the bad frame, but its close frame waits until the driver calls :meth:`Engine.fail_pending`
(or :meth:`Engine.send_close`, or :meth:`Engine.fail`). Meanwhile the application may still
send, so an echo of those messages goes out before the close frame: the order a peer that pipelined
"valid message, bad frame" expects (Autobahn 3.2-3.4, 4.1.3-4.1.5, 4.2.3-4.2.4, 5.15). The drivers
call :meth:`~Engine.fail_pending` once the application has read every message received before the
error, or after ``close_timeout`` when it does not read.

Optional C accelerator: when the package was installed with ``WS_CHANNEL_SPEEDUPS=1``, ``_speedups.c``
parses whole text/binary frames below 64 KiB and frames whole messages (:data:`parse_whole`,
:data:`frame_whole`). It takes exactly the frames the pure-Python fast paths take and leaves the rest,
errors included, to the code here; ``WS_CHANNEL_PURE_PYTHON=1`` turns it off.
"""

from __future__ import annotations

import os
import secrets
import struct
from collections.abc import Callable
from enum import Enum

from ws_channel_core.errors import CloseFrame, ConnectionClosed, PayloadTooBig, ProtocolError

from .buffers import borrow, give_back
from .deflate import PerMessageDeflate
from .events import BinaryMessage, CloseReceived, Event, Fragment, Ping, Pong, ProtocolFailure, TextMessage
from .frames import (
    MAX_CONTROL_PAYLOAD,
    frame_header,
    parse_close,
    parse_header,
    serialize_close,
    serialize_frame,
)
from .mask import apply_mask, mask_in_place, mask_whole
from .utf8 import Utf8Decoder, decode_text

__all__ = ["Engine", "State", "DEFAULT_MAX_SIZE", "PENDING_PONGS"]

#: The default ``max_size`` (1 MiB), the same as ``ws_channel_core.options.DEFAULT_MAX_SIZE`` (not
#: imported: the core's options module imports ``ssl``, and the engine imports no I/O module).
DEFAULT_MAX_SIZE = 2**20
#: Pings of one read answered one by one before only the latest pending pong is kept.
PENDING_PONGS = 16

_TEXT = 1
_BINARY = 2
_CLOSE = 8
_PING = 9
_PONG = 10
#: Whole uncompressed messages below this size are framed inline by :meth:`Engine._send_data`.
_INLINE_LIMIT = 2**14
#: Outgoing frames below this size are queued as one piece; from it on, header and payload are two
#: pieces, never concatenated (the payload object itself is written; a client's is masked in one pass).
_JOIN_LIMIT = 2**18
#: Incoming whole text/binary frames shorter than this, with a 7- or 16-bit length, are decoded inline.
_FAST_LIMIT = 2**16
#: The header of a frame with a 16-bit length.
_PACK_16 = struct.Struct("!BBH").pack
#: The same header followed by a 4-byte masking key.
_PACK_16_KEY = struct.Struct("!BBH4s").pack


_Bytes = bytes | bytearray | memoryview
_ParseWhole = Callable[[_Bytes, int, bool, int, list[Event], type[TextMessage], type[BinaryMessage]], int]
_FrameWhole = Callable[[int, _Bytes, bytes | None], bytes]


def _fast_limit(max_size: int | None, max_frame_size: int | None) -> int:
    """Frames shorter than this take the fast paths: below 64 KiB and within both limits (a longer
    frame takes the general path, which streams it or fails with 1009)."""
    limit = _FAST_LIMIT
    for maximum in (max_size, max_frame_size):
        if maximum is not None and maximum < limit:
            limit = maximum + 1
    return limit


def _load_speedups() -> tuple[_ParseWhole | None, _FrameWhole | None]:
    """The optional C accelerator's ``parse_whole`` and ``frame_whole`` (``_speedups.c``): present when
    the package was installed with ``WS_CHANNEL_SPEEDUPS=1`` and ``WS_CHANNEL_PURE_PYTHON`` is not set
    (a plain install runs the pure-Python paths below, which accept exactly the same frames)."""
    if os.environ.get("WS_CHANNEL_PURE_PYTHON"):
        return None, None
    try:
        from . import _speedups
    except ImportError:
        return None, None
    return _speedups.parse_whole, _speedups.frame_whole


#: ``parse_whole(buf, pos, masked, limit, events, TextMessage, BinaryMessage) -> pos``: the fast path of
#: :meth:`Engine._parse` in C; ``frame_whole(first_byte, payload, key) -> frame``: a whole frame in one
#: piece, for :meth:`Engine._send_data` and :meth:`Engine._queue_frame`. ``None`` without the accelerator.
parse_whole, frame_whole = _load_speedups()


class State(Enum):
    """Where the connection stands in the closing handshake."""

    #: Messages flow both ways.
    OPEN = 1
    #: A close frame was sent or received, not both; incoming data may still arrive after ours.
    CLOSING = 2
    #: Both close frames were exchanged, the connection failed, or the peer's stream ended.
    CLOSED = 3


class Engine:
    """One WebSocket connection's protocol state, in either role.

    Args:
        server_side: ``True`` on a server (incoming frames must be masked, outgoing are not).
        max_size: largest incoming message in bytes, after decompression (``None``: no limit);
            a bigger one fails the connection with 1009.
        max_frame_size: largest incoming frame payload (``None``: only ``max_size`` applies; payloads
            are streamed, so a long frame never sits in memory whole).
        deflate: the negotiated permessage-deflate state, if any.
        defer_failure: queue the close frame of a peer error only on :meth:`fail_pending` (see the
            module docstring); ``False`` queues it at once.
    """

    __slots__ = (
        "_buf", "_decoder", "_events", "_fast_limit", "_frame_buf", "_frame_fin", "_frame_key",
        "_frame_left", "_frame_offset", "_in_frame", "_key_pos", "_keys", "_mask", "_max_frame_size",
        "_max_size", "_msg_buf", "_msg_compressed", "_msg_opcode", "_msg_size", "_out",
        "_pong", "_pongs_queued", "_send_fragmenting", "_should_close", "_msg_streaming",
        "close_received", "close_sent",
        "defer_failure", "deflate", "eof_received", "error", "failure_pending",
        "server_side", "state", "stream_fragments",
    )

    def __init__(
        self,
        *,
        server_side: bool,
        max_size: int | None = DEFAULT_MAX_SIZE,
        max_frame_size: int | None = None,
        deflate: PerMessageDeflate | None = None,
        defer_failure: bool = False,
    ) -> None:
        self.server_side = server_side
        self.defer_failure = defer_failure
        self._max_size = max_size
        self._max_frame_size = max_frame_size
        self._fast_limit = _fast_limit(max_size, max_frame_size)
        self.deflate = deflate
        self.state = State.OPEN
        #: The peer's close frame, once received.
        self.close_received: CloseFrame | None = None
        #: Our close frame, once queued.
        self.close_sent: CloseFrame | None = None
        #: Why the connection failed, if it did.
        self.error: ProtocolError | None = None
        #: A peer error whose close frame waits for :meth:`fail_pending` (``defer_failure`` only).
        self.failure_pending = False
        self.eof_received = False
        self._should_close = False
        self._mask = not server_side
        self._keys = b""  # masking keys (client): 64 at a time from secrets.token_bytes
        self._key_pos = 0
        self._buf = bytearray()
        self._events: list[Event] = []
        self._out: list[bytes] = []
        # The payload of the latest unanswered ping (RFC 6455 5.5.3: only it needs an answer).
        self._pong: bytes | None = None
        self._pongs_queued = 0  # pongs queued in _out since the driver last took the bytes
        # The data frame being received (its header is consumed, its payload is streaming).
        self._frame_fin = False
        self._frame_left = 0
        self._frame_key: bytes | None = None
        self._frame_offset = 0
        self._in_frame = False
        # A whole message in one frame that did not arrive in one read: its payload is received
        # into this buffer of the announced size (the driver may read into it directly).
        self._frame_buf: bytearray | None = None
        # The message being reassembled.
        self._msg_opcode = 0
        self._msg_compressed = False
        self._msg_size = 0
        # Its payload so far, one buffer whatever the number of fragments (bounded by max_size).
        self._msg_buf = bytearray()
        self._decoder: Utf8Decoder | None = None
        self._send_fragmenting = False
        #: Report the next message as :class:`~.events.Fragment` events if it comes in several frames
        #: (set by a reader waiting for pieces; it resets itself once that message, or a whole one
        #: received first, has been reported).
        self.stream_fragments = False
        self._msg_streaming = False  # the message being received is reported in pieces

    @property
    def max_size(self) -> int | None:
        """Largest incoming message in bytes, after decompression (``None``: no limit)."""
        return self._max_size

    @max_size.setter
    def max_size(self, value: int | None) -> None:
        self._max_size = value
        self._fast_limit = _fast_limit(value, self._max_frame_size)

    @property
    def max_frame_size(self) -> int | None:
        """Largest incoming frame payload in bytes (``None``: only ``max_size`` applies)."""
        return self._max_frame_size

    @max_frame_size.setter
    def max_frame_size(self, value: int | None) -> None:
        self._max_frame_size = value
        self._fast_limit = _fast_limit(self._max_size, value)

    # -- input ---------------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes read from the peer. Never raises: peer errors become events."""
        if self._should_close or self.close_received is not None or self.eof_received or self.error:
            return  # RFC 6455 5.5.1: nothing is processed after the peer's close frame (or an error)
        pos = 0
        if self._buf:
            self._buf += data
            buf: bytes | bytearray | memoryview = self._buf
        else:
            buf = data
            if parse_whole is not None and not self._in_frame and not self._msg_opcode:
                # The common case, whole messages only, needs no parser set-up: the accelerator takes
                # every whole frame, and _parse the rest, if any.
                pos = parse_whole(
                    data, 0, self.server_side, self._fast_limit, self._events, TextMessage, BinaryMessage
                )
                if pos == len(data):
                    return
        try:
            pos = self._parse(buf, pos)
        except ProtocolError as exc:
            self._buf.clear()
            self._fail_from_peer(exc)
            return
        if buf is self._buf:
            del self._buf[:pos]
        elif pos < len(buf):
            self._buf += buf[pos:]

    def receive_eof(self) -> None:
        """Tell the engine the peer closed its side of the transport."""
        self.eof_received = True
        self.state = State.CLOSED
        self._should_close = True
        self._buf.clear()

    def _parse(self, buf: bytes | bytearray | memoryview, pos: int = 0) -> int:
        """Process every complete frame (and the available part of a data frame) from ``buf[pos]`` on;
        return the position of the first byte not used."""
        size = len(buf)
        expect_mask = self.server_side
        allow_rsv1 = self.deflate is not None
        events = self._events
        # A whole text/binary frame up to 64 KiB (FIN, no RSV bit, opcode 1 or 2, 7- or 16-bit length,
        # masked as this role expects) entirely in ``buf``: decoded inline, no header object; anything
        # else goes through parse_header below (which also raises the protocol errors).
        mask_bit = 0x80 if expect_mask else 0
        fast_limit = self._fast_limit
        while pos < size:
            if parse_whole is not None and not self._in_frame and self._msg_opcode == 0:
                # The same fast path, in C; it stops at the first frame it does not take (then below).
                pos = parse_whole(buf, pos, expect_mask, fast_limit, events, TextMessage, BinaryMessage)
            elif not self._in_frame and self._msg_opcode == 0 and pos + 2 <= size:
                first = buf[pos]
                second = buf[pos + 1]
                length = second & 0x7F
                if (
                    (first == 0x81 or first == 0x82)
                    and (second & 0x80) == mask_bit
                    and (length < 126 or (length == 126 and pos + 4 <= size))
                ):
                    start = pos + 2
                    if length == 126:
                        length = (buf[pos + 2] << 8) | buf[pos + 3]
                        start = pos + 4
                    if mask_bit:
                        start += 4
                    stop = start + length
                    if length < fast_limit and stop <= size:  # else streamed, or checked, below
                        payload: bytes | bytearray | memoryview
                        if not mask_bit:
                            payload = buf[start:stop]
                        elif length < 126:  # one big-integer XOR, as apply_mask does, without the call
                            stream = (bytes(buf[start - 4 : start]) * ((length >> 2) + 1))[:length]
                            payload = (
                                int.from_bytes(buf[start:stop], "little") ^ int.from_bytes(stream, "little")
                            ).to_bytes(length, "little")
                        else:
                            payload = mask_whole(buf[start:stop], buf[start - 4 : start])
                        pos = stop
                        if first == 0x81:
                            events.append(TextMessage(decode_text(payload)))
                        else:
                            events.append(BinaryMessage(bytes(payload)))
                        continue
            if self._in_frame:
                take = min(self._frame_left, size - pos)
                if self._frame_buf is not None:
                    start = self._frame_offset
                    self._frame_buf[start : start + take] = buf[pos : pos + take]
                    self._filled(take)
                else:
                    self._payload(buf[pos : pos + take], take == self._frame_left)
                pos += take
                continue
            header = parse_header(
                buf, pos, expect_mask=expect_mask, allow_rsv1=allow_rsv1, max_frame_size=self._max_frame_size
            )
            if header is None:
                break
            opcode = header.opcode
            length = header.length
            start = header.end
            stop = start + length
            if opcode >= _CLOSE:
                if stop > size:
                    break  # wait for the whole control frame (at most 125 bytes)
                payload = buf[start:stop]
                pos = stop
                key = header.mask
                self._control(opcode, apply_mask(payload, key) if key is not None else bytes(payload))
                if self.close_received is not None:
                    return size  # ignore anything after the close frame
                continue
            # A data frame: check it against the message in progress.
            if opcode == 0:
                if self._msg_opcode == 0:
                    raise ProtocolError("continuation frame without a message in progress")
                if header.rsv1:
                    raise ProtocolError("RSV1 set on a continuation frame")
            else:
                if self._msg_opcode != 0:
                    raise ProtocolError("new message started before the previous one finished")
                self._msg_opcode = opcode
                self._msg_compressed = header.rsv1
                self._msg_size = 0
            max_size = self._max_size
            if not self._msg_compressed and max_size is not None and self._msg_size + length > max_size:
                raise PayloadTooBig(f"message exceeds the limit of {self._max_size} bytes")
            fin = header.fin
            key = header.mask
            # Fast path: a whole, unfragmented, uncompressed message in the buffer.
            if fin and opcode != 0 and stop <= size and not self._msg_compressed:
                payload = buf[start:stop]
                pos = stop
                self._msg_opcode = 0
                if opcode == _TEXT:
                    events.append(TextMessage(decode_text(apply_mask(payload, key) if key else payload)))
                else:
                    events.append(BinaryMessage(apply_mask(payload, key) if key else bytes(payload)))
                continue
            self._in_frame = True
            self._frame_fin = fin
            self._frame_left = length
            self._frame_key = key
            self._frame_offset = 0
            pos = start
            if fin and opcode != 0 and not self._msg_compressed:
                # A whole message whose payload is still arriving: one buffer of its announced size
                # (checked against max_size above), filled in place, no growing or joining.
                self._frame_buf = borrow(length)  # may be longer: only its first length bytes are used
                self._msg_size = length
            elif length == 0:
                self._payload(b"", True)
        return pos

    # -- a whole message received into one buffer ----------------------------------------------

    def payload_buffer(self, minimum: int = 0) -> memoryview | None:
        """Where the driver may read the rest of the current frame's payload directly.

        Returns a writable view of the part of the frame's buffer still to fill (at least ``minimum``
        bytes of it), or ``None`` when no such frame is in progress (then read elsewhere and call
        :meth:`receive_data`). After reading ``n`` bytes into it, call :meth:`payload_received`.
        """
        frame_buf = self._frame_buf
        if (
            frame_buf is None
            or self._frame_left < minimum
            or self._frame_left == 0
            or self._should_close
            or self.error is not None
        ):
            return None
        start = self._frame_offset
        return memoryview(frame_buf)[start : start + self._frame_left]

    def payload_received(self, nbytes: int) -> None:
        """``nbytes`` were read into the view :meth:`payload_buffer` returned. Never raises."""
        try:
            self._filled(nbytes)
        except ProtocolError as exc:
            self._fail_from_peer(exc)

    def _filled(self, nbytes: int) -> None:
        """``nbytes`` more of the frame buffer hold payload (still masked, if the peer masks)."""
        frame_buf = self._frame_buf
        assert frame_buf is not None
        start = self._frame_offset
        end = self._frame_offset = start + nbytes
        left = self._frame_left = self._frame_left - nbytes
        key = self._frame_key
        text = self._msg_opcode == _TEXT
        if text and nbytes:
            # Check UTF-8 as the bytes arrive, to fail at the first invalid byte (Autobahn 6.4.x).
            decoder = self._decoder
            if decoder is None:
                decoder = self._decoder = Utf8Decoder()
            if key is not None:
                with memoryview(frame_buf) as view:
                    piece = apply_mask(view[start:end], key, start)
                frame_buf[start:end] = piece  # unmasked in place, piece by piece
                decoder.check(piece, left == 0)
            else:
                with memoryview(frame_buf) as view, view[start:end] as piece_view:
                    decoder.check(piece_view, left == 0)
        if left:
            return
        self._in_frame = False
        self._frame_buf = None
        self._msg_opcode = 0
        with memoryview(frame_buf) as view, view[:end] as payload:
            if text:
                if self._decoder is not None:
                    self._decoder.reset()
                self._events.append(TextMessage(str(payload, "utf-8")))  # checked piece by piece
            elif key is not None:
                self._events.append(BinaryMessage(apply_mask(payload, key)))  # the one copy: unmasking
            else:
                self._events.append(BinaryMessage(bytes(payload)))  # the one copy: bytes for the app
        give_back(frame_buf)

    def _payload(self, chunk: bytes | bytearray | memoryview, frame_done: bool) -> None:
        """Process one piece of the current data frame's payload."""
        size = len(chunk)
        key = self._frame_key
        data: bytes | bytearray | memoryview
        if key is None:
            data = chunk
        elif size < 1024:
            data = apply_mask(chunk, key, self._frame_offset)
        else:
            data = bytearray(chunk)  # our own copy, unmasked in place and kept as a message part
            mask_in_place(data, 0, key, self._frame_offset)
        self._frame_offset += size
        self._frame_left -= size
        message_done = frame_done and self._frame_fin
        if frame_done:
            self._in_frame = False
        if self._msg_compressed:
            assert self.deflate is not None
            limit = None if self._max_size is None else self._max_size - self._msg_size
            data = self.deflate.decompress(data, limit, message_done)
        self._msg_size += len(data)
        msg_buf = self._msg_buf
        text = self._msg_opcode == _TEXT
        if (
            self.stream_fragments
            and (self._msg_streaming or not message_done or msg_buf)
            and (self._msg_streaming or self._starts_streaming())
        ):
            self._stream_piece(data, message_done, text)
            return
        if not message_done or msg_buf:
            if text:
                decoder = self._decoder
                if decoder is None:
                    decoder = self._decoder = Utf8Decoder()
                decoder.check(data, message_done)  # fail at the first invalid byte (Autobahn 6.4.x)
            msg_buf += data
            if not message_done:
                return
            whole: bytes | bytearray | memoryview = msg_buf
            self._msg_buf = bytearray()  # give the message's memory back, not just its length
            if text:
                assert self._decoder is not None
                self._decoder.reset()
                self._events.append(TextMessage(str(whole, "utf-8")))  # checked piece by piece
        else:
            whole = data  # the whole message in one piece: no copy into the buffer
            if text:
                self._events.append(TextMessage(decode_text(whole)))
        if not text:
            self._events.append(BinaryMessage(bytes(whole)))
        self._msg_opcode = 0

    def _starts_streaming(self) -> bool:
        """Whether this message is the one the reader waits for (no whole message came first)."""
        for event in self._events:
            if type(event) is TextMessage or type(event) is BinaryMessage:
                self.stream_fragments = False
                return False
        self._msg_streaming = True
        return True

    def _stream_piece(self, data: bytes | bytearray | memoryview, done: bool, text: bool) -> None:
        """Report a piece of a message in several frames (with what was gathered before, if any)."""
        msg_buf = self._msg_buf
        chunk: str | bytes
        if text:
            decoder = self._decoder
            if decoder is None:
                decoder = self._decoder = Utf8Decoder()
            if msg_buf:  # gathered (and checked) before the reader asked: decode it with the rest
                decoder.check(data, done)
                decoder = self._decoder = Utf8Decoder()
                chunk = decoder.decode(bytes(msg_buf) + bytes(data), done)
            else:
                chunk = decoder.decode(data, done)
        else:
            chunk = bytes(msg_buf) + bytes(data) if msg_buf else bytes(data)
        if msg_buf:
            self._msg_buf = bytearray()
        if done:
            self._msg_streaming = self.stream_fragments = False
            self._msg_opcode = 0
            if self._decoder is not None:
                self._decoder.reset()
        if chunk or done:
            self._events.append(Fragment(chunk, done))

    def _control(self, opcode: int, payload: bytes) -> None:
        if opcode == _PING:
            events = self._events
            if events and type(events[-1]) is Ping:
                events[-1] = Ping(payload)  # a run of pings is one event: only the latest is answered
            else:
                events.append(Ping(payload))
            if self.close_sent is None:
                # RFC 6455 5.5.3: "an endpoint MAY elect to send a Pong frame for only the most
                # recently processed Ping frame". A few pings in one read each get their pong
                # (peers expect it: Autobahn 2.10, 2.11); past that only the latest pending one is
                # kept, in one slot, so a ping flood cannot grow memory.
                if self._pong is not None and self._pongs_queued < PENDING_PONGS:
                    self._take_pong()
                    self._pongs_queued += 1
                self._pong = payload
        elif opcode == _PONG:
            self._events.append(Pong(payload))
        else:
            frame = parse_close(payload)
            self.close_received = frame
            self._events.append(CloseReceived(frame))
            if self.close_sent is None:
                # RFC 6455 5.5.1: answer with a close frame, "typically echoing the status code it
                # received". We echo the reason too (as websockets and aiohttp do), so a peer that
                # closed with (3678, "raisin") sees exactly that in the answer.
                if frame.code == 1005:
                    self._queue_close(None, "")
                else:
                    self._queue_close(frame.code, frame.reason)
            self.state = State.CLOSED
            # RFC 6455 7.1.1: the server closes the TCP connection first.
            if self.server_side:
                self._should_close = True

    def _fail_from_peer(self, error: ProtocolError) -> None:
        self.error = error
        self._frame_buf = None
        self._events.append(ProtocolFailure(error))
        if self.defer_failure:
            self.failure_pending = True
        else:
            self._fail_for_error(error)

    def _fail_for_error(self, error: ProtocolError) -> None:
        reason = {1007: "invalid UTF-8", 1009: "message too big"}.get(error.close_code, "protocol error")
        self.fail(error.close_code, reason)

    def fail_pending(self) -> None:
        """Complete a deferred peer failure: queue its close frame (1002, 1007 or 1009) and end.

        Does nothing when no failure is pending.
        """
        if self.failure_pending and self.error is not None:
            self._fail_for_error(self.error)

    # -- output --------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.close_sent is not None or self.close_received is not None or self._should_close:
            raise ConnectionClosed.for_frames(self.close_received, self.close_sent)

    def send_text(self, data: str | bytes, *, fin: bool = True) -> None:
        """Queue a text message (``bytes`` must be UTF-8); ``fin=False`` starts a fragmented one.

        With permessage-deflate negotiated, a whole message (``fin=True``) is compressed; a fragmented
        one (``fin=False`` then :meth:`send_continuation`) is sent uncompressed, which RFC 7692 allows
        (compression is chosen per message, by RSV1 on its first frame). The channel API only sends
        whole messages, so this affects only callers of the engine's fragmenting API.

        Raises:
            ConnectionClosed: a close frame was already sent or received.
            RuntimeError: a fragmented message is in progress.
        """
        self._send_data(_TEXT, data.encode("utf-8") if isinstance(data, str) else data, fin)

    def send_binary(self, data: bytes | bytearray | memoryview, *, fin: bool = True) -> None:
        """Queue a binary message; ``fin=False`` starts a fragmented one. Raises like :meth:`send_text`."""
        self._send_data(_BINARY, data, fin)

    def send_continuation(self, data: bytes | bytearray | memoryview, *, fin: bool) -> None:
        """Queue the next fragment of the message started with ``fin=False``.

        Raises:
            ConnectionClosed: a close frame was already sent or received.
            RuntimeError: no fragmented message is in progress.
        """
        self._check_open()
        if not self._send_fragmenting:
            raise RuntimeError("no fragmented message in progress")
        self._send_fragmenting = not fin
        self._queue_frame(0, data, fin)

    def _send_data(self, opcode: int, data: bytes | bytearray | memoryview, fin: bool) -> None:
        if self.close_sent is not None or self.close_received is not None or self._should_close:
            raise ConnectionClosed.for_frames(self.close_received, self.close_sent)
        if self._send_fragmenting:
            raise RuntimeError("a fragmented message is in progress; finish it with send_continuation")
        deflate = self.deflate
        size = len(data)
        if size < _INLINE_LIMIT and fin and deflate is None:
            # The common path: a whole uncompressed message below 16 KiB, one piece, no helper frames.
            if frame_whole is not None:
                self._out.append(frame_whole(0x80 | opcode, data, self._next_key() if self._mask else None))
            elif self._mask:
                key = self._next_key()
                if size < 126:
                    masked = (
                        int.from_bytes(data, "little")
                        ^ int.from_bytes((key * ((size >> 2) + 1))[:size], "little")
                    ).to_bytes(size, "little")
                    self._out.append(bytes((0x80 | opcode, 0x80 | size)) + key + masked)
                else:
                    self._out.append(_PACK_16_KEY(0x80 | opcode, 0xFE, size, key) + mask_whole(data, key))
            elif size < 126:
                self._out.append(bytes((0x80 | opcode, size)) + data)
            else:
                self._out.append(_PACK_16(0x80 | opcode, 126, size) + data)
            return
        if fin and deflate is not None and size > 0:
            compressed = deflate.compress(bytes(data))
            if compressed is not None:
                self._queue_frame(opcode, compressed, True, rsv1=True)
                return
        self._send_fragmenting = not fin
        self._queue_frame(opcode, data, fin)

    def _next_key(self) -> bytes:
        """A fresh masking key for every frame this engine masks, cut from its own block of CSPRNG
        bytes (``secrets``, the source of :func:`~.frames.new_mask_key`; no lock: an engine is driven
        by one thread)."""
        pos = self._key_pos
        if pos >= len(self._keys):
            self._keys = secrets.token_bytes(256)
            pos = 0
        self._key_pos = pos + 4
        return self._keys[pos : pos + 4]

    def _frame(
        self, opcode: int, payload: bytes | bytearray | memoryview, *, fin: bool = True, rsv1: bool = False
    ) -> bytes:
        """One whole frame, masked with a key from this engine's block when this side masks."""
        key = self._next_key() if self._mask else None
        return serialize_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=self._mask, mask_key=key)

    def _queue_frame(
        self, opcode: int, data: bytes | bytearray | memoryview, fin: bool, *, rsv1: bool = False
    ) -> None:
        size = len(data)
        key = self._next_key() if self._mask else None
        if size < _JOIN_LIMIT:
            # One piece: a copy costs less than writing the header on its own (its own system call,
            # and its own TCP segment that wakes the peer up for a few bytes).
            if frame_whole is not None:
                first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
                self._out.append(frame_whole(first, data, key))
                return
            header = frame_header(opcode, size, fin=fin, rsv1=rsv1, mask=key is not None)
            self._out.append(header + data if key is None else header + key + mask_whole(data, key))
            return
        # Large: header and payload stay two pieces (no concatenation copy); a client masks the
        # payload in one pass into a new object, which is what gets written.
        header = frame_header(opcode, size, fin=fin, rsv1=rsv1, mask=key is not None)
        out = self._out
        if key is not None:
            out.append(header + key)
            out.append(mask_whole(data, key))
        else:
            out.append(header)
            out.append(data if type(data) is bytes else bytes(data))

    def send_ping(self, payload: bytes = b"") -> None:
        """Queue a ping (payload at most 125 bytes). Raises ``ConnectionClosed`` after a close."""
        self._send_control(_PING, payload)

    def send_pong(self, payload: bytes = b"") -> None:
        """Queue an unsolicited pong (at most 125 bytes). Raises ``ConnectionClosed`` after a close."""
        self._send_control(_PONG, payload)

    def _send_control(self, opcode: int, payload: bytes) -> None:
        self._check_open()
        if len(payload) > MAX_CONTROL_PAYLOAD:
            raise ValueError("a control frame payload is at most 125 bytes")
        self._out.append(self._frame(opcode, payload))

    def send_close(self, code: int | None = None, reason: str = "") -> None:
        """Queue our close frame (the arguments are the caller's to check, see ``check_close_arguments``).

        Raises:
            ConnectionClosed: a close frame was already sent.
        """
        if self.close_sent is not None or self._should_close:
            raise ConnectionClosed.for_frames(self.close_received, self.close_sent)
        if self.failure_pending and self.error is not None:
            # The peer broke the protocol: our close carries that code, whatever the caller asked.
            self._fail_for_error(self.error)
            return
        self._queue_close(code, reason)
        if self.close_received is not None:
            self.state = State.CLOSED
            if self.server_side:
                self._should_close = True

    def _queue_close(self, code: int | None, reason: str) -> None:
        self._take_pong()  # a pending pong goes out before the close frame, never after it
        self.close_sent = CloseFrame(1005 if code is None else code, reason)
        self._out.append(self._frame(_CLOSE, serialize_close(code, reason)))
        if self.state is State.OPEN:
            self.state = State.CLOSING

    def fail(self, code: int, reason: str = "") -> None:
        """Fail the connection (RFC 6455 7.1.7): queue a close frame if none was sent, then end it.

        After this, :attr:`should_close_transport` is ``True`` and incoming data is ignored.
        """
        self.failure_pending = False
        if self.close_sent is None and not self.eof_received:
            self._queue_close(code, reason)
        self.state = State.CLOSED
        self._should_close = True

    def events_received(self) -> list[Event]:
        """Return (and forget) the events produced since the last call."""
        events = self._events
        if events:
            self._events = []
        return events

    def _take_pong(self) -> None:
        """Serialize the pending pong, if any, at the end of the outgoing frames."""
        payload = self._pong
        if payload is not None:
            self._pong = None
            self._out.append(self._frame(_PONG, payload))

    @property
    def output_pending(self) -> bool:
        """Whether :meth:`data_to_send` has something to return (frames or a pong)."""
        return bool(self._out) or self._pong is not None

    @property
    def bytes_pending(self) -> int:
        """How many bytes :meth:`data_to_send` would return now (the engine's outgoing backlog)."""
        pong = self._pong
        extra = 0 if pong is None else 2 + len(pong) + (4 if self._mask else 0)
        return sum(map(len, self._out)) + extra

    def data_to_send(self) -> bytes:
        """Return (and forget) the bytes to write to the peer; the pending pong is serialized here."""
        self._pongs_queued = 0
        if self._pong is not None:
            self._take_pong()
        out = self._out
        if not out:
            return b""
        if len(out) == 1:
            data = out[0]
        else:
            data = b"".join(out)
        out.clear()
        return data

    def pieces_to_send(self) -> list[bytes]:
        """Like :meth:`data_to_send`, as the list of pieces to write in order, not joined: a large
        frame is two pieces, its header and its payload (the object the application sent, when
        nothing had to change in it), so a driver writes it without copying it."""
        self._pongs_queued = 0
        if self._pong is not None:
            self._take_pong()
        out = self._out
        if out:
            self._out = []
        return out

    @property
    def should_close_transport(self) -> bool:
        """``True`` when the driver should close the transport after writing :meth:`data_to_send`.

        A server closes once the close frames are exchanged (RFC 6455 7.1.1); either side closes after
        failing the connection or when the peer's stream ended.
        """
        return self._should_close

    def close_expected(self) -> bool:
        """``True`` once the connection is closing: the driver should arm its close timeout."""
        return self.state is not State.OPEN
