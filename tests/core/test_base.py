"""ChannelBase: the shared policies, checked on a minimal in-memory subclass."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ws_channel_core import (
    ChannelBase,
    ConnectionClosedError,
    ConnectionClosedOK,
    Message,
    WebSocketChannel,
    WebSocketSink,
)
from ws_channel_core.base import run_handler
from ws_channel_core.errors import CloseFrame

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class FakeChannel(ChannelBase):
    """Messages come from a memory stream; close answers itself like a polite peer."""

    made: ClassVar[list[FakeChannel]] = []

    def __init__(self, close_timeout: float | None = None) -> None:
        super().__init__(protocol="chat", close_timeout=close_timeout)
        FakeChannel.made.append(self)
        self.feed: MemoryObjectSendStream[Message]
        self._incoming: MemoryObjectReceiveStream[Message]
        self.feed, self._incoming = anyio.create_memory_object_stream[Message](10)
        self.sent: list[Message] = []
        self.close_calls = 0
        self.aborted = False
        self.peer_answers_close = True

    async def _receive_message(self) -> Message | None:
        try:
            return await self._incoming.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return None

    async def _send_message(self, message: Message) -> None:
        self.sent.append(message)

    def _send_message_nowait(self, message: Message) -> bool:
        self.sent.append(message)
        return True

    def _buffered_amount(self) -> int:
        return 0

    async def _ping(self, payload: bytes) -> float:
        pending = self._track_ping(payload)
        self._acknowledge_pong(payload)  # a peer that answers at once
        return await self._await_pong(pending)

    def _start_close(self, code: int | None, reason: str) -> None:
        self.close_calls += 1
        frame = CloseFrame(1005 if code is None else code, reason)
        self._note_close_sent(frame)
        if self.peer_answers_close:
            self._note_close_received(frame)
            self._end()

    def _abort_connection(self) -> None:
        self.aborted = True
        self._end()

    def _end(self) -> None:
        self.feed.close()
        self._record_close()

    def dispose(self) -> None:
        self._incoming.close()
        self.feed.close()

    def peer_closes(self, code: int, reason: str) -> None:
        self._note_close_received(CloseFrame(code, reason))
        self._end()


@pytest.fixture(autouse=True)
def dispose_channels() -> Iterator[None]:
    yield
    while FakeChannel.made:
        FakeChannel.made.pop().dispose()


async def test_it_satisfies_the_interface_protocols() -> None:
    channel = FakeChannel()
    assert isinstance(channel, WebSocketChannel)
    assert isinstance(channel.sink, WebSocketSink)
    assert channel.protocol == "chat"
    await channel.ready
    await channel.ready


async def test_text_stays_str_and_bytes_like_becomes_bytes() -> None:
    channel = FakeChannel()
    await channel.sink.add("hi")
    await channel.sink.add(bytearray(b"\x01"))
    await channel.sink.add(memoryview(b"\x02"))
    assert channel.sent == ["hi", b"\x01", b"\x02"]
    assert [type(m) for m in channel.sent] == [str, bytes, bytes]


async def test_add_rejects_other_types_with_type_error() -> None:
    channel = FakeChannel()
    with pytest.raises(TypeError, match="int"):
        await channel.sink.add(5)  # type: ignore[arg-type]


async def test_add_stream_sends_everything_in_order() -> None:
    channel = FakeChannel()

    async def messages() -> object:
        for item in ("a", b"b", "c"):
            yield item

    await channel.sink.add_stream(messages())  # type: ignore[arg-type]
    assert channel.sent == ["a", b"b", "c"]


async def test_close_checks_its_arguments_at_call_time_before_sending() -> None:
    channel = FakeChannel()
    with pytest.raises(ValueError):
        channel.sink.close(1004)
    with pytest.raises(ValueError):
        channel.sink.close(3000, "x" * 124)
    assert channel.close_calls == 0
    assert channel.close_code is None


async def test_close_is_idempotent_and_reports_the_code_both_ways() -> None:
    channel = FakeChannel()
    await channel.sink.close(3678, "raisin")
    await channel.sink.close(1000, "ignored")
    assert channel.close_calls == 1
    assert (channel.close_code, channel.close_reason) == (3678, "raisin")
    assert channel.close_sent == CloseFrame(3678, "raisin")
    assert channel.close_received_first is False
    await channel.sink.done
    await channel.sink.done


async def test_close_without_a_code_reports_1005() -> None:
    channel = FakeChannel()
    await channel.sink.close()
    assert channel.close_code == 1005
    assert channel.close_reason == ""


async def test_add_after_a_local_close_raises_connection_closed() -> None:
    channel = FakeChannel()
    await channel.sink.close(1000)
    with pytest.raises(ConnectionClosedOK):
        await channel.sink.add("late")
    assert channel.sent == []


async def test_add_after_the_peer_closed_raises_connection_closed() -> None:
    channel = FakeChannel()
    channel.peer_closes(4123, "server closed the connection")
    with pytest.raises(ConnectionClosedError) as info:
        await channel.sink.add(b"late")
    assert info.value.code == 4123
    assert (channel.close_code, channel.close_reason) == (4123, "server closed the connection")


async def test_the_stream_yields_messages_then_ends_without_raising() -> None:
    channel = FakeChannel()
    await channel.feed.send("one")
    await channel.feed.send(b"two")
    channel.peer_closes(1000, "")
    received = [message async for message in channel.stream]
    assert received == ["one", b"two"]
    assert [message async for message in channel.stream] == []


async def test_the_stream_has_one_consumer_at_a_time() -> None:
    channel = FakeChannel()
    async with anyio.create_task_group() as tg:
        tg.start_soon(channel.stream.__anext__)
        await anyio.wait_all_tasks_blocked()
        with pytest.raises(RuntimeError, match="another task"):
            await channel.stream.__anext__()
        await channel.feed.send("unblock")


async def test_cancelling_the_consumer_does_not_close_the_channel() -> None:
    channel = FakeChannel()
    with anyio.move_on_after(0.01):
        await channel.stream.__anext__()
    assert channel.close_code is None
    await channel.sink.add("still open")
    await channel.feed.send("next")
    assert await channel.stream.__anext__() == "next"


async def test_a_close_the_peer_never_answers_is_aborted_past_close_timeout() -> None:
    # A backend bounds the closing handshake by close_timeout itself; the base class aborts on its
    # behalf a moment later (a grace of one second) if it did not.
    channel = FakeChannel(close_timeout=0.01)
    channel.peer_answers_close = False
    with anyio.fail_after(5):
        await channel.sink.close(1000)
    assert channel.aborted
    assert channel.close_code == 1006
    assert channel.close_reason == ""
    await channel.sink.done


async def test_close_code_is_none_while_open() -> None:
    channel = FakeChannel()
    assert channel.close_code is None and channel.close_reason is None
    assert channel.close_error is None and channel.close_received_first is None


async def test_a_handler_stopped_by_the_peers_close_is_not_logged_as_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel = FakeChannel()

    async def handler(ch: WebSocketChannel) -> None:
        channel.peer_closes(1001, "")
        await ch.sink.add("too late")

    await run_handler(handler, channel)
    assert not [record for record in caplog.records if record.levelname == "ERROR"]
    assert channel.close_code == 1001
    assert channel.close_calls == 0


async def test_a_failing_handler_is_logged_and_closes_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    channel = FakeChannel()

    async def handler(ch: WebSocketChannel) -> None:
        raise KeyError("bug")

    await run_handler(handler, channel)
    assert "connection handler failed" in caplog.text
    assert channel.close_sent == CloseFrame(1011, "")


async def test_a_returning_handler_closes_with_1000() -> None:
    channel = FakeChannel()

    async def handler(ch: WebSocketChannel) -> None:
        return None

    await run_handler(handler, channel)
    assert channel.close_sent == CloseFrame(1000, "")


async def test_add_nowait_queues_and_raises_connection_closed_once_closing() -> None:
    channel = FakeChannel()
    channel.sink.add_nowait("a")
    assert channel.sent == ["a"] and channel.sink.buffered_amount == 0
    await channel.sink.close(1000)
    with pytest.raises(ConnectionClosedOK):
        channel.sink.add_nowait("b")


async def test_add_fragments_checks_chunks_and_the_default_joins_them() -> None:
    class Closing(FakeChannel):
        def _start_close(self, code: int | None, reason: str) -> None:
            self._note_close_sent(CloseFrame(1005 if code is None else code, reason))
            self._end()

    channel = Closing()
    await channel.sink.add_fragments(["ab", "c"])
    await channel.sink.add_fragments([bytearray(b"\x01"), memoryview(b"\x02")])
    await channel.sink.add_fragments([])
    assert channel.sent == ["abc", b"\x01\x02"]
    with pytest.raises(TypeError, match="iterable of chunks"):
        await channel.sink.add_fragments("abc")
    with pytest.raises(TypeError, match="must be str"):
        await channel.sink.add_fragments(["a", b"b"])
    assert channel.close_sent is not None and channel.close_sent.code == 1011  # a message left half-sent


async def test_receive_fragments_yields_each_message_and_ends() -> None:
    channel = FakeChannel()
    for message in ("one", b"two"):
        await channel.feed.send(message)
    assert [chunk async for chunk in channel.receive_fragments()] == ["one"]
    assert [chunk async for chunk in channel.receive_fragments()] == [b"two"]
    channel.feed.close()
    assert [chunk async for chunk in channel.receive_fragments()] == []
    assert [message async for message in channel.stream] == []


async def test_ping_returns_the_round_trip_and_checks_its_payload() -> None:
    channel = FakeChannel()
    assert channel.latency is None
    latency = await channel.ping(b"abc")
    assert latency >= 0 and channel.latency == latency
    with pytest.raises(ValueError, match="125"):
        await channel.ping(b"x" * 126)
    with pytest.raises(TypeError):
        await channel.ping("text")  # type: ignore[arg-type]


async def test_a_pong_acknowledges_earlier_pings_and_close_wakes_the_rest() -> None:
    channel = FakeChannel()
    first, second = channel._track_ping(b"1"), channel._track_ping(b"2")
    third = channel._track_ping(b"3")
    with pytest.raises(RuntimeError):
        channel._track_ping(b"3")
    assert channel._acknowledge_pong(b"2") and not channel._acknowledge_pong(b"2")
    assert first.latency is not None and second.latency is not None and third.latency is None
    async with anyio.create_task_group() as group:
        group.start_soon(_close_soon, channel)
        with pytest.raises(ConnectionClosedOK):
            await channel._await_pong(third)


async def _close_soon(channel: FakeChannel) -> None:
    await anyio.lowlevel.checkpoint()
    await channel.sink.close(1000)


async def test_broadcast_counts_sent_closed_and_full_channels() -> None:
    from ws_channel_core import broadcast

    class Full(FakeChannel):
        def _send_message_nowait(self, message: Message) -> bool:
            return False

    open_channel, closed_channel, full_channel = FakeChannel(), FakeChannel(), Full()
    await closed_channel.sink.close(1000)
    result = broadcast([open_channel, closed_channel, full_channel], "hello")
    assert (result.sent, result.closed, result.skipped) == (1, 1, (full_channel,))
    assert open_channel.sent == ["hello"]
    with pytest.raises(TypeError):
        broadcast([open_channel], 5)  # type: ignore[arg-type]
