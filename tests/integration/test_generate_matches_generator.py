"""``layout generate DIR`` writes exactly what the boot-time generator writes.

A real btrfs tree on a loop device with nested leaves, a directory with other
owners, a watched tree and a tree with a backup policy: the installed
``layout-trees-generator`` and ``layout generate`` run on the same
configuration, and the two output directories must hold the same files, links
and contents (mount, directory, watch and backup units alike).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import btrfsutil
import pytest
from layout_trees.shell.loopdev import LoopBtrfs

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


def tree_of(directory: Path) -> dict[str, tuple[str, str]]:
    """Every file and link below ``directory``: relative path -> (kind, content or target)."""
    found: dict[str, tuple[str, str]] = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = Path(root, name)
            rel = str(path.relative_to(directory))
            if path.is_symlink():
                found[rel] = ("link", os.readlink(path))
            elif path.is_file():
                found[rel] = ("file", path.read_text(encoding="utf-8"))
    return found


def test_layout_generate_writes_what_the_generator_writes(tmp_path: Path) -> None:
    """Same configuration, same tree: identical file sets, links and contents, with
    backup and watch units among them."""
    with LoopBtrfs(str(tmp_path / "img"), "256M", "lt-gen-same") as loop:
        assert loop.mountpoint is not None
        top = Path(loop.mountpoint)
        for rel in ("home/@alice", "home/bob/@ws", "home/bob/ws/@cache", "srv/@www",
                    "srv/data/@db"):
            (top / rel).parent.mkdir(parents=True, exist_ok=True)
            btrfsutil.create_subvolume(str(top / rel))
        os.chown(top / "home" / "bob", 1000, 1000)
        os.chmod(top / "home" / "bob", 0o750)
        config = tmp_path / "layout-trees.toml"
        config.write_text(
            f'[tree.home]\npath = "{top}/home"\ndestination = "/lt-same/home"\n'
            "watch = true\n"
            f'[tree.srv]\npath = "{top}/srv"\ndestination = "/lt-same/srv"\n'
            '[tree.srv.backup]\ntargets = ["/backup"]\nschedule = "hourly"\n')
        env = {"PATH": f"{BIN}:/usr/sbin:/usr/bin:/sbin:/bin",
               "LAYOUT_TREES_CONFIG": str(config), "SYSTEMD_PROC_CMDLINE": ""}
        generated, inspected = tmp_path / "late", tmp_path / "inspect"
        generated.mkdir()
        done = subprocess.run([str(BIN / "layout-trees-generator"), str(generated),
                               str(generated), str(generated)], env=env, capture_output=True,
                              text=True)
        assert done.returncode == 0, done.stderr
        done = subprocess.run([str(BIN / "layout"), "generate", str(inspected), "-c", str(config)],
                              env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    ours, theirs = tree_of(generated), tree_of(inspected)
    assert ours.keys() == theirs.keys()
    assert ours == theirs
    names = set(ours)
    assert sum(n.endswith(".mount") and "/" not in n for n in names) == 5
    assert any("backup" in n and n.endswith(".timer") for n in names), sorted(names)
    assert any("watch" in n and n.endswith(".service") for n in names), sorted(names)
