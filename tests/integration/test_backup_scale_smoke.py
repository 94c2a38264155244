"""A scaled-down run of benchmarks/backup_scale.py, so that the benchmark keeps working
(the full run, 2,000 leaves x 30 backups, is not part of the test suite)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from test_backup_support import need_root_and_tools

pytestmark = pytest.mark.integration

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "backup_scale.py"


def test_backup_scale_benchmark_smoke(tmp_path: Path) -> None:
    """The benchmark builds its images, times status, verify, plan and drop's listing
    locally and over ssh, and every figure is a positive number of seconds."""
    need_root_and_tools()
    spec = importlib.util.spec_from_file_location("backup_scale", BENCHMARK)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.main(["--leaves", "12", "--backups", "3", "--runs", "1",
                           "--dir", str(tmp_path)])
    assert set(figures) == {"local", "ssh"}
    for kind in figures.values():
        assert set(kind) == {"status", "verify", "plan", "drop listing"}
        assert all(0 < seconds < 60 for seconds in kind.values())
