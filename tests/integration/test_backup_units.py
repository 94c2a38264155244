"""The backup timers against systemd's own tools: systemd-escape, systemd-analyze
calendar and verify, and the generator writing them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from layout_trees.core.backup.policy import BackupPolicy
from layout_trees.core.backup.units import backup_units
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.escape import escape_string
from layout_trees.shell.files import write_generated
from layout_trees.shell.generator import generate
from layout_trees.shell.log import Log

pytestmark = pytest.mark.integration

SCHEDULES = ("daily", "hourly", "*-*-* 02:30:00", "Mon..Fri 22:00", "weekly", "*:0/15")


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"needs {tool}")


def _config() -> Config:
    return Config(tuple(
        TreeConfig(f"t{i}", f"/data/t{i}", f"/srv/t{i}",
                   backup=BackupPolicy(("/backup",), schedule=s))
        for i, s in enumerate((*SCHEDULES, "daily"))))


@pytest.mark.parametrize("text", [*SCHEDULES, ".hidden", "ü/x-y", "a\\b"])
def test_escape_string_matches_systemd_escape(text: str) -> None:
    """escape_string gives exactly what systemd-escape prints."""
    _need("systemd-escape")
    out = subprocess.run(["systemd-escape", "--", text], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert escape_string(text) == out


def test_schedules_are_valid_calendar_expressions() -> None:
    """Every schedule the policy accepts in these tests is one systemd accepts."""
    _need("systemd-analyze")
    result = subprocess.run(["systemd-analyze", "calendar", *SCHEDULES], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr


def test_backup_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """The generated services and timers load cleanly in systemd-analyze verify."""
    _need("systemd-analyze")
    files = backup_units(_config(), f"{sys.executable} -m layout_trees.shell.cli")
    assert len([f for f in files if f.path.endswith(".timer") and "/" not in f.path]) == len(
        set(SCHEDULES))
    assert not write_generated(str(tmp_path), files)
    # systemd-analyze 252 cannot load a unit by a path holding ':' ("Couldn't process
    # aliases"); those alone are left out of this check.
    units = sorted(str(tmp_path / f.path) for f in files if "/" not in f.path
                   and ":" not in f.path)
    assert len(units) >= 6
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *units],
                            capture_output=True, text=True, cwd=tmp_path)
    problems = [line for line in result.stderr.splitlines()
                if "layout-trees-backup" in line]
    assert result.returncode == 0 and not problems, result.stderr


def test_generator_writes_the_timers(tmp_path: Path) -> None:
    """The boot-time generator writes one timer per schedule and no btrbk configuration."""
    config = tmp_path / "layout-trees.toml"
    config.write_text('[tree.t]\npath = "/nonexistent/t"\ndestination = "/srv/t"\n'
                      '[tree.t.backup]\ntargets = ["/backup"]\nschedule = "hourly"\n')
    out = tmp_path / "late"
    out.mkdir()
    generate(str(out), Log("test"), str(config))
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert "layout-trees-backup-hourly.timer" in written
    assert "timers.target.wants/layout-trees-backup-hourly.timer" in written
    assert not [p for p in written if "btrbk" in p]
    service = (out / "layout-trees-backup-hourly.service").read_text()
    assert 'backup run --schedule "hourly"' in service


def test_generator_skips_a_timer_systemd_would_refuse(tmp_path: Path) -> None:
    """A schedule systemd-analyze refuses gets no timer and a log line naming it; the other
    tree's timer and the tree's own mounts are still written."""
    import io

    _need("systemd-analyze")
    assert subprocess.run(["systemd-analyze", "calendar", "dayly"],
                          capture_output=True).returncode != 0
    config = tmp_path / "layout-trees.toml"
    config.write_text('[tree.t]\npath = "/nonexistent/t"\ndestination = "/srv/t"\n'
                      '[tree.t.backup]\ntargets = ["/backup"]\nschedule = "dayly"\n'
                      '[tree.u]\npath = "/nonexistent/u"\ndestination = "/srv/u"\n'
                      '[tree.u.backup]\ntargets = ["/backup"]\nschedule = "hourly"\n')
    out = tmp_path / "late"
    out.mkdir()
    stream = io.StringIO()
    generate(str(out), Log("test", stream=stream), str(config))
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert not [p for p in written if "dayly" in p]
    assert "layout-trees-backup-hourly.timer" in written
    assert "'dayly' is not a valid OnCalendar= expression" in stream.getvalue()
