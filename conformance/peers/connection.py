"""``PeerConnection``: one scripted end of a WebSocket connection over a plain anyio byte stream.

It reads and writes frames exactly as a script tells it, answers nothing on its own (no automatic
pongs, no automatic close replies) unless a helper such as :meth:`PeerConnection.read_message` is
asked to, and records every frame it received so cases can assert on what the backend sent.
"""

from __future__ import annotations

import socket
import struct
import zlib

import anyio
from anyio.abc import ByteStream, SocketAttribute

from .frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Frame,
    apply_mask,
    close_payload,
    encode_frame,
    parse_close_payload,
)
from .http import Request, Response, parse_request, parse_response, upgrade_response

__all__ = ["PeerConnection", "PeerClosed", "MAX_HEAD"]

#: Largest HTTP head a scripted peer accepts.
MAX_HEAD = 64 * 1024

_EOF_ERRORS = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


class PeerClosed(Exception):
    """The other side ended the TCP connection while the script was reading."""


class PeerConnection:
    """A scripted WebSocket endpoint; ``client=True`` masks outgoing frames as RFC 6455 5.3 requires."""

    def __init__(self, stream: ByteStream, *, client: bool) -> None:
        self.stream = stream
        self.client = client
        self._buffer = bytearray()
        self._send_lock = anyio.Lock()
        self._inflater: zlib._Decompress | None = None
        #: Every frame read so far, in order.
        self.frames: list[Frame] = []
        #: The upgrade request read by :meth:`read_request` (server scripts).
        self.request: Request | None = None
        #: The response read by :meth:`read_response` (client scripts).
        self.response: Response | None = None
        self.aborted = False

    # -- raw bytes -------------------------------------------------------------------------------

    async def _fill(self) -> None:
        try:
            chunk = await self.stream.receive()
        except _EOF_ERRORS as exc:
            raise PeerClosed("the other side closed the connection") from exc
        self._buffer += chunk

    async def read_exactly(self, size: int) -> bytes:
        """Return exactly ``size`` bytes; raise :class:`PeerClosed` if the stream ends first."""
        while len(self._buffer) < size:
            await self._fill()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def read_until(self, delimiter: bytes, limit: int = MAX_HEAD) -> bytes:
        """Return the bytes before ``delimiter`` (which is consumed)."""
        while True:
            index = self._buffer.find(delimiter)
            if index >= 0:
                data = bytes(self._buffer[:index])
                del self._buffer[: index + len(delimiter)]
                return data
            if len(self._buffer) > limit:
                raise ValueError(f"no {delimiter!r} within {limit} bytes")
            await self._fill()

    async def read_to_eof(self) -> bytes:
        """Return everything until the other side closes the connection."""
        try:
            while True:
                await self._fill()
        except PeerClosed:
            data = bytes(self._buffer)
            self._buffer.clear()
            return data

    async def send_raw(self, data: bytes) -> None:
        """Write bytes as they are; several tasks may send, one at a time."""
        async with self._send_lock:
            await self.stream.send(data)

    async def wait_closed(self) -> bool:
        """Read and discard until the other side closes TCP; ``True`` when it did."""
        await self.read_to_eof()
        return True

    async def close_tcp(self) -> None:
        """Close the TCP connection with a FIN, without any close frame."""
        await self.stream.aclose()

    async def abort(self) -> None:
        """Drop the TCP connection with a RST (SO_LINGER 0), without any close frame."""
        self.aborted = True
        raw = self.stream.extra(SocketAttribute.raw_socket, None)
        if raw is not None:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self.stream.aclose()

    # -- HTTP ------------------------------------------------------------------------------------

    async def read_request(self) -> Request:
        """Read the client's request head (server scripts)."""
        self.request = parse_request(await self.read_until(b"\r\n\r\n"))
        return self.request

    async def read_response(self) -> Response:
        """Read the server's response head and a ``Content-Length`` body (client scripts)."""
        head = parse_response(await self.read_until(b"\r\n\r\n"))
        length = head.header("Content-Length")
        body = await self.read_exactly(int(length)) if length else b""
        self.response = Response(head.status, head.reason, head.headers, body)
        return self.response

    async def accept(
        self,
        *,
        protocol: str | None = None,
        extensions: str | None = None,
        accept: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Request:
        """Read the upgrade request (unless already read) and answer 101 Switching Protocols.

        ``extensions="permessage-deflate"`` also makes :meth:`read_frame` users able to inflate.
        """
        request = self.request or await self.read_request()
        key = request.header("Sec-WebSocket-Key") or ""
        await self.send_raw(
            upgrade_response(key, protocol=protocol, extensions=extensions, accept=accept, headers=headers)
        )
        if extensions and extensions.startswith("permessage-deflate"):
            self.enable_inflate()
        return request

    def enable_inflate(self) -> None:
        """Inflate compressed (RSV1) messages in :meth:`read_message`, once deflate was negotiated."""
        self._inflater = zlib.decompressobj(-15)

    # -- frames ----------------------------------------------------------------------------------

    async def send_frame(
        self,
        opcode: int,
        payload: bytes = b"",
        *,
        fin: bool = True,
        rsv1: bool = False,
        rsv2: bool = False,
        rsv3: bool = False,
        mask: bool | None = None,
    ) -> None:
        """Send one frame; masked by default when this end is a client."""
        masked = self.client if mask is None else mask
        await self.send_raw(
            encode_frame(opcode, payload, fin=fin, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3, mask=masked)
        )

    async def send_text(self, text: str) -> None:
        """Send one unfragmented text message."""
        await self.send_frame(OP_TEXT, text.encode("utf-8"))

    async def send_binary(self, data: bytes) -> None:
        """Send one unfragmented binary message."""
        await self.send_frame(OP_BINARY, data)

    async def send_close(self, code: int | None = None, reason: str | bytes = b"") -> None:
        """Send a close frame, with or without a code."""
        await self.send_frame(OP_CLOSE, close_payload(code, reason))

    async def read_frame(self) -> Frame:
        """Read one frame, unmask it and record it; raise :class:`PeerClosed` at the end of the stream."""
        first, second = await self.read_exactly(2)
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", await self.read_exactly(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", await self.read_exactly(8))
        masked = bool(second & 0x80)
        key = await self.read_exactly(4) if masked else b""
        payload = await self.read_exactly(size)
        if masked:
            payload = apply_mask(payload, key)
        frame = Frame(
            opcode=first & 0x0F,
            payload=payload,
            fin=bool(first & 0x80),
            rsv1=bool(first & 0x40),
            rsv2=bool(first & 0x20),
            rsv3=bool(first & 0x10),
            masked=masked,
        )
        self.frames.append(frame)
        return frame

    async def read_message(self, *, answer_pings: bool = True) -> str | bytes | Frame:
        """Read one whole data message (joining fragments); a close frame is returned as a ``Frame``.

        Pings are answered with pongs unless ``answer_pings`` is false; pongs are skipped.
        """
        opcode: int | None = None
        compressed = False
        parts: list[bytes] = []
        while True:
            frame = await self.read_frame()
            if frame.opcode == OP_CLOSE:
                return frame
            if frame.opcode == OP_PING:
                if answer_pings:
                    await self.send_frame(OP_PONG, frame.payload)
                continue
            if frame.opcode == OP_PONG:
                continue
            if frame.opcode != OP_CONTINUATION:
                opcode = frame.opcode
                compressed = frame.rsv1
            parts.append(frame.payload)
            if frame.fin:
                break
        data = b"".join(parts)
        if compressed:
            if self._inflater is None:
                raise ValueError("received a compressed message but deflate was not negotiated")
            data = self._inflater.decompress(data + b"\x00\x00\xff\xff")
        return data.decode("utf-8") if opcode == OP_TEXT else data

    async def read_until_close(self, *, answer_pings: bool = True) -> Frame | None:
        """Read and discard messages until a close frame; ``None`` if TCP ended without one."""
        try:
            while True:
                message = await self.read_message(answer_pings=answer_pings)
                if isinstance(message, Frame):
                    return message
        except PeerClosed:
            return None

    async def echo_close(self, frame: Frame) -> None:
        """Answer a received close frame with the same code (RFC 6455 5.5.1) and end TCP if a server."""
        code, _reason = parse_close_payload(frame.payload)
        try:
            await self.send_close(code)
            if not self.client:
                await self.close_tcp()
        except _EOF_ERRORS:
            pass

    async def close_handshake(self, code: int | None = 1000, reason: str | bytes = b"") -> Frame | None:
        """Run a whole closing handshake as a well-behaved client (RFC 6455 7.1.1).

        Send a close frame, read until the peer's close frame, wait for the server to end TCP, then
        close our side. Returns the peer's close frame (``None`` if TCP ended without one).
        """
        await self.send_close(code, reason)
        frame = await self.read_until_close()
        await self.wait_closed()
        await self.close_tcp()
        return frame

    async def answer_close(self) -> Frame | None:
        """Wait for the peer's close frame, echo it, wait for TCP to end and close our side."""
        frame = await self.read_until_close()
        if frame is not None:
            await self.echo_close(frame)
        await self.wait_closed()
        await self.close_tcp()
        return frame

    def received_close(self) -> Frame | None:
        """The first close frame received so far, if any."""
        return next((frame for frame in self.frames if frame.opcode == OP_CLOSE), None)

    def received_close_code(self) -> tuple[int | None, str] | None:
        """(code or ``None``, reason) of the first close frame received, or ``None`` without one."""
        frame = self.received_close()
        if frame is None:
            return None
        code, reason = parse_close_payload(frame.payload)
        return code, reason.decode("utf-8", errors="replace")
