"""A backend or event loop whose library is missing is skipped with the reason, never a failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

#: Runs the conformance runner with trio and aiohttp unimportable, as in an install without them.
WITHOUT_TRIO_AND_AIOHTTP = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('trio', 'aiohttp'):
            raise ModuleNotFoundError(f'No module named {name!r}', name=name)
sys.meta_path.insert(0, Block())
from conformance.runner import run
sys.exit(run(['raw', 'aiohttp'], extra_pytest_args=['-k', 'test_protocols', '-p', 'no:hypothesispytest']))
"""


@pytest.mark.timeout(120)
def test_missing_libraries_are_skipped_with_the_reason_in_the_table() -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_TRIO_AND_AIOHTTP],
        cwd=REPO, capture_output=True, text=True, timeout=110, check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    lines = result.stdout.splitlines()
    row = next(line for line in lines if line.startswith("protocols "))
    raw_cell, aiohttp_cell = row.split()[1:3]
    passed, failed, skipped = (int(part) for part in raw_cell.split("/")[:3])
    assert passed > 0 and failed == 0 and skipped > 0  # raw on asyncio runs, raw on trio is skipped
    assert aiohttp_cell.split("/")[:2] == ["0", "0"]  # nothing of aiohttp ran, nothing failed
    assert any("raw on trio: trio is not installed: pip install 'ws-channel[trio]'" in line for line in lines)
    assert any("aiohttp is not installed" in line and "ws-channel[aiohttp]" in line for line in lines)
