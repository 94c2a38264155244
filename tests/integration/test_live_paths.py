"""Paths: a symlink swapped in at any component of any path ``persist`` touches, after it
planned (the race a user who owns a directory can run), has no effect outside: persist fails
and undoes, nothing is created, copied or mounted through the symlink."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from layout_trees.core.errors import EnvironmentProblem
from layout_trees.shell import persist as persist_mod
from loopdev_fixtures import Lab, lab_on_loop, mounts_below

pytestmark = pytest.mark.integration

COMPONENTS = ["dest/a", "dest/a/b", "dest/a/b/ws", "tree/a", "tree/a/b"]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with lab_on_loop(tmp_path, "lt-paths") as made:
        yield made


def _snapshot(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("component", COMPONENTS)
def test_symlink_swapped_in_after_planning(lab: Lab, tmp_path: Path, component: str) -> None:
    """Whatever component becomes a symlink to an outside directory after planning, persist
    refuses or undoes, and the outside directory gets nothing (no copy, no subvolume, no
    mount); the original stays where it was."""
    ws = lab.dest / "a" / "b" / "ws"
    ws.mkdir(parents=True)
    (ws / "data").write_text("original")
    (lab.tree / "a" / "b").mkdir(parents=True)
    plan = persist_mod.prepare(str(ws), str(lab.config))
    base = lab.dest if component.startswith("dest") else lab.tree
    victim = base / component.split("/", 1)[1]
    outside = tmp_path / "outside"
    shutil.copytree(victim, outside, symlinks=True)  # a look-alike the symlink points to
    before = _snapshot(outside)
    aside = victim.with_name(victim.name + ".aside")
    os.rename(victim, aside)
    victim.symlink_to(outside)
    with pytest.raises(EnvironmentProblem):
        persist_mod.execute(plan, systemd=False, say=lambda _: None)
    assert _snapshot(outside) == before
    assert mounts_below(str(outside)) == [] and mounts_below(str(lab.dest)) == []
    assert [s for s in lab.subvolumes() if "@" in s or "layout-trees" in s] == []
    victim.unlink()
    os.rename(aside, victim)
    assert (ws / "data").read_text() == "original"


RELOAD_COMPONENTS = ["dest/a", "dest/a/b", "dest/a/b/ws", "tree/a", "tree/a/b", "tree/a/b/@ws"]


@pytest.mark.parametrize("component", RELOAD_COMPONENTS)
def test_reload_with_a_symlink_swapped_in_after_planning(lab: Lab, component: str) -> None:
    """Whatever component of a new leaf's path (in the tree or below the destination)
    becomes a symlink to a look-alike outside after reload planned, nothing is mounted,
    created or chmod-ed outside, and the leaf is not mounted through it."""
    from layout_trees.shell import reload as reload_mod
    from layout_trees.shell.configfile import load_config

    (lab.tree / "a" / "b").mkdir(parents=True)
    os.chmod(lab.tree / "a", 0o750)
    subprocess.run(["btrfs", "subvolume", "create", str(lab.tree / "a" / "b" / "@ws")],
                   check=True, capture_output=True)
    (lab.dest / "a" / "b" / "ws").mkdir(parents=True)
    config = load_config(str(lab.config), required=True).config
    plan = reload_mod.prepare(config, systemd=False)
    base = lab.dest if component.startswith("dest") else lab.tree
    victim = base / component.split("/", 1)[1]
    outside = lab.top / "outside"  # on the same btrfs: a subvolume there could be mounted
    subprocess.run(["cp", "-a", "--reflink=auto", str(victim), str(outside)], check=True)
    before = [(p, os.lstat(p).st_mode, os.lstat(p).st_uid) for p in sorted(outside.rglob("*"))]
    aside = victim.with_name(victim.name + ".aside")
    os.rename(victim, aside)
    victim.symlink_to(outside)
    lines: list[str] = []
    status = reload_mod.execute(config, plan, systemd=False, say=lines.append)
    assert status != 0, lines
    assert mounts_below(str(outside)) == [] and mounts_below(str(lab.dest)) == []
    after = [(p, os.lstat(p).st_mode, os.lstat(p).st_uid) for p in sorted(outside.rglob("*"))]
    assert after == before
