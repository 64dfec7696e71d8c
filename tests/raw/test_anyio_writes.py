"""The anyio driver's write path: ``write_limit`` as a byte count, coalesced writes, and what a
cancelled ``add()`` does to the wire (never a half frame followed by more bytes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
import pytest

from ws_channel_backends.raw import streams
from ws_channel_backends.raw.engine.frames import Frame, FrameParser, Opcode
from ws_channel_core.errors import ConnectionClosed, WebSocketChannelError
from ws_channel_core.options import ClientOptions

pytestmark = pytest.mark.anyio
TIMEOUT = 10


class GatedStream(anyio.abc.ByteStream):
    """A byte stream whose writes are recorded; a write may be held at a gate or stop half way."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.sends = 0
        self.gate: anyio.Event | None = None
        self.entered = anyio.Event()
        self.stall_after_half = False
        self._closed = anyio.Event()

    async def receive(self, max_bytes: int = 65536) -> bytes:
        await self._closed.wait()
        raise anyio.EndOfStream

    async def send(self, item: bytes) -> None:
        self.sends += 1
        self.entered.set()
        if self.stall_after_half:
            self.written += item[: len(item) // 2]
            await anyio.sleep_forever()
        if self.gate is not None:
            await self.gate.wait()
        self.written += item

    async def send_eof(self) -> None:
        self._closed.set()

    async def aclose(self) -> None:
        self._closed.set()

    @property
    def extra_attributes(self) -> dict[Any, Callable[[], Any]]:
        return {}


def options(**kwargs: Any) -> ClientOptions:
    return ClientOptions(ping_interval=None, compression=None, close_timeout=0.2, **kwargs)


def frames(data: bytes | bytearray) -> list[Frame]:
    return list(FrameParser(expect_mask=True).feed(data))


async def test_cancelled_partial_write_fails_the_connection() -> None:
    stream = GatedStream()
    stream.stall_after_half = True
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            channel = streams.channel_over_stream(
                stream, server_side=False, options=options(), task_group=tg
            )
            with anyio.move_on_after(0.05) as scope:
                await channel.sink.add(b"x" * 1000)
            assert scope.cancelled_caught
            await channel.done
            assert channel.close_code == 1006
            assert channel.close_received is None and channel.close_sent is None
            assert isinstance(channel.close_error, WebSocketChannelError)
            assert "interrupted while writing a frame" in str(channel.close_error)
            with pytest.raises(ConnectionClosed):
                await channel.sink.add("late")
            await channel.sink.close()  # never raises, never hangs
    # Nothing followed the half frame: the peer sees a truncated stream, then the end.
    assert stream.sends == 1
    assert 0 < len(stream.written) < 1000


async def test_write_limit_is_a_byte_count() -> None:
    stream = GatedStream()
    stream.gate = anyio.Event()
    message = b"m" * 100  # with the index byte, header and mask key: 107 bytes on the wire
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            channel = streams.channel_over_stream(
                stream, server_side=False, options=options(write_limit=1000), task_group=tg
            )
            returned: list[int] = []
            all_returned = anyio.Event()

            async def add(i: int) -> None:
                await channel.sink.add(message + bytes([i]))
                returned.append(i)
                if len(returned) == 11:
                    all_returned.set()

            tg.start_soon(add, 0)  # becomes the writer and stays blocked at the gate
            await stream.entered.wait()
            # Queued behind the writer: room for 1000 // 107 = 9 more frames without waiting.
            for i in range(1, 10):
                with anyio.fail_after(1):
                    await add(i)
            assert returned == list(range(1, 10))
            blocked = anyio.Event()

            async def add_over_the_limit() -> None:
                blocked.set()
                await add(10)

            tg.start_soon(add_over_the_limit)
            await blocked.wait()
            await anyio.wait_all_tasks_blocked()
            assert 10 not in returned and 0 not in returned
            stream.gate.set()
            with anyio.fail_after(1):
                await all_returned.wait()
            await channel.sink.close(1000)
    received = frames(stream.written)
    assert [f.payload for f in received[:11]] == [message + bytes([i]) for i in range(11)]
    assert received[11].opcode == Opcode.CLOSE
    # The first frame went alone; the ten queued behind it were coalesced into few writes.
    assert stream.sends <= 4


async def test_cancelled_waiting_add_still_sends_its_whole_frame() -> None:
    stream = GatedStream()
    stream.gate = anyio.Event()
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            channel = streams.channel_over_stream(
                stream, server_side=False, options=options(write_limit=10), task_group=tg
            )
            tg.start_soon(channel.sink.add, b"first")
            await stream.entered.wait()
            with anyio.move_on_after(0.05) as scope:
                await channel.sink.add(b"second" * 10)  # over write_limit: waits for the writer
            assert scope.cancelled_caught
            stream.gate.set()
            await channel.sink.add(b"third")
            await channel.sink.close(1000)
            assert channel.close_error is None
    payloads = [f.payload for f in frames(stream.written) if f.opcode == Opcode.BINARY]
    assert payloads == [b"first", b"second" * 10, b"third"]
