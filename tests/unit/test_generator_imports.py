"""What the generator's start-up leaves out: ``typing`` (nothing of ours imports it at run
time; tomllib does, for a TOML configuration), ``json`` with a TOML configuration, and the
ACL and group parsing that only full scans use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = """
import sys
from layout_trees.shell.generator import main
main([sys.argv[1], sys.argv[1], sys.argv[1]])
print(" ".join(sorted(sys.modules)))
"""


def _loaded(tmp_path: Path, config: Path) -> set[str]:
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run([sys.executable, "-c", PROBE, str(out)], capture_output=True,
                          text=True, check=True,
                          env={"LAYOUT_TREES_CONFIG": str(config), "PATH": "/usr/bin:/bin"})
    return set(done.stdout.split())


def test_json_configuration_loads_no_typing(tmp_path: Path) -> None:
    """With a JSON configuration neither typing nor the ACL module is imported."""
    config = tmp_path / "layout-trees.json"
    config.write_text(json.dumps({"tree": {"a": {"path": str(tmp_path / "t"),
                                                 "destination": "/srv/a"}}}))
    loaded = _loaded(tmp_path, config)
    assert "layout_trees.core.plan" in loaded  # the probe really ran the generator
    assert not {"typing", "layout_trees.core.access"} & loaded, loaded


def test_toml_configuration_loads_no_json(tmp_path: Path) -> None:
    """With a TOML configuration neither json nor the ACL module is imported."""
    config = tmp_path / "layout-trees.toml"
    config.write_text(f'[tree.a]\npath = "{tmp_path / "t"}"\ndestination = "/srv/a"\n')
    loaded = _loaded(tmp_path, config)
    assert "tomllib" in loaded
    assert not {"json", "layout_trees.core.access"} & loaded, loaded
