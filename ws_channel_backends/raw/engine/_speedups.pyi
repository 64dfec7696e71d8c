"""Types of the optional C accelerator (``_speedups.c``); the module exists only when it was built."""

from ws_channel_backends.raw.engine.events import BinaryMessage, Event, TextMessage

def parse_whole(
    buf: bytes | bytearray | memoryview,
    pos: int,
    masked: bool,
    limit: int,
    events: list[Event],
    text_event: type[TextMessage],
    binary_event: type[BinaryMessage],
    /,
) -> int: ...
def frame_whole(first: int, data: bytes | bytearray | memoryview, key: bytes | None, /) -> bytes: ...
