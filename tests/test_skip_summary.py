"""`python -m pytest` in a fresh clone (no ../shared/data) says how many tests it skipped and
why, without `-rs` (issue 23: "30 skipped; nothing says so")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_run_ends_with_the_skips_grouped_by_reason(tmp_path: Path) -> None:
    (tmp_path / "test_some.py").write_text(
        "import pytest\n"
        "def test_a(): pytest.skip('shared data not found at ../shared/data/llmrouter')\n"
        "def test_b(): pytest.skip('../shared/data is absent')\n"
        "def test_c(): pytest.skip('redis-server is not installed')\n"
        "def test_d(): pass\n"
    )
    res = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path), "-p", "tests.conftest", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if "3 skipped, and why" in line)
    assert lines[head + 1].split(None, 1) == [
        "2",
        "need the public data folder ../shared/data beside the repository, absent here "
        "(what it holds and where it comes from: docs/outcomes.md)",
    ]
    assert lines[head + 2].split(None, 1) == ["1", "redis-server is not installed"]
