"""Hostile servers against every backend's client: a self-signed certificate, a peer that never closes."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

import ws_channel_core as wc
from conformance.peers.frames import OP_BINARY, encode_frame

from .conftest import backend_params

pytestmark = [pytest.mark.timeout(30), pytest.mark.anyio]

CLOSE_TIMEOUT = 1.0
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@pytest.fixture
def anyio_backend() -> str:
    """The clients run on asyncio, the loop every backend supports."""
    return "asyncio"


@contextlib.contextmanager
def hostile_server(behave: Callable[[socket.socket], None]) -> Iterator[int]:
    """Accept one connection on 127.0.0.1 in a thread and run ``behave`` on it; yield the port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    done = threading.Event()
    accepted: list[socket.socket] = []

    def run() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            accepted.append(conn)
            with conn:
                conn.settimeout(10)
                behave(conn)
                done.wait(10)  # keep the connection open (never closing it) until the test ends

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        listener.close()
        for conn in accepted:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv
        thread.join(10)


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server TLS context with a throwaway self-signed certificate for 127.0.0.1."""
    directory = tmp_path_factory.mktemp("tls")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(Path(cert), Path(key))
    return context


@pytest.mark.parametrize("backend", backend_params(role="client"))
async def test_a_self_signed_certificate_is_refused_by_default(
    backend: str, self_signed: ssl.SSLContext
) -> None:
    def tls_accept(conn: socket.socket) -> None:
        with contextlib.suppress(OSError), self_signed.wrap_socket(conn, server_side=True):
            pass

    with hostile_server(tls_accept) as port, anyio.fail_after(10), pytest.raises(Exception) as caught:
        await wc.connect(f"wss://127.0.0.1:{port}/", backend=backend)
    chain = [caught.value, caught.value.__cause__, caught.value.__context__]
    assert any(isinstance(error, ssl.SSLError) or "certificate" in str(error).lower() for error in chain), (
        chain
    )


def accept_then_oversize(conn: socket.socket) -> None:
    """Complete the handshake, send a 2 MiB message (over the default max_size), then stay silent."""
    head = b""
    while b"\r\n\r\n" not in head:
        data = conn.recv(4096)
        if not data:
            return
        head += data
    key = next(
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + GUID.encode()).digest())
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    with contextlib.suppress(OSError):
        conn.sendall(encode_frame(OP_BINARY, bytes(2 * 2**20)))
        while conn.recv(65536):  # read the client's close frame, never answer it
            pass


@pytest.mark.parametrize(
    "backend",
    backend_params(role="client"),
)
async def test_a_client_that_failed_ends_within_close_timeout_when_the_server_never_answers(
    backend: str,
) -> None:
    with hostile_server(accept_then_oversize) as port:
        channel = await wc.connect(f"ws://127.0.0.1:{port}/", backend=backend, close_timeout=CLOSE_TIMEOUT)
        started = time.monotonic()
        with anyio.move_on_after(CLOSE_TIMEOUT + 3):
            with contextlib.suppress(wc.WebSocketChannelError):
                async for _ in channel.stream:
                    pass
            await channel.sink.done
        elapsed = time.monotonic() - started
        assert channel.close_sent is not None and channel.close_sent.code == 1009
        assert channel.close_code == 1006
        assert elapsed < CLOSE_TIMEOUT + 1, elapsed
