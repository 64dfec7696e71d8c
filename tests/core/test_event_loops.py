"""A backend that cannot run on the running event loop is one clear, typed error from the front doors."""

from __future__ import annotations

import pytest

from ws_channel_core import UnsupportedEventLoop, available_backends, connect, get_backend, serve
from ws_channel_core.registry import event_loops_of, roles_of

pytestmark = pytest.mark.anyio

ASYNCIO_ONLY = [
    name
    for name in available_backends()
    if "trio" not in event_loops_of(get_backend(name))
]


@pytest.fixture
def anyio_backend() -> str:
    pytest.importorskip("trio", reason="trio is not installed: pip install 'ws-channel[trio]'")
    return "trio"


async def _never_called(channel: object) -> None:
    raise AssertionError("no connection was expected")


@pytest.mark.parametrize("backend", ASYNCIO_ONLY)
async def test_serve_on_trio_with_an_asyncio_only_backend_names_the_backends_that_can(backend: str) -> None:
    with pytest.raises(UnsupportedEventLoop) as raised:
        async with serve(_never_called, backend=backend):
            pass
    message = str(raised.value)
    assert f"{backend!r} does not run on trio" in message
    assert "raw" in message.split("backends that do:")[1]
    assert isinstance(raised.value, LookupError)


ASYNCIO_ONLY_CLIENTS = [name for name in ASYNCIO_ONLY if "client" in roles_of(get_backend(name))]


@pytest.mark.parametrize("backend", ASYNCIO_ONLY_CLIENTS)
async def test_connect_on_trio_with_an_asyncio_only_backend_names_the_backends_that_can(backend: str) -> None:
    with pytest.raises(UnsupportedEventLoop, match="backends that do: raw"):
        await connect("ws://127.0.0.1:9/", backend=backend)
