"""ws-channel: one typed WebSocket interface, several interchangeable backends.

Code against :class:`WebSocketChannel`; choose the implementation with ``backend=`` or the
``WS_CHANNEL_BACKEND`` environment variable.
"""

from __future__ import annotations

from . import status
from .api import Connect, connect, serve
from .backend import Backend
from .base import ChannelBase, run_handler
from .broadcast import BroadcastResult, broadcast
from .channel import Handler, Message, State, WebSocketChannel, WebSocketServer, WebSocketSink
from .errors import (
    BufferFull,
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
    ServerUnreachable,
    WebSocketChannelError,
)
from .handshake import (
    check_accept,
    check_close_arguments,
    check_upgrade_request,
    generate_key,
    sign_key,
    validate_client_key,
)
from .hooks import ProcessRequest, ProcessResponse
from .http import Address, Headers, Request, Response
from .options import ClientOptions, Options, ServerOptions
from .reconnect import Backoff, Reconnecting, is_retryable
from .registry import UnsupportedEventLoop, available_backends, get_backend, registered_backends
from .status import CloseCode
from .uri import WebSocketURI, parse_uri

__all__ = [
    "Address",
    "Backend",
    "Backoff",
    "BroadcastResult",
    "BufferFull",
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
    "Headers",
    "InvalidHandshake",
    "InvalidHeader",
    "InvalidStatus",
    "InvalidURI",
    "KeepaliveTimeout",
    "Message",
    "NegotiationError",
    "Options",
    "PayloadTooBig",
    "ProcessRequest",
    "ProcessResponse",
    "ProtocolError",
    "Reconnecting",
    "Request",
    "Response",
    "ServerOptions",
    "ServerUnreachable",
    "State",
    "UnsupportedEventLoop",
    "WebSocketChannel",
    "WebSocketChannelError",
    "WebSocketServer",
    "WebSocketSink",
    "WebSocketURI",
    "available_backends",
    "broadcast",
    "check_accept",
    "check_close_arguments",
    "check_upgrade_request",
    "connect",
    "generate_key",
    "get_backend",
    "is_retryable",
    "parse_uri",
    "registered_backends",
    "run_handler",
    "serve",
    "sign_key",
    "status",
    "validate_client_key",
]

__version__ = "0.1.0"
