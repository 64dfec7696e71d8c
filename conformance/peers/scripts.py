"""Ready-made server scripts, one misbehaviour each, for :func:`scripted_server`.

Every script records what it received on its :class:`PeerConnection` (the upgrade request, the
frames), so a case can assert on what the backend under test sent.
"""

from __future__ import annotations

import contextlib

import anyio

from .connection import PeerClosed, PeerConnection
from .frames import Frame
from .http import build_response
from .server import Script

__all__ = [
    "respond_without_upgrade",
    "close_without_answer",
    "upgrade",
    "echo",
    "drop_after_upgrade",
    "delay_upgrade",
    "send_then_echo_close",
    "close_with",
    "never_answer_close",
    "never_answer_pings",
    "stream_messages",
]


def respond_without_upgrade(
    status: int, reason: str, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()
) -> Script:
    """Answer the upgrade request with a plain HTTP response (200, 404...) and close."""

    async def script(connection: PeerConnection) -> None:
        await connection.read_request()
        await connection.send_raw(build_response(status, reason, headers, body))

    return script


def close_without_answer() -> Script:
    """Read the request, then close the TCP connection without answering."""

    async def script(connection: PeerConnection) -> None:
        await connection.read_request()
        await connection.close_tcp()

    return script


def upgrade(
    *,
    protocol: str | None = None,
    accept: str | None = None,
    extensions: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Script:
    """Answer 101 (optionally with a wrong accept value or an unoffered protocol), then wait for the end."""

    async def script(connection: PeerConnection) -> None:
        await connection.accept(protocol=protocol, accept=accept, extensions=extensions, headers=headers)
        frame = await connection.read_until_close()
        if frame is not None:
            await connection.echo_close(frame)

    return script


async def _echo_messages(connection: PeerConnection) -> None:
    while True:
        message = await connection.read_message()
        if isinstance(message, Frame):
            await connection.echo_close(message)
            return
        if isinstance(message, str):
            await connection.send_text(message)
        else:
            await connection.send_binary(message)


def echo(*, protocol: str | None = None, extensions: str | None = None) -> Script:
    """Upgrade, echo every message with its type, answer pings and echo the close frame."""

    async def script(connection: PeerConnection) -> None:
        request = await connection.read_request()
        offered = request.header("Sec-WebSocket-Extensions") or ""
        chosen = extensions if extensions and "permessage-deflate" in offered else None
        await connection.accept(protocol=protocol, extensions=chosen)
        with contextlib.suppress(PeerClosed):
            await _echo_messages(connection)

    return script


def drop_after_upgrade(*, reset: bool = False) -> Script:
    """Answer a valid 101, then end TCP at once (FIN, or RST with ``reset``) without a close frame."""

    async def script(connection: PeerConnection) -> None:
        await connection.accept()
        if reset:
            await connection.abort()
        else:
            await connection.close_tcp()

    return script


def delay_upgrade(release: anyio.Event) -> Script:
    """Read the request and answer 101 only once ``release`` is set (or never, if it never is)."""

    async def script(connection: PeerConnection) -> None:
        await connection.read_request()
        await release.wait()
        await connection.accept()
        await connection.read_until_close()

    return script


def send_then_echo_close(
    data: bytes, *, extensions: str | None = None, answer_close: bool = True
) -> Script:
    """Upgrade, send ``data`` (frames, broken or not), then read until a close frame and answer it.

    With ``answer_close=False`` (``data`` already held a close frame) the close is not answered and
    TCP is closed instead, as a server does once both close frames were exchanged.
    """

    async def script(connection: PeerConnection) -> None:
        await connection.accept(extensions=extensions)
        try:
            await connection.send_raw(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            return
        frame = await connection.read_until_close()
        if frame is not None and answer_close:
            await connection.echo_close(frame)

    return script


def close_with(code: int | None, reason: str | bytes = b"", *, after: tuple[str | bytes, ...] = ()) -> Script:
    """Upgrade, send the ``after`` messages, then close with ``code`` (none when ``None``) and ``reason``."""

    async def script(connection: PeerConnection) -> None:
        await connection.accept()
        for message in after:
            if isinstance(message, str):
                await connection.send_text(message)
            else:
                await connection.send_binary(message)
        await connection.send_close(code, reason)
        # RFC 6455 7.1.1: the server closes TCP once the closing handshake is done.
        await connection.read_until_close()
        await connection.close_tcp()

    return script


def never_answer_close() -> Script:
    """Upgrade, then read everything and answer nothing (no close reply, no pongs) until TCP ends."""

    async def script(connection: PeerConnection) -> None:
        await connection.accept()
        try:
            while True:
                await connection.read_frame()
        except PeerClosed:
            return

    return script


def never_answer_pings() -> Script:
    """Upgrade and read frames without ever sending a pong; answer a close frame if one comes."""

    async def script(connection: PeerConnection) -> None:
        await connection.accept()
        frame = await connection.read_until_close(answer_pings=False)
        if frame is not None:
            await connection.echo_close(frame)

    return script


def stream_messages(count: int, text: str = "message") -> Script:
    """Upgrade and send up to ``count`` text messages, stopping as soon as a close frame arrives."""

    async def script(connection: PeerConnection) -> None:
        await connection.accept()
        stop = anyio.Event()

        async def produce() -> None:
            try:
                for index in range(count):
                    if stop.is_set():
                        return
                    await connection.send_text(f"{text} {index}")
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                return

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(produce)
            frame = await connection.read_until_close()
            stop.set()
        if frame is not None:
            await connection.echo_close(frame)

    return script

