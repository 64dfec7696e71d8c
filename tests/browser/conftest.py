"""Fixtures of the browser tests: servers of our backends, the wheels, and one Pyodide run per place.

Each Pyodide run (Node, Chromium) boots once per module and runs every scenario against every
server; the tests then check one scenario each, so a failure names the behaviour.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_harness import (
    Records,
    chromium_problem,
    dependency_wheels,
    node_problem,
    project_wheel,
    pyodide_program,
    require,
    run_in_chromium,
    run_in_node,
    running_servers,
)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[dict[str, str], str, Records]]:
    with running_servers() as running:
        yield running


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    dependencies, problem = dependency_wheels()
    require(problem)
    wheel, problem = project_wheel(tmp_path_factory.mktemp("wheel"))
    require(problem)
    assert wheel is not None
    return [*dependencies, wheel]


def _run(place: str, servers: tuple[dict[str, str], str, Records], wheels: list[Path]) -> dict[str, Any]:
    urls, drop_url, _records = servers
    program = pyodide_program(urls, drop_url, f"{place}-{uuid.uuid4().hex[:8]}")
    results = run_in_node(program, wheels) if place == "node" else run_in_chromium(program, wheels)
    results["run"] = program["args"]["run"]
    return results


@pytest.fixture(scope="module")
def node_results(
    servers: tuple[dict[str, str], str, Records], request: pytest.FixtureRequest
) -> dict[str, Any]:
    require(node_problem())
    return _run("node", servers, request.getfixturevalue("wheels"))


@pytest.fixture(scope="module")
def chromium_results(
    servers: tuple[dict[str, str], str, Records], request: pytest.FixtureRequest
) -> dict[str, Any]:
    require(chromium_problem())
    return _run("chromium", servers, request.getfixturevalue("wheels"))
