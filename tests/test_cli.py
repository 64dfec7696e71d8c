"""The ``ws-channel`` command line, run as a user would: in a subprocess, against real servers.

The benchmark test runs ``bench --smoke`` on two stacks (a few seconds); CI runs ``ws-channel bench
--quick`` (about a minute) as a separate step.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ws_channel_core import available_backends
from ws_channel_core.cli import format_message

TIMEOUT = 30.0
CLI = [sys.executable, "-m", "ws_channel_core"]
BACKENDS = available_backends(role="client")  # the connect tests need a client
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def run_cli(*args: str, stdin: str = "", timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ws-channel: error: "), lines[0]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def read_line(process: subprocess.Popen[str], timeout: float = TIMEOUT) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, "the process printed nothing in time"
    return process.stdout.readline()


@pytest.fixture(scope="module")
def echo_port() -> Iterator[int]:
    """``ws-channel serve --echo --port 0`` in a subprocess; yields the port it printed."""
    process = subprocess.Popen(
        [*CLI, "serve", "--echo", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = read_line(process)
        assert first.startswith("listening on ws://127.0.0.1:"), first
        yield int(first.split("ws://127.0.0.1:")[1].split("/")[0])
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0, err
        assert out.rstrip().endswith("stopped"), out
        assert "Traceback" not in err, err


@pytest.fixture
def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def http_404_port() -> Iterator[int]:
    """A plain HTTP server that answers every request with 404: a refused upgrade."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def answer() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = connection.recv(4096)
                    if not chunk:
                        break
                    request += chunk
                connection.sendall(NOT_FOUND)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        listener.close()
        thread.join(TIMEOUT)


# -- help and listing ---------------------------------------------------------------------------


def test_help_lists_every_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("connect", "serve", "conformance", "backends", "bench"):
        assert command in result.stdout


@pytest.mark.parametrize("command", ["connect", "serve", "conformance", "backends", "bench"])
def test_each_command_has_help(command: str) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: ws-channel {command}")
    if command in ("connect", "serve", "conformance", "bench"):
        assert "--backend" in result.stdout


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "ws-channel"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: ws-channel")


def test_backends_lists_installed_backends_and_the_default() -> None:
    result = run_cli("backends")
    assert result.returncode == 0, result.stderr
    for name in BACKENDS:
        assert any(line.startswith(name + " ") and "installed" in line for line in result.stdout.splitlines())
    assert f"default: {BACKENDS[0]}" in result.stdout


def test_importing_the_cli_imports_no_backend() -> None:
    code = (
        "import sys, ws_channel_core.cli\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in "
        "('websockets', 'aiohttp', 'trio', 'ws_channel_backends', 'conformance', 'bench')]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=TIMEOUT)


# -- connect ------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", BACKENDS)
def test_connect_sends_piped_lines_and_prints_the_echoes(echo_port: int, backend: str) -> None:
    url = f"ws://127.0.0.1:{echo_port}/"
    result = run_cli("connect", "--backend", backend, "--expect", "3", url, stdin="hello\nwörld\n\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello\nwörld\n\n"
    assert result.stderr.strip().splitlines()[-1] == "closed: 1000"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", BACKENDS)
def test_piped_input_prints_every_reply_that_arrives_before_the_servers_close(
    echo_port: int, backend: str
) -> None:
    # No --expect: at the end of input the client lingers until the replies stop, then closes; every
    # reply that arrives before the server's close frame is printed.
    result = run_cli("connect", "--backend", backend, f"ws://127.0.0.1:{echo_port}/", stdin="a\nb\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "a\nb\n"
    assert result.stderr.strip().splitlines()[-1] == "closed: 1000"


@pytest.mark.timeout(60)
def test_on_a_terminal_sent_and_received_lines_are_marked_and_typing_is_kept(echo_port: int) -> None:
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [*CLI, "connect", "--expect", "1", f"ws://127.0.0.1:{echo_port}/"],
        stdin=terminal,
        stdout=terminal,
        stderr=subprocess.PIPE,
    )
    os.close(terminal)
    screen = b""

    def read_until(marker: bytes) -> None:
        nonlocal screen
        while marker not in screen:
            ready, _, _ = select.select([controller], [], [], TIMEOUT)
            assert ready, f"waited for {marker!r}, the terminal shows {screen!r}"
            screen += os.read(controller, 4096)

    try:
        read_until(b"> ")
        os.write(controller, b"hello\n")
        read_until(b"< hello")
        # The echo was inserted above the input line (save cursor, insert line, restore).
        assert b"\x1b7" in screen and b"\x1b[L" in screen and b"\x1b8" in screen
        os.write(controller, b"\x04")  # Ctrl-D: end of input
        assert process.wait(TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(TIMEOUT)
        os.close(controller)
    assert process.stderr is not None
    with process.stderr:
        status_lines = process.stderr.read().decode().strip().splitlines()
    assert status_lines[-1] == "closed: 1000"


@pytest.mark.timeout(60)
def test_connect_prints_binary_messages_as_hex(echo_port: int) -> None:
    result = run_cli("connect", "--binary", "--expect", "1", f"ws://127.0.0.1:{echo_port}/", stdin="hello\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[binary, 5 bytes] 68656c6c6f\n"


@pytest.mark.timeout(60)
def test_end_of_input_closes_with_1000(echo_port: int) -> None:
    result = run_cli("connect", f"ws://127.0.0.1:{echo_port}/", stdin="")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"connected to ws://127.0.0.1:{echo_port}/")
    assert lines[-1] == "closed: 1000"


def test_bad_url_is_a_one_line_error() -> None:
    assert_one_line_error(run_cli("connect", "http://127.0.0.1/"), "ws://")


def test_refused_connection_is_a_one_line_error(free_port: int) -> None:
    assert_one_line_error(run_cli("connect", f"ws://127.0.0.1:{free_port}/"), "could not connect")


def test_refused_upgrade_is_a_one_line_error(http_404_port: int) -> None:
    assert_one_line_error(run_cli("connect", f"ws://127.0.0.1:{http_404_port}/"), "404")


@pytest.mark.parametrize("command", [["connect", "ws://127.0.0.1:9/"], ["serve", "--port", "0"]])
def test_unknown_backend_is_a_one_line_error(command: list[str]) -> None:
    assert_one_line_error(run_cli(*command, "--backend", "no-such-backend"), "no-such-backend")


def test_usage_errors_exit_with_2() -> None:
    result = run_cli("connect", "--header", "no-colon", "ws://127.0.0.1:9/")
    assert result.returncode == 2
    assert "NAME:VALUE" in result.stderr


def test_format_message() -> None:
    assert format_message("text") == "text"
    assert format_message(b"\x00\xff") == "[binary, 2 bytes] 00ff"
    long = bytes(100)
    assert format_message(long) == f"[binary, 100 bytes] {bytes(32).hex()}... (first 32 bytes shown)"


# -- bench --------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_bench_smoke_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    stacks = ["--stack", "asyncio-streams", "--stack", f"ws-channel/{BACKENDS[0]}"]
    output = tmp_path / "bench.json"
    result = run_cli("bench", "--smoke", *stacks, "--json", str(output), timeout=55)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| asyncio-streams " in result.stdout
    assert f"| ws-channel/{BACKENDS[0]} " in result.stdout
    document = json.loads(output.read_text())
    reference = document["stacks"]["asyncio-streams"]
    assert reference["rt16"]["ratio"] == 1.0
    assert document["placement"]  # the CPUs the processes were pinned to, or that they were not
    assert len(reference["idle"]["values"]) == 1  # one round of idle connections was measured
    row = document["stacks"][f"ws-channel/{BACKENDS[0]}"]
    for workload in ("rt16", "rt1k", "pipe1k", "pipe64k", "pipe1m"):
        assert row[workload]["median"] > 0
        # Paired with the reference measured right before its round: the ratio is that pair's.
        (value,), (anchor,) = row[workload]["values"], row[workload]["anchor_values"]
        assert row[workload]["ratio"] == pytest.approx(value / anchor)
        assert row[workload]["client_cpu_us_per_message"] >= 0


def test_bench_is_found_in_the_source_checkout() -> None:
    from ws_channel_core.cli import find_bench_root

    root = find_bench_root()
    assert root is not None
    assert (root / "bench" / "__main__.py").is_file()
    assert os.path.samefile(root, Path(__file__).resolve().parent.parent)
