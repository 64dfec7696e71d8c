"""The backend registry: discovery by entry point, selection order, clear errors."""

from __future__ import annotations

import os
import subprocess
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


def test_two_missing_libraries_give_one_lookup_error_not_a_recursion(
    fake_entry_points: list[EntryPoint],
) -> None:
    phantom = EntryPoint("phantom", "another_missing_module_xyz:backend [phantom]", registry.GROUP)
    fake_entry_points.append(phantom)
    assert registry.available_backends() == ["websockets", "alpha"]
    for name, extra in (("ghost", "ghostextra"), ("phantom", "phantom")):
        with pytest.raises(LookupError, match=rf"pip install 'ws-channel\[{extra}\]'") as info:
            registry.get_backend(name)
        assert "Installed backends: websockets, alpha" in str(info.value)


def test_only_missing_libraries_still_give_a_lookup_error(monkeypatch: pytest.MonkeyPatch) -> None:
    points = [
        EntryPoint("ghost", "module_that_does_not_exist_xyz:backend [ghostextra]", registry.GROUP),
        EntryPoint("phantom", "another_missing_module_xyz:backend [phantom]", registry.GROUP),
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: points)
    monkeypatch.delenv(registry.ENV_VAR, raising=False)
    registry.clear_cache()
    try:
        assert registry.available_backends() == []
        with pytest.raises(LookupError, match="Installed backends: none"):
            registry.get_backend("ghost")
        with pytest.raises(LookupError, match=r"ws-channel\[all\]"):
            registry.get_backend()
    finally:
        registry.clear_cache()


class ServerOnlyBackend(FakeBackend):
    """A backend that declares it can only serve."""

    roles = ("server",)


@pytest.fixture
def with_server_only(fake_entry_points: list[EntryPoint], monkeypatch: pytest.MonkeyPatch) -> None:
    module = sys.modules["fake_ws_backends"]
    monkeypatch.setattr(module, "listener", ServerOnlyBackend("listener"), raising=False)
    fake_entry_points.append(EntryPoint("listener", "fake_ws_backends:listener", registry.GROUP))


def test_a_backend_without_roles_plays_both(fake_entry_points: list[EntryPoint]) -> None:
    assert registry.roles_of(registry.get_backend("alpha")) == ("client", "server")
    assert registry.get_backend("alpha", role="client").name == "alpha"
    assert registry.get_backend("alpha", role="server").name == "alpha"


def test_a_server_only_backend_refuses_the_client_role_and_names_those_that_can(
    with_server_only: None,
) -> None:
    assert registry.get_backend("listener", role="server").name == "listener"
    with pytest.raises(LookupError, match=r"'listener' cannot act as a client.*that can: websockets, alpha"):
        registry.get_backend("listener", role="client")


def test_the_default_for_a_role_skips_backends_without_it(
    with_server_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "DEFAULT_ORDER", ("listener", "websockets"))
    assert registry.default_backend_name() == "listener"
    assert registry.default_backend_name("client") == "websockets"
    assert registry.get_backend(role="client").name == "websockets"


def test_an_unknown_role_is_a_value_error(fake_entry_points: list[EntryPoint]) -> None:
    with pytest.raises(ValueError, match="role"):
        registry.get_backend("alpha", role="peer")


@pytest.mark.anyio
async def test_connect_with_a_server_only_backend_raises_lookup_error(with_server_only: None) -> None:
    from ws_channel_core import connect

    with pytest.raises(LookupError, match="cannot act as a client"):
        await connect("ws://127.0.0.1:9/", backend="listener")


def test_a_base_install_lists_raw_and_the_missing_backends_with_their_extras() -> None:
    """``ws-channel backends`` with websockets, aiohttp and trio unimportable (as after a plain install)."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('websockets', 'aiohttp', 'trio'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from ws_channel_core.cli import main\n"
        "sys.exit(main(['backends']))\n"
    )
    env = {key: value for key, value in os.environ.items() if key != registry.ENV_VAR}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert any(line.startswith("raw ") and "installed" in line for line in lines), result.stdout
    for name in ("websockets", "aiohttp"):
        missing = f"missing: pip install 'ws-channel[{name}]'"
        assert any(line.startswith(name + " ") and missing in line for line in lines), result.stdout
    assert "default: raw" in result.stdout
