"""Scripted WebSocket peers on plain anyio sockets, with hand-built frames and HTTP.

They never use a backend, so a bug in one backend cannot hide a bug in another: servers that refuse
to upgrade, answer wrongly, break the protocol or never answer, and clients that do the same to a
backend's server.
"""

from __future__ import annotations

from .client import handshake, open_connection, scripted_client
from .connection import PeerClosed, PeerConnection
from .frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Frame,
    close_payload,
    deflate_payload,
    encode_frame,
    inflate_payload,
    parse_close_payload,
)
from .http import Request, Response
from .misbehaviour import CLIENT_ONLY, GARBAGE, SERVER_ONLY, SHARED, Misbehaviour
from .server import Script, ScriptedServer, scripted_server

__all__ = [
    "CLIENT_ONLY",
    "GARBAGE",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONTINUATION",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "SERVER_ONLY",
    "SHARED",
    "Frame",
    "Misbehaviour",
    "PeerClosed",
    "PeerConnection",
    "Request",
    "Response",
    "Script",
    "ScriptedServer",
    "close_payload",
    "deflate_payload",
    "encode_frame",
    "handshake",
    "inflate_payload",
    "open_connection",
    "parse_close_payload",
    "scripted_client",
    "scripted_server",
]
