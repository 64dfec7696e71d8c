"""One spare buffer per thread for large incoming frames, reused instead of allocated per message.

A large message received in several reads is gathered in one buffer of its announced size (see
:meth:`~.engine.Engine.payload_buffer`). A fresh ``bytearray`` of 1 MiB is zero-filled and, above
glibc's mmap threshold, faulted in page by page every time: measured here, about 250 page faults per
1 MiB message, a third of the client's CPU per message on uvloop. Lending the same buffer again avoids
both. The buffer is lent to one engine at a time (an engine is driven by one thread); a buffer larger
than :data:`MAX_SPARE` is never kept, so what stays allocated per thread is bounded.
"""

from __future__ import annotations

import threading

__all__ = ["MAX_SPARE", "MIN_LENT", "borrow", "give_back"]

#: The largest buffer kept for reuse (bytes).
MAX_SPARE = 2**23
#: Frames smaller than this get a buffer of their own (small allocations are cheap).
MIN_LENT = 2**16

_spare = threading.local()


def borrow(size: int) -> bytearray:
    """A buffer of at least ``size`` bytes (its contents are undefined); the caller owns it now."""
    if size >= MIN_LENT:
        buffer: bytearray | None = getattr(_spare, "buffer", None)
        if buffer is not None and len(buffer) >= size:
            _spare.buffer = None
            return buffer
    return bytearray(size)


def give_back(buffer: bytearray) -> None:
    """Offer a buffer the caller no longer uses (nothing may refer to it) for the next large frame."""
    size = len(buffer)
    if MIN_LENT <= size <= MAX_SPARE:
        spare: bytearray | None = getattr(_spare, "buffer", None)
        if spare is None or len(spare) < size:
            _spare.buffer = buffer
