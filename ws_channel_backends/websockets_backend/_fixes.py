"""Fixes applied to every websockets connection the backend owns or wraps (asyncio and trio).

websockets builds its sans-I/O protocol and its assembler itself and offers no factory for either,
so :func:`install_fixes` switches their classes to the subclasses here (only the exact stock classes,
and only when no read is in progress). The subclasses add no state that the stock ``__init__`` would
have set: their attributes have class-level defaults, which keeps the switch safe.

1. **No cap on fragments per message** (Autobahn 9.3.x, 9.4.x). The stock ``Assembler.get()`` keeps
   every ``Frame`` of a message and refuses more than ``MAX_FRAGMENTS`` (4096). The assemblers here copy
   each fragment's payload into one ``bytearray`` as it arrives, so memory is the message size (bounded
   by ``max_size``) whatever the fragment count; text is validated incrementally, so invalid UTF-8 fails
   at the first bad fragment (Autobahn 6.4.x). A cancelled ``get()`` resumes where it stopped.

2. **Draining after a local close.** After ``close()`` the peer's close frame must be read even if
   nobody reads messages: reading no longer pauses for a full queue; frames of messages beyond
   ``max_queue`` are dropped (counted in ``dropped``), fragments of a queued message are merged into
   one frame, so memory stays bounded by ``max_queue`` messages.

3. **A close frame in the middle of a fragmented message** (Autobahn 7.1.5; RFC 6455 5.4 allows
   control frames between fragments): the partial message ends and the close is answered normally.

4. **Bounded pending pongs** (RFC 6455 5.5.3: answering only the latest ping is allowed), and no
   ping kept as an event (the connections ignore them): past ``PENDING_PONGS`` pongs in one read, a
   ping answered while the previous pong has not been handed to the transport yet replaces it, so a
   ping flood in one read produces a bounded number of pongs. On asyncio, while the transport's
   write buffer is above ``write_limit`` the latest pong is held back and written once it drains
   (:class:`FixedClientConnection`, :class:`FixedServerConnection`), so a peer that never reads
   cannot make pongs pile up. (Pausing reading instead would let two peers that both send a lot
   wait for each other for ever.) On trio, ``send_all`` blocks the reader, which bounds them too.

5. **A hook for the closing handshake**: ``on_closing`` is called whenever a close frame is sent or
   received or the connection fails, so the channel records it at once and bounds the rest by
   ``close_timeout`` (websockets enforces that deadline only inside ``send()`` / ``close()``).
"""

from __future__ import annotations

import asyncio
import codecs
import dataclasses
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.connection import Connection
from websockets.asyncio.messages import Assembler
from websockets.asyncio.server import ServerConnection
from websockets.client import ClientProtocol
from websockets.exceptions import ConcurrencyError
from websockets.frames import BINARY, CLOSE, CONT, PING, TEXT, Frame
from websockets.protocol import Protocol
from websockets.server import ServerProtocol
from websockets.typing import Data

__all__ = [
    "PENDING_PONGS",
    "UncappedAssembler",
    "FixedClientProtocol",
    "FixedServerProtocol",
    "install_fixes",
    "start_draining",
    "FixedClientConnection",
    "FixedServerConnection",
]

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")
#: Pongs of one read written one by one before only the latest pending one is kept (fix 4).
PENDING_PONGS = 16


class AssemblerFixes:
    """Mixin for both assemblers: uncapped ``get()`` and draining ``put()``; see the module docstring.

    A subclass provides :meth:`_next_frame` and :meth:`_queue`.
    """

    # Class-level defaults: instances switched from the stock class start with no partial message.
    _partial: bytearray | None = None
    _partial_decode: bool = False
    _validator: codecs.IncrementalDecoder | None = None
    #: True after a local close: never pause reading, drop messages beyond ``high``.
    draining: bool = False
    #: Messages dropped while draining because nobody read them.
    dropped: int = 0
    _dropping_rest: bool = False
    #: Inside a message read piece by piece (``get_piece``): 1 text, 2 binary, 0 not.
    _pieces: int = 0
    _piece_decoder: codecs.IncrementalDecoder | None = None

    # Provided by the stock assembler.
    get_in_progress: bool
    high: int | None
    paused: bool
    closed: bool
    resume: Callable[[], Any]

    if TYPE_CHECKING:

        def maybe_resume(self) -> None: ...  # provided by the stock assembler

    async def _next_frame(self) -> Frame:  # pragma: no cover - provided by subclasses
        raise NotImplementedError

    def _queue(self) -> deque[Frame]:  # pragma: no cover - provided by subclasses
        raise NotImplementedError

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
                frame = await self._next_frame()
                self.maybe_resume()
                assert frame.opcode is TEXT or frame.opcode is BINARY
                as_str = frame.opcode is TEXT if decode is None else decode
                if frame.fin:  # the common case: an unfragmented message
                    return bytes(frame.data).decode() if as_str else bytes(frame.data)
                self._start(frame, as_str)
            return await self._finish_message()
        finally:
            self.get_in_progress = False

    async def get_piece(self) -> tuple[Data, bool]:
        """The next piece of the incoming message (one frame) and whether it ends the message.

        Text is decoded as it comes (a character split across frames comes out whole in the later
        piece); the first call after an interrupted :meth:`get` hands over what it had gathered.
        Cancel-safe: a frame taken from the queue is returned before anything else can happen.

        Raises:
            EOFError: the stream of frames ended.
            UnicodeDecodeError: a text message is not valid UTF-8.
            ConcurrencyError: another coroutine is reading.
        """
        if self.get_in_progress:
            raise ConcurrencyError("get() or get_iter() is already running")
        self.get_in_progress = True
        try:
            if self._partial is not None and not self._pieces:  # a whole-message read was cancelled
                data, self._partial, self._validator = bytes(self._partial), None, None
                if not self._partial_decode:
                    self._pieces = 2
                    return data, False
                self._pieces = 1
                decoder = self._piece_decoder = _Utf8Decoder()
                return decoder.decode(data, False), False
            frame = await self._next_frame()
            self.maybe_resume()
            if not self._pieces:
                assert frame.opcode is TEXT or frame.opcode is BINARY
                if frame.fin:
                    return (bytes(frame.data).decode() if frame.opcode is TEXT else bytes(frame.data)), True
                self._pieces = 1 if frame.opcode is TEXT else 2
                self._piece_decoder = _Utf8Decoder() if frame.opcode is TEXT else None
            else:
                assert frame.opcode is CONT
            piece: Data = bytes(frame.data)
            if self._piece_decoder is not None:
                try:
                    piece = self._piece_decoder.decode(frame.data, frame.fin)
                except UnicodeDecodeError:
                    self._pieces, self._piece_decoder = 0, None
                    raise
            if frame.fin:
                self._pieces, self._piece_decoder = 0, None
            return piece, frame.fin
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
            frame = await self._next_frame()
            self.maybe_resume()
            assert frame.opcode is CONT
            self._partial += frame.data
            self._check_utf8(frame)
            if frame.fin:
                break
        data, as_str = bytes(self._partial), self._partial_decode
        self._partial = self._validator = None
        return data.decode() if as_str else data

    def _drain_frame(self, frame: Frame) -> bool:
        """While draining, keep ``frame`` bounded; return True when it was merged or dropped."""
        if self._dropping_rest:
            self._dropping_rest = not frame.fin
            return True
        queue = self._queue()
        if frame.opcode is CONT:
            if queue and not queue[-1].fin:  # the rest of a queued message: merge it in
                last = queue[-1]
                data = last.data if isinstance(last.data, bytearray) else bytearray(last.data)
                data += frame.data
                queue[-1] = dataclasses.replace(last, data=data, fin=frame.fin)
                return True
            return False  # the rest of the message being read right now
        if self.high is not None and len(queue) >= self.high:
            self.dropped += 1
            self._dropping_rest = not frame.fin
            return True
        return False

    def maybe_pause(self) -> None:
        if not self.draining:
            super().maybe_pause()  # type: ignore[misc]


class UncappedAssembler(AssemblerFixes, Assembler):
    """The asyncio ``Assembler`` with the fixes of :class:`AssemblerFixes`."""

    async def _next_frame(self) -> Frame:
        return await self.frames.get(not self.closed)

    def _queue(self) -> deque[Frame]:
        return self.frames.queue

    def put(self, frame: Frame) -> None:
        if self.draining and not self.closed and self._drain_frame(frame):
            return
        super().put(frame)


def start_draining(assembler: Any) -> None:
    """Switch a fixed assembler to draining (see the module docstring); no-op on a foreign one."""
    if isinstance(assembler, AssemblerFixes) and not assembler.draining:
        assembler.draining = True
        if assembler.paused:
            assembler.paused = False
            assembler.resume()


class _ProtocolFixes:
    """Mixin for the sans-I/O protocols: fixes 3, 4 and 5 of the module docstring."""

    #: Called after a close frame was sent or received, or the connection failed.
    on_closing: Callable[[], None] | None = None
    #: Set while the transport's write buffer is full: the latest pong waits in ``held_pong``.
    hold_pongs: bool = False
    held_pong: bytes | None = None
    _pong: bytes | None = None

    def recv_frame(self, frame: Frame) -> None:
        protocol = cast("Protocol", self)
        opcode = frame.opcode
        if opcode is PING:
            writes = protocol.writes
            before = len(writes)
            super().recv_frame(frame)  # type: ignore[misc]
            events = protocol.events
            if events and events[-1] is frame:
                # Nobody consumes ping events (the pong is already queued): without this, a read
                # full of pings keeps tens of thousands of Frame objects until it is processed.
                events.pop()
            if len(writes) == before + 1:
                if self.hold_pongs:
                    self.held_pong = writes.pop()  # replaces the one held before, if any
                    return
                if before >= PENDING_PONGS and writes[before - 1] is self._pong:
                    # RFC 6455 5.5.3: only the latest ping needs its pong. A few pings in one read
                    # each get theirs (peers expect it: Autobahn 2.10, 2.11); past that, one.
                    del writes[before - 1]
                self._pong = writes[-1]
            return
        if opcode is CLOSE:
            # RFC 6455 5.4: "Control frames MAY be injected in the middle of a fragmented message."
            # A close ends the connection, and with it the unfinished message.
            if protocol.current_size is not None:
                protocol.current_size = None
            super().recv_frame(frame)  # type: ignore[misc]
            if self.on_closing is not None:
                self.on_closing()
            return
        super().recv_frame(frame)  # type: ignore[misc]

    def send_close(self, code: int | None = None, reason: str = "") -> None:
        super().send_close(code, reason)  # type: ignore[misc]
        if self.on_closing is not None:
            self.on_closing()

    # websockets fails the connection first and sets ``parser_exc`` just after, so the hook called by
    # ``fail`` cannot see why: setting it calls the hook again (stored where the stock class keeps it).
    @property
    def parser_exc(self) -> Exception | None:
        exc: Exception | None = self.__dict__.get("parser_exc")
        return exc

    @parser_exc.setter
    def parser_exc(self, exc: Exception | None) -> None:
        self.__dict__["parser_exc"] = exc
        if exc is not None and self.on_closing is not None:
            self.on_closing()

    def fail(self, code: int, reason: str = "") -> None:
        super().fail(code, reason)  # type: ignore[misc]
        if self.on_closing is not None:
            self.on_closing()


class FixedClientProtocol(_ProtocolFixes, ClientProtocol):
    """``ClientProtocol`` with the fixes of :class:`_ProtocolFixes`."""


class FixedServerProtocol(_ProtocolFixes, ServerProtocol):
    """``ServerProtocol`` with the fixes of :class:`_ProtocolFixes`."""


def install_fixes(connection: Any) -> None:
    """Switch ``connection``'s protocol and assembler to the fixed classes, where that is safe.

    Works on asyncio and trio connections. Call it before anyone reads from the connection.
    Subclasses of the stock classes (someone else's customisation) and an assembler with a read in
    progress are left untouched.
    """
    protocol = connection.protocol
    if type(protocol) is ClientProtocol:
        protocol.__class__ = FixedClientProtocol
    elif type(protocol) is ServerProtocol:
        protocol.__class__ = FixedServerProtocol
    assembler = connection.recv_messages
    if type(assembler) is Assembler and not assembler.get_in_progress:
        assembler.__class__ = UncappedAssembler
    elif not isinstance(assembler, AssemblerFixes) and not assembler.get_in_progress:
        from ._trio import fix_trio_assembler  # only reached with trio installed and running

        fix_trio_assembler(assembler)


def _pause_writing(self: Connection) -> None:
    """Fix 4: from now on the protocol holds back the latest pong instead of queueing one per ping."""
    Connection.pause_writing(self)
    if isinstance(self.protocol, _ProtocolFixes):
        self.protocol.hold_pongs = True


def _resume_writing(self: Connection) -> None:
    """Fix 4: the write buffer drained; write the pong held back, if any."""
    Connection.resume_writing(self)
    protocol = self.protocol
    if isinstance(protocol, _ProtocolFixes):
        protocol.hold_pongs = False
        pong, protocol.held_pong = protocol.held_pong, None
        if pong is not None and self.protocol.close_sent is None:
            self.transport.write(pong)


# The fixed connections are direct subclasses with no new slots, so wrap() can switch a stock
# connection's class (a mixin base would change the layout Python checks on __class__ assignment).
# While the transport's write buffer is above ``write_limit``, the protocol holds back the latest
# pong instead of queueing one per ping; it is written when the buffer drains. Reading goes on, so
# two peers that both send a lot never wait for each other.


class FixedClientConnection(ClientConnection):
    """A ``ClientConnection`` with the fixes installed before any frame arrives.

    Frames can come in the same read as the 101 response (the Autobahn fuzzing server sends them at
    once), so installing the fixes after ``connect()`` returns would be too late for them.
    """

    pause_writing = _pause_writing
    resume_writing = _resume_writing

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # creates the assembler; no data has arrived yet
        install_fixes(self)


class FixedServerConnection(ServerConnection):
    """A ``ServerConnection`` with the fixes installed before the handshake."""

    pause_writing = _pause_writing
    resume_writing = _resume_writing

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # creates the assembler; no data has arrived yet
        install_fixes(self)


def fix_connection_class(connection: Any) -> None:
    """Switch a stock asyncio connection (from ``wrap()``) to the fixed class, then install fixes."""
    if type(connection) is ClientConnection:
        connection.__class__ = FixedClientConnection
    elif type(connection) is ServerConnection:
        connection.__class__ = FixedServerConnection
    install_fixes(connection)
