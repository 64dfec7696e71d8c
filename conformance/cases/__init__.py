"""The conformance cases, one module per group; :func:`case_functions` gathers them for re-export."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["GROUPS", "case_functions"]

#: Every group, in the order the report lists them; the module is ``conformance.cases.test_<group>``.
GROUPS: tuple[str, ...] = (
    "connect_uri",
    "handshake",
    "no_upgrade",
    "protocols",
    "channel",
    "pair",
    "payload_transfer",
    "close_local",
    "lifecycle",
    "close_remote",
    "close_never_hangs",
    "disconnect_after_upgrade",
    "peer_protocol_errors",
    "limits",
    "compression",
    "keepalive",
    "application",
    "load",
    "server",
    "interop",
)


def case_functions() -> dict[str, Callable[..., Any]]:
    """Every case function of every group, by name, for a test module that re-exports the suite.

    Raises:
        RuntimeError: two groups define a case with the same name.
    """
    found: dict[str, Callable[..., Any]] = {}
    for group in GROUPS:
        module = importlib.import_module(f"{__name__}.test_{group}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if not name.startswith("test_") or function.__module__ != module.__name__:
                continue
            if name in found:
                raise RuntimeError(f"case {name} is defined in two groups")
            found[name] = function
    return found
