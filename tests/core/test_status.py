"""Close codes: every code RFC 6455 and IANA define, and which ones an application may send."""

from __future__ import annotations

import pytest

from ws_channel_core import status
from ws_channel_core.status import CloseCode


def test_every_registered_code_from_1000_to_1015_except_none_is_defined() -> None:
    assert sorted(int(code) for code in CloseCode) == list(range(1000, 1016))


def test_module_constants_are_the_enum_members() -> None:
    assert status.NORMAL_CLOSURE is CloseCode.NORMAL_CLOSURE == 1000
    assert status.GOING_AWAY == 1001
    assert status.NO_STATUS_RECEIVED == 1005
    assert status.ABNORMAL_CLOSURE == 1006
    assert status.MESSAGE_TOO_BIG == 1009
    assert status.TLS_HANDSHAKE == 1015


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, *range(1007, 1015), 3000, 3999, 4000, 4999])
def test_an_application_may_send(code: int) -> None:
    assert status.is_sendable(code)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535, -1])
def test_an_application_may_not_send(code: int) -> None:
    assert not status.is_sendable(code)


@pytest.mark.parametrize(("code", "valid"), [(1000, True), (1004, False), (1005, False), (1006, False),
                                             (1014, True), (1015, False), (1100, False), (3000, True)])
def test_validity_of_a_received_code(code: int, valid: bool) -> None:
    assert status.is_valid_on_wire(code) is valid
