"""Run one backend through wstest in one role, using only the public ``connect``/``serve`` API.

- Client role: ``wstest -m fuzzingserver`` listens on 127.0.0.1; the backend's client asks
  ``/getCaseCount``, runs ``/runCase?case=N&agent=AGENT`` for each case echoing every message until the
  stream ends, then asks ``/updateReports?agent=AGENT`` to have the report written.
- Server role: the backend serves an echo handler on 127.0.0.1 and ``wstest -m fuzzingclient`` runs
  every case against it, writing the report when it exits.

Each wstest process runs in its own process group and is ended (TERM, then KILL) on any exit path;
each run has an overall timeout and each client case its own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from subprocess import STDOUT

import anyio
from anyio.abc import Process

import ws_channel_core
from ws_channel_core.channel import WebSocketChannel
from ws_channel_core.errors import WebSocketChannelError

from .cases import MAX_MESSAGE_SIZE, resolve_cases
from .report import ReportError, RunResult, load_index
from .wstest import Wstest

__all__ = ["RunLimits", "agent_name", "run_client_role", "run_server_role", "echo"]

_STARTUP_TIMEOUT = 60.0
_STOP_GRACE = 5.0


@dataclass(frozen=True)
class RunLimits:
    """Time limits of one wstest run (seconds)."""

    #: The whole run: start, every case, the report.
    overall: float = 900.0
    #: One client-role case, from connecting to the end of its stream.
    per_case: float = 120.0


def agent_name(backend: str) -> str:
    """The agent name a backend's results are filed under in the report."""
    return f"ws-channel-{backend}"


async def echo(channel: WebSocketChannel) -> None:
    """Send back every message, in order, until the stream ends; the peer's errors end it quietly.

    Memory stays bounded: one message is held at a time, and ``max_size`` bounds each message.
    """
    with suppress(WebSocketChannelError):
        async for message in channel.stream:
            await channel.sink.add(message)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    tail = text.strip().splitlines()[-lines:]
    return ("\n    " + "\n    ".join(tail)) if tail else ""


def _signal_group(process: Process, signum: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


@asynccontextmanager
async def _wstest_process(wstest: Wstest, args: Sequence[str], log_path: Path) -> AsyncIterator[Process]:
    """Start wstest with its output in ``log_path``; on exit end its process group if still running."""
    command = wstest.command(*args)
    setpriv = shutil.which("setpriv")
    if setpriv is not None:
        # Should this process die without cleaning up, the kernel ends wstest too.
        command = [setpriv, "--pdeathsig", "TERM", *command]
    with log_path.open("wb") as log:
        process = await anyio.open_process(
            command, stdin=None, stdout=log, stderr=STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                _signal_group(process, signal.SIGTERM)
                with anyio.move_on_after(_STOP_GRACE):
                    await process.wait()
            if process.returncode is None:
                _signal_group(process, signal.SIGKILL)
            await process.wait()
            await process.aclose()


def _write_spec(path: Path, spec: dict[str, object]) -> None:
    path.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")


async def _wait_listening(process: Process, port: int, log_path: Path) -> None:
    with anyio.fail_after(_STARTUP_TIMEOUT):
        while True:
            if process.returncode is not None:
                raise RuntimeError(
                    f"wstest exited with {process.returncode} before listening{_log_tail(log_path)}"
                )
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                await anyio.sleep(0.1)
                continue
            await stream.aclose()
            return


def _connect(url: str, backend: str) -> ws_channel_core.api.Connect:
    return ws_channel_core.connect(
        url,
        backend=backend,
        max_size=MAX_MESSAGE_SIZE,
        compression="deflate",
        ping_interval=None,
    )


async def _read_case_count(base: str, backend: str) -> int:
    async with _connect(f"{base}/getCaseCount", backend) as channel:
        async for message in channel.stream:
            count = json.loads(message)
            if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
                return count
            raise RuntimeError(f"/getCaseCount answered {message!r}")
    raise RuntimeError("/getCaseCount closed without answering")


async def _run_client_case(url: str, backend: str, per_case: float) -> str | None:
    """Echo one case; return a note when the harness saw trouble (Autobahn still judges the case)."""
    with anyio.move_on_after(per_case) as scope:
        try:
            async with _connect(url, backend) as channel:
                await echo(channel)
        except WebSocketChannelError as exc:
            return f"{type(exc).__name__}: {exc}"
    if scope.cancelled_caught:
        return f"timed out after {per_case:.0f} s"
    return None


def _finish(
    result: RunResult, report_dir: Path, agent: str, cases: Sequence[str], case_count: int | None
) -> None:
    """Read the report; a case that should have run but is missing from it is a harness error."""
    try:
        result.results = load_index(report_dir, agent)
    except ReportError as exc:
        result.error = str(exc)
        return
    expected = resolve_cases(cases)
    if case_count is not None and case_count != len(expected):
        # Another wstest version with other cases: only the count can be checked.
        if len(result.results) != case_count:
            result.error = f"the report has {len(result.results)} cases, {case_count} were run"
        return
    missing = [case for case in expected if case not in result.results]
    if missing:
        shown = ", ".join(missing[:20]) + (" ..." if len(missing) > 20 else "")
        result.error = f"{len(missing)} cases missing from the report: {shown}"


async def run_client_role(
    wstest: Wstest, backend: str, cases: Sequence[str], workdir: Path, limits: RunLimits
) -> RunResult:
    """Test ``backend``'s client against ``wstest -m fuzzingserver``; the report lands in ``workdir``."""
    result = RunResult(backend=backend, role="client", report_dir=workdir / "reports")
    agent = agent_name(backend)
    started = time.monotonic()
    port = _free_port()
    spec_path = workdir / "fuzzingserver.json"
    _write_spec(
        spec_path,
        {
            "url": f"ws://127.0.0.1:{port}",
            "outdir": wstest.tool_path(workdir / "reports"),
            "options": {"failByDrop": False},
            "cases": list(cases),
            "exclude-cases": [],
            "exclude-agent-cases": {},
        },
    )
    log_path = workdir / "wstest.log"
    args = ("-m", "fuzzingserver", "-s", wstest.tool_path(spec_path), "-u", "0")
    notes: list[str] = []
    count: int | None = None
    try:
        with anyio.fail_after(limits.overall):
            async with _wstest_process(wstest, args, log_path) as process:
                await _wait_listening(process, port, log_path)
                base = f"ws://127.0.0.1:{port}"
                count = await _read_case_count(base, backend)
                for number in range(1, count + 1):
                    url = f"{base}/runCase?case={number}&agent={agent}"
                    note = await _run_client_case(url, backend, limits.per_case)
                    if note is not None:
                        notes.append(f"case #{number}: {note}")
                async with _connect(f"{base}/updateReports?agent={agent}", backend) as channel:
                    await echo(channel)
    except TimeoutError:
        result.error = f"the run took more than {limits.overall:.0f} s{_log_tail(log_path)}"
    except (WebSocketChannelError, RuntimeError, OSError) as exc:
        result.error = f"{type(exc).__name__}: {exc}{_log_tail(log_path)}"
    result.wall_time = time.monotonic() - started
    if result.error is None:
        _finish(result, workdir / "reports", agent, cases, count)
    if result.error is not None and notes:
        result.error += "\n    harness notes: " + "; ".join(notes[:20])
    return result


async def run_server_role(
    wstest: Wstest, backend: str, cases: Sequence[str], workdir: Path, limits: RunLimits
) -> RunResult:
    """Test ``backend``'s server with ``wstest -m fuzzingclient``; the report lands in ``workdir``."""
    result = RunResult(backend=backend, role="server", report_dir=workdir / "reports")
    agent = agent_name(backend)
    started = time.monotonic()
    log_path = workdir / "wstest.log"
    try:
        with anyio.fail_after(limits.overall):
            async with ws_channel_core.serve(
                echo,
                "127.0.0.1",
                0,
                backend=backend,
                max_size=MAX_MESSAGE_SIZE,
                compression="deflate",
                ping_interval=None,
            ) as server:
                spec_path = workdir / "fuzzingclient.json"
                _write_spec(
                    spec_path,
                    {
                        "outdir": wstest.tool_path(workdir / "reports"),
                        "options": {"failByDrop": False},
                        "servers": [{"agent": agent, "url": f"ws://127.0.0.1:{server.port}"}],
                        "cases": list(cases),
                        "exclude-cases": [],
                        "exclude-agent-cases": {},
                    },
                )
                args = ("-m", "fuzzingclient", "-s", wstest.tool_path(spec_path))
                async with _wstest_process(wstest, args, log_path) as process:
                    code = await process.wait()
                if code != 0:
                    result.error = f"wstest exited with {code}{_log_tail(log_path)}"
    except TimeoutError:
        result.error = f"the run took more than {limits.overall:.0f} s{_log_tail(log_path)}"
    except (WebSocketChannelError, RuntimeError, OSError) as exc:
        result.error = f"{type(exc).__name__}: {exc}{_log_tail(log_path)}"
    result.wall_time = time.monotonic() - started
    if result.error is None:
        _finish(result, workdir / "reports", agent, cases, None)
    return result
