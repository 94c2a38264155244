"""Properties of ``diff_mounts`` (what ``layout reload`` changes)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from layout_trees.core.errors import LayoutError
from layout_trees.core.model import TreeStatus
from layout_trees.core.mountinfo import MountEntry
from layout_trees.core.plan import Mount, Plan, make_plan
from layout_trees.core.record import replace
from layout_trees.core.reload import ChangeKind, ReloadPlan, diff_mounts, recognise
from strategies import World, permuted, worlds


def _source(world: World, mount: Mount) -> str:
    scan = world.snapshot.tree(mount.tree)
    return scan.device if scan and scan.device else mount.what


def mounted(world: World, mounts: tuple[Mount, ...], first_id: int = 100) -> tuple[MountEntry, ...]:
    """The mount table after mounting ``mounts`` in order, as the kernel shows it."""
    return tuple(
        MountEntry(first_id + i, 1, m.subvol, m.where, "btrfs", _source(world, m), ("rw",),
                   ("rw", *([f"subvolid={m.subvol_id}"] if m.subvol_id is not None else []),
                    f"subvol={m.subvol}"))
        for i, m in enumerate(mounts))


def apply(world: World, table: tuple[MountEntry, ...], plan: ReloadPlan) -> tuple[MountEntry, ...]:
    """A reference executor: drop what is unmounted, append what is mounted."""
    gone = {c.where for c in plan.of(ChangeKind.UNMOUNT)}
    kept = tuple(e for e in table if e.mountpoint not in gone)
    new = tuple(c.mount for c in plan.of(ChangeKind.MOUNT) if c.mount is not None)
    return kept + mounted(world, new, first_id=1000 + len(table))


def plan_of(world: World) -> Plan:
    return make_plan(world.config, world.snapshot)


def depth(path: str) -> int:
    return len([p for p in path.split("/") if p])


def without_leaves(world: World, keep: list[bool]) -> World:
    """The same world after some leaves (``@`` entries) were deleted."""
    trees = []
    flags = iter(keep * 100)
    for scan in world.snapshot.trees:
        entries = tuple(e for e in scan.entries if not e.is_at_name or next(flags))
        trees.append(replace(scan, entries=entries))
    return World(world.config, replace(world.snapshot, trees=tuple(trees)))


@given(worlds())
def test_from_nothing_every_leaf_is_mounted_shallowest_first(world) -> None:
    """Reference model: with nothing mounted, the changes are one mount per planned leaf (noauto
    ones reported, not mounted), parents before children, and no unmount."""
    plan = plan_of(world)
    diff = diff_mounts(world.config, world.snapshot, plan, ())
    assert not diff.of(ChangeKind.UNMOUNT) and not diff.of(ChangeKind.BLOCKED)
    wanted = {m.where for m in plan.mounts
              if not (m.semantics.noauto and not m.semantics.automount)}
    assert {c.where for c in diff.of(ChangeKind.MOUNT)} == wanted
    depths = [depth(c.where) for c in diff.of(ChangeKind.MOUNT)]
    assert depths == sorted(depths)


@given(worlds(hostile=True))
def test_reload_is_idempotent(world) -> None:
    """Idempotence: after carrying out a reload's changes, the next reload has nothing to do."""
    plan = plan_of(world)
    first = diff_mounts(world.config, world.snapshot, plan, ())
    table = apply(world, (), first)
    second = diff_mounts(world.config, world.snapshot, plan, table)
    assert not second.of(ChangeKind.MOUNT)
    assert not second.of(ChangeKind.UNMOUNT)
    assert set(second.unchanged) == {c.where for c in first.of(ChangeKind.MOUNT)}


@given(worlds(), st.lists(st.booleans(), min_size=1, max_size=8))
def test_deleted_leaves_and_only_those_are_unmounted(world, keep) -> None:
    """Reference model: when leaves are deleted, exactly the mounted leaves the new plan lacks
    are unmounted (or kept as blocked), deepest first, before any mount."""
    table = mounted(world, plan_of(world).mounts)
    after = without_leaves(world, keep)
    new_plan = plan_of(after)
    diff = diff_mounts(after.config, after.snapshot, new_plan, table)
    planned = {m.where for m in new_plan.mounts}
    gone = {e.mountpoint for e in table} - planned
    leaving = diff.of(ChangeKind.UNMOUNT) + diff.of(ChangeKind.BLOCKED)
    assert {c.where for c in leaving} == gone
    kinds = [c.kind for c in diff.changes]
    if ChangeKind.MOUNT in kinds and ChangeKind.UNMOUNT in kinds:
        assert max(i for i, k in enumerate(kinds) if k is ChangeKind.UNMOUNT) < kinds.index(
            ChangeKind.MOUNT)
    depths = [depth(c.where) for c in diff.of(ChangeKind.UNMOUNT)]
    assert depths == sorted(depths, reverse=True)
    for change in diff.of(ChangeKind.BLOCKED):
        assert any(e.mountpoint.startswith(change.where.rstrip("/") + "/") for e in table)


@given(worlds(hostile=True), st.lists(st.sampled_from(["tmpfs", "ext4", "btrfs"]), max_size=4),
       st.data())
def test_foreign_mounts_are_never_unmounted(world, fstypes, data) -> None:
    """Invariant: mounts that are not leaves of a scanned tree (other filesystems, other btrfs
    sources, paths that are not leaves) are never unmounted."""
    planned = plan_of(world).mounts
    table = list(mounted(world, planned))
    places = [m.where for m in planned] + [t.destination for t in world.config.trees]
    foreign = []
    for i, fstype in enumerate(fstypes):
        where = data.draw(st.sampled_from(places)) + data.draw(st.sampled_from(["", "/x", "/y/z"]))
        root = data.draw(st.sampled_from(["/", "/elsewhere/@x", "/mnt/top/@q"]))
        foreign.append(MountEntry(5000 + i, 1, root, where, fstype, "/dev/other", ("rw",), ()))
    table += foreign
    diff = diff_mounts(world.config, world.snapshot, plan_of(world), tuple(table))
    for change in diff.of(ChangeKind.UNMOUNT):
        assert all(change.where != f.mountpoint for f in foreign) or any(
            e.mountpoint == change.where for e in table if e not in foreign)


@given(worlds(hostile=True), st.data())
def test_hostile_worlds_never_break_the_diff(world, data) -> None:
    """Invariant: for hostile worlds and mount tables, the diff returns or raises the project's
    error; every unmounted path is a recognised leaf mount."""
    mounts = plan_of(world).mounts
    picked = data.draw(st.lists(st.sampled_from(mounts), max_size=len(mounts))) if mounts else []
    table = mounted(world, tuple(picked))
    try:
        diff = diff_mounts(world.config, world.snapshot, plan_of(world), table)
    except LayoutError:
        return
    leaves = {lm.entry.mountpoint for lm in recognise(world.config, world.snapshot, table)}
    assert {c.where for c in diff.of(ChangeKind.UNMOUNT)} <= leaves
    for tree in world.config.trees:
        scan = world.snapshot.tree(tree.name)
        if scan is None or scan.status is not TreeStatus.OK:
            assert any(repr(tree.name) in note for note in diff.notes)


@given(st.data())
def test_order_of_the_scan_does_not_change_the_diff(data) -> None:
    """Metamorphic: trees and entries listed in another order give the same changes."""
    world = data.draw(worlds(hostile=True))
    planned = plan_of(world).mounts
    half = mounted(world, planned[: len(planned) // 2])
    other = data.draw(permuted(world))
    one = diff_mounts(world.config, world.snapshot, plan_of(world), half)
    two = diff_mounts(other.config, other.snapshot, plan_of(other), half)
    assert one.changes == two.changes and one.directories == two.directories


@given(worlds())
def test_deleted_subvolumes_still_mounted_are_unmounted(world) -> None:
    """Invariant: a mounted leaf whose subvolume was deleted (mountinfo root ends in
    '//deleted') is unmounted, even if a leaf of the same name exists again."""
    planned = plan_of(world).mounts
    table = tuple(replace(e, root=e.root + "//deleted") for e in mounted(world, planned))
    diff = diff_mounts(world.config, world.snapshot, plan_of(world), table)
    leaving = {c.where for c in diff.of(ChangeKind.UNMOUNT) + diff.of(ChangeKind.BLOCKED)}
    assert leaving == {m.where for m in planned}


@given(worlds(hostile=True), st.data())
def test_describe_lists_every_change_and_note(world, data) -> None:
    """Invariant: the report has one line per change (naming its mount point) and per note."""
    from layout_trees.core.reload import describe

    mounts = plan_of(world).mounts
    picked = data.draw(st.lists(st.sampled_from(mounts), max_size=len(mounts))) if mounts else []
    diff = diff_mounts(world.config, without_leaves(world, [False, True]).snapshot,
                       plan_of(without_leaves(world, [False, True])), mounted(world, tuple(picked)))
    lines = describe(diff)
    assert len(lines) == len(diff.changes) + len(diff.notes)
    for line, change in zip(lines, diff.changes, strict=False):
        assert change.where in line


# --- mounts identified by what they show --------------------------------------------------

from layout_trees.core.persist import crossed_at, crossings_of, mount_destination  # noqa: E402
from layout_trees.core.reload import mount_shows, pinned_options  # noqa: E402


def _with_id(entry: MountEntry, subvol_id: int) -> MountEntry:
    return replace(entry, super_options=(*entry.super_options, f"subvolid={subvol_id}"))


@given(worlds(hostile=True), st.data())
def test_only_recognised_leaves_are_ever_unmounted(world, data) -> None:
    """Invariant (mounts): every unmount names a mount from the table by its mount ID, and
    that mount is a btrfs mount of a scanned tree's device whose subvolume is a leaf path of
    that tree, mounted at or below the tree's destination."""
    plan = plan_of(world)
    table = mounted(world, plan.mounts)
    moved = (data.draw(st.lists(st.sampled_from(table), max_size=3, unique_by=lambda e: e.mount_id))
             if table else [])
    extra = tuple(replace(e, mount_id=e.mount_id + 500,
                          mountpoint=e.mountpoint.rstrip("/") + "/elsewhere") for e in moved)
    foreign = tuple(MountEntry(900 + i, 1, "/", e.mountpoint, "tmpfs", "tmpfs", (), ())
                    for i, e in enumerate(moved))
    table = table + extra + foreign
    diff = diff_mounts(world.config, world.snapshot, plan, table)
    ids = {e.mount_id: e for e in table}
    leaves = {id(leaf.entry) for leaf in recognise(world.config, world.snapshot, table)}
    for change in diff.of(ChangeKind.UNMOUNT) + diff.of(ChangeKind.BLOCKED):
        assert change.entry is not None and ids[change.entry.mount_id] is change.entry
        assert id(change.entry) in leaves and change.entry.fstype == "btrfs"


@given(worlds())
def test_a_renamed_leaf_is_unmounted_and_its_new_place_mounted(world) -> None:
    """Metamorphic: when every mounted leaf's subvolume shows another leaf's path (a rename),
    reload unmounts each recognised mount whose subvolume is planned elsewhere; with one
    tree every such mount is recognised."""
    plan = plan_of(world)
    table = mounted(world, plan.mounts)
    if len(table) < 2:
        return
    roots = [e.root for e in table]
    rotated = tuple(replace(e, root=roots[(i + 1) % len(roots)]) for i, e in enumerate(table))
    diff = diff_mounts(world.config, world.snapshot, plan, rotated)
    known = {id(leaf.entry) for leaf in recognise(world.config, world.snapshot, rotated)}
    wrong = {e.mountpoint for e, old in zip(rotated, table, strict=True)
             if e.root != old.root and id(e) in known}
    leaving = {c.where for c in diff.of(ChangeKind.UNMOUNT) + diff.of(ChangeKind.BLOCKED)}
    assert wrong <= leaving
    if len(world.config.trees) == 1:  # one tree: every leaf mount is recognised
        assert len(known) == len(rotated)


@given(st.lists(st.sampled_from(["rw", "noatime", "compress=zstd"]), max_size=3),
       st.integers(256, 2**40), st.sampled_from(["/a/@b", "/@", "/t/x/@y"]))
def test_pinned_options_add_the_id_beside_subvol(extra, subvol_id, subvol) -> None:
    """Reference model: subvolid=ID comes right after subvol=, everything else unchanged;
    pinning twice changes nothing; a different planned subvolid is refused."""
    options = (f"subvol={subvol}", *extra)
    pinned = pinned_options(options, subvol_id)
    assert pinned == (options[0], f"subvolid={subvol_id}", *extra)
    assert pinned_options(pinned, subvol_id) == pinned
    with pytest.raises(LayoutError):
        pinned_options(pinned, subvol_id + 1)


@given(st.sampled_from(["/a/@b", "/@", "/t/x/@y"]), st.integers(256, 1000), st.booleans(),
       st.booleans())
def test_mount_shows_is_by_subvolume_path_and_id(subvol, subvol_id, deleted, same_id) -> None:
    """Reference model: a mount shows a subvolume when it is btrfs with that root (deleted
    only when asked) and, when an ID is given, that ID."""
    root = subvol + ("//deleted" if deleted else "")
    entry = _with_id(MountEntry(1, 0, root, "/m", "btrfs", "/dev/x", (), ()),
                     subvol_id if same_id else subvol_id + 1)
    assert mount_shows(entry, subvol, None, deleted_too=True)
    assert mount_shows(entry, subvol, subvol_id, deleted_too=True) == same_id
    assert mount_shows(entry, subvol, None) == (not deleted)
    assert not mount_shows(replace(entry, fstype="tmpfs"), subvol, None, deleted_too=True)


@given(worlds(), st.data())
def test_mount_points_behind_a_crossing_are_refused(world, data) -> None:
    """Invariant: a planned mount whose path crosses a recorded symlink below its destination
    is never mounted (reported as a conflict); the crossings found from lstat facts are the
    first symlink on each mount's way."""
    from layout_trees.core.persist import PathFacts, PathKind

    plan = plan_of(world)
    if not plan.mounts:
        return
    mount = data.draw(st.sampled_from(plan.mounts))
    destination = mount_destination(mount)
    assert mount.where == destination or mount.where.startswith(destination.rstrip("/") + "/")
    if mount.where == destination:
        return
    facts = (PathFacts(mount.where, PathKind.SYMLINK),)
    crossings = crossings_of(plan, facts)
    assert mount.where in crossings
    assert crossed_at(crossings, destination, mount.where) == mount.where
    snapshot = replace(world.snapshot, crossings=crossings)
    diff = diff_mounts(world.config, snapshot, plan, ())
    assert mount.where not in {c.where for c in diff.of(ChangeKind.MOUNT)}
