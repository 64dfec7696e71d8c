"""The entry point's target (``ws_channel.backends``: ``browser``): the backend, inside Pyodide only.

Outside Pyodide importing this module raises ``ImportError``, which the registry reports as the
backend being unavailable, so CPython never picks it.
"""

from __future__ import annotations

from . import _js
from .backend import BrowserBackend

__all__ = ["backend"]

_js.require_pyodide()

backend = BrowserBackend()
