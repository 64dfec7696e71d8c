"""The engine: messages, fragmentation, limits, UTF-8, deflate and the closing handshake."""

from __future__ import annotations

import zlib

import pytest

from ws_channel_backends.raw.engine import Engine, State
from ws_channel_backends.raw.engine.deflate import DeflateParameters, PerMessageDeflate
from ws_channel_backends.raw.engine.events import (
    BinaryMessage,
    CloseReceived,
    Ping,
    Pong,
    ProtocolFailure,
    TextMessage,
)
from ws_channel_backends.raw.engine.frames import Frame, FrameParser, Opcode, serialize_close, serialize_frame
from ws_channel_core.errors import CloseFrame, ConnectionClosed


def client_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv1: bool = False) -> bytes:
    return serialize_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=True)


def sent_frames(conn: Engine, *, from_server: bool = True) -> list[Frame]:
    return list(FrameParser(expect_mask=not from_server, allow_rsv1=True).feed(conn.data_to_send()))


def failure_code(conn: Engine) -> int:
    events = conn.events_received()
    failures = [e for e in events if isinstance(e, ProtocolFailure)]
    assert len(failures) == 1, events
    frames = sent_frames(conn)
    assert frames[-1].opcode == Opcode.CLOSE
    code = int.from_bytes(frames[-1].payload[:2], "big")
    assert code == failures[0].error.close_code
    assert conn.should_close_transport
    return code


class TestMessages:
    def test_text_and_binary(self) -> None:
        server = Engine(server_side=True)
        server.receive_data(
            client_frame(Opcode.TEXT, "héllo".encode()) + client_frame(Opcode.BINARY, b"\x00\x01")
        )
        assert server.events_received() == [TextMessage("héllo"), BinaryMessage(b"\x00\x01")]

    def test_empty_messages(self) -> None:
        server = Engine(server_side=True)
        server.receive_data(client_frame(Opcode.TEXT) + client_frame(Opcode.BINARY))
        assert server.events_received() == [TextMessage(""), BinaryMessage(b"")]

    def test_fragmented_with_interleaved_control_frames(self) -> None:
        server = Engine(server_side=True)
        wire = (
            client_frame(Opcode.TEXT, b"Hel", fin=False)
            + client_frame(Opcode.PING, b"p")
            + client_frame(Opcode.CONTINUATION, b"", fin=False)
            + client_frame(Opcode.PONG, b"q")
            + client_frame(Opcode.CONTINUATION, b"lo")
        )
        for i in range(len(wire)):
            server.receive_data(wire[i : i + 1])
        assert server.events_received() == [Ping(b"p"), Pong(b"q"), TextMessage("Hello")]
        assert sent_frames(server) == [Frame(Opcode.PONG, b"p")]

    def test_large_masked_message_fed_in_odd_chunks(self) -> None:
        payload = bytes((i * 31) & 0xFF for i in range(300_001))
        wire = client_frame(Opcode.BINARY, payload[:100_003], fin=False) + client_frame(
            Opcode.CONTINUATION, payload[100_003:]
        )
        server = Engine(server_side=True)
        for i in range(0, len(wire), 7777):  # chunks both below and above the in-place threshold
            server.receive_data(wire[i : i + 7777])
        assert server.events_received() == [BinaryMessage(payload)]

    def test_utf8_split_across_fragments(self) -> None:
        data = "🎨⛳🌈".encode()
        server = Engine(server_side=True)
        server.receive_data(
            client_frame(Opcode.TEXT, data[:3], fin=False) + client_frame(Opcode.CONTINUATION, data[3:])
        )
        assert server.events_received() == [TextMessage("🎨⛳🌈")]

    def test_client_sends_masked_frames_and_reads_unmasked(self) -> None:
        client = Engine(server_side=False)
        client.send_text("hi")
        wire = client.data_to_send()
        assert wire[1] & 0x80
        assert list(FrameParser(expect_mask=True).feed(wire)) == [Frame(Opcode.TEXT, b"hi")]
        client.receive_data(serialize_frame(Opcode.BINARY, b"yo"))
        assert client.events_received() == [BinaryMessage(b"yo")]

    def test_send_fragmented(self) -> None:
        server = Engine(server_side=True)
        server.send_binary(b"ab", fin=False)
        with pytest.raises(RuntimeError):
            server.send_text("no")
        server.send_continuation(b"cd", fin=True)
        assert sent_frames(server) == [
            Frame(Opcode.BINARY, b"ab", fin=False),
            Frame(Opcode.CONTINUATION, b"cd"),
        ]


class TestPeerErrors:
    @pytest.mark.parametrize(
        ("wire", "code"),
        [
            (serialize_frame(Opcode.TEXT, b"x"), 1002),  # unmasked client frame
            (client_frame(Opcode.CONTINUATION, b"x"), 1002),  # nothing to continue
            (client_frame(Opcode.TEXT, b"a", fin=False) + client_frame(Opcode.TEXT, b"b"), 1002),
            (client_frame(Opcode.TEXT, b"\xff"), 1007),
            (client_frame(Opcode.TEXT, b"a", rsv1=True), 1002),  # no extension negotiated
            (client_frame(Opcode.CLOSE, b"\x03"), 1002),
            (client_frame(Opcode.CLOSE, (1004).to_bytes(2, "big")), 1002),
            (client_frame(Opcode.CLOSE, b"\x03\xe8\xc0"), 1007),
            (client_frame(Opcode.BINARY, b"x" * 11), 1009),
        ],
    )
    def test_failure_codes(self, wire: bytes, code: int) -> None:
        server = Engine(server_side=True, max_size=10)
        server.receive_data(wire)
        assert failure_code(server) == code
        assert server.state is State.CLOSED

    def test_invalid_utf8_fails_at_the_first_bad_fragment(self) -> None:
        server = Engine(server_side=True)
        server.receive_data(client_frame(Opcode.TEXT, "κόσμε".encode(), fin=False))
        assert server.events_received() == []
        server.receive_data(client_frame(Opcode.CONTINUATION, b"\xf4\x90\x80\x80", fin=False))
        assert failure_code(server) == 1007

    def test_invalid_utf8_fails_inside_a_partial_frame(self) -> None:
        server = Engine(server_side=True)
        wire = client_frame(Opcode.TEXT, b"abc\xed\xa0\x80" + b"x" * 100)
        server.receive_data(wire[:12])  # header (6 bytes) + "abc" + the surrogate prefix
        assert failure_code(server) == 1007

    def test_max_size_across_fragments(self) -> None:
        server = Engine(server_side=True, max_size=10)
        server.receive_data(client_frame(Opcode.BINARY, b"x" * 6, fin=False))
        server.receive_data(client_frame(Opcode.CONTINUATION, b"x" * 6))
        assert failure_code(server) == 1009

    def test_nothing_is_processed_after_a_failure(self) -> None:
        server = Engine(server_side=True)
        server.receive_data(serialize_frame(Opcode.TEXT, b"x"))
        server.events_received()
        server.receive_data(client_frame(Opcode.TEXT, b"y"))
        assert server.events_received() == []


def deflate_pair(**params: bool | int) -> tuple[Engine, Engine]:
    parameters = DeflateParameters(**params)  # type: ignore[arg-type]
    client = Engine(server_side=False, deflate=PerMessageDeflate(parameters, server_side=False))
    server = Engine(server_side=True, deflate=PerMessageDeflate(parameters, server_side=True))
    return client, server


class TestDeflate:
    @pytest.mark.parametrize(
        "params",
        [
            {},
            {"server_no_context_takeover": True, "client_no_context_takeover": True},
            {"server_max_window_bits": 9, "client_max_window_bits": 10},
            {"client_max_window_bits": 8},
        ],
    )
    def test_round_trip_both_ways(self, params: dict[str, bool | int]) -> None:
        client, server = deflate_pair(**params)
        messages = ["hello " * 100, "hello " * 100, "", "é"]
        for message in messages:
            client.send_text(message)
            server.send_binary(message.encode())
        server.receive_data(client.data_to_send())
        client.receive_data(server.data_to_send())
        assert server.events_received() == [TextMessage(m) for m in messages]
        assert client.events_received() == [BinaryMessage(m.encode()) for m in messages]

    def test_compressed_frames_have_rsv1(self) -> None:
        client, _ = deflate_pair()
        client.send_text("a" * 1000)
        (frame,) = list(FrameParser(expect_mask=True, allow_rsv1=True).feed(client.data_to_send()))
        assert frame.rsv1 and len(frame.payload) < 100

    def test_a_small_bomb_fails_with_1009_without_inflating(self) -> None:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        bomb = compressor.compress(b"\x00" * (50 * 2**20)) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert len(bomb) < 100_000
        _, server = deflate_pair()
        server.max_size = 2**20
        server.receive_data(client_frame(Opcode.BINARY, bomb[:-4], rsv1=True))
        assert failure_code(server) == 1009

    def test_fragmented_compressed_message(self) -> None:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        data = compressor.compress(b"fragmented " * 50) + compressor.flush(zlib.Z_SYNC_FLUSH)
        data = data[:-4]
        _, server = deflate_pair()
        server.receive_data(
            client_frame(Opcode.TEXT, data[:5], fin=False, rsv1=True)
            + client_frame(Opcode.CONTINUATION, data[5:])
        )
        assert server.events_received() == [TextMessage("fragmented " * 50)]

    def test_garbage_deflate_data_fails_with_1007(self) -> None:
        _, server = deflate_pair()
        server.receive_data(client_frame(Opcode.BINARY, b"\xff\xff\xff\xff", rsv1=True))
        assert failure_code(server) == 1007


class TestClosingHandshake:
    def test_server_initiated(self) -> None:
        server = Engine(server_side=True)
        server.send_close(1000, "bye")
        assert server.state is State.CLOSING and server.close_expected()
        assert sent_frames(server) == [Frame(Opcode.CLOSE, serialize_close(1000, "bye"))]
        with pytest.raises(ConnectionClosed):
            server.send_text("late")
        # Data may still arrive before the peer's close frame.
        server.receive_data(
            client_frame(Opcode.TEXT, b"in flight") + client_frame(Opcode.CLOSE, serialize_close(1000))
        )
        assert server.events_received() == [TextMessage("in flight"), CloseReceived(CloseFrame(1000, ""))]
        assert server.data_to_send() == b""
        assert server.state is State.CLOSED
        assert server.should_close_transport

    def test_client_answers_and_waits_for_the_server_to_close_tcp(self) -> None:
        client = Engine(server_side=False)
        client.receive_data(serialize_frame(Opcode.CLOSE, serialize_close(4123, "server closed")))
        assert client.events_received() == [CloseReceived(CloseFrame(4123, "server closed"))]
        (answer,) = list(FrameParser(expect_mask=True).feed(client.data_to_send()))
        assert answer == Frame(Opcode.CLOSE, serialize_close(4123, "server closed"))
        assert client.close_expected() and not client.should_close_transport
        client.receive_eof()
        assert client.should_close_transport

    def test_server_echoes_the_code_and_the_reason(self) -> None:
        server = Engine(server_side=True)
        server.receive_data(client_frame(Opcode.CLOSE, serialize_close(3678, "raisin")))
        assert server.events_received() == [CloseReceived(CloseFrame(3678, "raisin"))]
        assert sent_frames(server) == [Frame(Opcode.CLOSE, serialize_close(3678, "raisin"))]
        assert server.close_sent == CloseFrame(3678, "raisin")

    def test_close_without_code_is_answered_without_code(self) -> None:
        server = Engine(server_side=True)
        server.receive_data(client_frame(Opcode.CLOSE))
        assert server.events_received() == [CloseReceived(CloseFrame(1005, ""))]
        assert sent_frames(server) == [Frame(Opcode.CLOSE, b"")]
        assert server.should_close_transport

    def test_close_mid_message_discards_the_partial_message(self) -> None:
        server = Engine(server_side=True)
        server.receive_data(
            client_frame(Opcode.TEXT, b"part", fin=False) + client_frame(Opcode.CLOSE, serialize_close(1000))
        )
        assert server.events_received() == [CloseReceived(CloseFrame(1000, ""))]

    def test_no_pong_after_our_close(self) -> None:
        server = Engine(server_side=True)
        server.send_close(1000)
        server.data_to_send()
        server.receive_data(client_frame(Opcode.PING, b"x"))
        assert server.data_to_send() == b""

    def test_eof_without_close(self) -> None:
        client = Engine(server_side=False)
        client.receive_eof()
        assert client.close_received is None and client.state is State.CLOSED
        with pytest.raises(ConnectionClosed):
            client.send_text("x")

    def test_fail(self) -> None:
        client = Engine(server_side=False)
        client.fail(1011, "keepalive ping timeout")
        (frame,) = list(FrameParser(expect_mask=True).feed(client.data_to_send()))
        assert frame == Frame(Opcode.CLOSE, serialize_close(1011, "keepalive ping timeout"))
        assert client.should_close_transport


class TestDeferredFailure:
    """``defer_failure``: the close frame of a peer error waits for ``fail_pending``."""

    bad = client_frame(Opcode.TEXT, b"valid") + client_frame(5)  # then a reserved opcode

    def test_messages_before_the_error_are_delivered_and_may_be_answered(self) -> None:
        server = Engine(server_side=True, defer_failure=True)
        server.receive_data(self.bad)
        events = server.events_received()
        assert events[0] == TextMessage("valid") and isinstance(events[1], ProtocolFailure)
        assert server.failure_pending and not server.should_close_transport
        assert server.data_to_send() == b""
        server.receive_data(client_frame(Opcode.TEXT, b"ignored"))  # input stopped at the error
        assert server.events_received() == []
        server.send_text("valid")  # the echo goes out before the close frame
        server.fail_pending()
        assert sent_frames(server) == [
            Frame(Opcode.TEXT, b"valid"),
            Frame(Opcode.CLOSE, serialize_close(1002, "protocol error")),
        ]
        assert server.should_close_transport and not server.failure_pending

    def test_a_local_close_carries_the_error_code(self) -> None:
        server = Engine(server_side=True, defer_failure=True)
        server.receive_data(client_frame(Opcode.TEXT, b"\xff"))
        server.send_close(1000, "bye")
        assert sent_frames(server) == [Frame(Opcode.CLOSE, serialize_close(1007, "invalid UTF-8"))]
        assert server.should_close_transport

    def test_fail_pending_without_a_failure_does_nothing(self) -> None:
        server = Engine(server_side=True, defer_failure=True)
        server.fail_pending()
        assert server.data_to_send() == b"" and not server.should_close_transport
