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
