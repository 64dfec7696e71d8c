"""The one place that touches Pyodide: ``pyodide.ffi`` and the page's ``WebSocket``, imported lazily.

Everything here is typed ``Any``: JavaScript objects reach Python as ``JsProxy`` objects whose
attributes mypy cannot know. Importing this module works on CPython (nothing is imported until a
function is called), so the package can be type-checked, linted and collected by pytest anywhere.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

__all__ = ["RUNS_IN_PYODIDE", "require_pyodide", "ffi", "js", "pyodide_version", "websocket_class"]

#: ``True`` inside Pyodide (the browser, or Node running Pyodide).
RUNS_IN_PYODIDE = sys.platform == "emscripten"


def require_pyodide() -> None:
    """Raise ``ImportError`` unless running inside Pyodide (what the registry reports as missing)."""
    if not RUNS_IN_PYODIDE:
        raise ImportError(
            "the browser backend runs only inside Pyodide (sys.platform == 'emscripten'), "
            f"not on {sys.platform}; on CPython use raw, websockets or aiohttp"
        )


def ffi() -> Any:
    """The ``pyodide.ffi`` module (``create_proxy``, ``to_js``, ``JsException``...)."""
    return importlib.import_module("pyodide.ffi")


def js() -> Any:
    """The ``js`` module: JavaScript's global scope (``globalThis``)."""
    return importlib.import_module("js")


def pyodide_version() -> str:
    """Pyodide's version, or a note saying it is not running."""
    if not RUNS_IN_PYODIDE:
        return "not running under Pyodide"
    return str(getattr(importlib.import_module("pyodide"), "__version__", "unknown"))


def websocket_class() -> Any:
    """The page's ``WebSocket`` constructor (under Node: whatever was set as ``globalThis.WebSocket``).

    Raises:
        ImportError: not running under Pyodide, or the JavaScript side has no ``WebSocket``.
    """
    require_pyodide()
    websocket = getattr(js(), "WebSocket", None)
    if websocket is None:
        raise ImportError(
            "globalThis.WebSocket is not defined (under Node, set it first, for example to the "
            "npm 'ws' package's WebSocket)"
        )
    return websocket
