"""Hostile opening handshakes: garbage, huge headers and slowloris, against every server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from conformance.peers.frames import OP_TEXT

from .attacker import Peer, ServerProcess, client_frame, wait_until
from .conftest import backend_params

pytestmark = pytest.mark.timeout(60)

#: The handshake timeout of the slowloris server, short so that the test is quick.
CONNECT_TIMEOUT = 1.0
SLOWLORIS = 100


def answered_or_dropped(peer: Peer) -> bool:
    """The server answered with an HTTP error, or closed the connection (never a 101, never silence)."""
    head = peer.read_head()
    return head == b"" or (head.startswith(b"HTTP/1.") and not head.startswith(b"HTTP/1.1 101"))


def still_serves(port: int) -> None:
    """A good client still gets its echo."""
    with Peer(port) as peer:
        peer.handshake()
        peer.send(client_frame(OP_TEXT, b"still here"))
        frame = peer.read_frame()
        assert frame is not None and frame.payload == b"still here"


GARBAGE = {
    "binary noise": bytes(range(256)) * 4 + b"\r\n\r\n",
    "not HTTP": b"HELLO THERE\r\n\r\n",
    "missing key": b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n",
    "header without colon": b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
}


@pytest.mark.parametrize("kind", list(GARBAGE))
@pytest.mark.parametrize("server", backend_params(), indirect=True)
def test_handshake_garbage_is_answered_or_dropped(server: ServerProcess, kind: str) -> None:
    with Peer(server.port) as peer:
        peer.send(GARBAGE[kind])
        assert answered_or_dropped(peer)
    still_serves(server.port)


@pytest.mark.parametrize("size", [64 * 1024, 1024 * 1024])
@pytest.mark.parametrize("server", backend_params(), indirect=True)
def test_huge_headers_are_answered_or_dropped(server: ServerProcess, size: int) -> None:
    with Peer(server.port) as peer:
        peer.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n")
        assert answered_or_dropped(peer)
    still_serves(server.port)


@pytest.fixture
def slow_server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """A server whose handshake timeout is :data:`CONNECT_TIMEOUT`."""
    server = ServerProcess(request.param, connect_timeout=CONNECT_TIMEOUT)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("slow_server", backend_params(), indirect=True)
def test_slowloris_handshakes_are_dropped_at_the_timeout_while_a_good_client_is_served(
    slow_server: ServerProcess,
) -> None:
    started = time.monotonic()
    slow = [Peer(slow_server.port) for _ in range(SLOWLORIS)]
    try:
        for peer in slow:
            peer.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the end of the head
        good = time.monotonic()
        still_serves(slow_server.port)
        assert time.monotonic() - good < CONNECT_TIMEOUT / 2
        for peer in slow:
            assert peer.closed_by_server()
        elapsed = time.monotonic() - started
        assert CONNECT_TIMEOUT * 0.9 < elapsed < CONNECT_TIMEOUT + 3
    finally:
        for peer in slow:
            peer.sock.close()
    assert wait_until(lambda: slow_server.descriptors() < SLOWLORIS, 5)
