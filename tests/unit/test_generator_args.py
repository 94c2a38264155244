"""The generator takes output directories only: an option is a usage error, never a
directory name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from layout_trees.shell.generator import USAGE, main


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--version"], ["-x"], ["-"],
                                  ["a", "--help", "b"], ["a", "b", "-c"]])
def test_options_print_usage_exit_2_and_write_nothing(
        args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Any argument starting with '-' prints the usage and exits 2, creating nothing."""
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    assert USAGE in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_installed_script_refuses_help(tmp_path: Path) -> None:
    """The console script itself exits 2 on --help and creates no '--help' directory."""
    script = Path(sys.executable).with_name("layout-trees-generator")
    done = subprocess.run([str(script), "--help"], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert done.stderr.startswith(USAGE)
    assert os.listdir(tmp_path) == []


def test_directories_are_still_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three directories (or one) are the generator's arguments: exit 0 with no trees."""
    config = tmp_path / "layout-trees.toml"
    config.write_text("")
    monkeypatch.setenv("LAYOUT_TREES_CONFIG", str(config))
    out = tmp_path / "out"
    out.mkdir()
    assert main([str(out), str(out), str(out)]) == 0
    assert main([str(out)]) == 0
