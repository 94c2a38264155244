"""The watch service stays as lean as the generator: its module imports no CLI stack."""

from __future__ import annotations

import json
import subprocess
import sys


def test_watch_service_imports_no_cli_stack() -> None:
    """Loading the watch service module loads neither typer, rich, click nor PyYAML."""
    probe = ("import json, sys, layout_trees.shell.watch as w; w.Inotify().close(); "
             "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    loaded = set(json.loads(done.stdout))
    assert "layout_trees.shell.watch" in loaded
    assert not {"typer", "rich", "click", "yaml", "layout_trees.shell.cli"} & loaded


def test_watch_service_bad_configuration_is_one_line_exit_2(tmp_path) -> None:
    """A missing or broken configuration ends the service with one line and exit status 2
    (which the unit does not restart on), never a traceback."""
    broken = tmp_path / "broken.toml"
    broken.write_text("[tree.a\npath = 1\n")
    for config in (tmp_path / "missing.toml", broken):
        done = subprocess.run([sys.executable, "-m", "layout_trees.shell.watch", "--config",
                               str(config)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
