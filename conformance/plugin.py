"""The pytest plugin that runs the conformance cases against backends (entry point ``pytest11``).

It loads in every pytest run, so it imports nothing heavy: backends are looked up only when a test
asks for the ``ws_backend`` fixture.

- ``--ws-backend NAME`` (repeatable) picks the backends; default: every registered one.
- A backend whose library is missing, or an event loop that is not installed (trio), is not a
  failure: its cases are collected and skipped with the reason (and the ``pip install`` that fixes it).
- ``ws_backend`` (a backend name) is parametrized over them, and each case runs on every event loop
  the backend supports (its optional ``event_loops`` attribute, default ``("asyncio",)``) through
  the anyio plugin's ``anyio_backend``. ``ws_server_backend`` adds a second backend for the
  interoperability matrix (client backend x server backend, on the loops both support).
- Every case gets a **case id**, ``"<group>/<name>"``: the group is the case module without its
  ``test_`` prefix, the name is the test function without its ``test_`` prefix, for example
  ``"close_local/close_with_a_reserved_code_raises_value_error"``. A parametrized case may also be
  named with its parameters, ``"<group>/<name>[<params>]"``, to single out one variant (the backend
  and event loop parameters are not part of it). A backend's optional ``expected_failures`` mapping
  (case id -> reason) turns the listed cases into strict expected failures for that backend alone
  (in the interop matrix: for the client's or the server's backend).
- ``ws_transport`` (``"tcp"`` or ``"memory"``) marks channel-level cases that run on a connected pair
  of channels (``conformance.support.open_pair``): over loopback TCP through ``serve`` and
  ``connect``, and in memory when the backend has an optional ``open_pair(client_options,
  server_options)`` (an async context manager yielding a connected ``(client, server)``), so a
  channel implementation can be checked without a network.
- A backend that plays only some roles (its optional ``roles`` attribute, for example a server-only
  backend) skips, with the reason, the cases needing a role it lacks: a case needs the client role
  when it (or a function of its module it calls) calls ``connect``, the server role when it calls
  ``serve`` (see :func:`roles_needed`); in the interop matrix ``ws_backend`` is the client and
  ``ws_server_backend`` the server.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

__all__ = [
    "CASE_ID",
    "GROUP",
    "BACKEND_FIXTURE",
    "SERVER_BACKEND_FIXTURE",
    "TRANSPORT_FIXTURE",
    "case_id_of",
    "group_of",
    "missing_backend",
    "missing_loop",
    "roles_needed",
]

BACKEND_FIXTURE = "ws_backend"
SERVER_BACKEND_FIXTURE = "ws_server_backend"
TRANSPORT_FIXTURE = "ws_transport"
_LOOP_FIXTURE = "anyio_backend"
_OPTION = "ws_backend_names"

#: Stash keys where each collected case keeps its case id and group.
CASE_ID = pytest.StashKey[str]()
GROUP = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ws-channel conformance")
    group.addoption(
        "--ws-backend",
        action="append",
        dest=_OPTION,
        default=None,
        metavar="NAME",
        help="ws-channel backend to run the conformance suite against (repeatable; "
        "default: every registered backend; those not installed are skipped)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ws_conformance: a ws-channel conformance case (set by the plugin)")


def _selected_backends(config: pytest.Config) -> list[str]:
    cached: list[str] | None = getattr(config, "_ws_channel_backends", None)
    if cached is not None:
        return cached
    from ws_channel_core import registered_backends

    registered = registered_backends()
    names: list[str] = list(config.getoption(_OPTION) or registered)
    unknown = [name for name in names if name not in registered]
    if unknown:
        raise pytest.UsageError(
            f"unknown ws-channel backend(s): {', '.join(unknown)}; registered: {', '.join(registered)}"
        )
    if not names:
        raise pytest.UsageError("no ws-channel backend is registered to run the conformance suite against")
    config._ws_channel_backends = names  # type: ignore[attr-defined]
    return names


def missing_backend(name: str) -> str | None:
    """Why ``name`` cannot run here (its library is missing), or ``None`` when it is installed."""
    from ws_channel_core import get_backend

    try:
        get_backend(name)
    except LookupError as exc:
        return str(exc)
    return None


def missing_loop(loop: str) -> str | None:
    """Why the event loop ``loop`` cannot run here (its library is missing), or ``None``."""
    from ws_channel_core.registry import event_loop_installed

    if loop == "sync" or event_loop_installed(loop):
        return None
    return f"{loop} is not installed: pip install 'ws-channel[{loop}]'"


def _skip_reason(backends: Sequence[str], loop: str) -> str | None:
    """The reason to skip a combination of backends and event loop, or ``None`` when it can run."""
    for name in dict.fromkeys(backends):
        reason = missing_backend(name)
        if reason is not None:
            return f"{name} is not installed: {reason}"
    reason = missing_loop(loop)
    if reason is not None:
        return f"{'/'.join(dict.fromkeys(backends))} on {loop}: {reason}"
    return None


def _backend_attribute(name: str, attribute: str, default: Any) -> Any:
    from ws_channel_core import get_backend

    try:
        backend = get_backend(name)
    except LookupError:
        return default  # its cases are skipped with the reason (see _skip_reason)
    return getattr(backend, attribute, default)


def _event_loops(name: str) -> tuple[str, ...]:
    return tuple(_backend_attribute(name, "event_loops", ("asyncio",)))


def _expected_failures(name: str) -> Mapping[str, str]:
    failures: Mapping[str, str] = _backend_attribute(name, "expected_failures", {})
    return failures


def roles_needed(function: Callable[..., Any]) -> tuple[str, ...]:
    """The roles a case needs from ``ws_backend``: ``"client"`` if it calls ``connect``, ``"server"``
    if it calls ``serve``, directly or through functions of its own module (names read from the code)."""
    names: set[str] = set()
    seen: set[types.CodeType] = set()
    module_globals = getattr(function, "__globals__", {})

    def walk(code: types.CodeType) -> None:
        if code in seen:
            return
        seen.add(code)
        names.update(code.co_names)
        for constant in code.co_consts:
            if isinstance(constant, types.CodeType):
                walk(constant)
        for name in code.co_names:
            helper = module_globals.get(name)
            if inspect.isfunction(helper) and helper.__module__ == function.__module__:
                walk(helper.__code__)

    walk(getattr(function, "__code__", None) or (lambda: None).__code__)
    return tuple(role for role, name in (("client", "connect"), ("server", "serve")) if name in names)


def _missing_role(name: str, role: str) -> str | None:
    roles = _backend_attribute(name, "roles", None)
    if roles is None or role in tuple(roles):
        return None
    return f"{name} cannot act as a {role} (its roles: {', '.join(roles)})"


def _param(
    values: tuple[Any, ...],
    backends: Sequence[str],
    loop: str,
    ident: str,
    roles: Sequence[tuple[str, str]] = (),
) -> Any:
    """One parametrization, marked as skipped with the reason when a library it needs is missing
    or a backend lacks a role the case needs (``roles``: ``(backend, role)`` pairs)."""
    reason = _skip_reason(backends, loop) or next(
        (why for why in (_missing_role(name, role) for name, role in roles) if why), None
    )
    marks = [pytest.mark.skip(reason=reason)] if reason else []
    if loop == "uvloop" and values and values[-1] == loop and not reason:
        values = (*values[:-1], _uvloop_backend())
    return pytest.param(*values, marks=marks, id=ident)


def _uvloop_backend() -> tuple[str, dict[str, Any]]:
    """The anyio backend for the event loop named "uvloop": asyncio with uvloop's loop factory."""
    import uvloop

    return ("asyncio", {"loop_factory": uvloop.new_event_loop})


def _loop_name(value: Any) -> str:
    """The event loop's name in ids: "uvloop" for asyncio with uvloop's loop factory."""
    return "uvloop" if isinstance(value, tuple) else str(value)


def _parametrize(metafunc: pytest.Metafunc, argnames: tuple[str, ...], values: list[Any]) -> None:
    # As a marker rather than a direct call: pytest then lets it take precedence over the anyio
    # plugin's own parametrized ``anyio_backend`` fixture, which this run per backend replaces.
    names: str | tuple[str, ...] = argnames[0] if len(argnames) == 1 else argnames
    metafunc.definition.add_marker(pytest.mark.parametrize(names, values))


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if BACKEND_FIXTURE not in metafunc.fixturenames:
        return
    names = _selected_backends(metafunc.config)
    is_async = _LOOP_FIXTURE in metafunc.fixturenames
    if SERVER_BACKEND_FIXTURE in metafunc.fixturenames:
        pairs: list[tuple[str, str, str]] = []
        for client in names:
            for server in names:
                loops = [loop for loop in _event_loops(client) if loop in _event_loops(server)]
                for loop in loops if is_async else ["sync"]:
                    pairs.append((client, server, loop))
        if is_async:
            values = [
                _param((c, s, loop), (c, s), loop, f"{c}-to-{s}-{loop}", ((c, "client"), (s, "server")))
                for c, s, loop in pairs
            ]
            _parametrize(metafunc, (BACKEND_FIXTURE, SERVER_BACKEND_FIXTURE, _LOOP_FIXTURE), values)
        else:
            values = [
                _param((c, s), (c, s), "sync", f"{c}-to-{s}", ((c, "client"), (s, "server")))
                for c, s, _ in pairs
            ]
            _parametrize(metafunc, (BACKEND_FIXTURE, SERVER_BACKEND_FIXTURE), values)
        return
    if TRANSPORT_FIXTURE in metafunc.fixturenames:
        _parametrize_pairs(metafunc, names)
        return
    needed = roles_needed(metafunc.function)
    if is_async:
        combos = [(name, loop) for name in names for loop in _event_loops(name)]
        values = [
            _param((name, loop), (name,), loop, f"{name}-{loop}", [(name, role) for role in needed])
            for name, loop in combos
        ]
        _parametrize(metafunc, (BACKEND_FIXTURE, _LOOP_FIXTURE), values)
    else:
        values = [_param((n,), (n,), "sync", n, [(n, role) for role in needed]) for n in names]
        _parametrize(metafunc, (BACKEND_FIXTURE,), values)


def _transports(name: str) -> tuple[str, ...]:
    """How a pair of ``name``'s channels can be made: over loopback TCP, and in memory when the
    backend offers ``open_pair`` (a channel implementation checked without a network)."""
    has_pair = callable(_backend_attribute(name, "open_pair", None))
    return ("tcp", "memory") if has_pair else ("tcp",)


def _parametrize_pairs(metafunc: pytest.Metafunc, names: Sequence[str]) -> None:
    """Channel-level cases run on a connected pair: each backend x transport x event loop."""
    values = [
        _param(
            (name, transport, loop),
            (name,),
            loop,
            f"{name}-{transport}-{loop}",
            [(name, "client"), (name, "server")] if transport == "tcp" else [],
        )
        for name in names
        for transport in _transports(name)
        for loop in _event_loops(name)
    ]
    _parametrize(metafunc, (BACKEND_FIXTURE, TRANSPORT_FIXTURE, _LOOP_FIXTURE), values)


def group_of(item: pytest.Item) -> str:
    """The group of a case: its module's last dotted part without the ``test_`` prefix."""
    function = getattr(item, "function", None)
    module = getattr(function, "__module__", "") or ""
    name = module.rsplit(".", 1)[-1]
    return name.removeprefix("test_")


def _backend_id(params: Mapping[str, Any]) -> str:
    """The id :func:`pytest_generate_tests` gave the backend (and loop) parametrization."""
    parts = [str(params[BACKEND_FIXTURE])]
    if SERVER_BACKEND_FIXTURE in params:
        parts.append("to")
        parts.append(str(params[SERVER_BACKEND_FIXTURE]))
    if TRANSPORT_FIXTURE in params:
        parts.append(str(params[TRANSPORT_FIXTURE]))
    if _LOOP_FIXTURE in params:
        parts.append(_loop_name(params[_LOOP_FIXTURE]))
    return "-".join(parts)


def _extra_params(item: pytest.Item) -> str:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return ""
    ids: Sequence[str] = getattr(callspec, "_idlist", ())
    own = [part for part in ids if part != _backend_id(callspec.params)]
    return "-".join(own)


def case_id_of(item: pytest.Item, *, with_params: bool = False) -> str:
    """The case id used in ``expected_failures`` (see the module docstring)."""
    function_name = getattr(item, "originalname", item.name)
    base = f"{group_of(item)}/{function_name.removeprefix('test_')}"
    if with_params:
        extra = _extra_params(item)
        if extra:
            return f"{base}[{extra}]"
    return base


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or BACKEND_FIXTURE not in callspec.params:
            continue
        case_id = case_id_of(item)
        item.stash[CASE_ID] = case_id
        item.stash[GROUP] = group_of(item)
        item.add_marker(pytest.mark.ws_conformance)
        candidates = (case_id_of(item, with_params=True), case_id)
        backends = [callspec.params[BACKEND_FIXTURE]]
        if SERVER_BACKEND_FIXTURE in callspec.params:
            backends.append(callspec.params[SERVER_BACKEND_FIXTURE])
        for backend in dict.fromkeys(backends):
            failures = _expected_failures(backend)
            reason = next((failures[key] for key in candidates if key in failures), None)
            if reason is not None:
                item.add_marker(pytest.mark.xfail(reason=f"{backend}: {reason}", strict=True))
                break
