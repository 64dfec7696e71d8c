"""The engine package performs no I/O: importing it imports no event loop, socket or TLS module."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from ws_channel_backends.raw.engine import DEFAULT_MAX_SIZE
from ws_channel_core.options import DEFAULT_MAX_SIZE as CORE_DEFAULT_MAX_SIZE

# ws_channel_core's package __init__ imports its whole API (and with it anyio and asyncio), so the
# subprocess registers the three parent packages as bare namespaces: what is measured is what the
# engine modules themselves import.

_SCRIPT = textwrap.dedent(
    """
    import importlib.util, pkgutil, sys, types

    def bare(name):
        spec = importlib.util.find_spec(name)
        module = types.ModuleType(name)
        module.__path__ = list(spec.submodule_search_locations)
        sys.modules[name] = module

    for name in ("ws_channel_core", "ws_channel_backends", "ws_channel_backends.raw"):
        bare(name)
    import ws_channel_backends.raw.engine as engine
    for info in pkgutil.iter_modules(engine.__path__):
        importlib.import_module("ws_channel_backends.raw.engine." + info.name)
    forbidden = ("asyncio", "anyio", "trio", "socket", "ssl", "selectors", "uvloop")
    print(" ".join(sorted(m for m in forbidden if m in sys.modules)))
    """
)


def test_engine_imports_no_io_module() -> None:
    result = subprocess.run(
        [sys.executable, "-I", "-c", _SCRIPT], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_engine_default_max_size_is_the_core_default() -> None:
    assert DEFAULT_MAX_SIZE == CORE_DEFAULT_MAX_SIZE
