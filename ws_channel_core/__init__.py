"""ws-channel: one typed WebSocket interface, several interchangeable backends.

Code against :class:`WebSocketChannel`; choose the implementation with ``backend=`` or the
``WS_CHANNEL_BACKEND`` environment variable.
"""

from __future__ import annotations

from . import status
from .api import Connect, connect, serve
from .backend import Backend
from .base import ChannelBase
from .channel import Handler, Message, WebSocketChannel, WebSocketServer, WebSocketSink
from .errors import (
    CloseFrame,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandshakeTimeout,
    InvalidHandshake,
    InvalidHeader,
    InvalidStatus,
    InvalidURI,
    KeepaliveTimeout,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    WebSocketChannelError,
)
from .handshake import check_accept, check_close_arguments, generate_key, sign_key, validate_client_key
from .options import ClientOptions, Options, ServerOptions
from .registry import available_backends, get_backend, registered_backends
from .status import CloseCode
from .uri import WebSocketURI, parse_uri

__all__ = [
    "Backend",
    "ChannelBase",
    "ClientOptions",
    "CloseCode",
    "CloseFrame",
    "Connect",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "Handler",
    "HandshakeTimeout",
    "InvalidHandshake",
    "InvalidHeader",
    "InvalidStatus",
    "InvalidURI",
    "KeepaliveTimeout",
    "Message",
    "NegotiationError",
    "Options",
    "PayloadTooBig",
    "ProtocolError",
    "ServerOptions",
    "WebSocketChannel",
    "WebSocketChannelError",
    "WebSocketServer",
    "WebSocketSink",
    "WebSocketURI",
    "available_backends",
    "check_accept",
    "check_close_arguments",
    "connect",
    "generate_key",
    "get_backend",
    "parse_uri",
    "registered_backends",
    "serve",
    "sign_key",
    "status",
    "validate_client_key",
]

__version__ = "0.1.0"
