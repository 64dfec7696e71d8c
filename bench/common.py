"""What every stack implementation provides, and the settings all of them share.

An implementation module (``bench.impl_*``) defines ``serve(config, ready)``, which listens on
127.0.0.1 with a free port, calls ``ready(port)`` and serves an echo until cancelled, and
``open_client(config)``, which returns a :class:`Client` that opens connections to that port.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

__all__ = ["HOST", "MAX_SIZE", "WRITE_LIMIT", "Config", "Conn", "Client", "Ready"]

HOST = "127.0.0.1"
#: Message size limit of every WebSocket stack: room for the 1 MiB workload.
MAX_SIZE = 2 * 2**20
#: Write buffer before backpressure, where the library has the knob (ws-channel's default).
WRITE_LIMIT = 2**16

#: Per-stack settings passed from the runner to the processes (for example the backend name).
Config = dict[str, str]
#: Called by a server once it listens, with its port.
Ready = Callable[[int], None]


class Conn(Protocol):
    """One client connection as the workloads see it."""

    async def send(self, message: str | bytes) -> None:
        """Send one message (a byte stream stack sends its bytes), waiting for buffer space."""
        ...

    async def receive(self) -> int:
        """Wait for incoming data; return its size (one message, or one chunk of a byte stream).

        Raises EOFError when the connection ended.
        """
        ...

    async def close(self) -> None:
        """Close the connection."""
        ...


class Client(Protocol):
    """Opens connections of one stack; holds shared state such as an HTTP session."""

    async def connect(self, port: int) -> Conn:
        """Open one connection to the echo server on ``port``."""
        ...

    async def aclose(self) -> None:
        """Release shared state."""
        ...


ServeFunction = Callable[[Config, Ready], Awaitable[None]]
ClientFactory = Callable[[Config], Awaitable[Client]]
