"""Every ```python block of README.md runs as printed, so the README cannot drift from the code.

The convention, for whoever adds a block:

- Each block is a complete script: imports, and ``anyio.run(main)`` at the end. It runs on its own
  (``python -c BLOCK`` in a subprocess, in an empty temporary directory) and must exit 0 within
  ``BLOCK_TIMEOUT`` seconds.
- Port ``8765`` is the README's example port. The test replaces every ``8765`` in a block with a free
  port it picked, so blocks never clash with anything else on the machine.
- A block that calls ``serve_forever()`` is a *server*: it is started first and kept running (it must
  listen on port 8765 within ``BLOCK_TIMEOUT`` and still be running at the end), and every following
  block up to the next server is a *client* run against it (on the same substituted port). So put a
  server example before the examples that talk to it.
- Any other block (no server before it) must start whatever it needs itself, for example with
  ``serve(handler, "127.0.0.1", 0)`` inside the script.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
EXAMPLE_PORT = "8765"
BLOCK_TIMEOUT = 30.0
SERVER_MARK = "serve_forever("


@dataclass
class Group:
    """A server block (or none) and the client blocks that run against it."""

    server: tuple[int, str] | None
    clients: list[tuple[int, str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        first = self.server or self.clients[0]
        return f"README line {first[0]}"


def python_blocks(text: str) -> list[tuple[int, str]]:
    """Each ```python block of ``text`` with the line number of its opening fence."""
    blocks = []
    for match in re.finditer(r"^```python\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE):
        blocks.append((text.count("\n", 0, match.start()) + 1, match.group(1)))
    return blocks


def groups(blocks: list[tuple[int, str]]) -> list[Group]:
    """Split the blocks into groups: a server and its clients, or standalone blocks."""
    result: list[Group] = []
    for line, code in blocks:
        if SERVER_MARK in code:
            result.append(Group(server=(line, code)))
        elif result and result[-1].server is not None:
            result[-1].clients.append((line, code))
        else:
            result.append(Group(server=None, clients=[(line, code)]))
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Poll until something accepts on ``port`` (bounded), failing early if the server exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server block exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)  # polling a port: there is nothing to wait on but the port itself
    raise AssertionError(f"the server block did not listen on port {port} within {timeout} s")


def run_block(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=BLOCK_TIMEOUT,
        check=False,
    )


@contextmanager
def running_server(code: str, cwd: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        wait_for_port(port, process, BLOCK_TIMEOUT)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))
GROUPS = groups(BLOCKS)


def test_the_readme_has_python_examples() -> None:
    assert BLOCKS, "no ```python block found in README.md"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("group", GROUPS, ids=[group.name for group in GROUPS])
def test_readme_block_runs_as_printed(group: Group, tmp_path: Path) -> None:
    port = str(free_port())
    note = f"(port {EXAMPLE_PORT} replaced by {port})"

    def check(line: int, code: str) -> None:
        result = run_block(code.replace(EXAMPLE_PORT, port), tmp_path)
        assert result.returncode == 0, f"README line {line} {note}:\n{result.stdout}\n{result.stderr}"

    if group.server is None:
        for line, code in group.clients:
            check(line, code)
        return
    server_line, server_code = group.server
    with running_server(server_code.replace(EXAMPLE_PORT, port), tmp_path, int(port)) as server:
        for line, code in group.clients:
            check(line, code)
        assert server.poll() is None, f"the server block at README line {server_line} stopped early"


def test_the_blocks_are_grouped_as_documented() -> None:
    sample = [(1, "a()"), (2, "await server.serve_forever()"), (3, "b()"), (4, "c()"),
              (5, "await s.serve_forever()")]
    found = groups(sample)
    assert [(g.server, g.clients) for g in found] == [
        (None, [(1, "a()")]),
        ((2, "await server.serve_forever()"), [(3, "b()"), (4, "c()")]),
        ((5, "await s.serve_forever()"), []),
    ]


def test_the_usage_client_sees_the_echo(tmp_path: Path) -> None:
    """The first server/client pair does what the README says: the client gets its message back."""
    pair = next(group for group in GROUPS if group.server is not None and group.clients)
    port = str(free_port())
    assert pair.server is not None
    with running_server(pair.server[1].replace(EXAMPLE_PORT, port), tmp_path, int(port)):
        result = run_block(pair.clients[0][1].replace(EXAMPLE_PORT, port), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["received hello", "closed with 1001 "]
