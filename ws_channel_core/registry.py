"""Backends discovered by entry point (group ``ws_channel.backends``), loaded lazily and cached.

Selection: the ``backend=`` argument, else the ``WS_CHANNEL_BACKEND`` environment variable, else the
first installed backend in :data:`DEFAULT_ORDER`, then any other installed backend by name. Importing
this module imports no backend library.
"""

from __future__ import annotations

import os
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
]

GROUP = "ws_channel.backends"
ENV_VAR = "WS_CHANNEL_BACKEND"
#: Preference order among the built-in backends when none is named: raw first, because it needs no
#: extra (a plain install always has it), passes every Autobahn case and is the fastest.
DEFAULT_ORDER: tuple[str, ...] = ("raw", "websockets", "aiohttp")

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


def _load(name: str, entry_point: EntryPoint) -> Backend:
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
        extra = entry_point.extras[0] if entry_point.extras else name
        error = LookupError(
            f"backend {name!r} is registered but its library is missing ({exc}); "
            f"install it with: pip install 'ws-channel[{extra}]'. "
            f"Installed backends: {', '.join(available_backends(_skip=name)) or 'none'}"
        )
        error.__cause__ = exc
        _failed[name] = error
        raise error from exc
    if not isinstance(backend, Backend):
        raise LookupError(f"entry point {name!r} ({entry_point.value}) is not a ws-channel Backend")
    _loaded[name] = backend
    return backend


def available_backends(_skip: str | None = None) -> list[str]:
    """Names of the backends whose library is installed, in preference order."""
    names = []
    for name, entry_point in _entry_points().items():
        if name == _skip:
            continue
        try:
            _load(name, entry_point)
        except LookupError:
            continue
        names.append(name)
    return _ordered(names)


def default_backend_name() -> str:
    """The backend used when none is named: ``WS_CHANNEL_BACKEND``, else the first installed."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return configured
    installed = available_backends()
    if not installed:
        raise LookupError(
            "no ws-channel backend is installed; install one with: pip install 'ws-channel[all]'"
        )
    return installed[0]


def get_backend(name: str | None = None) -> Backend:
    """Return the backend called ``name`` (or the default one), loading it on first use.

    Raises:
        LookupError: the name is unknown, or its library is missing; the message lists the installed
            backends and the extra to install.
    """
    if name is None:
        name = default_backend_name()
    if not isinstance(name, str):
        raise TypeError(f"backend must be a str, not {type(name).__name__}")
    if name in _loaded:
        return _loaded[name]
    found = _entry_points()
    if name not in found:
        raise LookupError(
            f"unknown ws-channel backend {name!r}; installed: "
            f"{', '.join(available_backends()) or 'none'}"
        )
    return _load(name, found[name])


def clear_cache() -> None:
    """Forget loaded backends (for tests that install a backend at run time)."""
    _loaded.clear()
    _failed.clear()
