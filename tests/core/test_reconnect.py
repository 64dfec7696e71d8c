"""``async for channel in connect(url)``: reconnect with backoff, stop on refusals retrying cannot fix."""

from __future__ import annotations

import random

import anyio
import pytest

from conformance.peers import PeerConnection, Script, scripted_server
from conformance.peers.http import build_response
from conformance.support import closed_port
from ws_channel_core import (
    Backoff,
    InvalidStatus,
    ServerUnreachable,
    available_backends,
    connect,
    is_retryable,
)
from ws_channel_core.http import Response

pytestmark = pytest.mark.anyio

FAST = Backoff(initial_delay=0.01, max_delay=0.05)
CLIENT_BACKENDS = [name for name in available_backends() if name not in ("asgi", "browser")]


@pytest.fixture(params=["asyncio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _refuse_then_accept(statuses: list[int]) -> tuple[list[int], Script]:
    """A script that refuses with each of ``statuses`` in turn, then upgrades and drops at once."""
    seen: list[int] = []

    async def script(connection: PeerConnection) -> None:
        seen.append(len(seen))
        if len(seen) <= len(statuses):
            await connection.read_request()
            status = statuses[len(seen) - 1]
            await connection.send_raw(build_response(status, "Refused", body=b"go away"))
            return
        await connection.accept()
        await connection.close_tcp()

    return seen, script


@pytest.mark.parametrize("backend", CLIENT_BACKENDS)
async def test_a_dropped_connection_is_opened_again(backend: str) -> None:
    seen, script = _refuse_then_accept([])
    opened = 0
    async with scripted_server(script) as server:
        with anyio.fail_after(10):
            async for channel in connect(server.url, backend=backend).reconnecting(FAST):
                opened += 1
                async for _ in channel.stream:
                    pass
                assert channel.close_code == 1006
                if opened == 3:
                    break
    assert opened == 3
    assert len(seen) == 3


@pytest.mark.parametrize("backend", CLIENT_BACKENDS)
async def test_server_errors_are_retried_until_the_upgrade_succeeds(backend: str) -> None:
    seen, script = _refuse_then_accept([503, 429])
    async with scripted_server(script) as server:
        with anyio.fail_after(10):
            async for channel in connect(server.url, backend=backend).reconnecting(FAST):
                assert channel.response is not None and channel.response.status == 101
                break
    assert len(seen) == 3


@pytest.mark.parametrize("backend", CLIENT_BACKENDS)
async def test_a_refusal_retrying_cannot_fix_is_raised_at_once(backend: str) -> None:
    seen, script = _refuse_then_accept([401])
    async with scripted_server(script) as server:
        with anyio.fail_after(10), pytest.raises(InvalidStatus) as raised:
            async for _ in connect(server.url, backend=backend).reconnecting(FAST):
                pytest.fail("a 401 must not yield a channel")
    assert raised.value.status_code == 401
    assert len(seen) == 1


@pytest.mark.parametrize("backend", CLIENT_BACKENDS)
async def test_an_unreachable_server_is_retried_up_to_max_attempts(backend: str) -> None:
    backoff = Backoff(initial_delay=0.01, max_delay=0.02, max_attempts=3)
    async with closed_port() as port:
        with anyio.fail_after(10), pytest.raises(ServerUnreachable):
            async for _ in connect(f"ws://127.0.0.1:{port}/", backend=backend).reconnecting(backoff):
                pytest.fail("nothing listens there")


def test_the_delay_grows_exponentially_with_jitter_up_to_the_ceiling() -> None:
    backoff = Backoff(initial_delay=1.0, max_delay=10.0, factor=2.0)
    rng = random.Random(7)
    for failures, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (4, 10.0), (9, 10.0)]:
        delays = [backoff.delay(failures, rng) for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1  # jittered


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (ServerUnreachable("refused"), True),
        (InvalidStatus(Response(503)), True),
        (InvalidStatus(Response(429)), True),
        (InvalidStatus(Response(408)), True),
        (InvalidStatus(Response(401)), False),
        (InvalidStatus(Response(404)), False),
        (ValueError("bad url"), False),
    ],
)
def test_which_errors_are_retried(error: Exception, retryable: bool) -> None:
    assert is_retryable(error) is retryable


@pytest.mark.parametrize(
    "arguments", [{"initial_delay": -1}, {"max_delay": 0.5}, {"factor": 0.5}, {"max_attempts": 0}]
)
def test_bad_backoff_settings_raise_value_error(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**arguments)  # type: ignore[arg-type]
