"""The ASGI callables' shapes (ASGI 3.0), compatible with Starlette's ``Scope``, ``Receive`` and ``Send``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from typing import Any, TypeAlias

import sniffio

__all__ = ["Scope", "Message", "Receive", "Send", "ASGIApp", "spawn", "logger"]

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
#: An ASGI 3.0 application.
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("ws_channel.asgi")

#: Tasks spawned on asyncio, kept referenced until they finish (asyncio keeps only weak references).
_tasks: set[asyncio.Task[None]] = set()


def spawn(function: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``function()`` in the background on the running event loop (asyncio or trio).

    An ASGI channel has no task group of its own: a route hands it to code that may call ``close()``
    from anywhere, and the close must go on without anyone awaiting it. ``function`` must not raise.
    """
    if sniffio.current_async_library() == "trio":
        import trio

        trio.lowlevel.spawn_system_task(function)
        return
    task = asyncio.get_running_loop().create_task(function())
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
