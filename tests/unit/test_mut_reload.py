"""``layout reload``'s diff compared exactly: every field of every change (kind, place,
tree, leaf, reason, planned mount, unit, mountinfo entry), the report lines, the
directories, the notes about trees left alone and the destinations; for a reload from
nothing, for a mount table holding every kind of difference, for mount points behind a
symlink, and for the device checks."""

from __future__ import annotations

import pytest
from layout_trees.core.config import Config, TreeConfig
from layout_trees.core.model import Entry, EntryKind, Snapshot, Subvolume, TreeScan, TreeStatus
from layout_trees.core.mountinfo import MountEntry
from layout_trees.core.plan import make_plan
from layout_trees.core.reload import (
    Change,
    ChangeKind,
    ReloadPlan,
    describe,
    diff_mounts,
    recognise,
)

Row = tuple[str, str, str | None, tuple[str, ...] | None, str | None, str | None, str | None,
            int | None]


def leaf(path: tuple[str, ...], subvol: str, subvol_id: int) -> Entry:
    return Entry(path, EntryKind.SUBVOLUME, subvolume=Subvolume(subvol, id=subvol_id))


def btrfs(mount_id: int, root: str, where: str, subvol_id: int,
          source: str = "/dev/a") -> MountEntry:
    """A btrfs mount as mountinfo shows it, with the subvolume's ID."""
    return MountEntry(mount_id, 1, root, where, "btrfs", source, ("rw",),
                      ("rw", f"subvolid={subvol_id}"))


def tmpfs(mount_id: int, where: str) -> MountEntry:
    return MountEntry(mount_id, 1, "/", where, "tmpfs", "tmpfs", ("rw",), ("rw",))


def rows(diff: ReloadPlan, table: tuple[MountEntry, ...] = ()) -> list[Row]:
    """Every field of every change; the planned mount by its place, the mountinfo entry by
    its ID (and checked to be that very entry of the table)."""
    by_id = {e.mount_id: e for e in table}
    for change in diff.changes:
        assert change.entry is None or by_id[change.entry.mount_id] is change.entry
    return [(c.kind.value, c.where, c.tree, c.leaf, c.detail, c.unit,
             None if c.mount is None else c.mount.where,
             None if c.entry is None else c.entry.mount_id) for c in diff.changes]


# Tree t: structure a/x and b, leaves a/x/@l, b/@m and @c; tree n: noauto; tree au:
# noauto with automount (mounted on demand, so reload starts it).
T = TreeConfig("t", "/trees/t", "/srv/t")
N = TreeConfig("n", "/trees/n", "/srv/n", options=("noauto",))
AU = TreeConfig("au", "/trees/au", "/srv/au", options=("noauto", "x-systemd.automount"))
MISS = TreeConfig("miss", "/trees/miss", "/srv/miss")
ERR = TreeConfig("err", "/trees/err", "/srv/err")
UNSCANNED = TreeConfig("un", "/trees/un", "/srv/un")
T_SCAN = TreeScan("t", "/trees/t", device="/dev/a", root_subvol_path="/t", entries=(
    Entry(("a",), EntryKind.DIRECTORY), Entry(("a", "x"), EntryKind.DIRECTORY),
    leaf(("a", "x", "@l"), "/t/a/x/@l", 300),
    Entry(("b",), EntryKind.DIRECTORY), leaf(("b", "@m"), "/t/b/@m", 301),
    leaf(("@c",), "/t/@c", 302)))
N_SCAN = TreeScan("n", "/trees/n", device="/dev/a", root_subvol_path="/n",
                  entries=(leaf(("@q",), "/n/@q", 400),))
AU_SCAN = TreeScan("au", "/trees/au", device="/dev/a", root_subvol_path="/au",
                   entries=(leaf(("@r",), "/au/@r", 500),))
MISS_SCAN = TreeScan("miss", "/trees/miss", status=TreeStatus.MISSING)
ERR_SCAN = TreeScan("err", "/trees/err", status=TreeStatus.UNREADABLE, error="permission denied")
SCANS = (T_SCAN, N_SCAN, AU_SCAN, MISS_SCAN, ERR_SCAN)
DIRECTORIES = ["/srv/au", "/srv/n", "/srv/t", "/srv/t/a", "/srv/t/b", "/srv/t/a/x"]
DESTINATIONS = (("au", "/srv/au"), ("n", "/srv/n"), ("t", "/srv/t"))


def test_from_nothing_every_kind_of_planned_leaf_exactly() -> None:
    """With nothing mounted: a leaf is mounted, an automount leaf too, a noauto one is
    reported with the command that starts it; shallowest first, then by place; the
    directories shallowest first (then by path) for scanned trees only; one note per tree
    left alone, with the scan's error, its status, or 'no scan'; every destination."""
    config = Config((T, N, AU, MISS, ERR, UNSCANNED))
    snapshot = Snapshot(SCANS)
    plan = make_plan(config, snapshot)
    diff = diff_mounts(config, snapshot, plan, ())
    assert rows(diff) == [
        ("mount", "/srv/au/r", "au", ("@r",), "new leaf (/au/@r)", "srv-au-r.mount",
         "/srv/au/r", None),
        ("not-started", "/srv/n/q", "n", ("@q",),
         "noauto: mount it with 'systemctl start srv-n-q.mount'", "srv-n-q.mount",
         "/srv/n/q", None),
        ("mount", "/srv/t/c", "t", ("@c",), "new leaf (/t/@c)", "srv-t-c.mount",
         "/srv/t/c", None),
        ("mount", "/srv/t/b/m", "t", ("b", "@m"), "new leaf (/t/b/@m)", "srv-t-b-m.mount",
         "/srv/t/b/m", None),
        ("mount", "/srv/t/a/x/l", "t", ("a", "x", "@l"), "new leaf (/t/a/x/@l)",
         "srv-t-a-x-l.mount", "/srv/t/a/x/l", None),
    ]
    assert all(c.mount in plan.mounts for c in diff.changes)
    assert [d.path for d in diff.directories] == DIRECTORIES
    assert set(diff.directories) == set(plan.directories)
    assert diff.unchanged == ()
    assert diff.notes == (
        "tree 'err' could not be scanned (permission denied); its mounts are left alone",
        "tree 'miss' could not be scanned (missing); its mounts are left alone",
        "tree 'un' could not be scanned (no scan); its mounts are left alone",
    )
    assert diff.destinations == DESTINATIONS
    assert describe(diff) == (
        "mount /srv/au/r (au:@r): new leaf (/au/@r)",
        "skip /srv/n/q (n:@q): noauto: mount it with 'systemctl start srv-n-q.mount'",
        "mount /srv/t/c (t:@c): new leaf (/t/@c)",
        "mount /srv/t/b/m (t:b/@m): new leaf (/t/b/@m)",
        "mount /srv/t/a/x/l (t:a/x/@l): new leaf (/t/a/x/@l)",
        *diff.notes,
    )


# A mount table with every kind of difference, a tmpfs first and a tree that could not
# be scanned listed before the others in the configuration.
TABLE = (
    tmpfs(20, "/srv/au/r"),                              # foreign on a planned place
    btrfs(21, "/t/@c", "/srv/t/c", 302),                 # as planned
    btrfs(22, "/t/b/@m", "/srv/t/b/m", 999),             # same path, another subvolume
    btrfs(23, "/t/@gone", "/srv/t/old", 600),            # leaf gone
    btrfs(24, "/t/b/@m", "/srv/t/was", 301),             # renamed: planned elsewhere
    btrfs(25, "/t/@c//deleted", "/srv/t/del", 302),      # deleted
    btrfs(26, "/t/@x", "/srv/t/x", 601),                 # gone, with a gone leaf below
    btrfs(27, "/t/@y", "/srv/t/x/y", 602),
    btrfs(28, "/t/@k", "/srv/t/k", 603),                 # gone, four mounts below
    tmpfs(29, "/srv/t/k/p4"), tmpfs(30, "/srv/t/k/p2"), tmpfs(31, "/srv/t/k/p3"),
    tmpfs(32, "/srv/t/k/p1"),
    btrfs(33, "/t/@old2", "/srv/t/a/x/l", 604),          # on a planned place, held open
    tmpfs(34, "/srv/t/a/x/l/sub"),
    btrfs(35, "/n/@q", "/srv/n/q", 400, source="/dev/b"),  # as planned but other device
    btrfs(36, "/t/@c", "/mnt/else", 302),                # a leaf outside the destination
)


def test_every_kind_of_difference_exactly() -> None:
    """Unmounts deepest first (a leaf whose leaves below go is unmounted too; one with
    other mounts below is kept, naming the first three), each with its reason (gone,
    deleted, another subvolume planned there, renamed and planned elsewhere); then the
    planned leaves: a foreign mount, another device or a kept old leaf on the place is a
    conflict; a leaf whose wrong subvolume goes is mounted; one as planned is unchanged;
    a leaf outside the destination and the tmpfs mounts are never touched."""
    config = Config((MISS, T, N, AU))
    snapshot = Snapshot(SCANS[:4])
    plan = make_plan(config, snapshot)
    diff = diff_mounts(config, snapshot, plan, TABLE)
    assert rows(diff, TABLE) == [
        ("blocked", "/srv/t/a/x/l", "t", ("@old2",),
         "its leaf is gone but /srv/t/a/x/l/sub is mounted below it", "srv-t-a-x-l.mount",
         None, 33),
        ("unmount", "/srv/t/b/m", "t", ("b", "@m"), "a different subvolume is planned there",
         "srv-t-b-m.mount", None, 22),
        ("unmount", "/srv/t/x/y", "t", ("@y",), "its leaf is gone", "srv-t-x-y.mount", None, 27),
        ("unmount", "/srv/t/del", "t", ("@c",), "its subvolume was deleted", "srv-t-del.mount",
         None, 25),
        ("blocked", "/srv/t/k", "t", ("@k",),
         "its leaf is gone but /srv/t/k/p1, /srv/t/k/p2, /srv/t/k/p3 is mounted below it",
         "srv-t-k.mount", None, 28),
        ("unmount", "/srv/t/old", "t", ("@gone",), "its leaf is gone", "srv-t-old.mount",
         None, 23),
        ("unmount", "/srv/t/was", "t", ("b", "@m"),
         "its subvolume is now b/@m, planned elsewhere", "srv-t-was.mount", None, 24),
        ("unmount", "/srv/t/x", "t", ("@x",), "its leaf is gone", "srv-t-x.mount", None, 26),
        ("conflict", "/srv/au/r", "au", ("@r",), "tmpfs tmpfs is mounted there",
         "srv-au-r.mount", "/srv/au/r", None),
        ("conflict", "/srv/n/q", "n", ("@q",), "btrfs /dev/b is mounted there",
         "srv-n-q.mount", "/srv/n/q", None),
        ("mount", "/srv/t/b/m", "t", ("b", "@m"), "new leaf (/t/b/@m)", "srv-t-b-m.mount",
         "/srv/t/b/m", None),
        ("conflict", "/srv/t/a/x/l", "t", ("a", "x", "@l"),
         "the old leaf mounted there stays (/t/@old2)", "srv-t-a-x-l.mount",
         "/srv/t/a/x/l", None),
    ]
    assert all(c.mount is None or c.mount in plan.mounts for c in diff.changes)
    assert diff.unchanged == ("/srv/t/c",)
    assert [d.path for d in diff.directories] == DIRECTORIES
    assert diff.notes == ("tree 'miss' could not be scanned (missing); its mounts are left alone",)
    assert diff.destinations == DESTINATIONS
    assert describe(diff) == (
        "keep /srv/t/a/x/l (t:@old2): its leaf is gone but /srv/t/a/x/l/sub is mounted below it",
        "unmount /srv/t/b/m (t:b/@m): a different subvolume is planned there",
        "unmount /srv/t/x/y (t:@y): its leaf is gone",
        "unmount /srv/t/del (t:@c): its subvolume was deleted",
        "keep /srv/t/k (t:@k): its leaf is gone but /srv/t/k/p1, /srv/t/k/p2, /srv/t/k/p3 is "
        "mounted below it",
        "unmount /srv/t/old (t:@gone): its leaf is gone",
        "unmount /srv/t/was (t:b/@m): its subvolume is now b/@m, planned elsewhere",
        "unmount /srv/t/x (t:@x): its leaf is gone",
        "skip /srv/au/r (au:@r): tmpfs tmpfs is mounted there",
        "skip /srv/n/q (n:@q): btrfs /dev/b is mounted there",
        "mount /srv/t/b/m (t:b/@m): new leaf (/t/b/@m)",
        "skip /srv/t/a/x/l (t:a/x/@l): the old leaf mounted there stays (/t/@old2)",
        "tree 'miss' could not be scanned (missing); its mounts are left alone",
    )


def test_recognise_names_tree_leaf_and_deletion_exactly() -> None:
    """The leaves recognised in the table: btrfs mounts of the tree's device below its
    destination whose subvolume is a leaf path, with the leaf's path inside the tree and
    whether the subvolume was deleted; in the table's order, past an unscanned tree and
    past other filesystems."""
    config = Config((MISS, T, N, AU))
    found = recognise(config, Snapshot(SCANS[:4]), TABLE)
    assert [(f.tree, f.leaf, f.entry.mount_id, f.deleted) for f in found] == [
        ("t", ("@c",), 21, False), ("t", ("b", "@m"), 22, False), ("t", ("@gone",), 23, False),
        ("t", ("b", "@m"), 24, False), ("t", ("@c",), 25, True), ("t", ("@x",), 26, False),
        ("t", ("@y",), 27, False), ("t", ("@k",), 28, False), ("t", ("@old2",), 33, False),
    ]
    assert all(f.entry is TABLE[f.entry.mount_id - 20] for f in found)


def test_mount_points_behind_a_symlink_are_conflicts_exactly() -> None:
    """A planned leaf reached through a symlink below the destination is a conflict naming
    the symlink; the directory that is the symlink is not made; the leaves after it are
    still mounted."""
    config = Config((T,))
    snapshot = Snapshot((T_SCAN,), crossings=frozenset({"/srv/t/b"}))
    plan = make_plan(config, snapshot)
    diff = diff_mounts(config, snapshot, plan, ())
    assert rows(diff) == [
        ("mount", "/srv/t/c", "t", ("@c",), "new leaf (/t/@c)", "srv-t-c.mount",
         "/srv/t/c", None),
        ("conflict", "/srv/t/b/m", "t", ("b", "@m"),
         "/srv/t/b is a symlink or not a directory below the destination; never followed",
         "srv-t-b-m.mount", "/srv/t/b/m", None),
        ("mount", "/srv/t/a/x/l", "t", ("a", "x", "@l"), "new leaf (/t/a/x/@l)",
         "srv-t-a-x-l.mount", "/srv/t/a/x/l", None),
    ]
    assert [d.path for d in diff.directories] == ["/srv/t", "/srv/t/a", "/srv/t/a/x"]
    assert describe(diff)[1] == ("skip /srv/t/b/m (t:b/@m): /srv/t/b is a symlink or not a "
                                 "directory below the destination; never followed")


def test_a_leaf_of_another_device_on_a_planned_place_is_unmounted() -> None:
    """A leaf of tree 'o' (on /dev/b, its destination holding t's) mounted where t plans
    its leaf of the same subvolume path and ID is not t's leaf: it is unmounted (as o's)
    and t's leaf mounted."""
    other = TreeConfig("o", "/trees/o", "/srv")
    config = Config((T, other))
    scan = TreeScan("t", "/trees/t", device="/dev/a", root_subvol_path="/t",
                    entries=(leaf(("@c",), "/t/@c", 302),))
    snapshot = Snapshot((scan, TreeScan("o", "/trees/o", device="/dev/b", root_subvol_path="/t")))
    table = (btrfs(1, "/t/@c", "/srv/t/c", 302, source="/dev/b"),)
    diff = diff_mounts(config, snapshot, make_plan(config, snapshot), table)
    assert rows(diff, table) == [
        ("unmount", "/srv/t/c", "o", ("@c",), "a different subvolume is planned there",
         "srv-t-c.mount", None, 1),
        ("mount", "/srv/t/c", "t", ("@c",), "new leaf (/t/@c)", "srv-t-c.mount",
         "/srv/t/c", None),
    ]
    assert diff.unchanged == ()


def test_a_scan_without_device_accepts_the_mount_of_the_configured_one() -> None:
    """When the scan does not know the tree's device (the configuration names it), a leaf
    mounted as planned is unchanged whatever source mountinfo shows."""
    config = Config((TreeConfig("d", "/trees/d", "/srv/d", device="/dev/vdb"),))
    snapshot = Snapshot((TreeScan("d", "/trees/d", root_subvol_path="/d",
                                  entries=(leaf(("@e",), "/d/@e", 700),)),))
    table = (btrfs(1, "/d/@e", "/srv/d/e", 700, source="/dev/disk/by-uuid/x"),)
    diff = diff_mounts(config, snapshot, make_plan(config, snapshot), table)
    assert (diff.changes, diff.unchanged, diff.notes) == ((), ("/srv/d/e",), ())
    assert diff.destinations == (("d", "/srv/d"),)


def test_a_tree_on_an_unknown_device_unmounts_nothing() -> None:
    """A scanned tree whose device neither the scan nor the configuration knows gets no
    mount planned, and no btrfs mount of any device is taken for its leaf: nothing of it is
    unmounted."""
    config = Config((TreeConfig("d", "/trees/d", "/srv/d"),))
    snapshot = Snapshot((TreeScan("d", "/trees/d", root_subvol_path="/d",
                                  entries=(leaf(("@e",), "/d/@e", 700),)),))
    table = (btrfs(1, "/d/@e", "/srv/d/e", 700, source="/dev/other"),)
    assert recognise(config, snapshot, table) == ()
    diff = diff_mounts(config, snapshot, make_plan(config, snapshot), table)
    assert diff.changes == ()


def test_recognise_needs_the_tree_root_in_its_filesystem() -> None:
    """A tree whose root's path in its filesystem is unknown (no tree_prefix, not scanned
    for it) has no recognisable leaves."""
    config = Config((TreeConfig("d", "/trees/d", "/srv/d"),))
    snapshot = Snapshot((TreeScan("d", "/trees/d", device="/dev/a",
                                  entries=(leaf(("@e",), "/d/@e", 700),)),))
    assert recognise(config, snapshot, (btrfs(1, "/d/@e", "/srv/d/e", 700),)) == ()


@pytest.mark.parametrize(("kind", "line"), [
    (ChangeKind.MOUNT, "mount /srv/t/a/b (t:a/@b): why"),
    (ChangeKind.UNMOUNT, "unmount /srv/t/a/b (t:a/@b): why"),
    (ChangeKind.BLOCKED, "keep /srv/t/a/b (t:a/@b): why"),
    (ChangeKind.CONFLICT, "skip /srv/t/a/b (t:a/@b): why"),
    (ChangeKind.NOT_STARTED, "skip /srv/t/a/b (t:a/@b): why"),
])
def test_change_describe_each_kind(kind: ChangeKind, line: str) -> None:
    """One line per change: its verb, the place, tree:leaf (components joined by '/'),
    the reason."""
    assert Change(kind, "/srv/t/a/b", "t", ("a", "@b"), "why").describe() == line


def test_reload_plan_destination_by_tree() -> None:
    """A tree's destination is looked up by its name; a tree not in the plan has none."""
    plan = ReloadPlan(destinations=(("t", "/srv/t"), ("u", "/srv/u")))
    assert (plan.destination("t"), plan.destination("u"), plan.destination("v")) == (
        "/srv/t", "/srv/u", None)
    assert ReloadPlan().destination("t") is None
