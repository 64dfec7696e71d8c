"""The asgi backend: ws-channel handlers served as ASGI applications (uvicorn, hypercorn, Starlette,
FastAPI), and an in-memory client to test ASGI WebSocket routes. A server only.

- :func:`asgi_app` turns a handler into an ASGI application; :func:`wrap` turns a Starlette / FastAPI
  ``WebSocket`` into a channel, :func:`wrap_asgi` does the same for a plain ASGI ``scope``.
- ``serve(handler, backend="asgi")`` runs the handler under uvicorn started in-process (option mapping:
  :mod:`.server`). ``connect(..., backend="asgi")`` is a ``LookupError``: there is no ASGI client.
- :func:`connect_app` connects to an ASGI application object without a network.

Importing this package needs no server library; the ``backend`` object (the entry point) needs uvicorn
(``pip install 'ws-channel[asgi]'``), :func:`wrap` needs Starlette.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .app import asgi_app, request_from_scope, wrap, wrap_asgi
from .channel import AsgiChannel
from .testing import ConnectApp, connect_app

if TYPE_CHECKING:
    from .backend import AsgiBackend

__all__ = [
    "AsgiBackend",
    "AsgiChannel",
    "ConnectApp",
    "asgi_app",
    "backend",
    "connect_app",
    "request_from_scope",
    "wrap",
    "wrap_asgi",
]


def __getattr__(name: str) -> Any:
    # The backend imports uvicorn: load it on first use, so asgi_app() and connect_app() work without
    # it, and a missing uvicorn is the registry's "install ws-channel[asgi]" message.
    if name in ("backend", "AsgiBackend"):
        from .backend import AsgiBackend

        globals()["AsgiBackend"] = AsgiBackend
        globals()["backend"] = AsgiBackend()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
