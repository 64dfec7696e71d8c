"""The opening handshake, both roles, and permessage-deflate negotiation."""

from __future__ import annotations

import pytest

from ws_channel_backends.raw.deflate import DeflateParameters, accept_offer, accept_response
from ws_channel_backends.raw.handshake import (
    HttpReader,
    Request,
    accept_request,
    build_request,
    check_response,
    reject_response,
)
from ws_channel_core.errors import InvalidHandshake, InvalidHeader, InvalidStatus, NegotiationError
from ws_channel_core.handshake import sign_key

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def parse_request(data: bytes) -> Request:
    reader = HttpReader()
    reader.feed(data)
    request = reader.read_request()
    assert request is not None
    return request


def response_for(data: bytes, *, eof: bool = False) -> HttpReader:
    reader = HttpReader()
    reader.feed(data)
    if eof:
        reader.feed_eof()
    return reader


def upgrade(**replace: str | None) -> bytes:
    headers = {
        "Host": "example.com",
        "Upgrade": "websocket",
        "Connection": "keep-alive, Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
    }
    headers.update(replace)  # type: ignore[arg-type]
    lines = [f"{k}: {v}" for k, v in headers.items() if v is not None]
    return ("GET /chat HTTP/1.1\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode()


class TestClientRequest:
    def test_request_round_trips_through_the_server(self) -> None:
        wire = build_request(
            "example.com:8080", "/chat?x=1", KEY, protocols=["a", "b"], headers=[("Authorization", "t")]
        )
        request = parse_request(wire)
        assert (request.method, request.target) == ("GET", "/chat?x=1")
        assert request.headers.get("Host") == "example.com:8080"
        assert request.headers.get("authorization") == "t"
        result = accept_request(request, protocols=["b"], compression=True)
        assert result.protocol == "b"
        assert result.deflate == DeflateParameters()
        reader = response_for(result.response)
        response = reader.read_response()
        assert response is not None and response.status == 101
        client = check_response(response, KEY, protocols=["a", "b"])
        assert client.protocol == "b" and client.deflate == DeflateParameters()
        assert response.headers.get("Sec-WebSocket-Accept") == sign_key(KEY)

    def test_bytes_after_the_101_stay_buffered(self) -> None:
        head = b"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"
        reader = response_for(head + b"\x81\x00")
        assert reader.read_response() is not None
        assert bytes(reader.buffer) == b"\x81\x00"

    def test_refusal_carries_status_headers_and_body(self) -> None:
        reader = response_for(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\nX-A: b\r\n\r\nno!")
        response = reader.read_response()
        assert response is not None
        with pytest.raises(InvalidStatus) as info:
            check_response(response, KEY)
        assert (info.value.status_code, info.value.body, info.value.headers["X-A"]) == (403, b"no!", "b")

    def test_refusal_waits_for_its_body(self) -> None:
        reader = response_for(b"HTTP/1.1 500 Oops\r\nContent-Length: 10\r\n\r\nabc")
        assert reader.read_response() is None
        reader.feed_eof()
        response = reader.read_response()
        assert response is not None and response.body == b"abc"

    @pytest.mark.parametrize(
        ("headers", "error"),
        [
            ("Connection: upgrade\r\nSec-WebSocket-Accept: {accept}", "Upgrade"),
            ("Upgrade: websocket\r\nSec-WebSocket-Accept: {accept}", "Connection"),
            ("Upgrade: websocket\r\nConnection: upgrade", "Sec-WebSocket-Accept"),
            ("Upgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Accept: x", "Sec-WebSocket-Accept"),
        ],
    )
    def test_each_wrong_header_has_its_error(self, headers: str, error: str) -> None:
        wire = f"HTTP/1.1 101 OK\r\n{headers.format(accept=sign_key(KEY))}\r\n\r\n".encode()
        response = response_for(wire).read_response()
        assert response is not None
        with pytest.raises(InvalidHeader) as info:
            check_response(response, KEY)
        assert info.value.name == error

    @pytest.mark.parametrize(
        ("extra", "offered"),
        [
            ("Sec-WebSocket-Protocol: c", ["a"]),
            ("Sec-WebSocket-Protocol: a", []),
            ("Sec-WebSocket-Extensions: x-unknown", ["a"]),
        ],
    )
    def test_negotiation_errors(self, extra: str, offered: list[str]) -> None:
        wire = (
            "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
            f"Sec-WebSocket-Accept: {sign_key(KEY)}\r\n{extra}\r\n\r\n"
        ).encode()
        response = response_for(wire).read_response()
        assert response is not None
        with pytest.raises(NegotiationError):
            check_response(response, KEY, protocols=offered)

    def test_head_size_limit(self) -> None:
        reader = HttpReader(max_head_bytes=100)
        reader.feed(b"HTTP/1.1 101 OK\r\n" + b"X: " + b"a" * 200)
        with pytest.raises(InvalidHandshake, match="exceeds"):
            reader.read_response()

    def test_eof_before_the_head(self) -> None:
        with pytest.raises(InvalidHandshake, match="closed"):
            response_for(b"HTTP/1.1 101", eof=True).read_response()


class TestServerChecks:
    @pytest.mark.parametrize(
        ("change", "name"),
        [
            ({"Host": None}, "Host"),
            ({"Upgrade": None}, "Upgrade"),
            ({"Upgrade": "h2c"}, "Upgrade"),
            ({"Connection": "close"}, "Connection"),
            ({"Sec-WebSocket-Key": None}, "Sec-WebSocket-Key"),
            ({"Sec-WebSocket-Key": "short"}, "Sec-WebSocket-Key"),
            ({"Sec-WebSocket-Version": None}, "Sec-WebSocket-Version"),
            ({"Sec-WebSocket-Version": "8"}, "Sec-WebSocket-Version"),
        ],
    )
    def test_each_missing_or_wrong_header(self, change: dict[str, str | None], name: str) -> None:
        with pytest.raises(InvalidHeader) as info:
            accept_request(parse_request(upgrade(**change)))
        assert info.value.name == name
        status = 426 if name == "Sec-WebSocket-Version" else 400
        assert reject_response(info.value).startswith(f"HTTP/1.1 {status} ".encode())

    def test_post_is_refused(self) -> None:
        with pytest.raises(InvalidHandshake):
            accept_request(parse_request(upgrade().replace(b"GET", b"POST", 1)))

    def test_no_protocol_header_when_none_matches(self) -> None:
        result = accept_request(parse_request(upgrade(**{"Sec-WebSocket-Protocol": "x, y"})), protocols=["z"])
        assert result.protocol is None and b"Sec-WebSocket-Protocol" not in result.response

    def test_extra_headers_in_the_response(self) -> None:
        result = accept_request(parse_request(upgrade()), headers=[("X-Server", "raw")])
        assert b"\r\nX-Server: raw\r\n" in result.response


class TestDeflateNegotiation:
    def test_server_accepts_parameters(self) -> None:
        offer = (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=10; client_max_window_bits"
        )
        params = accept_offer([offer])
        assert params == DeflateParameters(True, True, 10, None)
        assert params.header_value() == (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=10"
        )

    @pytest.mark.parametrize(
        "offer",
        [
            "permessage-deflate; unknown",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=08",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; client_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "x-other",
        ],
    )
    def test_server_declines_bad_offers(self, offer: str) -> None:
        assert accept_offer([offer]) is None

    def test_server_falls_back_to_the_next_offer(self) -> None:
        assert accept_offer(["permessage-deflate; bogus, permessage-deflate"]) == DeflateParameters()

    def test_client_checks_the_answer(self) -> None:
        assert accept_response(["permessage-deflate; client_max_window_bits=9"]) == DeflateParameters(
            client_max_window_bits=9
        )
        for bad in [
            "permessage-deflate; foo",
            "permessage-deflate, permessage-deflate",
            "permessage-deflate; server_max_window_bits=7",
        ]:
            with pytest.raises(NegotiationError):
                accept_response([bad])
