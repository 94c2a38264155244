"""A scaled-down run of benchmarks/all.py, so that the one command printing every figure
of docs/performance.md keeps working (the full run is not part of the test suite)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "all.py"


def test_generator_benchmark_smoke() -> None:
    """Two small trees, one run each: every section is printed with numbers, both
    generators wrote the same number of units, and the goals table closes the output."""
    if os.geteuid() != 0:
        pytest.skip("needs root (loop devices, btrfs, tmpfs)")
    done = subprocess.run([sys.executable, str(BENCHMARK), "--sizes", "20,40", "--runs", "1"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    for size in (20, 40):
        row = re.search(rf"^{size} \({size} units\)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x", out, re.M)
        assert row, out
        assert float(row.group(1)) > 0 and float(row.group(2)) > 0
    assert re.search(r"^fitted: ours [-\d.]+ ms \+ [-\d.]+ us/leaf", out, re.M), out
    assert re.search(r"^marginal per leaf \(20->40\): ours [\d.]+", out, re.M), out
    assert re.search(r"^40 +scan \d+  plan\+render \d+  write \d+  all \d+  "
                     r"system calls of write \d+$", out, re.M), out
    assert re.search(r"^-X importtime, cumulative: [\d.]+ ms", out, re.M), out
    assert re.search(r"^layout check .* ms CPU +exit [01]$", out, re.M), out
    goals = out.split("Goals (measured in this run)", 1)[1]
    assert re.search(r"imports beyond a bare interpreter\s+[\d.]+ ms\s+<= 8 ms\s+(met|missed)",
                     goals), goals
    assert re.search(r"layout plan \(40 leaves\)\s+[\d.]+ s\s+<= 2 s\s+(met|missed)", goals)
