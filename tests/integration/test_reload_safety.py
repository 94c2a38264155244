"""``layout reload`` against what users of a tree can do, on real btrfs: mounts stacked on a
stale leaf, symlinks at mount points, renamed and deleted leaves, modes left wrong, a
symlink/subvolume exchange race, and failing mounts.

Reload acts only on mounts it identified by mount ID and subvolume, mounts the subvolume it
opened (``subvolid=``), never follows a symlink below a destination, and says why a mount
failed in the tool's own words.
"""

from __future__ import annotations

import ctypes
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from layout_trees.shell import reload as reload_mod
from loopdev_fixtures import Lab, lab_on_loop, mount_at, mounts_below
from test_reload_btrfs import delete, subvolume

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with lab_on_loop(tmp_path, "lt-rsafe") as made:
        yield made


def reload(lab: Lab) -> tuple[int, list[str]]:
    lines: list[str] = []
    status = reload_mod.reload(str(lab.config), systemd=False, say=lines.append)
    return status, lines


def test_foreign_mount_on_a_stale_leaf_is_left_alone(lab: Lab) -> None:
    """A tmpfs mounted over a leaf that went stale (renamed away) is never unmounted (its data
    stays); the stale leaf below it is kept and reported, status 1."""
    (lab.tree / "proj").mkdir()
    subvolume(lab.tree / "proj" / "@gone")
    assert reload(lab)[0] == 0
    where = lab.dest / "proj" / "gone"
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(where)], check=True)
    (where / "precious").write_text("data")
    os.rename(lab.tree / "proj", lab.tree / "proj2")
    status, lines = reload(lab)
    assert status == 1, lines
    assert (where / "precious").read_text() == "data"
    top = mount_at(str(where))
    assert top is not None and top.fstype == "tmpfs"
    assert any("on top of the leaf mount" in line and line.startswith("kept") for line in lines)
    assert len([m for m in mounts_below(str(where)) if m == str(where)]) == 2
    assert mount_at(str(lab.dest / "proj2" / "gone")) is not None  # the plan still goes on


def test_symlink_at_a_mount_point_is_refused(lab: Lab, tmp_path: Path) -> None:
    """A symlink on the way to a new leaf's mount point is never followed: nothing is mounted
    outside the destination, the leaf is reported as skipped, later reloads agree, and
    'layout check' says so (LT047)."""
    outside = tmp_path / "outside"
    (outside / "ws").mkdir(parents=True)
    (lab.tree / "alice").mkdir()
    subvolume(lab.tree / "alice" / "@ws")
    (lab.dest / "alice").symlink_to(outside)
    for _ in range(2):
        status, lines = reload(lab)
        assert status == 1, lines
        assert mounts_below(str(outside)) == [] and mounts_below(str(lab.dest)) == []
        assert any(line.startswith(f"skip {lab.dest / 'alice' / 'ws'}") and "symlink" in line
                   for line in lines), lines
    assert (lab.dest / "alice").is_symlink()
    checked = lab.layout("check")
    assert checked.returncode == 1 and "LT047" in checked.stdout, checked


def test_renamed_and_deleted_leaves_do_not_stay_mounted(lab: Lab) -> None:
    """Recognised by the subvolume mounted: after 'mv @ws @work' the old mount point is
    unmounted and the new one mounted; after 'mv proj proj2' the old mounts go; a deleted
    subvolume's '//deleted' mount goes; a new '@ws' can then be mounted."""
    subvolume(lab.tree / "@ws")
    (lab.tree / "proj").mkdir()
    subvolume(lab.tree / "proj" / "@a")
    assert reload(lab)[0] == 0
    os.rename(lab.tree / "@ws", lab.tree / "@work")
    os.rename(lab.tree / "proj", lab.tree / "proj2")
    status, lines = reload(lab)
    assert status == 0, lines
    assert mount_at(str(lab.dest / "ws")) is None
    assert mount_at(str(lab.dest / "proj" / "a")) is None
    assert mount_at(str(lab.dest / "work")).root == "/trees/home/@work"
    assert mount_at(str(lab.dest / "proj2" / "a")).root == "/trees/home/proj2/@a"
    delete(lab.tree / "proj2" / "@a")
    subvolume(lab.tree / "@ws")
    status, lines = reload(lab)
    assert status == 0, lines
    assert mount_at(str(lab.dest / "proj2" / "a")) is None
    assert mount_at(str(lab.dest / "ws")).root == "/trees/home/@ws"
    assert reload(lab)[1] == ["nothing to do: 2 leaf mounts as planned"]


def test_structure_directory_modes_are_restored(lab: Lab) -> None:
    """A destination directory left at 0700 (an interrupted restore) or with a wrong owner
    gets the plan's owner and mode at the next reload, though nothing is mounted anew."""
    (lab.tree / "bob").mkdir(mode=0o750)
    os.chown(lab.tree / "bob", 1001, 1001)
    os.chmod(lab.tree / "bob", 0o750)
    subvolume(lab.tree / "bob" / "@ws")
    assert reload(lab)[0] == 0
    os.chmod(lab.dest / "bob", 0o700)
    os.chown(lab.dest / "bob", 0, 0)
    status, lines = reload(lab)
    assert status == 0, lines
    st = os.stat(lab.dest / "bob")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1001, 1001, 0o750)
    assert any(line.startswith(f"set {lab.dest / 'bob'}") for line in lines)


def test_failed_mount_says_why_in_one_line(lab: Lab, tmp_path: Path) -> None:
    """A failing mount is reported with mount's own complaint, on one line."""
    subvolume(lab.tree / "@new")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mount").write_text(
        '#!/bin/sh\necho "mount: /x: /dev/loop9 already mounted on /y." >&2\n'
        'echo "       dmesg(1) may have more information after failed mount system call." >&2\n'
        "exit 32\n")
    (bin_dir / "mount").chmod(0o755)
    done = subprocess.run([sys.executable, "-m", "layout_trees.shell.reload", "--config",
                           str(lab.config)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert done.returncode == 3, done
    errors = [line for line in done.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "already mounted on /y" in errors[0], done
    assert "exit status 32" in errors[0]


_EXCHANGE = r"""
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
os.setgid(1000); os.setuid(1000)
d = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    libc.renameat2(d, b"@ws3", d, b".alt", 2)  # RENAME_EXCHANGE
"""


def test_exchange_race_never_mounts_another_users_subvolume(lab: Lab) -> None:
    """uid 1000 swaps its leaf with a symlink to bob's private subvolume in a tight
    renameat2(RENAME_EXCHANGE) loop while reload runs again and again: bob's subvolume is
    never mounted in alice's area (reload mounts the subvolume it opened, by subvolid)."""
    (lab.tree / "bob").mkdir(mode=0o700)
    subvolume(lab.tree / "bob" / "@docs")
    (lab.tree / "bob" / "@docs" / "secret").write_text("bob's")
    alice = lab.tree / "alice"
    alice.mkdir()
    os.chown(alice, 1000, 1000)
    subvolume(alice / "@ws3")
    os.chown(alice / "@ws3", 1000, 1000)
    (alice / ".alt").symlink_to("../bob/@docs")  # relative: the kernel resolves it too
    os.lchown(alice / ".alt", 1000, 1000)
    racer = subprocess.Popen([sys.executable, "-c", _EXCHANGE, str(alice), "8"])
    try:
        mounted_ours = 0
        deadline = time.monotonic() + 7
        while time.monotonic() < deadline:
            reload(lab)
            for where in mounts_below(str(lab.dest / "alice")):
                entry = mount_at(where)
                assert entry is not None
                assert "bob" not in entry.root, entry
                mounted_ours += entry.root.endswith("/alice/@ws3")
                subprocess.run(["umount", where], check=False)
    finally:
        racer.wait(timeout=30)
    assert racer.returncode == 0
    assert ctypes.sizeof(ctypes.c_int)  # (the racer uses renameat2 through ctypes)
    assert mounts_below(str(lab.dest / "bob")) in ([], [str(lab.dest / "bob" / "docs")])
