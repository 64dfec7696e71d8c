"""Frames byte for byte: RFC 6455 section 5.7's examples, then the header rules of section 5.2."""

from __future__ import annotations

import pytest

from ws_channel_backends.raw.engine.frames import (
    Frame,
    FrameParser,
    Opcode,
    new_mask_key,
    parse_close,
    serialize_close,
    serialize_frame,
)
from ws_channel_backends.raw.engine.mask import apply_mask, mask_in_place
from ws_channel_core.errors import CloseFrame, PayloadTooBig, ProtocolError

KEY = bytes([0x37, 0xFA, 0x21, 0x3D])
HELLO = b"Hello"


class TestSection57Examples:
    def test_single_frame_unmasked_text(self) -> None:
        wire = bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
        assert serialize_frame(Opcode.TEXT, HELLO) == wire
        assert list(FrameParser(expect_mask=False).feed(wire)) == [Frame(Opcode.TEXT, HELLO)]

    def test_single_frame_masked_text(self) -> None:
        wire = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
        assert serialize_frame(Opcode.TEXT, HELLO, mask=True, mask_key=KEY) == wire
        assert list(FrameParser(expect_mask=True).feed(wire)) == [Frame(Opcode.TEXT, HELLO)]

    def test_fragmented_unmasked_text(self) -> None:
        first = bytes([0x01, 0x03, 0x48, 0x65, 0x6C])
        second = bytes([0x80, 0x02, 0x6C, 0x6F])
        assert serialize_frame(Opcode.TEXT, b"Hel", fin=False) == first
        assert serialize_frame(Opcode.CONTINUATION, b"lo") == second
        frames = list(FrameParser(expect_mask=False).feed(first + second))
        assert frames == [Frame(Opcode.TEXT, b"Hel", fin=False), Frame(Opcode.CONTINUATION, b"lo")]

    def test_unmasked_ping_and_masked_pong(self) -> None:
        ping = bytes([0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
        pong = bytes([0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
        assert serialize_frame(Opcode.PING, HELLO) == ping
        assert serialize_frame(Opcode.PONG, HELLO, mask=True, mask_key=KEY) == pong
        assert list(FrameParser(expect_mask=True).feed(pong)) == [Frame(Opcode.PONG, HELLO)]

    def test_256_bytes_binary_uses_16_bit_length(self) -> None:
        payload = bytes(range(256))
        wire = serialize_frame(Opcode.BINARY, payload)
        assert wire[:4] == bytes([0x82, 0x7E, 0x01, 0x00])
        assert list(FrameParser(expect_mask=False).feed(wire)) == [Frame(Opcode.BINARY, payload)]

    def test_64_kib_binary_uses_64_bit_length(self) -> None:
        payload = b"\x00" * 65536
        wire = serialize_frame(Opcode.BINARY, payload)
        assert wire[:10] == bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00])
        assert list(FrameParser(expect_mask=False).feed(wire)) == [Frame(Opcode.BINARY, payload)]


class TestMask:
    def test_mask_matches_the_per_byte_definition(self) -> None:
        data = bytes(range(251)) * 5
        expected = bytes(b ^ KEY[i % 4] for i, b in enumerate(data))
        assert apply_mask(data, KEY) == expected

    def test_mask_with_offset_continues_the_key_rotation(self) -> None:
        data = bytes(range(100))
        whole = apply_mask(data, KEY)
        assert apply_mask(data[:7], KEY) + apply_mask(data[7:], KEY, 7) == whole

    def test_empty(self) -> None:
        assert apply_mask(b"", KEY) == b""

    def test_random_keys_differ(self) -> None:
        keys = {serialize_frame(Opcode.TEXT, b"", mask=True)[2:6] for _ in range(20)}
        assert len(keys) > 1


class TestHeaderRules:
    @pytest.mark.parametrize("first", [0x91, 0xA1, 0xC1])
    def test_reserved_bits_are_rejected(self, first: int) -> None:
        with pytest.raises(ProtocolError) as info:
            list(FrameParser(expect_mask=False).feed(bytes([first, 0x00])))
        assert info.value.close_code == 1002

    def test_rsv1_is_allowed_on_data_frames_when_negotiated(self) -> None:
        frames = list(FrameParser(expect_mask=False, allow_rsv1=True).feed(bytes([0xC1, 0x00])))
        assert frames == [Frame(Opcode.TEXT, b"", rsv1=True)]

    @pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
    def test_reserved_opcodes_are_rejected(self, opcode: int) -> None:
        with pytest.raises(ProtocolError):
            list(FrameParser(expect_mask=False).feed(bytes([0x80 | opcode, 0x00])))

    def test_server_rejects_unmasked_client_frame(self) -> None:
        with pytest.raises(ProtocolError, match="unmasked"):
            list(FrameParser(expect_mask=True).feed(serialize_frame(Opcode.TEXT, HELLO)))

    def test_client_rejects_masked_server_frame(self) -> None:
        with pytest.raises(ProtocolError, match="masked"):
            list(FrameParser(expect_mask=False).feed(serialize_frame(Opcode.TEXT, HELLO, mask=True)))

    def test_control_frame_over_125_bytes(self) -> None:
        with pytest.raises(ProtocolError, match="125"):
            list(FrameParser(expect_mask=False).feed(serialize_frame(Opcode.PING, b"x" * 126)))

    def test_fragmented_control_frame(self) -> None:
        with pytest.raises(ProtocolError, match="fragmented"):
            list(FrameParser(expect_mask=False).feed(serialize_frame(Opcode.PING, b"", fin=False)))

    def test_64_bit_length_with_high_bit(self) -> None:
        with pytest.raises(ProtocolError):
            list(FrameParser(expect_mask=False).feed(bytes([0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0])))

    def test_max_frame_size(self) -> None:
        parser = FrameParser(expect_mask=False, max_frame_size=10)
        with pytest.raises(PayloadTooBig) as info:
            list(parser.feed(serialize_frame(Opcode.BINARY, b"x" * 11)))
        assert info.value.close_code == 1009

    def test_frames_split_at_every_byte(self) -> None:
        wire = serialize_frame(Opcode.BINARY, b"x" * 300, mask=True) + serialize_frame(
            Opcode.PING, b"p", mask=True
        )
        parser = FrameParser(expect_mask=True)
        frames = [frame for i in range(len(wire)) for frame in parser.feed(wire[i : i + 1])]
        assert frames == [Frame(Opcode.BINARY, b"x" * 300), Frame(Opcode.PING, b"p")]


class TestClosePayload:
    def test_round_trip(self) -> None:
        assert parse_close(serialize_close(3000, "bye")) == CloseFrame(3000, "bye")

    def test_empty_means_1005(self) -> None:
        assert serialize_close(None) == b""
        assert parse_close(b"") == CloseFrame(1005, "")

    def test_one_byte_payload(self) -> None:
        with pytest.raises(ProtocolError):
            parse_close(b"\x03")

    @pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
    def test_invalid_codes(self, code: int) -> None:
        with pytest.raises(ProtocolError) as info:
            parse_close(code.to_bytes(2, "big"))
        assert info.value.close_code == 1002

    def test_invalid_utf8_reason(self) -> None:
        with pytest.raises(ProtocolError) as info:
            parse_close(b"\x03\xe8\xff")
        assert info.value.close_code == 1007


def test_mask_keys_are_fresh_random_bytes() -> None:
    keys = [new_mask_key() for _ in range(3000)]  # spans several refills of the key pool
    assert all(len(key) == 4 for key in keys)
    assert len(set(keys)) > 2990  # 4-byte random keys: a few collisions at most by chance


@pytest.mark.parametrize("size", [1, 3, 4, 5, 127, 511, 512, 513, 1024, 4099, 70_001])
@pytest.mark.parametrize("offset", [0, 1, 2, 3, 6])
def test_apply_mask_matches_the_byte_by_byte_definition(size: int, offset: int) -> None:
    data = bytes((i * 7 + 3) & 0xFF for i in range(size))  # both masking methods' size ranges
    key = bytes([0x00, 0xFF, 0x5A, 0xA5])
    expected = bytes(b ^ key[(i + offset) % 4] for i, b in enumerate(data))
    assert apply_mask(data, key, offset) == expected
    assert apply_mask(memoryview(bytearray(data)), key, offset) == expected


@pytest.mark.parametrize("start", [0, 1, 6, 10])
@pytest.mark.parametrize("offset", [0, 3, 5])
def test_mask_in_place_matches_apply_mask(start: int, offset: int) -> None:
    payload = bytes(range(256)) * 9
    buf = bytearray(b"h" * start + payload)
    mask_in_place(buf, start, KEY, offset)
    assert buf == b"h" * start + apply_mask(payload, KEY, offset)


def test_large_masked_frames_round_trip() -> None:
    payload = bytes(range(256)) * 4099  # above the size where frames are masked in place
    wire = serialize_frame(Opcode.BINARY, payload, mask=True, mask_key=KEY)
    assert wire[10:14] == KEY and wire[14:] == apply_mask(payload, KEY)
    assert list(FrameParser(expect_mask=True).feed(wire)) == [Frame(Opcode.BINARY, payload)]
