"""Masking: the C routine (when websockets is installed) and the pure-Python passes agree exactly."""

from __future__ import annotations

import random

import pytest

from ws_channel_backends.raw.engine import mask

SIZES = [0, 1, 3, 4, 5, 63, 64, 65, 1023, 1024, 1025, 70_000]


def reference(data: bytes, key: bytes, offset: int) -> bytes:
    """RFC 6455 5.3 literally: octet i is XORed with key[i mod 4] (i counted from the payload start)."""
    return bytes(b ^ key[(i + offset) % 4] for i, b in enumerate(data))


@pytest.fixture(params=["c", "pure"])
def implementation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "pure":
        monkeypatch.setattr(mask, "_c_apply_mask", None)
    elif mask._c_apply_mask is None:
        pytest.fail("websockets' C apply_mask should be importable in the test environment")
    return str(request.param)


@pytest.mark.parametrize("offset", [0, 1, 2, 3, 6])
@pytest.mark.parametrize("size", SIZES)
def test_apply_mask_matches_the_rfc_definition(implementation: str, size: int, offset: int) -> None:
    rng = random.Random(size * 10 + offset)
    data = rng.randbytes(size)
    key = rng.randbytes(4)
    assert mask.apply_mask(data, key, offset) == reference(data, key, offset)


@pytest.mark.parametrize("offset", [0, 1, 2, 3])
@pytest.mark.parametrize("size", SIZES)
def test_mask_in_place_masks_only_past_start(implementation: str, size: int, offset: int) -> None:
    rng = random.Random(size * 7 + offset)
    data = rng.randbytes(size)
    key = rng.randbytes(4)
    buffer = bytearray(b"head" + data)
    mask.mask_in_place(buffer, 4, key, offset)
    assert bytes(buffer) == b"head" + reference(data, key, offset)


def test_masking_twice_gives_the_payload_back(implementation: str) -> None:
    data = random.Random(1).randbytes(2**20)
    assert mask.apply_mask(mask.apply_mask(data, b"\x01\x02\x03\x04"), b"\x01\x02\x03\x04") == data


@pytest.mark.parametrize("routine", ["mask_whole", "_mask_whole"])
@pytest.mark.parametrize("size", [64, 125, 126, 1024, 65_535, 70_000])
def test_mask_whole_takes_views_of_a_frame(routine: str, size: int) -> None:
    """The engine's per-message routine (the C one when installed, else the pure-Python fallback)
    unmasks a payload with a key that are both slices of the frame, with no copy made first."""
    rng = random.Random(size)
    frame = memoryview(rng.randbytes(size + 6))
    key, data = frame[2:6], frame[6:]
    assert getattr(mask, routine)(data, key) == reference(bytes(data), bytes(key), 0)


def test_mask_whole_is_the_c_routine_itself_when_installed() -> None:
    if mask._c_apply_mask is None:
        pytest.fail("websockets' C apply_mask should be importable in the test environment")
    assert mask.mask_whole is mask._c_apply_mask
