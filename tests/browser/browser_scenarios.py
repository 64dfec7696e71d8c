"""Client behaviours written only against ``ws_channel_core``, run unchanged on CPython and in Pyodide.

The tests run :func:`run_all` on CPython with every client backend, and inside Pyodide (under Node
and in headless Chromium) where ``connect()`` picks the browser backend. Each scenario returns plain
JSON-able data (what the client saw); the servers, started by pytest, record what they saw under the
``id`` query parameter. This file imports nothing from the tests: it is copied into Pyodide as is.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel

from ws_channel_core import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    WebSocketChannel,
    connect,
    status,
)

__all__ = ["talk", "run_all", "SCENARIOS", "main_in_pyodide"]

#: Seconds any one scenario may take.
TIMEOUT = 10.0


async def talk(channel: WebSocketChannel) -> None:
    """The README's client, word for word: say hello, answer each message, close with GOING_AWAY."""
    await channel.sink.add("hello")
    async for _message in channel.stream:  # str for text, bytes for binary
        await channel.sink.add("received!")
        await channel.sink.close(status.GOING_AWAY)


def _closing(channel: WebSocketChannel) -> dict[str, Any]:
    sent = channel.close_sent
    return {
        "close_code": channel.close_code,
        "close_reason": channel.close_reason,
        "close_sent": None if sent is None else [sent.code, sent.reason],
        "close_error": type(channel.close_error).__name__ if channel.close_error else None,
        "state": channel.state.name,
    }


def _shown(message: str | bytes) -> list[Any]:
    """A message as JSON: its type and content (bytes as a list, short ones only)."""
    if isinstance(message, str):
        return ["str", message]
    return ["bytes", list(message) if len(message) <= 16 else len(message)]


async def echo_text(base: str, run: str) -> dict[str, Any]:
    messages = ["hello", "", "héllo wörld 🙂", "x" * 70000]
    async with connect(f"{base}/echo") as channel:
        state = channel.state.name
        received = []
        for message in messages:
            await channel.sink.add(message)
            received.append(await anext(channel.stream))
    return {
        "state_when_open": state,
        "same": received == messages,
        "types": sorted({type(m).__name__ for m in received}),
        "protocol": channel.protocol,
        **_closing(channel),
    }


async def echo_binary(base: str, run: str) -> dict[str, Any]:
    messages = [b"\x00\xff\x10", b"", bytes(range(256)) * 400]
    async with connect(f"{base}/echo") as channel:
        received = []
        for message in messages:
            await channel.sink.add(message)
            received.append(await anext(channel.stream))
    return {
        "same": received == messages,
        "types": sorted({type(m).__name__ for m in received}),
        "first": _shown(received[0]),
        **_closing(channel),
    }


async def subprotocol(base: str, run: str) -> dict[str, Any]:
    async with connect(f"{base}/echo", protocols=["superchat", "chat"]) as channel:
        chosen = channel.protocol
    async with connect(f"{base}/echo") as channel:
        none = channel.protocol
    return {"chosen": chosen, "without_offer": none}


async def client_closes(base: str, run: str) -> dict[str, Any]:
    channel = await connect(f"{base}/record?id={run}-client-closes")
    await channel.sink.add("last words")
    closing = channel.sink.close(4001, "client says bye")  # starts at the call
    state = channel.state.name
    await closing
    await channel.sink.done
    try:
        await channel.sink.add("too late")
        after = "sent"
    except ConnectionClosed as exc:
        after = type(exc).__name__
    return {"state_after_close_call": state, "add_after_close": after, **_closing(channel)}


async def server_closes(base: str, run: str) -> dict[str, Any]:
    async with connect(f"{base}/close?code=4002&reason=server+says+bye") as channel:
        messages = [message async for message in channel.stream]
        state = channel.state.name
        try:
            await channel.sink.add("too late")
            after = "sent"
        except ConnectionClosed as exc:
            after = type(exc).__name__
    await channel.sink.done
    return {"messages": messages, "state_after_stream": state, "add_after_close": after, **_closing(channel)}


async def seed(base: str, run: str) -> dict[str, Any]:
    async with connect(f"{base}/seed?id={run}-seed") as channel:
        await talk(channel)
    return _closing(channel)


async def rejected(base: str, run: str) -> dict[str, Any]:
    try:
        async with connect(f"{base}/reject"):
            pass
    except InvalidStatus as exc:
        return {"error": "InvalidStatus", "status": exc.status_code, "handshake_error": True}
    except InvalidHandshake as exc:
        return {"error": type(exc).__name__, "status": None, "handshake_error": True}
    return {"error": None}


async def too_big(base: str, run: str) -> dict[str, Any]:
    async with connect(f"{base}/big?size=2000&id={run}-too-big", max_size=1000) as channel:
        messages = [message async for message in channel.stream]
        await channel.sink.done
    return {"messages": len(messages), **_closing(channel)}


async def dropped(url: str, run: str) -> dict[str, Any]:
    async with connect(url) as channel:
        messages = [message async for message in channel.stream]
    return {"messages": messages, **_closing(channel)}


Scenario = Callable[[str, str], Awaitable[dict[str, Any]]]

#: Scenarios run against each server backend (``base`` is ``ws://127.0.0.1:PORT``).
SCENARIOS: dict[str, Scenario] = {
    "echo_text": echo_text,
    "echo_binary": echo_binary,
    "subprotocol": subprotocol,
    "client_closes": client_closes,
    "server_closes": server_closes,
    "seed": seed,
    "rejected": rejected,
    "too_big": too_big,
}


async def _guarded(scenario: Scenario, base: str, run: str) -> dict[str, Any]:
    try:
        with anyio.fail_after(TIMEOUT):
            return await scenario(base, run)
    except Exception as exc:  # reported, so one failure does not hide the others
        return {"exception": "".join(traceback.format_exception(exc))[-3000:]}


async def run_all(servers: dict[str, str], drop_url: str, run: str) -> dict[str, Any]:
    """Every scenario against every server (``{backend name: base URL}``), plus the dropping peer."""
    results: dict[str, Any] = {}
    for server, base in servers.items():
        for name, scenario in SCENARIOS.items():
            results[f"{server}/{name}"] = await _guarded(scenario, base, f"{run}-{server}")
    results["dropped"] = await _guarded(dropped, drop_url, run)
    return results


async def browser_only(servers: dict[str, str]) -> dict[str, Any]:
    """What only the browser backend has: ``wrap``, ``buffered_amount``, options it refuses."""
    import js  # type: ignore[import-not-found]

    from ws_channel_backends.browser import BrowserChannel, wrap
    from ws_channel_core import get_backend

    results: dict[str, Any] = {"platform": sys.platform}
    base = next(iter(servers.values()))
    results["backend_version"] = get_backend("browser").version
    refused = {}
    for option, value in [
        ("headers", {"X-Token": "1"}),
        ("ping_interval", 5.0),
        ("compression", None),
        ("extra", {"anything": 1}),
    ]:
        try:
            await connect(f"{base}/echo", **{option: value})  # type: ignore[arg-type]
            refused[option] = "accepted"
        except ValueError as exc:
            refused[option] = f"ValueError: {exc}"
    results["refused"] = refused
    accepted = {}
    for option, value in [("ping_interval", None), ("max_queue", 4), ("write_limit", 1024)]:
        async with connect(f"{base}/echo", **{option: value}) as channel:  # type: ignore[arg-type]
            await channel.sink.add("ok")
            accepted[option] = await anext(channel.stream)
    results["accepted"] = accepted
    try:
        from ws_channel_core import serve

        async with serve(lambda channel: anyio.lowlevel.checkpoint(), backend="browser"):
            pass
        results["serve"] = "served"
    except LookupError as exc:
        results["serve"] = f"LookupError: {exc}"

    with anyio.fail_after(TIMEOUT):
        socket = js.WebSocket.new(f"{base}/echo")
        channel = wrap(socket)
        results["wrapped_state"] = channel.state.name
        await channel.sink.add(b"\x01\x02")  # waits for the open event
        results["wrapped_echo"] = _shown(await anext(channel.stream))
        results["wrapped_is_browser_channel"] = isinstance(channel, BrowserChannel)
        results["buffered_amount"] = channel.sink.buffered_amount
        await channel.sink.add(b"x" * 200000)
        results["echoed_big"] = len(await anext(channel.stream))
        channel.sink.add_nowait("queued")
        results["add_nowait_echo"] = _shown(await anext(channel.stream))
        await channel.sink.add_fragments(["frag", "ments"])
        results["fragments_echo"] = [chunk async for chunk in channel.receive_fragments()]
        try:
            await channel.ping()
            results["ping"] = "pinged"
        except NotImplementedError as exc:
            results["ping"] = f"NotImplementedError: {exc}"
        await channel.sink.close(3000, "wrapped")
        results["wrapped_close"] = _closing(channel)
        results["socket_ready_state"] = int(socket.readyState)
    return results


async def main_in_pyodide(config: dict[str, Any]) -> dict[str, Any]:
    """The program the tests run inside Pyodide (the entry point of ``boot.mjs``'s ``code``)."""
    from ws_channel_core.registry import default_backend_name

    default = default_backend_name("client")
    results: dict[str, Any] = {"default_backend": default}
    if default != "browser":
        # Until the registry prefers the browser under Pyodide, pick it the documented way.
        import os

        os.environ["WS_CHANNEL_BACKEND"] = "browser"
    results["scenarios"] = await run_all(config["servers"], config["drop_url"], config["run"])
    try:
        results["browser_only"] = await browser_only(config["servers"])
    except Exception as exc:
        results["browser_only"] = {"exception": "".join(traceback.format_exception(exc))[-3000:]}
    return results
