"""The aiohttp backend: its client against its server, wrap(), error translation, the checks the adapter
adds to aiohttp (subprotocols, close codes, max_size), and interop with the websockets library."""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import subprocess
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import anyio.abc
import anyio.lowlevel
import pytest
from aiohttp import web
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.frames import Frame, Opcode
from websockets.typing import Subprotocol

from conformance.peers.connection import PeerConnection
from conformance.peers.frames import encode_frame
from conformance.peers.server import scripted_server
from ws_channel_backends.aiohttp_backend import AiohttpChannel, AiohttpServer, backend, wrap
from ws_channel_core import (
    CloseFrame,
    ConnectionClosed,
    HandshakeTimeout,
    InvalidStatus,
    KeepaliveTimeout,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    Request,
    Response,
    ServerUnreachable,
    State,
    WebSocketChannel,
    WebSocketServer,
    connect,
    serve,
    sign_key,
    status,
)

pytestmark = pytest.mark.anyio

TIMEOUT = 2.0  # seconds; every test finishes far below this


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiohttp runs on asyncio only


Handler = Callable[[WebSocketChannel], Awaitable[None]]


@asynccontextmanager
async def running(handler: Handler, **options: Any) -> AsyncIterator[WebSocketServer]:
    """An aiohttp-backend server on 127.0.0.1 with a free port."""
    options.setdefault("close_timeout", 0.5)
    async with serve(handler, "127.0.0.1", 0, backend="aiohttp", **options) as server:
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


def server_channel(channel: WebSocketChannel) -> AiohttpChannel:
    assert isinstance(channel, AiohttpChannel)
    assert channel.native_request is not None
    return channel


@asynccontextmanager
async def plain_aiohttp_app(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[int]:
    """A plain aiohttp web application (no ws-channel) on 127.0.0.1; yields its port."""
    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@asynccontextmanager
async def scripted_upgrade(extra_headers: str) -> AsyncIterator[int]:
    """A hand-written server: answers any upgrade with a valid 101 plus ``extra_headers``, then idles."""
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:

        async def upgrade(stream: anyio.abc.SocketStream) -> None:
            async with stream:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += await stream.receive()
                key = next(
                    line.split(":", 1)[1].strip()
                    for line in request.decode().split("\r\n")
                    if line.lower().startswith("sec-websocket-key:")
                )
                await stream.send(
                    (
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Accept: {sign_key(key)}\r\n{extra_headers}\r\n"
                    ).encode()
                )
                with anyio.move_on_after(TIMEOUT):
                    async for _ in stream:
                        pass

        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, upgrade)
            yield listener.extra(anyio.abc.SocketAttribute.local_port)
            tg.cancel_scope.cancel()


# -- payloads ------------------------------------------------------------------------------------


async def test_text_binary_and_empty_messages_keep_their_type_and_order() -> None:
    messages: list[str | bytes] = ["Hello World!", b"\x01\x02\x03\x04\x05", "", b"", "🎨⛳🌈", b"\x00"]
    with anyio.fail_after(TIMEOUT):
        async with running(echo) as server, connect(url(server), backend="aiohttp") as channel:
            assert isinstance(channel, AiohttpChannel)
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
            connect(url(server), backend="aiohttp", max_size=2**21) as channel,
        ):
            await channel.sink.add(binary)
            await channel.sink.add(text)
            assert await anext(channel.stream) == binary
            assert await anext(channel.stream) == text


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_compression_on_and_off_in_both_roles(compression: Any) -> None:
    negotiated: list[int | bool] = []

    async def handler(channel: WebSocketChannel) -> None:
        negotiated.append(server_channel(channel).native.compress)
        await echo(channel)

    with anyio.fail_after(TIMEOUT):
        async with (
            running(handler, compression=compression) as server,
            connect(url(server), backend="aiohttp", compression="deflate") as channel,
        ):
            await channel.sink.add("a" * 10_000)
            assert await anext(channel.stream) == "a" * 10_000
            assert isinstance(channel, AiohttpChannel)
            assert bool(channel.native.compress) is (compression is not None)
    assert bool(negotiated[0]) is (compression is not None)


# -- closing -------------------------------------------------------------------------------------


async def test_close_code_and_reason_are_seen_on_both_sides() -> None:
    seen: list[WebSocketChannel] = []

    async def handler(channel: WebSocketChannel) -> None:
        seen.append(channel)
        assert [m async for m in channel.stream] == []
        await channel.sink.done

    with anyio.fail_after(TIMEOUT):
        async with running(handler) as server:
            channel = await connect(url(server), backend="aiohttp")
            await channel.sink.close(3678, "raisin")
            await channel.sink.done
            assert (channel.close_code, channel.close_reason) == (3678, "raisin")
            assert channel.close_sent is not None and channel.close_sent.code == 3678
            assert channel.close_received_first is False
            await seen[0].sink.done
    assert (seen[0].close_code, seen[0].close_reason) == (3678, "raisin")
    assert seen[0].close_received_first is True
    assert seen[0].close_error is None


async def test_close_without_a_code_is_seen_as_1005() -> None:
    codes: list[int | None] = []

    async def handler(channel: WebSocketChannel) -> None:
        async for _ in channel.stream:
            pass
        await channel.sink.done
        codes.append(channel.close_code)

    with anyio.fail_after(TIMEOUT):
        async with running(handler) as server:
            channel = await connect(url(server), backend="aiohttp")
            await channel.sink.close()
            await channel.sink.close()  # idempotent
            assert (channel.close_code, channel.close_reason) == (1005, "")
    assert codes == [1005]


async def test_a_dropped_tcp_connection_is_1006_and_done_completes_without_a_reader() -> None:
    async def handler(channel: WebSocketChannel) -> None:
        request = server_channel(channel).native_request
        assert request is not None and request.transport is not None
        request.transport.abort()
        await channel.sink.done

    with anyio.fail_after(TIMEOUT):
        async with running(handler) as server:
            channel = await connect(url(server), backend="aiohttp")
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
            channel = await connect(url(server), backend="aiohttp")
            await channel.sink.close(status.NORMAL_CLOSURE)
            with pytest.raises(ConnectionClosed):
                await channel.sink.add("text")
            with pytest.raises(ConnectionClosed):
                await channel.sink.add(b"bytes")


async def test_add_after_remote_close_raises_connection_closed_and_close_still_completes() -> None:
    async def handler(channel: WebSocketChannel) -> None:
        await channel.sink.close(4123, "server closed the connection")

    with anyio.fail_after(TIMEOUT):
        async with running(handler) as server:
            channel = await connect(url(server), backend="aiohttp", close_timeout=5)
            assert [m async for m in channel.stream] == []
            with pytest.raises(ConnectionClosed) as info:
                await channel.sink.add("text")
            assert (info.value.code, info.value.reason) == (4123, "server closed the connection")
            await channel.sink.close()  # after the peer's close: completes, does not raise
            assert (channel.close_code, channel.close_reason) == (4123, "server closed the connection")
            assert channel.close_received_first is True


async def test_messages_sent_before_a_remote_close_are_all_delivered() -> None:
    async def handler(channel: WebSocketChannel) -> None:
        for i in range(100):
            await channel.sink.add(str(i))
        await channel.sink.close(1000)

    with anyio.fail_after(TIMEOUT):
        async with running(handler) as server:
            channel = await connect(url(server), backend="aiohttp", max_queue=4)
            assert [m async for m in channel.stream] == [str(i) for i in range(100)]
            await channel.sink.done
            assert channel.close_code == 1000


async def test_close_arguments_are_checked_before_anything_is_sent() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running(echo) as server, connect(url(server), backend="aiohttp") as channel:
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
            assert isinstance(server, AiohttpServer)
            assert server.addresses == [("127.0.0.1", server.port)]
            channel = await connect(url(server), backend="aiohttp")
            await channel.sink.add("ping")
            assert await anext(channel.stream) == "ping"
        await channel.sink.done
    assert channel.close_code == status.GOING_AWAY


async def test_leaving_serve_cancels_handlers_that_ignore_the_close() -> None:
    async def stubborn(channel: WebSocketChannel) -> None:
        await anyio.sleep_forever()

    with anyio.fail_after(TIMEOUT):
        async with running(stubborn, close_timeout=0.1) as server:
            channel = await connect(url(server), backend="aiohttp")
        await channel.sink.done
    assert channel.close_code == status.GOING_AWAY


async def test_close_against_a_peer_that_never_answers_aborts_after_close_timeout() -> None:
    release = anyio.Event()

    async def handler(channel: WebSocketChannel) -> None:
        transport = server_channel(channel).native_request.transport  # type: ignore[union-attr]
        assert transport is not None
        transport.pause_reading()  # the close frame is never read nor answered
        await release.wait()

    reads: list[str | bytes] = []

    async def read_all(channel: WebSocketChannel) -> None:
        reads.extend([m async for m in channel.stream])

    with anyio.fail_after(TIMEOUT):
        async with running(handler, ping_interval=None, close_timeout=0.1) as server:
            channel = await connect(url(server), backend="aiohttp", close_timeout=0.1, ping_interval=None)
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


# -- negotiation and headers ---------------------------------------------------------------------


async def test_server_picks_the_first_subprotocol_in_the_clients_order() -> None:
    chosen: list[str | None] = []

    async def handler(channel: WebSocketChannel) -> None:
        chosen.append(channel.protocol)

    with anyio.fail_after(TIMEOUT):
        async with running(handler, protocols=["a", "b"]) as server:
            for offered, expected in ((["b", "a"], "b"), (["c"], None), ([], None)):
                async with connect(url(server), backend="aiohttp", protocols=offered) as channel:
                    assert channel.protocol == expected
    assert chosen == ["b", None, None]


@pytest.mark.parametrize("offered", [["good"], []])
async def test_a_subprotocol_the_client_did_not_offer_fails_the_handshake(offered: list[str]) -> None:
    with anyio.fail_after(TIMEOUT):
        async with scripted_upgrade("Sec-WebSocket-Protocol: evil\r\n") as port:
            with pytest.raises(NegotiationError, match="evil"):
                await connect(f"ws://127.0.0.1:{port}/", backend="aiohttp", protocols=offered)


async def test_an_extension_the_client_did_not_offer_fails_the_handshake() -> None:
    with anyio.fail_after(TIMEOUT):
        async with scripted_upgrade("Sec-WebSocket-Extensions: permessage-deflate\r\n") as port:
            with pytest.raises(NegotiationError, match="permessage-deflate"):
                await connect(f"ws://127.0.0.1:{port}/", backend="aiohttp", compression=None)


async def test_headers_reach_the_server_and_the_client() -> None:
    request_headers: list[dict[str, str]] = []

    async def handler(channel: WebSocketChannel) -> None:
        assert channel.request is not None
        request_headers.append(dict(channel.request.headers))

    with anyio.fail_after(TIMEOUT):
        async with running(handler, headers={"X-Server": "yes", "Server": "ours"}) as server:
            async with connect(
                url(server),
                backend="aiohttp",
                headers=[("User-Agent", "ws-channel-test"), ("Authorization", "Bearer t")],
            ):
                pass
            async with ws_connect(url(server), proxy=None) as connection:
                assert connection.response is not None
                assert connection.response.headers["X-Server"] == "yes"
                assert connection.response.headers.get_all("Server") == ["ours"]
    assert request_headers[0]["User-Agent"] == "ws-channel-test"
    assert request_headers[0]["Authorization"] == "Bearer t"


async def test_unknown_extra_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="nonsense"):
        await connect("ws://127.0.0.1:1/", backend="aiohttp", extra={"nonsense": 1})
    with pytest.raises(TypeError, match="session"):
        await connect("ws://127.0.0.1:1/", backend="aiohttp", extra={"session": "not a session"})
    with pytest.raises(ValueError, match="nonsense"):
        async with serve(echo, backend="aiohttp", extra={"nonsense": 1}):
            pass


async def test_a_callers_session_is_used_and_left_open() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running(echo) as server, aiohttp.ClientSession() as session:
            async with connect(url(server), backend="aiohttp", extra={"session": session}) as channel:
                await channel.sink.add("via my session")
                assert await anext(channel.stream) == "via my session"
            assert not session.closed


# -- keepalive and limits ------------------------------------------------------------------------


async def test_keepalive_detects_a_peer_that_stops_answering() -> None:
    release = anyio.Event()

    async def handler(channel: WebSocketChannel) -> None:
        transport = server_channel(channel).native_request.transport  # type: ignore[union-attr]
        assert transport is not None
        transport.pause_reading()  # pings are no longer read, so never answered
        await release.wait()

    with anyio.fail_after(TIMEOUT):
        async with running(handler, ping_interval=None, close_timeout=0.1) as server:
            channel = await connect(
                url(server), backend="aiohttp", ping_interval=0.05, ping_timeout=0.05, close_timeout=0.1
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
            channel = await connect(url(server), backend="aiohttp", ping_interval=0.05, ping_timeout=0.1)
            await channel.sink.done
    assert channel.close_code == 1000
    assert channel.close_error is None


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_a_message_over_max_size_closes_with_1009_and_one_of_exactly_max_size_passes(
    compression: Any,
) -> None:
    server_side: list[WebSocketChannel] = []

    async def handler(channel: WebSocketChannel) -> None:
        server_side.append(channel)
        async for message in channel.stream:
            await channel.sink.add(len(message).to_bytes(4, "big"))

    with anyio.fail_after(TIMEOUT):
        async with running(handler, max_size=1024, compression=compression) as server:
            channel = await connect(url(server), backend="aiohttp", compression=compression)
            await channel.sink.add(b"y" * 1024)  # exactly max_size: aiohttp alone refuses it uncompressed
            assert await anext(channel.stream) == (1024).to_bytes(4, "big")
            await channel.sink.add(b"x" * 1025)  # compresses to a few bytes, inflates past the limit
            assert [m async for m in channel.stream] == []
            await channel.sink.done
            assert channel.close_code == 1009
    error = server_side[0].close_error
    assert isinstance(error, PayloadTooBig) and error.close_code == 1009
    assert server_side[0].close_sent is not None and server_side[0].close_sent.code == 1009


# -- peer protocol errors (the peer is the websockets library, driven below its API) -------------


async def failing_peer(
    send: Callable[[Any], None], **server_options: Any
) -> tuple[int | None, WebSocketChannel]:
    """Let ``send(connection)`` misbehave towards our server; return the peer's close code and our side."""
    server_side: list[WebSocketChannel] = []

    async def handler(channel: WebSocketChannel) -> None:
        server_side.append(channel)
        assert [m async for m in channel.stream] == []

    with anyio.fail_after(TIMEOUT):
        async with (
            running(handler, compression=None, **server_options) as server,
            ws_connect(url(server), proxy=None, compression=None) as connection,
        ):
            send(connection)
            await connection.wait_closed()
            await server_side[0].sink.done
            return connection.close_code, server_side[0]


async def test_a_reserved_opcode_fails_the_connection_with_1002() -> None:
    peer_code, ours = await failing_peer(lambda conn: conn.transport.write(bytes([0x83, 0x80, 0, 0, 0, 0])))
    assert peer_code == 1002
    assert isinstance(ours.close_error, ProtocolError) and ours.close_error.close_code == 1002
    assert ours.close_sent is not None and ours.close_sent.code == 1002


async def test_invalid_utf8_text_fails_the_connection_with_1007() -> None:
    peer_code, ours = await failing_peer(lambda conn: conn.protocol.send_text(b"\xff") or conn.send_data())
    assert peer_code == 1007
    assert isinstance(ours.close_error, ProtocolError) and ours.close_error.close_code == 1007


@pytest.mark.parametrize("code", [1004, 1005, 1006, 1015, 2000, 5000])
async def test_a_close_code_that_may_not_be_sent_fails_the_connection_with_1002(code: int) -> None:
    """Autobahn 7.9.*: aiohttp alone answers a close frame carrying 1006 with 1000."""

    def send(conn: Any) -> None:
        conn.protocol.send_frame(Frame(Opcode.CLOSE, code.to_bytes(2, "big")))
        conn.send_data()

    _peer_code, ours = await failing_peer(send)
    assert isinstance(ours.close_error, ProtocolError) and ours.close_error.close_code == 1002
    assert ours.close_sent is not None and ours.close_sent.code == 1002
    assert ours.close_received is None


async def test_an_unmasked_client_frame_fails_the_connection_with_1002() -> None:
    """RFC 6455 5.1; aiohttp alone accepts it (the adapter checks the mask bit in front of its parser)."""
    peer_code, ours = await failing_peer(lambda conn: conn.transport.write(bytes([0x81, 0x02]) + b"hi"))
    assert peer_code == 1002
    assert isinstance(ours.close_error, ProtocolError) and ours.close_error.close_code == 1002


class _FakeQueue:
    def __init__(self) -> None:
        self.error: BaseException | None = None

    def set_exception(self, exc: BaseException) -> None:
        self.error = exc


class _FakeParser:
    def __init__(self) -> None:
        self.data = bytearray()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.data += data
        return False, b""


def _frame(payload_size: int, *, masked: bool) -> bytes:
    length = payload_size
    mask_bit = 0x80 if masked else 0
    if length < 126:
        header = bytes([0x82, mask_bit | length])
    elif length < 65536:
        header = bytes([0x82, mask_bit | 126]) + length.to_bytes(2, "big")
    else:
        header = bytes([0x82, mask_bit | 127]) + length.to_bytes(8, "big")
    return header + (b"\x01\x02\x03\x04" if masked else b"") + b"p" * payload_size


@pytest.mark.parametrize("seed", range(5))
def test_the_mask_check_follows_frames_split_anywhere_and_stops_at_the_first_bad_one(seed: int) -> None:
    from ws_channel_backends.aiohttp_backend._mask import MaskCheck

    rng = random.Random(seed)
    sizes = [0, 1, 125, 126, 127, 65535, 65536, 70000, 3]
    good = b"".join(_frame(size, masked=True) for size in sizes)
    bad = _frame(5, masked=False)
    stream = good + bad + _frame(1, masked=True)
    for expect_failure, data in ((False, good), (True, stream)):
        parser, queue = _FakeParser(), _FakeQueue()
        check = MaskCheck(parser, queue, masked=True)  # type: ignore[arg-type]
        pos = 0
        while pos < len(data):
            step = rng.choice([1, 2, 3, 7, 13, 100, 5000, 70000])
            check.feed_data(data[pos : pos + step])
            pos += step
        if expect_failure:
            assert bytes(parser.data) == good
            assert isinstance(queue.error, aiohttp.WebSocketError) and queue.error.code == 1002
        else:
            assert bytes(parser.data) == good
            assert queue.error is None


async def test_a_connection_that_sends_no_request_is_dropped_after_connect_timeout() -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            running(echo, connect_timeout=0.1) as server,
            await anyio.connect_tcp("127.0.0.1", server.port) as stream,
        ):
            with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                await stream.receive()


# -- wrap() ---------------------------------------------------------------------------------------


async def test_wrap_a_plain_aiohttp_server_handlers_websocket_response() -> None:
    seen: list[WebSocketChannel] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        ws: web.WebSocketResponse[bool] = web.WebSocketResponse()
        await ws.prepare(request)
        channel = wrap(ws, close_timeout=0.5)
        seen.append(channel)
        await echo(channel)
        await channel.sink.done  # aiohttp closes the socket when the handler returns
        return ws

    with anyio.fail_after(TIMEOUT):
        async with plain_aiohttp_app(handler) as port:
            async with connect(f"ws://127.0.0.1:{port}/", backend="aiohttp") as channel:
                await channel.sink.add(b"\x01\x02")
                assert await anext(channel.stream) == b"\x01\x02"
                await channel.sink.close(3000, "bye")
            assert (channel.close_code, channel.close_reason) == (3000, "bye")
    assert (seen[0].close_code, seen[0].close_reason) == (3000, "bye")
    request, response = seen[0].request, seen[0].response
    assert request is not None and request.path == "/" and "Sec-WebSocket-Key" in request.headers
    assert response is not None and response.status == 101 and "Sec-WebSocket-Accept" in response.headers


async def test_wrap_a_client_websocket_response() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running(echo) as server, aiohttp.ClientSession() as session:
            ws = await session.ws_connect(url(server) + "w")
            channel = wrap(ws)
            assert channel.request is not None and channel.request.path == "/w"
            assert channel.response is not None and channel.response.status == 101
            await channel.sink.add("wrapped")
            assert await anext(channel.stream) == "wrapped"
            await channel.sink.close(3000, "bye")
            assert (channel.close_code, channel.close_reason) == (3000, "bye")
            assert ws.closed


async def test_wrap_refuses_other_objects_and_unprepared_responses() -> None:
    with pytest.raises(TypeError):
        wrap(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prepare"):
        wrap(web.WebSocketResponse())


# -- error translation ---------------------------------------------------------------------------


async def test_a_refused_connection_is_server_unreachable_caused_by_oserror() -> None:
    with anyio.fail_after(TIMEOUT), pytest.raises(ServerUnreachable) as info:
        await connect(f"ws://127.0.0.1:{free_port()}/", backend="aiohttp")
    assert isinstance(info.value.__cause__, OSError)
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectorError)


@pytest.mark.parametrize("code", [404, 200])
async def test_an_http_answer_without_upgrade_is_invalid_status_with_status_headers_and_body(
    code: int,
) -> None:
    async def refuse(request: web.Request) -> web.StreamResponse:
        return web.Response(status=code, text="no such socket\n")

    with anyio.fail_after(TIMEOUT):
        async with plain_aiohttp_app(refuse) as port:
            with pytest.raises(InvalidStatus) as info:
                await connect(f"ws://127.0.0.1:{port}/", backend="aiohttp")
    assert info.value.status_code == code
    assert info.value.body == b"no such socket\n"
    assert info.value.response.reason == ("Not Found" if code == 404 else "OK")
    assert info.value.headers["Content-Type"].startswith("text/plain")
    assert isinstance(info.value.__cause__, aiohttp.WSServerHandshakeError)


async def test_with_a_callers_session_a_refusal_keeps_status_and_headers_but_not_the_body() -> None:
    """The documented limit of extra={"session": ...}: the body is read by a trace hook on our session."""

    async def refuse(request: web.Request) -> web.StreamResponse:
        return web.Response(status=403, text="go away\n")

    with anyio.fail_after(TIMEOUT):
        async with plain_aiohttp_app(refuse) as port, aiohttp.ClientSession() as session:
            with pytest.raises(InvalidStatus) as info:
                await connect(f"ws://127.0.0.1:{port}/", backend="aiohttp", extra={"session": session})
    assert info.value.status_code == 403
    assert info.value.headers["Content-Type"].startswith("text/plain")
    assert info.value.body == b""


async def test_a_plain_http_request_to_the_server_gets_426() -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            running(echo) as server,
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{server.port}/") as response,
        ):
            assert response.status == 426
            assert response.headers["Upgrade"] == "websocket"


async def test_a_server_that_never_answers_the_upgrade_is_a_handshake_timeout() -> None:
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)

        async def accept_and_stall(stream: anyio.abc.SocketStream) -> None:
            async with stream:
                await anyio.sleep_forever()

        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, accept_and_stall)
            with anyio.fail_after(TIMEOUT), pytest.raises(HandshakeTimeout):
                await connect(f"ws://127.0.0.1:{port}/", backend="aiohttp", connect_timeout=0.1)
            tg.cancel_scope.cancel()


def test_backend_attributes() -> None:
    assert backend.name == "aiohttp"
    assert backend.version == aiohttp.__version__
    assert backend.event_loops == ("asyncio",)
    assert dict(backend.expected_failures) == {}
    assert dict(backend.autobahn_expected_failures) == {}


# -- interop with the websockets library --------------------------------------------------------


async def test_websockets_library_client_against_our_server() -> None:
    closes: list[tuple[int | None, str | None]] = []

    async def handler(channel: WebSocketChannel) -> None:
        await echo(channel)
        closes.append((channel.close_code, channel.close_reason))

    with anyio.fail_after(TIMEOUT):
        async with (
            running(handler, protocols=["chat"]) as server,
            ws_connect(url(server), proxy=None, subprotocols=[Subprotocol("chat")]) as connection,
        ):
            assert connection.subprotocol == "chat"
            for message in ("text", b"bytes", "", b""):
                await connection.send(message)
                assert await connection.recv() == message
            await connection.close(4000, "done")
    assert closes == [(4000, "done")]


async def test_our_client_against_a_websockets_library_server() -> None:
    async def handler(connection: ServerConnection) -> None:
        async for message in connection:
            await connection.send(message)
        assert connection.close_code == 3001

    with anyio.fail_after(TIMEOUT):
        async with ws_serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}/", backend="aiohttp") as channel:
                for message in ("text", b"bytes", "", b"", "x" * 100_000):
                    await channel.sink.add(message)
                    assert await anext(channel.stream) == message
                await channel.sink.close(3001, "bye")
            assert (channel.close_code, channel.close_reason) == (3001, "bye")


async def test_a_websockets_library_server_closing_first_is_echoed() -> None:
    async def handler(connection: ServerConnection) -> None:
        await connection.close(4123, "server closed the connection")

    with anyio.fail_after(TIMEOUT):
        async with ws_serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            channel = await connect(f"ws://127.0.0.1:{port}/", backend="aiohttp")
            assert [m async for m in channel.stream] == []
            await channel.sink.done
    assert (channel.close_code, channel.close_reason) == (4123, "server closed the connection")
    assert channel.close_sent is not None and channel.close_sent.code == 4123
    assert channel.close_received_first is True


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
            connect(f"wss://127.0.0.1:{server.port}/", backend="aiohttp", ssl=client_context) as channel,
        ):
            await channel.sink.add("secret")
            assert await anext(channel.stream) == "secret"


# -- no task per idle connection (the reading design of channel.py) --------------------------------


def _pump_tasks() -> list[asyncio.Task[Any]]:
    return [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "").startswith("AiohttpChannel.")
    ]


async def test_an_idle_connection_runs_no_task_of_its_own_on_either_side() -> None:
    server_side: list[WebSocketChannel] = []

    async def handler(channel: WebSocketChannel) -> None:
        server_side.append(channel)
        await echo(channel)

    with anyio.fail_after(TIMEOUT):
        async with running(handler, ping_interval=None) as server:
            channel = await connect(url(server), backend="aiohttp", ping_interval=None)
            await channel.sink.add("hello")
            assert await anext(channel.stream) == "hello"
            await anyio.wait_all_tasks_blocked()
            assert _pump_tasks() == []  # the server's handler reads; the client has nobody reading
            await channel.sink.close(4000, "bye")
            await server_side[0].sink.done
            assert server_side[0].close_code == 4000


async def test_a_ping_parsed_with_the_message_read_before_it_is_answered_once_the_reader_stops() -> None:
    async def script(peer: PeerConnection) -> None:
        await peer.accept()
        # One write: a message and a ping behind it, parsed together while the client is reading.
        await peer.send_raw(encode_frame(0x1, b"first") + encode_frame(0x9, b"p1"))
        frame = await peer.read_frame()
        assert (frame.opcode, frame.payload) == (0xA, b"p1")
        await peer.send_close(1000)
        await peer.read_until_close()

    with anyio.fail_after(TIMEOUT):
        async with scripted_server(script) as server:
            channel = await connect(server.url, backend="aiohttp", ping_interval=None)
            assert await anext(channel.stream) == "first"
            await channel.sink.done  # nobody reads any more: the pong, then the close, are handled
            await server.wait_finished()
    assert server.errors == []
    assert channel.close_code == 1000


async def test_messages_taken_while_nobody_read_come_first_and_in_order() -> None:
    count = 40  # more than max_queue: the rest stays in aiohttp's queue behind the ping

    async def script(peer: PeerConnection) -> None:
        await peer.accept()
        await peer.send_raw(
            b"".join(encode_frame(0x1, str(i).encode()) for i in range(count)) + encode_frame(0x9, b"p")
        )
        await peer.send_close(1000)
        await peer.read_until_close(answer_pings=False)

    with anyio.fail_after(TIMEOUT):
        async with scripted_server(script) as server:
            channel = await connect(server.url, backend="aiohttp", ping_interval=None, max_queue=4)
            assert isinstance(channel, AiohttpChannel)
            while len(channel._pending) < 4:  # the ping made the pump take messages while nobody read
                await anyio.lowlevel.checkpoint()
            assert [m async for m in channel.stream] == [str(i) for i in range(count)]
            await channel.sink.done
    assert server.errors == []
    assert channel.close_code == 1000


# -- the handshake in the open: what goes on the wire is what the hooks saw ----------------------

UPGRADE = (
    "GET /chat?room=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "X-Token: one\r\nX-Token: two\r\n\r\n"
)


async def raw_exchange(port: int, request: str) -> bytes:
    """Send ``request`` on a fresh TCP connection; return everything the server sends until it closes."""
    received = b""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(request.encode())
        with anyio.move_on_after(0.5):  # an upgraded connection stays open: stop after the head
            while True:
                try:
                    received += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    break
                if received.startswith(b"HTTP/1.1 101") and b"\r\n\r\n" in received:
                    break
    return received


async def test_a_refusal_goes_on_the_wire_exactly_as_the_hook_made_it() -> None:
    seen: list[Request] = []

    def process_request(request: Request) -> Response:
        seen.append(request)
        return Response(
            401,
            [("WWW-Authenticate", "Bearer"), ("X-Why", "a"), ("X-Why", "b")],
            "token required\n",
            reason="Who Are You",
        )

    with anyio.fail_after(TIMEOUT):
        async with running(echo, process_request=process_request) as server:
            answer = await raw_exchange(server.port, UPGRADE)
    assert answer == (
        b"HTTP/1.1 401 Who Are You\r\nWWW-Authenticate: Bearer\r\nX-Why: a\r\nX-Why: b\r\n"
        b"Content-Length: 15\r\nConnection: close\r\n\r\ntoken required\n"
    )
    request = seen[0]
    assert (request.method, request.path, request.query, request.raw_path) == (
        "GET", "/chat", {"room": ["1"]}, "/chat?room=1",
    )  # fmt: skip
    assert request.headers.get_all("X-Token") == ["one", "two"]
    assert request.remote_address is not None and request.remote_address[0] == "127.0.0.1"


async def test_the_101_sent_is_exactly_the_response_process_response_returned() -> None:
    server_side: list[WebSocketChannel] = []
    opened = anyio.Event()

    def process_response(request: Request, response: Response) -> None:
        response.headers.add("Set-Cookie", "a=1")
        response.headers.add("Set-Cookie", "b=2")

    async def handler(channel: WebSocketChannel) -> None:
        server_side.append(channel)
        opened.set()
        await channel.sink.done

    with anyio.fail_after(TIMEOUT):
        async with running(handler, process_response=process_response, headers={"X-Server": "yes"}) as server:
            answer = await raw_exchange(server.port, UPGRADE)
            await opened.wait()
            sent = server_side[0].response
    assert answer == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-Server: yes\r\n"
        b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n"
    )
    assert sent is not None and sent.status == 101 and sent.reason == "Switching Protocols"
    assert sent.headers.items() == [
        ("Upgrade", "websocket"), ("Connection", "upgrade"),
        ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), ("X-Server", "yes"),
        ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
    ]  # fmt: skip


async def test_process_response_may_replace_the_101_with_a_refusal() -> None:
    def process_response(request: Request, response: Response) -> Response:
        return Response(403, body="no\n")

    with anyio.fail_after(TIMEOUT):
        async with running(echo, process_response=process_response) as server:
            with pytest.raises(InvalidStatus) as info:
                await connect(url(server), backend="aiohttp")
    assert (info.value.status_code, info.value.body) == (403, b"no\n")


async def test_a_client_channel_holds_the_request_it_sent_and_the_101_with_every_set_cookie() -> None:
    def process_response(request: Request, response: Response) -> None:
        response.headers.add("Set-Cookie", "session=abc")
        response.headers.add("Set-Cookie", "theme=dark")

    with anyio.fail_after(TIMEOUT):
        async with (
            running(echo, process_response=process_response) as server,
            connect(url(server) + "x?y=1", backend="aiohttp", headers={"X-Mine": "1"}) as channel,
        ):
            request, response = channel.request, channel.response
            assert request is not None and response is not None
            assert request.raw_path == "/x?y=1"
            assert request.headers["X-Mine"] == "1"
            assert request.headers["Sec-WebSocket-Version"] == "13"
            assert request.headers["Host"] == f"127.0.0.1:{server.port}"
            assert response.status == 101
            assert response.headers.get_all("Set-Cookie") == ["session=abc", "theme=dark"]
            assert channel.remote_address == ("127.0.0.1", server.port)
            assert channel.local_address is not None and channel.local_address[0] == "127.0.0.1"
            assert channel.state is State.OPEN


async def test_a_server_channel_keeps_aiohttps_request_as_an_escape_hatch() -> None:
    natives: list[web.BaseRequest | None] = []

    async def handler(channel: WebSocketChannel) -> None:
        natives.append(server_channel(channel).native_request)

    with anyio.fail_after(TIMEOUT):
        async with running(handler) as server, connect(url(server) + "p?q=1", backend="aiohttp"):
            pass
    native = natives[0]
    assert native is not None and native.path_qs == "/p?q=1"


# -- closing and lifecycle -----------------------------------------------------------------------


async def test_echoes_that_arrived_before_a_local_close_are_still_delivered() -> None:
    """The first scenario of issue 13: send two messages, wait for both echoes, close, then read."""
    with anyio.fail_after(TIMEOUT):
        async with running(echo) as server:
            channel = await connect(url(server), backend="aiohttp")
            assert isinstance(channel, AiohttpChannel)
            await channel.sink.add("a")
            await channel.sink.add("b")
            while len(channel._buffer) < 2:  # noqa: ASYNC110 - both echoes parsed, nobody read them
                await anyio.sleep(0.01)
            closing = channel.sink.close(1000)
            assert state_of(channel) is State.CLOSING
            assert channel.close_sent == CloseFrame(1000, "")  # written at the call
            assert [m async for m in channel.stream] == ["a", "b"]
            assert state_of(channel) is State.CLOSED  # the bookkeeping is final when stream ends
            assert channel.close_code == 1000
            await closing


async def test_messages_beyond_max_queue_that_nobody_reads_while_closing_are_dropped() -> None:
    count = 50

    async def script(peer: PeerConnection) -> None:
        await peer.accept()
        await peer.read_frame()  # our close frame
        await peer.send_raw(b"".join(encode_frame(0x2, bytes(1000)) for _ in range(count)))
        await peer.send_close(1000)
        await peer.close_tcp()

    with anyio.fail_after(TIMEOUT):
        async with scripted_server(script) as server:
            channel = await connect(server.url, backend="aiohttp", ping_interval=None, max_queue=4)
            await channel.sink.close(1000)  # nobody reads: the peer's close frame is still seen
            assert channel.close_code == 1000
            assert isinstance(channel, AiohttpChannel)
            assert channel._dropped == count - 4
            assert len([m async for m in channel.stream]) == 4


async def test_a_close_frame_does_not_overtake_a_compressed_message_being_written() -> None:
    big = random.Random(1).randbytes(200_000)  # compressed in an executor: the send yields meanwhile
    received: list[str | bytes] = []

    async def handler(channel: WebSocketChannel) -> None:
        received.extend([m async for m in channel.stream])

    with anyio.fail_after(TIMEOUT):
        async with running(handler) as server:
            channel = await connect(url(server), backend="aiohttp", compression="deflate")
            async with anyio.create_task_group() as tg:
                tg.start_soon(channel.sink.add, big)
                await anyio.lowlevel.checkpoint()
                await channel.sink.close(4000)
    assert received == [big]
    assert channel.close_code == 4000


async def test_a_server_that_failed_ends_within_close_timeout_when_the_peer_never_answers() -> None:
    server_side: list[WebSocketChannel] = []
    opened = anyio.Event()

    async def handler(channel: WebSocketChannel) -> None:
        server_side.append(channel)
        opened.set()
        await channel.sink.done

    with anyio.fail_after(TIMEOUT):
        async with (
            running(handler, close_timeout=0.2, ping_interval=None) as server,
            await anyio.connect_tcp("127.0.0.1", server.port) as stream,
        ):
            await stream.send(UPGRADE.encode())
            await stream.send(bytes([0x83, 0x80, 0, 0, 0, 0]))  # reserved opcode: fail with 1002
            await opened.wait()
            started = anyio.current_time()
            await server_side[0].sink.done  # we never answer nor close
            assert anyio.current_time() - started < 0.5
    ours = server_side[0]
    assert ours.close_sent is not None and ours.close_sent.code == 1002
    assert isinstance(ours.close_error, ProtocolError)
    assert ours.close_code == 1006


async def test_a_ping_flood_from_a_peer_that_never_reads_keeps_server_memory_bounded() -> None:
    """Pongs are answered one at a time: once the write buffer is full, reading pauses (26 MB sent)."""
    pings = 200_000
    ping = bytes([0x89, 0x80 | 125, 0, 0, 0, 0]) + bytes(125)  # masked, 125-byte payload

    async def handler(channel: WebSocketChannel) -> None:
        await channel.sink.done

    with anyio.fail_after(20):
        async with running(handler, ping_interval=None) as server:
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and never read
            sock.sendall(UPGRADE.encode())
            tracemalloc.start()
            try:
                sent = await anyio.to_thread.run_sync(_send_until_blocked, sock, ping * 1000, pings // 1000)
                await anyio.sleep(0.3)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
                sock.close()
    assert sent < pings  # the server stopped reading: its pongs wait for the peer to read
    assert peak < 3 * 2**20, peak  # no object per ping (the issue measured ~120 B x pings elsewhere)


def state_of(channel: WebSocketChannel) -> State:
    """Read ``state`` afresh (a plain attribute read would be narrowed by the type checker)."""
    return channel.state


def _send_until_blocked(sock: socket.socket, chunk: bytes, count: int) -> int:
    """Send ``chunk`` ``count`` times or until the server stops reading; return the pings sent."""
    sock.settimeout(1.0)
    sent = 0
    for _ in range(count):
        try:
            sock.sendall(chunk)
        except (TimeoutError, OSError):
            break
        sent += 1000
    return sent


# -- event loops ---------------------------------------------------------------------------------


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_under_trio_connect_and_serve_raise_lookup_error_naming_backends_that_can() -> None:
    with pytest.raises(LookupError, match=r"does not run on trio.*raw"):
        await connect("ws://127.0.0.1:1/", backend="aiohttp")
    with pytest.raises(LookupError, match=r"does not run on trio.*raw"):
        async with serve(echo, backend="aiohttp"):
            pass
