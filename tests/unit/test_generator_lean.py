"""The boot-time generator stays lean: running it imports neither typer, rich,
click nor PyYAML (for a TOML or JSON configuration), nor the backup and watch
modules when no tree uses them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

PROBE = textwrap.dedent("""
    import json, sys
    from layout_trees.shell.generator import main
    main([sys.argv[1], sys.argv[1], sys.argv[1]])
    print(json.dumps(sorted(sys.modules)))
""")


def _modules_after_run(tmp_path: Path, config: Path) -> set[str]:
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(out)], capture_output=True, text=True, check=True,
        env={"LAYOUT_TREES_CONFIG": str(config), "PATH": "/usr/bin:/bin"},
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_generator_imports_no_cli_stack_for_toml(tmp_path: Path) -> None:
    """With a TOML configuration the generator loads no CLI, YAML, backup or watch module."""
    config = tmp_path / "layout-trees.toml"
    config.write_text('[tree.a]\npath = "/nonexistent/tree"\ndestination = "/srv/a"\n')
    loaded = _modules_after_run(tmp_path, config)
    heavy = {"typer", "rich", "click", "yaml", "difflib", "layout_trees.shell.cli",
             "layout_trees.core.backup.units", "layout_trees.core.watch",
             "layout_trees.core.check", "layout_trees.core.backup.policy"}
    assert not heavy & loaded, heavy & loaded
    assert "layout_trees.core.plan" in loaded  # the probe really ran the generator


def test_generator_reads_prototype_json_without_yaml(tmp_path: Path) -> None:
    """A prototype configuration written as JSON (as NixOS does) is read without PyYAML."""
    config = tmp_path / "layout-trees.yaml"
    config.write_text(json.dumps([{"layout_tree": "/nonexistent/@t", "destination": "/home/t"}]))
    loaded = _modules_after_run(tmp_path, config)
    assert "yaml" not in loaded
    assert "layout_trees.core.config" in loaded
