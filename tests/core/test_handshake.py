"""Handshake helpers: RFC 6455's worked example, key generation and checks, close arguments."""

from __future__ import annotations

import base64

import pytest

from ws_channel_core import (
    InvalidHeader,
    check_accept,
    check_close_arguments,
    generate_key,
    sign_key,
    validate_client_key,
)


def test_sign_key_matches_the_rfc_6455_example() -> None:
    # RFC 6455 section 1.3.
    assert sign_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_generated_keys_are_16_random_bytes_in_base64() -> None:
    keys = {generate_key() for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert len(base64.b64decode(key)) == 16
        assert validate_client_key(key) == key


@pytest.mark.parametrize("key", ["", "not base64!", base64.b64encode(b"short").decode(), "AAAA" * 8])
def test_a_malformed_client_key_is_rejected(key: str) -> None:
    with pytest.raises(InvalidHeader, match="Sec-WebSocket-Key"):
        validate_client_key(key)


def test_a_missing_client_key_is_rejected() -> None:
    with pytest.raises(InvalidHeader, match="missing Sec-WebSocket-Key"):
        validate_client_key(None)


def test_the_right_accept_value_passes() -> None:
    check_accept("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")


@pytest.mark.parametrize("accept", [None, "", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo", "AAAA"])
def test_a_wrong_or_missing_accept_value_fails(accept: str | None) -> None:
    with pytest.raises(InvalidHeader, match="Sec-WebSocket-Accept"):
        check_accept("dGhlIHNhbXBsZSBub25jZQ==", accept)


@pytest.mark.parametrize(("code", "reason"), [(None, None), (None, ""), (1000, None), (1001, "bye"),
                                              (3000, "x" * 123), (4999, "é" * 61), (1011, "")])
def test_valid_close_arguments_pass(code: int | None, reason: str | None) -> None:
    check_close_arguments(code, reason)


@pytest.mark.parametrize("code", [1004, 1005, 1006, 1015, 2999, 5000, 0])
def test_a_code_an_application_may_not_send_raises_value_error(code: int) -> None:
    with pytest.raises(ValueError, match=f"close code {code} may not be sent"):
        check_close_arguments(code, None)


def test_a_reason_of_124_utf8_bytes_raises_value_error() -> None:
    with pytest.raises(ValueError, match="124 bytes"):
        check_close_arguments(3000, "x" * 124)
    with pytest.raises(ValueError, match="124 bytes"):
        check_close_arguments(3000, "é" * 62)


def test_a_reason_without_a_code_raises_value_error() -> None:
    with pytest.raises(ValueError, match="requires a close code"):
        check_close_arguments(None, "why")


def test_wrong_types_raise_type_error() -> None:
    with pytest.raises(TypeError):
        check_close_arguments("1000", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        check_close_arguments(True, None)
    with pytest.raises(TypeError):
        check_close_arguments(1000, b"bytes")  # type: ignore[arg-type]


def test_a_reason_that_is_not_encodable_raises_value_error() -> None:
    with pytest.raises(ValueError, match="UTF-8"):
        check_close_arguments(1000, "\ud800")
