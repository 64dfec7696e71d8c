"""Broken frames, bombs from a peer that keeps sending, and abrupt resets, against every server."""

from __future__ import annotations

import contextlib
import threading
import zlib

import pytest

from conformance.peers.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_TEXT,
    encode_frame,
)

from .attacker import MiB, Peer, ServerProcess, client_frame, wait_until
from .conftest import backend_params

pytestmark = pytest.mark.timeout(60)

#: Each broken frame and the close code RFC 6455 asks for.
INVALID_FRAMES = {
    "unmasked client frame": (encode_frame(OP_TEXT, b"hi"), 1002),
    "reserved opcode 3": (client_frame(3, b"x"), 1002),
    "RSV2 set": (encode_frame(OP_TEXT, b"x", rsv2=True, mask=True, mask_key=b"abcd"), 1002),
    "fragmented ping": (client_frame(OP_PING, b"p", fin=False), 1002),
    "ping payload over 125 bytes": (client_frame(OP_PING, b"p" * 126), 1002),
    "continuation without a message": (client_frame(OP_CONTINUATION, b"x"), 1002),
    "new message inside a fragmented one": (
        client_frame(OP_TEXT, b"a", fin=False) + client_frame(OP_TEXT, b"b"),
        1002,
    ),
    "invalid UTF-8 text": (client_frame(OP_TEXT, b"\xce\xba\xff"), 1007),
    "close with a 1-byte payload": (client_frame(OP_CLOSE, b"\x03"), 1002),
    "close code 999": (client_frame(OP_CLOSE, (999).to_bytes(2, "big")), 1002),
    "message over max_size (1 MiB)": (client_frame(OP_BINARY, bytes(MiB + 1)), 1009),
}


@pytest.mark.parametrize("kind", list(INVALID_FRAMES))
@pytest.mark.parametrize("server", backend_params(), indirect=True)
def test_an_invalid_frame_is_closed_with_the_right_code(server: ServerProcess, kind: str) -> None:
    wire, code = INVALID_FRAMES[kind]
    with Peer(server.port) as peer:
        peer.handshake()
        peer.send(wire)
        assert peer.read_close_code() == code
        assert peer.closed_by_server()


def compressed_bomb() -> bytes:
    """A 64 KiB permessage-deflate payload that inflates to 64 MiB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return (compressor.compress(bytes(64 * MiB)) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


BOMB = compressed_bomb()
#: What the attacker keeps sending after the bomb (masked with one key: cheap to repeat).
FILLER = encode_frame(OP_BINARY, bytes(16384), rsv1=False, mask=True, mask_key=b"\x05\x06\x07\x08")


def bomb_while_sending(port: int) -> tuple[int | None, bool]:
    """Send a bomb and keep sending from another thread until the server's close frame arrives.

    Then behave: stop sending, answer the close frame, read to the end. Returns the close code read
    (``None``: the connection ended first) and whether a TCP reset was seen (on a send or a read).
    """
    with Peer(port) as peer:
        peer.handshake(deflate=True)
        peer.send(client_frame(OP_BINARY, BOMB, rsv1=True))
        stop = threading.Event()
        reset = threading.Event()

        def keep_sending() -> None:
            while not stop.is_set():
                try:
                    peer.sock.sendall(FILLER)
                except OSError:
                    reset.set()  # EPIPE or ECONNRESET: the server closed while our data arrived
                    return

        sender = threading.Thread(target=keep_sending, daemon=True)
        sender.start()
        code = peer.read_close_code()
        stop.set()
        sender.join(10)
        with contextlib.suppress(OSError):
            peer.sock.sendall(client_frame(OP_CLOSE, (code or 1000).to_bytes(2, "big")))
        try:
            while peer.sock.recv(65536):
                pass
        except ConnectionResetError:
            reset.set()
        return code, reset.is_set()


@pytest.mark.parametrize("server", backend_params(), indirect=True)
def test_the_1009_close_frame_reaches_a_peer_that_is_still_sending_20_times(server: ServerProcess) -> None:
    outcomes = [bomb_while_sending(server.port) for _ in range(20)]
    assert outcomes == [(1009, False)] * 20


@pytest.mark.parametrize("server", backend_params(), indirect=True)
def test_500_abrupt_resets_leak_no_file_descriptor(server: ServerProcess) -> None:
    with Peer(server.port) as peer:  # one connection first, so lazily opened descriptors are counted
        peer.handshake()
        assert peer.send(client_frame(OP_CLOSE, b"\x03\xe8")) and peer.closed_by_server()
    before = server.descriptors()
    for i in range(500):
        peer = Peer(server.port)
        if i % 3:
            peer.handshake()
        if i % 3 == 2:
            peer.send(client_frame(OP_BINARY, b"half a message", fin=False))
        peer.reset()
    assert wait_until(lambda: server.descriptors() <= before, 20), (before, server.descriptors())
