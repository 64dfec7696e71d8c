"""Memory under attack: what one hostile connection can make a server hold, with default options.

The server runs in its own process and is measured by its peak RSS (``VmHWM``, reset through
``/proc/PID/clear_refs`` just before the attack): that counts everything the attack costs, C buffers
(zlib, transports) included, and nothing the attacker itself allocates. A fresh process per test keeps
one attack's freed-but-kept memory from hiding the next one's. Ceilings are generous for a noisy
machine, yet well below what an object per fragment or per ping costs.
"""

from __future__ import annotations

import zlib

import pytest

from conformance.peers.frames import OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, encode_frame

from .attacker import MiB, Peer, ServerProcess, client_frame
from .conftest import backend_params

pytestmark = pytest.mark.timeout(90)

#: A legal 1,000,000-byte message sent as 1,000,000 one-byte frames (7 MB on the wire).
FRAGMENTS = 1_000_000
#: Unanswered pings from a peer that never reads (600 kB on the wire).
PINGS = 100_000


def one_byte_fragments(count: int) -> bytes:
    """A binary message of ``count`` bytes ``x``, one frame per byte, all masked with one seeded key."""
    first = client_frame(OP_BINARY, b"x", fin=False)
    key = first[2:6]
    middle = encode_frame(OP_CONTINUATION, b"x", fin=False, mask=True, mask_key=key)
    last = encode_frame(OP_CONTINUATION, b"x", fin=True, mask=True, mask_key=key)
    return first + middle * (count - 2) + last


def warm_up(server: ServerProcess) -> None:
    """One ordinary connection first, so that lazily imported code is not counted as the attack."""
    with Peer(server.port) as peer:
        peer.handshake()
        peer.send(client_frame(OP_BINARY, b"warm"))
        frame = peer.read_frame()
        assert frame is not None and frame.payload == b"warm"
        peer.send(client_frame(OP_CLOSE, b"\x03\xe8"))
        peer.read_close_code()


@pytest.mark.parametrize(
    "fresh_server",
    backend_params(),
    indirect=True,
)
def test_a_1_mb_message_in_one_byte_frames_costs_less_than_10_mib(fresh_server: ServerProcess) -> None:
    warm_up(fresh_server)
    wire = one_byte_fragments(FRAGMENTS)
    idle = fresh_server.reset_peak()
    with Peer(fresh_server.port, timeout=60) as peer:
        peer.handshake()
        assert peer.send(wire)
        echo = peer.read_frame()  # the server reassembled the whole message
        assert echo is not None and echo.payload == b"x" * FRAGMENTS
        grown = fresh_server.peak() - idle
    print(f"fragment flood on {fresh_server.backend}: +{grown / MiB:.1f} MiB")
    assert grown < 10 * MiB


@pytest.mark.parametrize(
    "fresh_server",
    backend_params(),
    indirect=True,
)
def test_100_000_unanswered_pings_cost_less_than_5_mib(fresh_server: ServerProcess) -> None:
    warm_up(fresh_server)
    wire = encode_frame(OP_PING, b"", mask=True, mask_key=b"\x00\x01\x02\x03") * PINGS
    idle = fresh_server.reset_peak()
    with Peer(fresh_server.port, timeout=10) as peer:
        peer.handshake()
        try:
            peer.sock.sendall(wire)  # never reading: every pong stays on the server's side
        except TimeoutError:
            pass  # the server stopped reading: what it holds is bounded, which is the point
        else:
            assert fresh_server.wait_idle()
        grown = fresh_server.peak() - idle
    print(f"ping flood on {fresh_server.backend}: +{grown / MiB:.1f} MiB")
    assert grown < 5 * MiB


@pytest.mark.parametrize("fresh_server", backend_params(), indirect=True)
def test_a_decompression_bomb_is_closed_with_1009_at_a_few_mib(fresh_server: ServerProcess) -> None:
    warm_up(fresh_server)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = compressor.compress(bytes(64 * MiB)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    idle = fresh_server.reset_peak()
    with Peer(fresh_server.port) as peer:
        head = peer.handshake(deflate=True)
        assert b"permessage-deflate" in head.lower()
        peer.send(client_frame(OP_BINARY, bomb[:-4], rsv1=True))  # 64 KiB inflating to 64 MiB
        assert peer.read_close_code() == 1009
        grown = fresh_server.peak() - idle
    print(f"decompression bomb on {fresh_server.backend}: +{grown / MiB:.1f} MiB")
    assert grown < 8 * MiB
