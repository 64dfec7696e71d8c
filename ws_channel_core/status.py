"""Close status codes (RFC 6455 section 7.4 and the IANA registry) and the rule for sending them.

Each code is available as a member of :class:`CloseCode` and as a module-level constant, so both
``status.GOING_AWAY`` and ``CloseCode.GOING_AWAY`` read well at the call site.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

__all__ = [
    "CloseCode",
    "NORMAL_CLOSURE",
    "GOING_AWAY",
    "PROTOCOL_ERROR",
    "UNSUPPORTED_DATA",
    "RESERVED",
    "NO_STATUS_RECEIVED",
    "ABNORMAL_CLOSURE",
    "INVALID_FRAME_PAYLOAD_DATA",
    "POLICY_VIOLATION",
    "MESSAGE_TOO_BIG",
    "MANDATORY_EXTENSION",
    "INTERNAL_ERROR",
    "SERVICE_RESTART",
    "TRY_AGAIN_LATER",
    "BAD_GATEWAY",
    "TLS_HANDSHAKE",
    "is_sendable",
    "is_valid_on_wire",
]


class CloseCode(IntEnum):
    """Every close code that RFC 6455 and the IANA "WebSocket Close Code Number Registry" define."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    RESERVED = 1004
    NO_STATUS_RECEIVED = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


NORMAL_CLOSURE: Final = CloseCode.NORMAL_CLOSURE
GOING_AWAY: Final = CloseCode.GOING_AWAY
PROTOCOL_ERROR: Final = CloseCode.PROTOCOL_ERROR
UNSUPPORTED_DATA: Final = CloseCode.UNSUPPORTED_DATA
RESERVED: Final = CloseCode.RESERVED
NO_STATUS_RECEIVED: Final = CloseCode.NO_STATUS_RECEIVED
ABNORMAL_CLOSURE: Final = CloseCode.ABNORMAL_CLOSURE
INVALID_FRAME_PAYLOAD_DATA: Final = CloseCode.INVALID_FRAME_PAYLOAD_DATA
POLICY_VIOLATION: Final = CloseCode.POLICY_VIOLATION
MESSAGE_TOO_BIG: Final = CloseCode.MESSAGE_TOO_BIG
MANDATORY_EXTENSION: Final = CloseCode.MANDATORY_EXTENSION
INTERNAL_ERROR: Final = CloseCode.INTERNAL_ERROR
SERVICE_RESTART: Final = CloseCode.SERVICE_RESTART
TRY_AGAIN_LATER: Final = CloseCode.TRY_AGAIN_LATER
BAD_GATEWAY: Final = CloseCode.BAD_GATEWAY
TLS_HANDSHAKE: Final = CloseCode.TLS_HANDSHAKE

# RFC 6455 section 7.4.1: 1004 is reserved; 1005, 1006 and 1015 "MUST NOT be set as a status code in
# a Close control frame by an endpoint".
_NEVER_ON_WIRE: Final = frozenset({1004, 1005, 1006, 1015})


def is_valid_on_wire(code: int) -> bool:
    """Tell whether ``code`` may appear in a received close frame (RFC 6455 section 7.4).

    Registered codes other than 1004-1006 and 1015, and the application ranges 3000-4999, are valid;
    everything else (0-999, unassigned 1016-2999, 5000 and up) is a protocol error.
    """
    if 3000 <= code <= 4999:
        return True
    return 1000 <= code <= 1014 and code not in _NEVER_ON_WIRE


def is_sendable(code: int) -> bool:
    """Tell whether an application may pass ``code`` to ``close()``.

    Our policy (every backend follows it): 1000-1003, 1007-1014 and 3000-4999. This keeps
    ``GOING_AWAY`` usable by clients, which Dart 3.0 forbade.
    """
    return is_valid_on_wire(code)
