"""What the browser tests need: servers of our backends, the wheels, and the Node and Chromium drivers.

Prerequisites: Node 18+ with the packages of ``tests/browser/js`` installed (``npm ci`` there), Debian's
``chromium``, and PyPI for the dependency wheels (downloaded once into ``tests/browser/.cache``).
``.ci/setup-browser`` installs the first two. Run by hand without them, a test is skipped with the
exact step that is missing; in CI (``CI=true``) it fails instead.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

import anyio
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from conformance.peers.scripts import drop_after_upgrade
from conformance.peers.server import scripted_server
from ws_channel_core import Response, WebSocketChannel, connect, serve
from ws_channel_core.http import Request

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
JS = HERE / "js"
CACHE = HERE / ".cache"
#: Pure-Python dependencies unpacked into Pyodide, at the versions installed here.
DEPENDENCIES = ("anyio", "sniffio", "idna", "typing-extensions")
SERVER_BACKENDS = ("raw", "websockets", "aiohttp")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: Seconds a whole Pyodide run (boot plus every scenario) may take.
RUN_TIMEOUT = 150.0


def require(problem: str | None) -> None:
    """Skip with ``problem`` when run by hand; fail in CI, where every prerequisite must be there."""
    if problem is None:
        return
    if IN_CI:
        pytest.fail(f"browser test prerequisite missing in CI: {problem}", pytrace=False)
    pytest.skip(problem)


# -- prerequisites ------------------------------------------------------------------------------


def node_problem() -> str | None:
    node = shutil.which("node")
    if node is None:
        return "node is not installed (Node 18+ runs Pyodide for these tests); then run .ci/setup-browser"
    modules = JS / "node_modules"
    if not (modules / "pyodide" / "pyodide.mjs").is_file() or not (modules / "ws").is_dir():
        return f"the npm packages are not installed: run 'npm ci' in {JS} (or .ci/setup-browser)"
    return None


def chromium_executable() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_problem() -> str | None:
    problem = node_problem()  # the page loads Pyodide from node_modules
    if problem is not None:
        return problem
    if chromium_executable() is None:
        return "chromium is not installed: apt-get install -y chromium (or run .ci/setup-browser)"
    return None


# -- wheels -------------------------------------------------------------------------------------


def dependency_wheels() -> tuple[list[Path], str | None]:
    """The dependencies' pure-Python wheels, downloaded from PyPI into the cache on first use."""
    wanted = [f"{name}=={version(name)}" for name in DEPENDENCIES]
    folder = CACHE / "wheels"
    folder.mkdir(parents=True, exist_ok=True)

    def find() -> list[Path]:
        found = []
        for requirement in wanted:
            name, _, number = requirement.partition("==")
            stem = f"{name.replace('-', '_')}-{number}-"
            found += [path for path in folder.glob("*.whl") if path.name.lower().startswith(stem.lower())]
        return found

    if len(find()) < len(wanted):
        command = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                   "--only-binary=:all:", "--no-deps", "-d", str(folder), *wanted]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0 or len(find()) < len(wanted):
            names = ", ".join(wanted)
            return [], f"could not download the wheels of {names} from PyPI: {result.stderr[-800:]}"
    return find(), None


def project_wheel(folder: Path) -> tuple[Path | None, str | None]:
    """This project's wheel, built from a copy of the working tree (the tree itself is not touched)."""
    source = folder / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", ".cache")
    for name in ("ws_channel_core", "ws_channel_backends", "conformance"):
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    out = folder / "dist"
    base = [sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps",
            "-w", str(out), str(source)]
    # Without build isolation when the installed setuptools is recent enough, else from PyPI.
    result = subprocess.run([*base, "--no-build-isolation"], capture_output=True, text=True, timeout=180)
    if result.returncode != 0:
        result = subprocess.run(base, capture_output=True, text=True, timeout=180)
    wheels = list(out.glob("ws_channel-*.whl"))
    if result.returncode != 0 or not wheels:
        return None, f"could not build the project's wheel: {result.stderr[-800:]}"
    return wheels[0], None


# -- servers ------------------------------------------------------------------------------------


class Records:
    """What the servers saw, by the ``id`` query parameter of each connection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, dict[str, Any]] = {}

    def put(self, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._seen[key] = value

    def get(self, key: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if key in self._seen:
                    return self._seen[key]
            if time.monotonic() > deadline:
                raise AssertionError(f"no server record {key!r}; have {sorted(self._seen)}")
            time.sleep(0.02)


def _handler(records: Records, backend: str) -> Any:
    async def handle(channel: WebSocketChannel) -> None:
        request = channel.request
        assert request is not None
        path, key = request.path, f"{backend}:{request.query_value('id')}"
        if path == "/echo":
            async for message in channel.stream:
                await channel.sink.add(message)
        elif path == "/close":
            await channel.sink.close(int(request.query_value("code") or 1000), request.query_value("reason"))
        elif path == "/seed":
            await channel.sink.add("hello")
            messages = [message async for message in channel.stream]
            records.put(key, {"messages": messages, "close_code": channel.close_code})
        elif path in ("/record", "/big"):
            if path == "/big":
                await channel.sink.add(b"x" * int(request.query_value("size") or 0))
            messages = [message async for message in channel.stream]
            await channel.sink.done
            records.put(key, {
                "messages": messages,
                "close_code": channel.close_code,
                "close_reason": channel.close_reason,
            })

    return handle


def _reject(request: Request) -> Response | None:
    if request.path == "/reject":
        return Response(403, {"X-Why": "test"}, body="go away\n")
    return None


@contextmanager
def running_servers() -> Iterator[tuple[dict[str, str], str, Records]]:
    """A server of each backend (``{name: "ws://127.0.0.1:PORT"}``), a dropping peer, their records."""
    records = Records()
    with ExitStack() as stack:
        portal: BlockingPortal = stack.enter_context(start_blocking_portal())
        servers = {}
        for backend in SERVER_BACKENDS:
            server = stack.enter_context(portal.wrap_async_context_manager(serve(
                _handler(records, backend), "127.0.0.1", 0, protocols=("chat",),
                process_request=_reject, backend=backend,
            )))
            servers[backend] = f"ws://127.0.0.1:{server.port}"
        dropping = portal.wrap_async_context_manager(scripted_server(drop_after_upgrade()))
        dropper = stack.enter_context(dropping)
        yield servers, dropper.url, records


# -- drivers ------------------------------------------------------------------------------------


def pyodide_program(servers: dict[str, str], drop_url: str, run: str) -> dict[str, Any]:
    """The boot.mjs config (without wheels) that runs ``browser_scenarios.main_in_pyodide``."""
    folder = "/home/pyodide/app"
    return {
        "files": {f"{folder}/browser_scenarios.py": (HERE / "browser_scenarios.py").read_text()},
        "args": {"servers": servers, "drop_url": drop_url, "run": run},
        "code": (
            f"import json, sys\nsys.path.insert(0, {folder!r})\nimport browser_scenarios\n"
            "json.dumps(await browser_scenarios.main_in_pyodide(json.loads(CONFIG_JSON)))\n"
        ),
    }


def run_in_node(config: dict[str, Any], wheels: list[Path]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.json"
        path.write_text(json.dumps({**config, "wheels": [str(wheel) for wheel in wheels]}))
        result = subprocess.run(
            ["node", str(JS / "run_node.mjs"), str(path)],
            capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=JS,
        )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        raise AssertionError(f"Pyodide under Node failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return dict(json.loads(lines[-1].removeprefix("RESULT ")))


class _Files(SimpleHTTPRequestHandler):
    """Serves /pyodide/ (node_modules/pyodide), /js/ (tests/browser/js), /wheels/ and /config.json."""

    routes: ClassVar[dict[str, Path]] = {}
    config: ClassVar[bytes] = b"{}"
    extensions_map: ClassVar[dict[str, str]] = {  # type: ignore[misc]
        **SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
        ".json": "application/json", ".whl": "application/octet-stream", ".zip": "application/zip",
    }

    def translate_path(self, path: str) -> str:
        path = path.split("?", 1)[0]
        for prefix, folder in self.routes.items():
            if path.startswith(prefix):
                target = (folder / path[len(prefix):]).resolve()
                if target.is_relative_to(folder.resolve()):
                    return str(target)
        return str(JS / "missing")

    def do_GET(self) -> None:
        if self.path == "/config.json":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(self.config)))
            self.end_headers()
            self.wfile.write(self.config)
            return
        if self.path in ("/", "/index.html"):
            self.path = "/js/index.html"
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def http_server(config: dict[str, Any], wheels: list[Path]) -> Iterator[str]:
    routes = {"/pyodide/": JS / "node_modules" / "pyodide", "/js/": JS}
    folders = {wheel.parent for wheel in wheels}
    names = {}
    for index, folder in enumerate(sorted(folders)):
        routes[f"/wheels{index}/"] = folder
        names.update({wheel: f"/wheels{index}/{wheel.name}" for wheel in wheels if wheel.parent == folder})
    body = json.dumps({**config, "wheels": [names[wheel] for wheel in wheels]}).encode()
    handler = type("Files", (_Files,), {"routes": routes, "config": body})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _devtools_port(profile: Path, process: subprocess.Popen[bytes], deadline: float) -> int:
    marker = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if marker.is_file():
            lines = marker.read_text().split()
            if lines:
                return int(lines[0])
        if process.poll() is not None:
            raise AssertionError(f"chromium exited with {process.returncode} before opening DevTools")
        time.sleep(0.05)
    raise AssertionError("chromium did not open its DevTools port in time")


def _page_target(port: int, deadline: float) -> str:
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as answer:
            targets = json.load(answer)
        for target in targets:
            if target.get("type") == "page" and "index.html" in target.get("url", ""):
                return str(target["webSocketDebuggerUrl"])
        time.sleep(0.05)
    raise AssertionError("chromium shows no page for the test")


_WAIT_RESULT = (
    "new Promise((resolve) => { const look = () => window.__result ? window.__result.then(resolve)"
    " : setTimeout(look, 20); look(); })"
)


async def _evaluate_result(debugger_url: str, seconds: float) -> tuple[dict[str, Any], list[str]]:
    """Await ``window.__result`` over the DevTools protocol, with our own client (raw backend)."""
    console: list[str] = []
    async with connect(debugger_url, max_size=None, backend="raw") as devtools:
        await devtools.sink.add(json.dumps({"id": 1, "method": "Runtime.enable"}))
        request = {"id": 2, "method": "Runtime.evaluate", "params": {
            "expression": _WAIT_RESULT, "awaitPromise": True, "returnByValue": True,
        }}
        await devtools.sink.add(json.dumps(request))
        with anyio.fail_after(seconds):
            async for text in devtools.stream:
                message = json.loads(text)
                if message.get("method") == "Runtime.consoleAPICalled":
                    args = message["params"].get("args", [])
                    shown = (str(arg.get("value", arg.get("description", ""))) for arg in args)
                    console.append(" ".join(shown))
                elif message.get("method") == "Runtime.exceptionThrown":
                    console.append(json.dumps(message["params"].get("exceptionDetails", {}))[:2000])
                elif message.get("id") == 2 and "context was destroyed" in json.dumps(message.get("error")):
                    # The page navigated while loading (seen right after start): ask the new one.
                    console.append(f"(evaluate again: {message['error']})")
                    await anyio.sleep(0.1)
                    await devtools.sink.add(json.dumps(request))
                elif message.get("id") == 2:
                    result = message.get("result", {}).get("result", {})
                    return dict(result.get("value") or {"error": json.dumps(message)[:2000]}), console
    raise AssertionError(f"the DevTools connection closed early; console: {console[-20:]}")


def run_in_chromium(config: dict[str, Any], wheels: list[Path]) -> dict[str, Any]:
    executable = chromium_executable()
    assert executable is not None
    deadline = time.monotonic() + RUN_TIMEOUT
    with tempfile.TemporaryDirectory() as profile, http_server(config, wheels) as page:
        process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--disable-background-networking", "--remote-allow-origins=*",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", page],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            port = _devtools_port(Path(profile), process, deadline)
            target = _page_target(port, deadline)
            outcome, console = anyio.run(
                functools.partial(_evaluate_result, target, deadline - time.monotonic())
            )
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            assert process.stderr is not None
            process.stderr.close()
    if "ok" not in outcome:
        raise AssertionError(f"Pyodide in Chromium failed: {outcome.get('error')}\nconsole: {console[-20:]}")
    return dict(json.loads(outcome["ok"]))
