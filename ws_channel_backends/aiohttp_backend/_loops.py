"""aiohttp runs on asyncio only: say so clearly when ``connect()`` or ``serve()`` runs under another loop."""

from __future__ import annotations

__all__ = ["EVENT_LOOPS", "check_event_loop"]

#: The async libraries (anyio backend names) the aiohttp backend runs on.
EVENT_LOOPS: tuple[str, ...] = ("asyncio",)


def check_event_loop() -> None:
    """Raise the core's ``UnsupportedEventLoop`` (a ``LookupError``) unless this is asyncio.

    The front doors check already; this covers the adapter's own entry points (``wrap``...).
    """
    from ws_channel_core import registry

    registry.check_event_loop(registry.get_backend("aiohttp"))
