"""The front doors check their arguments at call time, before any I/O."""

from __future__ import annotations

import pytest

from ws_channel_core import InvalidURI, connect, serve

pytestmark = pytest.mark.anyio


async def echo(channel: object) -> None:
    raise NotImplementedError


@pytest.mark.parametrize("url", ["http://localhost/", "https://localhost/", "localhost:80", "ws://"])
def test_connect_rejects_non_websocket_urls_at_call_time(url: str) -> None:
    with pytest.raises(InvalidURI):
        connect(url)


def test_connect_rejects_bad_options_at_call_time() -> None:
    with pytest.raises(ValueError):
        connect("ws://localhost/", max_size=0)
    with pytest.raises(ValueError):
        connect("ws://localhost/", compression="brotli")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="wss://"):
        connect("ws://localhost/", ssl=True)
    with pytest.raises(ValueError, match="needs TLS"):
        connect("wss://localhost/", ssl=False)


async def test_an_unknown_backend_raises_lookup_error_when_awaited() -> None:
    with pytest.raises(LookupError, match="unknown ws-channel backend 'nope'"):
        await connect("ws://127.0.0.1:9/", backend="nope")


def test_serve_rejects_bad_arguments_at_call_time() -> None:
    with pytest.raises(TypeError):
        serve("not callable")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        serve(echo, port=70000)  # type: ignore[arg-type]
    with pytest.raises(LookupError):
        serve(echo, backend="nope")  # type: ignore[arg-type]
