"""A target's listing on a real btrfs cannot be forged by the names in it.

``btrfs subvolume list`` prints names raw, one subvolume a line.  A subvolume at the
top level of a target's filesystem whose name holds a line break followed by a
well-formed record would otherwise read as a complete backup that does not exist."""

from __future__ import annotations

import os

import pytest
from layout_trees.core.backup.btrbk import parse_subvolume_list
from layout_trees.core.errors import EnvironmentProblem
from layout_trees.shell import btrfs
from layout_trees.shell.backup_target import Target
from layout_trees.shell.loopdev import LoopBtrfs
from layout_trees.shell.run import run

pytestmark = pytest.mark.integration

FORGED = "main.@a.20261125T120000+0000"
RECORD = ("ID 999 gen 1 top level 5 parent_uuid -                                    "
          "received_uuid 11111111-1111-1111-1111-111111111111 uuid "
          f"22222222-2222-2222-2222-222222222222 path {FORGED}")


def _raw_listing(directory: str) -> str:
    """What btrfs itself prints for the directory, in the parser's format, unchecked."""
    fsroot_target = run(["findmnt", "-n", "-r", "-o", "FSROOT,TARGET", "-T", directory])
    main = run(btrfs.cli_argv("subvolume", "list", "-o", "-R", "-u", "-q", directory))
    ro = run(btrfs.cli_argv("subvolume", "list", "-o", "-r", directory))
    return (fsroot_target.stdout.decode() + directory + "\n" + main.stdout.decode()
            + "--\n" + ro.stdout.decode())


def test_a_line_break_in_a_name_is_refused_not_read_as_a_backup(loop_btrfs: LoopBtrfs) -> None:
    """A name with a line break at the top level: btrfs's own output carries a forged
    complete backup, and the target's listing refuses the directory instead."""
    top = loop_btrfs.mountpoint
    assert top is not None
    btrfs.create_subvolume(os.path.join(top, "real"))
    btrfs.create_subvolume(os.path.join(top, "evil\n" + RECORD))
    # the danger is real: parsed without the check, the forged backup is there
    forged = [s for s in parse_subvolume_list(_raw_listing(top)) if s.name == FORGED]
    assert [(s.received_uuid, s.uuid) for s in forged] == [
        ("11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222")]
    with pytest.raises(EnvironmentProblem) as caught:
        Target(top).listing()
    assert "control character" in caught.value.message
    assert "\n" not in caught.value.message


def test_a_name_below_another_subvolume_does_not_stop_the_listing(
        loop_btrfs: LoopBtrfs) -> None:
    """A line break in a name inside a backup (another subvolume) cannot reach the
    directory's listing, so it is not looked for there: the listing goes on."""
    top = loop_btrfs.mountpoint
    assert top is not None
    inner = os.path.join(top, "main.@a.20261125T110000+0000")
    btrfs.create_subvolume(inner)
    os.mkdir(os.path.join(inner, "a\nb"))
    assert [s.name for s in Target(top).listing()] == ["main.@a.20261125T110000+0000"]


def test_a_forged_read_only_line_marks_nothing(loop_btrfs: LoopBtrfs) -> None:
    """A read-only subvolume elsewhere in the filesystem whose name forges a read-only line
    for a writable backup in the target directory does not make that backup read-only."""
    top = loop_btrfs.mountpoint
    assert top is not None
    os.mkdir(os.path.join(top, "t"))
    victim = os.path.join(top, "t", "main.@a.20261125T120000+0000")
    btrfs.create_subvolume(victim)
    victim_id = btrfs.subvolume_id_of(victim)
    os.mkdir(os.path.join(top, "elsewhere"))
    source = os.path.join(top, "elsewhere", "src")
    btrfs.create_subvolume(source)
    btrfs.create_snapshot(source, os.path.join(
        top, "elsewhere", f"x\nID {victim_id} gen 1 top level 5 path victim"), read_only=True)
    (listed,) = Target(os.path.join(top, "t")).listing()
    assert listed.name == "main.@a.20261125T120000+0000"
    assert not listed.read_only
