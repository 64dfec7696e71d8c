"""Shared fixtures of the project's tests.

How ``pytest`` (testpaths = ["tests"]) runs the conformance suite: ``tests/test_conformance_suite.py``
re-exports every case function of ``conformance.cases`` (see ``conformance.cases.case_functions``),
and the ``conformance.plugin`` pytest plugin, loaded in every run through its ``pytest11`` entry
point, parametrizes them over every available backend and event loop. Nothing here names a backend.

``third_party_site`` installs the demo backend of ``tests/third_party_backend`` into a temporary
directory, as pip would (the package plus a ``.dist-info`` with its ``entry_points.txt``), so that
``importlib.metadata`` and therefore the registry discover it.
"""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from ws_channel_core import registry

THIRD_PARTY_SOURCE = Path(__file__).parent / "third_party_backend"


def _entry_points_txt(pyproject: Path) -> str:
    project = tomllib.loads(pyproject.read_text())["project"]
    lines = []
    for group, entries in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines.extend(f"{name} = {value}" for name, value in entries.items())
        lines.append("")
    return "\n".join(lines)


@pytest.fixture
def third_party_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A site directory holding the installed demo backend, prepended to ``sys.path`` for the test."""
    pyproject = THIRD_PARTY_SOURCE / "pyproject.toml"
    project = tomllib.loads(pyproject.read_text())["project"]
    site = tmp_path / "site-packages"
    shutil.copytree(THIRD_PARTY_SOURCE / "src", site)
    dist_info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    (dist_info / "entry_points.txt").write_text(_entry_points_txt(pyproject))
    monkeypatch.syspath_prepend(str(site))
    registry.clear_cache()
    try:
        yield site
    finally:
        registry.clear_cache()
