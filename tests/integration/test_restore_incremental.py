"""Restore again: only the difference is pulled, local changes are never overwritten
unless asked, one subvolume can be restored on its own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from loopdev_fixtures import kill_tree
from test_backup_support import (
    base_env,
    checksums,
    images,  # noqa: F401  (fixture)
    layout,
    subvol,
    write_config,
)

pytestmark = pytest.mark.integration


def test_restore_incremental_local_changes_and_one_subvolume(images, tmp_path: Path) -> None:  # noqa: F811
    """A second restore receives incrementally against the copy of the first; a leaf with
    local changes is refused, then replaced with --overwrite; --subvolume restores one."""
    src, dst, new = images("src", "400M"), images("dst", "400M"), images("new", "400M")
    tree = Path(src.mountpoint) / "trees" / "main"
    tree.mkdir(parents=True)
    target = Path(dst.mountpoint) / "backups"
    target.mkdir()
    config = write_config(tmp_path / "layout-trees.toml", {"main": (tree, "/srv/main")},
                          [str(target)])
    env = base_env(tmp_path)
    a = subvol(tree / "@a")
    (a / "big").write_bytes(os.urandom(8 << 20))
    (subvol(tree / "d" / "@b") / "f").write_text("b\n")
    layout("backup", "run", "-c", str(config), env=env)
    into = Path(new.mountpoint) / "trees" / "main"
    into.parent.mkdir()
    first = layout("restore", "--from", str(target), "--into", str(into), env=env).stdout
    assert first.count("in full") == 2

    (a / "more").write_text("after the first restore\n")
    layout("backup", "run", "-c", str(config), env=env)
    second = layout("restore", "--from", str(target), "--into", str(into), env=env).stdout
    assert second.count("incrementally (parent main.") == 2, second
    assert "updated to" in second
    assert checksums(into / "@a") == checksums(a)

    (into / "@a" / "local").write_text("made on the restored machine\n")
    (a / "more").write_text("changed again at the source\n")
    layout("backup", "run", "-c", str(config), env=env)
    refused = layout("restore", "--from", str(target), "--into", str(into), env=env,
                     check=1).stdout
    assert "NOT replaced: it has local changes" in refused and "--overwrite" in refused
    assert (into / "@a" / "local").exists()
    assert "(updated to" not in refused.split("main:@a:")[1].splitlines()[0]
    forced = layout("restore", "--from", str(target), "--into", str(into), "--overwrite",
                    env=env).stdout
    assert "local changes overwritten" in forced
    assert not (into / "@a" / "local").exists()
    assert checksums(into / "@a") == checksums(a)

    only = Path(new.mountpoint) / "trees" / "only-b"
    out = layout("restore", "--from", str(target), "--into", str(only), "--subvolume", "d/@b",
                 env=env).stdout
    assert out.count("main:") == 1
    assert sorted(os.listdir(only)) == ["d"] and os.listdir(only / "d") == ["@b"]
    assert (only / "d" / "@b" / "f").read_text() == "b\n"


def test_killed_restore_is_resumed_cleanly(images, tmp_path: Path) -> None:  # noqa: F811
    """A restore killed mid-receive leaves no leaf and no usable copy; the next restore
    deletes the partial copy, receives again and places the leaf."""
    import subprocess
    import time

    from layout_trees.shell.backup_target import Target
    from test_backup_support import LAYOUT

    src, dst, new = images("src", "700M"), images("dst", "700M"), images("new", "700M")
    tree = Path(src.mountpoint) / "trees" / "main"
    tree.mkdir(parents=True)
    target = Path(dst.mountpoint) / "backups"
    target.mkdir()
    config = write_config(tmp_path / "layout-trees.toml", {"main": (tree, "/srv/main")},
                          [str(target)])
    env = base_env(tmp_path)
    big = subvol(tree / "@big")
    with open(big / "data", "wb") as handle:
        for _ in range(256):
            handle.write(os.urandom(1 << 20))
    layout("backup", "run", "-c", str(config), env=env)
    into = Path(new.mountpoint) / "main"
    snaps = Path(new.mountpoint) / ".snapshots"
    proc = subprocess.Popen([LAYOUT, "restore", "--from", str(target), "--into", str(into)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while not (snaps.is_dir() and os.listdir(snaps)):
            assert proc.poll() is None, "the restore ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(0.05)
    finally:
        kill_tree(proc.pid)
        proc.wait()
    partial = Target(str(snaps)).listing()
    assert partial and not any(s.is_complete_backup for s in partial)
    assert not (into / "@big").exists()
    out = layout("restore", "--from", str(target), "--into", str(into), env=env).stdout
    assert "in full" in out
    assert checksums(into / "@big") == checksums(big)
    assert all(s.is_complete_backup for s in Target(str(snaps)).listing())
