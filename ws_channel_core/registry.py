"""Backends discovered by entry point (group ``ws_channel.backends``), loaded lazily and cached.

Selection: the ``backend=`` argument, else the ``WS_CHANNEL_BACKEND`` environment variable, else the
first installed backend in :data:`DEFAULT_ORDER`, then any other installed backend by name. A backend
may play only some :data:`ROLES` (its optional ``roles`` attribute); ``get_backend(name, role=...)``
checks it. Importing this module imports no backend library. Every failure is one ``LookupError``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from importlib.metadata import EntryPoint, entry_points

from .backend import Backend

__all__ = [
    "GROUP",
    "ENV_VAR",
    "DEFAULT_ORDER",
    "registered_backends",
    "available_backends",
    "get_backend",
    "default_backend_name",
    "clear_cache",
    "UnsupportedEventLoop",
    "check_event_loop",
    "running_library",
    "event_loops_of",
    "extra_of",
    "roles_of",
    "event_loop_installed",
    "ROLES",
]

GROUP = "ws_channel.backends"
ENV_VAR = "WS_CHANNEL_BACKEND"
#: Preference order among the built-in backends when none is named: raw first, because it needs no
#: extra (a plain install always has it), passes every Autobahn case and is the fastest. Inside
#: Pyodide (a web page) only the browser's own WebSocket can reach the network, so browser comes first.
DEFAULT_ORDER: tuple[str, ...] = (
    ("browser", "raw", "websockets", "aiohttp")
    if sys.platform == "emscripten"
    else ("raw", "websockets", "aiohttp")
)
#: The roles a backend may play; a backend without a ``roles`` attribute plays both.
ROLES: tuple[str, ...] = ("client", "server")

_loaded: dict[str, Backend] = {}
_failed: dict[str, Exception] = {}


def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for entry_point in entry_points(group=GROUP):
        found.setdefault(entry_point.name, entry_point)
    return found


def _ordered(names: list[str]) -> list[str]:
    preferred = [name for name in DEFAULT_ORDER if name in names]
    return preferred + sorted(name for name in names if name not in DEFAULT_ORDER)


def registered_backends() -> list[str]:
    """Names of every registered backend, installed library or not, in preference order."""
    return _ordered(list(_entry_points()))


def roles_of(backend: Backend) -> tuple[str, ...]:
    """The roles a backend plays: its optional ``roles`` attribute, default ``("client", "server")``."""
    return tuple(getattr(backend, "roles", ROLES))


def _load(name: str, entry_point: EntryPoint) -> Backend:
    """Import one backend (cached, failures too); the error never lists other backends.

    Listing the installed backends is left to :func:`get_backend`: building that list here would load
    the other backends from inside this one's failure, and recurse when two are missing.
    """
    if name in _loaded:
        return _loaded[name]
    if name in _failed:
        raise _failed[name]
    try:
        backend = entry_point.load()
    except AttributeError as exc:
        error = LookupError(f"entry point {name!r} ({entry_point.value}) names nothing loadable: {exc}")
        _failed[name] = error
        raise error from exc
    except ImportError as exc:
        # A backend whose entry point names no extra cannot be fixed by installing one (the browser
        # backend runs only inside Pyodide): its own ImportError says why.
        remedy = (
            f"; install it with: pip install 'ws-channel[{entry_point.extras[0]}]'"
            if entry_point.extras
            else ""
        )
        error = LookupError(f"backend {name!r} is registered but cannot be loaded here ({exc}){remedy}")
        error.__cause__ = exc
        _failed[name] = error
        raise error from exc
    if not isinstance(backend, Backend):
        error = LookupError(f"entry point {name!r} ({entry_point.value}) is not a ws-channel Backend")
        _failed[name] = error
        raise error
    _loaded[name] = backend
    return backend


def extra_of(entry_point: EntryPoint) -> str:
    """The extra that installs a backend's library: the first one its entry point names, else its name."""
    return entry_point.extras[0] if entry_point.extras else entry_point.name


def available_backends(_skip: str | None = None, *, role: str | None = None) -> list[str]:
    """Names of the backends whose library is installed (and that play ``role``), in preference order."""
    names = []
    for name, entry_point in _entry_points().items():
        if name == _skip:
            continue
        try:
            backend = _load(name, entry_point)
        except LookupError:
            continue
        if role is None or role in roles_of(backend):
            names.append(name)
    return _ordered(names)


def default_backend_name(role: str | None = None) -> str:
    """The backend used when none is named: ``WS_CHANNEL_BACKEND``, else the first installed one
    (that plays ``role``, when given)."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return configured
    installed = available_backends(role=role)
    if not installed:
        what = f"no ws-channel backend for the {role} role" if role else "no ws-channel backend"
        raise LookupError(f"{what} is installed; install one with: pip install 'ws-channel[all]'")
    return installed[0]


def _installed_text(role: str | None = None) -> str:
    return ", ".join(available_backends(role=role)) or "none"


def get_backend(name: str | None = None, role: str | None = None) -> Backend:
    """Return the backend called ``name`` (or the default one), loading it on first use.

    With ``role`` (``"client"`` or ``"server"``), the backend must play that role.

    Raises:
        LookupError: the name is unknown, its library is missing, or it does not play ``role``; the
            message lists the installed backends (that play ``role``) and the extra to install.
    """
    if role is not None and role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    if name is None:
        name = default_backend_name(role)
    if not isinstance(name, str):
        raise TypeError(f"backend must be a str, not {type(name).__name__}")
    backend = _loaded.get(name)
    if backend is None:
        found = _entry_points()
        if name not in found:
            raise LookupError(f"unknown ws-channel backend {name!r}; installed: {_installed_text()}")
        try:
            backend = _load(name, found[name])
        except LookupError as exc:
            raise LookupError(f"{exc}. Installed backends: {_installed_text()}") from exc.__cause__
    if role is not None and role not in roles_of(backend):
        raise LookupError(
            f"backend {name!r} cannot act as a {role} (its roles: {', '.join(roles_of(backend))}); "
            f"installed backends that can: {_installed_text(role)}"
        )
    return backend


class UnsupportedEventLoop(LookupError):
    """The backend cannot run on the event loop that is running (for example aiohttp under trio)."""


def event_loops_of(backend: Backend) -> tuple[str, ...]:
    """The event loops ``backend`` runs on (its optional ``event_loops``; default asyncio only)."""
    return tuple(getattr(backend, "event_loops", ("asyncio",)))


def running_library() -> str | None:
    """The async library running this task: ``"asyncio"`` (uvloop included), ``"trio"``, or ``None``.

    sniffio comes with trio (anyio no longer needs it): without it the loop can only be asyncio.
    """
    try:
        import sniffio
    except ImportError:  # pragma: no cover - depends on the environment
        return "asyncio"
    try:
        return sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return None


def check_event_loop(backend: Backend) -> None:
    """Raise :class:`UnsupportedEventLoop` when ``backend`` cannot run on the running event loop.

    The message names the installed backends that can. Called by ``connect()`` and ``serve()``, so
    every backend gets the same clear error instead of its library's own failure.
    """
    running = running_library()
    if running is None or running in event_loops_of(backend):
        return
    able = [name for name in available_backends() if running in event_loops_of(get_backend(name))]
    raise UnsupportedEventLoop(
        f"backend {backend.name!r} does not run on {running} (it runs on: "
        f"{', '.join(event_loops_of(backend))}); backends that do: {', '.join(able) or 'none installed'}"
    )


def event_loop_installed(loop: str) -> bool:
    """Whether the event loop library ``loop`` (``"asyncio"``, ``"trio"``, ``"uvloop"``) can be imported."""
    if loop == "asyncio":
        return True
    try:
        return importlib.util.find_spec(loop) is not None
    except (ImportError, ValueError):  # a broken or blocked install counts as missing
        return False


def clear_cache() -> None:
    """Forget loaded backends (for tests that install a backend at run time)."""
    _loaded.clear()
    _failed.clear()
