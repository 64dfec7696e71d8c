"""The engine's memory bounds against a hostile peer: fragment floods, ping floods, inflation bombs.

Pure byte vectors in, events and bytes out; memory is measured with ``tracemalloc`` around the engine.
"""

from __future__ import annotations

import tracemalloc
import zlib

from ws_channel_backends.raw.engine import Engine
from ws_channel_backends.raw.engine.deflate import DeflateParameters, PerMessageDeflate
from ws_channel_backends.raw.engine.engine import PENDING_PONGS
from ws_channel_backends.raw.engine.events import BinaryMessage, Ping, Pong, ProtocolFailure, TextMessage
from ws_channel_backends.raw.engine.frames import Frame, FrameParser, Opcode, serialize_frame

KEY = b"\x01\x02\x03\x04"
MiB = 2**20


def client_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv1: bool = False) -> bytes:
    return serialize_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=True, mask_key=KEY)


def one_byte_fragments(opcode: int, payload: bytes) -> bytes:
    """``payload`` as one frame per byte: the first with ``opcode``, then continuations."""
    last = len(payload) - 1
    return b"".join(
        client_frame(opcode if i == 0 else Opcode.CONTINUATION, payload[i : i + 1], fin=i == last)
        for i in range(len(payload))
    )


def feed_in_reads(conn: Engine, wire: bytes, read: int = 65536) -> None:
    """Feed ``wire`` as a driver would: one socket read at a time, taking output after each."""
    for start in range(0, len(wire), read):
        conn.receive_data(wire[start : start + read])
        conn.data_to_send()


def peak_while(action: object) -> int:
    """Peak bytes allocated by Python while ``action()`` runs."""
    tracemalloc.start()
    try:
        action()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class TestFragmentedMessagesCostTheirSizeNotTheirFrameCount:
    def test_a_message_in_one_byte_frames_is_reassembled(self) -> None:
        server = Engine(server_side=True)
        server.receive_data(one_byte_fragments(Opcode.BINARY, b"abcdef"))
        server.receive_data(one_byte_fragments(Opcode.TEXT, "héllo".encode()))
        assert server.events_received() == [BinaryMessage(b"abcdef"), TextMessage("héllo")]

    def test_20_000_one_byte_binary_frames_cost_about_the_message_size(self) -> None:
        payload = bytes(range(256)) * 78 + b"x" * 32  # 20,000 bytes
        wire = one_byte_fragments(Opcode.BINARY, payload)
        server = Engine(server_side=True)
        peak = peak_while(lambda: feed_in_reads(server, wire))
        assert server.events_received() == [BinaryMessage(payload)]
        # An object per fragment would cost over 40 bytes each (800 kB); the buffer costs ~2x the size,
        # plus the 64 KiB read.
        assert peak < 4 * len(payload) + 192 * 1024, peak

    def test_20_000_one_byte_text_frames_cost_about_the_message_size(self) -> None:
        payload = ("aé€" * 4_000).encode()  # 24,000 bytes, multi-byte characters split across frames
        wire = one_byte_fragments(Opcode.TEXT, payload)
        server = Engine(server_side=True)
        peak = peak_while(lambda: feed_in_reads(server, wire))
        assert server.events_received() == [TextMessage(payload.decode())]
        assert peak < 8 * len(payload) + 192 * 1024, peak

    def test_invalid_utf8_still_fails_at_the_first_bad_fragment(self) -> None:
        server = Engine(server_side=True)
        server.receive_data(client_frame(Opcode.TEXT, b"ok", fin=False) + client_frame(0, b"\xff", fin=False))
        events = server.events_received()
        assert len(events) == 1 and isinstance(events[0], ProtocolFailure)
        assert events[0].error.close_code == 1007

    def test_the_limit_counts_fragments_together(self) -> None:
        server = Engine(server_side=True, max_size=4)
        server.receive_data(one_byte_fragments(Opcode.BINARY, b"abcde"))
        events = server.events_received()
        assert len(events) == 1 and isinstance(events[0], ProtocolFailure)
        assert events[0].error.close_code == 1009


class TestCompressedMessagesAreBoundedAfterInflating:
    def deflating_server(self, max_size: int) -> Engine:
        deflate = PerMessageDeflate(DeflateParameters(), server_side=True)
        return Engine(server_side=True, max_size=max_size, deflate=deflate)

    def test_a_bomb_in_small_fragments_fails_with_1009_after_max_size(self) -> None:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        bomb = compressor.compress(bytes(4 * MiB)) + compressor.flush(zlib.Z_SYNC_FLUSH)
        wire = client_frame(Opcode.BINARY, bomb[:10], fin=False, rsv1=True) + b"".join(
            client_frame(0, bomb[i : i + 10], fin=False) for i in range(10, len(bomb), 10)
        )
        server = self.deflating_server(MiB)
        peak = peak_while(lambda: feed_in_reads(server, wire))
        events = server.events_received()
        assert len(events) == 1 and isinstance(events[0], ProtocolFailure)
        assert events[0].error.close_code == 1009
        assert peak < 3 * MiB, peak


class TestBoundedPendingPongs:
    def test_a_run_of_pings_answers_the_first_few_then_only_the_latest(self) -> None:
        server = Engine(server_side=True)
        server.receive_data(b"".join(client_frame(Opcode.PING, b"%d" % i) for i in range(1000)))
        assert server.events_received() == [Ping(b"999")]
        pongs = list(FrameParser(expect_mask=False).feed(server.data_to_send()))
        expected = [*(b"%d" % i for i in range(PENDING_PONGS)), b"999"]
        assert pongs == [Frame(Opcode.PONG, payload) for payload in expected]
        assert server.bytes_pending == 0

    def test_ten_pings_in_one_read_each_get_their_pong(self) -> None:
        # Autobahn 2.10 / 2.11: peers expect a pong for each of a few pings sent together.
        server = Engine(server_side=True)
        server.receive_data(b"".join(client_frame(Opcode.PING, b"payload-%d" % i) for i in range(10)))
        pongs = list(FrameParser(expect_mask=False).feed(server.data_to_send()))
        assert [pong.payload for pong in pongs] == [b"payload-%d" % i for i in range(10)]

    def test_each_read_answers_its_latest_ping_once(self) -> None:
        server = Engine(server_side=True)
        server.receive_data(client_frame(Opcode.PING, b"a"))
        assert server.data_to_send() == serialize_frame(Opcode.PONG, b"a")
        server.receive_data(client_frame(Opcode.PING, b"b"))
        assert server.data_to_send() == serialize_frame(Opcode.PONG, b"b")
        assert server.data_to_send() == b""

    def test_pings_between_messages_keep_the_messages_and_their_order(self) -> None:
        server = Engine(server_side=True)
        server.receive_data(
            client_frame(Opcode.PING, b"1")
            + client_frame(Opcode.TEXT, b"t")
            + client_frame(Opcode.PING, b"2")
            + client_frame(Opcode.PING, b"3")
            + client_frame(Opcode.PONG, b"q")
        )
        assert server.events_received() == [Ping(b"1"), TextMessage("t"), Ping(b"3"), Pong(b"q")]

    def test_the_pending_pong_goes_out_before_our_close_frame(self) -> None:
        server = Engine(server_side=True)
        server.receive_data(client_frame(Opcode.PING, b"p"))
        server.send_close(1000)
        frames = list(FrameParser(expect_mask=False).feed(server.data_to_send()))
        assert [f.opcode for f in frames] == [Opcode.PONG, Opcode.CLOSE]

    def test_no_pong_after_our_close_frame(self) -> None:
        server = Engine(server_side=True)
        server.send_close(1000)
        server.data_to_send()
        server.receive_data(client_frame(Opcode.PING, b"p"))
        assert server.data_to_send() == b""

    def test_a_client_pong_is_masked_and_counted_with_its_key(self) -> None:
        client = Engine(server_side=False)
        client.receive_data(serialize_frame(Opcode.PING, b"abc"))
        assert client.bytes_pending == 2 + 4 + 3
        assert len(client.data_to_send()) == 9

    def test_20_000_pings_cost_no_memory_per_ping(self) -> None:
        wire = client_frame(Opcode.PING, b"") * 20_000
        server = Engine(server_side=True)

        def flood() -> None:
            for start in range(0, len(wire), 65536):
                server.receive_data(wire[start : start + 65536])
                server.events_received()  # the driver never takes the pongs: the peer does not read

        peak = peak_while(flood)
        assert server.bytes_pending == (PENDING_PONGS + 1) * 2  # the first few, then only the latest
        assert peak < 192 * 1024, peak  # 20,000 pongs or events would take over 600 kB
