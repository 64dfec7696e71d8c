"""The backend registry: discovery by entry point, selection order, clear errors."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from ws_channel_core import registry


class FakeBackend:
    """Just enough of the Backend protocol for the registry's checks."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.version = "1.0"

    async def connect(self, uri: Any, options: Any) -> Any:
        raise NotImplementedError

    def serve(self, handler: Any, host: str, port: int, options: Any) -> Any:
        raise NotImplementedError


@pytest.fixture
def fake_entry_points(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[EntryPoint]]:
    module = types.ModuleType("fake_ws_backends")
    module.alpha = FakeBackend("alpha")  # type: ignore[attr-defined]
    module.websockets = FakeBackend("websockets")  # type: ignore[attr-defined]
    module.not_a_backend = object()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_ws_backends", module)
    points = [
        EntryPoint("alpha", "fake_ws_backends:alpha", registry.GROUP),
        EntryPoint("websockets", "fake_ws_backends:websockets", registry.GROUP),
        EntryPoint("ghost", "module_that_does_not_exist_xyz:backend [ghostextra]", registry.GROUP),
    ]
    monkeypatch.setattr(
        registry, "entry_points", lambda group: list(points) if group == registry.GROUP else []
    )
    monkeypatch.delenv(registry.ENV_VAR, raising=False)
    registry.clear_cache()
    yield points
    registry.clear_cache()


def test_registered_backends_follow_the_default_order_then_names(fake_entry_points: list[EntryPoint]) -> None:
    assert registry.registered_backends() == ["websockets", "alpha", "ghost"]


def test_available_backends_leave_out_those_whose_library_is_missing(
    fake_entry_points: list[EntryPoint],
) -> None:
    assert registry.available_backends() == ["websockets", "alpha"]


def test_the_default_is_the_first_available_in_order(fake_entry_points: list[EntryPoint]) -> None:
    assert registry.get_backend().name == "websockets"


def test_the_environment_variable_selects_the_backend(
    fake_entry_points: list[EntryPoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(registry.ENV_VAR, "alpha")
    assert registry.get_backend().name == "alpha"


def test_the_argument_wins_over_the_environment(
    fake_entry_points: list[EntryPoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(registry.ENV_VAR, "alpha")
    assert registry.get_backend("websockets").name == "websockets"


def test_backends_are_loaded_once_and_cached(fake_entry_points: list[EntryPoint]) -> None:
    assert registry.get_backend("alpha") is registry.get_backend("alpha")


def test_an_unknown_name_lists_the_installed_backends(fake_entry_points: list[EntryPoint]) -> None:
    with pytest.raises(LookupError, match=r"unknown ws-channel backend 'nope'; installed: websockets, alpha"):
        registry.get_backend("nope")


def test_a_missing_library_names_the_extra_to_install(fake_entry_points: list[EntryPoint]) -> None:
    with pytest.raises(LookupError, match=r"pip install 'ws-channel\[ghostextra\]'") as info:
        registry.get_backend("ghost")
    assert "Installed backends: websockets, alpha" in str(info.value)
    assert isinstance(info.value.__cause__, ImportError)


def test_an_entry_point_that_is_not_a_backend_is_refused(
    fake_entry_points: list[EntryPoint],
) -> None:
    fake_entry_points.append(EntryPoint("odd", "fake_ws_backends:not_a_backend", registry.GROUP))
    with pytest.raises(LookupError, match="not a ws-channel Backend"):
        registry.get_backend("odd")


def test_no_backend_at_all_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "entry_points", lambda group: [])
    monkeypatch.delenv(registry.ENV_VAR, raising=False)
    registry.clear_cache()
    try:
        with pytest.raises(LookupError, match=r"ws-channel\[all\]"):
            registry.get_backend()
    finally:
        registry.clear_cache()


def test_the_installed_distribution_registers_the_websockets_backend() -> None:
    assert "websockets" in registry.registered_backends()


def test_an_entry_point_naming_a_missing_attribute_is_reported_not_crashing(
    fake_entry_points: list[EntryPoint],
) -> None:
    fake_entry_points.append(EntryPoint("hollow", "fake_ws_backends:nothing_here", registry.GROUP))
    with pytest.raises(LookupError, match="names nothing loadable"):
        registry.get_backend("hollow")
    assert "hollow" not in registry.available_backends()
