"""The ws-channel backend over the browser's ``WebSocket``, for Python running in Pyodide.

Under Pyodide (``sys.platform == "emscripten"``) ``ws_channel_core.connect(url)`` uses it; it is a
client only. :func:`wrap` turns a ``WebSocket`` the page already has into a channel. On CPython the
package imports (for type checking and tests) but the registry does not offer the backend.
See :mod:`.backend` for the options the browser cannot honour, :mod:`.channel` for how events map
to the channel's state.
"""

from __future__ import annotations

from .backend import BrowserBackend, check_client_options
from .channel import BrowserChannel, wrap

__all__ = ["BrowserBackend", "BrowserChannel", "check_client_options", "wrap"]
