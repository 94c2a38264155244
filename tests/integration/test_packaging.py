"""The package as users install it: ``pip install .`` into a fresh virtual
environment, without the test dependencies, gives working ``layout`` and
``layout-trees-generator`` commands."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def test_installed_commands_work(tmp_path: Path) -> None:
    """A plain install holds every module of src/ and runs every command's --help, --version
    and the generator on an empty config."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin/pip"), "install", "-q", "--disable-pip-version-check",
                          str(ROOT)], capture_output=True, text=True, check=False)
    assert pip.returncode == 0, pip.stderr
    installed = next((venv / "lib").glob("python3*/site-packages/layout_trees"))
    modules = {p.relative_to(installed).as_posix() for p in installed.rglob("*.py")}
    sources = {p.relative_to(ROOT / "src").as_posix() for p in (ROOT / "src").rglob("*.py")}
    assert {"core/backup/manifest.py", "core/check/rules.py", "shell/cli/report.py"} <= sources
    assert modules == sources  # every package of src/, its subpackages too, is installed
    layout = str(venv / "bin/layout")
    for args in ([], ["plan"], ["snapshot"], ["generate"], ["check"], ["backup"], ["restore"],
                 ["drop"], ["persist"], ["reload"], ["demo"]):
        result = subprocess.run([layout, *args, "--help"], capture_output=True, text=True,
                                check=False)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        assert "Usage" in result.stdout
    version = subprocess.run([layout, "--version"], capture_output=True, text=True, check=False)
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert (version.returncode, version.stdout) == (0, f"layout {expected}\n"), version.stderr
    bad = subprocess.run([layout, "plan", "--no-such-option"], capture_output=True, text=True,
                         check=False)
    assert bad.returncode == 2, bad.stderr
    out = tmp_path / "units"
    out.mkdir()
    config = tmp_path / "layout-trees.toml"
    config.write_text('[tree.a]\npath = "/nonexistent/tree"\ndestination = "/srv/a"\n')
    gen = subprocess.run([str(venv / "bin/layout-trees-generator"), str(out), str(out), str(out)],
                         capture_output=True, text=True, check=False,
                         env={"LAYOUT_TREES_CONFIG": str(config), "PATH": "/usr/bin:/bin"})
    assert gen.returncode == 0, gen.stderr
    assert "/nonexistent/tree" in gen.stderr  # the missing tree is named, nothing fails
    assert list(out.iterdir()) == []
