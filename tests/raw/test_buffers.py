"""Large frames are gathered in a buffer lent per thread: reused, never leaking one message into the next."""

from __future__ import annotations

import random

from ws_channel_backends.raw.engine import Engine, buffers
from ws_channel_backends.raw.engine.events import BinaryMessage, TextMessage
from ws_channel_backends.raw.engine.frames import serialize_frame


def _receive_in_reads(engine: Engine, frame: bytes, read: int) -> list[object]:
    """Feed ``frame`` as reads of ``read`` bytes, the payload straight into the lent buffer when offered."""
    pos = 0
    while pos < len(frame):
        view = engine.payload_buffer()
        if view is not None:
            take = min(len(view), read, len(frame) - pos)
            view[:take] = frame[pos : pos + take]
            view.release()
            engine.payload_received(take)
        else:
            take = min(read, len(frame) - pos)
            engine.receive_data(frame[pos : pos + take])
        pos += take
    return list(engine.events_received())


def test_a_returned_buffer_is_lent_again_and_small_or_huge_ones_are_not_kept() -> None:
    big = buffers.borrow(buffers.MIN_LENT * 4)
    buffers.give_back(big)
    assert buffers.borrow(buffers.MIN_LENT) is big  # at least the size asked for
    assert buffers.borrow(buffers.MIN_LENT) is not big  # lent once: the next borrower gets its own
    buffers.give_back(bytearray(buffers.MAX_SPARE + 1))
    assert len(buffers.borrow(buffers.MIN_LENT)) == buffers.MIN_LENT  # the huge one was not kept
    buffers.give_back(bytearray(100))
    assert len(buffers.borrow(100)) == 100


def test_messages_after_a_larger_one_get_exactly_their_own_bytes() -> None:
    rng = random.Random(16)
    engine = Engine(server_side=True, max_size=2**21)
    sizes = [2**20, 300_000, 2**17 + 3, 2**20 + 5, 70_000]
    for size in sizes:
        payload = rng.randbytes(size)
        frame = serialize_frame(2, payload, mask=True)
        assert _receive_in_reads(engine, frame, 2**16) == [BinaryMessage(payload)]
    text = "é" * 40_000  # 80,000 bytes of UTF-8, unmasked as it arrives
    frame = serialize_frame(1, text.encode(), mask=True)
    assert _receive_in_reads(engine, frame, 5_000) == [TextMessage(text)]


def test_a_client_receives_unmasked_large_frames_through_the_lent_buffer() -> None:
    engine = Engine(server_side=False, max_size=2**21)
    first, second = b"\x01" * 2**20, b"\x02" * 100_000
    for payload in (first, second):
        assert _receive_in_reads(engine, serialize_frame(2, payload), 2**18) == [BinaryMessage(payload)]
