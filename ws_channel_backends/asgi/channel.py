"""``AsgiChannel``: a ``WebSocketChannel`` over an accepted ASGI WebSocket (``receive`` / ``send``).

ASGI hands an application messages, not frames: the server (uvicorn, hypercorn...) owns the socket,
answers pings, runs keepalive and completes closing handshakes. What that means for the channel:

- ``websocket.disconnect`` ends the stream. When the peer closed first, its code and reason are the
  close frame received; the server has already echoed it, which is recorded as the frame sent.
- After a local ``close()`` the server reports ``websocket.disconnect`` at once (uvicorn) or once the
  connection is gone, and never says what the peer answered: ``close_received`` stays ``None`` and
  ``close_code`` is 1006. The server bounds the closing handshake with its own close timeout.
- ``close()`` without a code sends 1000: ASGI's ``websocket.close`` cannot send an empty close frame.
- ``max_size`` is checked again here (a message over it fails the connection with 1009), because a
  server's own limit may be larger.
- Messages are pulled one at a time, only when read (or while closing, to reach the disconnect):
  the server's flow control applies, and at most ``max_queue`` unread messages are kept while closing.
- ``add_nowait`` queues the message in the channel and a background task hands it to the server's
  ``send``; ``buffered_amount`` counts the bytes queued there and not yet accepted by the server (what
  the server holds in its own write buffer, at most ``write_limit`` under ``serve``, ASGI does not
  tell). ``add`` waits for that queue to empty first, and so does the close frame.
- ASGI carries whole messages and no pings: ``add_fragments`` sends the joined message,
  ``receive_fragments`` yields each message as one chunk (memory is bounded by ``max_size``), and
  ``ping()`` raises ``NotImplementedError`` (the server's keepalive still runs; ``latency`` stays
  ``None``).
"""

from __future__ import annotations

from collections import deque
from typing import Any, NoReturn

import anyio

from ws_channel_core.channel import Message
from ws_channel_core.errors import CloseFrame, PayloadTooBig, WebSocketChannelError
from ws_channel_core.http import Address, Request, Response

from ._event_channel import EventChannel
from ._types import Message as Event
from ._types import Receive, Send, logger, spawn

__all__ = ["AsgiChannel"]


def _size(message: Message) -> int:
    """The size of ``message`` on the wire, before framing (UTF-8 for text)."""
    if isinstance(message, bytes) or message.isascii():
        return len(message)
    return len(message.encode("utf-8"))


def _event(message: Message) -> dict[str, Any]:
    if isinstance(message, str):
        return {"type": "websocket.send", "text": message}
    return {"type": "websocket.send", "bytes": message}


class AsgiChannel(EventChannel):
    """A server-side channel over an ASGI WebSocket connection that is already accepted."""

    __slots__ = (
        "_asgi_receive", "_asgi_send",
        "_max_size", "_max_queue", "_dropped", "_failed", "_write_limit", "_outgoing", "_outgoing_bytes",
        "_flushed",
    )

    def __init__(
        self,
        receive: Receive,
        send: Send,
        *,
        protocol: str | None = None,
        request: Request | None = None,
        response: Response | None = None,
        remote_address: Address = None,
        local_address: Address = None,
        close_timeout: float | None = 10.0,
        max_size: int | None = 2**20,
        max_queue: int = 16,
        write_limit: int = 2**16,
    ) -> None:
        super().__init__(
            protocol=protocol,
            server_side=True,
            request=request,
            response=response,
            remote_address=remote_address,
            local_address=local_address,
            close_timeout=close_timeout,
        )
        self._asgi_receive = receive
        self._asgi_send = send
        self._max_size = max_size
        self._max_queue = max_queue
        self._dropped = 0
        self._failed = False
        self._write_limit = write_limit
        self._outgoing: deque[Message] = deque()  # queued by add_nowait, not yet given to the server
        self._outgoing_bytes = 0  # their size, plus the message an ``add`` is handing over
        self._flushed: anyio.Event | None = None  # set once the queue is empty (while a task sends)

    # -- receiving ------------------------------------------------------------------------------

    async def _next_event(self) -> Event | None:
        try:
            event = await self._asgi_receive()
        except Exception as exc:  # the server or framework gave up on the connection
            logger.debug("ASGI receive failed: %r", exc)
            self._end()
            return None
        return event

    def _handle(self, event: Any) -> None:
        kind = event.get("type")
        if kind == "websocket.receive":
            text = event.get("text")
            message: Message = text if text is not None else bytes(event.get("bytes") or b"")
            if self._failed:
                return
            if self._too_big(message):
                self._fail(PayloadTooBig(f"a message is over max_size ({self._max_size} bytes)"))
                return
            if self._closing and len(self._buffer) >= self._max_queue:
                self._dropped += 1
                logger.debug("closing: dropped an unread message (%d so far)", self._dropped)
                return
            self._buffer.append(message)
        elif kind == "websocket.disconnect":
            # Set by this backend's uvicorn protocol when uvicorn failed the connection itself.
            error = event.get("ws_channel.error")
            if isinstance(error, WebSocketChannelError):
                self._note_error(error)
            sent = event.get("ws_channel.close_sent")
            if sent is not None:
                self._note_close_sent(CloseFrame(int(sent[0]), str(sent[1])))
            code = event.get("code")
            reason = event.get("reason") or ""
            self._on_disconnect(
                1005 if code is None else int(code), str(reason), bool(event.get("ws_channel.close_received"))
            )

    def _too_big(self, message: Message) -> bool:
        limit = self._max_size
        if limit is None or len(message) <= limit // 4:
            return False
        if len(message) > limit:
            return True
        return isinstance(message, str) and len(message.encode("utf-8")) > limit

    def _on_disconnect(self, code: int, reason: str, answer: bool = False) -> None:
        if answer:  # the peer's answer to our close frame (this backend's uvicorn protocol tells)
            self._note_close_received(CloseFrame(code, reason))
        elif self._close_sent is None and code != 1006:
            # The peer closed first; the server already answered with the same frame.
            frame = CloseFrame(code, reason)
            self._note_close_received(frame)
            self._note_close_sent(frame)
        self._end()

    def _end(self) -> None:
        self._ended = True
        self._record_close()

    def _fail(self, error: PayloadTooBig) -> None:
        self._failed = True
        self._note_error(error)
        if not self._closing:
            self._closing = True
            self._start_close(error.close_code, "")

    # -- sending --------------------------------------------------------------------------------

    async def _send_message(self, message: Message) -> None:
        if self._flushed is not None:
            await self._wait_flushed()
        size = _size(message)
        self._outgoing_bytes += size
        try:
            await self._asgi_send(_event(message))
        except Exception as exc:  # disconnected (ClientDisconnected, OSError) or already closing
            self._raise_closed(exc)
        finally:
            self._outgoing_bytes -= size

    def _send_message_nowait(self, message: Message) -> bool:
        if self._ended:
            raise self._closed_error()
        if self._outgoing_bytes > self._write_limit:
            return False
        self._outgoing.append(message)
        self._outgoing_bytes += _size(message)
        if self._flushed is None:
            self._flushed = anyio.Event()
            spawn(self._flush)
        return True

    async def _flush(self) -> None:
        """Hand the messages ``add_nowait`` queued to the server, in order (a background task)."""
        outgoing = self._outgoing
        try:
            while outgoing:
                message = outgoing[0]
                await self._asgi_send(_event(message))
                outgoing.popleft()
                self._outgoing_bytes -= _size(message)
        except Exception as exc:  # disconnected: what is queued is lost, as on a network
            logger.debug("ASGI send of a queued message failed: %r", exc)
            self._closing = True
            outgoing.clear()
            self._outgoing_bytes = 0
        finally:
            flushed, self._flushed = self._flushed, None
            if flushed is not None:
                flushed.set()

    async def _wait_flushed(self) -> None:
        while self._flushed is not None:
            await self._flushed.wait()
        if self._closing:
            raise self._closed_error()

    def _raise_closed(self, exc: Exception) -> NoReturn:
        self._closing = True
        raise self._closed_error() from exc

    def _buffered_amount(self) -> int:
        return self._outgoing_bytes

    async def _ping(self, payload: bytes) -> float:
        raise NotImplementedError(
            "ASGI has no ping: the server answers pings and runs keepalive itself (ping_interval)"
        )

    # -- closing --------------------------------------------------------------------------------

    def _start_close(self, code: int | None, reason: str) -> None:
        spawn(lambda: self._close(code, reason))

    async def _close(self, code: int | None, reason: str) -> None:
        sent = 1000 if code is None else code  # ASGI cannot send a close frame without a code
        if self._flushed is not None:  # what add_nowait queued goes out before the close frame
            with anyio.move_on_after(self._close_timeout):
                while self._flushed is not None:
                    await self._flushed.wait()
        try:
            await self._asgi_send({"type": "websocket.close", "code": sent, "reason": reason})
        except Exception as exc:  # already disconnected: the disconnect event is waiting
            logger.debug("ASGI websocket.close failed: %r", exc)
        else:
            self._note_close_sent(CloseFrame(sent, reason))
        try:
            with anyio.move_on_after(self._close_timeout):
                while not self._ended:
                    await self._pull()
        except Exception:  # pragma: no cover - a background task must not raise
            logger.exception("closing the ASGI connection failed")
        if not self._ended:
            self._abort_connection()
            self._end()

    def _abort_connection(self) -> None:
        """Stop reading at once; the server drops the connection once the close frame went out.

        ASGI has no way to drop a connection: when no close was sent yet, a 1011 close is queued.
        """
        self._ended = True
        scope = self._read_scope
        if scope is not None:
            scope.cancel()
        if self._close_sent is None and not self._closing:
            self._closing = True

            async def close_now() -> None:
                try:
                    await self._asgi_send({"type": "websocket.close", "code": 1011, "reason": ""})
                except Exception:
                    return
                self._note_close_sent(CloseFrame(1011, ""))

            spawn(close_now)
