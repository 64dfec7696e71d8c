"""A client that reconnects: ``async for channel in connect(url).reconnecting(Backoff(...))``.

Run it: ``python examples/reconnect.py [--backend NAME] [--client-backend NAME]``. The story, played
by one program against its own server on 127.0.0.1:

1. The client connects; the server greets it and closes the connection: the client reconnects.
2. The server shuts down (its connections are closed with 1001): the client keeps trying, with
   exponential backoff and jitter, while nothing listens (``ServerUnreachable`` is worth retrying).
3. A server comes back on the same port but refuses with 403: retrying cannot fix that, so the
   ``async for`` raises ``InvalidStatus`` and the client stops.
"""

from __future__ import annotations

import argparse
import logging

import anyio

from ws_channel_core import (
    Backoff,
    InvalidStatus,
    Request,
    Response,
    WebSocketChannel,
    available_backends,
    connect,
    serve,
    status,
)


async def client(url: str, backend: str | None, done: anyio.Event) -> None:
    backoff = Backoff(initial_delay=0.1, max_delay=0.4, max_attempts=30)
    try:
        async for channel in connect(url, backend=backend).reconnecting(backoff):
            async for message in channel.stream:  # ends when the connection closes, either way
                print(f"client received {message!r}")
            print(f"client: connection closed with {channel.close_code} ({channel.close_reason})")
    except InvalidStatus as error:  # 4xx other than 408/429: retrying cannot fix it
        print(f"client: gave up on HTTP {error.response.status}: {error.response.body.decode().strip()}")
    finally:
        done.set()


async def main(backend: str | None, client_backend: str | None) -> None:
    connections = 0
    second_connection = anyio.Event()
    client_done = anyio.Event()

    async def greet(channel: WebSocketChannel) -> None:
        nonlocal connections
        connections += 1
        await channel.sink.add(f"hello, connection {connections}")
        if connections == 1:
            await channel.sink.close(status.SERVICE_RESTART, "come back later")
            return
        second_connection.set()  # the server shuts down while this connection is open
        async for _ in channel.stream:
            pass

    def closed_for_maintenance(request: Request) -> Response:
        return Response(403, {"Content-Type": "text/plain"}, "closed for maintenance\n")

    async with anyio.create_task_group() as task_group:
        async with serve(greet, "127.0.0.1", 0, backend=backend) as server:
            port = server.port
            task_group.start_soon(client, f"ws://127.0.0.1:{port}/", client_backend, client_done)
            await second_connection.wait()
        print("server: shut down")
        await anyio.sleep(1)  # the client retries meanwhile
        async with serve(greet, "127.0.0.1", port, process_request=closed_for_maintenance, backend=backend):
            print("server: back, refusing every upgrade")
            await client_done.wait()


def client_backend_for(backend: str | None) -> str | None:
    """The server's backend when it can be a client too, else ``None`` (the default client backend)."""
    return backend if backend in available_backends(role="client") else None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--backend", help="the server's backend")
    parser.add_argument("--client-backend", help="the client's backend (default: the server's if it can)")
    args = parser.parse_args()
    # The reconnecting client logs each failed attempt at INFO on "ws_channel.client" (with the
    # connections it opens and closes: this example shows only the retries).
    logging.basicConfig(format="%(name)s: %(message)s")
    client_log = logging.getLogger("ws_channel.client")
    client_log.setLevel(logging.INFO)
    client_log.addFilter(lambda record: "retrying" in record.getMessage())
    anyio.run(main, args.backend, args.client_backend or client_backend_for(args.backend))
