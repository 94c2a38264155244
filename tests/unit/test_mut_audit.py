"""The audits (``layout_trees.core.audit``) compared exactly: every field of every mount
problem of each kind, the options the kernel shows differently (``compress=zstd:3``,
``x-``/``X-`` options, ``comment=`` values with ``=``), hand-made mounts below ``/`` and
below other destinations, the names an ``--ignore`` pattern sees, volatile fields, a glob
that is no regular expression, and the audit document."""

from __future__ import annotations

from typing import Any

from layout_trees.core.audit import (
    MountProblem,
    MountProblemKind,
    audit_expect,
    audit_mounted,
    audit_to_data,
    change_names,
    glob_match,
)
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.diff import Change, ChangeKind, Section
from layout_trees.core.documents import snapshot_document
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan
from layout_trees.core.mountinfo import MountEntry
from layout_trees.core.plan import Plan, Skip, SkipReason, make_plan

SOURCES: dict[str, str | None] = {"t": "/dev/vdb"}
REMOUNT = "run 'layout reload'"


def world(options: tuple[str, ...] = (), destination: str = "/home",
          b_id: int | None = None) -> tuple[Config, Plan]:
    """Tree ``t`` (on /dev/vdb, mounted at ``destination``) with two leaves: ``@a`` (subvolume
    id 300) and ``sub/@b`` (id ``b_id``, unknown by default)."""
    config = Config((TreeConfig("t", "/mnt/t", destination, options=options),))
    entries = (Entry(("@a",), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/@a", id=300)),
               Entry(("sub", "@b"), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/sub/@b", id=b_id)))
    snapshot = Snapshot((TreeScan("t", "/mnt/t", device="/dev/vdb", entries=entries),))
    return config, make_plan(config, snapshot)


def mounted(where: str, root: str, *, fstype: str = "btrfs", source: str = "/dev/vdb",
            options: tuple[str, ...] = ("rw",), super_options: tuple[str, ...] = ("rw",),
            mount_id: int = 50) -> MountEntry:
    return MountEntry(mount_id, 1, root, where, fstype, source, options, super_options)


A_OK = mounted("/home/a", "/t/@a", super_options=("rw", "subvolid=300", "subvol=/t/@a"))
B_OK = mounted("/home/sub/b", "/t/sub/@b", super_options=("rw", "subvol=/t/sub/@b"))


def test_the_world_is_as_planned() -> None:
    """The fixture: both leaves planned where expected, and a table with both is clean."""
    config, plan = world()
    assert [(m.where, m.subvol, m.subvol_id) for m in plan.mounts] == [
        ("/home/a", "/t/@a", 300), ("/home/sub/b", "/t/sub/@b", None)]
    assert audit_mounted(config, plan, (A_OK, B_OK), SOURCES) == ()


# --- wrong filesystem ---------------------------------------------------------------------------


def test_another_filesystem_type_from_the_tree_source() -> None:
    """Another type from the tree's own device is the wrong filesystem, every field named."""
    config, plan = world()
    ext4 = mounted("/home/sub/b", "/", fstype="ext4")
    assert audit_mounted(config, plan, (A_OK, ext4), SOURCES) == (MountProblem(
        MountProblemKind.WRONG_FILESYSTEM, "/home/sub/b",
        "ext4 /dev/vdb is mounted here, not t:sub/@b from /dev/vdb", "t", "sub/@b"),)


def test_btrfs_from_another_device() -> None:
    """btrfs from another device than the tree's is the wrong filesystem."""
    config, plan = world()
    other = mounted("/home/sub/b", "/t/sub/@b", source="/dev/vdc")
    assert audit_mounted(config, plan, (A_OK, other), SOURCES) == (MountProblem(
        MountProblemKind.WRONG_FILESYSTEM, "/home/sub/b",
        "btrfs /dev/vdc is mounted here, not t:sub/@b from /dev/vdb", "t", "sub/@b"),)


def test_source_unknown_says_btrfs_and_checks_only_the_type() -> None:
    """Without the tree's source, any btrfs device passes and the message says 'btrfs'."""
    config, plan = world()
    other = mounted("/home/sub/b", "/t/sub/@b", source="/dev/vdc")
    assert audit_mounted(config, plan, (A_OK, other), {}) == ()
    ext4 = mounted("/home/sub/b", "/", fstype="ext4")
    assert audit_mounted(config, plan, (A_OK, ext4), {"t": None}) == (MountProblem(
        MountProblemKind.WRONG_FILESYSTEM, "/home/sub/b",
        "ext4 /dev/vdb is mounted here, not t:sub/@b from btrfs", "t", "sub/@b"),)


# --- wrong subvolume ----------------------------------------------------------------------------


def test_another_subvolume_id_at_the_same_path() -> None:
    """Another subvolume id at the planned path: re-created, named with both ids."""
    config, plan = world()
    again = mounted("/home/a", "/t/@a", super_options=("rw", "subvolid=301", "subvol=/t/@a"))
    assert audit_mounted(config, plan, (again, B_OK), SOURCES) == (MountProblem(
        MountProblemKind.WRONG_SUBVOLUME, "/home/a",
        "subvolume id 301 ('/t/@a') is mounted here, the tree says id 300 ('/t/@a', t:@a): "
        f"re-created since it was mounted; {REMOUNT}", "t", "@a"),)


def test_a_deleted_subvolume_still_mounted() -> None:
    """The kernel's '//deleted' suffix is read: 'deleted, was' and the path without it."""
    config, plan = world(b_id=400)
    gone = mounted("/home/sub/b", "/t/sub/@b//deleted",
                   super_options=("rw", "subvolid=401", "subvol=/t/sub/@b//deleted"))
    assert audit_mounted(config, plan, (A_OK, gone), SOURCES) == (MountProblem(
        MountProblemKind.WRONG_SUBVOLUME, "/home/sub/b",
        "subvolume id 401 (deleted, was '/t/sub/@b') is mounted here, the tree says id 400 "
        f"('/t/sub/@b', t:sub/@b): re-created since it was mounted; {REMOUNT}", "t",
        "sub/@b"),)


def test_another_subvolume_path() -> None:
    """Another subvolume path is the wrong subvolume, both paths quoted."""
    config, plan = world()
    other = mounted("/home/sub/b", "/t/sub/@c")
    assert audit_mounted(config, plan, (A_OK, other), SOURCES) == (MountProblem(
        MountProblemKind.WRONG_SUBVOLUME, "/home/sub/b",
        "subvolume '/t/sub/@c' is mounted here, the tree says '/t/sub/@b' (t:sub/@b)",
        "t", "sub/@b"),)


def test_a_subvolid_that_is_no_number_falls_back_to_the_path() -> None:
    """A ``subvolid=`` that is not a decimal number is ignored: the path decides."""
    config, plan = world()
    for value in ("x", "3a", "\u0663"):
        odd = mounted("/home/a", "/t/@a", super_options=("rw", f"subvolid={value}"))
        assert audit_mounted(config, plan, (odd, B_OK), SOURCES) == ()


# --- options ------------------------------------------------------------------------------------

OPTIONS = ("ro", "noatime", "compress", "compress=zstd", "comment=x=y", "X-mount.mkdir",
           "x-systemd.automount")


def test_options_as_the_kernel_shows_them_are_no_problem() -> None:
    """A read-only leaf mounted read-only, a flag, ``compress`` and ``compress=zstd`` shown as
    ``compress=zstd:3``, and options the kernel never shows (``comment=``, ``x-``, ``X-``) are
    all as planned."""
    config, plan = world(OPTIONS)
    ro = mounted("/home/a", "/t/@a", options=("ro", "noatime"),
                 super_options=("ro", "compress=zstd:3", "subvolid=300", "subvol=/t/@a"))
    b_ro = mounted("/home/sub/b", "/t/sub/@b", options=("ro", "noatime"),
                   super_options=("ro", "compress=zstd:3"))
    assert audit_mounted(config, plan, (ro, b_ro), SOURCES) == ()


def test_a_read_only_leaf_mounted_writable_without_an_option() -> None:
    """Planned read-only but mounted writable, with another compression: 'ro' first, then the
    missing option, and the options it has."""
    config, plan = world(OPTIONS)
    rw = mounted("/home/a", "/t/@a", options=("rw", "noatime"),
                 super_options=("rw", "compress=lzo", "subvolid=300"))
    b_ro = mounted("/home/sub/b", "/t/sub/@b", options=("ro", "noatime"),
                   super_options=("ro", "compress=zstd:3"))
    assert audit_mounted(config, plan, (rw, b_ro), SOURCES) == (MountProblem(
        MountProblemKind.WRONG_OPTIONS, "/home/a",
        "mounted without ro,compress=zstd (mounted with rw,noatime; t:@a)", "t", "@a"),)


def test_a_writable_leaf_mounted_read_only() -> None:
    """Planned writable but mounted read-only: 'rw' is missing."""
    config, plan = world()
    ro = mounted("/home/sub/b", "/t/sub/@b", options=("ro", "relatime"))
    assert audit_mounted(config, plan, (A_OK, ro), SOURCES) == (MountProblem(
        MountProblemKind.WRONG_OPTIONS, "/home/sub/b",
        "mounted without rw (mounted with ro,relatime; t:sub/@b)", "t", "sub/@b"),)


# --- not mounted, not checked -------------------------------------------------------------------


def test_nothing_mounted_names_every_leaf() -> None:
    """An empty table: every planned leaf is not mounted, with tree and leaf."""
    config, plan = world()
    why = f"is not mounted (a failed unit, or a leaf made since boot: {REMOUNT})"
    assert audit_mounted(config, plan, (), SOURCES) == (
        MountProblem(MountProblemKind.NOT_MOUNTED, "/home/a", f"t:@a {why}", "t", "@a"),
        MountProblem(MountProblemKind.NOT_MOUNTED, "/home/sub/b", f"t:sub/@b {why}", "t",
                     "sub/@b"))


def test_a_tree_not_scanned_is_not_checked_at_its_destination() -> None:
    """A whole tree skipped is 'not-checked' at its destination, naming the tree but no
    leaf; a skipped leaf inside a checked tree is not."""
    config = Config((TreeConfig("t", "/mnt/t", "/home"), TreeConfig("u", "/mnt/u", "/srv")))
    entries = (Entry(("@a",), EntryKind.SUBVOLUME, subvolume=Subvolume("/t/@a", id=300)),
               Entry(("@plain",), EntryKind.DIRECTORY))
    snapshot = Snapshot((TreeScan("t", "/mnt/t", device="/dev/vdb", entries=entries),))
    plan = make_plan(config, snapshot)
    assert any(s.path for s in plan.skips), plan.skips
    assert audit_mounted(config, plan, (A_OK,), SOURCES) == (MountProblem(
        MountProblemKind.NOT_CHECKED, "/srv", "tree u: /mnt/u: not scanned (tree-not-scanned)",
        "u"),)


def test_a_skipped_tree_not_configured_is_not_checked_at_the_root() -> None:
    """A whole-tree skip of a tree the configuration does not have is placed at '/'; one for
    an overlapping tree is no problem."""
    config, _ = world()
    plan = Plan(skips=(Skip("ghost", (), SkipReason.TREE_MISSING, "/mnt/g: gone"),
                       Skip("t", (), SkipReason.OVERLAP, "inside another")))
    assert audit_mounted(config, plan, (), SOURCES) == (MountProblem(
        MountProblemKind.NOT_CHECKED, "/", "tree ghost: /mnt/g: gone (tree-missing)",
        "ghost"),)


# --- hand-made mounts ---------------------------------------------------------------------------


def test_a_hand_made_mount_after_a_planned_one() -> None:
    """A mount below the destination that no leaf explains, listed after planned ones, is
    hand-made (once, even when two are stacked there); mounts elsewhere are not."""
    config, plan = world()
    tmp = mounted("/home/x", "/", fstype="tmpfs", source="tmpfs", mount_id=60)
    stacked = mounted("/home/x", "/y", fstype="tmpfs", source="other", mount_id=61)
    elsewhere = mounted("/srv/x", "/", fstype="tmpfs", source="tmpfs")
    assert audit_mounted(config, plan, (A_OK, B_OK, elsewhere, tmp, stacked), SOURCES) == (
        MountProblem(MountProblemKind.HAND_MADE, "/home/x",
                     "tmpfs tmpfs (subvolume '/') is mounted below t's destination /home, "
                     "but no leaf says so", "t"),)


def test_below_is_by_whole_components() -> None:
    """'/srv/a' is not below '/srvX' (only a final '/' is cut from a destination)."""
    config, plan = world(destination="/srvX")
    near = mounted("/srv/a", "/", fstype="tmpfs", source="tmpfs")
    a = mounted("/srvX/a", "/t/@a", super_options=("rw", "subvolid=300"))
    b = mounted("/srvX/sub/b", "/t/sub/@b")
    assert audit_mounted(config, plan, (near, a, b), SOURCES) == ()


def test_below_the_root_only_the_tree_filesystem_counts() -> None:
    """With '/' as a destination: the root mount itself, other filesystems and btrfs from
    other devices are not hand-made; a btrfs mount of the tree's device is, after them."""
    config = Config((TreeConfig("r", "/mnt/r", "/"),))
    entry = Entry(("@a",), EntryKind.SUBVOLUME, subvolume=Subvolume("/r/@a", id=300))
    plan = make_plan(config, Snapshot((TreeScan("r", "/mnt/r", device="/dev/vdb",
                                                entries=(entry,)),)))
    table = (mounted("/", "/@root"),
             mounted("/tmp", "/", fstype="tmpfs", source="tmpfs"),
             mounted("/mnt/other", "/", source="/dev/vdc"),
             mounted("/a", "/r/@a", super_options=("rw", "subvolid=300")),
             mounted("/mnt/top", "/"))
    assert audit_mounted(config, plan, table, {"r": "/dev/vdb"}) == (MountProblem(
        MountProblemKind.HAND_MADE, "/mnt/top",
        "btrfs /dev/vdb (subvolume '/') is mounted below r's destination /, but no leaf says "
        "so", "r"),)


# --- audit --expect -----------------------------------------------------------------------------


def test_change_names_of_a_moved_leaf() -> None:
    """A moved leaf is matched as itself and as where it went."""
    change = Change(Section.LEAF, ChangeKind.MOVED, ("t", "@a"), (), {"subvol": "/t/@a"},
                    {"subvol": "/t/@b"}, to=("u", "@b"))
    assert change_names(change) == ("t:@a", "u:@b")


def test_change_names_of_mount_points() -> None:
    """A mount point is matched as its path and as the tree:leaf mounted there, before and
    after; a record without both tree and leaf adds nothing."""
    added = Change(Section.MOUNT, ChangeKind.ADDED, ("", "/home/a"), (), None,
                   {"tree": "t", "leaf": "@a"})
    assert change_names(added) == ("/home/a", "t:@a")
    changed = Change(Section.MOUNT, ChangeKind.CHANGED, ("", "/home/a"), ("tree",),
                     {"tree": "t", "leaf": "@a"}, {"tree": "u", "leaf": "sub/@b"})
    assert change_names(changed) == ("/home/a", "t:@a", "u:sub/@b")
    partial = Change(Section.MOUNT, ChangeKind.CHANGED, ("", "/home/a"), ("leaf",),
                     {"leaf": "@a"}, {"tree": "t"})
    assert change_names(partial) == ("/home/a",)
    removed = Change(Section.MOUNT, ChangeKind.REMOVED, ("", "/home/a"), (),
                     {"tree": "t", "leaf": "@a"}, None)
    assert change_names(removed) == ("/home/a", "t:@a")


def test_change_names_of_other_sections() -> None:
    """A configured tree or a tree is also matched as 'name:'; a leaf's records are not
    read for tree and leaf."""
    tree = Change(Section.TREE, ChangeKind.CHANGED, ("t", "x"), ("mode",))
    assert change_names(tree) == ("t:x", "t:")
    config = Change(Section.CONFIG, ChangeKind.REMOVED, ("u", ""), ())
    assert change_names(config) == ("u:", "u:")
    leaf = Change(Section.LEAF, ChangeKind.ADDED, ("t", "@a"), (), None,
                  {"tree": "x", "leaf": "y"})
    assert change_names(leaf) == ("t:@a",)


def test_audit_expect_ignores_volatile_fields() -> None:
    """Fields that change by themselves (the inotify watch limit) are no drift."""
    config, _ = world()
    before = snapshot_document(Snapshot(max_user_watches=8192), config)
    after = snapshot_document(Snapshot(max_user_watches=65536), config)
    assert audit_expect(before, after) == ()


def test_glob_match_of_an_invalid_class_is_equality() -> None:
    """A pattern that is no valid regular expression (a reversed range) matches only itself."""
    assert glob_match("[z-a]", "[z-a]") is True
    assert glob_match("[z-a]", "z") is False


def test_audit_to_data_with_drift_only() -> None:
    """Drift alone is drift found, each change as data; the mount part is left out."""
    change = Change(Section.LEAF, ChangeKind.ADDED, ("t", "@a"), (), None,
                    {"subvol": "/t/@a"})
    expected: dict[str, Any] = {
        "format": "layout-trees-audit", "version": 1, "drift_found": True,
        "drift": [{"section": "leaf", "kind": "added", "key": "t:@a", "fields": [],
                   "text": "leaf added: t:@a", "after": {"subvol": "/t/@a"}}]}
    assert audit_to_data((change,), None) == expected
    assert audit_to_data((change,), ()) == {**expected, "mounted": []}
