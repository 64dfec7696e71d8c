"""Connection logging, written once for every backend.

Loggers: ``ws_channel.server`` and ``ws_channel.client`` (children of ``ws_channel``). Quiet at the
default WARNING; INFO shows each connection opened, rejected and closed; handler exceptions are ERROR.
Every line carries the connection's id, peer address and path; never message contents.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import ChannelBase
    from .channel import WebSocketChannel
    from .errors import WebSocketChannelError

__all__ = ["logger", "server_logger", "client_logger", "context", "opened", "closed", "failed"]

logger = logging.getLogger("ws_channel")
server_logger = logging.getLogger("ws_channel.server")
client_logger = logging.getLogger("ws_channel.client")


def _logger_for(channel: WebSocketChannel) -> logging.Logger:
    return server_logger if getattr(channel, "server_side", False) else client_logger


def context(channel: WebSocketChannel) -> str:
    """``[id peer path]``: what identifies a connection in a log line."""
    request = channel.request
    path = request.path if request is not None else "-"
    return f"[{channel.id} {channel.remote_address} {path}]"


def opened(channel: WebSocketChannel) -> None:
    """Log a connection that completed its opening handshake (INFO)."""
    log = _logger_for(channel)
    if log.isEnabledFor(logging.INFO):
        log.info("%s connection open (subprotocol %s)", context(channel), channel.protocol)


def closed(channel: ChannelBase) -> None:
    """Log a connection that has ended: codes, and which side closed first (INFO)."""
    log = _logger_for(channel)
    if not log.isEnabledFor(logging.INFO):
        return
    received, sent = channel.close_received, channel.close_sent
    if received is None and sent is None:
        how = "without a closing handshake (1006)"
    elif channel.close_received_first is None:
        how = f"received {received}" if received is not None else f"sent {sent}, no answer"
    else:
        first = "peer" if channel.close_received_first else "we"
        how = f"received {received}, sent {sent}, {first} closed first"
    log.info("%s connection closed: %s", context(channel), how)


def failed(channel: ChannelBase, error: WebSocketChannelError) -> None:
    """Log why a connection failed: a protocol error of the peer, a keepalive timeout... (INFO)."""
    log = _logger_for(channel)
    if log.isEnabledFor(logging.INFO):
        log.info("%s connection failed: %s", context(channel), error)
