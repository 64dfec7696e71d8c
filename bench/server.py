"""Server process: ``python -m bench.server STACK_JSON``; prints ``PORT n`` once it listens."""

from __future__ import annotations

import importlib
import signal
import sys

from bench.common import Config, ServeFunction
from bench.procstat import raise_fd_limit
from bench.stacks import Stack, run_on_loop

__all__ = ["main"]


def _ready(port: int) -> None:
    print(f"PORT {port}", flush=True)


async def _serve(serve: ServeFunction, config: Config) -> None:
    await serve(config, _ready)


def main(argv: list[str]) -> int:
    """Serve the stack's echo until killed (the runner sends SIGTERM)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's to handle
    raise_fd_limit()
    stack = Stack.from_json(argv[0])
    serve: ServeFunction = getattr(importlib.import_module(stack.module), stack.serve)
    run_on_loop(stack.loop, _serve, serve, stack.config)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
