"""aiohttp runs on asyncio only: say so clearly when ``connect()`` or ``serve()`` runs under another loop."""

from __future__ import annotations

__all__ = ["EVENT_LOOPS", "check_event_loop"]

#: The async libraries (anyio backend names) the aiohttp backend runs on.
EVENT_LOOPS: tuple[str, ...] = ("asyncio",)


def _running_library() -> str:
    """``"asyncio"`` or ``"trio"`` (sniffio comes with trio; without it the loop can only be asyncio)."""
    try:
        import sniffio
    except ImportError:  # pragma: no cover - depends on the environment
        return "asyncio"
    try:
        return sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return "asyncio"


def check_event_loop() -> None:
    """Raise ``LookupError`` naming the backends that can run here, unless this is asyncio.

    Raises:
        LookupError: the running event loop is not asyncio (aiohttp is asyncio-only).
    """
    library = _running_library()
    if library in EVENT_LOOPS:
        return
    from ws_channel_core.registry import available_backends, get_backend

    able = [
        name
        for name in available_backends()
        if library in getattr(get_backend(name), "event_loops", ("asyncio",))
    ]
    raise LookupError(
        f"the aiohttp backend runs on asyncio only, not {library}; "
        f"backends that run on {library}: {', '.join(able) or 'none installed'}"
    )
