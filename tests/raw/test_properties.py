"""Property tests: what serialization writes, parsing reads back; garbage only ever fails cleanly."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ws_channel_backends.raw.engine import Engine
from ws_channel_backends.raw.engine.events import BinaryMessage, ProtocolFailure, TextMessage
from ws_channel_backends.raw.engine.frames import Frame, FrameParser, Opcode, serialize_frame
from ws_channel_core.errors import ProtocolError

SETTINGS = settings(
    derandomize=True, max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

data_frames = st.tuples(st.sampled_from([Opcode.TEXT, Opcode.BINARY]), st.binary(max_size=70_000))


def split_points(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for point in points:
        pieces.append(data[last:point])
        last = point
    pieces.append(data[last:])
    return pieces


@SETTINGS
@given(
    frames=st.lists(
        st.builds(
            Frame,
            st.sampled_from(list(Opcode)),
            st.binary(max_size=300),
            st.booleans(),
        ),
        max_size=8,
    ),
    masked=st.booleans(),
    cuts=st.lists(st.integers(min_value=0), max_size=10),
)
def test_serialize_then_parse_gives_the_same_frames(
    frames: list[Frame], masked: bool, cuts: list[int]
) -> None:
    frames = [Frame(f.opcode, f.payload[:125], True) if f.opcode.is_control else f for f in frames]
    wire = b"".join(serialize_frame(f.opcode, f.payload, fin=f.fin, mask=masked) for f in frames)
    parser = FrameParser(expect_mask=masked)
    parsed = [frame for piece in split_points(wire, cuts) for frame in parser.feed(piece)]
    assert parsed == frames


@SETTINGS
@given(
    messages=st.lists(st.one_of(st.text(max_size=200), st.binary(max_size=3000)), max_size=6),
    fragment=st.integers(min_value=1, max_value=700),
    cuts=st.lists(st.integers(min_value=0), max_size=10),
)
def test_messages_survive_any_fragmentation_and_chunking(
    messages: list[str | bytes], fragment: int, cuts: list[int]
) -> None:
    client = Engine(server_side=False)
    for message in messages:
        data = message.encode() if isinstance(message, str) else message
        send = client.send_text if isinstance(message, str) else client.send_binary
        pieces = [data[i : i + fragment] for i in range(0, len(data), fragment)] or [b""]
        if len(pieces) == 1:
            send(pieces[0])
            continue
        send(pieces[0], fin=False)
        for i, piece in enumerate(pieces[1:], start=2):
            client.send_continuation(piece, fin=i == len(pieces))
    server = Engine(server_side=True, max_size=None)
    for piece in split_points(client.data_to_send(), cuts):
        server.receive_data(piece)
    expected = [TextMessage(m) if isinstance(m, str) else BinaryMessage(m) for m in messages]
    assert server.events_received() == expected


@SETTINGS
@given(
    garbage=st.binary(max_size=2000),
    server_side=st.booleans(),
    cuts=st.lists(st.integers(min_value=0), max_size=5),
)
def test_arbitrary_bytes_never_raise(garbage: bytes, server_side: bool, cuts: list[int]) -> None:
    conn = Engine(server_side=server_side, max_size=1000)
    for piece in split_points(garbage, cuts):
        conn.receive_data(piece)
    for event in conn.events_received():
        if isinstance(event, ProtocolFailure):
            assert event.error.close_code in (1002, 1007, 1009)


@SETTINGS
@given(garbage=st.binary(max_size=2000), masked=st.booleans())
def test_frame_parser_raises_only_protocol_errors(garbage: bytes, masked: bool) -> None:
    parser = FrameParser(expect_mask=masked, allow_rsv1=True, max_frame_size=1000)
    try:
        frames = list(parser.feed(garbage))
    except ProtocolError as exc:
        assert exc.close_code in (1002, 1009)
    else:
        assert sum(len(f.payload) for f in frames) <= len(garbage)
