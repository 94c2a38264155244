"""``mounttable.mount_tables``: the mount table of every mount namespace, on the real /proc."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from layout_trees.shell import mounttable


def test_own_namespace_is_the_unnamed_table() -> None:
    """This process's own table is under ``""``, and it is what read_mounts reads."""
    tables = mounttable.mount_tables()
    assert tables[""] == mounttable.read_mounts()
    assert all(name == "" or name.startswith(", in the mount namespace of process ")
               for name in tables)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="a new mount namespace needs root and unshare(1)")
def test_a_process_in_another_namespace_brings_its_table() -> None:
    """A process in a mount namespace of its own (``unshare -m``) adds its table, named
    after a process in it, with the mount made only there."""
    where = "/tmp"
    child = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         f"mount -t tmpfs layout-trees-ns-test {where} && echo ready && exec sleep 60"],
        stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        tables = mounttable.mount_tables()
        others = [entries for name, entries in tables.items() if name]
        assert any(e.source == "layout-trees-ns-test" for entries in others for e in entries)
        assert not any(e.source == "layout-trees-ns-test" for e in tables[""])
    finally:
        child.kill()
        child.wait()
