"""The raw backend end to end through the front doors, on asyncio (BufferedProtocol driver) and trio
(anyio driver); plus the anyio driver on asyncio through in-memory pairs."""

from __future__ import annotations

import socket
import threading
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest

import ws_channel_core as wc
from ws_channel_backends.raw import streams
from ws_channel_backends.raw.engine.frames import Opcode, serialize_frame
from ws_channel_backends.raw.engine.handshake import HttpReader, build_request, check_response, request_bytes
from ws_channel_core.errors import ConnectionClosed, KeepaliveTimeout
from ws_channel_core.options import ClientOptions, ServerOptions

pytestmark = pytest.mark.anyio
TIMEOUT = 10


async def echo(channel: wc.WebSocketChannel) -> None:
    async for message in channel.stream:
        await channel.sink.add(message)


@asynccontextmanager
async def echo_url(compression: str | None = "deflate", **kwargs: object) -> AsyncIterator[str]:
    async with wc.serve(echo, backend="raw", compression=compression, **kwargs) as server:  # type: ignore[arg-type]
        yield f"ws://127.0.0.1:{server.port}/"


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_echo_messages(compression: str | None) -> None:
    messages: list[wc.Message] = [
        "",
        b"",
        "Hello World!",
        bytes([1, 2, 3, 4, 5]),
        "🎨⛳🌈",
        "x" * 120_000,
        b"\x00" * 1_000_000,
    ]
    with anyio.fail_after(TIMEOUT):
        async with (
            echo_url(compression, max_size=2**21) as url,
            wc.connect(
                url,
                backend="raw",
                compression=compression,
                max_size=2**21,  # type: ignore[arg-type]
            ) as channel,
        ):
            for message in messages:
                await channel.sink.add(message)
                reply = await anext(channel.stream)
                assert type(reply) is type(message) and reply == message
        assert channel.close_code == 1000


async def test_many_messages_pipelined_then_clean_close() -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            echo_url() as url,
            wc.connect(url, backend="raw") as channel,
            anyio.create_task_group() as tg,
        ):

            async def send_all() -> None:
                for i in range(2000):
                    await channel.sink.add(str(i) if i % 2 else str(i).encode())

            tg.start_soon(send_all)
            for i in range(2000):
                reply = await anext(channel.stream)
                assert reply == (str(i) if i % 2 else str(i).encode())


@pytest.mark.parametrize(
    ("code", "reason", "seen"), [(3678, "raisin", 3678), (1001, "", 1001), (None, None, 1005)]
)
async def test_client_close_code_reaches_server(code: int | None, reason: str | None, seen: int) -> None:
    received: list[tuple[int | None, str | None]] = []
    done = anyio.Event()

    async def handler(channel: wc.WebSocketChannel) -> None:
        async for _ in channel.stream:
            pass
        received.append((channel.close_code, channel.close_reason))
        done.set()

    with anyio.fail_after(TIMEOUT):
        async with wc.serve(handler, backend="raw") as server:
            channel = await wc.connect(f"ws://127.0.0.1:{server.port}", backend="raw")
            await channel.sink.close(code, reason)
            await done.wait()
            assert received == [(seen, reason or "")]
            # The server echoes the code and the reason, so the client sees both too.
            assert (channel.close_code, channel.close_reason) == (seen, reason or "")
            assert channel.close_sent == wc.CloseFrame(seen, reason or "")
            assert channel.close_received_first is False
            with pytest.raises(ConnectionClosed):
                await channel.sink.add("late")


async def test_server_close_code_reaches_client() -> None:
    async def handler(channel: wc.WebSocketChannel) -> None:
        await channel.sink.add("bye soon")
        await channel.sink.close(4123, "server closed the connection")

    with anyio.fail_after(TIMEOUT):
        async with (
            wc.serve(handler, backend="raw") as server,
            wc.connect(f"ws://127.0.0.1:{server.port}", backend="raw") as channel,
        ):
            assert [m async for m in channel.stream] == ["bye soon"]
            assert (channel.close_code, channel.close_reason) == (4123, "server closed the connection")
            await channel.done
            assert channel.close_received_first is True
            with pytest.raises(ConnectionClosed):
                await channel.sink.add("x")


async def drain(stream: anyio.abc.SocketStream) -> None:
    """Read and discard until the peer closes (or 5 s pass)."""
    with anyio.move_on_after(5):
        try:
            while await stream.receive():
                pass
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            pass


@asynccontextmanager
async def scripted_server(
    script: Callable[[anyio.abc.SocketStream], Awaitable[None]],
) -> AsyncIterator[int]:
    """A peer on plain sockets: answers the upgrade with a hand-written 101, then runs ``script``."""

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            reader = HttpReader()
            request = None
            while request is None:
                reader.feed(await stream.receive())
                request = reader.read_request()
            key = request.headers.get("Sec-WebSocket-Key") or ""
            await stream.send(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + f"Sec-WebSocket-Accept: {wc.sign_key(key)}\r\n\r\n".encode()
            )
            await script(stream)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield listener.extra(anyio.abc.SocketAttribute.local_port)
        tg.cancel_scope.cancel()


async def test_dropped_connection_is_1006() -> None:
    async def drop(stream: anyio.abc.SocketStream) -> None:
        await stream.send(serialize_frame(Opcode.TEXT, b"last"))

    with anyio.fail_after(TIMEOUT):
        async with scripted_server(drop) as port:
            channel = await wc.connect(f"ws://127.0.0.1:{port}", backend="raw", compression=None)
            assert [m async for m in channel.stream] == ["last"]
            await channel.done
            assert channel.close_code == 1006
            await channel.sink.close()


async def test_garbage_after_upgrade_fails_with_1002() -> None:
    async def garbage(stream: anyio.abc.SocketStream) -> None:
        await stream.send(b"\xff\xff\xff\xff")
        await drain(stream)

    with anyio.fail_after(TIMEOUT):
        async with scripted_server(garbage) as port:
            channel = await wc.connect(f"ws://127.0.0.1:{port}", backend="raw", compression=None)
            assert [m async for m in channel.stream] == []
            await channel.done
            assert channel.close_sent == wc.CloseFrame(1002, "protocol error")
            assert isinstance(channel.close_error, wc.ProtocolError)


async def test_keepalive_timeout_against_a_silent_peer() -> None:
    async def silent(stream: anyio.abc.SocketStream) -> None:
        await drain(stream)

    with anyio.fail_after(TIMEOUT):
        async with scripted_server(silent) as port:
            channel = await wc.connect(
                f"ws://127.0.0.1:{port}",
                backend="raw",
                ping_interval=0.2,
                ping_timeout=0.2,
                close_timeout=0.5,
            )
            with anyio.fail_after(3):
                await channel.done
            assert isinstance(channel.close_error, KeepaliveTimeout)
            assert channel.close_sent == wc.CloseFrame(1011, "keepalive ping timeout")


async def test_pings_are_answered_without_a_reader() -> None:
    pongs: list[bytes] = []
    answered = anyio.Event()

    async def ping(stream: anyio.abc.SocketStream) -> None:
        await stream.send(serialize_frame(Opcode.PING, b"are you there"))
        pongs.append(await stream.receive())
        answered.set()

    with anyio.fail_after(TIMEOUT):
        async with scripted_server(ping) as port:
            channel = await wc.connect(f"ws://127.0.0.1:{port}", backend="raw", compression=None)
            await answered.wait()  # nobody reads channel.stream meanwhile
            assert pongs[0][0] == 0x8A and pongs[0][1] == 0x80 | 13
            await channel.sink.close()


async def test_max_size_1009() -> None:
    with anyio.fail_after(TIMEOUT):
        async with echo_url(max_size=1000) as url:
            channel = await wc.connect(url, backend="raw")
            await channel.sink.add(b"x" * 1001)
            assert [m async for m in channel.stream] == []
            await channel.done
            assert channel.close_code == 1009


async def test_compressed_bomb_is_stopped_at_max_size() -> None:
    with anyio.fail_after(TIMEOUT):
        async with echo_url(max_size=2**20) as url:
            channel = await wc.connect(url, backend="raw", max_size=2**26)
            await channel.sink.add(b"\x00" * 2**25)  # compresses to ~32 KiB
            assert [m async for m in channel.stream] == []
            await channel.done
            assert channel.close_code == 1009


async def test_handshake_refused_with_404() -> None:
    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.receive()
            await stream.send(b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nX-Why: test\r\n\r\nnope")

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    with anyio.fail_after(TIMEOUT):
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, handle)
            port = listener.extra(anyio.abc.SocketAttribute.local_port)
            with pytest.raises(wc.InvalidStatus) as info:
                await wc.connect(f"ws://127.0.0.1:{port}", backend="raw")
            assert info.value.status_code == 404 and info.value.body == b"nope"
            assert info.value.headers["X-Why"] == "test"
            tg.cancel_scope.cancel()


async def test_subprotocols_and_extra_headers() -> None:
    seen: list[str | None] = []

    async def handler(channel: wc.WebSocketChannel) -> None:
        seen.append(channel.protocol)

    with anyio.fail_after(TIMEOUT):
        async with (
            wc.serve(handler, backend="raw", protocols=["b", "c"]) as server,
            wc.connect(
                f"ws://127.0.0.1:{server.port}", backend="raw", protocols=["a", "b"], headers={"X-Test": "1"}
            ) as channel,
        ):
            assert channel.protocol == "b"
            assert [m async for m in channel.stream] == []
        assert seen == ["b"]


async def test_memory_pair_with_task_group() -> None:
    with anyio.fail_after(TIMEOUT):
        async with streams.open_memory_pair() as (client, server):
            await client.sink.add("ping")
            assert await anext(server.stream) == "ping"
            await server.sink.add(b"pong")
            assert await anext(client.stream) == b"pong"
            await client.sink.close(3000, "done")
            assert [m async for m in server.stream] == []
            assert server.close_code == 3000
            await server.done


async def test_memory_pair_without_task_group() -> None:
    with anyio.fail_after(TIMEOUT):
        client, server = streams.memory_pair(
            client_options=ClientOptions(ping_interval=None), server_options=ServerOptions(ping_interval=None)
        )
        await client.sink.add("a")
        assert await anext(server.stream) == "a"
        await server.sink.close(1000)
        await client.done
        await server.done
        assert client.close_code == 1000


async def test_memory_keepalive_timeout() -> None:
    a, b = streams.memory_byte_stream_pair()
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            channel = streams.channel_over_stream(
                a,
                server_side=False,
                options=ClientOptions(ping_interval=0.1, ping_timeout=0.1, close_timeout=0.3),
                task_group=tg,
            )
            await channel.done
            assert isinstance(channel.close_error, KeepaliveTimeout)
        await b.aclose()


async def test_slow_reader_pauses_the_connection() -> None:
    options = ServerOptions(max_queue=4, ping_interval=None)
    with anyio.fail_after(TIMEOUT):
        async with streams.open_memory_pair(server_options=options) as (client, server):
            sent = 0

            async def flood() -> None:
                nonlocal sent
                for _ in range(1000):
                    await client.sink.add(b"x" * 1000)
                    sent += 1

            async with anyio.create_task_group() as tg:
                tg.start_soon(flood)
                await anyio.sleep(0.2)
                assert sent < 100  # bounded: 4 queued, 16 chunks in the pipe, a few in flight
                assert len(server._queue) <= 4
                tg.cancel_scope.cancel()


def test_deflate_bomb_fixture_is_small() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    assert len(compressor.compress(b"\x00" * 2**25) + compressor.flush(zlib.Z_SYNC_FLUSH)) < 64 * 1024


async def test_leaving_serve_closes_open_connections_with_1001() -> None:
    with anyio.fail_after(TIMEOUT):
        async with wc.serve(echo, backend="raw") as server:
            channel = await wc.connect(f"ws://127.0.0.1:{server.port}", backend="raw")
            await channel.sink.add("hi")
            assert await anext(channel.stream) == "hi"
        assert [m async for m in channel.stream] == []
        await channel.done
        assert channel.close_code == 1001


async def test_channel_over_a_stream_upgraded_by_hand() -> None:
    """Dart's WebSocketChannel(StreamChannel): the raw engine over a stream someone else upgraded."""
    key = wc.generate_key()
    with anyio.fail_after(TIMEOUT):
        async with wc.serve(echo, backend="raw", compression=None) as server:
            stream = await anyio.connect_tcp("127.0.0.1", server.port)
            request = build_request(f"127.0.0.1:{server.port}", "/", key, compression=False)
            await stream.send(request_bytes(request))
            reader = HttpReader()
            response = None
            while response is None:
                reader.feed(await stream.receive())
                response = reader.read_response()
            check_response(response, key, compression=False)
            async with streams.open_channel_over_stream(
                stream, server_side=False, initial_data=bytes(reader.buffer)
            ) as channel:
                await channel.sink.add("by hand")
                assert await anext(channel.stream) == "by hand"
            assert channel.close_code == 1000


def silent_peer(listener: socket.socket, stop: threading.Event) -> None:
    """A peer in a thread on a blocking socket: upgrades, then never reads again until ``stop``."""
    conn, _ = listener.accept()
    with conn:
        reader = HttpReader()
        request = None
        while request is None:
            reader.feed(conn.recv(4096))
            request = reader.read_request()
        key = request.headers.get("Sec-WebSocket-Key") or ""
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {wc.sign_key(key)}\r\n\r\n".encode()
        )
        stop.wait(TIMEOUT)


async def test_add_waits_when_the_peer_does_not_read() -> None:
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=silent_peer, args=(listener, stop))
    thread.start()
    sent = 0
    try:
        with anyio.fail_after(TIMEOUT):
            port = listener.getsockname()[1]
            channel = await wc.connect(
                f"ws://127.0.0.1:{port}", backend="raw", compression=None, close_timeout=0.2
            )
            chunk = b"x" * 65536
            with anyio.move_on_after(1):
                for _ in range(2000):  # 128 MiB if nothing pushed back
                    await channel.sink.add(chunk)
                    sent += 1
            assert sent < 500  # kernel buffers plus write_limit, not everything
            await channel.sink.close()
    finally:
        stop.set()
        thread.join()
        listener.close()


async def test_server_drops_a_client_that_never_sends_its_request() -> None:
    with anyio.fail_after(TIMEOUT):
        async with wc.serve(echo, backend="raw", connect_timeout=0.2) as server:
            stream = await anyio.connect_tcp("127.0.0.1", server.port)
            async with stream:
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                    await stream.receive()


async def read_frames_until_close(stream: anyio.abc.SocketStream) -> list[tuple[int, bytes]]:
    """Read the client's (masked) frames up to and including its close frame."""
    from ws_channel_backends.raw.engine.frames import FrameParser

    parser = FrameParser(expect_mask=True)
    frames: list[tuple[int, bytes]] = []
    while not frames or frames[-1][0] != Opcode.CLOSE:
        frames.extend((int(f.opcode), f.payload) for f in parser.feed(await stream.receive()))
    return frames


VALID_THEN_BAD = serialize_frame(Opcode.TEXT, b"valid") + bytes([0x85, 0])  # then reserved opcode 5


async def test_messages_before_a_protocol_error_are_answered_before_the_close() -> None:
    seen: list[list[tuple[int, bytes]]] = []

    async def script(stream: anyio.abc.SocketStream) -> None:
        await stream.send(VALID_THEN_BAD)  # one write: the client parses both at once
        seen.append(await read_frames_until_close(stream))

    with anyio.fail_after(TIMEOUT):
        async with scripted_server(script) as port:
            channel = await wc.connect(f"ws://127.0.0.1:{port}", backend="raw", compression=None)
            async for message in channel.stream:
                await channel.sink.add(message)
            await channel.done
    # Autobahn 3.x/4.x/5.15: the echo of the valid message goes out, then the 1002 close.
    assert seen == [[(Opcode.TEXT, b"valid"), (Opcode.CLOSE, (1002).to_bytes(2, "big") + b"protocol error")]]
    assert isinstance(channel.close_error, wc.ProtocolError)
    assert channel.close_sent == wc.CloseFrame(1002, "protocol error")


async def test_a_protocol_error_fails_within_close_timeout_when_nobody_reads() -> None:
    seen: list[list[tuple[int, bytes]]] = []
    closed = anyio.Event()

    async def script(stream: anyio.abc.SocketStream) -> None:
        await stream.send(VALID_THEN_BAD)
        seen.append(await read_frames_until_close(stream))
        closed.set()

    with anyio.fail_after(TIMEOUT):
        async with scripted_server(script) as port:
            channel = await wc.connect(
                f"ws://127.0.0.1:{port}", backend="raw", compression=None, close_timeout=0.2
            )
            await channel.done  # nobody reads the stream: the failure completes after close_timeout
            await closed.wait()
            assert seen == [[(Opcode.CLOSE, (1002).to_bytes(2, "big") + b"protocol error")]]
            assert channel.close_code == 1006
            # The message received before the error is still readable, then the stream ends.
            assert [m async for m in channel.stream] == ["valid"]


async def test_concurrent_connections_do_not_mix_their_bytes() -> None:
    """The asyncio driver shares one read buffer per thread: each connection's partial frames and
    message parts must be copied out of it before the next read, whoever that read is for."""

    async def exchange(url: str, seed: int) -> None:
        messages: list[wc.Message] = [
            bytes((seed + i) & 0xFF for i in range(300_000)),
            ("é" + str(seed)) * 50_000,
            bytes([seed]) * 70_001,
        ]
        async with wc.connect(url, backend="raw", compression=None, max_size=2**21) as channel:
            for message in messages:
                await channel.sink.add(message)
            for message in messages:
                assert await anext(channel.stream) == message

    with anyio.fail_after(TIMEOUT):
        async with echo_url(None, max_size=2**21) as url, anyio.create_task_group() as tg:
            for seed in range(4):
                tg.start_soon(exchange, url, seed)
