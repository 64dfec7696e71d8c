"""Every program in examples/ runs to completion on every installed backend it applies to, and every
complete ```python block of the documentation (docs/) runs as printed.

Each example runs as a subprocess (``python examples/NAME.py --backend ...``) with a timeout; they
listen on 127.0.0.1 only. The checks read the lines each program prints.

Docs convention: a ```python block in docs/*.md is a complete program (imports, ``anyio.run(main)``
or a ``__main__`` guard) that runs on its own with the default backend; a block that is only a
``--8<--`` line includes a file of examples/, which the example tests run.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ws_channel_core import available_backends, get_backend
from ws_channel_core.registry import event_loop_installed

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DOCS = ROOT / "docs"
TIMEOUT = 60.0

SERVERS = available_backends(role="server")
CLIENTS = available_backends(role="client")
TRIO_BACKENDS = [
    name for name in SERVERS
    if name in CLIENTS and "trio" in getattr(get_backend(name), "event_loops", ("asyncio",))
]


def run(script: str, *args: str) -> list[str]:
    """Run ``examples/script`` with ``args``; return its output lines (it must exit 0 in time)."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"{script} {args} exited {result.returncode}:\n{result.stderr}"
    return result.stdout.splitlines() + result.stderr.splitlines()


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("client", CLIENTS)
def test_echo(server: str, client: str) -> None:
    lines = run("echo.py", "--backend", server, "--client-backend", client)
    assert lines[0].startswith("server listening on port ")
    assert lines[1:] == [
        "client received 'hello'",
        "client received b'\\x00\\x01\\x02'",
        "closed with code 1000 (done)",
    ]


@pytest.mark.parametrize("server", SERVERS)
def test_echo_picks_a_client_backend_for_a_server_only_backend(server: str) -> None:
    assert run("echo.py", "--backend", server)[-1] == "closed with code 1000 (done)"


@pytest.mark.parametrize("server", SERVERS)
def test_auth_server(server: str) -> None:
    lines = [re.sub(r"127\.0\.0\.1:\d+", "HOST", line) for line in run("auth_server.py", "--backend", server)]
    required = "a valid token is required: Authorization: Bearer TOKEN, or ?token=TOKEN"
    assert lines == [
        "GET /healthz: HTTP 200: ok",
        "ws://HOST/echo: upgraded, cookie session of 16 characters",
        "ws://HOST/echo: received 'alice: hello'",
        "ws://HOST/shout?token=s3cret: upgraded, cookie session of 16 characters",
        "ws://HOST/shout?token=s3cret: received 'alice: HELLO'",
        f"ws://HOST/echo: refused with HTTP 401: {required}",
        f"ws://HOST/echo?token=wrong: refused with HTTP 401: {required}",
        "ws://HOST/nowhere?token=s3cret: refused with HTTP 404: no route /nowhere",
    ]


@pytest.mark.parametrize("server", SERVERS)
def test_chat(server: str) -> None:
    lines = run("chat.py", "--backend", server)
    for name in ("alice", "bob"):
        assert lines.count(f"{name} heard: {name} is here") == 2  # joined, dropped, came back
        assert lines.count(f"{name} heard: bye") == 1


@pytest.mark.parametrize("server", SERVERS)
def test_reconnect(server: str) -> None:
    lines = run("reconnect.py", "--backend", server)
    story = [line for line in lines if not line.startswith("ws_channel.client:")]
    assert story == [
        "client received 'hello, connection 1'",
        "client: connection closed with 1012 (come back later)",
        "client received 'hello, connection 2'",
        "client: connection closed with 1001 ()",
        "server: shut down",
        "server: back, refusing every upgrade",
        "client: gave up on HTTP 403: closed for maintenance",
    ]
    retries = [line for line in lines if line.startswith("ws_channel.client:")]
    assert retries, "the client should have retried while the server was down"
    assert all("retrying in" in line for line in retries)


@pytest.mark.skipif(not event_loop_installed("trio"), reason="trio is not installed")
@pytest.mark.parametrize("backend", TRIO_BACKENDS)
def test_trio_echo(backend: str) -> None:
    lines = run("trio_echo.py", "--backend", backend)
    assert lines[0].startswith("server listening on port ")
    assert sorted(lines[1:]) == sorted(
        [f"client {n} received 'hello from client {n}'" for n in (1, 2, 3)]
        + [f"client {n} closed with code 1000" for n in (1, 2, 3)]
    )


@pytest.mark.skipif(
    not (installed("fastapi") and installed("uvicorn")), reason="needs fastapi and uvicorn"
)
@pytest.mark.parametrize("client", CLIENTS)
def test_fastapi_route(client: str) -> None:
    assert run("fastapi_route.py", "--client-backend", client) == [
        "in memory: received 'hello, memory!'",
        "in memory: /nowhere refused with HTTP 403",
        "over TCP: received 'hello, uvicorn!'",
        "over TCP: closed with code 1000",
    ]


@pytest.mark.parametrize(
    "loop",
    ["asyncio", pytest.param("trio", marks=pytest.mark.skipif(
        not event_loop_installed("trio"), reason="trio is not installed"))],
)
def test_memory_pair(loop: str) -> None:
    assert run("memory_pair.py", *(["--trio"] if loop == "trio" else [])) == [
        "text: answered in capitals",
        "binary: closed with 1003 (text only)",
        "sending after the close raises ConnectionClosedError",
    ]


def test_every_example_is_tested() -> None:
    tested = set(re.findall(r'run\("(\w+\.py)"', Path(__file__).read_text()))
    assert {path.name for path in EXAMPLES.glob("*.py")} == tested


def docs_blocks() -> list[tuple[str, str]]:
    """``(page:line, code)`` of each ```python block in docs/ that is not only an include."""
    blocks = []
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text()
        for match in re.finditer(r"^```python\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE):
            code = match.group(1)
            if code.strip().startswith("--8<--"):
                continue
            line = text.count("\n", 0, match.start()) + 1
            blocks.append((f"{page.relative_to(DOCS)}:{line}", code))
    return blocks


@pytest.mark.parametrize(("where", "code"), docs_blocks(), ids=[where for where, _ in docs_blocks()])
def test_docs_block_runs(where: str, code: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"docs/{where} exited {result.returncode}:\n{result.stderr}"


def test_docs_include_only_existing_examples() -> None:
    for page in DOCS.rglob("*.md"):
        for name in re.findall(r'--8<-- "(examples/[^"]+)"', page.read_text()):
            assert (ROOT / name).is_file(), f"{page.relative_to(DOCS)} includes a missing {name}"
