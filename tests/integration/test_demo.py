"""``layout demo`` (what ``scripts/demo`` runs) works end to end and leaves
nothing mounted or attached behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from loopdev_fixtures import mounts_below, need_root_and_btrfs

pytestmark = pytest.mark.integration


def test_demo_mounts_every_leaf_and_cleans_up(tmp_path: Path) -> None:
    """The demo mounts each good leaf at its place, skips the bad ones, and undoes everything."""
    need_root_and_btrfs()
    workdir = tmp_path / "demo"
    layout = str(Path(sys.executable).with_name("layout"))
    result = subprocess.run([layout, "demo", "--workdir", str(workdir)], capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    root = workdir / "root"
    for where, leaf in (("home/alice/ws", "alice:@ws"), ("home/alice/ws/5-VMs", "alice:ws/@5-VMs"),
                        ("home/alice/My Documents", "alice:@My Documents"),
                        ("var/lib/docker", "system:var/lib/@docker")):
        assert f"{root / where}  <-  leaf {leaf}" in out, out
    assert "NO MARKER" not in out
    for bad in ("@bad,name", "@ws-snapshot", "@not-a-subvolume", "@link-to-ws"):
        assert bad in result.stderr + out
    assert f"{root}/home/alice 1000:1000 700" in out
    assert "demo complete" in out
    assert mounts_below(str(workdir)) == []
    attached = subprocess.run(["losetup", "--associated", str(workdir / "disk.img")],
                              capture_output=True, text=True, check=False).stdout
    assert attached.strip() == ""
