"""Every async test of the raw backend runs on asyncio, on uvloop (when installed) and on trio."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

_LOOPS: dict[str, Any] = {"asyncio": "asyncio", "trio": "trio"}
if importlib.util.find_spec("uvloop") is not None:
    import uvloop

    _LOOPS["uvloop"] = ("asyncio", {"loop_factory": uvloop.new_event_loop})


@pytest.fixture(params=list(_LOOPS.values()), ids=list(_LOOPS))
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param
