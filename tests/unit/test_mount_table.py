"""The one mountinfo reader (``shell/mounttable.py``) and the modules that must use it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from layout_trees.shell import mounttable
from pyfakefs.fake_filesystem import FakeFilesystem

SRC = Path(__file__).resolve().parents[2] / "src"
LINE = "36 25 0:32 /@home /home rw,relatime shared:1 - btrfs /dev/vdb rw,subvol=/@home\n"


def test_host_mounts_prefer_pid1_and_fall_back(fs: FakeFilesystem) -> None:
    """PID 1's table is read when it can be; else this process's; else nothing."""
    fs.create_file(mounttable.MOUNTINFO, contents=LINE)
    assert [m.mountpoint for m in mounttable.read_host_mounts()] == ["/home"]
    fs.create_file(mounttable.PID1_MOUNTINFO, contents=LINE.replace("/home rw", "/srv rw"))
    assert [m.mountpoint for m in mounttable.read_host_mounts()] == ["/srv"]
    assert [m.mountpoint for m in mounttable.read_mounts()] == ["/home"]


def test_unreadable_table_is_an_error_for_the_acting_reader(fs: FakeFilesystem) -> None:
    """The reader used before acting on mounts raises when the table is missing; the
    scan's reader gives an empty table instead."""
    fs.create_dir("/proc")
    with pytest.raises(OSError):
        mounttable.read_mounts()
    assert mounttable.read_host_mounts() == ()


def test_no_other_module_opens_mountinfo() -> None:
    """Only mounttable.py names a mountinfo file: every other reader goes through it."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and node.value.startswith("/proc/") and node.value.endswith("/mountinfo")):
                found.append(path.relative_to(SRC).as_posix())
    assert sorted(set(found)) == ["shell/mounttable.py"]
