"""An authenticated, routed server: a token in a header or the query, 401 with a body otherwise,
``/healthz`` for load balancers, and a session cookie on the 101.

Run it: ``python examples/auth_server.py [--backend NAME] [--client-backend NAME]``. It starts the
server on a free port of 127.0.0.1, then a client tries each case and prints what it saw.

- ``process_request`` sees every request before the upgrade: it answers ``GET /healthz`` with 200,
  unknown paths with 404 and requests without a valid token with 401 (the client reads the body from
  ``InvalidStatus.response``); returning ``None`` lets the upgrade go on.
- ``process_response`` adds a ``Set-Cookie`` header to the 101 (the client reads it from
  ``channel.response``).
- The handler routes on ``channel.request.path``.
"""

from __future__ import annotations

import argparse
import secrets
import urllib.request

import anyio

from ws_channel_core import (
    InvalidStatus,
    Request,
    Response,
    WebSocketChannel,
    available_backends,
    connect,
    serve,
)

TOKENS = {"s3cret": "alice"}  # token -> user; a real server would ask its identity provider
ROUTES = ("/echo", "/shout")


def user_of(request: Request) -> str | None:
    """The user a request authenticates as: ``Authorization: Bearer TOKEN`` or ``?token=TOKEN``."""
    authorization = request.headers.get("Authorization", "")
    token = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else None
    return TOKENS.get(token or request.query_value("token") or "")


def process_request(request: Request) -> Response | None:
    if request.path == "/healthz":
        return Response(200, {"Content-Type": "text/plain"}, "ok\n")
    if request.path not in ROUTES:
        return Response(404, {"Content-Type": "text/plain"}, f"no route {request.path}\n")
    if user_of(request) is None:
        return Response(
            401,
            {"WWW-Authenticate": 'Bearer realm="chat"', "Content-Type": "text/plain"},
            "a valid token is required: Authorization: Bearer TOKEN, or ?token=TOKEN\n",
        )
    return None  # go on with the upgrade


def process_response(request: Request, response: Response) -> None:
    response.headers.add("Set-Cookie", f"session={secrets.token_hex(8)}; HttpOnly; SameSite=Strict")


async def handler(channel: WebSocketChannel) -> None:
    assert channel.request is not None  # a server channel always has its request
    user = user_of(channel.request)
    async for message in channel.stream:
        text = message if isinstance(message, str) else message.decode("utf-8", "replace")
        if channel.request.path == "/shout":
            text = text.upper()
        await channel.sink.add(f"{user}: {text}")


async def ask(url: str, headers: dict[str, str] | None = None, backend: str | None = None) -> None:
    """Send one message, print the reply and the session cookie of the 101, or why it was refused."""
    try:
        async with connect(url, headers=headers, backend=backend) as channel:
            assert channel.response is not None
            cookie = channel.response.headers.get("Set-Cookie", "")
            name, _, value = cookie.partition(";")[0].partition("=")
            print(f"{url}: upgraded, cookie {name} of {len(value)} characters")
            await channel.sink.add("hello")
            print(f"{url}: received {await anext(channel.stream)!r}")
    except InvalidStatus as error:  # the server answered without upgrading
        body = error.response.body.decode().strip()
        print(f"{url}: refused with HTTP {error.response.status}: {body}")


def http_get(url: str) -> str:
    """A plain HTTP GET (no proxy), as a load balancer's health check would do."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as reply:
        return f"HTTP {reply.status}: {reply.read().decode().strip()}"


async def main(backend: str | None, client_backend: str | None) -> None:
    async with serve(
        handler,
        "127.0.0.1",
        0,
        process_request=process_request,
        process_response=process_response,
        backend=backend,
    ) as server:
        base = f"127.0.0.1:{server.port}"
        health = await anyio.to_thread.run_sync(http_get, f"http://{base}/healthz")
        print(f"GET /healthz: {health}")
        await ask(f"ws://{base}/echo", headers={"Authorization": "Bearer s3cret"}, backend=client_backend)
        await ask(f"ws://{base}/shout?token=s3cret", backend=client_backend)
        await ask(f"ws://{base}/echo", backend=client_backend)
        await ask(f"ws://{base}/echo?token=wrong", backend=client_backend)
        await ask(f"ws://{base}/nowhere?token=s3cret", backend=client_backend)


def client_backend_for(backend: str | None) -> str | None:
    """The server's backend when it can be a client too, else ``None`` (the default client backend)."""
    return backend if backend in available_backends(role="client") else None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--backend", help="the server's backend")
    parser.add_argument("--client-backend", help="the client's backend (default: the server's if it can)")
    args = parser.parse_args()
    anyio.run(main, args.backend, args.client_backend or client_backend_for(args.backend))
