"""The boot-time scan's subvolume facts on a real btrfs: one GET_SUBVOL_INFO ioctl gives
the same id and read-only flag as the two older ioctls and as btrfsutil."""

from __future__ import annotations

import os
from pathlib import Path

import btrfsutil
import pytest
from layout_trees.shell import btrfs
from layout_trees.shell.loopdev import LoopBtrfs

pytestmark = pytest.mark.integration


def test_one_ioctl_agrees_with_the_two_and_with_btrfsutil(tmp_path: Path) -> None:
    """For writable and read-only subvolumes (and the top level): same id, same flag."""
    with LoopBtrfs(str(tmp_path / "img"), "256M", "lt-bootfacts") as loop:
        assert loop.mountpoint is not None
        top = Path(loop.mountpoint)
        paths = [top]
        for i in range(4):
            path = top / "d" / f"@s{i}"
            path.parent.mkdir(exist_ok=True)
            btrfsutil.create_subvolume(str(path))
            if i % 2:
                btrfsutil.set_subvolume_read_only(str(path), True)
            paths.append(path)
        seen = set()
        for path in paths:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                info = btrfs.subvolume_info_by_ioctl(fd)
                expected = (btrfsutil.subvolume_id(str(path)),
                            btrfsutil.get_subvolume_read_only(str(path)))
                assert info == expected
                assert info == (btrfs.subvolume_id_by_ioctl(fd), btrfs.read_only_by_ioctl(fd))
                facts = btrfs.boot_facts(fd, "/x")
                assert (facts["id"], facts["read_only"]) == expected
                seen.add(expected[1])
            finally:
                os.close(fd)
        for path in paths[1:]:
            if btrfsutil.get_subvolume_read_only(str(path)):
                btrfsutil.set_subvolume_read_only(str(path), False)
    assert seen == {True, False}
