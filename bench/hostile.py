"""``python -m bench.hostile``: the heavy hostile-peer attacks, as a report of server memory per backend.

The quick versions run in the test suite (``tests/hostile``); these are too slow for CI: 500,000
unanswered pings, four 1 MB one-byte-fragment floods at once, and thousands of idle connections.
Each attack runs against a fresh server process (``serve(echo, "127.0.0.1", 0, backend=name)`` with
default options) and prints the growth of its peak RSS above idle. Run from the repository root.
"""

from __future__ import annotations

import argparse
import threading

from conformance.peers.frames import OP_BINARY, OP_CONTINUATION, OP_PING, encode_frame
from tests.hostile.attacker import MiB, Peer, ServerProcess, client_frame
from ws_channel_core import available_backends

__all__ = ["main"]

KEY = b"\x01\x02\x03\x04"


def fragments(count: int) -> bytes:
    """A ``count``-byte binary message in one-byte frames."""
    first = encode_frame(OP_BINARY, b"x", fin=False, mask=True, mask_key=KEY)
    middle = encode_frame(OP_CONTINUATION, b"x", fin=False, mask=True, mask_key=KEY)
    last = encode_frame(OP_CONTINUATION, b"x", mask=True, mask_key=KEY)
    return first + middle * (count - 2) + last


def ping_flood(server: ServerProcess, pings: int) -> None:
    """Unanswered pings from a peer that never reads."""
    with Peer(server.port, timeout=30) as peer:
        peer.handshake()
        try:
            peer.sock.sendall(encode_frame(OP_PING, b"", mask=True, mask_key=KEY) * pings)
        except TimeoutError:
            return  # the server stopped reading
        server.wait_idle(60)


def fragment_floods(server: ServerProcess, connections: int) -> None:
    """``connections`` peers each send a 1 MB message in one-byte frames, at once."""
    wire = fragments(1_000_000)

    def attack() -> None:
        with Peer(server.port, timeout=120) as peer:
            peer.handshake()
            peer.send(wire)
            peer.read_frame()

    threads = [threading.Thread(target=attack) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def idle_connections(server: ServerProcess, count: int) -> list[Peer]:
    """``count`` connections that complete the handshake and then say nothing (kept open)."""
    peers = []
    for _ in range(count):
        peer = Peer(server.port)
        peer.handshake()
        peers.append(peer)
    server.wait_idle()
    return peers


def measure(backend: str, name: str, attack: object) -> None:
    """Run ``attack(server)`` on a fresh, warmed server and print its peak RSS growth."""
    server = ServerProcess(backend)
    try:
        with Peer(server.port) as peer:
            peer.handshake()
            peer.send(client_frame(OP_BINARY, b"warm"))
            peer.read_frame()
        idle = server.reset_peak()
        kept = attack(server)  # type: ignore[operator]
        grown = server.peak() - idle
        print(f"{backend:<11} {name:<40} +{grown / MiB:7.1f} MiB", flush=True)
        for peer in kept or ():
            peer.sock.close()
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    """Run every heavy attack against every installed backend (or those named with ``--backend``)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", action="append", help="backend to attack (default: all installed)")
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections (default 10,000)")
    args = parser.parse_args(argv)
    for backend in args.backend or available_backends():
        measure(backend, "500,000 unanswered pings", lambda s: ping_flood(s, 500_000))
        measure(backend, "4 x 1 MB in one-byte frames, at once", lambda s: fragment_floods(s, 4))
        measure(
            backend,
            f"{args.idle:,} idle connections (per conn: /{args.idle})",
            lambda s: idle_connections(s, args.idle),
        )


if __name__ == "__main__":
    main()
