"""The boot-time generator stays lean: running it imports neither typer, rich,
click nor PyYAML (for a TOML or JSON configuration), nor the backup and watch
modules when no tree uses them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

# Run as the installed launcher starts it (no site directories; the package's directory
# named on the path); report the modules the run added to the interpreter's own.
PROBE = textwrap.dedent("""
    import sys
    before = set(sys.modules)
    sys.path.insert(0, sys.argv[2])
    from layout_trees.shell.generator import main
    main([sys.argv[1], sys.argv[1], sys.argv[1]])
    loaded = sorted(set(sys.modules) - before)
    import json
    print(json.dumps(loaded))
""")
SRC = Path(__file__).resolve().parents[2] / "src"


def _modules_after_run(tmp_path: Path, config: Path) -> set[str]:
    out = tmp_path / f"out-{config.name}"
    out.mkdir()
    site = tmp_path / "site"
    if not site.exists():
        site.mkdir()
        (site / "layout_trees").symlink_to(SRC)
    result = subprocess.run(
        [sys.executable, "-S", "-c", PROBE, str(out), str(site)], capture_output=True,
        text=True, check=True, env={"LAYOUT_TREES_CONFIG": str(config), "PATH": "/usr/bin:/bin"},
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


def test_generator_start_imports_no_heavy_standard_library(tmp_path: Path) -> None:
    """With a JSON configuration (as NixOS writes it) the generator's run imports neither
    dataclasses nor what it pulls in (inspect, ast, tokenize), typing, contextlib or tomllib;
    with TOML, tomllib brings typing, and still none of the others."""
    tree = tmp_path / "tree"
    tree.mkdir()
    config = tmp_path / "layout-trees.json"
    config.write_text(json.dumps({"tree": {"a": {"path": str(tree), "destination": "/srv/a"}}}))
    loaded = _modules_after_run(tmp_path, config)
    assert "layout_trees.core.units" in loaded  # the probe really ran the generator
    heavy = {"dataclasses", "inspect", "ast", "tokenize", "typing", "contextlib", "tomllib"}
    assert not heavy & loaded, heavy & loaded
    toml = tmp_path / "layout-trees.toml"
    toml.write_text(f'[tree.a]\npath = "{tree}"\ndestination = "/srv/a"\n')
    loaded = _modules_after_run(tmp_path, toml)
    assert {"tomllib", "typing"} <= loaded
    assert not {"dataclasses", "inspect", "ast", "tokenize"} & loaded, loaded
