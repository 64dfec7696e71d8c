"""The websockets backend: a websockets-backend client against a websockets-backend server, wrap(),
error translation, and the Autobahn fixes the adapter makes (fragment cap, close mid-message)."""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.messages import Assembler
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import NegotiationError as WsNegotiationError
from websockets.frames import BINARY, CONT, TEXT, Frame
from websockets.http11 import Request, Response
from websockets.protocol import OPEN
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from ws_channel_backends.websockets_backend import WebsocketsChannel, backend, wrap
from ws_channel_backends.websockets_backend._fixes import (
    PENDING_PONGS,
    FixedServerProtocol,
    UncappedAssembler,
    start_draining,
)
from ws_channel_backends.websockets_backend.backend import UnsupportedEventLoop
from ws_channel_backends.websockets_backend.channel import ConnectionChannel
from ws_channel_core import (
    ConnectionClosed,
    HandshakeTimeout,
    InvalidHandshake,
    InvalidStatus,
    KeepaliveTimeout,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    ServerUnreachable,
    WebSocketChannel,
    WebSocketServer,
    connect,
    serve,
    status,
)
from ws_channel_core.channel import Message, State
from ws_channel_core.handshake import sign_key, upgrade_required
from ws_channel_core.http import Request as CoreRequest
from ws_channel_core.http import Response as CoreResponse
from ws_channel_core.options import ClientOptions, ServerOptions
from ws_channel_core.uri import parse_uri

pytestmark = pytest.mark.anyio

TIMEOUT = 2.0  # seconds; every test finishes far below this


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


Handler = Callable[[WebSocketChannel], Awaitable[None]]


@asynccontextmanager
async def running(handler: Handler, **options: Any) -> AsyncIterator[WebSocketServer]:
    """A websockets-backend server on 127.0.0.1 with a free port."""
    options.setdefault("close_timeout", 0.5)
    async with serve(handler, "127.0.0.1", 0, backend="websockets", **options) as server:
        yield server


def url(server: WebSocketServer) -> str:
    return f"ws://127.0.0.1:{server.port}/"


async def echo(channel: WebSocketChannel) -> None:
    async for message in channel.stream:
        await channel.sink.add(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- payloads ------------------------------------------------------------------------------------


async def test_text_binary_and_empty_messages_keep_their_type_and_order() -> None:
    messages: list[str | bytes] = ["Hello World!", b"\x01\x02\x03\x04\x05", "", b"", "🎨⛳🌈", b"\x00"]
    with anyio.fail_after(TIMEOUT):
        async with running(echo) as server, connect(url(server), backend="websockets") as channel:
            assert isinstance(channel, WebsocketsChannel)
            for message in messages:
                await channel.sink.add(message)
            received = [await anext(channel.stream) for _ in messages]
    assert received == messages
    assert [type(m) for m in received] == [type(m) for m in messages]


async def test_large_messages_round_trip_with_a_large_enough_max_size() -> None:
    rng = random.Random(6455)
    binary = rng.randbytes(1_000_000)
    text = "Hello World!" * 10_000
    with anyio.fail_after(TIMEOUT):
        async with (
            running(echo, max_size=2**21) as server,
            connect(url(server), backend="websockets", max_size=2**21) as channel,
        ):
            await channel.sink.add(binary)
            await channel.sink.add(text)
            assert await anext(channel.stream) == binary
            assert await anext(channel.stream) == text


# -- closing -------------------------------------------------------------------------------------


async def test_close_code_and_reason_are_seen_on_both_sides() -> None:
    seen: list[WebSocketChannel] = []

    async def handler(channel: WebSocketChannel) -> None:
        seen.append(channel)
        assert [m async for m in channel.stream] == []
        await channel.sink.done

    with anyio.fail_after(TIMEOUT):
        async with running(handler) as server:
            channel = await connect(url(server), backend="websockets")
            await channel.sink.close(3678, "raisin")
            await channel.sink.done
            assert (channel.close_code, channel.close_reason) == (3678, "raisin")
            assert channel.close_sent is not None and channel.close_sent.code == 3678
            assert channel.close_received_first is False
            await seen[0].sink.done
    assert (seen[0].close_code, seen[0].close_reason) == (3678, "raisin")
    assert seen[0].close_received_first is True


async def test_close_without_a_code_is_seen_as_1005() -> None:
    codes: list[int | None] = []

    async def handler(channel: WebSocketChannel) -> None:
        async for _ in channel.stream:
            pass
        await channel.sink.done
        codes.append(channel.close_code)

    with anyio.fail_after(TIMEOUT):
        async with running(handler) as server:
            channel = await connect(url(server), backend="websockets")
            await channel.sink.close()
            await channel.sink.close()  # idempotent
            assert channel.close_code == 1005
            assert channel.close_reason == ""
    assert codes == [1005]


async def test_a_dropped_tcp_connection_is_1006_and_done_completes_without_a_reader() -> None:
    async def handler(channel: WebSocketChannel) -> None:
        assert isinstance(channel, WebsocketsChannel)
        channel.connection.transport.abort()

    with anyio.fail_after(TIMEOUT):
        async with running(handler) as server:
            channel = await connect(url(server), backend="websockets")
            await channel.sink.done
            assert (channel.close_code, channel.close_reason) == (1006, "")
            assert channel.close_received is None
            assert [m async for m in channel.stream] == []
            with pytest.raises(ConnectionClosed) as info:
                await channel.sink.add("late")
            assert info.value.code == 1006


async def test_add_after_local_close_raises_connection_closed() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running(echo) as server:
            channel = await connect(url(server), backend="websockets")
            await channel.sink.close(status.NORMAL_CLOSURE)
            with pytest.raises(ConnectionClosed):
                await channel.sink.add("text")
            with pytest.raises(ConnectionClosed):
                await channel.sink.add(b"bytes")


async def test_add_after_remote_close_raises_connection_closed_at_once() -> None:
    async def handler(channel: WebSocketChannel) -> None:
        await channel.sink.close(4123, "server closed the connection")

    with anyio.fail_after(TIMEOUT):
        async with running(handler) as server:
            channel = await connect(url(server), backend="websockets", close_timeout=5)
            assert [m async for m in channel.stream] == []
            with pytest.raises(ConnectionClosed) as info:
                await channel.sink.add("text")
            assert (info.value.code, info.value.reason) == (4123, "server closed the connection")
            await channel.sink.close()  # after the peer's close: completes, does not raise
            assert (channel.close_code, channel.close_reason) == (4123, "server closed the connection")


async def test_close_arguments_are_checked_before_anything_is_sent() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running(echo) as server, connect(url(server), backend="websockets") as channel:
            for code in (1004, 1005, 1006, 2999, 5000):
                with pytest.raises(ValueError):
                    channel.sink.close(code)
            with pytest.raises(ValueError):
                channel.sink.close(3000, "x" * 124)
            await channel.sink.add("still open")
            assert await anext(channel.stream) == "still open"


async def test_leaving_serve_closes_clients_with_1001() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running(echo) as server:
            channel = await connect(url(server), backend="websockets")
            await channel.sink.add("ping")
            assert await anext(channel.stream) == "ping"
        await channel.sink.done
    assert channel.close_code == status.GOING_AWAY


async def test_seed_example_client_says_received_and_closes_going_away() -> None:
    """The seed README: on each message the client sends "received!" and closes with GOING_AWAY."""
    seen: list[str | bytes] = []
    server_close: list[int | None] = []

    async def handler(channel: WebSocketChannel) -> None:
        await channel.sink.add("hello")
        seen.extend([m async for m in channel.stream])
        server_close.append(channel.close_code)

    with anyio.fail_after(TIMEOUT):
        async with running(handler) as server:
            channel = await connect(url(server), backend="websockets")
            await channel.ready
            async for _message in channel.stream:
                await channel.sink.add("received!")
                await channel.sink.close(status.GOING_AWAY)
            await channel.sink.done
    assert seen == ["received!"]
    assert server_close == [1001]


# -- negotiation and headers ---------------------------------------------------------------------


async def test_server_picks_the_first_subprotocol_in_the_clients_order() -> None:
    chosen: list[str | None] = []

    async def handler(channel: WebSocketChannel) -> None:
        chosen.append(channel.protocol)

    with anyio.fail_after(TIMEOUT):
        async with running(handler, protocols=["a", "b"]) as server:
            for offered, expected in ((["b", "a"], "b"), (["c"], None), ([], None)):
                async with connect(url(server), backend="websockets", protocols=offered) as channel:
                    assert channel.protocol == expected
    assert chosen == ["b", None, None]


async def test_a_subprotocol_the_client_did_not_offer_fails_the_handshake() -> None:
    def pick_unoffered(_conn: ServerConnection, _offered: Any) -> Subprotocol:
        return Subprotocol("evil")

    async def handler(connection: ServerConnection) -> None:
        await connection.wait_closed()

    with anyio.fail_after(TIMEOUT):
        async with ws_serve(handler, "127.0.0.1", 0, select_subprotocol=pick_unoffered) as server:
            port = server.sockets[0].getsockname()[1]
            with pytest.raises(NegotiationError) as info:
                await connect(f"ws://127.0.0.1:{port}/", backend="websockets", protocols=["good"])
            assert isinstance(info.value.__cause__, WsNegotiationError)


async def test_headers_reach_the_server_and_the_client() -> None:
    request_headers: list[dict[str, str]] = []

    async def handler(channel: WebSocketChannel) -> None:
        assert isinstance(channel, WebsocketsChannel)
        request = channel.connection.request
        assert request is not None
        request_headers.append(dict(request.headers.raw_items()))

    with anyio.fail_after(TIMEOUT):
        async with (
            running(handler, headers={"X-Server": "yes", "Server": "ours"}) as server,
            connect(
                url(server),
                backend="websockets",
                headers=[("User-Agent", "ws-channel-test"), ("Authorization", "Bearer t")],
            ) as channel,
        ):
            assert isinstance(channel, WebsocketsChannel)
            response = channel.connection.response
            assert response is not None
            assert response.headers["X-Server"] == "yes"
            assert response.headers.get_all("Server") == ["ours"]
    assert request_headers[0]["User-Agent"] == "ws-channel-test"
    assert request_headers[0]["Authorization"] == "Bearer t"


async def test_unknown_extra_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="nonsense"):
        await connect("ws://127.0.0.1:1/", backend="websockets", extra={"nonsense": 1})
    with pytest.raises(ValueError, match="nonsense"):
        async with serve(echo, backend="websockets", extra={"nonsense": 1}):
            pass


# -- keepalive and limits ------------------------------------------------------------------------


async def test_keepalive_detects_a_peer_that_stops_answering() -> None:
    release = anyio.Event()

    async def handler(channel: WebSocketChannel) -> None:
        assert isinstance(channel, WebsocketsChannel)
        channel.connection.transport.pause_reading()  # pings are no longer read, so never answered
        await release.wait()
        channel.connection.transport.resume_reading()

    with anyio.fail_after(TIMEOUT):
        async with running(handler, ping_interval=None) as server:
            channel = await connect(
                url(server), backend="websockets", ping_interval=0.05, ping_timeout=0.05, close_timeout=0.1
            )
            await channel.sink.done
            release.set()
    assert isinstance(channel.close_error, KeepaliveTimeout)
    assert channel.close_code in (1006, 1011)
    assert channel.close_sent is not None and channel.close_sent.code == 1011


async def test_keepalive_pongs_are_handled_without_a_reader() -> None:
    async def handler(channel: WebSocketChannel) -> None:
        await anyio.sleep(0.3)  # nobody reads on either side meanwhile

    with anyio.fail_after(TIMEOUT):
        async with running(handler, ping_interval=0.05, ping_timeout=0.1) as server:
            channel = await connect(url(server), backend="websockets", ping_interval=0.05, ping_timeout=0.1)
            await channel.sink.done
    assert channel.close_code == 1000
    assert channel.close_error is None


async def test_a_message_over_max_size_closes_with_1009() -> None:
    server_side: list[WebSocketChannel] = []

    async def handler(channel: WebSocketChannel) -> None:
        server_side.append(channel)
        assert [m async for m in channel.stream] == []

    with anyio.fail_after(TIMEOUT):
        async with running(handler, max_size=1024) as server:
            channel = await connect(url(server), backend="websockets")
            await channel.sink.add(b"x" * 1025)
            assert [m async for m in channel.stream] == []
            await channel.sink.done
            assert channel.close_code == 1009
    error = server_side[0].close_error
    assert isinstance(error, PayloadTooBig) and error.close_code == 1009
    assert server_side[0].close_sent is not None and server_side[0].close_sent.code == 1009


# -- wrap() ---------------------------------------------------------------------------------------


async def test_wrap_a_websockets_client_connection() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running(echo) as server:
            connection: ClientConnection = await ws_connect(url(server), proxy=None)
            channel = wrap(connection)
            await channel.sink.add("wrapped")
            assert await anext(channel.stream) == "wrapped"
            await channel.sink.close(3000, "bye")
            assert (channel.close_code, channel.close_reason) == (3000, "bye")


async def test_wrap_a_websockets_server_connection() -> None:
    async def handler(connection: ServerConnection) -> None:
        channel = wrap(connection)
        async for message in channel.stream:
            await channel.sink.add(message)
        await channel.sink.done

    with anyio.fail_after(TIMEOUT):
        async with ws_serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}/", backend="websockets") as channel:
                await channel.sink.add(b"\x01\x02")
                assert await anext(channel.stream) == b"\x01\x02"


def test_wrap_refuses_other_objects() -> None:
    with pytest.raises(TypeError):
        wrap(object())  # type: ignore[arg-type]


# -- error translation ---------------------------------------------------------------------------


async def test_a_refused_connection_is_server_unreachable_caused_by_oserror() -> None:
    with anyio.fail_after(TIMEOUT), pytest.raises(ServerUnreachable) as info:
        await connect(f"ws://127.0.0.1:{free_port()}/", backend="websockets")
    assert isinstance(info.value, InvalidHandshake)
    assert isinstance(info.value.__cause__, OSError)


async def test_a_404_answer_is_invalid_status_with_status_headers_and_body() -> None:
    def refuse(connection: ServerConnection, _request: Request) -> Response:
        return connection.respond(404, "no such socket\n")

    async def handler(connection: ServerConnection) -> None:
        raise AssertionError("not reached")

    with anyio.fail_after(TIMEOUT):
        async with ws_serve(handler, "127.0.0.1", 0, process_request=refuse) as server:
            port = server.sockets[0].getsockname()[1]
            with pytest.raises(InvalidStatus) as info:
                await connect(f"ws://127.0.0.1:{port}/", backend="websockets")
    assert info.value.status_code == 404
    assert info.value.body == b"no such socket\n"
    assert info.value.headers["Content-Type"].startswith("text/plain")
    assert info.value.__cause__ is not None


def test_backend_attributes() -> None:
    import websockets

    assert backend.name == "websockets"
    assert backend.version == websockets.version.version
    assert dict(backend.expected_failures) == {}
    assert dict(backend.autobahn_expected_failures) == {}


# -- Autobahn fixes made in the adapter ---------------------------------------------------------


async def test_more_than_4096_fragments_are_assembled_within_max_size() -> None:
    """Autobahn 9.3.x/9.4.x: websockets alone closes with 1009 "too many fragments"."""
    with anyio.fail_after(TIMEOUT):
        async with (
            running(echo, compression=None) as server,
            ws_connect(url(server), proxy=None, compression=None) as connection,
        ):
            await connection.send(["ab"] * 5000)
            assert await connection.recv() == "ab" * 5000
            await connection.send([b"\x00"] * 5000)
            assert await connection.recv() == b"\x00" * 5000


async def test_fragments_still_count_against_max_size() -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            running(echo, max_size=1000, compression=None) as server,
            ws_connect(url(server), proxy=None, compression=None) as connection,
        ):
            await connection.send([b"\x00"] * 1001)
            await connection.wait_closed()
            assert connection.close_code == 1009


async def test_invalid_utf8_in_a_fragment_fails_the_connection_with_1007() -> None:
    server_side: list[WebSocketChannel] = []

    async def handler(channel: WebSocketChannel) -> None:
        server_side.append(channel)
        assert [m async for m in channel.stream] == []

    with anyio.fail_after(TIMEOUT):
        async with (
            running(handler, compression=None) as server,
            ws_connect(url(server), proxy=None, compression=None) as connection,
        ):
            async with connection.send_context():
                connection.protocol.send_text(b"ok", fin=False)
                connection.protocol.send_continuation(b"\xff", fin=False)  # message not finished
            await connection.wait_closed()
            assert connection.close_code == 1007
    error = server_side[0].close_error
    assert isinstance(error, ProtocolError) and error.close_code == 1007


async def test_a_close_in_the_middle_of_a_fragmented_message_is_answered_normally() -> None:
    """Autobahn 7.1.5: websockets alone fails the connection with 1002."""
    server_side: list[WebSocketChannel] = []

    async def handler(channel: WebSocketChannel) -> None:
        server_side.append(channel)
        assert [m async for m in channel.stream] == []

    with anyio.fail_after(TIMEOUT):
        async with (
            running(handler, compression=None) as server,
            ws_connect(url(server), proxy=None, compression=None) as connection,
        ):
            async with connection.send_context():
                connection.protocol.send_text(b"frag1", fin=False)
                connection.protocol.send_close(1000)
            await connection.wait_closed()
            assert connection.close_code == 1000
    assert server_side[0].close_code == 1000
    assert server_side[0].close_error is None


async def test_a_cancelled_read_does_not_lose_a_fragmented_message() -> None:
    async def handler(channel: WebSocketChannel) -> None:
        assert isinstance(channel, WebsocketsChannel)
        connection = channel.connection
        async with connection.send_context():
            connection.protocol.send_binary(b"part1-", fin=False)
        await anyio.sleep(0.05)
        async with connection.send_context():
            connection.protocol.send_continuation(b"part2", fin=True)
        await channel.sink.done

    with anyio.fail_after(TIMEOUT):
        async with (
            running(handler, compression=None) as server,
            connect(url(server), backend="websockets", compression=None) as channel,
        ):
            with anyio.move_on_after(0.02) as scope:
                await anext(channel.stream)  # takes the first fragment, then is cancelled
            assert scope.cancelled_caught
            assert await anext(channel.stream) == b"part1-part2"


# -- never hang ------------------------------------------------------------------------------------


async def test_a_server_that_never_answers_the_upgrade_is_a_handshake_timeout() -> None:
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)

        async def accept_and_stall(stream: anyio.abc.SocketStream) -> None:
            async with stream:
                await anyio.sleep_forever()

        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, accept_and_stall)
            with anyio.fail_after(TIMEOUT), pytest.raises(HandshakeTimeout):
                await connect(f"ws://127.0.0.1:{port}/", backend="websockets", connect_timeout=0.1)
            tg.cancel_scope.cancel()


async def test_close_against_a_peer_that_never_answers_aborts_after_close_timeout() -> None:
    release = anyio.Event()

    async def handler(channel: WebSocketChannel) -> None:
        assert isinstance(channel, WebsocketsChannel)
        channel.connection.transport.pause_reading()  # the close frame is never read nor answered
        await release.wait()
        channel.connection.transport.resume_reading()

    reads: list[str | bytes] = []

    async def read_all(channel: WebSocketChannel) -> None:
        reads.extend([m async for m in channel.stream])

    with anyio.fail_after(TIMEOUT):
        async with running(handler, ping_interval=None) as server:
            channel = await connect(url(server), backend="websockets", close_timeout=0.1, ping_interval=None)
            async with anyio.create_task_group() as tg:
                tg.start_soon(read_all, channel)  # a pending read, woken by the close
                await anyio.wait_all_tasks_blocked()
                started = anyio.current_time()
                await channel.sink.close(1000)
                assert anyio.current_time() - started < 0.5
            release.set()
    assert reads == []
    assert channel.close_code == 1006
    assert channel.close_sent is not None and channel.close_sent.code == 1000


async def test_leaving_serve_cancels_handlers_that_ignore_the_close() -> None:
    async def stubborn(channel: WebSocketChannel) -> None:
        await anyio.sleep_forever()

    with anyio.fail_after(TIMEOUT):
        async with running(stubborn, close_timeout=0.1) as server:
            channel = await connect(url(server), backend="websockets")
        await channel.sink.done
    assert channel.close_code == status.GOING_AWAY


# -- TLS -------------------------------------------------------------------------------------------


@pytest.fixture
def tls_contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throwaway self-signed certificate for 127.0.0.1: (server context, client context)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    return server_context, client_context


async def test_wss_echo_with_ssl_contexts(tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_context, client_context = tls_contexts
    with anyio.fail_after(TIMEOUT):
        async with (
            running(echo, ssl=server_context) as server,
            connect(f"wss://127.0.0.1:{server.port}/", backend="websockets", ssl=client_context) as channel,
        ):
            await channel.sink.add("secret")
            assert await anext(channel.stream) == "secret"


async def test_an_idle_channel_runs_no_task_of_its_own_and_done_still_completes() -> None:
    # done is driven by a callback on websockets' connection_lost_waiter, not by a watcher task.
    server_side: list[WebSocketChannel] = []

    async def handler(channel: WebSocketChannel) -> None:
        server_side.append(channel)
        await channel.sink.done

    with anyio.fail_after(TIMEOUT):
        async with running(handler, ping_interval=None) as server:
            channel = await connect(url(server), backend="websockets", ping_interval=None)
            await anyio.wait_all_tasks_blocked()
            prefixes = ("WebsocketsChannel.", "ChannelBase.")
            ours = [
                task
                for task in asyncio.all_tasks()
                if getattr(task.get_coro(), "__qualname__", "").startswith(prefixes)
            ]
            assert ours == []
            await channel.sink.close(4001, "bye")  # nobody reads on either side
            await server_side[0].sink.done
    assert (server_side[0].close_code, server_side[0].close_reason) == (4001, "bye")


# -- handshake in the open: exactly the response decided, on the wire ------------------------------------


async def _raw_upgrade(port: int, head: bytes) -> bytes:
    """Send ``head`` on a plain TCP connection; return everything the server sends until it closes."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(head)
        answer = b""
        with anyio.move_on_after(TIMEOUT):
            while True:
                try:
                    answer += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    break
    return answer


_UPGRADE = (
    b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def test_a_refusal_is_sent_exactly_with_duplicate_headers_and_no_library_header() -> None:
    def refuse(request: CoreRequest) -> CoreResponse:
        return CoreResponse(
            401, [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("WWW-Authenticate", "Bearer")], "no\n"
        )

    async with running(echo, process_request=refuse) as server:
        answer = await _raw_upgrade(server.port, _UPGRADE)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n") == [
        b"HTTP/1.1 401 Unauthorized",
        b"Set-Cookie: a=1",
        b"Set-Cookie: b=2",
        b"WWW-Authenticate: Bearer",
        b"Content-Length: 3",
        b"Connection: close",
    ]
    assert body == b"no\n"


async def test_a_plain_get_gets_the_shared_426_not_websockets_own_answer() -> None:
    async with running(echo) as server:
        answer = await _raw_upgrade(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert b"\r\nSec-WebSocket-Version: 13" in head
    assert body == upgrade_required("expected an 'Upgrade: websocket' request").body


async def test_server_headers_replace_the_librarys_and_process_response_sees_core_types() -> None:
    seen: list[tuple[CoreRequest, CoreResponse]] = []

    def add_cookie(request: CoreRequest, response: CoreResponse) -> None:
        seen.append((request, response))
        response.headers.add("Set-Cookie", "session=1")

    async with running(echo, headers={"Server": "ours"}, process_response=add_cookie) as server:
        answer = await _raw_upgrade(server.port, _UPGRADE)
    head = answer.partition(b"\r\n\r\n")[0]
    assert head.startswith(b"HTTP/1.1 101 ")
    assert head.count(b"\r\nServer: ") == 1 and b"\r\nServer: ours" in head
    assert head.endswith(b"\r\nSet-Cookie: session=1")
    request, response = seen[0]
    assert request.path == "/chat" and request.headers["Host"] == "x"
    assert isinstance(response, CoreResponse) and response.status == 101


async def test_channel_metadata_is_converted_on_first_use_and_kept() -> None:
    channels: list[WebSocketChannel] = []

    async def keep(channel: WebSocketChannel) -> None:
        channels.append(channel)
        await echo(channel)

    async with running(keep) as server:
        with anyio.fail_after(TIMEOUT):
            async with connect(url(server) + "p?q=1", backend="websockets") as client:
                await client.sink.add("x")
                assert await client.stream.__anext__() == "x"
    server_channel = channels[0]
    assert server_channel.request is not None and server_channel.request.query == {"q": ["1"]}
    assert server_channel.request is server_channel.request
    assert client.response is not None and client.response.status == 101
    assert client.request is not None and client.request.raw_path == "/p?q=1"
    assert isinstance(server_channel, WebsocketsChannel)
    assert server_channel.id == server_channel.connection.id
    assert client.remote_address == ("127.0.0.1", server.port)


# -- at most one pending pong ---------------------------------------------------------------------------


def _pings(count: int) -> bytes:
    return bytes([0x89, 0x80, 0, 0, 0, 0]) * count  # masked, empty pings from a client


def test_a_read_full_of_pings_queues_a_bounded_number_of_pongs_and_keeps_no_ping_event() -> None:
    protocol = ServerProtocol(state=OPEN)
    protocol.__class__ = FixedServerProtocol  # as install_fixes() does
    protocol.receive_data(_pings(10_000))
    assert protocol.events_received() == []
    assert protocol.data_to_send() == [b"\x8a\x00"] * PENDING_PONGS


def test_a_few_pings_in_one_read_each_get_their_pong() -> None:
    # Autobahn 2.10 / 2.11: a peer sending ten pings together expects ten pongs.
    protocol = ServerProtocol(state=OPEN)
    protocol.__class__ = FixedServerProtocol
    protocol.receive_data(_pings(10))
    assert protocol.data_to_send() == [b"\x8a\x00"] * 10


def test_pongs_are_held_back_while_the_write_buffer_is_full() -> None:
    protocol = FixedServerProtocol(state=OPEN)
    protocol.hold_pongs = True
    protocol.receive_data(_pings(3))
    assert protocol.data_to_send() == []
    assert protocol.held_pong == b"\x8a\x00"


# -- closing ----------------------------------------------------------------------------------------------


def state_of(channel: WebSocketChannel) -> State:
    """Read ``state`` through a call, so a type checker does not narrow it between two reads."""
    return channel.state


def _oversize_then_silence(listener: socket.socket, done: threading.Event) -> None:
    conn, _ = listener.accept()
    with conn:
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(4096)
        key = next(
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = sign_key(key.decode()).encode()
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        conn.sendall(bytes([0x82, 127]) + (2000).to_bytes(8, "big") + bytes(2000))
        done.wait(5)  # read nothing more, answer nothing


async def test_a_client_that_failed_records_its_close_at_once_and_ends_within_close_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        done = threading.Event()
        thread = threading.Thread(target=_oversize_then_silence, args=(listener, done))
        thread.start()
        try:
            with anyio.fail_after(3 * TIMEOUT):
                channel = await connect(
                    f"ws://127.0.0.1:{port}/", backend="websockets",
                    max_size=1000, ping_interval=None, close_timeout=0.3,
                )
                for _ in range(100):  # the 1009 is recorded as soon as the frame is read
                    if channel.close_sent is not None:
                        break
                    await anyio.sleep(0.01)
                assert channel.close_sent is not None and channel.close_sent.code == 1009
                assert state_of(channel) is State.CLOSING
                assert isinstance(channel.close_error, PayloadTooBig)
                started = time.monotonic()
                assert [m async for m in channel.stream] == []
                await channel.sink.done
                assert time.monotonic() - started < 0.3 + 1.0  # close_timeout, not a keepalive tick
                assert channel.close_code == 1006
                assert state_of(channel) is State.CLOSED
        finally:
            done.set()
            thread.join()


async def test_after_a_local_close_unread_messages_beyond_max_queue_are_dropped() -> None:
    sent = anyio.Event()

    async def flood(channel: WebSocketChannel) -> None:
        for index in range(200):
            await channel.sink.add(f"m{index}")
        sent.set()
        await channel.sink.done

    async with running(flood) as server:
        with anyio.fail_after(TIMEOUT):
            channel = await connect(url(server), backend="websockets", max_queue=4)
            await sent.wait()
            await anyio.sleep(0.05)  # reading is paused: max_queue messages wait, the rest in TCP
            started = time.monotonic()
            await channel.sink.close(1000)  # the peer's close frame is read though nobody reads
            assert time.monotonic() - started < 0.4  # not the close_timeout abort
            assert channel.close_code == 1000
            assert isinstance(channel, WebsocketsChannel)
            dropped = getattr(channel.connection.recv_messages, "dropped", 0)
            queued = await _read_all(channel)
    assert dropped > 0
    assert len(queued) + dropped == 200
    assert queued == [f"m{index}" for index in range(len(queued))]


async def _read_all(channel: WebSocketChannel) -> list[Message]:
    return [message async for message in channel.stream]


def test_draining_merges_the_fragments_of_a_queued_message_and_drops_the_rest() -> None:
    async def run() -> None:
        assembler = Assembler(high=2)
        assembler.__class__ = UncappedAssembler
        start_draining(assembler)
        assembler.put(Frame(TEXT, b"a", fin=False))
        for _ in range(1000):
            assembler.put(Frame(CONT, b"b", fin=False))
        assembler.put(Frame(CONT, b"c"))
        assembler.put(Frame(BINARY, b"d"))
        assembler.put(Frame(TEXT, b"e", fin=False))  # beyond max_queue: dropped with its fragments
        assembler.put(Frame(CONT, b"f"))
        assert len(assembler.frames) == 2
        assert isinstance(assembler, UncappedAssembler) and assembler.dropped == 1
        assert await assembler.get() == "a" + "b" * 1000 + "c"
        assert await assembler.get() == b"d"

    asyncio.run(run())


# -- event loops --------------------------------------------------------------------------------------


async def test_an_event_loop_it_cannot_run_on_is_a_clear_lookup_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sniffio

    monkeypatch.setattr(sniffio, "current_async_library", lambda: "curio")
    with pytest.raises(UnsupportedEventLoop, match="does not run on curio") as info:
        await backend.connect(parse_uri("ws://127.0.0.1:1/"), ClientOptions())
    assert isinstance(info.value, LookupError)
    with pytest.raises(UnsupportedEventLoop, match="it runs on: asyncio, trio"):
        async with backend.serve(echo, "127.0.0.1", 0, ServerOptions()):
            pass


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_on_trio_both_roles_run_on_websockets_trio(anyio_backend: str) -> None:
    from websockets.trio.connection import Connection as TrioConnection

    channels: list[WebSocketChannel] = []
    echoed = anyio.Event()

    async def keep(channel: WebSocketChannel) -> None:
        channels.append(channel)
        async for message in channel.stream:
            await channel.sink.add(message)
            if message == b"two":
                echoed.set()

    async with running(keep) as server:
        with anyio.fail_after(TIMEOUT):
            client = await connect(url(server), backend="websockets", ping_interval=None)
            await client.sink.add("one")
            await client.sink.add(b"two")
            await echoed.wait()
            await anyio.sleep(0.05)  # both echoes have arrived, nobody read them yet
            client.sink.close(4000, "bye")  # not awaited: starts now
            assert await _read_all(client) == ["one", b"two"]
            await client.sink.done
    assert client.close_sent is not None and client.close_sent.code == 4000
    assert client.close_code == 4000
    assert isinstance(client, ConnectionChannel) and isinstance(client.connection, TrioConnection)
    server_channel = channels[0]
    assert isinstance(server_channel, ConnectionChannel)
    assert isinstance(server_channel.connection, TrioConnection)
    assert channels[0].request is not None and channels[0].remote_address is not None
    assert channels[0].state is State.CLOSED


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_on_trio_large_messages_pipelined_both_ways_never_deadlock(anyio_backend: str) -> None:
    # websockets' trio reader waits for the send lock after every read; while a sender held it in
    # send_all() both peers stopped reading and waited for each other for ever.
    count, payload = 300, bytes(65536)
    async with running(echo, compression=None, ping_interval=None) as server:
        with anyio.fail_after(10 * TIMEOUT):
            channel = await connect(url(server), backend="websockets", compression=None, ping_interval=None)

            async def send_all() -> None:
                for _ in range(count):
                    await channel.sink.add(payload)

            received = 0
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(send_all)
                async for message in channel.stream:
                    assert message == payload
                    received += 1
                    if received == count:
                        break
            await channel.sink.close(1000)
    assert received == count
