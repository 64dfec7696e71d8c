"""The exception tree: one root, the right builtins, close frames carried by ConnectionClosed."""

from __future__ import annotations

import pytest

from ws_channel_core import errors
from ws_channel_core.errors import (
    CloseFrame,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandshakeTimeout,
    InvalidStatus,
    PayloadTooBig,
    ProtocolError,
    WebSocketChannelError,
)
from ws_channel_core.http import Response


def test_every_public_error_derives_from_the_root() -> None:
    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, WebSocketChannelError), name


def test_invalid_uri_is_a_value_error_and_timeouts_are_timeout_errors() -> None:
    assert issubclass(errors.InvalidURI, ValueError)
    assert issubclass(HandshakeTimeout, TimeoutError)
    assert issubclass(errors.KeepaliveTimeout, TimeoutError)


def test_invalid_status_carries_status_headers_and_body() -> None:
    error = InvalidStatus(Response(404, {"Content-Type": "text/plain"}, b"not here"))
    assert error.status_code == 404
    assert error.headers["content-type"] == "text/plain"
    assert error.response.status == 404
    assert error.body == b"not here"
    assert "404" in str(error)


def test_payload_too_big_is_a_protocol_error_with_code_1009() -> None:
    error = PayloadTooBig("message of 2 MiB")
    assert isinstance(error, ProtocolError)
    assert error.close_code == 1009


@pytest.mark.parametrize(
    ("received", "sent", "kind"),
    [
        (CloseFrame(1000), CloseFrame(1000), ConnectionClosedOK),
        (CloseFrame(1001, "bye"), None, ConnectionClosedOK),
        (CloseFrame(1005), CloseFrame(1005), ConnectionClosedOK),
        (None, CloseFrame(1000), ConnectionClosedOK),
        (CloseFrame(1002), CloseFrame(1002), ConnectionClosedError),
        (CloseFrame(4000), None, ConnectionClosedError),
        (None, None, ConnectionClosedError),
    ],
)
def test_connection_closed_picks_ok_or_error_from_the_frames(
    received: CloseFrame | None, sent: CloseFrame | None, kind: type[ConnectionClosed]
) -> None:
    error = ConnectionClosed.for_frames(received, sent, True)
    assert type(error) is kind
    assert error.received == received and error.sent == sent
    assert error.code == (received.code if received else 1006)
