"""WebSocket URLs are checked before any I/O."""

from __future__ import annotations

import pytest

from ws_channel_core import InvalidURI, parse_uri


@pytest.mark.parametrize(
    ("url", "secure", "host", "port", "resource", "host_header"),
    [
        ("ws://example.com", False, "example.com", 80, "/", "example.com"),
        ("wss://example.com/chat?room=1", True, "example.com", 443, "/chat?room=1", "example.com"),
        ("ws://127.0.0.1:8765/x", False, "127.0.0.1", 8765, "/x", "127.0.0.1:8765"),
        ("ws://[::1]:9000/", False, "::1", 9000, "/", "[::1]:9000"),
        ("wss://h:443", True, "h", 443, "/", "h"),
    ],
)
def test_valid_urls_are_parsed(
    url: str, secure: bool, host: str, port: int, resource: str, host_header: str
) -> None:
    uri = parse_uri(url)
    assert (uri.secure, uri.host, uri.port, uri.resource, uri.host_header) == (
        secure, host, port, resource, host_header
    )


@pytest.mark.parametrize(
    "url",
    ["http://example.com", "https://example.com", "example.com", "", "ws://", "ws://host:port/",
     "ws://host:99999/", "ws://host/#frag", "ftp://x"],
)
def test_invalid_urls_raise_value_error(url: str) -> None:
    with pytest.raises(InvalidURI) as info:
        parse_uri(url)
    assert isinstance(info.value, ValueError)


def test_a_non_string_url_raises_type_error() -> None:
    with pytest.raises(TypeError):
        parse_uri(b"ws://x")  # type: ignore[arg-type]
