"""The ``ws-channel`` command line: try any backend from a terminal.

Subcommands:

- ``connect URL``: an interactive client. Lines read from stdin are sent as text messages; incoming
  messages are printed on stdout (binary ones as hex, or a length summary when long); status lines
  (connected, closed with code and reason) go to stderr. End of input (Ctrl-D, or the end of a pipe)
  starts closing with 1000; every reply that arrives before the server's close frame is still
  printed. On a terminal, sent lines follow a ``> `` prompt and received ones are marked ``< ``.
- ``serve``: a server that echoes (``--echo``) or prints what it receives, printing connections.
- ``conformance``: the shared conformance suite (and Autobahn) against the installed backends.
- ``backends``: the installed backends, their versions and the default.
- ``bench``: the echo benchmark (``bench/`` in a source checkout).

Bad input (a bad URL, an unreachable host, a refused upgrade, an unknown backend) gives a one-line
error on stderr and exit status 1, never a traceback (``--traceback`` shows it). Only the public API
of :mod:`ws_channel_core` is used; backends, event loops and the suites are imported when needed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import itertools
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TextIO

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectSendStream

from . import registry
from .api import connect, serve
from .channel import Message, WebSocketChannel
from .errors import ConnectionClosed, WebSocketChannelError

__all__ = ["main", "build_parser", "format_message"]

PROG = "ws-channel"
#: Exit status of a failed command (bad input, unreachable host, unclean close...).
EXIT_FAILURE = 1
#: Exit status after Ctrl-C, as shells report a SIGINT.
EXIT_INTERRUPTED = 130
#: Close codes that count as a clean end of a ``connect`` session.
CLEAN_CLOSE_CODES = frozenset({1000, 1001, 1005})
#: Binary messages up to this many bytes are printed in full as hex; longer ones are summarized.
HEX_LIMIT = 64
#: After the end of input, ``connect`` closes once no reply arrived for this long (seconds)...
LINGER = 0.25
#: ...or after this long at most (a server that never stops sending).
LINGER_MAX = 2.0
#: Errors that are the user's input or the network's fault: reported in one line, no traceback.
USER_ERRORS: tuple[type[Exception], ...] = (WebSocketChannelError, LookupError, ValueError, OSError)
#: ``USER_ERRORS`` and the CLI's own ``CommandError``, defined below.
REPORTED: tuple[type[Exception], ...]
LOOPS = ("asyncio", "trio", "uvloop")
MAX_SIZE_DEFAULT = 2**20


class CommandError(Exception):
    """A command cannot run as asked; reported as a one-line error."""


REPORTED = (CommandError, *USER_ERRORS)


# -- helpers shared by the commands -------------------------------------------------------------


def format_message(message: Message) -> str:
    """One printable line for an incoming message: text as is, binary as hex or a length summary."""
    if isinstance(message, str):
        return message
    if len(message) <= HEX_LIMIT:
        return f"[binary, {len(message)} bytes] {message.hex()}"
    return f"[binary, {len(message)} bytes] {message[:32].hex()}... (first 32 bytes shown)"


def _status(text: str) -> None:
    """A status line (connected, closed, listening...) on stderr, so stdout carries only messages."""
    print(text, file=sys.stderr, flush=True)


def _describe_close(channel: WebSocketChannel) -> str:
    code = channel.close_code
    reason = channel.close_reason or ""
    text = f"closed: {code}" if code is not None else "closed: no close code"
    return f"{text} {reason}" if reason else text


def _parse_header(value: str) -> tuple[str, str]:
    name, sep, content = value.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"a header is NAME:VALUE, not {value!r}")
    return name.strip(), content.strip()


def _parse_port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, not {port}")
    return port


def _parse_count(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a count: {value!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"a count must be at least 1, not {count}")
    return count


def _parse_size(value: str) -> int | None:
    if value.lower() in ("none", "0", "unlimited"):
        return None
    try:
        size = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size in bytes: {value!r}") from None
    if size < 0:
        raise argparse.ArgumentTypeError(f"a size may not be negative: {size}")
    return size


def _run_async(
    function: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
    args: argparse.Namespace,
) -> int:
    """Run ``function(args)`` on the event loop chosen with ``--loop``, after checking the backend."""
    loop: str = args.loop
    backend = registry.get_backend(args.backend)  # LookupError for an unknown or missing backend
    event_loops: tuple[str, ...] = tuple(getattr(backend, "event_loops", ("asyncio",)))
    wanted = "asyncio" if loop == "uvloop" else loop
    if wanted not in event_loops:
        raise CommandError(
            f"backend {backend.name!r} does not run on {loop} (it runs on: {', '.join(event_loops)})"
        )
    options: dict[str, Any] = {}
    if loop == "uvloop":
        if importlib.util.find_spec("uvloop") is None:
            raise CommandError("uvloop is not installed: pip install uvloop")
        options["use_uvloop"] = True
    return anyio.run(function, args, backend=wanted, backend_options=options)


# -- connect ------------------------------------------------------------------------------------


def _read_stdin(
    lines: MemoryObjectSendStream[str], token: anyio.lowlevel.EventLoopToken, binary_fd: int
) -> None:
    """Thread body: read stdin, hand each line to the event loop; close the stream at end of input.

    It reads the file descriptor with ``os.read`` (no lock held while blocked), in a daemon thread,
    so a session the server ended never waits for the user to press Enter.
    """
    pending = b""
    try:
        while True:
            chunk = os.read(binary_fd, 65536)
            if not chunk:
                break
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                anyio.from_thread.run(lines.send, _decode_line(raw), token=token)
        if pending:
            anyio.from_thread.run(lines.send, _decode_line(pending), token=token)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, RuntimeError, OSError):
        return
    finally:
        with contextlib.suppress(RuntimeError):  # the event loop is already gone
            anyio.from_thread.run_sync(lines.close, token=token)


def _decode_line(raw: bytes) -> str:
    return raw.removesuffix(b"\r").decode("utf-8", errors="replace")


class _Console:
    """Where ``connect`` shows messages: plain lines for a pipe, marked lines for a terminal.

    On a terminal, a ``> `` prompt stands before the line being typed, and an incoming message is
    shown as ``< message`` on a line inserted above it (ANSI save cursor, insert line, restore), so
    what the user is typing stays intact.
    """

    PROMPT = "> "

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive

    def prompt(self) -> None:
        """Show the input prompt (terminal only)."""
        if self.interactive:
            sys.stdout.write(self.PROMPT)
            sys.stdout.flush()

    def received(self, text: str) -> None:
        """Show an incoming message."""
        if not self.interactive:
            print(text, flush=True)
            return
        sys.stdout.write(
            "\x1b7"  # save the cursor, which sits in the line being typed
            "\n\x1b[A"  # make sure a line exists below (scrolling if needed), back up to the input line
            "\x1b[L"  # insert a blank line there, pushing the input line down
            f"< {text}\n"
            "\x1b8"  # restore the cursor...
            "\x1b[B"  # ...and follow the input line down one row (no-op on the bottom row)
        )
        sys.stdout.flush()

    def finished(self) -> None:
        """End the prompt line so status lines start at the left margin (terminal only)."""
        if self.interactive:
            sys.stdout.write("\n")
            sys.stdout.flush()


async def _connect_command(args: argparse.Namespace) -> int:
    connecting = connect(
        args.url,
        protocols=args.protocol,
        headers=args.header,
        backend=args.backend,
        compression=None if args.no_compression else "deflate",
        max_size=args.max_size,
        connect_timeout=args.timeout,
    )
    channel = await connecting
    backend_name = args.backend or registry.default_backend_name()
    _status(
        f"connected to {args.url} (backend {backend_name}, subprotocol {channel.protocol or 'none'}); "
        "type lines to send, Ctrl-D to close"
    )
    console = _Console(sys.stdin.isatty() and sys.stdout.isatty())
    send_lines, receive_lines = anyio.create_memory_object_stream[str](16)
    reader = threading.Thread(
        target=_read_stdin,
        args=(send_lines, anyio.lowlevel.current_token(), sys.stdin.fileno()),
        name="ws-channel stdin",
        daemon=True,
    )
    reader.start()
    enough = anyio.Event()
    expect: int | None = args.expect
    wait: float | None = args.wait if args.wait is not None else (None if expect else 0.0)

    async def send_then_close() -> None:
        """Send each input line; at end of input (after ``--wait`` / ``--expect``) start closing.

        Closing only starts the handshake: replies already on their way are still printed, because
        ``stream`` goes on until the server's close frame.
        """
        console.prompt()
        async with receive_lines:
            async for line in receive_lines:
                message: Message = line.encode() if args.binary else line
                try:
                    await channel.sink.add(message)
                except ConnectionClosed:
                    return  # the server closed; the stream is ending too
                console.prompt()
        if expect or args.wait is not None:
            with anyio.move_on_after(wait):
                await (enough.wait() if expect else anyio.sleep_forever())
        else:
            await quiet()
        channel.sink.close(1000)

    arrived = anyio.Event()

    async def quiet() -> None:
        """Linger until no reply arrived for ``LINGER`` seconds (at most ``LINGER_MAX``): an echo
        server answers a close frame at once, so closing right after the last line could cut off
        the replies it had not sent yet."""
        nonlocal arrived
        with anyio.move_on_after(LINGER_MAX):
            while True:
                with anyio.move_on_after(LINGER) as idle:
                    await arrived.wait()
                if idle.cancelled_caught:
                    return
                arrived = anyio.Event()

    async with anyio.create_task_group() as group:
        group.start_soon(send_then_close)
        received = 0
        async for message in channel.stream:
            console.received(format_message(message))
            arrived.set()
            received += 1
            if expect is not None and received >= expect:
                enough.set()
        group.cancel_scope.cancel()  # the stream ended: nothing more to send
    with anyio.CancelScope(shield=True):
        await channel.sink.close(1000)  # already closing: waits for the end
    console.finished()
    _status(_describe_close(channel))
    return 0 if channel.close_code in CLEAN_CLOSE_CODES else EXIT_FAILURE


# -- serve --------------------------------------------------------------------------------------


async def _serve_command(args: argparse.Namespace) -> int:
    numbers = itertools.count(1)
    echo: bool = args.echo

    async def handler(channel: WebSocketChannel) -> None:
        number = next(numbers)
        print(f"connection {number}: open (subprotocol {channel.protocol or 'none'})", flush=True)
        try:
            async for message in channel.stream:
                if not echo:
                    print(f"connection {number}: {format_message(message)}", flush=True)
                    continue
                try:
                    await channel.sink.add(message)
                except ConnectionClosed:
                    break
        finally:
            print(f"connection {number}: {_describe_close(channel) if channel.close_code else 'ended'}",
                  flush=True)

    backend_name = args.backend or registry.default_backend_name()
    async with serve(
        handler,
        args.host,
        args.port,
        protocols=args.protocol,
        backend=args.backend,
        compression=None if args.no_compression else "deflate",
        max_size=args.max_size,
    ) as server:
        shown = ", ".join(
            f"ws://{f'[{host}]' if ':' in host else host}:{port}/" for host, port in server.addresses
        )
        mode = "echo" if echo else "print"
        print(f"listening on {shown} (backend {backend_name}, {args.loop}, {mode}); Ctrl-C stops",
              flush=True)
        async with anyio.create_task_group() as group:
            group.start_soon(server.serve_forever)
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    break
            group.cancel_scope.cancel()
    print("stopped", flush=True)
    return 0


# -- conformance, backends, bench ---------------------------------------------------------------


def _load_suite_module(name: str, what: str) -> Any:
    """Import a module of the conformance package on demand (it is optional at run time)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise CommandError(f"{what} is not available ({exc})") from exc


def _conformance_command(args: argparse.Namespace) -> int:
    if args.full and not args.autobahn:
        raise CommandError("--full only applies with --autobahn")
    if args.role and not args.autobahn:
        raise CommandError("--role only applies with --autobahn")
    backends: list[str] | None = args.backend or None
    extra: list[str] = list(args.pytest_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    runner = _load_suite_module("conformance.runner", "the conformance suite")
    status = int(runner.run(backends, extra_pytest_args=tuple(extra)))
    if args.autobahn:
        autobahn = _load_suite_module("conformance.autobahn", "the Autobahn harness")
        roles = tuple(args.role) if args.role else ("client", "server")
        autobahn_status = int(autobahn.run(backends, roles=roles, full=args.full))
        status = status or autobahn_status
    return status


def _registered_extras() -> dict[str, str | None]:
    """Map each registered backend to the extra that installs its library (``None``: no extra helps)."""
    extras: dict[str, str | None] = {}
    for entry_point in entry_points(group=registry.GROUP):
        extras.setdefault(entry_point.name, entry_point.extras[0] if entry_point.extras else None)
    return extras


def _why_missing(name: str, extra: str | None) -> str:
    """What the listing says of a backend that is not available here."""
    if extra is not None:
        return f"missing: pip install 'ws-channel[{extra}]'"
    try:
        registry.get_backend(name)
    except LookupError as exc:
        return f"not available here: {exc.__cause__ or exc}"
    return "not available here"


def _backends_command(args: argparse.Namespace) -> int:
    """List every registered backend: installed (version, roles, loops) or missing (the extra to add)."""
    installed = registry.available_backends()
    try:
        default: str | None = registry.default_backend_name()
    except LookupError:
        default = None
    extras = _registered_extras()
    rows: list[tuple[str, str, str]] = []
    for name in registry.registered_backends():
        if name in installed:
            backend = registry.get_backend(name)
            loops = ", ".join(
                loop if registry.event_loop_installed(loop) else f"{loop} (not installed)"
                for loop in getattr(backend, "event_loops", ("asyncio",))
            )
            roles = " and ".join(registry.roles_of(backend))
            note = f"installed, {roles}, runs on {loops}"
            if name == default:
                note += " (default)"
            rows.append((name, backend.version, note))
        else:
            rows.append((name, "-", _why_missing(name, extras.get(name))))
    width_name = max([len("backend"), *(len(row[0]) for row in rows)])
    width_version = max([len("version"), *(len(row[1]) for row in rows)])
    print(f"{'backend':<{width_name}}  {'version':<{width_version}}  status")
    for name, version, note in rows:
        print(f"{name:<{width_name}}  {version:<{width_version}}  {note}")
    if default is None:
        print("default: none installed (pip install 'ws-channel[all]')")
    else:
        source = f" (from ${registry.ENV_VAR})" if os.environ.get(registry.ENV_VAR) else ""
        print(f"default: {default}{source}")
        if default not in installed:
            raise CommandError(f"${registry.ENV_VAR} names {default!r}, which is not installed")
    return 0


def find_bench_root() -> Path | None:
    """The source checkout holding ``bench/`` next to this package, or ``None`` when installed."""
    root = Path(__file__).resolve().parent.parent
    if (root / "bench" / "__main__.py").is_file() and (root / "pyproject.toml").is_file():
        return root
    return None


def _bench_command(args: argparse.Namespace) -> int:
    root = find_bench_root()
    if root is None:
        raise CommandError(
            "the benchmark is not available: it lives in bench/ of the source checkout, which is not "
            "installed with the package; run it from a clone with an editable install (pip install -e .)"
        )
    forwarded: list[str] = []
    if args.quick:
        forwarded.append("--quick")
    if args.smoke:
        forwarded.append("--smoke")
    if args.json:
        forwarded += ["--json", str(Path(args.json).resolve())]
    if args.rounds is not None:
        forwarded += ["--rounds", str(args.rounds)]
    if args.connections is not None:
        forwarded += ["--connections", str(args.connections)]
    for stack in args.stack or ():
        forwarded += ["--stack", stack]
    for name in args.backend or ():
        forwarded += ["--backend", name]
    if args.placement is not None:
        forwarded += ["--placement", args.placement]
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(root), *filter(None, [environment.get("PYTHONPATH")])]
    )
    return subprocess.call([sys.executable, "-m", "bench", *forwarded], env=environment)


# -- the parser ---------------------------------------------------------------------------------


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the hand-written layout of descriptions and epilogs."""


def _add_backend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        metavar="NAME",
        help=f"the backend to use (default: ${registry.ENV_VAR}, else the first installed; "
        "see 'ws-channel backends')",
    )


def _add_loop(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--loop",
        choices=LOOPS,
        default="asyncio",
        help="the event loop (trio needs a backend that runs on it, such as raw; default: asyncio)",
    )


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--protocol", "-p", metavar="P", action="append", default=[],
        help="a subprotocol to offer (client) or accept (server); repeat for several",
    )
    parser.add_argument(
        "--no-compression", action="store_true", help="turn permessage-deflate off (on by default)"
    )
    parser.add_argument(
        "--max-size", metavar="BYTES", type=_parse_size, default=MAX_SIZE_DEFAULT,
        help="largest incoming message in bytes, 'none' for no limit (default: 1 MiB)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ws-channel``, with one subparser per command."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=_Formatter,
        description="Try WebSocket connections from the terminal, on any ws-channel backend.",
        epilog=(
            "examples:\n"
            "  ws-channel serve --echo --port 8765\n"
            "  ws-channel connect ws://127.0.0.1:8765/\n"
            "  printf 'hello\\nworld\\n' | ws-channel connect --backend aiohttp ws://127.0.0.1:8765/\n"
            "  ws-channel backends\n"
            "  ws-channel conformance --backend raw\n"
            "  ws-channel bench --quick\n"
            "\n"
            "exit status: 0 on success, 1 on an error or an unclean close, 2 on a usage error,\n"
            "130 after Ctrl-C."
        ),
    )
    parser.add_argument(
        "--traceback", action="store_true", help="show the full traceback of an error (for bug reports)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    connect_parser = commands.add_parser(
        "connect",
        formatter_class=_Formatter,
        help="open a client connection: stdin lines out, messages in",
        description=(
            "Connect to a WebSocket server. Each line read from stdin is sent as a text message;\n"
            "each incoming message is printed on stdout (binary ones as hex, long ones summarized).\n"
            "Status lines (connected, closed with code and reason) go to stderr. End of input\n"
            "(Ctrl-D, or the end of a pipe) closes the connection with 1000 and waits for the\n"
            "server's close; a server may close before it answered the last lines, so scripts\n"
            "use --expect N (close after N replies) or --wait SECONDS. The exit status is 0\n"
            "after a clean close (1000, 1001 or 1005)."
        ),
        epilog="examples:\n  ws-channel connect ws://127.0.0.1:8765/\n"
        "  printf 'a\\nb\\n' | ws-channel connect --expect 2 ws://127.0.0.1:8765/",
    )
    connect_parser.add_argument("url", metavar="URL", help="a ws:// or wss:// URL")
    connect_parser.add_argument(
        "--header", "-H", metavar="K:V", type=_parse_header, action="append", default=[],
        help="an extra header on the upgrade request; repeat for several",
    )
    connect_parser.add_argument(
        "--expect", metavar="N", type=_parse_count,
        help="close once N messages have been received (for request/response scripts)",
    )
    connect_parser.add_argument(
        "--wait", metavar="SECONDS", type=float,
        help="after end of input, keep printing incoming messages this long before closing "
        f"(default: until no message arrived for {LINGER} s, at most {LINGER_MAX} s; with --expect: "
        "until N messages arrived)",
    )
    connect_parser.add_argument(
        "--binary", action="store_true", help="send each line as a binary message (UTF-8 bytes)"
    )
    connect_parser.add_argument(
        "--timeout", metavar="SECONDS", type=float, default=10.0,
        help="time allowed to connect and complete the handshake (default: 10)",
    )
    _add_connection_options(connect_parser)
    _add_backend(connect_parser)
    _add_loop(connect_parser)
    connect_parser.set_defaults(handler=lambda args: _run_async(_connect_command, args))

    serve_parser = commands.add_parser(
        "serve",
        formatter_class=_Formatter,
        help="run a server that echoes (--echo) or prints what it receives",
        description=(
            "Serve WebSocket connections. With --echo every message is sent back as it came (text\n"
            "as text, binary as binary); without it, messages are printed. Connections are printed\n"
            "as they open and close, and the first line says where the server listens (with\n"
            "--port 0, the port the system picked). Ctrl-C or SIGTERM stops it, closing open\n"
            "connections with 1001."
        ),
        epilog="example:\n  ws-channel serve --echo --port 0 --backend raw",
    )
    serve_parser.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1)"
    )
    serve_parser.add_argument(
        "--port", type=_parse_port, default=8765, help="the port, 0 for any free one (default: 8765)"
    )
    serve_parser.add_argument("--echo", action="store_true", help="send every message back")
    _add_connection_options(serve_parser)
    _add_backend(serve_parser)
    _add_loop(serve_parser)
    serve_parser.set_defaults(handler=lambda args: _run_async(_serve_command, args))

    conformance_parser = commands.add_parser(
        "conformance",
        formatter_class=_Formatter,
        help="run the shared conformance suite (and Autobahn) against backends",
        description=(
            "Run the conformance suite against each backend named with --backend (default: every\n"
            "installed one). With --autobahn, also run the Autobahn|Testsuite against each backend\n"
            "as client and server (a selection of cases; --full runs all 517). Arguments after --\n"
            "go to pytest."
        ),
        epilog="example:\n  ws-channel conformance --backend raw --backend aiohttp -- -k close",
    )
    conformance_parser.add_argument(
        "--backend", metavar="NAME", action="append", default=[],
        help="a backend to test; repeat for several (default: every installed backend)",
    )
    conformance_parser.add_argument("--autobahn", action="store_true", help="also run Autobahn")
    conformance_parser.add_argument(
        "--full", action="store_true", help="with --autobahn: every case, not a quick selection"
    )
    conformance_parser.add_argument(
        "--role", choices=("client", "server"), action="append",
        help="with --autobahn: test only this role (default: both)",
    )
    conformance_parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    conformance_parser.set_defaults(handler=_conformance_command)

    backends_parser = commands.add_parser(
        "backends",
        help="list the backends, their versions and the default",
        description="List every registered backend: its version and event loops when installed, "
        "the extra to install when its library is missing, and the default backend.",
    )
    backends_parser.set_defaults(handler=_backends_command)

    bench_parser = commands.add_parser(
        "bench",
        formatter_class=_Formatter,
        help="run the echo benchmark and print its table",
        description=(
            "Run the echo benchmark (server and client in separate processes on 127.0.0.1): round\n"
            "trips, pipelined throughput and memory per idle connection for each backend, for the\n"
            "libraries used directly and for plain asyncio streams (the reference, 1.00). It needs\n"
            "a source checkout (bench/ next to the package); 'python -m bench' does the same."
        ),
    )
    bench_parser.add_argument("--quick", action="store_true", help="tiny counts, about a minute")
    bench_parser.add_argument("--smoke", action="store_true", help="a few seconds; checks it runs")
    bench_parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    bench_parser.add_argument("--rounds", type=int, metavar="N", help="interleaved rounds per stack")
    bench_parser.add_argument("--connections", type=int, metavar="N", help="idle connections to open")
    bench_parser.add_argument(
        "--stack", metavar="NAME", action="append", help="measure only this stack; repeat for several"
    )
    bench_parser.add_argument(
        "--backend", metavar="NAME", action="append", help="ws-channel backends to measure (default: all)"
    )
    bench_parser.add_argument(
        "--placement",
        choices=("split", "shared", "free"),
        help="CPUs of server and client: one each (split, the default), one for both, or unpinned",
    )
    bench_parser.set_defaults(handler=_bench_command)
    return parser


# -- error reporting ----------------------------------------------------------------------------


def _leaves(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, LookupError) and text.startswith(("'", '"')) and text.endswith(("'", '"')):
        text = text[1:-1]
    return text


def _report(error: BaseException, stream: TextIO) -> None:
    print(f"{PROG}: error: {_one_line(error)}", file=stream, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout was closed (``| head``): stop quietly, and keep Python from complaining at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
    except REPORTED as error:
        if args.traceback:
            raise
        _report(error, sys.stderr)
        return EXIT_FAILURE
    except BaseExceptionGroup as group:
        leaves = list(_leaves(group))
        if any(isinstance(leaf, KeyboardInterrupt) for leaf in leaves):
            return EXIT_INTERRUPTED
        known = [leaf for leaf in leaves if isinstance(leaf, REPORTED)]
        if not known or args.traceback:
            raise
        _report(known[0], sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
