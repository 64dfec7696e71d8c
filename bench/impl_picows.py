"""picows used directly (Cython, frame-level API): the fastest Python WebSocket library we know.

Only measured when picows is installed (``pip install picows``); the benchmark never installs it.
picows hands over frames, not messages: the echo sends each data frame back as it came.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from bench.common import HOST, MAX_SIZE, Config, Ready

__all__ = ["serve", "open_client"]


async def serve(config: Config, ready: Ready) -> None:
    """Echo every data frame with ``picows.ws_create_server``."""
    picows = importlib.import_module("picows")
    WSMsgType = picows.WSMsgType

    listener_base: Any = picows.WSListener

    class Echo(listener_base):  # type: ignore[misc]
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
            elif frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION):
                transport.send(frame.msg_type, frame.get_payload_as_bytes(), frame.fin)

    server = await picows.ws_create_server(lambda request: Echo(), HOST, 0, max_frame_size=MAX_SIZE)
    async with server:
        ready(server.sockets[0].getsockname()[1])
        await server.serve_forever()


class _Conn:
    def __init__(self, transport: Any, listener: Any) -> None:
        self._transport = transport
        self._listener = listener

    async def send(self, message: str | bytes) -> None:
        WSMsgType = importlib.import_module("picows").WSMsgType
        if isinstance(message, str):
            self._transport.send(WSMsgType.TEXT, message.encode())
        else:
            self._transport.send(WSMsgType.BINARY, message)
        if self._listener.drain is not None:
            await self._listener.drain

    async def receive(self) -> int:
        listener = self._listener
        if not listener.received:
            if listener.closed:
                raise EOFError("connection closed")
            listener.waiter = asyncio.get_running_loop().create_future()
            await listener.waiter
        received, listener.received = listener.received, 0
        return int(received)

    async def close(self) -> None:
        self._transport.send_close(importlib.import_module("picows").WSCloseCode.OK)
        self._transport.disconnect()


class Client:
    """Connections with ``picows.ws_connect``; a listener counts the payload bytes it receives."""

    async def connect(self, port: int) -> _Conn:
        picows = importlib.import_module("picows")
        WSMsgType = picows.WSMsgType

        listener_base: Any = picows.WSListener

        class Counter(listener_base):  # type: ignore[misc]
            def __init__(self) -> None:
                super().__init__()
                self.received = 0
                self.closed = False
                self.waiter: asyncio.Future[None] | None = None
                self.drain: asyncio.Future[None] | None = None

            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                if frame.msg_type == WSMsgType.CLOSE:
                    self._wake(EOFError("connection closed"))
                    return
                self.received += len(frame.get_payload_as_memoryview())
                self._wake(None)

            def on_ws_disconnected(self, transport: Any) -> None:
                self.closed = True
                self._wake(EOFError("connection closed"))

            def pause_writing(self) -> None:
                self.drain = asyncio.get_running_loop().create_future()

            def resume_writing(self) -> None:
                drain, self.drain = self.drain, None
                if drain is not None and not drain.done():
                    drain.set_result(None)

            def _wake(self, error: Exception | None) -> None:
                waiter = self.waiter
                if waiter is None or waiter.done():
                    return
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)

        url = f"ws://{HOST}:{port}/"
        transport, listener = await picows.ws_connect(Counter, url, max_frame_size=MAX_SIZE)
        return _Conn(transport, listener)

    async def aclose(self) -> None:
        return None


async def open_client(config: Config) -> Client:
    return Client()
