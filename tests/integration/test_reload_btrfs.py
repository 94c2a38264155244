"""``layout reload`` on real btrfs, without systemd as PID 1 (mount/umount directly).

A new subvolume is mounted; a deleted one is unmounted; one that a process
holds (its working directory is inside) stays mounted and is reported, and
goes once the process is gone.  (The watch units: test_watch.py.)
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from layout_trees.shell import reload as reload_mod
from loopdev_fixtures import Lab, lab_on_loop, mount_at, mounts_below

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with lab_on_loop(tmp_path, "lt-reload") as made:
        yield made


def subvolume(path: Path) -> None:
    subprocess.run(["btrfs", "subvolume", "create", str(path)], check=True,
                   capture_output=True)


def delete(path: Path) -> None:
    subprocess.run(["btrfs", "subvolume", "delete", str(path)], check=True, capture_output=True)


def reload(lab: Lab) -> tuple[int, list[str]]:
    lines: list[str] = []
    status = reload_mod.reload(str(lab.config), systemd=False, say=lines.append)
    return status, lines


def test_new_leaf_is_mounted_with_its_directories(lab: Lab) -> None:
    """A subvolume created after boot is mounted by a reload; the directories above it get the
    tree's owners and modes; a second reload has nothing to do."""
    (lab.tree / "bob").mkdir(mode=0o700)
    os.chown(lab.tree / "bob", 1001, 1001)
    subvolume(lab.tree / "bob" / "@ws")
    (lab.tree / "bob" / "@ws" / "hello").write_text("hi")
    status, lines = reload(lab)
    assert status == 0, lines
    where = str(lab.dest / "bob" / "ws")
    entry = mount_at(where)
    assert entry is not None and entry.root == "/trees/home/bob/@ws"
    assert (lab.dest / "bob" / "ws" / "hello").read_text() == "hi"
    st = os.stat(lab.dest / "bob")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1001, 1001, 0o700)
    assert any(line.startswith(f"mounted {where}") for line in lines)
    status, lines = reload(lab)
    assert status == 0 and lines == ["nothing to do: 1 leaf mount as planned"]


def test_deleted_leaf_is_unmounted(lab: Lab) -> None:
    """A leaf whose subvolume is deleted is unmounted by the next reload, and reported."""
    subvolume(lab.tree / "@gone")
    subvolume(lab.tree / "@stays")
    assert reload(lab)[0] == 0
    delete(lab.tree / "@gone")
    status, lines = reload(lab)
    assert status == 0, lines
    assert mount_at(str(lab.dest / "gone")) is None
    assert mount_at(str(lab.dest / "stays")) is not None
    assert any(line.startswith(f"unmounted {lab.dest / 'gone'}") for line in lines)


def test_leaf_held_open_stays_mounted_and_is_reported(lab: Lab) -> None:
    """A vanished leaf that a process uses (cwd inside) stays mounted, the process is named and
    the exit status is 1; once the process ends, the next reload unmounts it."""
    subvolume(lab.tree / "@busy")
    assert reload(lab)[0] == 0
    where = lab.dest / "busy"
    (where / "inner").mkdir()
    holder = subprocess.Popen(["sleep", "120"], cwd=where / "inner")
    try:
        delete(lab.tree / "@busy")
        status, lines = reload(lab)
        assert status == 1, lines
        assert mount_at(str(where)) is not None
        assert any(f"pid {holder.pid} (sleep, cwd)" in line and line.startswith("kept")
                   for line in lines), lines
        dry = lab.layout("reload", "--dry-run")
        assert f"in use by pid {holder.pid} (sleep, cwd)" in dry.stdout, dry
        done = lab.layout("reload")
        assert done.returncode == 1 and "kept" in done.stdout, done
    finally:
        holder.kill()
        holder.wait()
    status, lines = reload(lab)
    assert status == 0, lines
    assert mount_at(str(where)) is None


def test_foreign_mounts_and_unscanned_trees_are_left_alone(lab: Lab, tmp_path: Path) -> None:
    """A tmpfs mounted below the destination is never unmounted; a tree that cannot be scanned
    is reported and its mounts stay."""
    subvolume(lab.tree / "@a")
    assert reload(lab)[0] == 0
    (lab.dest / "scratch").mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(lab.dest / "scratch")], check=True)
    missing = tmp_path / "missing-tree"
    lab.config.write_text(lab.config.read_text()
                          + f'[tree.gone]\npath = "{missing}"\ndestination = "{tmp_path}/x"\n')
    status, lines = reload(lab)
    assert status == 0, lines
    assert mount_at(str(lab.dest / "scratch")) is not None
    assert mount_at(str(lab.dest / "a")) is not None
    assert any("'gone'" in line and line.startswith("note:") for line in lines)


def test_dry_run_and_cli(lab: Lab) -> None:
    """'layout reload --dry-run' lists the changes and makes none; 'layout reload' makes them."""
    subvolume(lab.tree / "@new")
    done = lab.layout("reload", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert f"would mount {lab.dest / 'new'}" in done.stdout
    assert mounts_below(str(lab.dest)) == []
    done = lab.layout("reload")
    assert done.returncode == 0, done.stderr
    assert mounts_below(str(lab.dest)) == [str(lab.dest / "new")]


