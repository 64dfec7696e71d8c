"""The opening handshake, both roles, and permessage-deflate negotiation."""

from __future__ import annotations

import pytest

from ws_channel_backends.raw.engine.deflate import DeflateParameters, accept_offer, accept_response
from ws_channel_backends.raw.engine.handshake import (
    HttpReader,
    accept_request,
    build_request,
    check_response,
    reject_response,
    request_bytes,
    upgrade_response_bytes,
)
from ws_channel_core.errors import InvalidHandshake, InvalidHeader, InvalidStatus, NegotiationError
from ws_channel_core.handshake import check_upgrade_request, sign_key
from ws_channel_core.http import Request, Response

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
        sent = build_request(
            "example.com:8080", "/chat?x=1", KEY, protocols=["a", "b"], headers=[("Authorization", "t")]
        )
        request = parse_request(request_bytes(sent))
        assert (request.method, request.raw_path, request.path) == ("GET", "/chat?x=1", "/chat")
        assert request.headers.items() == sent.headers.items()
        assert request.headers.get("Host") == "example.com:8080"
        assert request.headers.get("authorization") == "t"
        assert check_upgrade_request(request) is None
        result = accept_request(request, protocols=["b"], compression=True)
        assert result.protocol == "b"
        assert result.deflate == DeflateParameters()
        reader = response_for(upgrade_response_bytes(result.response))
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
        refused = info.value.response
        assert (refused.status, refused.reason, refused.body) == (403, "Forbidden", b"no!")
        assert refused.headers["X-A"] == "b"

    def test_refusal_keeps_duplicate_headers(self) -> None:
        wire = b"HTTP/1.1 401 No\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n"
        response = response_for(wire).read_response()
        assert response is not None
        assert response.headers.get_all("Set-Cookie") == ["a=1", "b=2"]

    def test_a_malformed_status_is_a_handshake_error(self) -> None:
        with pytest.raises(InvalidHandshake):
            response_for(b"HTTP/1.1 999 Nope\r\n\r\n", eof=True).read_response()

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
        ("change", "status"),
        [
            ({"Host": None}, 400),
            ({"Upgrade": None}, 426),
            ({"Upgrade": "h2c"}, 426),
            ({"Connection": "close"}, 400),
            ({"Sec-WebSocket-Key": None}, 400),
            ({"Sec-WebSocket-Key": "short"}, 400),
            ({"Sec-WebSocket-Version": None}, 426),
            ({"Sec-WebSocket-Version": "8"}, 426),
        ],
    )
    def test_each_missing_or_wrong_header_gets_the_shared_answer(
        self, change: dict[str, str | None], status: int
    ) -> None:
        refusal = check_upgrade_request(parse_request(upgrade(**change)))
        assert refusal is not None and refusal.status == status
        reader = response_for(reject_response(refusal), eof=True)
        answer = reader.read_response()
        assert answer is not None
        assert (answer.status, answer.body) == (status, refusal.body)
        assert answer.headers["Connection"] == "close"
        assert answer.headers["Content-Length"] == str(len(refusal.body))

    def test_the_request_knows_its_peer(self) -> None:
        reader = HttpReader()
        reader.feed(upgrade())
        request = reader.read_request(("127.0.0.1", 4242))
        assert isinstance(request, Request) and request.remote_address == ("127.0.0.1", 4242)

    def test_a_refusal_is_written_as_given(self) -> None:
        response = Response(401, [("WWW-Authenticate", "Bearer"), ("X", "1"), ("X", "2")], "token\n")
        wire = reject_response(response)
        assert wire.startswith(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nX: 1\r\nX: 2\r\n")
        assert wire.endswith(b"Content-Length: 6\r\nConnection: close\r\n\r\ntoken\n")

    def test_a_refusal_keeps_its_own_connection_header(self) -> None:
        wire = reject_response(Response(200, {"Connection": "keep-alive"}, "ok"))
        assert b"Connection: close" not in wire and b"Connection: keep-alive" in wire

    def test_the_101_is_written_with_exactly_its_headers(self) -> None:
        result = accept_request(parse_request(upgrade()), headers=[("X-Server", "raw")])
        result.response.headers.add("Set-Cookie", "a=1")
        result.response.headers.add("Set-Cookie", "b=2")
        wire = upgrade_response_bytes(result.response)
        assert wire.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        assert wire.endswith(b"X-Server: raw\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n")
        assert b"Content-Length" not in wire

    def test_an_unchecked_request_without_a_key_is_refused(self) -> None:
        with pytest.raises(InvalidHeader):
            accept_request(parse_request(upgrade(**{"Sec-WebSocket-Key": None})))

    def test_no_protocol_header_when_none_matches(self) -> None:
        result = accept_request(parse_request(upgrade(**{"Sec-WebSocket-Protocol": "x, y"})), protocols=["z"])
        assert result.protocol is None and "Sec-WebSocket-Protocol" not in result.response.headers


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
