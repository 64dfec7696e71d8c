"""Every public module lists its exports, and every listed name exists."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "ws_channel_core",
    "ws_channel_core.api",
    "ws_channel_core.backend",
    "ws_channel_core.base",
    "ws_channel_core.channel",
    "ws_channel_core.errors",
    "ws_channel_core.handshake",
    "ws_channel_core.options",
    "ws_channel_core.registry",
    "ws_channel_core.status",
    "ws_channel_core.uri",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__, name
    for export in module.__all__:
        assert hasattr(module, export), f"{name}.{export}"


def test_importing_the_core_imports_no_backend_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, ws_channel_core\n"
        "bad = [m for m in ('websockets', 'aiohttp', 'trio', 'ws_channel_backends') if m in sys.modules]\n"
        "print(bad); raise SystemExit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
