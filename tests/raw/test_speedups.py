"""The optional C accelerator (``_speedups.c``) and the pure-Python paths it replaces agree exactly.

The test environment builds it (the README's test command installs with ``WS_CHANNEL_SPEEDUPS=1``);
the rest of the suite runs the engine with it, and ``.ci/run`` runs ``tests/raw`` again with
``WS_CHANNEL_PURE_PYTHON=1``. Here one engine of each kind gets the same bytes, cut the same way, and
everything observable must match: events, bytes to send, state, failure.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ws_channel_backends.raw.engine import Engine
from ws_channel_backends.raw.engine import engine as engine_module
from ws_channel_backends.raw.engine.events import BinaryMessage, Event, ProtocolFailure, TextMessage

ACCELERATED = (engine_module.parse_whole, engine_module.frame_whole)


@pytest.fixture(autouse=True)
def _require_the_accelerator() -> None:
    if None in ACCELERATED:
        pytest.fail(
            "the C accelerator is not built: install with WS_CHANNEL_SPEEDUPS=1 (needs a C compiler), "
            "and without WS_CHANNEL_PURE_PYTHON set"
        )


@contextmanager
def pure_python(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with monkeypatch.context() as patch:
        patch.setattr(engine_module, "parse_whole", None)
        patch.setattr(engine_module, "frame_whole", None)
        yield


def frame(first: int, payload: bytes, *, masked: bool, key: bytes = b"\x37\xfa\x21\x3d", long16: bool = False,
          long64: bool = False) -> bytes:
    """Any frame, rules or not: ``first`` is the whole first byte; lengths may be non-minimal."""
    size = len(payload)
    mask_bit = 0x80 if masked else 0
    if long64 or size >= 2**16:
        head = bytes((first, mask_bit | 127)) + size.to_bytes(8, "big")
    elif long16 or size >= 126:
        head = bytes((first, mask_bit | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((first, mask_bit | size))
    if masked:
        stream = (key * (size // 4 + 1))[:size]
        payload = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(size, "big")
        head += key
    return head + payload


TEXTS = [b"", b"hi", "h\u00e9llo \u2603 \U0001f600".encode(), b"\xed\xa0\x80", b"\xff", b"ok\xc3", b"x" * 125,
         b"y" * 126, "\u00e9".encode() * 300]
SIZES = [0, 1, 4, 7, 8, 9, 125, 126, 127, 1000, 65_535, 65_536, 70_000]


@st.composite
def frame_streams(draw: st.DrawFn, masked: bool) -> list[bytes]:
    """Frames as a peer might send them: mostly whole messages, with controls, fragments, and errors."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    frames = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(
            ["text", "text", "binary", "binary", "ping", "fragments", "wrong-mask", "rsv", "long16", "long64"]
        ))
        if kind == "text":
            frames.append(frame(0x81, draw(st.sampled_from(TEXTS)), masked=masked))
        elif kind == "binary":
            frames.append(frame(0x82, rng.randbytes(draw(st.sampled_from(SIZES))), masked=masked))
        elif kind == "ping":
            frames.append(frame(0x89, rng.randbytes(draw(st.integers(0, 125))), masked=masked))
        elif kind == "fragments":
            frames.append(frame(0x01, b"par", masked=masked))
            frames.append(frame(0x80, b"ts", masked=masked))
        elif kind == "wrong-mask":
            frames.append(frame(0x82, b"wrong mask bit", masked=not masked))
        elif kind == "rsv":
            frames.append(frame(0xC2, b"rsv1 without an extension", masked=masked))
        elif kind == "long16":
            frames.append(frame(0x82, rng.randbytes(draw(st.integers(0, 200))), masked=masked, long16=True))
        else:
            frames.append(frame(0x81, b"64-bit length", masked=masked, long64=True))
    return frames


def same_keys(engine: Engine) -> Engine:
    """The engine, with the masking keys every engine made here gets (so their output compares)."""
    engine._keys, engine._key_pos = bytes(range(256)), 0
    return engine


def describe(event: object) -> object:
    """An event as comparable data (exceptions do not compare equal)."""
    if isinstance(event, ProtocolFailure):
        return ProtocolFailure, type(event.error), event.error.close_code, str(event.error)
    return event


def observe(engine: Engine) -> tuple[object, ...]:
    return (
        [describe(event) for event in engine.events_received()],
        engine.data_to_send(),
        engine.state,
        engine.close_received,
        engine.close_sent,
        None if engine.error is None else (type(engine.error), engine.error.close_code, str(engine.error)),
        engine.should_close_transport,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), server_side=st.booleans(), max_size=st.sampled_from([None, 100, 2**16, 2**20]))
def test_both_parse_any_stream_cut_anywhere_alike(
    data: st.DataObject, server_side: bool, max_size: int | None
) -> None:
    stream = b"".join(data.draw(frame_streams(masked=server_side)))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    accelerated, pure = (same_keys(Engine(server_side=server_side, max_size=max_size)) for _ in range(2))
    with pytest.MonkeyPatch.context() as monkeypatch:
        for chunk in chunks:
            view = memoryview(chunk)  # as the drivers pass their read buffer
            accelerated.receive_data(view)
            seen = observe(accelerated)
            with pure_python(monkeypatch):
                pure.receive_data(view)
                assert observe(pure) == seen


@pytest.mark.parametrize("size", [*SIZES, 2**17, 2**18 - 1, 2**18, 2**20])
@pytest.mark.parametrize("server_side", [False, True])
@pytest.mark.parametrize("text", [False, True])
def test_both_frame_a_message_alike(monkeypatch: pytest.MonkeyPatch, size: int, server_side: bool,
                                    text: bool) -> None:
    message: str | bytes = "\u00e9" * (size // 2) if text else random.Random(size).randbytes(size)
    frames = []
    for accelerated in (True, False):
        engine = same_keys(Engine(server_side=server_side))
        if accelerated:
            engine.send_text(message) if text else engine.send_binary(message)  # type: ignore[arg-type]
        else:
            with pure_python(monkeypatch):
                engine.send_text(message) if text else engine.send_binary(message)  # type: ignore[arg-type]
        frames.append(engine.data_to_send())
    assert frames[0] == frames[1]
    peer = Engine(server_side=not server_side)
    peer.receive_data(frames[0])
    assert peer.events_received() == [TextMessage(message) if text else BinaryMessage(message)]  # type: ignore[arg-type]


def test_parse_whole_leaves_what_it_does_not_take() -> None:
    parse_whole = engine_module.parse_whole
    assert parse_whole is not None
    events: list[Event] = []

    def parse(buf: bytes, limit: int = 2**16) -> int:
        return parse_whole(buf, 0, True, limit, events, TextMessage, BinaryMessage)

    whole = frame(0x81, b"caf\xc3\xa9", masked=True)
    assert parse(whole + frame(0x89, b"p", masked=True) + whole) == len(whole)  # stops at the ping
    assert events == [TextMessage("caf\u00e9")]
    assert parse(whole[:-1]) == 0  # incomplete
    assert parse(frame(0x81, b"\xff", masked=True)) == 0  # not UTF-8: the Python path fails with 1007
    assert parse(frame(0x82, b"12345", masked=True), limit=5) == 0  # at the limit: the Python path
    assert len(events) == 1
    with pytest.raises(ValueError):
        parse_whole(b"", 1, True, 10, events, TextMessage, BinaryMessage)


def test_frame_whole_refuses_bad_arguments() -> None:
    frame_whole = engine_module.frame_whole
    assert frame_whole is not None
    with pytest.raises(ValueError, match="4 bytes"):
        frame_whole(0x82, b"data", b"key")
    with pytest.raises(ValueError, match="a byte"):
        frame_whole(0x182, b"data", None)
    assert frame_whole(0x82, memoryview(b"abc"), None) == b"\x82\x03abc"


@pytest.mark.parametrize("size", [100, 20_000, 70_000, 2**18])
def test_both_frame_fragments_alike(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    chunk = random.Random(size).randbytes(size)
    frames = []
    for accelerated in (True, False):
        engine = same_keys(Engine(server_side=False))
        with monkeypatch.context() as patch:
            if not accelerated:
                patch.setattr(engine_module, "frame_whole", None)
            engine.send_binary(chunk, fin=False)
            engine.send_continuation(chunk, fin=False)
            engine.send_continuation(chunk, fin=True)
        frames.append(engine.data_to_send())
    assert frames[0] == frames[1]
    peer = Engine(server_side=True, max_size=None)
    peer.receive_data(frames[0])
    assert peer.events_received() == [BinaryMessage(chunk * 3)]
