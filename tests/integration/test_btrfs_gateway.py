"""``shell/btrfs.py`` on a real btrfs: the backup attribute and the full facts of a subvolume."""

from __future__ import annotations

import os

import pytest
from layout_trees.shell import btrfs
from layout_trees.shell.loopdev import LoopBtrfs

pytestmark = pytest.mark.integration


def test_clearing_an_absent_backup_attribute_is_not_an_error(loop_btrfs: LoopBtrfs) -> None:
    """Removing the backup attribute from a subvolume that has none succeeds (ENODATA)."""
    path = os.path.join(loop_btrfs.mountpoint, "@a")
    btrfs.create_subvolume(path)
    btrfs.set_backup_attr(path, None)
    btrfs.set_backup_attr(path, "skip")
    assert btrfs.subvolume_facts(path, "/@a")["backup"] == "skip"
    btrfs.set_backup_attr(path, None)
    btrfs.set_backup_attr(path, None)
    assert btrfs.subvolume_facts(path, "/@a")["backup"] is None


def test_full_facts_carry_backup_and_nested(loop_btrfs: LoopBtrfs) -> None:
    """A full read names the backup attribute and the nested subvolumes, whether btrfsutil
    is used or not."""
    if btrfs.btrfsutil() is None:
        pytest.skip("btrfsutil is not installed")
    path = os.path.join(loop_btrfs.mountpoint, "@b")
    btrfs.create_subvolume(path)
    btrfs.create_subvolume(os.path.join(path, "inner"))
    facts = btrfs.subvolume_facts(path, "/@b")
    assert facts["nested"] == ("inner",)
    assert facts["backup"] is None
    assert "backup" not in btrfs.subvolume_facts(path, "/@b", full=False)
