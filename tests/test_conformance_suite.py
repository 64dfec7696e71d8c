"""The conformance suite against every built-in backend, and against a third-party one.

Every case of ``conformance.cases`` is re-exported into this module; the ``conformance.plugin``
plugin runs each on every available backend (``--ws-backend NAME`` narrows it) and event loop. A
failure in any backend fails the run; expected failures are the backends' own strict xfail lists.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.cases import GROUPS, case_functions
from ws_channel_core import available_backends, get_backend, registered_backends

pytestmark = pytest.mark.anyio

globals().update(case_functions())

REPO = Path(__file__).resolve().parent.parent


def test_every_group_contributes_cases() -> None:
    cases = case_functions()
    groups = {function.__module__.rsplit(".", 1)[-1].removeprefix("test_") for function in cases.values()}
    assert groups == set(GROUPS)


def test_a_third_party_backend_is_discovered_by_entry_point(third_party_site: Path) -> None:
    assert "thirdparty-demo" in registered_backends()
    assert "thirdparty-demo" in available_backends()
    backend = get_backend("thirdparty-demo")
    assert backend.name == "thirdparty-demo"
    assert type(backend).__module__ == "ws_channel_thirdparty_demo"


@pytest.mark.timeout(120)
def test_a_third_party_backend_runs_the_conformance_suite(third_party_site: Path) -> None:
    path = os.pathsep.join([str(third_party_site), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    groups = ["payload_transfer", "close_local", "close_remote", "protocols"]
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--pyargs",
        *(f"conformance.cases.test_{group}" for group in groups),
        "--ws-backend",
        "thirdparty-demo",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=110)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "thirdparty-demo" in result.stdout or " passed" in result.stdout
    assert " failed" not in result.stdout
