"""Tools of the attacker: a server process to aim at, its memory and descriptors, raw-socket peers.

Nothing here uses a backend: frames come from ``conformance.peers.frames`` (written from the RFC), the
handshake is written by hand, and sockets are plain blocking ``socket`` objects with timeouts.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from conformance.peers.frames import OP_CLOSE, Frame, encode_frame

__all__ = [
    "MiB",
    "ServerProcess",
    "Peer",
    "client_frame",
    "wait_until",
]

MiB = 2**20
ROOT = Path(__file__).resolve().parents[2]
#: A seeded source for mask keys and handshake keys: every run sends the same bytes.
_KEYS = __import__("random").Random(14)


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; return whether it held."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def client_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv1: bool = False) -> bytes:
    """A masked frame, as a client sends it, with a key from the seeded source."""
    key = _KEYS.randbytes(4)
    return encode_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=True, mask_key=key)


class ServerProcess:
    """``serve(echo, "127.0.0.1", 0, backend=name, **options)`` in a child process."""

    def __init__(self, backend: str, **options: float) -> None:
        self.backend = backend
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.hostile.server_main", backend, json.dumps(options)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.strip():
            self.stop()
            raise RuntimeError(f"the {backend} server did not start")
        self.port = int(line)
        self.pid = self.process.pid

    def stop(self) -> None:
        """Close its stdin (it leaves ``serve``) and wait for it; kill it if it hangs."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    # -- what the attack costs the server ------------------------------------------------------

    def _status(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise LookupError(field)

    def reset_peak(self) -> int:
        """Start a new peak-RSS measurement (``clear_refs`` 5); return the current RSS in bytes."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        return self._status("VmRSS")

    def peak(self) -> int:
        """The highest RSS in bytes since :meth:`reset_peak`."""
        return self._status("VmHWM")

    def descriptors(self) -> int:
        """How many file descriptors the server holds open."""
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def unread_bytes(self) -> int:
        """Bytes the server's sockets have received but the server has not read yet (all its sockets)."""
        inodes = set()
        for name in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                target = os.readlink(f"/proc/{self.pid}/fd/{name}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        total = 0
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                total += int(fields[4].split(":")[1], 16)
        return total

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until the server has read everything sent to it, for a few polls in a row."""
        quiet = 0

        def settled() -> bool:
            nonlocal quiet
            quiet = quiet + 1 if self.unread_bytes() == 0 else 0
            return quiet >= 5

        return wait_until(settled, timeout, 0.05)


class Peer:
    """One raw TCP connection to the server, speaking WebSocket by hand."""

    def __init__(self, port: int, *, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def handshake(self, *, deflate: bool = False) -> bytes:
        """Send an upgrade request and read the response head; return it."""
        key = base64.b64encode(_KEYS.randbytes(16)).decode()
        extra = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else ""
        self.sock.sendall(
            (
                "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
            ).encode()
        )
        head = self.read_head()
        assert head.startswith(b"HTTP/1.1 101"), head
        return head

    def read_head(self, limit: int = 65536) -> bytes:
        """Read an HTTP response head (up to the blank line); ``b""`` if the server closed first."""
        while b"\r\n\r\n" not in self.buffer:
            data = self.recv()
            if not data:
                return b""
            self.buffer += data
            assert len(self.buffer) < limit
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return head

    def recv(self) -> bytes:
        """One read; ``b""`` at EOF (a reset counts as EOF here)."""
        try:
            return self.sock.recv(65536)
        except ConnectionResetError:
            return b""

    def send(self, data: bytes) -> bool:
        """Send everything; ``False`` if the server closed or reset the connection meanwhile."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return False
        return True

    def _take(self, size: int) -> bytes | None:
        while len(self.buffer) < size:
            data = self.recv()
            if not data:
                return None
            self.buffer += data
        chunk, self.buffer = self.buffer[:size], self.buffer[size:]
        return chunk

    def read_frame(self) -> Frame | None:
        """The next (unmasked, server) frame, or ``None`` at EOF."""
        head = self._take(2)
        if head is None:
            return None
        length = head[1] & 0x7F
        if length == 126:
            ext = self._take(2)
            if ext is None:
                return None
            (length,) = struct.unpack("!H", ext)
        elif length == 127:
            ext = self._take(8)
            if ext is None:
                return None
            (length,) = struct.unpack("!Q", ext)
        payload = self._take(length)
        if payload is None:
            return None
        return Frame(head[0] & 0x0F, payload, fin=bool(head[0] & 0x80), rsv1=bool(head[0] & 0x40))

    def read_close_code(self) -> int | None:
        """Read frames until the server's close frame; its code (1005 if none), ``None`` at EOF first."""
        while True:
            frame = self.read_frame()
            if frame is None:
                return None
            if frame.opcode == OP_CLOSE:
                return int.from_bytes(frame.payload[:2], "big") if frame.payload else 1005

    def closed_by_server(self) -> bool:
        """Read and discard until the server ends the connection; ``False`` on our socket timeout."""
        try:
            while self.sock.recv(65536):
                pass
        except ConnectionResetError:
            pass
        except TimeoutError:
            return False
        return True

    def reset(self) -> None:
        """Abort the connection with a TCP reset (SO_LINGER 0)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
