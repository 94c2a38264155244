"""The linters run as tests: ruff on everything, mypy --strict on the core."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_is_clean() -> None:
    """ruff reports nothing on src/ and tests/."""
    result = _run(str(BIN / "ruff"), "check", "src", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_core() -> None:
    """mypy --strict finds no error in the pure core."""
    result = _run(str(BIN / "mypy"), "--strict", "src/core")
    assert result.returncode == 0, result.stdout + result.stderr
