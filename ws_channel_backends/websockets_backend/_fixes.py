"""Two Autobahn fixes applied to every websockets connection the backend owns or wraps.

1. **No cap on fragments per message** (Autobahn 9.3.1-9.3.3, 9.4.1-9.4.3). websockets' stock
   ``Assembler.get()`` keeps every ``Frame`` of a message until the last one arrives and refuses more
   than ``MAX_FRAGMENTS`` (4096, read from ``WEBSOCKETS_MAX_FRAGMENTS`` at import). The cap exists
   because each kept ``Frame`` costs about a hundred bytes of overhead. :class:`UncappedAssembler`
   copies each fragment's payload into one ``bytearray`` as it arrives and drops the ``Frame``, so
   memory is the message size (bounded by ``max_size``, which the protocol parser checks across
   fragments) plus the queued frames (bounded by ``max_queue`` through flow control), whatever the
   fragment count. The partial message lives on the assembler, so a cancelled ``get()`` resumes where
   it stopped (the stock one is cancel-safe too). Text fragments go through an incremental UTF-8
   decoder as they arrive, so invalid UTF-8 fails at the first bad fragment (Autobahn 6.4.x) rather
   than at the end of the message. The process-wide ``MAX_FRAGMENTS`` is left alone: other users of
   websockets in the same process keep the stock behaviour.

2. **A close frame in the middle of a fragmented message** (Autobahn 7.1.5). RFC 6455 section 5.4
   allows control frames between fragments; websockets fails such a close with 1002 ("incomplete
   fragmented message"). The protocol subclasses below end the partial message before the close is
   processed: the close is answered normally and the partial message is discarded (the assembler
   sees the end of the stream of frames and drops it).

websockets builds its sans-I/O protocol and assembler itself and offers no factory for either, so
:func:`install_fixes` switches their classes to the subclasses here. The subclasses add no state of
their own that the stock ``__init__`` would have set, which keeps the switch safe; it is only done
on the exact stock classes and when no read is in progress.
"""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import Callable
from typing import Literal, cast, overload

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.connection import Connection
from websockets.asyncio.messages import Assembler
from websockets.asyncio.server import ServerConnection
from websockets.client import ClientProtocol
from websockets.exceptions import ConcurrencyError
from websockets.frames import BINARY, CLOSE, CONT, TEXT, Frame
from websockets.protocol import Protocol
from websockets.server import ServerProtocol
from websockets.typing import Data

__all__ = [
    "UncappedAssembler",
    "FixedClientProtocol",
    "FixedServerProtocol",
    "install_fixes",
    "FixedClientConnection",
    "FixedServerConnection",
]

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


class UncappedAssembler(Assembler):
    """An ``Assembler`` without a fragment cap, assembling into one buffer; see the module docstring."""

    # Class-level defaults: instances switched from the stock class start with no partial message.
    _partial: bytearray | None = None
    _partial_decode: bool = False
    _validator: codecs.IncrementalDecoder | None = None

    @overload
    async def get(self, decode: Literal[True]) -> str: ...

    @overload
    async def get(self, decode: Literal[False]) -> bytes: ...

    @overload
    async def get(self, decode: bool | None = None) -> Data: ...

    async def get(self, decode: bool | None = None) -> Data:
        """Return the next message, like ``Assembler.get``; raises ``EOFError`` at the end of frames.

        Raises:
            EOFError: the stream of frames ended (a partial message is discarded).
            UnicodeDecodeError: a text message is not valid UTF-8 (found at the first bad fragment).
            ConcurrencyError: another coroutine is reading.
        """
        if self.get_in_progress:
            raise ConcurrencyError("get() or get_iter() is already running")
        self.get_in_progress = True
        try:
            if self._partial is None:
                frame = await self.frames.get(not self.closed)
                self.maybe_resume()
                assert frame.opcode is TEXT or frame.opcode is BINARY
                as_str = frame.opcode is TEXT if decode is None else decode
                if frame.fin:  # the common case: an unfragmented message
                    return bytes(frame.data).decode() if as_str else bytes(frame.data)
                self._start(frame, as_str)
            return await self._finish_message()
        finally:
            self.get_in_progress = False

    def _start(self, frame: Frame, as_str: bool) -> None:
        self._partial = bytearray(frame.data)
        self._partial_decode = as_str
        self._validator = _Utf8Decoder() if as_str else None
        self._check_utf8(frame)

    def _check_utf8(self, frame: Frame) -> None:
        if self._validator is not None:
            try:
                self._validator.decode(frame.data, frame.fin)
            except UnicodeDecodeError:
                self._partial = self._validator = None
                raise

    async def _finish_message(self) -> Data:
        # Cancel-safe: every frame taken from the queue is already in self._partial.
        while True:
            assert self._partial is not None
            frame = await self.frames.get(not self.closed)
            self.maybe_resume()
            assert frame.opcode is CONT
            self._partial += frame.data
            self._check_utf8(frame)
            if frame.fin:
                break
        data, as_str = bytes(self._partial), self._partial_decode
        self._partial = self._validator = None
        return data.decode() if as_str else data


class _CloseFrameHook:
    """Mixin: end a partial message on a close frame, and tell the channel a close frame arrived.

    websockets arms its close deadline when the peer closes first, but enforces it only inside
    ``send()`` / ``close()``; a peer that completes the closing handshake and then keeps TCP open would
    keep ``recv()`` pending for ever. ``on_close_frame`` lets the channel arm that timer itself.
    """

    on_close_frame: Callable[[], None] | None = None

    def _before_frame(self, frame: Frame) -> None:
        if frame.opcode is not CLOSE:
            return
        # RFC 6455 5.4: "Control frames MAY be injected in the middle of a fragmented message."
        # A close ends the connection, and with it the unfinished message.
        protocol = cast("Protocol", self)
        if protocol.current_size is not None:
            protocol.current_size = None
        if self.on_close_frame is not None:
            self.on_close_frame()


class FixedClientProtocol(_CloseFrameHook, ClientProtocol):
    """``ClientProtocol`` with the close-frame fixes of :class:`_CloseFrameHook` (Autobahn 7.1.5)."""

    def recv_frame(self, frame: Frame) -> None:
        self._before_frame(frame)
        super().recv_frame(frame)


class FixedServerProtocol(_CloseFrameHook, ServerProtocol):
    """``ServerProtocol`` with the close-frame fixes of :class:`_CloseFrameHook` (Autobahn 7.1.5)."""

    def recv_frame(self, frame: Frame) -> None:
        self._before_frame(frame)
        super().recv_frame(frame)


def install_fixes(connection: Connection, on_close_frame: Callable[[], None] | None = None) -> None:
    """Switch ``connection``'s protocol and assembler to the fixed classes, where that is safe.

    Call it before anyone reads from the connection. Subclasses of the stock classes (someone
    else's customisation) and an assembler with a read in progress are left untouched.
    ``on_close_frame``, when given, is called when the peer's close frame arrives.
    """
    protocol = connection.protocol
    if type(protocol) is ClientProtocol:
        protocol.__class__ = FixedClientProtocol
    elif type(protocol) is ServerProtocol:
        protocol.__class__ = FixedServerProtocol
    if on_close_frame is not None and isinstance(protocol, _CloseFrameHook):
        protocol.on_close_frame = on_close_frame
    assembler = connection.recv_messages
    if type(assembler) is Assembler and not assembler.get_in_progress:
        assembler.__class__ = UncappedAssembler


class FixedClientConnection(ClientConnection):
    """A ``ClientConnection`` with the fixes installed before any frame arrives.

    Frames can come in the same read as the 101 response (the Autobahn fuzzing server sends them at
    once), so installing the fixes after ``connect()`` returns would be too late for them.
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # creates the assembler; no data has arrived yet
        install_fixes(self)


class FixedServerConnection(ServerConnection):
    """A ``ServerConnection`` with the fixes installed before the handshake."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # creates the assembler; no data has arrived yet
        install_fixes(self)
