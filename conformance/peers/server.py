"""``scripted_server``: a TCP listener on 127.0.0.1 that runs a script for each connection.

The script gets a :class:`PeerConnection` and does whatever the case needs: answer HTTP without
upgrading, upgrade with a wrong accept value, send broken frames... Everything it received stays
recorded on the connection, so the case can check what the backend under test sent.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import cast

import anyio
from anyio.abc import SocketAttribute, SocketListener, SocketStream

from .connection import PeerConnection

__all__ = ["Script", "ScriptedServer", "scripted_server"]

#: What a scripted server runs for each accepted connection.
Script = Callable[[PeerConnection], Awaitable[None]]


class ScriptedServer:
    """A running scripted server: its URL, its connections and the errors its scripts raised."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connections: list[PeerConnection] = []
        self.errors: list[BaseException] = []
        self.finished = 0
        self._changed = anyio.Event()

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:PORT/``."""
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def connection(self) -> PeerConnection:
        """The first connection (most cases have exactly one)."""
        return self.connections[0]

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_connected(self, count: int = 1) -> None:
        """Wait until ``count`` connections were accepted (bound it with ``anyio.fail_after``)."""
        while len(self.connections) < count:
            await self._changed.wait()

    async def wait_finished(self, count: int = 1) -> None:
        """Wait until ``count`` scripts returned or raised (bound it with ``anyio.fail_after``)."""
        while self.finished < count:
            await self._changed.wait()

    async def _run(self, script: Script, stream: SocketStream) -> None:
        connection = PeerConnection(stream, client=False)
        self.connections.append(connection)
        self._notify()
        try:
            await script(connection)
        except Exception as exc:  # recorded for the case to inspect; one script must not stop the server
            self.errors.append(exc)
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()
            self.finished += 1
            self._notify()


@asynccontextmanager
async def scripted_server(script: Script) -> AsyncIterator[ScriptedServer]:
    """Listen on 127.0.0.1 (a free port) and run ``script`` for every connection until the block ends."""
    multi = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    listener = cast(SocketListener, multi.listeners[0])
    port = listener.extra(SocketAttribute.local_port)
    server = ScriptedServer(port)

    async def accept_loop() -> None:
        async with anyio.create_task_group() as connections:
            while True:
                stream = await listener.accept()
                connections.start_soon(server._run, script, stream)

    async with multi, anyio.create_task_group() as tasks:
        tasks.start_soon(accept_loop)
        try:
            yield server
        finally:
            tasks.cancel_scope.cancel()
