"""The installed entry point (``run``) ends the process at once, yet loses nothing:
its exit status is main's and every log line written before it reaches stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _generator(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "layout_trees.shell.generator", *args],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **env},
                          timeout=60, check=False)


def test_run_keeps_the_usage_status_and_text() -> None:
    """A wrong call prints the usage and exits 2 through run()."""
    done = _generator("--help", env={})
    assert done.returncode == 2
    assert done.stderr.startswith("usage: layout-trees-generator NORMAL_DIR")


def test_run_flushes_every_log_line_before_it_ends(tmp_path: Path) -> None:
    """A run over a configured tree that is missing logs it (and its summary) and exits 0;
    nothing written before the immediate exit is lost, with stderr a pipe."""
    config = tmp_path / "layout-trees.toml"
    config.write_text(f'[tree.gone]\npath = "{tmp_path}/missing"\ndestination = "/srv/gone"\n')
    out = tmp_path / "out"
    out.mkdir()
    done = _generator(str(out), str(out), str(out),
                      env={"LAYOUT_TREES_CONFIG": str(config), "SYSTEMD_LOG_LEVEL": "debug"})
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert any(f"{tmp_path}/missing" in line and "tree-missing" in line for line in lines), lines
    assert lines[-1].endswith("0 mounts, 1 skipped"), lines
