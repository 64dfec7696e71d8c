"""How ws-channel options map onto aiohttp, and the backend-specific ``extra`` keys it accepts.

| option | aiohttp |
|---|---|
| ``protocols`` | ``ws_connect(protocols=)``; ``WebSocketResponse(protocols=)`` (client's order wins) |
| ``headers`` | ``ws_connect(headers=)``; added to the 101 response |
| ``ping_interval`` / ``ping_timeout`` | our own keepalive task (aiohttp's ``heartbeat`` waits only
  ``heartbeat / 2`` for the pong and pings only when idle, so it cannot honour both values) |
| ``connect_timeout`` | a deadline around ``ws_connect``; on a server, ``keepalive_timeout`` for the request |
| ``close_timeout`` | our closing handshake; ``ClientWSTimeout(ws_close=)``, ``WebSocketResponse(timeout=)`` |
| ``max_size`` | ``max_msg_size = max_size + 1`` (aiohttp rejects a message of exactly its limit); None -> 0 |
| ``max_queue`` | the channel's queue of unread messages |
| ``write_limit`` | the frame writer's limit and the transport's high-water mark |
| ``compression`` | ``ws_connect(compress=15)`` / ``WebSocketResponse(compress=True)``, or off |
| ``ssl`` | ``ws_connect(ssl=)``; ``TCPSite(ssl_context=)`` |

``extra`` keys: client ``session`` (an ``aiohttp.ClientSession`` to connect with; it is not closed with
the channel). A caller's session keeps its own settings, so two things the backend's own session adds
are missing with it: the body of a refused upgrade (``InvalidStatus.body`` is empty) and the mask-bit
check in front of aiohttp's parser. The server accepts no extras. Anything else raises ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import ClientSession

__all__ = ["ClientExtras", "aiohttp_max_size", "client_extras", "check_server_extras"]

CLIENT_EXTRA_KEYS = frozenset({"session"})


@dataclass(frozen=True)
class ClientExtras:
    """The client's backend-specific options."""

    session: ClientSession | None = None


def aiohttp_max_size(max_size: int | None) -> int:
    """aiohttp's ``max_msg_size`` for our ``max_size``: 0 is unlimited; aiohttp's check is ``>=``."""
    return 0 if max_size is None else max_size + 1


def _reject_unknown(extra: Mapping[str, object], known: frozenset[str], role: str) -> None:
    unknown = sorted(set(extra) - known)
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise ValueError(
            f"unknown extra option(s) for the aiohttp backend's {role}: {', '.join(unknown)} "
            f"(allowed: {allowed})"
        )


def client_extras(extra: Mapping[str, object]) -> ClientExtras:
    """Check the client's ``extra`` mapping and return its values."""
    _reject_unknown(extra, CLIENT_EXTRA_KEYS, "client")
    session = extra.get("session")
    if session is not None and not isinstance(session, ClientSession):
        raise TypeError(f"extra['session'] must be an aiohttp.ClientSession, not {type(session).__name__}")
    if session is not None and session.closed:
        raise ValueError("extra['session'] is closed")
    return ClientExtras(session=session)


def check_server_extras(extra: Mapping[str, object]) -> None:
    """The server takes no backend-specific options: reject any."""
    _reject_unknown(extra, frozenset(), "server")
