"""What both drivers share: building the engine from options, checking backend extras."""

from __future__ import annotations

from collections.abc import Mapping

from ws_channel_core.options import Options

from .engine import Engine
from .engine.deflate import DeflateParameters, PerMessageDeflate

__all__ = ["KNOWN_EXTRAS", "check_extras", "make_engine", "READ_SIZE", "running_library"]

#: Backend-specific keys accepted in ``options.extra``.
KNOWN_EXTRAS = frozenset({"unix_socket", "max_frame_size"})
#: Bytes read from the transport at a time (below glibc's mmap threshold; see the design notes).
READ_SIZE = 65536


def check_extras(extra: Mapping[str, object]) -> None:
    """Reject ``options.extra`` keys this backend does not know, so none is silently ignored."""
    unknown = set(extra) - KNOWN_EXTRAS
    if unknown:
        raise ValueError(
            f"the raw backend does not understand extra option(s) {sorted(unknown)}; "
            f"known: {sorted(KNOWN_EXTRAS)}"
        )
    path = extra.get("unix_socket")
    if path is not None and not isinstance(path, str):
        raise TypeError("extra['unix_socket'] must be a str path")
    frame = extra.get("max_frame_size")
    if frame is not None and (not isinstance(frame, int) or isinstance(frame, bool) or frame <= 0):
        raise ValueError("extra['max_frame_size'] must be a positive int")


def make_engine(options: Options, *, server_side: bool, deflate: DeflateParameters | None) -> Engine:
    """Build the engine for a connection whose handshake agreed on ``deflate``."""
    max_frame = options.extra.get("max_frame_size")
    return Engine(
        server_side=server_side,
        max_size=options.max_size,
        max_frame_size=max_frame if isinstance(max_frame, int) else None,
        deflate=PerMessageDeflate(deflate, server_side=server_side) if deflate is not None else None,
        defer_failure=True,
    )


def running_library() -> str:
    """Name the running async library ("asyncio" or "trio").

    anyio no longer requires sniffio; trio does, so without sniffio the loop can only be asyncio.
    """
    try:
        import sniffio
    except ImportError:  # pragma: no cover - depends on the environment
        return "asyncio"
    return sniffio.current_async_library()
