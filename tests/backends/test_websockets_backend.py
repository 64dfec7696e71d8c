"""The websockets backend: a websockets-backend client against a websockets-backend server, wrap(),
error translation, and the Autobahn fixes the adapter makes (fragment cap, close mid-message)."""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import NegotiationError as WsNegotiationError
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from ws_channel_backends.websockets_backend import WebsocketsChannel, backend, wrap
from ws_channel_core import (
    ConnectionClosed,
    HandshakeTimeout,
    InvalidHandshake,
    InvalidStatus,
    KeepaliveTimeout,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    WebSocketChannel,
    WebSocketServer,
    connect,
    serve,
    status,
)

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


async def test_a_refused_connection_is_invalid_handshake_caused_by_oserror() -> None:
    with anyio.fail_after(TIMEOUT), pytest.raises(InvalidHandshake) as info:
        await connect(f"ws://127.0.0.1:{free_port()}/", backend="websockets")
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
