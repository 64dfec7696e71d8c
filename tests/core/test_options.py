"""Options: the design's safe defaults, and clear errors for values out of range."""

from __future__ import annotations

import ssl

import pytest

from ws_channel_core.options import ClientOptions, ServerOptions, normalize_headers


def test_defaults_are_the_designs() -> None:
    options = ClientOptions()
    assert options.max_size == 2**20
    assert options.compression == "deflate"
    assert (options.ping_interval, options.ping_timeout) == (20.0, 20.0)
    assert (options.connect_timeout, options.close_timeout) == (10.0, 10.0)
    assert options.max_queue == 16 and options.write_limit == 65536


@pytest.mark.parametrize(
    "kwargs",
    [{"max_size": 0}, {"max_size": -5}, {"ping_interval": 0}, {"close_timeout": -1},
     {"connect_timeout": 0}, {"max_queue": 0}, {"write_limit": 0}, {"compression": "gzip"},
     {"protocols": ("",)}, {"protocols": ("a b",)}, {"protocols": ("x,y",)}],
)
def test_out_of_range_values_raise_value_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ClientOptions(**kwargs)  # type: ignore[arg-type]


def test_wrong_types_raise_type_error() -> None:
    with pytest.raises(TypeError):
        ClientOptions(ping_interval="5")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ClientOptions(ssl="yes")  # type: ignore[arg-type]


def test_none_lifts_a_limit() -> None:
    options = ClientOptions(max_size=None, ping_interval=None, close_timeout=None)
    assert options.max_size is None and options.ping_interval is None


def test_a_server_needs_a_real_ssl_context() -> None:
    with pytest.raises(ValueError, match="SSLContext"):
        ServerOptions(ssl=True)
    ServerOptions(ssl=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH))


def test_headers_accept_a_mapping_or_pairs_and_reject_injection() -> None:
    assert normalize_headers({"X-A": "1"}) == (("X-A", "1"),)
    assert normalize_headers([("X-A", "1"), ("X-A", "2")]) == (("X-A", "1"), ("X-A", "2"))
    assert normalize_headers(None) == ()
    with pytest.raises(ValueError):
        normalize_headers({"X-A": "1\r\nEvil: yes"})
    with pytest.raises(ValueError):
        normalize_headers({"Bad Name": "1"})
    with pytest.raises(TypeError):
        normalize_headers({"X-A": 1})  # type: ignore[dict-item]
