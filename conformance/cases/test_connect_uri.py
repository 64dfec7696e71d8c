"""connect_uri: URLs that are not ws:// or wss:// are refused before any I/O."""

from __future__ import annotations

import pytest

from conformance.support import connect
from ws_channel_core import InvalidURI, WebSocketChannelError


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1/",
        "https://127.0.0.1:1/",
        "ftp://127.0.0.1:1/",
        "127.0.0.1:1",
        "ws://",
        "ws://127.0.0.1:notaport/",
        "ws://127.0.0.1:1/#fragment",
        "",
    ],
)
def test_a_url_that_is_not_a_websocket_url_raises_value_error_before_any_io(
    ws_backend: str, url: str
) -> None:
    with pytest.raises(ValueError) as raised:
        connect(url, ws_backend)
    assert isinstance(raised.value, InvalidURI)
    assert isinstance(raised.value, WebSocketChannelError)


def test_a_url_that_is_not_a_string_raises_type_error(ws_backend: str) -> None:
    with pytest.raises(TypeError):
        connect(b"ws://127.0.0.1:1/", ws_backend)  # type: ignore[arg-type]
