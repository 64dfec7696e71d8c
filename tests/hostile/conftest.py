"""Fixtures of the hostile-peer tests: the backends to attack and a server process per backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ws_channel_core import available_backends, get_backend
from ws_channel_core.registry import roles_of

from .attacker import ServerProcess

#: Every backend the project ships that runs on CPython; one that is not installed is skipped, saying so.
BACKENDS = ("raw", "websockets", "aiohttp", "asgi")


def backend_params(xfail: dict[str, str] | None = None, *, role: str = "server") -> list[object]:
    """One parameter per backend that plays ``role`` (the side under attack); ``xfail`` maps a backend
    to why it is expected to fail (strictly)."""
    installed = available_backends()
    params: list[object] = []
    for name in BACKENDS:
        marks: list[pytest.MarkDecorator] = []
        if name not in installed:
            marks.append(pytest.mark.skip(reason=f"backend {name!r} is not installed"))
        elif role not in roles_of(get_backend(name)):
            continue
        elif xfail and name in xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=xfail[name]))
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.fixture
def fresh_server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """A new server process for the parametrized backend (memory tests want a clean heap)."""
    server = ServerProcess(request.param)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def shared_servers() -> Iterator[dict[str, ServerProcess]]:
    """One long-lived server process per backend, started on first use, for a module's tests."""
    servers: dict[str, ServerProcess] = {}
    try:
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture
def server(request: pytest.FixtureRequest, shared_servers: dict[str, ServerProcess]) -> ServerProcess:
    """The module's server process for the parametrized backend."""
    name = request.param
    if name not in shared_servers or shared_servers[name].process.poll() is not None:
        shared_servers[name] = ServerProcess(name)
    return shared_servers[name]
